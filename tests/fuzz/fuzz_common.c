/* fuzz_common.c — the Lua side of every fuzz target: the runtime's Lua state
 * (ipe_engine_new, with the bundled modules and the C bindings), the driver
 * tests/fuzz/driver.lua loaded once (its path is compiled in: FUZZ_DRIVER),
 * and one protected call per input. A clean "bad record" is a normal return of
 * the driver; anything it raises is an internal error: printed, then abort().
 * libFuzzer sees only C coverage, and the parsers are Lua: a line hook feeds
 * the Lua lines run (as edges: previous line -> line) into libFuzzer's extra
 * counters, so the fuzzer is guided by the Lua code it reaches. The same hook
 * watches the CPU time: an input that takes more than IPE_FUZZ_HANG seconds
 * (default 1) of this thread's CPU is a hang, reported and aborted (libFuzzer's
 * own -timeout is wall time, which a loaded machine stretches). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <lauxlib.h>
#include "ipe.h"
#include "fuzz.h"

#ifndef FUZZ_DRIVER
#error "define FUZZ_DRIVER as the path of tests/fuzz/driver.lua"
#endif

static lua_State *L;
static int targets_ref = LUA_NOREF;

#define COUNTERS (1u << 16)
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_counters[COUNTERS];
static uintptr_t previous;
static double hang_seconds = 1.0, started;
static unsigned long lines;
static size_t input_size;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_hang(void)
{
    double spent = cpu_now() - started;
    if (spent <= hang_seconds) return;
    fprintf(stderr, "fuzz: hang: %.2f s of CPU for an input of %zu bytes (limit %.2f s)\n", spent, input_size,
            hang_seconds);
    abort();
}

static void line_hook(lua_State *Ls, lua_Debug *ar)
{
    if (!lua_getinfo(Ls, "S", ar)) return;
    uintptr_t here = ((uintptr_t)ar->source * 2654435761u) ^ (uintptr_t)ar->currentline * 40503u;
    size_t i = (size_t)((here ^ (previous >> 1)) % COUNTERS);
    if (lua_counters[i] < 255) lua_counters[i]++;
    previous = here;
    if ((++lines & 4095) == 0) check_hang();
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, lua_isstring(L, -1) ? lua_tostring(L, -1) : "(error object)");
    abort();
}

static void setup(void)
{
    const char *h = getenv("IPE_FUZZ_HANG");
    if (h && atof(h) > 0) hang_seconds = atof(h);
    L = ipe_engine_new();
    if (!L) {
        fprintf(stderr, "fuzz: cannot create the Lua state\n");
        abort();
    }
    if (luaL_loadfile(L, FUZZ_DRIVER) != 0) die("loading the driver");
    if (ipe_engine_pcall(L, 0, 1) != 0) die("running the driver");
    targets_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

int ipe_fuzz_one(const char *target, const uint8_t *data, size_t size)
{
    if (!L) setup();
    lua_rawgeti(L, LUA_REGISTRYINDEX, targets_ref);
    lua_getfield(L, -1, target);
    if (!lua_isfunction(L, -1)) die(target);
    lua_pushlstring(L, (const char *)data, size);
    previous = 0;
    input_size = size;
    started = cpu_now();
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    int rc = ipe_engine_pcall(L, 1, 0);
    lua_sethook(L, NULL, 0, 0);
    if (rc != 0) die(target);
    check_hang();
    lua_pop(L, 1);
    return 0;
}
