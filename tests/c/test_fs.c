/* test_fs.c — ipe.fs: atomic writes and directory helpers. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include "tap.h"

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
    lua_run(L, "os.remove(DIR .. '/a/f.txt') os.remove(DIR .. '/a/b/c') os.remove(DIR .. '/a/b') os.remove(DIR .. '/a') "
               "os.remove(DIR) return 1", buf, sizeof buf);
    lua_close(L);
    return tap_done();
}
