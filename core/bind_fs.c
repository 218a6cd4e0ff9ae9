/* bind_fs.c — ipe.fs: the few file-system calls the trusted runtime needs
 * (scripts never see this module).
 *
 *   fs.list(dir) -> names in directory order (no "." / "..") | nil, err
 *   fs.stat(path) -> {type="file"|"dir"|"other", size=, mtime=, mode=} | nil, err
 *   fs.read(path [, max_bytes]) -> data | nil, err
 *   fs.read_head(path, n) -> the first n (<= 256) bytes | nil, err
 *   fs.write_atomic(path, data [, mode]) -> true | nil, err   (temp file, fsync, rename;
 *                                        without mode an existing file keeps its mode, else 0644;
 *                                        a device or pipe is written to, never replaced)
 *   fs.mkdir_p(path [, mode]) -> true | nil, err
 *   fs.realpath(path) -> path | nil, err
 *   fs.remove(path) -> true | nil, err */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "ipe.h"

static int fail(lua_State *L, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
}

/* An open DIR or FILE held across Lua calls that can raise (out of memory) lives in
 * a userdata box whose __gc closes it: an error never leaks the handle. */
#define DIR_MT "ipe.fs.dir"
#define FILE_MT "ipe.fs.file"

static int dir_gc(lua_State *L)
{
    DIR **box = lua_touserdata(L, 1);
    if (*box) closedir(*box);
    *box = NULL;
    return 0;
}

static int file_gc(lua_State *L)
{
    FILE **box = lua_touserdata(L, 1);
    if (*box) fclose(*box);
    *box = NULL;
    return 0;
}

static void **new_box(lua_State *L, const char *mt)
{
    void **box = lua_newuserdata(L, sizeof *box);
    *box = NULL;
    luaL_getmetatable(L, mt);
    lua_setmetatable(L, -2);
    return box;
}

static int l_list(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    DIR **d = (DIR **)new_box(L, DIR_MT);
    *d = opendir(dir);
    if (!*d) return fail(L, dir);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(*d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(*d);
    *d = NULL;
    return 1;
}

static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0) return fail(L, path);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
    lua_setfield(L, -2, "type");
    lua_pushnumber(L, (lua_Number)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)st.st_mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_setfield(L, -2, "mode");
    return 1;
}

static int l_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Number max = luaL_optnumber(L, 2, 1 << 30);
    FILE **box = (FILE **)new_box(L, FILE_MT);
    FILE *f = *box = fopen(path, "rb");
    if (!f) return fail(L, path);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t total = 0, n;
    char buf[LUAL_BUFFERSIZE];
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        total += n;
        if ((lua_Number)total > max) {
            fclose(f);
            *box = NULL;
            lua_pushnil(L);
            lua_pushfstring(L, "%s: larger than %d bytes", path, (int)max);
            return 2;
        }
        luaL_addlstring(&b, buf, n);
    }
    int err = ferror(f);
    fclose(f);
    *box = NULL;
    if (err) return fail(L, path);
    luaL_pushresult(&b);
    return 1;
}

static int l_read_head(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int n = (int)luaL_checkinteger(L, 2);
    char buf[256];
    if (n < 0 || n > (int)sizeof buf) return luaL_argerror(L, 2, "0 to 256 bytes");
    FILE *f = fopen(path, "rb");
    if (!f) return fail(L, path);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    lua_pushlstring(L, buf, got);
    return 1;
}

static int l_write_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        /* a device or pipe (-o /dev/stdout, /dev/null): write to it, never rename over it */
        int dfd = open(path, O_WRONLY | O_CLOEXEC);
        if (dfd < 0) return fail(L, path);
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(dfd, data + done, len - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            done += (size_t)w;
        }
        int saved = errno;
        close(dfd);
        if (done != len) { errno = saved; return fail(L, path); }
        lua_pushboolean(L, 1);
        return 1;
    }
    mode_t keep = exists ? (st.st_mode & 07777) : 0644;
    mode_t mode = (mode_t)luaL_optinteger(L, 3, (lua_Integer)keep);
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return fail(L, path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd >= 0) fchmod(fd, mode); /* not narrowed by the umask */
    if (fd < 0) return fail(L, path);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int ok = off == len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        saved = errno ? errno : saved;
        unlink(tmp);
        errno = saved;
        return fail(L, path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_mkdir_p(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755);
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return fail(L, path);
    }
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return fail(L, buf);
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return fail(L, buf);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];
    if (!realpath(path, buf)) return fail(L, path);
    lua_pushstring(L, buf);
    return 1;
}

static int l_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (remove(path) != 0) return fail(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"list", l_list}, {"stat", l_stat}, {"read", l_read}, {"read_head", l_read_head}, {"write_atomic", l_write_atomic},
    {"mkdir_p", l_mkdir_p}, {"realpath", l_realpath}, {"remove", l_remove}, {NULL, NULL}};

int luaopen_ipe_fs(lua_State *L)
{
    luaL_newmetatable(L, DIR_MT);
    lua_pushcfunction(L, dir_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, FILE_MT);
    lua_pushcfunction(L, file_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_register(L, NULL, funcs);
    return 1;
}
