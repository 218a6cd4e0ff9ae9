/* test_proc.c — ipe.proc: worker processes with budgets; no worker or pipe outlives
 * a run_jobs that fails; a worker's own alarm. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The third of four slow workers cannot start (no file descriptor left for its pipe):
 * run_jobs raises at once, and the two already running are killed and reaped, their
 * pipes closed. */
static void spawn_failure(lua_State *L, char *buf, size_t cap)
{
    int lowest = dup(0);
    close(lowest);
    int fds = open_fds();
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)lowest + 3; /* two workers' pipes fit, the third's does not */
    setrlimit(RLIMIT_NOFILE, &low);
    double t0 = now_s();
    lua_run(L, "local slow = function() local s = proc.monotonic() while proc.monotonic() - s < 20 do end return 'x' end "
               "local ok, e = pcall(proc.run_jobs, {slow, slow, slow, slow}, {parallel = 4, timeout = 30}) return e",
            buf, cap);
    double took = now_s() - t0;
    setrlimit(RLIMIT_NOFILE, &old);
    tap_is(buf, "cannot start a worker process: Too many open files", "a worker that cannot start is an error");
    tap_ok(took < 5, "run_jobs fails at once, without waiting for the running workers");
    errno = 0;
    tap_ok(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "the running workers are killed and reaped");
    tap_ok(open_fds() == fds, "their pipes are closed");
}

int main(void)
{
    char buf[1024];
    lua_State *L = ipe_engine_new();
    tap_set_slow(L);
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
    tap_is(lua_run(L, "local t0 = proc.monotonic() local r = proc.run_jobs({function() while true do end end, "
                      "function() local t = proc.monotonic() while proc.monotonic() - t < 0.6 do end return 'done' end}, "
                      "{parallel = 2, timeout = 0.3, timeouts = {0.2, 5}}) "
                      "return r[1].why .. ':' .. r[2].out .. ':' .. tostring(proc.monotonic() - t0 < 4)", buf, sizeof buf),
           "timeout:done:true", "timeouts[job]: each job its own wall-clock budget (0.2 s killed; 5 s outlives the 0.3 s default)");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() return string.rep('x', 3000000) end}) return #r[1].out",
                   buf, sizeof buf),
           "3000000", "a large result (more than a pipe buffer) arrives whole");
    tap_is(lua_run(L, "local jobs = {} for i = 1, 7 do jobs[i] = function() return tostring(i * i) end end "
                      "local r = proc.run_jobs(jobs, {parallel = 3}) local t = {} "
                      "for i = 1, 7 do t[i] = r[i].out end return table.concat(t, ',')", buf, sizeof buf),
           "1,4,9,16,25,36,49", "results keep job order with parallel workers");
    tap_is(lua_run(L, "local t0 = proc.monotonic() local jobs = {} for i = 1, 4 do jobs[i] = function() "
                      "local s = proc.monotonic() while proc.monotonic() - s < 0.3 * SLOW do end return 'x' end end "
                      "proc.run_jobs(jobs, {parallel = 4}) return proc.monotonic() - t0 < 1.1 * SLOW", buf, sizeof buf),
           "true", "workers run at the same time");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() local t = {} for i = 1, 1e8 do t[i] = {i} end end}, "
                      "{memory = 32 * 1024 * 1024}) return r[1].why .. ':' .. r[1].out:match('^[^\\n]*')", buf, sizeof buf),
           "error:not enough memory", "the memory budget stops a memory bomb");
    tap_is(lua_run(L, "local t = {} for i = 1, 1e5 do t[i] = {i} end return #t", buf, sizeof buf),
           "100000", "the parent's own memory is not limited");
    tap_is(lua_run(L, "return proc.run({'sh', '-c', 'exit 3'})", buf, sizeof buf), "3", "run returns the exit status");
    spawn_failure(L, buf, sizeof buf);
    tap_is(lua_run(L, "local r = proc.run_jobs({function() return 'after' end}) return r[1].out", buf, sizeof buf), "after",
           "run_jobs works again after a failure");
    tap_is(lua_run(L, "local t0 = proc.monotonic() local r = proc.run_jobs({function() proc.alarm(0.3, 'too late') "
                      "while true do end end}, {timeout = 10}) "
                      "return tostring(r[1].ok) .. ':' .. r[1].out .. ':' .. tostring(proc.monotonic() - t0 < 3)", buf, sizeof buf),
           "true:too late:true", "a worker's alarm stops a JIT-compiled loop and sends the text given beforehand");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() proc.alarm(0.2, 'too late') proc.alarm(nil) "
                      "local s = proc.monotonic() while proc.monotonic() - s < 0.4 do end return 'done' end}) return r[1].out",
                   buf, sizeof buf),
           "done", "a disarmed alarm does not fire");
    tap_is(lua_run(L, "local r = proc.run_jobs({function() proc.alarm(1.5, 'too late') return string.rep('o', 3000000) end}) "
                      "local s = proc.monotonic() while proc.monotonic() - s < 1.7 do end return #r[1].out", buf, sizeof buf),
           "3000000", "a job that ends before its alarm sends its own output, whole");
    tap_is(lua_run(L, "local ok, e = pcall(proc.alarm, 1, 'x') return e", buf, sizeof buf),
           "proc.alarm: only a worker process (run_jobs) has an alarm", "the parent has no alarm");
    tap_is(lua_run(L, "return type(proc.now()) .. type(proc.user()) .. tostring(proc.pid() > 0)", buf, sizeof buf),
           "numberstringtrue", "now, user and pid");
    ipe_engine_close(L);
    return tap_done();
}
