/* engine.c — the Lua state: a budgeted allocator, the module loader for the
 * bundled runtime modules and the C bindings, and the one protected call
 * with a traceback that every entry into Lua goes through. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "ipe.h"

/* Each state has its own budget (allocated beside it, freed by ipe_engine_close). */
struct budget {
    size_t used;
    size_t limit; /* 0 = unlimited */
};

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct budget *b = ud;
    if (ptr == NULL) osize = 0;
    if (nsize == 0) {
        free(ptr);
        b->used -= osize;
        return NULL;
    }
    if (b->limit && nsize > osize && b->used - osize + nsize > b->limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (p) b->used = b->used - osize + nsize;
    return p;
}

void ipe_engine_set_memory_limit(lua_State *L, size_t bytes)
{
    void *ud;
    lua_getallocf(L, &ud);
    ((struct budget *)ud)->limit = bytes;
}

size_t ipe_engine_memory_used(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ((struct budget *)ud)->used;
}

static int traceback(lua_State *L)
{
    if (!lua_isstring(L, 1)) return 1; /* error objects (tables) pass through */
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

int ipe_engine_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return rc;
}

/* package.loaders entry: bundled modules by name. */
static int bundled_loader(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (size_t i = 0; i < ipe_lua_module_count; i++) {
        const struct ipe_lua_module *m = &ipe_lua_modules[i];
        if (strcmp(m->name, name) != 0) continue;
        if (luaL_loadbuffer(L, m->source, m->len, m->chunkname) != 0) lua_error(L);
        return 1;
    }
    lua_pushfstring(L, "\n\tno bundled module '%s'", name);
    return 1;
}

static void preload(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Only preload and the bundle: no package.path/cpath, so neither the current
 * directory nor LUA_PATH can shadow a runtime module. */
static void setup_package(lua_State *L)
{
    lua_getglobal(L, "package");
    preload(L, "ipe.sqlite", luaopen_ipe_sqlite);
    preload(L, "ipe.proc", luaopen_ipe_proc);
    preload(L, "ipe.fs", luaopen_ipe_fs);
    preload(L, "ipe.mmdb", luaopen_ipe_mmdb);
    preload(L, "ipe.curl", luaopen_ipe_curl);
    preload(L, "ipe.zlib", luaopen_ipe_zlib);
    preload(L, "ipe.jsonl", luaopen_ipe_jsonl);
    preload(L, "ipe.httpd", luaopen_ipe_httpd);
    preload(L, "cjson", luaopen_cjson);
    preload(L, "cjson.safe", luaopen_cjson_safe);
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "loaders");
    lua_rawgeti(L, -1, 1); /* keep the preload searcher */
    for (int i = (int)lua_objlen(L, -2); i >= 1; i--) {
        lua_pushnil(L);
        lua_rawseti(L, -3, i);
    }
    lua_rawseti(L, -2, 1);
    lua_pushcfunction(L, bundled_loader);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}

lua_State *ipe_engine_new(void)
{
    struct budget *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    lua_State *L = lua_newstate(budget_alloc, b);
    if (!L) {
        free(b);
        return NULL;
    }
    luaL_openlibs(L);
    setup_package(L);
    return L;
}

void ipe_engine_close(lua_State *L)
{
    if (!L) return;
    void *ud;
    lua_getallocf(L, &ud);
    lua_close(L);
    free(ud);
}

int ipe_engine_main(lua_State *L, int argc, char **argv)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ipe.cli");
    if (ipe_engine_pcall(L, 1, 1) != 0) goto fail;
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    if (ipe_engine_pcall(L, 1, 1) != 0) goto fail;
    int rc = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 4;
    lua_pop(L, 2);
    return rc;
fail:
    fprintf(stderr, "ipe-run: internal error: %s\n", lua_isstring(L, -1) ? lua_tostring(L, -1) : "(error object)");
    return 4;
}
