/* test_engine.c — the engine: bundled modules, no file search path, budgets. */
#include "tap.h"

int main(void)
{
    char buf[1024];
    lua_State *L = ipe_engine_new();
    tap_is(lua_run(L, "return package.path .. '|' .. package.cpath", buf, sizeof buf), "|",
           "no package.path or cpath: nothing loads from the current directory");
    tap_is(lua_run(L, "return type(require('ipe.cli').main)", buf, sizeof buf), "function", "bundled modules load by name");
    tap_is(lua_run(L, "return require('cjson').encode({1}) .. tostring(require('cjson.safe').decode('['))", buf, sizeof buf),
           "[1]nil", "cjson and cjson.safe are preloaded (safe returns nil on bad input)");
    tap_is(lua_run(L, "local ok, e = pcall(require, 'ipe.nope') return e:match('no bundled module') ~= nil", buf, sizeof buf),
           "true", "an unknown module says so");
    tap_is(lua_run(L, "local ok, e = pcall(error, 'x') return debug.traceback ~= nil", buf, sizeof buf), "true",
           "the trusted runtime keeps debug for tracebacks");
    ipe_engine_set_memory_limit(L, ipe_engine_memory_used(L) + 4 * 1024 * 1024);
    tap_is(lua_run(L, "local ok, e = pcall(string.rep, 'x', 64 * 1024 * 1024) return e", buf, sizeof buf),
           "not enough memory", "an allocation over the budget fails cleanly");
    tap_is(lua_run(L, "return 1 + 1", buf, sizeof buf), "2", "the state stays usable after running out of budget");
    ipe_engine_set_memory_limit(L, 0);

    /* Each state has its own budget: a second state neither resets nor shares the first's. */
    size_t before = ipe_engine_memory_used(L);
    lua_State *L2 = ipe_engine_new();
    tap_ok(L2 != NULL && ipe_engine_memory_used(L) == before, "a new state leaves the first state's count alone");
    tap_ok(ipe_engine_memory_used(L2) > 0 && ipe_engine_memory_used(L2) < before,
           "the new state counts only its own memory");
    ipe_engine_set_memory_limit(L, ipe_engine_memory_used(L) + 4 * 1024 * 1024);
    tap_is(lua_run(L2, "big = string.rep('y', 64 * 1024 * 1024) return #big", buf, sizeof buf), "67108864",
           "a limit on one state does not limit another");
    tap_ok(ipe_engine_memory_used(L2) >= 64u * 1024 * 1024 && ipe_engine_memory_used(L) < before + 4 * 1024 * 1024,
           "each state's count holds its own allocations");
    tap_is(lua_run(L, "local ok, e = pcall(string.rep, 'x', 64 * 1024 * 1024) return e", buf, sizeof buf),
           "not enough memory", "the limited state still stops at its own budget");
    ipe_engine_set_memory_limit(L2, ipe_engine_memory_used(L2) + 1024 * 1024);
    tap_is(lua_run(L2, "big = nil collectgarbage() local s = string.rep('z', 32 * 1024 * 1024) return #s", buf, sizeof buf),
           "33554432", "memory freed by one state counts against that state only");
    ipe_engine_close(L2);
    ipe_engine_set_memory_limit(L, 0);
    ipe_engine_close(L);
    return tap_done();
}
