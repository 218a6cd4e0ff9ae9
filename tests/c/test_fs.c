/* test_fs.c — ipe.fs: atomic writes and directory helpers; no handle leaks when
 * reading or listing runs out of memory (the engine's budget forces it). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include "tap.h"

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* Run code with the state's budget only `room` bytes above what it uses now; then lift the
 * limit and collect garbage. Returns the error text (or the result) in buf. */
static const char *starved(lua_State *L, const char *code, size_t room, char *buf, size_t cap)
{
    lua_gc(L, LUA_GCCOLLECT, 0);
    ipe_engine_set_memory_limit(L, ipe_engine_memory_used(L) + room);
    lua_run(L, code, buf, cap);
    ipe_engine_set_memory_limit(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return buf;
}

int main(void)
{
    char buf[1024], dir[] = "/tmp/ipe-test-fs-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    lua_State *L = ipe_engine_new();
    lua_pushstring(L, dir);
    lua_setglobal(L, "DIR");
    lua_run(L, "fs = require 'ipe.fs' return 1", buf, sizeof buf);
    tap_is(lua_run(L, "assert(fs.mkdir_p(DIR .. '/a/b/c')) return fs.stat(DIR .. '/a/b/c').type", buf, sizeof buf),
           "dir", "mkdir_p creates nested folders");
    tap_is(lua_run(L, "assert(fs.write_atomic(DIR .. '/a/f.txt', 'one', 384)) assert(fs.write_atomic(DIR .. '/a/f.txt', 'two')) "
                      "return fs.read(DIR .. '/a/f.txt')", buf, sizeof buf),
           "two", "write_atomic replaces the file");
    tap_is(lua_run(L, "local names = fs.list(DIR .. '/a') table.sort(names) return table.concat(names, ',')", buf, sizeof buf),
           "b,f.txt", "list leaves no temporary file behind");
    tap_is(lua_run(L, "return string.format('%o', fs.stat(DIR .. '/a/f.txt').mode)", buf, sizeof buf),
           "600", "write_atomic keeps the mode it was given first");
    {
        char want[512];
        snprintf(want, sizeof want, "%s/missing/x: No such file or directory", dir);
        tap_is(lua_run(L, "local ok, e = fs.write_atomic(DIR .. '/missing/x', 'data') return e", buf, sizeof buf), want,
               "write_atomic into a missing folder fails with the path");
    }
    tap_is(lua_run(L, "assert(fs.write_atomic('/dev/null', 'x')) local st = fs.stat('/dev/null') return st.type", buf, sizeof buf),
           "other", "write_atomic writes to a device and never replaces it (/dev/null stays a device)");
    tap_is(lua_run(L, "local d, e = fs.read(DIR .. '/a/f.txt', 2) return e:match('larger than 2 bytes') ~= nil", buf, sizeof buf),
           "true", "read refuses files over the limit");

    /* Out of memory half-way: the open directory / file is closed all the same. */
    lua_run(L, "assert(fs.mkdir_p(DIR .. '/many')) for i = 1, 3000 do "
               "assert(fs.write_atomic(string.format('%s/many/%s%06d', DIR, string.rep('n', 110), i), '')) end "
               "assert(fs.write_atomic(DIR .. '/big', string.rep('x', 4 * 1024 * 1024))) return 1", buf, sizeof buf);
    tap_is(buf, "1", "a folder of 3000 files and a 4 MB file");
    int fds = open_fds();
    tap_is(starved(L, "local ok, e = pcall(fs.list, DIR .. '/many') return e", 64 * 1024, buf, sizeof buf),
           "not enough memory", "list runs out of memory half-way through a large folder");
    tap_ok(open_fds() == fds, "list: the directory is closed after the error");
    tap_is(starved(L, "local ok, e = pcall(fs.read, DIR .. '/big') return e", 256 * 1024, buf, sizeof buf),
           "not enough memory", "read runs out of memory half-way through a large file");
    tap_ok(open_fds() == fds, "read: the file is closed after the error");
    tap_is(lua_run(L, "return #fs.list(DIR .. '/many') .. ' ' .. #fs.read(DIR .. '/big')", buf, sizeof buf),
           "3000 4194304", "with memory again, list and read work");
    lua_run(L, "for _, n in ipairs(fs.list(DIR .. '/many')) do os.remove(DIR .. '/many/' .. n) end "
               "os.remove(DIR .. '/many') os.remove(DIR .. '/big') return 1", buf, sizeof buf);
    lua_run(L, "os.remove(DIR .. '/a/f.txt') os.remove(DIR .. '/a/b/c') os.remove(DIR .. '/a/b') os.remove(DIR .. '/a') "
               "os.remove(DIR) return 1", buf, sizeof buf);
    ipe_engine_close(L);
    return tap_done();
}
