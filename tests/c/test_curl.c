/* test_curl.c — the ipe.curl binding against a tiny HTTP server forked on
 * 127.0.0.1 (ephemeral port): status and headers, POST bodies, timeouts, the
 * body cap (by Content-Length and while streaming), resets, redirects (limit
 * and protocols), TLS failure, refused connections and requests in parallel;
 * batches sharing the one multi handle, and ipe.concurrent's scheduler on top. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void sends(int fd, const char *s) { send_all(fd, s, strlen(s)); }

/* Read the request head (and a small body when Content-Length says so). */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = '\0';
        if ((unsigned char)buf[0] == 0x16) return n; /* a TLS ClientHello: answer in plain text */
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            char *cl = strcasestr(buf, "content-length:");
            size_t want = cl ? (size_t)atol(cl + 15) : 0;
            if (n >= (size_t)(end + 4 - buf) + want) break;
        }
    }
    buf[n] = '\0';
    return n;
}

static void respond(int fd)
{
    char req[8192];
    read_request(fd, req, sizeof req);
    char path[256] = "";
    if ((unsigned char)req[0] == 0x16) {
        sends(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        close(fd);
        return;
    }
    sscanf(req, "%*s %255s", path);
    char head[512];
    if (strcmp(path, "/ok") == 0) {
        sends(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Test: a\r\nX-Test: b\r\n"
                  "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}");
    } else if (strcmp(path, "/echo") == 0) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", strlen(req));
        sends(fd, head);
        sends(fd, req);
    } else if (strcmp(path, "/delay") == 0) {
        long ms = (long)(300 * tap_slow());
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    } else if (strcmp(path, "/slow") == 0) {
        sleep(3);
        sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    } else if (strcmp(path, "/big") == 0) {
        sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\nConnection: close\r\n\r\n");
        char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 800; i++) send_all(fd, chunk, sizeof chunk);
    } else if (strcmp(path, "/stream") == 0) { /* no length: the cap trips while streaming */
        sends(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        char chunk[65536];
        memset(chunk, 'y', sizeof chunk);
        for (int i = 0; i < 40; i++) send_all(fd, chunk, sizeof chunk);
    } else if (strcmp(path, "/reset") == 0) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (strcmp(path, "/partial") == 0) {
        sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"trunc");
    } else if (strncmp(path, "/redirect/", 10) == 0) {
        int k = atoi(path + 10);
        if (k <= 0) {
            sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\narrived");
        } else {
            snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: /redirect/%d\r\nContent-Length: 0\r\n"
                                        "Connection: close\r\n\r\n", k - 1);
            sends(fd, head);
        }
    } else if (strcmp(path, "/to-file") == 0) {
        sends(fd, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (strcmp(path, "/503") == 0) {
        sends(fd, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy");
    } else {
        sends(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    close(fd);
}

static pid_t serve(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0) return -1;
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid != 0) {
        close(s);
        return pid;
    }
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        if (fork() == 0) {
            close(s);
            respond(c);
            _exit(0);
        }
        close(c);
    }
}

/* A port nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

int main(void)
{
    static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL};
    for (int i = 0; proxies[i]; i++) unsetenv(proxies[i]);
    int port = 0;
    pid_t server = serve(&port);
    if (server < 0) {
        printf("not ok 1 - a test server on 127.0.0.1: cannot listen\n1..1\n");
        return 1;
    }
    char buf[4096], code[256];
    lua_State *L = ipe_engine_new();
    tap_set_slow(L);
    snprintf(code, sizeof code, "curl = require('ipe.curl') BASE = 'http://127.0.0.1:%d' "
                                "DEAD = 'http://127.0.0.1:%d/' return 'ok'", port, closed_port());
    tap_is(lua_run(L, code, buf, sizeof buf), "ok", "require ipe.curl");

    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/ok'} "
                      "return r.status .. '|' .. r.body .. '|' .. r.headers['content-type'] .. '|' .. r.headers['x-test'] "
                      ".. '|' .. tostring(r.time_ms >= 0) .. '|' .. tostring(r.error)", buf, sizeof buf),
           "200|{\"ok\":true}|application/json|a, b|true|nil",
           "GET: status, body, lower-case headers (repeats joined), time_ms");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/echo', method = 'POST', body = '{\"a\":1}', "
                      "headers = {['Content-Type'] = 'application/json', ['X-Api-Key'] = 'k1'}} "
                      "return table.concat({r.body:match('^(POST /echo HTTP/1.1)'), "
                      "tostring(r.body:find('X-Api-Key: k1', 1, true) ~= nil), "
                      "tostring(r.body:find('User-Agent: ipe/', 1, true) ~= nil), r.body:match('\\r\\n\\r\\n(.*)$')}, '|')",
                   buf, sizeof buf),
           "POST /echo HTTP/1.1|true|true|{\"a\":1}", "POST sends the method, the headers and the body");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/503'} return r.status .. '|' .. r.headers['retry-after'] "
                      ".. '|' .. r.body", buf, sizeof buf),
           "503|7|busy", "an HTTP error status is a normal response");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/slow', timeout = 0.3} return r.kind .. '|' .. "
                      "tostring(r.error:find('timed out') ~= nil) .. '|' .. tostring(r.status)", buf, sizeof buf),
           "timeout|true|nil", "the total timeout gives kind timeout");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/big', max_bytes = 1048576} return r.kind .. '|' .. r.error",
                   buf, sizeof buf),
           "too_large|the response body is larger than the limit of 1048576 bytes",
           "a 50 MB Content-Length is refused before the body arrives");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/stream', max_bytes = 1048576} return r.kind .. '|' .. r.error",
                   buf, sizeof buf),
           "too_large|the response body is larger than the limit of 1048576 bytes",
           "a body without a length is cut at the cap while streaming");
    tap_is(lua_run(L, "return curl.perform{url = BASE .. '/reset'}.kind", buf, sizeof buf), "reset",
           "a reset connection gives kind reset");
    tap_is(lua_run(L, "return curl.perform{url = BASE .. '/partial'}.kind", buf, sizeof buf), "reset",
           "a body shorter than its Content-Length gives kind reset");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/redirect/3'} return r.status .. '|' .. r.body", buf, sizeof buf),
           "200|arrived", "three redirects are followed");
    tap_is(lua_run(L, "return curl.perform{url = BASE .. '/redirect/4'}.kind", buf, sizeof buf), "redirect",
           "a fourth redirect is refused");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE .. '/redirect/1', max_redirects = 0} return r.status",
                   buf, sizeof buf),
           "302", "max_redirects = 0 returns the redirect itself");
    tap_is(lua_run(L, "return curl.perform{url = BASE .. '/to-file'}.kind", buf, sizeof buf), "protocol",
           "a redirect to file:// is refused");
    tap_is(lua_run(L, "local r = curl.perform{url = 'ftp://127.0.0.1/x'} return r.kind .. '|' .. r.error", buf, sizeof buf),
           "protocol|only http and https URLs are allowed: 'ftp://127.0.0.1/x'", "ftp:// is refused before connecting");
    tap_is(lua_run(L, "return curl.perform{url = 'file:///etc/passwd'}.kind", buf, sizeof buf), "protocol",
           "file:// is refused");
    tap_is(lua_run(L, "return curl.perform{url = DEAD}.kind", buf, sizeof buf), "connect",
           "a refused connection gives kind connect");
    tap_is(lua_run(L, "return curl.perform{url = BASE:gsub('^http:', 'https:') .. '/ok', timeout = 20}.kind", buf, sizeof buf),
           "tls", "https to a plain-text server fails TLS");
    tap_is(lua_run(L, "local r = curl.perform{url = BASE:gsub('^http:', 'https:') .. '/ok', ca_bundle = '/nonexistent/ca.pem', "
                      "timeout = 20} return r.kind", buf, sizeof buf),
           "tls", "an unreadable CA bundle is a TLS failure, never an unverified request");
    tap_is(lua_run(L, "local reqs = {} for i = 1, 6 do reqs[i] = {url = BASE .. '/delay'} end "
                      "reqs[7] = {url = 'ftp://x/'} "
                      "local t0 = os.clock() local w0 = require('ipe.proc').monotonic() "
                      "local rs = curl.perform_many(reqs) local wall = require('ipe.proc').monotonic() - w0 "
                      "local n = 0 for i = 1, 6 do if rs[i].status == 200 and rs[i].body == 'ok' then n = n + 1 end end "
                      "return n .. '|' .. rs[7].kind .. '|' .. tostring(wall < 0.9 * SLOW)", buf, sizeof buf),
           "6|protocol|true", "six 300 ms requests in parallel finish together; results stay in order");
    tap_is(lua_run(L, "return #curl.perform_many({})", buf, sizeof buf), "0", "an empty batch");
    tap_is(lua_run(L, "local P = require('ipe.proc') "
                      "local b = curl.start{ {url = BASE .. '/delay'}, {url = BASE .. '/ok'} } "
                      "curl.sleep(0.45 * SLOW) local w0 = P.monotonic() local rs = b:wait() local waited = P.monotonic() - w0 "
                      "return rs[1].body .. '|' .. rs[2].status .. '|' .. tostring(waited < 0.25 * SLOW)", buf, sizeof buf),
           "ok|200|true", "start sends at once: the 300 ms answer was ready when wait came");
    tap_is(lua_run(L, "local b = curl.start{ {url = BASE .. '/ok'} } b:wait() local ok, e = pcall(b.wait, b) return e",
                   buf, sizeof buf),
           "ipe.curl: this batch has already been waited for", "a batch is waited for once");
    tap_is(lua_run(L, "local b = curl.start{ {url = BASE .. '/slow', timeout = 0.2} } b = nil collectgarbage() "
                      "return 'collected'", buf, sizeof buf),
           "collected", "a batch never waited for is freed by the collector");
    tap_is(lua_run(L, "local b = curl.start{ {url = BASE .. '/delay'} } local before = b:done() "
                      "local n = curl.step(0.05) local t0 = require('ipe.proc').monotonic() "
                      "while not b:done() do curl.step(0.2) end "
                      "return tostring(before) .. '|' .. n .. '|' .. b:wait()[1].body .. '|' .. curl.step(0)",
                   buf, sizeof buf),
           "false|1|ok|0", "batch:done and curl.step drive the transfers in flight");
    tap_is(lua_run(L, "local P = require('ipe.proc') local slow = curl.start{ {url = BASE .. '/delay'} } "
                      "local fast = curl.start{ {url = BASE .. '/ok'} } slow:wait() "
                      "return tostring(fast:done()) .. '|' .. fast:wait()[1].status", buf, sizeof buf),
           "true|200", "waiting on one batch moves the others (one multi handle)");
    tap_is(lua_run(L, "local C, P = require('ipe.concurrent'), require('ipe.proc') local order = {} "
                      "local function get(path) return C.perform_many{ {url = BASE .. path} }[1] end "
                      "local a_done, b2_sent "
                      "local res, errs = C.run{ "
                      "  function() local r = get('/delay') a_done = P.monotonic() order[#order + 1] = 'a' return r.body end, "
                      "  function() get('/ok') order[#order + 1] = 'b1' b2_sent = P.monotonic() local r = get('/delay') "
                      "             order[#order + 1] = 'b2' return r.body end, "
                      "  function() order[#order + 1] = 'c' return 'computed' end, "
                      "  function() error('member failed', 0) end, "
                      "  function() coroutine.yield('rogue') return 'never' end } "
                      "return table.concat({res[1], res[2], res[3], tostring(res[4]), errs[4], tostring(res[5]), errs[5], "
                      "  tostring(table.concat(order, ','):find('b1.*a') ~= nil), tostring(b2_sent < a_done)}, '|')", buf, sizeof buf),
           "ok|ok|computed|nil|member failed|nil|attempt to yield from outside a coroutine|true|true",
           "concurrent.run: waits overlap, a member resumes as soon as its own answer is in, failures stay its own");
    tap_is(lua_run(L, "local C, P = require('ipe.concurrent'), require('ipe.proc') local w0 = P.monotonic() "
                      "local res = C.run{ function() C.sleep(0.2) return 1 end, function() C.sleep(0.2) return 2 end, "
                      "  function() return C.perform_many{ {url = BASE .. '/ok'} }[1].status end } "
                      "local wall = P.monotonic() - w0 "
                      "return res[1] .. res[2] .. '|' .. res[3] .. '|' .. tostring(wall >= 0.19 and wall < 0.39)", buf, sizeof buf),
           "12|200|true", "concurrent.sleep: sleeping members let the others run");
    tap_is(lua_run(L, "local C = require('ipe.concurrent') "
                      "local co = coroutine.wrap(function() return C.perform_many{ {url = BASE .. '/ok'} }[1].status end) "
                      "return co() .. '|' .. C.perform_many{ {url = BASE .. '/ok'} }[1].status", buf, sizeof buf),
           "200|200", "outside concurrent.run (or in a coroutine of its own) a wait blocks");
    tap_is(lua_run(L, "local ok, e = pcall(curl.perform, {url = BASE .. '/ok', headers = {['X-A'] = 'v\\r\\nX-Injected: 1'}}) "
                      "return e", buf, sizeof buf),
           "ipe.curl: header names and values must not contain CR, LF or NUL (and names no ':')",
           "a header value with CR/LF raises");
    tap_is(lua_run(L, "local ok, e = pcall(curl.perform, {url = 42}) return e", buf, sizeof buf),
           "ipe.curl: request field 'url' must be a string", "a non-string URL raises");
    tap_is(lua_run(L, "local ok, e = pcall(curl.perform, {url = BASE, method = 'TRACE'}) return e", buf, sizeof buf),
           "ipe.curl: unknown method 'TRACE' (GET, POST, PUT, PATCH, DELETE or HEAD)", "an unknown method raises");
    tap_is(lua_run(L, "local ok, e = pcall(curl.perform, {url = BASE, timeout = -1}) return e", buf, sizeof buf),
           "ipe.curl: request field 'timeout' is out of range (0.001-3600)", "a negative timeout raises");
    tap_is(lua_run(L, "local ok, e = pcall(curl.perform, {url = BASE, max_redirects = 5}) return e", buf, sizeof buf),
           "ipe.curl: request field 'max_redirects' is out of range (0-3)", "more than 3 redirects cannot be asked for");
    tap_is(lua_run(L, "local w0 = require('ipe.proc').monotonic() curl.sleep(0.2) "
                      "local d = require('ipe.proc').monotonic() - w0 return tostring(d >= 0.19 and d < 0.5)", buf, sizeof buf),
           "true", "sleep waits");
    tap_ok(strlen(lua_run(L, "return curl.version()", buf, sizeof buf)) > 0, "version");
    ipe_engine_close(L);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    return tap_done();
}
