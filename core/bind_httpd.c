/* bind_httpd.c — ipe.httpd: an embedded HTTP(S) server (libmicrohttpd) whose requests are
 * answered in Lua, on the one thread that owns the Lua state.
 *
 *   srv = httpd.start{host="127.0.0.1", port=8731, conn_limit=64, per_ip=16, timeout=15,
 *                     header_limit=32768, body_limit=65536, cert=PEM, key=PEM}
 *       MHD listens with a thread per connection (at most conn_limit threads, per_ip of them
 *       for one client address) and closes a connection idle for `timeout` seconds. Those
 *       threads only parse, enqueue and wait: the Lua side takes the requests one at a time.
 *       A request whose headers do not fit header_limit bytes gets MHD's 431; a body over
 *       body_limit gets "413 request body too large" here, before Lua sees it.
 *   srv:port() -> the port bound (useful with port 0)
 *   srv:next(seconds) -> req | nil, "timeout" | nil, "signal" (SIGINT/SIGTERM since start)
 *       req = {id=, method=, uri= (raw: path and query, undecoded), version=,
 *              headers={[lower-case name]=value}, body=, remote="ip"}
 *   srv:respond(id, status, headers, body [, delay_ms])   the whole answer (delay_ms: the
 *       connection's thread waits before sending it, so a slow answer never holds Lua)
 *   srv:stream(id, status, headers)   starts a chunked answer; srv:write(id, s) -> false once
 *       the client is gone; srv:finish(id) ends it
 *   srv:stop()   closes every connection and the listening socket (also on garbage collection)
 *       and kills the handlers still running
 *
 * Concurrent answers without a second Lua thread: srv:fork(id) -> 0 in a handler process, its
 * pid in the server, or nil, "busy" (max_handlers handlers running, start option, default 32).
 * The handler is a fork of the warm server (scripts scanned, modules loaded) in its own process
 * group; there respond/stream/write/finish write the answer into a pipe (a header block, then
 * "<hex length>\n<bytes>" frames, "0\n" at the end) that the connection's own thread reads and
 * sends, so the server's Lua loop goes on with the next request at once. srv:exit() ends the
 * handler (_exit: nothing of the server is torn down there). The server reaps its handlers in
 * next(), kills one (its whole group) whose client went away before its answer was complete,
 * and every one at stop. A handler that dies before answering gets "500 internal error".
 *
 * A connection whose request Lua does not answer in WAIT_S seconds gets 503. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <lauxlib.h>
#include "ipe.h"

#define MT "ipe.httpd"
#define WAIT_S 120          /* longest wait for Lua's answer or the next chunk */
#define STREAM_MAX (16u << 20) /* a client that reads nothing gets cut off past this */

struct hdr { char *name, *value; struct hdr *next; };

struct srv;
struct req {
    struct srv *srv;
    unsigned long id;
    char *uri, *method, *version, *body;
    size_t body_len, body_cap;
    int seen, too_big, queued;
    struct hdr *req_headers;   /* copied by the connection's thread before queueing */
    char remote[INET6_ADDRSTRLEN];
    /* the answer, filled by Lua under the server's lock */
    int answered, status, streaming, finished, mhd_done, lua_done, broken;
    unsigned delay_ms;
    struct hdr *resp_headers;
    char *out;                 /* body, or the stream's pending bytes */
    size_t out_len, out_off, out_cap;
    pthread_cond_t cond;
    struct req *next_queued, *next_live;
    /* answered by a handler process: the pipe's read end and its reader's state */
    int piped, pipe_done, pfd;
    pid_t pid;
    char *rbuf;
    size_t roff, rlen, frame_left;
};

struct srv {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t cond;       /* a request queued */
    struct req *head, *tail;   /* waiting for Lua */
    struct req *live;          /* every request not yet freed */
    unsigned long next_id;
    size_t body_limit;
    int stopping;
    pid_t *kids;               /* handler processes not yet reaped */
    int nkids, max_kids;
    int child_fd, child_broken; /* in a handler: the pipe's write end (-1 in the server) */
};

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { (void)sig; got_signal = 1; }

static void deadline_in(struct timespec *ts, double s)
{
    clock_gettime(CLOCK_REALTIME, ts);
    long ns = ts->tv_nsec + (long)((s - (double)(long)s) * 1e9);
    ts->tv_sec += (time_t)s + ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

static void free_headers(struct hdr *h)
{
    while (h) {
        struct hdr *n = h->next;
        free(h->name);
        free(h->value);
        free(h);
        h = n;
    }
}

/* Under the lock: unlink and free a request both sides are done with. */
static void release(struct srv *s, struct req *r)
{
    if (!r->mhd_done || !r->lua_done) return;
    for (struct req **p = &s->live; *p; p = &(*p)->next_live)
        if (*p == r) { *p = r->next_live; break; }
    pthread_cond_destroy(&r->cond);
    free(r->uri);
    free(r->method);
    free(r->version);
    free(r->body);
    free(r->out);
    free(r->rbuf);
    if (r->pfd >= 0) close(r->pfd);
    free_headers(r->req_headers);
    free_headers(r->resp_headers);
    free(r);
}

/* Under the lock: kill a handler (and its workers) unless it was reaped already, so that its
 * pid, still a zombie at worst, cannot be another process's. */
static void kill_kid(struct srv *s, pid_t pid)
{
    for (int i = 0; i < s->nkids; i++)
        if (s->kids[i] == pid) { kill(-pid, SIGKILL); return; }
}

/* Under the lock: forget the handlers that have exited. */
static void reap(struct srv *s)
{
    for (int i = 0; i < s->nkids;) {
        pid_t w = waitpid(s->kids[i], NULL, WNOHANG);
        if (w == s->kids[i] || (w < 0 && errno == ECHILD)) s->kids[i] = s->kids[--s->nkids];
        else i++;
    }
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first sight of a request; its state starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    struct srv *s = cls;
    struct req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->uri = strdup(uri ? uri : "");
    r->pfd = -1;
    pthread_cond_init(&r->cond, NULL);
    pthread_mutex_lock(&s->mu);
    r->id = ++s->next_id;
    r->lua_done = 1; /* until it is queued, Lua does not know it */
    r->next_live = s->live;
    s->live = r;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    struct srv *s = cls;
    struct req *r = *con_cls;
    if (!r) return;
    pthread_mutex_lock(&s->mu);
    if (r->piped && !r->pipe_done) kill_kid(s, r->pid); /* the client went away first */
    r->mhd_done = 1;
    pthread_cond_broadcast(&r->cond);
    release(s, r);
    pthread_mutex_unlock(&s->mu);
    *con_cls = NULL;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *line)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(line), (void *)line, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = *cap ? *cap : 1024;
        while (want < *len + n + 1) want *= 2;
        char *nb = realloc(*buf, want);
        if (!nb) return -1;
        *buf = nb;
        *cap = want;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* The stream's reader: blocks (this connection's own thread) until Lua wrote or finished. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct req *r = cls;
    struct srv *s = r->srv;
    ssize_t n;
    pthread_mutex_lock(&s->mu);
    struct timespec until;
    deadline_in(&until, WAIT_S);
    while (r->out_off == r->out_len && !r->finished && !s->stopping && !r->broken)
        if (pthread_cond_timedwait(&r->cond, &s->mu, &until) == ETIMEDOUT) { r->broken = 1; break; }
    if (r->out_off < r->out_len) {
        size_t k = r->out_len - r->out_off < max ? r->out_len - r->out_off : max;
        memcpy(buf, r->out + r->out_off, k);
        r->out_off += k;
        if (r->out_off == r->out_len) r->out_off = r->out_len = 0;
        n = (ssize_t)k;
    } else {
        n = (r->finished && !r->broken) ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static ssize_t read_piped(void *cls, uint64_t pos, char *buf, size_t max);

/* Build and queue the answer Lua gave (called without the lock; the answer is final). */
static enum MHD_Result answer(struct srv *s, struct MHD_Connection *c, struct req *r)
{
    struct MHD_Response *resp;
    (void)s;
    if (r->streaming) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, r->piped ? read_piped : read_stream, r, NULL);
    } else {
        resp = MHD_create_response_from_buffer(r->out_len, r->out ? r->out : (void *)"", MHD_RESPMEM_MUST_COPY);
    }
    if (!resp) return MHD_NO;
    for (struct hdr *h = r->resp_headers; h; h = h->next) MHD_add_response_header(resp, h->name, h->value);
    if (r->delay_ms) {
        struct timespec ts = {(time_t)(r->delay_ms / 1000), (long)(r->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The handler's pipe, read by the connection's thread ------------------------------------- */

#define RBUF 16384

/* More bytes from the handler (waiting at most WAIT_S): 0, or -1 at its end or an error. */
static int rd_fill(struct req *r)
{
    if (r->roff < r->rlen) return 0;
    struct pollfd pf = {r->pfd, POLLIN, 0};
    int k;
    while ((k = poll(&pf, 1, WAIT_S * 1000)) < 0 && errno == EINTR) {}
    if (k <= 0) return -1;
    ssize_t n;
    while ((n = read(r->pfd, r->rbuf, RBUF)) < 0 && errno == EINTR) {}
    if (n <= 0) return -1;
    r->roff = 0;
    r->rlen = (size_t)n;
    return 0;
}

/* One line (without its \n) into line[max]; -1 if the pipe ends first or it does not fit. */
static int rd_line(struct req *r, char *line, size_t max)
{
    size_t n = 0;
    for (;;) {
        if (rd_fill(r) != 0) return -1;
        char c = r->rbuf[r->roff++];
        if (c == '\n') break;
        if (n + 1 >= max) return -1;
        line[n++] = c;
    }
    line[n] = '\0';
    return 0;
}

/* Up to max bytes of the current frame; 0 at the end marker, -1 on a broken pipe. */
static ssize_t rd_frame(struct req *r, char *buf, size_t max)
{
    if (r->frame_left == 0) {
        char line[32], *end;
        if (rd_line(r, line, sizeof line) != 0) return -1;
        unsigned long long n = strtoull(line, &end, 16);
        if (end == line || *end || n > STREAM_MAX) return -1;
        if (n == 0) { r->pipe_done = 1; return 0; }
        r->frame_left = (size_t)n;
    }
    if (rd_fill(r) != 0) return -1;
    size_t k = r->rlen - r->roff;
    if (k > max) k = max;
    if (k > r->frame_left) k = r->frame_left;
    memcpy(buf, r->rbuf + r->roff, k);
    r->roff += k;
    r->frame_left -= k;
    return (ssize_t)k;
}

static ssize_t read_piped(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct req *r = cls;
    ssize_t n;
    while ((n = rd_frame(r, buf, max)) == 0 && !r->pipe_done) {}
    if (n > 0) return n;
    if (n == 0) {
        pthread_mutex_lock(&r->srv->mu);
        r->pipe_done = 1;
        pthread_mutex_unlock(&r->srv->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* "<status> <delay ms> <streaming>" then "name: value" lines, then an empty line. */
static int rd_head(struct req *r)
{
    char line[8192];
    unsigned status, delay;
    int streaming;
    if (rd_line(r, line, sizeof line) != 0 || sscanf(line, "%u %u %d", &status, &delay, &streaming) != 3) return -1;
    r->status = (int)status;
    r->delay_ms = delay;
    r->streaming = streaming;
    for (int i = 0; i < 256; i++) {
        if (rd_line(r, line, sizeof line) != 0) return -1;
        if (!line[0]) return 0;
        char *colon = strstr(line, ": ");
        struct hdr *h = colon ? calloc(1, sizeof *h) : NULL;
        if (!h) return -1;
        *colon = '\0';
        h->name = strdup(line);
        h->value = strdup(colon + 2);
        h->next = r->resp_headers;
        r->resp_headers = h;
        if (!h->name || !h->value) return -1;
    }
    return -1;
}

/* The answer of a handler process: a whole one is read to its end before it is sent. */
static enum MHD_Result answer_piped(struct srv *s, struct MHD_Connection *c, struct req *r)
{
    r->rbuf = malloc(RBUF);
    if (!r->rbuf || rd_head(r) != 0) return plain(c, 500, "500 internal error\n");
    if (!r->streaming) {
        char buf[RBUF];
        ssize_t n;
        while ((n = rd_frame(r, buf, sizeof buf)) > 0 || (n == 0 && !r->pipe_done))
            if (n > 0 && append(&r->out, &r->out_len, &r->out_cap, buf, (size_t)n) != 0) return MHD_NO;
        pthread_mutex_lock(&s->mu);
        int done = r->pipe_done;
        pthread_mutex_unlock(&s->mu);
        if (!done) return plain(c, 500, "500 internal error\n");
    }
    return answer(s, c, r);
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    struct req *r = cls;
    struct hdr *h = calloc(1, sizeof *h);
    if (!h) return MHD_NO;
    h->name = strdup(k ? k : "");
    h->value = strdup(v ? v : "");
    h->next = r->req_headers;
    r->req_headers = h;
    return (h->name && h->value) ? MHD_YES : MHD_NO;
}

/* Hand the complete request to Lua and wait for its answer. */
static enum MHD_Result dispatch(struct srv *s, struct MHD_Connection *c, struct req *r, const char *url,
                                const char *method, const char *version)
{
    (void)url; /* r->uri is the raw one, with its query string (on_uri) */
    r->method = strdup(method);
    r->version = strdup(version);
    MHD_get_connection_values(c, MHD_HEADER_KIND, copy_header, r);
    if (!r->method || !r->version || !r->uri) return MHD_NO;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->remote, sizeof r->remote);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->remote, sizeof r->remote);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return plain(c, 503, "503 server stopping\n");
    }
    r->lua_done = 0;
    r->queued = 1;
    if (s->tail) s->tail->next_queued = r; else s->head = r;
    s->tail = r;
    pthread_cond_signal(&s->cond);
    struct timespec until;
    deadline_in(&until, WAIT_S);
    while (!r->answered && !s->stopping)
        if (pthread_cond_timedwait(&r->cond, &s->mu, &until) == ETIMEDOUT) break;
    int answered = r->answered, piped = r->piped;
    pthread_mutex_unlock(&s->mu);
    if (!answered) return plain(c, 503, "503 no answer in time\n");
    return piped ? answer_piped(s, c, r) : answer(s, c, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct srv *s = cls;
    struct req *r = *con_cls;
    if (!r) return MHD_NO;
    if (!r->seen) { /* first call: the headers are in; a body announced too large is refused now */
        r->seen = 1;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->body_limit) return plain(c, 413, "413 request body too large\n");
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* a chunked body that outgrows the limit: MHD cannot answer mid-upload, so close */
        if (r->body_len + *upload_size > s->body_limit) return MHD_NO;
        if (append(&r->body, &r->body_len, &r->body_cap, upload, *upload_size) != 0) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, r, url, method, version);
}

/* Lua side ------------------------------------------------------------------------------- */

static struct srv *check_srv(lua_State *L)
{
    struct srv **p = luaL_checkudata(L, 1, MT);
    if (!*p) luaL_error(L, "httpd: the server is stopped");
    return *p;
}

static double opt_num(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays referenced by the options table */
    return v;
}

static void srv_free(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    for (struct req *r = s->live; r; r = r->next_live) pthread_cond_broadcast(&r->cond);
    pthread_cond_broadcast(&s->cond);
    for (int i = 0; i < s->nkids; i++) kill(-s->kids[i], SIGKILL); /* their pipes end: readers return */
    pthread_mutex_unlock(&s->mu);
    if (s->d) MHD_stop_daemon(s->d); /* joins every connection thread: on_completed ran for each */
    for (int i = 0; i < s->nkids; i++)
        while (waitpid(s->kids[i], NULL, 0) < 0 && errno == EINTR) {}
    free(s->kids);
    while (s->live) {
        struct req *r = s->live;
        r->mhd_done = r->lua_done = 1;
        release(s, r);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
}

static int l_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *host = opt_str(L, 1, "host");
    int port = (int)opt_num(L, 1, "port", 8731);
    const char *cert = opt_str(L, 1, "cert"), *key = opt_str(L, 1, "key");
    if (port < 0 || port > 65535) return luaL_error(L, "httpd: port %d out of range", port);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    if (inet_pton(AF_INET, host ? host : "127.0.0.1", &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (const struct sockaddr *)&a4;
    } else if (host && inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return luaL_error(L, "httpd: '%s' is not an IP address to listen on", host);
    }
    if (cert && key) flags |= MHD_USE_TLS;
    struct srv *s = calloc(1, sizeof *s);
    if (!s) return luaL_error(L, "httpd: not enough memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->body_limit = (size_t)opt_num(L, 1, "body_limit", 65536);
    s->child_fd = -1;
    s->max_kids = (int)opt_num(L, 1, "max_handlers", 32);
    if (s->max_kids < 1) s->max_kids = 1;
    s->kids = calloc((size_t)s->max_kids, sizeof *s->kids);
    if (!s->kids) { srv_free(s); return luaL_error(L, "httpd: not enough memory"); }
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, (void *)sa},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)opt_num(L, 1, "conn_limit", 64), NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)opt_num(L, 1, "per_ip", 16), NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)opt_num(L, 1, "timeout", 15), NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)opt_num(L, 1, "header_limit", 32768), NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 128, NULL},
        {cert && key ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        srv_free(s);
        return luaL_error(L, "httpd: cannot listen on %s port %d: %s", host ? host : "127.0.0.1", port,
                          e ? strerror(e) : "the TLS certificate or key was refused");
    }
    struct srv **ud = lua_newuserdata(L, sizeof *ud);
    *ud = s;
    luaL_getmetatable(L, MT);
    lua_setmetatable(L, -2);
    got_signal = 0;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 1;
}

static int l_port(lua_State *L)
{
    struct srv *s = check_srv(L);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    lua_pushinteger(L, di ? di->port : 0);
    return 1;
}

static void push_header(lua_State *L, const char *k, const char *v)
{
    size_t n = strlen(k);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) luaL_addchar(&b, (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]));
    luaL_pushresult(&b);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isstring(L, -1)) { /* a repeated header: joined as HTTP allows */
        lua_pushliteral(L, ", ");
        lua_pushstring(L, v ? v : "");
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushstring(L, v ? v : "");
    }
    lua_rawset(L, -3);
}

/* Fields written before the request was queued: read without the lock (nothing changes them). */
static int push_request(lua_State *L, struct req *r)
{
    lua_createtable(L, 0, 8);
    lua_newtable(L);
    for (struct hdr *h = r->req_headers; h; h = h->next) push_header(L, h->name, h->value);
    lua_setfield(L, -2, "headers");
    lua_pushnumber(L, (lua_Number)r->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, r->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, r->uri);
    lua_setfield(L, -2, "uri");
    lua_pushstring(L, r->version);
    lua_setfield(L, -2, "version");
    lua_pushlstring(L, r->body ? r->body : "", r->body_len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, r->remote);
    lua_setfield(L, -2, "remote");
    return 1;
}

static struct req *find_live(struct srv *s, lua_Number id)
{
    for (struct req *r = s->live; r; r = r->next_live)
        if ((lua_Number)r->id == id && !r->lua_done) return r;
    return NULL;
}

/* srv:next(seconds): the next request, with its headers and raw URI. */
static int l_next(lua_State *L)
{
    struct srv *s = check_srv(L);
    double wait = luaL_optnumber(L, 2, 1.0);
    struct timespec until;
    deadline_in(&until, wait > 0 ? wait : 0);
    pthread_mutex_lock(&s->mu);
    reap(s);
    while (!s->head && !got_signal) {
        struct timespec step;
        deadline_in(&step, 0.2); /* look at the signal flag now and then */
        if (step.tv_sec > until.tv_sec || (step.tv_sec == until.tv_sec && step.tv_nsec > until.tv_nsec)) step = until;
        if (pthread_cond_timedwait(&s->cond, &s->mu, &step) == ETIMEDOUT &&
            (step.tv_sec == until.tv_sec && step.tv_nsec == until.tv_nsec)) break;
        reap(s);
    }
    struct req *r = s->head;
    if (r && !got_signal) {
        s->head = r->next_queued;
        if (!s->head) s->tail = NULL;
        r->queued = 0;
    } else {
        r = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (!r) {
        lua_pushnil(L);
        lua_pushstring(L, got_signal ? "signal" : "timeout");
        return 2;
    }
    return push_request(L, r);
}

/* headers table at index idx -> a list of response headers (name: value, no CR/LF). */
static struct hdr *read_headers(lua_State *L, int idx)
{
    struct hdr *list = NULL;
    if (!lua_istable(L, idx)) return NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
        if (k && v && !strpbrk(k, "\r\n:") && !strpbrk(v, "\r\n")) {
            struct hdr *h = calloc(1, sizeof *h);
            if (h) {
                h->name = strdup(k);
                h->value = strdup(v);
                h->next = list;
                list = h;
            }
        }
        lua_pop(L, 1);
    }
    return list;
}

/* In a handler process ------------------------------------------------------------------- */

static int put(struct srv *s, const char *p, size_t n)
{
    while (n > 0 && !s->child_broken) {
        ssize_t k = write(s->child_fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) s->child_broken = 1;
        else { p += k; n -= (size_t)k; }
    }
    return s->child_broken ? -1 : 0;
}

static int put_frame(struct srv *s, const char *p, size_t n)
{
    char len[32];
    int k = snprintf(len, sizeof len, "%zx\n", n);
    return (n == 0 || put(s, len, (size_t)k) == 0) && (n == 0 || put(s, p, n) == 0) ? 0 : -1;
}

static int put_head(struct srv *s, int status, unsigned delay, int streaming, struct hdr *hs)
{
    char line[64];
    int k = snprintf(line, sizeof line, "%d %u %d\n", status, delay, streaming);
    int rc = put(s, line, (size_t)k);
    for (struct hdr *h = hs; h && rc == 0; h = h->next)
        rc = put(s, h->name, strlen(h->name)) | put(s, ": ", 2) | put(s, h->value, strlen(h->value)) | put(s, "\n", 1);
    if (rc == 0) rc = put(s, "\n", 1);
    free_headers(hs);
    return rc;
}

/* the server's respond/stream/write/finish in a handler: into the pipe, for its one request */
static int child_call(lua_State *L, struct srv *s, const char *what)
{
    int ok = 0;
    size_t len = 0;
    if (!strcmp(what, "respond")) {
        const char *body = luaL_optlstring(L, 5, "", &len);
        lua_Number delay = luaL_optnumber(L, 6, 0);
        ok = put_head(s, (int)luaL_checkinteger(L, 3), delay > 0 && delay < 60000 ? (unsigned)delay : 0, 0,
                      read_headers(L, 4)) == 0 && put_frame(s, body, len) == 0 && put(s, "0\n", 2) == 0;
    } else if (!strcmp(what, "stream")) {
        ok = put_head(s, (int)luaL_checkinteger(L, 3), 0, 1, read_headers(L, 4)) == 0;
    } else if (!strcmp(what, "write")) {
        const char *p = luaL_checklstring(L, 3, &len);
        ok = put_frame(s, p, len) == 0;
    } else {
        ok = put(s, "0\n", 2) == 0;
    }
    lua_pushboolean(L, ok);
    return 1;
}

/* In the handler: close the server's sockets (the listening one, its clients': a client must
 * see its connection end when the server closes it) and the other handlers' pipes. */
static void close_inherited(struct srv *s)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (fd <= 2 || fd == dfd || fd == s->child_fd || fstat(fd, &st) != 0) continue;
        if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) close(fd);
    }
    closedir(d);
}

/* srv:fork(id) -> 0 in the handler, its pid in the server, or nil, "busy" | error text */
static int l_fork(lua_State *L)
{
    struct srv *s = check_srv(L);
    lua_Number id = luaL_checknumber(L, 2);
    pthread_mutex_lock(&s->mu);
    reap(s);
    struct req *r = find_live(s, id);
    int busy = s->nkids >= s->max_kids;
    pthread_mutex_unlock(&s->mu);
    if (!r || r->answered) return luaL_error(L, "httpd: fork: no request %f waiting", id);
    if (busy) { lua_pushnil(L); lua_pushliteral(L, "busy"); return 2; }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) { lua_pushnil(L); lua_pushstring(L, strerror(errno)); return 2; }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    if (pid == 0) {
        setpgid(0, 0);
        s->child_fd = p[1];
        close(p[0]);
        close_inherited(s);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        lua_pushinteger(L, 0);
        return 1;
    }
    setpgid(pid, pid); /* either side may run first */
    close(p[1]);
    pthread_mutex_lock(&s->mu);
    r->pfd = p[0];
    r->pid = pid;
    r->piped = r->answered = r->lua_done = 1;
    s->kids[s->nkids++] = pid;
    if (r->mhd_done) kill_kid(s, pid);
    pthread_cond_broadcast(&r->cond);
    release(s, r);
    pthread_mutex_unlock(&s->mu);
    lua_pushinteger(L, pid);
    return 1;
}

/* srv:exit() in a handler: its answer is complete (or abandoned); nothing else is torn down */
static int l_exit(lua_State *L)
{
    struct srv *s = check_srv(L);
    if (s->child_fd < 0) return luaL_error(L, "httpd: exit: not in a handler");
    _exit(0);
}

static int l_respond(lua_State *L)
{
    struct srv *s = check_srv(L);
    if (s->child_fd >= 0) return child_call(L, s, "respond");
    lua_Number id = luaL_checknumber(L, 2);
    int status = (int)luaL_checkinteger(L, 3);
    size_t len = 0;
    const char *body = luaL_optlstring(L, 5, "", &len);
    lua_Number delay = luaL_optnumber(L, 6, 0);
    struct hdr *hs = read_headers(L, 4);
    char *copy = malloc(len + 1);
    if (!copy) { free_headers(hs); return luaL_error(L, "httpd: not enough memory"); }
    memcpy(copy, body, len);
    pthread_mutex_lock(&s->mu);
    struct req *r = find_live(s, id);
    if (r) {
        r->status = status;
        r->resp_headers = hs;
        r->out = copy;
        r->out_len = len;
        r->delay_ms = delay > 0 && delay < 60000 ? (unsigned)delay : 0;
        r->answered = r->lua_done = 1;
        pthread_cond_broadcast(&r->cond);
        release(s, r);
    }
    pthread_mutex_unlock(&s->mu);
    if (!r) { free(copy); free_headers(hs); }
    lua_pushboolean(L, r != NULL);
    return 1;
}

static int l_stream(lua_State *L)
{
    struct srv *s = check_srv(L);
    if (s->child_fd >= 0) return child_call(L, s, "stream");
    lua_Number id = luaL_checknumber(L, 2);
    int status = (int)luaL_checkinteger(L, 3);
    struct hdr *hs = read_headers(L, 4);
    pthread_mutex_lock(&s->mu);
    struct req *r = find_live(s, id);
    if (r && !r->answered) {
        r->status = status;
        r->resp_headers = hs;
        r->streaming = r->answered = 1;
        pthread_cond_broadcast(&r->cond);
    } else {
        r = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (!r) free_headers(hs);
    lua_pushboolean(L, r != NULL);
    return 1;
}

static int l_write(lua_State *L)
{
    struct srv *s = check_srv(L);
    if (s->child_fd >= 0) return child_call(L, s, "write");
    lua_Number id = luaL_checknumber(L, 2);
    size_t len;
    const char *p = luaL_checklstring(L, 3, &len);
    int ok = 0;
    pthread_mutex_lock(&s->mu);
    struct req *r = find_live(s, id);
    if (r && r->streaming && !r->mhd_done && !r->broken) {
        if (r->out_len + len > STREAM_MAX) r->broken = 1;
        else ok = append(&r->out, &r->out_len, &r->out_cap, p, len) == 0;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&s->mu);
    lua_pushboolean(L, ok);
    return 1;
}

static int l_finish(lua_State *L)
{
    struct srv *s = check_srv(L);
    if (s->child_fd >= 0) return child_call(L, s, "finish");
    lua_Number id = luaL_checknumber(L, 2);
    pthread_mutex_lock(&s->mu);
    struct req *r = find_live(s, id);
    if (r) {
        r->finished = r->lua_done = 1;
        pthread_cond_broadcast(&r->cond);
        release(s, r);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int l_stop(lua_State *L)
{
    struct srv **p = luaL_checkudata(L, 1, MT);
    if (*p) srv_free(*p);
    *p = NULL;
    return 0;
}

static const luaL_Reg methods[] = {
    {"port", l_port}, {"next", l_next}, {"respond", l_respond}, {"stream", l_stream},
    {"write", l_write}, {"finish", l_finish}, {"stop", l_stop},
    {"fork", l_fork}, {"exit", l_exit}, {NULL, NULL}};

int luaopen_ipe_httpd(lua_State *L)
{
    if (luaL_newmetatable(L, MT)) {
        lua_newtable(L);
        luaL_register(L, NULL, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_stop);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_start);
    lua_setfield(L, -2, "start");
    return 1;
}
