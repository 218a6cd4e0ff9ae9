/* test_httpd.c — ipe.httpd: a request reaches Lua with its method, raw target, headers, body
 * and address; a whole answer and a streamed one reach the client; a body over the limit is
 * refused before Lua sees it; next() times out; an unknown id is refused; answers from forked
 * handler processes: two slow ones at once, a whole one, one that dies before answering, one
 * whose client goes away (killed), none left over and the server's fds back to where they
 * were; stop, which kills a handler still running. The clients are forked children writing what they received to a file. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"

/* fork a client that sends req to 127.0.0.1:port and writes the whole answer to path */
static pid_t client(int port, const char *req, const char *path)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FILE *f = fopen(path, "wb");
    if (s < 0 || !f || connect(s, (struct sockaddr *)&a, sizeof a) != 0) _exit(1);
    if (write(s, req, strlen(req)) < 0) _exit(1);
    char buf[4096];
    ssize_t n;
    while ((n = read(s, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    _exit(0);
}

/* a client that reads the first bytes of the answer and goes away */
static pid_t impatient(int port, const char *req)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[64];
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) _exit(1);
    if (write(s, req, strlen(req)) < 0 || read(s, buf, sizeof buf) <= 0) _exit(1);
    _exit(0);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
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

static char *slurp(const char *path)
{
    static char text[8192];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    return text;
}

int main(void)
{
    char buf[1024], dir[] = "/tmp/ipe-test-httpd-XXXXXX", path[512];
    if (!mkdtemp(dir)) return 1;
    lua_State *L = ipe_engine_new();
    int port = atoi(lua_run(L, "h = require 'ipe.httpd' srv = h.start{host = '127.0.0.1', port = 0, body_limit = 16, "
                               "timeout = 5} return srv:port()", buf, sizeof buf));
    tap_ok(port > 0, "listening on a free port");

    snprintf(path, sizeof path, "%s/one", dir);
    pid_t c = client(port, "POST /a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\nhello", path);
    tap_is(lua_run(L, "r = assert(srv:next(10)) return table.concat({r.method, r.uri, r.headers['x-test'], r.body, r.remote, "
                      "r.version}, '|')", buf, sizeof buf),
           "POST|/a%2Fb?x=1&y=%20|yes|hello|127.0.0.1|HTTP/1.1", "the request as sent, the target undecoded");
    tap_is(lua_run(L, "return tostring(srv:respond(r.id, 201, {['X-A'] = 'b', ['Bad\\r\\nName'] = 'x', ['X-C'] = 'no\\r\\nsplit'}, "
                      "'done'))", buf, sizeof buf), "true", "respond");
    waitpid(c, NULL, 0);
    const char *got = slurp(path);
    tap_ok(strncmp(got, "HTTP/1.1 201 ", 13) == 0, "the status reaches the client");
    tap_ok(strstr(got, "\r\nX-A: b\r\n") != NULL, "a header reaches it");
    tap_ok(strstr(got, "Bad") == NULL && strstr(got, "split") == NULL, "headers with CR or LF are dropped");
    tap_ok(strlen(got) > 4 && strcmp(got + strlen(got) - 4, "done") == 0, "the body reaches it");
    tap_is(lua_run(L, "return tostring(srv:respond(r.id, 200, {}, 'again'))", buf, sizeof buf), "false",
           "a request is answered once");

    snprintf(path, sizeof path, "%s/two", dir);
    c = client(port, "GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    tap_is(lua_run(L, "r = assert(srv:next(10)) srv:stream(r.id, 200, {['Content-Type'] = 'text/plain'}) "
                      "local a, b = srv:write(r.id, 'first,'), srv:write(r.id, 'second') srv:finish(r.id) "
                      "return tostring(a and b)", buf, sizeof buf), "true", "a streamed answer");
    waitpid(c, NULL, 0);
    got = slurp(path);
    tap_ok(strstr(got, "Transfer-Encoding: chunked") != NULL, "streamed: chunked");
    tap_ok(strstr(got, "first,") != NULL && strstr(got, "second") != NULL && strstr(got, "\r\n0\r\n\r\n") != NULL,
           "streamed: both pieces and the end");

    snprintf(path, sizeof path, "%s/three", dir);
    c = client(port, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n", path);
    waitpid(c, NULL, 0);
    got = slurp(path);
    tap_ok(strncmp(got, "HTTP/1.1 413 ", 13) == 0, "a body over the limit: 413");
    const char *body = strstr(got, "\r\n\r\n");
    tap_is(body ? body + 4 : "", "413 request body too large\n", "in one line");
    tap_is(lua_run(L, "local r, why = srv:next(0.3) return tostring(r) .. ' ' .. why", buf, sizeof buf), "nil timeout",
           "Lua never saw it; next() times out");
    tap_is(lua_run(L, "return tostring(srv:respond(12345, 200, {}, 'x'))", buf, sizeof buf), "false", "an unknown id");

    /* answers from handler processes */
    int base = count_fds();
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/four", dir);
    snprintf(p2, sizeof p2, "%s/five", dir);
    /* each handler's delay: 1.5 s, longer on a slow run, below the server's 5 s idle timeout */
    double delay = 1.5 * (tap_slow() < 2.6 ? tap_slow() : 2.6);
    lua_pushnumber(L, delay);
    lua_setglobal(L, "DELAY");
    double t0 = now_s();
    pid_t c1 = client(port, "GET /slow1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p1);
    pid_t c2 = client(port, "GET /slow2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p2);
    tap_is(lua_run(L, "pids = {} for i = 1, 2 do local r = assert(srv:next(10)) local pid = assert(srv:fork(r.id)) "
                      "if pid == 0 then srv:stream(r.id, 200, {['X-H'] = 'y'}) srv:write(r.id, 'start ' .. r.uri .. ',') "
                      "os.execute('sleep ' .. DELAY) srv:write(r.id, 'end') srv:finish(r.id) srv:exit() end "
                      "pids[i] = pid end return 'forked'", buf, sizeof buf), "forked", "two requests handed to handlers");
    waitpid(c1, NULL, 0);
    waitpid(c2, NULL, 0);
    double took = now_s() - t0;
    tap_ok(took >= delay - 0.1 && took < 2 * delay - 0.1, "two slow handlers answer at once (one delay, not two)");
    got = slurp(p1);
    tap_ok(strstr(got, "X-H: y\r\n") && strstr(got, "start /slow1,") && strstr(got, "end\r\n0\r\n\r\n"),
           "a handler's stream: its header, both pieces and the end");
    got = slurp(p2);
    tap_ok(strstr(got, "start /slow2,") && strstr(got, "end\r\n0\r\n\r\n"), "the other handler's stream");

    snprintf(path, sizeof path, "%s/six", dir);
    c = client(port, "GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    lua_run(L, "local r = assert(srv:next(10)) if srv:fork(r.id) == 0 then "
               "srv:respond(r.id, 202, {['X-W'] = '1'}, 'whole answer') srv:exit() end", buf, sizeof buf);
    waitpid(c, NULL, 0);
    got = slurp(path);
    tap_ok(strncmp(got, "HTTP/1.1 202 ", 13) == 0 && strstr(got, "Content-Length: 12\r\n") && strstr(got, "X-W: 1\r\n")
           && strcmp(got + strlen(got) - 12, "whole answer") == 0, "a handler's whole answer, with its length");

    snprintf(path, sizeof path, "%s/seven", dir);
    c = client(port, "GET /dies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    lua_run(L, "local r = assert(srv:next(10)) if srv:fork(r.id) == 0 then srv:exit() end", buf, sizeof buf);
    waitpid(c, NULL, 0);
    got = slurp(path);
    const char *b7 = strstr(got, "\r\n\r\n");
    tap_ok(strncmp(got, "HTTP/1.1 500 ", 13) == 0 && b7 && strcmp(b7 + 4, "500 internal error\n") == 0,
           "a handler that dies before answering: 500 in one line");

    c = impatient(port, "GET /gone HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int gone = atoi(lua_run(L, "local r = assert(srv:next(10)) local pid = srv:fork(r.id) if pid == 0 then "
                               "srv:stream(r.id, 200, {}) for i = 1, 300 do srv:write(r.id, string.rep('x', 4096)) "
                               "os.execute('sleep 0.1') end srv:finish(r.id) srv:exit() end return pid",
                            buf, sizeof buf));
    waitpid(c, NULL, 0);
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        lua_run(L, "srv:next(0.1)", buf, sizeof buf); /* reaps */
        alive = gone > 0 && kill(gone, 0) == 0;
    }
    tap_ok(gone > 0 && !alive, "a handler whose client went away is killed and reaped");
    tap_ok(kill(atoi(lua_run(L, "return pids[1]", buf, sizeof buf)), 0) != 0 &&
           kill(atoi(lua_run(L, "return pids[2]", buf, sizeof buf)), 0) != 0, "finished handlers are reaped");
    int fds = -1;
    for (int i = 0; i < 50 && fds != base; i++) {
        lua_run(L, "srv:next(0.05)", buf, sizeof buf);
        fds = count_fds();
    }
    if (fds != base) printf("# fds %d, at the start %d\n", fds, base);
    tap_ok(fds == base, "the server's open fds are back to where they were");

    snprintf(path, sizeof path, "%s/eight", dir);
    c = client(port, "GET /long HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    int longest = atoi(lua_run(L, "local r = assert(srv:next(10)) local pid = srv:fork(r.id) if pid == 0 then "
                                  "srv:stream(r.id, 200, {}) srv:write(r.id, 'begun') os.execute('sleep 30') srv:exit() end "
                                  "return pid", buf, sizeof buf));
    t0 = now_s();
    tap_is(lua_run(L, "srv:stop() local ok, e = pcall(srv.port, srv) return tostring(ok) .. ' ' .. e", buf, sizeof buf),
           "false httpd: the server is stopped", "stop");
    waitpid(c, NULL, 0);
    tap_ok(longest > 0 && kill(longest, 0) != 0 && now_s() - t0 < 10, "stop kills and reaps a handler still running");
    tap_is(lua_run(L, "local ok, e = pcall(h.start, {host = 'example.org'}) return e", buf, sizeof buf),
           "httpd: 'example.org' is not an IP address to listen on", "a host name is refused");
    ipe_engine_close(L);
    for (int i = 0; i < 8; i++) {
        static const char *names[] = {"one", "two", "three", "four", "five", "six", "seven", "eight"};
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return tap_done();
}
