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
    lua_close(L);
    return tap_done();
}
