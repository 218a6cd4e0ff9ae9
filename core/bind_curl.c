/* bind_curl.c — ipe.curl: HTTP(S) requests over libcurl, many in flight at once.
 *
 *   responses = curl.perform_many(requests)   one response per request, in order
 *   batch = curl.start(requests)              the same, split: the requests go out now...
 *   responses = batch:wait()                  ...and the answers are collected here (once)
 *   batch:done() -> true when every transfer of the batch has ended (drives nothing)
 *   running = curl.step(seconds)              drive every transfer in flight, waiting at
 *                                             most seconds for network activity; returns
 *                                             how many are still running
 *   response  = curl.perform(request)
 *   curl.sleep(seconds)                       wait (rate limiter), no busy loop
 *   curl.version() -> "7.88.1"
 *
 * request  = {url=, method="GET"|"POST"|"PUT"|"PATCH"|"DELETE"|"HEAD", headers={Name=value},
 *             body=string, connect_timeout=s (5), timeout=s (10), max_bytes=n (8 MiB),
 *             max_redirects=0..3 (3), ca_bundle=path, proxy=url}
 * response = {status=200, headers={["content-type"]=...}, body=..., time_ms=...}
 *          | {error="one line", kind="timeout"|"too_large"|"connect"|"tls"|"reset"|
 *                                     "protocol"|"redirect"|"bad_url"|"error"}
 *
 * Only http and https, also for redirects (at most 3). TLS peer and host
 * verification are always on; ca_bundle replaces the system CA store. Without
 * proxy, libcurl's standard environment variables apply (http_proxy,
 * https_proxy, all_proxy, no_proxy). A body beyond max_bytes aborts the
 * transfer (Content-Length is checked before the body arrives). Nothing is
 * ever printed: no verbose output, and header values never appear in errors.
 *
 * A malformed request table (not a URL string, a header with CR/LF, an unknown
 * method) is a programming error and raises; everything the network does is
 * a response with error/kind. All C memory of a batch hangs off a userdata
 * with __gc, so a raise (e.g. out of memory) never leaks it.
 *
 * Every batch's transfers run on one multi handle per process, so waiting on
 * one batch (or curl.step) moves all of them: a scheduler can keep several
 * scripts' requests in flight and resume each script when its own batch is
 * done (ipe.concurrent). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>
#define CURL_DISABLE_TYPECHECK /* calls go through the function pointers below */
#include <curl/curl.h>
#include <lauxlib.h>
#include "ipe.h"

/* libcurl is opened when this module is first required, not at start-up: with
 * its TLS, Kerberos and LDAP dependencies it would cost every ipe-run start
 * several milliseconds, and most runs never go on the network. */
static struct {
    void *lib;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_version_info_data *(*version_info)(CURLversion);
} dl_curl;

#undef curl_easy_setopt /* curl.h wraps these two in macros of its own */
#undef curl_easy_getinfo
#define curl_global_init dl_curl.global_init
#define curl_easy_init dl_curl.easy_init
#define curl_easy_setopt dl_curl.easy_setopt
#define curl_easy_getinfo dl_curl.easy_getinfo
#define curl_easy_cleanup dl_curl.easy_cleanup
#define curl_easy_strerror dl_curl.easy_strerror
#define curl_multi_init dl_curl.multi_init
#define curl_multi_add_handle dl_curl.multi_add_handle
#define curl_multi_remove_handle dl_curl.multi_remove_handle
#define curl_multi_perform dl_curl.multi_perform
#define curl_multi_poll dl_curl.multi_poll
#define curl_multi_info_read dl_curl.multi_info_read
#define curl_multi_cleanup dl_curl.multi_cleanup
#define curl_slist_append dl_curl.slist_append
#define curl_slist_free_all dl_curl.slist_free_all
#define curl_version_info dl_curl.version_info

/* Load libcurl and every function used; on failure name what is missing. */
static const char *load_curl(void)
{
    if (dl_curl.lib) return NULL;
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return dlerror();
    struct { void **slot; const char *name; } syms[] = {
        {(void **)&dl_curl.global_init, "curl_global_init"}, {(void **)&dl_curl.easy_init, "curl_easy_init"},
        {(void **)&dl_curl.easy_setopt, "curl_easy_setopt"}, {(void **)&dl_curl.easy_getinfo, "curl_easy_getinfo"},
        {(void **)&dl_curl.easy_cleanup, "curl_easy_cleanup"}, {(void **)&dl_curl.easy_strerror, "curl_easy_strerror"},
        {(void **)&dl_curl.multi_init, "curl_multi_init"}, {(void **)&dl_curl.multi_add_handle, "curl_multi_add_handle"},
        {(void **)&dl_curl.multi_remove_handle, "curl_multi_remove_handle"},
        {(void **)&dl_curl.multi_perform, "curl_multi_perform"}, {(void **)&dl_curl.multi_poll, "curl_multi_poll"},
        {(void **)&dl_curl.multi_info_read, "curl_multi_info_read"},
        {(void **)&dl_curl.multi_cleanup, "curl_multi_cleanup"}, {(void **)&dl_curl.slist_append, "curl_slist_append"},
        {(void **)&dl_curl.slist_free_all, "curl_slist_free_all"},
        {(void **)&dl_curl.version_info, "curl_version_info"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (!*syms[i].slot) {
            dlclose(lib);
            return syms[i].name;
        }
    }
    dl_curl.lib = lib;
    return NULL;
}

#define BATCH_MT "ipe.curl.batch"
#define MAX_HEADER_BYTES (64 * 1024)
#define DEFAULT_MAX_BYTES (8.0 * 1024 * 1024)

struct xfer {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    size_t len, cap, max;
    char *head;
    size_t hlen, hcap;
    int too_large, head_too_large, done, added;
    CURLcode rc;
    const char *pre_kind; /* set when the request never started */
    char pre_error[256];
    char err[CURL_ERROR_SIZE];
};

struct batch {
    int n, waited;
    struct xfer *x;
};

/* The process's one multi handle: every batch's transfers run on it. A forked child
 * never touches the one it inherited (its pooled connections are the parent's: two
 * processes on one socket garble both answers) — it makes its own and leaves that one
 * as it is, unfreed (closing would end the parent's TLS sessions). */
static CURLM *shared_multi;
static pid_t multi_pid;

static void free_batch(struct batch *b)
{
    for (int i = 0; b->x && i < b->n; i++) {
        struct xfer *x = &b->x[i];
        if (x->h) {
            if (x->added) curl_multi_remove_handle(shared_multi, x->h);
            curl_easy_cleanup(x->h);
        }
        curl_slist_free_all(x->hdrs);
        free(x->body);
        free(x->head);
    }
    free(b->x);
    b->x = NULL;
    b->n = 0;
}

static int batch_gc(lua_State *L)
{
    free_batch(luaL_checkudata(L, 1, BATCH_MT));
    return 0;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 1;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need) ncap *= 2;
    char *p = realloc(*buf, ncap);
    if (!p) return 0;
    *buf = p;
    *cap = ncap;
    return 1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (x->len + n > x->max) {
        x->too_large = 1;
        return 0;
    }
    if (!grow(&x->body, &x->cap, x->len + n + 1)) return 0;
    memcpy(x->body + x->len, data, n);
    x->len += n;
    return n;
}

/* Keep the header block of the last response only (redirects, 100-continue). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) x->hlen = 0;
    if (x->hlen + n > MAX_HEADER_BYTES) {
        x->head_too_large = 1;
        return 0;
    }
    if (!grow(&x->head, &x->hcap, x->hlen + n + 1)) return 0;
    memcpy(x->head + x->hlen, data, n);
    x->hlen += n;
    return n;
}

static void pre_fail(struct xfer *x, const char *kind, const char *msg)
{
    x->pre_kind = kind;
    snprintf(x->pre_error, sizeof x->pre_error, "%s", msg);
}

static double opt_number(lua_State *L, int t, const char *key, double def, double lo, double hi)
{
    lua_getfield(L, t, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "ipe.curl: request field '%s' must be a number", key);
        v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi)) luaL_error(L, "ipe.curl: request field '%s' is out of range (%f-%f)", key, lo, hi);
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_string(lua_State *L, int t, const char *key)
{
    lua_getfield(L, t, key);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "ipe.curl: request field '%s' must be a string", key);
        s = lua_tostring(L, -1); /* stays alive: the request table holds it */
    }
    lua_pop(L, 1);
    return s;
}

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
    return 0;
}

static int http_url(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* Header list from {Name = value}; raises on names/values that could split headers. */
static struct curl_slist *build_headers(lua_State *L, int t, struct xfer *x)
{
    struct curl_slist *list = NULL;
    lua_getfield(L, t, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "ipe.curl: request field 'headers' must be a table");
    int h = lua_gettop(L);
    x->hdrs = NULL;
    lua_pushnil(L);
    while (lua_next(L, h)) {
        size_t kn, vn;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "ipe.curl: headers must map names to string values");
        const char *k = lua_tolstring(L, -2, &kn);
        const char *v = lua_tolstring(L, -1, &vn);
        if (kn == 0 || has_ctl(k, kn) || memchr(k, ':', kn) || has_ctl(v, vn))
            luaL_error(L, "ipe.curl: header names and values must not contain CR, LF or NUL (and names no ':')");
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, k, kn);
        luaL_addlstring(&b, vn ? ": " : ";", vn ? 2 : 1); /* "Name;" sends an empty header */
        luaL_addlstring(&b, v, vn);
        luaL_pushresult(&b);
        struct curl_slist *n = curl_slist_append(list, lua_tostring(L, -1));
        lua_pop(L, 2);
        if (!n) luaL_error(L, "ipe.curl: out of memory");
        list = n;
        x->hdrs = list; /* owned by the batch from here on */
    }
    lua_pop(L, 1);
    return list;
}

static void setup(lua_State *L, int t, struct xfer *x)
{
    lua_getfield(L, t, "url");
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "ipe.curl: request field 'url' must be a string");
    size_t ulen;
    const char *url = lua_tolstring(L, -1, &ulen);
    lua_pop(L, 1);
    const char *method = opt_string(L, t, "method");
    if (!method) method = "GET";
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    int known = 0;
    for (int i = 0; methods[i]; i++) known |= strcmp(method, methods[i]) == 0;
    if (!known) luaL_error(L, "ipe.curl: unknown method '%s' (GET, POST, PUT, PATCH, DELETE or HEAD)", method);
    size_t blen = 0;
    lua_getfield(L, t, "body");
    const char *body = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "ipe.curl: request field 'body' must be a string");
        body = lua_tolstring(L, -1, &blen);
    }
    lua_pop(L, 1);
    double connect = opt_number(L, t, "connect_timeout", 5, 0.001, 3600);
    double total = opt_number(L, t, "timeout", 10, 0.001, 3600);
    double max = opt_number(L, t, "max_bytes", DEFAULT_MAX_BYTES, 0, 1024.0 * 1024 * 1024);
    long redirects = (long)opt_number(L, t, "max_redirects", 3, 0, 3);
    const char *ca = opt_string(L, t, "ca_bundle");
    const char *proxy = opt_string(L, t, "proxy");
    struct curl_slist *hdrs = build_headers(L, t, x);
    x->max = (size_t)max;

    if (has_ctl(url, ulen) || !http_url(url)) {
        char msg[200];
        snprintf(msg, sizeof msg, "only http and https URLs are allowed: '%.120s'", has_ctl(url, ulen) ? "(control characters)" : url);
        pre_fail(x, "protocol", msg);
        return;
    }
    CURL *h = curl_easy_init();
    if (!h) luaL_error(L, "ipe.curl: out of memory");
    x->h = h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->err);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, redirects > 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, redirects);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (proxy) curl_easy_setopt(h, CURLOPT_PROXY, proxy);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(total * 1000));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ipe/" IPE_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, (void *)x);
    if (hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
        if (strcmp(method, "GET") == 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "GET");
    }
}

static const char *kind_of(CURLcode rc, const struct xfer *x)
{
    if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) return "too_large";
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED: return "tls";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return "reset";
    case CURLE_UNSUPPORTED_PROTOCOL: return "protocol";
    case CURLE_TOO_MANY_REDIRECTS: return "redirect";
    case CURLE_URL_MALFORMAT: return "bad_url";
    default: return "error";
    }
}

static void push_error(lua_State *L, const char *msg, const char *kind)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "error");
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
}

/* {lowercase name = value}; repeated headers are joined with ", ". */
static void push_headers(lua_State *L, const struct xfer *x)
{
    lua_newtable(L);
    const char *p = x->head, *end = x->head ? x->head + x->hlen : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p && strncmp(p, "HTTP/", 5) != 0) {
            char name[128];
            size_t nl = (size_t)(colon - p);
            if (nl < sizeof name) {
                for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)p[i]);
                name[nl] = '\0';
                const char *v = colon + 1, *ve = eol;
                while (v < ve && (*v == ' ' || *v == '\t')) v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
                lua_getfield(L, -1, name);
                if (lua_isstring(L, -1)) {
                    lua_pushliteral(L, ", ");
                    lua_pushlstring(L, v, (size_t)(ve - v));
                    lua_concat(L, 3);
                } else {
                    lua_pop(L, 1);
                    lua_pushlstring(L, v, (size_t)(ve - v));
                }
                lua_setfield(L, -2, name);
            }
        }
        p = eol + 1;
    }
}

static void push_response(lua_State *L, struct xfer *x)
{
    if (x->pre_kind) {
        push_error(L, x->pre_error, x->pre_kind);
        return;
    }
    if (!x->done) {
        push_error(L, "the transfer did not finish", "error");
        return;
    }
    if (x->rc != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 80];
        const char *kind = kind_of(x->rc, x);
        if (strcmp(kind, "too_large") == 0)
            snprintf(msg, sizeof msg, "the response body is larger than the limit of %zu bytes", x->max);
        else if (x->head_too_large)
            snprintf(msg, sizeof msg, "the response headers are larger than %d bytes", MAX_HEADER_BYTES);
        else
            snprintf(msg, sizeof msg, "%s", x->err[0] ? x->err : curl_easy_strerror(x->rc));
        push_error(L, msg, x->head_too_large ? "too_large" : kind);
        return;
    }
    long status = 0;
    curl_off_t us = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &us);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    push_headers(L, x);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, x->body ? x->body : "", x->len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, (lua_Number)us / 1000.0);
    lua_setfield(L, -2, "time_ms");
}

static void global_init(void)
{
    static int done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Has every transfer of the batch that is still running put its request on the wire? */
static int all_sent(struct batch *b)
{
    for (int i = 0; i < b->n; i++) {
        struct xfer *x = &b->x[i];
        if (!x->added || x->done) continue;
        long sent = 0;
        curl_easy_getinfo(x->h, CURLINFO_REQUEST_SIZE, &sent);
        if (sent == 0) return 0;
    }
    return 1;
}

/* Has every transfer of the batch ended (or never started)? */
static int batch_done(const struct batch *b)
{
    for (int i = 0; i < b->n; i++)
        if (b->x[i].added && !b->x[i].done) return 0;
    return 1;
}

/* Mark the transfers libcurl reports as ended (whichever batch they belong to). */
static void collect_done(void)
{
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(shared_multi, &queued))) {
        if (msg->msg != CURLMSG_DONE) continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        struct xfer *x = (struct xfer *)priv;
        if (x) {
            x->done = 1;
            x->rc = msg->data.result;
        }
    }
}

/* Drive every transfer in flight, waiting at most timeout_ms for activity.
 * Returns the transfers still running, or -1 when the multi handle fails. */
static int drive(int timeout_ms)
{
    int running = 0;
    if (curl_multi_perform(shared_multi, &running) != CURLM_OK) return -1;
    collect_done();
    if (running && timeout_ms > 0) {
        curl_multi_poll(shared_multi, NULL, 0, timeout_ms, NULL);
        if (curl_multi_perform(shared_multi, &running) != CURLM_OK) return -1;
        collect_done();
    }
    return running;
}

/* curl.start(requests) -> batch: the transfers begin; the call returns once
 * every request is on the wire (or after at most 50 ms of connecting), so
 * the caller can do other work while the answers travel; batch:wait() ends them. */
static int l_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_objlen(L, 1);
    global_init();
    if (shared_multi && multi_pid != getpid()) shared_multi = NULL;
    if (!shared_multi) {
        if (!(shared_multi = curl_multi_init())) return luaL_error(L, "ipe.curl: out of memory");
        multi_pid = getpid();
    }
    struct batch *b = lua_newuserdata(L, sizeof *b);
    b->n = 0;
    b->waited = 0;
    b->x = NULL;
    luaL_getmetatable(L, BATCH_MT);
    lua_setmetatable(L, -2);
    if (n > 0) {
        b->x = calloc((size_t)n, sizeof *b->x);
        if (!b->x) return luaL_error(L, "ipe.curl: out of memory");
        b->n = n;
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        if (!lua_istable(L, -1)) return luaL_error(L, "ipe.curl: request %d is not a table", i + 1);
        setup(L, lua_gettop(L), &b->x[i]);
        lua_pop(L, 1);
        struct xfer *x = &b->x[i];
        if (!x->h || x->pre_kind) continue;
        if (curl_multi_add_handle(shared_multi, x->h) == CURLM_OK) x->added = 1;
        else pre_fail(x, "error", "cannot start the transfer");
    }
    double until = now_s() + 0.05;
    while (!batch_done(b) && !all_sent(b) && now_s() <= until)
        if (drive(5) < 0) break;
    return 1;
}

static struct batch *check_batch(lua_State *L)
{
    struct batch *b = luaL_checkudata(L, 1, BATCH_MT);
    if (b->waited) luaL_error(L, "ipe.curl: this batch has already been waited for");
    return b;
}

/* batch:wait() -> responses, in request order (once). */
static int l_wait(lua_State *L)
{
    struct batch *b = check_batch(L);
    /* nothing left running while the batch is not done: its unfinished transfers
     * answer "the transfer did not finish" instead of a wait without end */
    while (!batch_done(b))
        if (drive(200) <= 0 && !batch_done(b)) break;
    lua_createtable(L, b->n, 0);
    for (int i = 0; i < b->n; i++) {
        push_response(L, &b->x[i]);
        lua_rawseti(L, -2, i + 1);
    }
    free_batch(b); /* the C side goes now, not at the next collection */
    b->waited = 1;
    return 1;
}

/* batch:done() -> true when every transfer of the batch has ended */
static int l_done(lua_State *L)
{
    lua_pushboolean(L, batch_done(check_batch(L)));
    return 1;
}

/* curl.step(seconds) -> transfers still running (0 when none is in flight) */
static int l_step(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (!(s >= 0)) s = 0;
    if (s > 60) s = 60;
    if (!shared_multi) {
        lua_pushinteger(L, 0);
        return 1;
    }
    int running = drive((int)(s * 1000 + 0.5));
    lua_pushinteger(L, running < 0 ? 0 : running);
    return 1;
}

static int l_perform_many(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushcfunction(L, l_start);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_pushcfunction(L, l_wait);
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    return 1;
}

static int l_perform(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushcfunction(L, l_perform_many);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_call(L, 1, 1);
    lua_rawgeti(L, -1, 1);
    return 1;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (!(s > 0)) return 0;
    if (s > 3600) s = 3600;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static int l_version(lua_State *L)
{
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"perform_many", l_perform_many}, {"perform", l_perform}, {"start", l_start}, {"step", l_step},
    {"sleep", l_sleep}, {"version", l_version}, {NULL, NULL}};

int luaopen_ipe_curl(lua_State *L)
{
    const char *missing = load_curl();
    if (missing) return luaL_error(L, "libcurl is not available (%s): install libcurl4", missing);
    luaL_newmetatable(L, BATCH_MT);
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lua_pushcfunction(L, l_wait);
    lua_setfield(L, -2, "wait");
    lua_pushcfunction(L, l_done);
    lua_setfield(L, -2, "done");
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_register(L, NULL, funcs);
    return 1;
}
