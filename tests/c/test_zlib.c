/* test_zlib.c — ipe.zlib: gunzip_file decompresses gzip files (several members too) and
 * leaves nothing behind on a corrupt, truncated, oversized or trailing-junk input. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include "tap.h"

/* write text as one gzip member appended to path */
static void gz_append(const char *path, const char *text)
{
    unsigned char out[4096];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)strlen(text);
    z.next_out = out;
    z.avail_out = sizeof out;
    deflate(&z, Z_FINISH);
    FILE *f = fopen(path, "ab");
    fwrite(out, 1, sizeof out - z.avail_out, f);
    fclose(f);
    deflateEnd(&z);
}

static void raw_append(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "ab");
    fwrite(bytes, 1, n, f);
    fclose(f);
}

int main(void)
{
    char buf[1024], dir[] = "/tmp/ipe-test-zlib-XXXXXX", p[512];
    if (!mkdtemp(dir)) return 1;
    lua_State *L = ipe_engine_new();
    lua_pushstring(L, dir);
    lua_setglobal(L, "DIR");
    lua_run(L, "z = require 'ipe.zlib' fs = require 'ipe.fs' return 1", buf, sizeof buf);

    snprintf(p, sizeof p, "%s/two.gz", dir);
    gz_append(p, "hello ");
    gz_append(p, "world");
    tap_is(lua_run(L, "local n = assert(z.gunzip_file(DIR .. '/two.gz', DIR .. '/two', 1000)) "
                      "return n .. ' ' .. fs.read(DIR .. '/two')", buf, sizeof buf),
           "11 hello world", "two gzip members: both, in order");
    tap_is(lua_run(L, "return string.format('%o', fs.stat(DIR .. '/two').mode)", buf, sizeof buf), "600",
           "the output is created with mode 600");
    tap_is(lua_run(L, "return select(2, z.gunzip_file(DIR .. '/two.gz', DIR .. '/two', 1000))", buf, sizeof buf),
           strcat(strcpy(p, dir), "/two: File exists"), "an existing output file is never overwritten");

    snprintf(p, sizeof p, "%s/big.gz", dir);
    gz_append(p, "0123456789abcdef0123456789abcdef");
    snprintf(p, sizeof p, "%s/big.gz: more than 16 bytes once decompressed", dir);
    tap_is(lua_run(L, "local n, e = z.gunzip_file(DIR .. '/big.gz', DIR .. '/big', 16) "
                      "return e .. (fs.stat(DIR .. '/big') and ' (left behind)' or '')", buf, sizeof buf),
           p, "over max_bytes: the error, and no output left");

    snprintf(p, sizeof p, "%s/cut.gz", dir);
    {
        char whole[512];
        snprintf(whole, sizeof whole, "%s/whole.gz", dir);
        gz_append(whole, "a longer text that will be cut in the middle of its deflate stream, a longer text");
        FILE *f = fopen(whole, "rb");
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        raw_append(p, buf, n / 2);
    }
    snprintf(p, sizeof p, "%s/cut.gz: not a valid gzip file (truncated)", dir);
    tap_is(lua_run(L, "local n, e = z.gunzip_file(DIR .. '/cut.gz', DIR .. '/cut', 1000) "
                      "return e .. (fs.stat(DIR .. '/cut') and ' (left behind)' or '')", buf, sizeof buf),
           p, "a truncated gzip file: the error, and no output left");

    snprintf(p, sizeof p, "%s/plain.gz", dir);
    raw_append(p, "<html>not gzip</html>", 21);
    snprintf(p, sizeof p, "%s/plain.gz: not a valid gzip file (incorrect header check)", dir);
    tap_is(lua_run(L, "local n, e = z.gunzip_file(DIR .. '/plain.gz', DIR .. '/plain', 1000) "
                      "return e .. (fs.stat(DIR .. '/plain') and ' (left behind)' or '')", buf, sizeof buf),
           p, "not gzip at all (an HTML page): the error, and no output left");

    snprintf(p, sizeof p, "%s/junk.gz", dir);
    gz_append(p, "data");
    raw_append(p, "JUNKJUNKJUNK", 12);
    snprintf(p, sizeof p, "%s/junk.gz: not a valid gzip file (incorrect header check)", dir);
    tap_is(lua_run(L, "local n, e = z.gunzip_file(DIR .. '/junk.gz', DIR .. '/junk', 1000) "
                      "return e .. (fs.stat(DIR .. '/junk') and ' (left behind)' or '')", buf, sizeof buf),
           p, "junk after the last member: the error, and no output left");

    snprintf(p, sizeof p, "%s/empty.gz", dir);
    raw_append(p, "", 0);
    snprintf(p, sizeof p, "%s/empty.gz: not a valid gzip file (no gzip data)", dir);
    tap_is(lua_run(L, "local n, e = z.gunzip_file(DIR .. '/empty.gz', DIR .. '/empty', 1000) return e", buf, sizeof buf),
           p, "an empty file: no gzip data");

    snprintf(p, sizeof p, "%s/missing.gz: No such file or directory", dir);
    tap_is(lua_run(L, "return select(2, z.gunzip_file(DIR .. '/missing.gz', DIR .. '/m', 1000))", buf, sizeof buf),
           p, "a missing input: the error names it");

    lua_run(L, "for _, n in ipairs(fs.list(DIR)) do os.remove(DIR .. '/' .. n) end os.remove(DIR) return 1", buf, sizeof buf);
    ipe_engine_close(L);
    return tap_done();
}
