/* bind_zlib.c — ipe.zlib: gzip decompression, file to file (zlib), for `ipe-run geo fetch`.
 *
 *   zlib.gunzip_file(src, dst, max_bytes) -> bytes written | nil, err
 *
 * src is a gzip file (one or more members); dst is created (O_EXCL, mode 0600) and gets the
 * decompressed bytes. More than max_bytes of output, a corrupt or truncated stream, or data
 * after the last member is an error, and dst is removed: nothing half-written is left. The
 * error is one line naming src. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <lauxlib.h>
#include "ipe.h"

#define CHUNK 65536

struct job {
    FILE *in;
    int out;
    double max;
    double written;
    const char *src, *dst;
    char err[256];
};

static int write_all(struct job *j, const unsigned char *p, size_t n)
{
    j->written += (double)n;
    if (j->written > j->max) {
        snprintf(j->err, sizeof j->err, "%s: more than %.0f bytes once decompressed", j->src, j->max);
        return -1;
    }
    while (n > 0) {
        ssize_t w = write(j->out, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(j->err, sizeof j->err, "%s: %s", j->dst, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* inflate every member of j->in into j->out; 0 or -1 with j->err set */
static int inflate_all(struct job *j, z_stream *z)
{
    static unsigned char in[CHUNK], out[CHUNK];
    int rc = Z_OK, members = 0, eof = 0;
    for (;;) {
        if (z->avail_in == 0 && !eof) {
            size_t n = fread(in, 1, CHUNK, j->in);
            if (n == 0) eof = 1;
            z->next_in = in;
            z->avail_in = (uInt)n;
        }
        if (rc == Z_STREAM_END) {
            if (z->avail_in == 0 && eof) break;
            if (z->avail_in == 0) continue;
            inflateReset(z); /* another member follows (or trailing junk: an error below) */
        }
        z->next_out = out;
        z->avail_out = CHUNK;
        rc = inflate(z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            snprintf(j->err, sizeof j->err, "%s: not a valid gzip file (%s)", j->src, z->msg ? z->msg : "corrupt data");
            return -1;
        }
        if (write_all(j, out, CHUNK - z->avail_out) != 0) return -1;
        if (rc == Z_STREAM_END) members++;
        else if (z->avail_out != 0 && z->avail_in == 0 && eof) break; /* no more input, no end */
    }
    if (ferror(j->in)) {
        snprintf(j->err, sizeof j->err, "%s: %s", j->src, strerror(errno));
        return -1;
    }
    if (rc != Z_STREAM_END) {
        snprintf(j->err, sizeof j->err, "%s: not a valid gzip file (%s)", j->src,
                 members == 0 && j->written == 0 ? "no gzip data" : "truncated");
        return -1;
    }
    return 0;
}

static int l_gunzip_file(lua_State *L)
{
    struct job j;
    memset(&j, 0, sizeof j);
    j.src = luaL_checkstring(L, 1);
    j.dst = luaL_checkstring(L, 2);
    j.max = luaL_checknumber(L, 3);
    j.in = fopen(j.src, "rb");
    if (!j.in) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", j.src, strerror(errno));
        return 2;
    }
    j.out = open(j.dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j.out < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", j.dst, strerror(errno));
        fclose(j.in);
        return 2;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    int ok = inflateInit2(&z, 16 + MAX_WBITS) == Z_OK;
    if (!ok) snprintf(j.err, sizeof j.err, "%s: cannot start zlib", j.src);
    else ok = inflate_all(&j, &z) == 0;
    inflateEnd(&z);
    fclose(j.in);
    if (close(j.out) != 0 && ok) {
        snprintf(j.err, sizeof j.err, "%s: %s", j.dst, strerror(errno));
        ok = 0;
    }
    if (!ok) {
        unlink(j.dst);
        lua_pushnil(L);
        lua_pushstring(L, j.err);
        return 2;
    }
    lua_pushnumber(L, j.written);
    return 1;
}

int luaopen_ipe_zlib(lua_State *L)
{
    static const luaL_Reg fns[] = {{"gunzip_file", l_gunzip_file}, {NULL, NULL}};
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}
