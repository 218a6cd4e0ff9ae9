/* tap.h — a tiny TAP producer for the C unit tests, plus a helper that runs a
 * Lua snippet in a fresh ipe engine and returns what it returns as text. */
#ifndef IPE_TAP_H
#define IPE_TAP_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "ipe.h"

static int tap_n, tap_failed;

static void tap_ok(int cond, const char *name)
{
    tap_n++;
    if (!cond) tap_failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
}

static void tap_is(const char *got, const char *want, const char *name)
{
    int ok = got && want && strcmp(got, want) == 0;
    tap_ok(ok, name);
    if (!ok) printf("#   got:  %s\n#   want: %s\n", got ? got : "(null)", want ? want : "(null)");
}

/* How many times slower than native this run is (IPE_TEST_SLOW, at least 1; tests/c.t sets it
 * under valgrind): the tests of timing scale their delays and bounds by it (SLOW in Lua). */
static inline double tap_slow(void)
{
    const char *s = getenv("IPE_TEST_SLOW");
    double f = s ? atof(s) : 1;
    return f >= 1 ? f : 1;
}

static inline void tap_set_slow(lua_State *L)
{
    lua_pushnumber(L, tap_slow());
    lua_setglobal(L, "SLOW");
}

static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

/* Run code (a chunk that returns one value) and copy tostring(result) or the error into buf. */
static const char *lua_run(lua_State *L, const char *code, char *buf, size_t cap)
{
    if (luaL_loadstring(L, code) != 0 || ipe_engine_pcall(L, 0, 1) != 0) {
        snprintf(buf, cap, "ERROR: %s", lua_tostring(L, -1));
    } else {
        lua_getglobal(L, "tostring");
        lua_insert(L, -2);
        lua_call(L, 1, 1);
        snprintf(buf, cap, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return buf;
}

#endif
