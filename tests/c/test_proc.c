/* test_proc.c — ipe.proc: worker processes with budgets. */
#include "tap.h"

int main(void)
{
    char buf[1024];
    lua_State *L = ipe_engine_new();
    lua_run(L, "proc = require 'ipe.proc' return 1", buf, sizeof buf);
    tap_is(lua_run(L, "local r = proc.run_jobs({function() return 'hello' end}) return tostring(r[1].ok) .. ':' .. r[1].out",
                   buf, sizeof buf),
           "true:hello", "a job's string comes back");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() error('boom', 0) end}) return r[1].why .. ':' .. r[1].out:match('^[^\\n]*')",
                   buf, sizeof buf),
           "error:boom", "a job's error comes back as why=error");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() while true do end end}, {timeout = 0.3}) return r[1].why",
                   buf, sizeof buf),
           "timeout", "a JIT-compiled endless loop is killed at the timeout");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() return string.rep('x', 3000000) end}) return #r[1].out",
                   buf, sizeof buf),
           "3000000", "a large result (more than a pipe buffer) arrives whole");
    tap_is(lua_run(L, "local jobs = {} for i = 1, 7 do jobs[i] = function() return tostring(i * i) end end "
                      "local r = proc.run_jobs(jobs, {parallel = 3}) local t = {} "
                      "for i = 1, 7 do t[i] = r[i].out end return table.concat(t, ',')", buf, sizeof buf),
           "1,4,9,16,25,36,49", "results keep job order with parallel workers");
    tap_is(lua_run(L, "local t0 = proc.monotonic() local jobs = {} for i = 1, 4 do jobs[i] = function() "
                      "local s = proc.monotonic() while proc.monotonic() - s < 0.3 do end return 'x' end end "
                      "proc.run_jobs(jobs, {parallel = 4}) return proc.monotonic() - t0 < 1.1", buf, sizeof buf),
           "true", "workers run at the same time");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() local t = {} for i = 1, 1e8 do t[i] = {i} end end}, "
                      "{memory = 32 * 1024 * 1024}) return r[1].why .. ':' .. r[1].out:match('^[^\\n]*')", buf, sizeof buf),
           "error:not enough memory", "the memory budget stops a memory bomb");
    tap_is(lua_run(L, "local t = {} for i = 1, 1e5 do t[i] = {i} end return #t", buf, sizeof buf),
           "100000", "the parent's own memory is not limited");
    tap_is(lua_run(L, "return proc.run({'sh', '-c', 'exit 3'})", buf, sizeof buf), "3", "run returns the exit status");
    tap_is(lua_run(L, "return type(proc.now()) .. type(proc.user()) .. tostring(proc.pid() > 0)", buf, sizeof buf),
           "numberstringtrue", "now, user and pid");
    lua_close(L);
    return tap_done();
}
