/* bind_proc.c — ipe.proc: process isolation and facts about the process.
 *
 *   results = proc.run_jobs(jobs, {parallel=N, timeout=s, timeouts={s...}, cpu=s, memory=bytes})
 *       Each job (a Lua function returning a string) runs in a forked child with a
 *       CPU rlimit and a Lua memory budget; the parent kills a child that outlives
 *       its wall-clock timeout (timeouts[job] when given, else timeout). A result is {ok=true, out=s} or
 *       {ok=false, why="error"|"timeout"|"cpu"|"signal"|"exit", out=s, code=n}.
 *       opts.on_result(job, result), when given, is called as each job finishes (ipe-run serve
 *       streams a page's panels as they come); an error it raises stops the run.
 *       This is the hard guard the sandbox needs: no hook runs inside JIT-compiled
 *       loops or C functions (a catastrophic pattern), but a SIGKILL always lands.
 *   proc.alarm(seconds, text) / proc.alarm(nil)
 *       In a worker only: when the time is up, the worker's whole output is `text` (given
 *       now: a record saying it ran out of time) and it exits; the parent's timeout stays
 *       the hard limit. A script's own, shorter `timeout` uses it.
 *   proc.isatty(fd), proc.term_width(), proc.getenv(name), proc.exe_path(),
 *   proc.now(), proc.monotonic(), proc.user(), proc.pid(), proc.run(argv) -> status */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "ipe.h"

struct child {
    pid_t pid;    /* 0 once reaped */
    int fd;       /* -1 once closed */
    double deadline;
    int killed;
    int status;   /* from waitpid */
};

/* The workers of one run_jobs call. It lives in the C frame of l_run_jobs, which runs
 * the loop in a protected call: whatever raises in the loop (a spawn or poll failure,
 * out of memory), the workers still running are killed, reaped and their pipes closed
 * before the error goes on. */
#define MAX_PAR 16
struct pool {
    struct child kids[MAX_PAR];
    int job_of[MAX_PAR];
    int active;
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* proc.alarm: in a worker, a wall-clock limit of its own below the parent's timeout.
 * When it fires, the worker sends the text given beforehand as its whole output and
 * exits 0: write() and _exit() are all the handler does (async-signal-safe). */
static int worker_fd = -1;
static char *alarm_text;
static size_t alarm_len;

static void on_alarm(int sig)
{
    (void)sig;
    const char *p = alarm_text;
    size_t n = alarm_len;
    while (n > 0) {
        ssize_t w = write(worker_fd, p, n);
        if (w <= 0) break;
        p += w;
        n -= (size_t)w;
    }
    _exit(0);
}

static void disarm(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

/* proc.alarm(seconds, text) arms it; proc.alarm(nil) disarms. Only in a worker. */
static int l_alarm(lua_State *L)
{
    if (worker_fd < 0) return luaL_error(L, "proc.alarm: only a worker process (run_jobs) has an alarm");
    if (lua_isnoneornil(L, 1)) {
        disarm();
        return 0;
    }
    double s = luaL_checknumber(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    if (!(s > 0) || s > 1e6) return luaL_argerror(L, 1, "seconds must be above 0");
    disarm();
    char *copy = malloc(len ? len : 1);
    if (!copy) return luaL_error(L, "not enough memory");
    memcpy(copy, text, len);
    free(alarm_text);
    alarm_text = copy;
    alarm_len = len;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {{0, 0}, {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)}};
    if (t.it_value.tv_sec == 0 && t.it_value.tv_usec == 0) t.it_value.tv_usec = 1;
    setitimer(ITIMER_REAL, &t, NULL);
    return 0;
}

/* In the child: run jobs[i] and send its string (or error text) to fd. */
static void child_run(lua_State *L, int fd, int job, double cpu, double memory)
{
    worker_fd = fd;
    if (cpu > 0) {
        struct rlimit rl = {(rlim_t)cpu, (rlim_t)cpu + 1};
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (memory > 0) ipe_engine_set_memory_limit(L, ipe_engine_memory_used(L) + (size_t)memory);
    lua_rawgeti(L, 1, job);
    int rc = ipe_engine_pcall(L, 0, 1);
    disarm(); /* from here on the output is the job's own */
    size_t len = 0;
    const char *s = lua_tolstring(L, -1, &len);
    if (!s) {
        s = rc ? "(error object is not a string)" : "(job returned no string)";
        len = strlen(s);
        rc = 1;
    }
    write_all(fd, s, len);
    _exit(rc == 0 ? 0 : 1);
}

static int spawn(lua_State *L, struct child *c, int job, double timeout, double cpu, double memory)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child_run(L, p[1], job, cpu, memory);
    }
    close(p[1]);
    c->pid = pid;
    c->fd = p[0];
    c->deadline = timeout > 0 ? clock_s(CLOCK_MONOTONIC) + timeout : 0;
    c->killed = 0;
    c->status = 0;
    return 0;
}

/* Close the child's pipe and reap it (no Lua call: nothing here can raise). */
static void reap(struct child *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->pid > 0)
        while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR) {}
    c->pid = 0;
}

static void pool_abort(struct pool *p)
{
    for (int i = 0; i < p->active; i++) {
        if (p->kids[i].pid > 0) kill(p->kids[i].pid, SIGKILL);
        reap(&p->kids[i]);
    }
    p->active = 0;
}

/* Store the reaped child's result at results[job]; the output is at the top of the stack. */
static void finish(lua_State *L, const struct child *c, int results, int job)
{
    int status = c->status;
    lua_createtable(L, 0, 4);
    lua_insert(L, -2);
    lua_setfield(L, -2, "out");
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !c->killed;
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    if (!ok) {
        const char *why = "exit";
        if (c->killed) why = "timeout";
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) why = "error";
        else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL)) why = "cpu";
        else if (WIFSIGNALED(status)) why = "signal";
        lua_pushstring(L, why);
        lua_setfield(L, -2, "why");
        lua_pushinteger(L, WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        lua_setfield(L, -2, "code");
    }
    lua_rawseti(L, results, job);
}

static double opt_number(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* Read what child i sent; returns 1 when it is done (end of output, or its time is up). */
static int drain(lua_State *L, struct child *c, int slot, short revents, double now)
{
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
            lua_rawgeti(L, 4, slot + 1);
            lua_pushlstring(L, buf, (size_t)r);
            lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
            lua_pop(L, 1);
        } else if (r == 0 || errno != EINTR) {
            return 1;
        }
    }
    if (c->deadline > 0 && now > c->deadline) {
        kill(c->pid, SIGKILL);
        c->killed = 1;
        return 1;
    }
    return 0;
}

/* The reaped child in slot i: its pieces joined into results[job], the slot freed. */
static void collect(lua_State *L, struct pool *p, int i)
{
    lua_rawgeti(L, 4, i + 1);
    int pieces = lua_gettop(L), parts = (int)lua_objlen(L, pieces);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 1; k <= parts; k++) {
        lua_rawgeti(L, pieces, k);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_remove(L, pieces);
    int job = p->job_of[i];
    finish(L, &p->kids[i], 3, job);
    /* move the last slot into this one */
    p->active--;
    p->kids[i] = p->kids[p->active];
    p->job_of[i] = p->job_of[p->active];
    lua_rawgeti(L, 4, p->active + 1);
    lua_rawseti(L, 4, i + 1);
    lua_getfield(L, 2, "on_result");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushinteger(L, job);
    lua_rawgeti(L, 3, job);
    lua_call(L, 2, 0);
}

/* The wall-clock timeout of job: opts.timeouts[job] when it is a number, else dflt. */
static double job_timeout(lua_State *L, int job, double dflt)
{
    double t = dflt;
    if (!lua_istable(L, 2)) return t;
    lua_getfield(L, 2, "timeouts");
    if (lua_istable(L, -1)) {
        lua_rawgeti(L, -1, job);
        if (lua_type(L, -1) == LUA_TNUMBER) t = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return t;
}

/* The loop of run_jobs (stack: jobs, opts; upvalue: the pool). */
static int run_jobs_loop(lua_State *L)
{
    struct pool *p = lua_touserdata(L, lua_upvalueindex(1));
    int njobs = (int)lua_objlen(L, 1);
    int par = (int)opt_number(L, 2, "parallel", 1);
    double timeout = opt_number(L, 2, "timeout", 10), cpu = opt_number(L, 2, "cpu", 0);
    double memory = opt_number(L, 2, "memory", 0);
    if (par < 1) par = 1;
    if (par > MAX_PAR) par = MAX_PAR;
    lua_createtable(L, njobs, 0); /* 3: results */
    lua_createtable(L, MAX_PAR, 0); /* 4: one table of output pieces per slot */
    int next = 1;
    for (;;) {
        while (p->active < par && next <= njobs) {
            lua_newtable(L);
            lua_rawseti(L, 4, p->active + 1);
            if (spawn(L, &p->kids[p->active], next, job_timeout(L, next, timeout), cpu, memory) != 0)
                return luaL_error(L, "cannot start a worker process: %s", strerror(errno));
            p->job_of[p->active++] = next++;
        }
        if (p->active <= 0) break;
        struct pollfd pfd[MAX_PAR];
        double now = clock_s(CLOCK_MONOTONIC), wait = 1.0;
        for (int i = 0; i < p->active; i++) {
            pfd[i].fd = p->kids[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            if (p->kids[i].deadline > 0 && p->kids[i].deadline - now < wait) wait = p->kids[i].deadline - now;
        }
        if (wait < 0) wait = 0;
        int n = poll(pfd, (nfds_t)p->active, (int)(wait * 1000) + 1);
        if (n < 0 && errno != EINTR) return luaL_error(L, "poll failed: %s", strerror(errno));
        now = clock_s(CLOCK_MONOTONIC);
        for (int i = 0; i < p->active; i++) {
            if (!drain(L, &p->kids[i], i, n > 0 ? pfd[i].revents : 0, now)) continue;
            reap(&p->kids[i]);
            collect(L, p, i);
            pfd[i] = pfd[p->active];
            i--;
        }
    }
    lua_pop(L, 1);
    return 1;
}

static int l_run_jobs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_istable(L, 2)) { lua_settop(L, 1); lua_newtable(L); }
    lua_settop(L, 2);
    struct pool pool;
    pool.active = 0;
    lua_pushlightuserdata(L, &pool);
    lua_pushcclosure(L, run_jobs_loop, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, 2, 1, 0) != 0) {
        pool_abort(&pool);
        return lua_error(L);
    }
    return 1;
}

static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_term_width(lua_State *L)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) lua_pushinteger(L, ws.ws_col);
    else lua_pushnil(L);
    return 1;
}

static int l_getenv(lua_State *L)
{
    const char *v = getenv(luaL_checkstring(L, 1));
    if (v) lua_pushstring(L, v);
    else lua_pushnil(L);
    return 1;
}

static int l_exe_path(lua_State *L)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return 0;
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, clock_s(CLOCK_REALTIME));
    return 1;
}

static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, clock_s(CLOCK_MONOTONIC));
    return 1;
}

static int l_user(lua_State *L)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name) lua_pushstring(L, pw->pw_name);
    else lua_pushfstring(L, "uid %d", (int)geteuid());
    return 1;
}

static int l_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* proc.run({"prog", "arg", ...}) -> exit status (or nil, err): runs a program
 * with the terminal inherited (used to open $EDITOR). */
static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_objlen(L, 1);
    if (n < 1 || n > 64) return luaL_argerror(L, 1, "1 to 64 arguments");
    const char *argv[65];
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        argv[i - 1] = luaL_checkstring(L, -1);
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"run_jobs", l_run_jobs}, {"isatty", l_isatty}, {"term_width", l_term_width},
    {"getenv", l_getenv}, {"exe_path", l_exe_path}, {"now", l_now}, {"monotonic", l_monotonic},
    {"user", l_user}, {"pid", l_pid}, {"run", l_run}, {"alarm", l_alarm}, {NULL, NULL}};

int luaopen_ipe_proc(lua_State *L)
{
    lua_newtable(L);
    luaL_register(L, NULL, funcs);
    return 1;
}
