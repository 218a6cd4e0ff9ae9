/* bind_proc.c — ipe.proc: process isolation and facts about the process.
 *
 *   results = proc.run_jobs(jobs, {parallel=N, timeout=s, cpu=s, memory=bytes})
 *       Each job (a Lua function returning a string) runs in a forked child with a
 *       CPU rlimit and a Lua memory budget; the parent kills a child that outlives
 *       its wall-clock timeout. A result is {ok=true, out=s} or
 *       {ok=false, why="error"|"timeout"|"cpu"|"signal"|"exit", out=s, code=n}.
 *       This is the hard guard the sandbox needs: no hook runs inside JIT-compiled
 *       loops or C functions (a catastrophic pattern), but a SIGKILL always lands.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "ipe.h"

struct child {
    pid_t pid;
    int fd;
    double deadline;
    int killed;
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

/* In the child: run jobs[i] and send its string (or error text) to fd. */
static void child_run(lua_State *L, int fd, int job, double cpu, double memory)
{
    if (cpu > 0) {
        struct rlimit rl = {(rlim_t)cpu, (rlim_t)cpu + 1};
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (memory > 0) ipe_engine_set_memory_limit(L, ipe_engine_memory_used(L) + (size_t)memory);
    lua_rawgeti(L, 1, job);
    int rc = ipe_engine_pcall(L, 0, 1);
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
    return 0;
}

/* Store the finished child's result at results[job]; the output is at the top of the stack. */
static void finish(lua_State *L, struct child *c, int results, int job)
{
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {}
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

#define MAX_PAR 16

static int l_run_jobs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_istable(L, 2)) { lua_settop(L, 1); lua_newtable(L); }
    lua_settop(L, 2);
    int njobs = (int)lua_objlen(L, 1);
    int par = (int)opt_number(L, 2, "parallel", 1);
    double timeout = opt_number(L, 2, "timeout", 10), cpu = opt_number(L, 2, "cpu", 0);
    double memory = opt_number(L, 2, "memory", 0);
    if (par < 1) par = 1;
    if (par > MAX_PAR) par = MAX_PAR;
    lua_createtable(L, njobs, 0); /* 3: results */
    struct child kids[MAX_PAR];
    int job_of[MAX_PAR], active = 0, next = 1;
    /* 4: one table of output pieces per slot */
    lua_createtable(L, MAX_PAR, 0);
    for (;;) {
        while (active < par && next <= njobs) {
            if (spawn(L, &kids[active], next, timeout, cpu, memory) != 0)
                return luaL_error(L, "cannot start a worker process: %s", strerror(errno));
            job_of[active] = next++;
            lua_newtable(L);
            lua_rawseti(L, 4, active + 1);
            active++;
        }
        if (active <= 0 || active > MAX_PAR) break;
        struct pollfd pfd[MAX_PAR];
        double now = clock_s(CLOCK_MONOTONIC), wait = 1.0;
        for (int i = 0; i < active; i++) {
            pfd[i].fd = kids[i].fd;
            pfd[i].events = POLLIN;
            if (kids[i].deadline > 0 && kids[i].deadline - now < wait) wait = kids[i].deadline - now;
        }
        if (wait < 0) wait = 0;
        int n = poll(pfd, (nfds_t)active, (int)(wait * 1000) + 1);
        if (n < 0 && errno != EINTR) return luaL_error(L, "poll failed: %s", strerror(errno));
        now = clock_s(CLOCK_MONOTONIC);
        for (int i = 0; i < active; i++) {
            int done = 0;
            if (n > 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                char buf[65536];
                ssize_t r = read(kids[i].fd, buf, sizeof buf);
                if (r > 0) {
                    lua_rawgeti(L, 4, i + 1);
                    lua_pushlstring(L, buf, (size_t)r);
                    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
                    lua_pop(L, 1);
                } else if (r == 0 || errno != EINTR) {
                    done = 1;
                }
            }
            if (!done && kids[i].deadline > 0 && now > kids[i].deadline) {
                kill(kids[i].pid, SIGKILL);
                kids[i].killed = 1;
                done = 1;
            }
            if (!done) continue;
            close(kids[i].fd);
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
            finish(L, &kids[i], 3, job_of[i]);
            /* move the last slot into this one */
            active--;
            kids[i] = kids[active];
            job_of[i] = job_of[active];
            pfd[i] = pfd[active];
            lua_rawgeti(L, 4, active + 1);
            lua_rawseti(L, 4, i + 1);
            i--;
        }
    }
    lua_pop(L, 1);
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
    {"user", l_user}, {"pid", l_pid}, {"run", l_run}, {NULL, NULL}};

int luaopen_ipe_proc(lua_State *L)
{
    lua_newtable(L);
    luaL_register(L, NULL, funcs);
    return 1;
}
