/* bind_sqlite.c — ipe.sqlite: the SQLite binding behind ctx.db.
 *
 *   db, err = sqlite.open(path, "ro" | "rw" | "rwc" | "immutable")
 *                                     "immutable": read-only, and SQLite takes the file as
 *                                     unchanging (no locks, no -wal/-shm: a read-only folder
 *                                     or file still reads)
 *   db:exec(sql)                      several statements, no rows
 *   db:compile(sql) -> true | nil, message, offset   prepare only (the byte offset of the error)
 *   st = db:prepare(sql)              st:run(...), st:bind(t), st:step(), st:reset(), st:columns(),
 *                                     st:readonly(), st:finalize()
 *   rows, cols = db:query(sql, params)  rows are arrays in column order; NULL is cjson.null;
 *                                     an integer beyond +-2^53 is its exact decimal text
 *   db:readonly_guard()               authorizer: reads only (no ATTACH, writes or pragmas that set)
 *   db:set_deadline(seconds | nil)    a runaway query is interrupted when the time is up
 *   db:close(), db:changes(), db:last_insert_rowid()
 *
 * Every value is bound, never formatted into SQL. Errors raise "sqlite: <message>".
 * Each connection gets two SQL functions that ctx.db's helpers use:
 *   ipe_ip_in_cidr(ip, cidr)     1 when the IP text lies in the CIDR, else 0
 *   ipe_text_has_ip(text, ip)    1 when free text mentions the IP as a whole token
 * and two that key threat-intelligence CIDR blocks by number (ipe.migrations.ti_ranges):
 *   ipe_ip_key(ip [, bits])      the address as a 16-byte blob (IPv4 as ::ffff:a.b.c.d, so one
 *                                byte order sorts both families), its first `bits` (0-128) kept
 *                                and the rest zeroed; NULL for a non-address, and for an IPv4
 *                                address with bits < 96 (an IPv6 block never holds IPv4)
 *   ipe_cidr_range(cidr, part)   part 0: the block's first address (blob), 1: its last (blob),
 *                                2: its prefix in 128-bit terms (IPv4 /15 -> 111); NULL for a
 *                                non-CIDR (an address alone is its /32 or /128) */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <lauxlib.h>
#include "ipe.h"

#define DB_MT "ipe.sqlite.db"
#define ST_MT "ipe.sqlite.stmt"

struct db {
    sqlite3 *h;
    double deadline; /* CLOCK_MONOTONIC seconds; 0 = none */
};

struct stmt {
    sqlite3_stmt *h;
};

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct db *check_db(lua_State *L, int idx)
{
    struct db *d = luaL_checkudata(L, idx, DB_MT);
    if (!d->h) luaL_error(L, "sqlite: the workspace connection is closed");
    return d;
}

static struct stmt *check_st(lua_State *L, int idx)
{
    struct stmt *s = luaL_checkudata(L, idx, ST_MT);
    if (!s->h) luaL_error(L, "sqlite: the statement is finalized");
    return s;
}

static int fail(lua_State *L, sqlite3 *h)
{
    return luaL_error(L, "sqlite: %s", sqlite3_errmsg(h));
}

static int progress(void *ud)
{
    struct db *d = ud;
    return d->deadline > 0 && monotonic() > d->deadline;
}

/* Parse an IPv4 or IPv6 text into 16 bytes (IPv4 as ::ffff:a.b.c.d); returns the family or 0. */
static int parse_ip(const char *s, size_t n, unsigned char out[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return 4;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(out, mapped, 12) == 0 ? 4 : 6;
    }
    return 0;
}

static void sql_ip_in_cidr(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *ip = (const char *)sqlite3_value_text(argv[0]);
    const char *cidr = (const char *)sqlite3_value_text(argv[1]);
    unsigned char a[16], net[16];
    int result = 0;
    if (ip && cidr) {
        const char *slash = strchr(cidr, '/');
        size_t nlen = slash ? (size_t)(slash - cidr) : strlen(cidr);
        int fa = parse_ip(ip, strlen(ip), a), fn = parse_ip(cidr, nlen, net);
        if (fa && fa == fn) {
            char *end = NULL;
            long prefix = slash ? strtol(slash + 1, &end, 10) : (fn == 4 ? 32 : 128);
            int max = fn == 4 ? 32 : 128;
            if ((!slash || (end && *end == '\0' && end != slash + 1)) && prefix >= 0 && prefix <= max) {
                int bits = (int)prefix + (fn == 4 ? 96 : 0);
                result = 1;
                for (int i = 0; i < bits && result; i++) {
                    int mask = 0x80 >> (i % 8);
                    if ((a[i / 8] & mask) != (net[i / 8] & mask)) result = 0;
                }
            }
        }
    }
    sqlite3_result_int(ctx, result);
}

/* Keep the first `bits` bits of a 16-byte address, zero (or, with ones, set) the rest. */
static void mask_bits(unsigned char a[16], int bits, int ones)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        unsigned char m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
        a[i] = ones ? (unsigned char)(a[i] | ~m) : (unsigned char)(a[i] & m);
    }
}

/* ipe_ip_key's value into a; 0 when it has none. */
static int ip_key(int argc, sqlite3_value **argv, unsigned char a[16])
{
    const char *ip = (const char *)sqlite3_value_text(argv[0]);
    int fam = ip ? parse_ip(ip, strlen(ip), a) : 0;
    if (!fam || argc < 2) return fam;
    if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER) return 0;
    sqlite3_int64 bits = sqlite3_value_int64(argv[1]);
    if (bits < (fam == 4 ? 96 : 0) || bits > 128) return 0;
    mask_bits(a, (int)bits, 0);
    return fam;
}

static void sql_ip_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char a[16];
    if (ip_key(argc, argv, a)) sqlite3_result_blob(ctx, a, 16, SQLITE_TRANSIENT);
    else sqlite3_result_null(ctx);
}

/* A CIDR's address into a and its prefix in 128-bit terms; -1 when the text is not a CIDR. */
static int cidr_bits(const char *cidr, unsigned char a[16])
{
    const char *slash = strchr(cidr, '/');
    int fam = parse_ip(cidr, slash ? (size_t)(slash - cidr) : strlen(cidr), a);
    if (!fam) return -1;
    /* the text's own family decides: ::ffff:1.2.3.0/120 is 1.2.3.0/24 (bits 120 either way) */
    int v6_text = memchr(cidr, ':', slash ? (size_t)(slash - cidr) : strlen(cidr)) != NULL;
    long max = v6_text ? 128 : 32, prefix = max;
    if (slash) {
        char *end = NULL;
        if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3) return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || prefix > max) return -1;
    }
    return (int)prefix + (v6_text ? 0 : 96);
}

static void sql_cidr_range(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *cidr = (const char *)sqlite3_value_text(argv[0]);
    int part = sqlite3_value_int(argv[1]);
    unsigned char a[16];
    int bits = cidr && part >= 0 && part <= 2 ? cidr_bits(cidr, a) : -1;
    if (bits < 0) {
        sqlite3_result_null(ctx);
    } else if (part == 2) {
        sqlite3_result_int(ctx, bits);
    } else {
        mask_bits(a, bits, part == 1);
        sqlite3_result_blob(ctx, a, 16, SQLITE_TRANSIENT);
    }
}

/* KQL's parse_ipv4: an IPv4 text (optionally with a /prefix, masked) as a number, else NULL. */
static void sql_parse_ipv4(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *ip = (const char *)sqlite3_value_text(argv[0]);
    unsigned char a[16];
    int bits = ip && !strchr(ip, ':') ? cidr_bits(ip, a) : -1;
    if (bits < 96) { sqlite3_result_null(ctx); return; }
    mask_bits(a, bits, 0);
    sqlite3_result_int64(ctx, ((sqlite3_int64)a[12] << 24) | (a[13] << 16) | (a[14] << 8) | a[15]);
}

static int ip_char(int c) { return isxdigit(c) || c == ':' || c == '.'; }

static void sql_text_has_ip(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    const char *ip = (const char *)sqlite3_value_text(argv[1]);
    int found = 0;
    if (text && ip && *ip) {
        size_t n = strlen(ip);
        for (const char *p = strstr(text, ip); p && !found; p = strstr(p + 1, ip)) {
            int before = p == text || !ip_char((unsigned char)p[-1]);
            unsigned char c = (unsigned char)p[n];
            int after = !ip_char(c) || (c == '.' && !isdigit((unsigned char)p[n + 1]));
            found = before && after;
        }
    }
    sqlite3_result_int(ctx, found);
}

/* Push "file:<path, percent-encoded>?immutable=1" (an SQLite URI). */
static const char *immutable_uri(lua_State *L, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (isalnum(*p) || strchr("/._~-", *p)) {
            luaL_addchar(&b, (char)*p);
        } else {
            luaL_addchar(&b, '%');
            luaL_addchar(&b, hex[*p >> 4]);
            luaL_addchar(&b, hex[*p & 15]);
        }
    }
    luaL_addstring(&b, "?immutable=1");
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "ro");
    int flags = SQLITE_OPEN_NOMUTEX;
    if (strcmp(mode, "ro") == 0) flags |= SQLITE_OPEN_READONLY;
    else if (strcmp(mode, "immutable") == 0) {
        flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
        path = immutable_uri(L, path);
    }
    else if (strcmp(mode, "rw") == 0) flags |= SQLITE_OPEN_READWRITE;
    else if (strcmp(mode, "rwc") == 0) flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    else return luaL_argerror(L, 2, "mode must be \"ro\", \"rw\", \"rwc\" or \"immutable\"");
    struct db *d = lua_newuserdata(L, sizeof *d);
    d->h = NULL;
    d->deadline = 0;
    luaL_getmetatable(L, DB_MT);
    lua_setmetatable(L, -2);
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushstring(L, d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close_v2(d->h);
        d->h = NULL;
        return 2;
    }
    sqlite3_busy_timeout(d->h, 5000);
    sqlite3_extended_result_codes(d->h, 1);
    sqlite3_progress_handler(d->h, 10000, progress, d);
    int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function(d->h, "ipe_ip_in_cidr", 2, det, NULL, sql_ip_in_cidr, NULL, NULL);
    sqlite3_create_function(d->h, "ipe_text_has_ip", 2, det, NULL, sql_text_has_ip, NULL, NULL);
    sqlite3_create_function(d->h, "ipe_ip_key", 1, det, NULL, sql_ip_key, NULL, NULL);
    sqlite3_create_function(d->h, "ipe_ip_key", 2, det, NULL, sql_ip_key, NULL, NULL);
    sqlite3_create_function(d->h, "ipe_cidr_range", 2, det, NULL, sql_cidr_range, NULL, NULL);
    sqlite3_create_function(d->h, "ipe_parse_ipv4", 1, det, NULL, sql_parse_ipv4, NULL, NULL);
    ipe_sql_regex_register(d->h);
    ipe_sql_hash_register(d->h);
    ipe_sql_agg_register(d->h);
    ipe_sql_iptoken_register(d->h);
    if (flags & SQLITE_OPEN_READONLY) sqlite3_exec(d->h, "PRAGMA query_only=1", NULL, NULL, NULL);
    return 1;
}

static int l_close(lua_State *L)
{
    struct db *d = luaL_checkudata(L, 1, DB_MT);
    if (d->h) sqlite3_close_v2(d->h);
    d->h = NULL;
    return 0;
}

static int l_exec(lua_State *L)
{
    struct db *d = check_db(L, 1);
    char *err = NULL;
    if (sqlite3_exec(d->h, luaL_checkstring(L, 2), NULL, NULL, &err) != SQLITE_OK) {
        lua_pushfstring(L, "sqlite: %s", err ? err : sqlite3_errmsg(d->h));
        sqlite3_free(err);
        return lua_error(L);
    }
    return 0;
}

static int l_prepare(lua_State *L)
{
    struct db *d = check_db(L, 1);
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    struct stmt *s = lua_newuserdata(L, sizeof *s);
    s->h = NULL;
    luaL_getmetatable(L, ST_MT);
    lua_setmetatable(L, -2);
    const char *tail = NULL;
    if (sqlite3_prepare_v2(d->h, sql, (int)len, &s->h, &tail) != SQLITE_OK) return fail(L, d->h);
    if (!s->h) return luaL_error(L, "sqlite: the SQL text holds no statement");
    while (tail && *tail && strchr(" \t\r\n;", *tail)) tail++;
    if (tail && *tail) return luaL_error(L, "sqlite: one statement at a time (found more after the first)");
    /* keep the connection alive as long as the statement */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    return 1;
}

/* db:compile(sql) -> true | nil, message, byte offset of the error in sql (or nil):
 * prepares one statement against the schema and finalizes it, running nothing
 * (what `ipe-run check` does with a script's SQL). */
static int l_compile(lua_State *L)
{
    struct db *d = check_db(L, 1);
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->h, sql, (int)len, &st, NULL);
    if (rc != SQLITE_OK) {
        int off = sqlite3_error_offset(d->h);
        lua_pushnil(L);
        lua_pushstring(L, sqlite3_errmsg(d->h));
        if (off >= 0) lua_pushinteger(L, off);
        else lua_pushnil(L);
        return 3;
    }
    if (!st) {
        lua_pushnil(L);
        lua_pushliteral(L, "the SQL text holds no statement");
        return 2;
    }
    sqlite3_finalize(st);
    lua_pushboolean(L, 1);
    return 1;
}

static void bind_value(lua_State *L, sqlite3_stmt *h, int i, int idx, sqlite3_destructor_type keep)
{
    int rc;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
        rc = sqlite3_bind_null(h, i);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) luaL_error(L, "sqlite: cannot bind a light userdata");
        rc = sqlite3_bind_null(h, i);
        break;
    case LUA_TBOOLEAN:
        rc = sqlite3_bind_int(h, i, lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER: {
        lua_Number n = lua_tonumber(L, idx);
        if (n == (lua_Number)(sqlite3_int64)n && n > -9.2e18 && n < 9.2e18)
            rc = sqlite3_bind_int64(h, i, (sqlite3_int64)n);
        else
            rc = sqlite3_bind_double(h, i, n);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        rc = sqlite3_bind_text(h, i, s, (int)len, keep);
        break;
    }
    default:
        luaL_error(L, "sqlite: cannot bind a %s to parameter %d", luaL_typename(L, idx), i);
        return;
    }
    if (rc != SQLITE_OK) luaL_error(L, "sqlite: %s", sqlite3_errmsg(sqlite3_db_handle(h)));
}

/* Bind from a table: "?" by position t[i], ":name"/"@name"/"$name" by t.name. */
static void bind_table(lua_State *L, sqlite3_stmt *h, int t)
{
    int n = sqlite3_bind_parameter_count(h);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(h, i);
        if (name && name[0] != '?') {
            lua_getfield(L, t, name + 1);
            if (lua_isnil(L, -1)) luaL_error(L, "sqlite: no value for parameter %s", name);
        } else {
            lua_rawgeti(L, t, i);
        }
        bind_value(L, h, i, lua_gettop(L), SQLITE_TRANSIENT);
        lua_pop(L, 1);
    }
}

/* Bind positional values from the stack, starting at idx. With SQLITE_STATIC
 * the strings must stay on the stack until the statement is reset and its
 * bindings cleared (st:run does exactly that). */
static void bind_args(lua_State *L, sqlite3_stmt *h, int idx, sqlite3_destructor_type keep)
{
    int n = sqlite3_bind_parameter_count(h);
    int given = lua_gettop(L) - idx + 1;
    if (given > n) luaL_error(L, "sqlite: %d values for %d parameters", given, n);
    for (int i = 1; i <= n; i++) bind_value(L, h, i, idx + i - 1, keep);
}

/* An integer a double holds exactly (|v| <= 2^53) is a number; a larger one is its
 * decimal text, never a silently rounded double. Bound back, the text compares equal
 * to the integer in a column of INTEGER affinity. */
#define EXACT_LIMIT 9007199254740992LL

static void push_int64(lua_State *L, sqlite3_int64 v)
{
    if (v >= -EXACT_LIMIT && v <= EXACT_LIMIT) {
        lua_pushnumber(L, (lua_Number)v);
        return;
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    lua_pushstring(L, buf);
}

static void push_column(lua_State *L, sqlite3_stmt *h, int i)
{
    switch (sqlite3_column_type(h, i)) {
    case SQLITE_INTEGER:
        push_int64(L, sqlite3_column_int64(h, i));
        break;
    case SQLITE_FLOAT:
        lua_pushnumber(L, sqlite3_column_double(h, i));
        break;
    case SQLITE_NULL:
        lua_pushlightuserdata(L, NULL); /* == cjson.null */
        break;
    default: {
        const char *p = (const char *)sqlite3_column_blob(h, i);
        lua_pushlstring(L, p ? p : "", (size_t)sqlite3_column_bytes(h, i));
    }
    }
}

static void push_row(lua_State *L, sqlite3_stmt *h)
{
    int n = sqlite3_column_count(h);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_column(L, h, i);
        lua_rawseti(L, -2, i + 1);
    }
}

static int step(lua_State *L, sqlite3_stmt *h)
{
    int rc = sqlite3_step(h);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
    sqlite3 *db = sqlite3_db_handle(h);
    int code = sqlite3_errcode(db);
    sqlite3_reset(h);
    if (code == SQLITE_INTERRUPT) return luaL_error(L, "sqlite: query interrupted: time budget exceeded");
    return luaL_error(L, "sqlite: %s", sqlite3_errmsg(db));
}

static int l_st_bind(lua_State *L)
{
    struct stmt *s = check_st(L, 1);
    sqlite3_reset(s->h);
    sqlite3_clear_bindings(s->h);
    if (lua_istable(L, 2)) bind_table(L, s->h, 2);
    else bind_args(L, s->h, 2, SQLITE_TRANSIENT);
    lua_settop(L, 1);
    return 1;
}

static int l_st_step(lua_State *L)
{
    struct stmt *s = check_st(L, 1);
    if (step(L, s->h) == SQLITE_DONE) {
        sqlite3_reset(s->h);
        return 0;
    }
    push_row(L, s->h);
    return 1;
}

static int l_st_run(lua_State *L)
{
    struct stmt *s = check_st(L, 1);
    sqlite3_reset(s->h);
    if (lua_istable(L, 2)) {
        bind_table(L, s->h, 2);
    } else {
        /* the values stay on the stack until the bindings are cleared below: no copies */
        sqlite3_clear_bindings(s->h);
        bind_args(L, s->h, 2, SQLITE_STATIC);
    }
    int rc;
    while ((rc = sqlite3_step(s->h)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) {
        sqlite3 *db = sqlite3_db_handle(s->h);
        int code = sqlite3_errcode(db);
        lua_pushfstring(L, "sqlite: %s", code == SQLITE_INTERRUPT ? "query interrupted: time budget exceeded"
                                                                  : sqlite3_errmsg(db));
        sqlite3_reset(s->h);
        sqlite3_clear_bindings(s->h);
        return lua_error(L);
    }
    sqlite3_reset(s->h);
    sqlite3_clear_bindings(s->h);
    lua_pushinteger(L, sqlite3_changes(sqlite3_db_handle(s->h)));
    return 1;
}

sqlite3_stmt *ipe_sqlite_stmt(lua_State *L, int idx)
{
    return check_st(L, idx)->h;
}

static int l_st_reset(lua_State *L)
{
    sqlite3_reset(check_st(L, 1)->h);
    return 0;
}

static int l_st_columns(lua_State *L)
{
    struct stmt *s = check_st(L, 1);
    int n = sqlite3_column_count(s->h);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, sqlite3_column_name(s->h, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_st_readonly(lua_State *L)
{
    lua_pushboolean(L, sqlite3_stmt_readonly(check_st(L, 1)->h));
    return 1;
}

static int l_st_finalize(lua_State *L)
{
    struct stmt *s = luaL_checkudata(L, 1, ST_MT);
    if (s->h) sqlite3_finalize(s->h);
    s->h = NULL;
    return 0;
}

/* db:query(sql, params) -> rows, columns */
static int l_query(lua_State *L)
{
    lua_settop(L, 3);
    l_prepare(L); /* stack: db sql params st */
    struct stmt *s = lua_touserdata(L, 4);
    if (lua_isnil(L, 3)) {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    if (!lua_istable(L, 3)) luaL_argerror(L, 3, "parameters must be a table");
    bind_table(L, s->h, 3);
    lua_newtable(L);
    int n = 0;
    while (step(L, s->h) == SQLITE_ROW) {
        push_row(L, s->h);
        lua_rawseti(L, -2, ++n);
    }
    lua_pushcfunction(L, l_st_columns);
    lua_pushvalue(L, 4);
    lua_call(L, 1, 1);
    sqlite3_finalize(s->h);
    s->h = NULL;
    return 2;
}

static int readonly_authorizer(void *ud, int op, const char *a, const char *b, const char *c, const char *d)
{
    (void)ud; (void)b; (void)c; (void)d;
    static const char *const pragmas[] = {"table_info", "table_xinfo", "index_list", "index_info",
                                          "index_xinfo", "table_list", "database_list", "compile_options", NULL};
    switch (op) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_UPDATE: /* table-valued functions (json_each) touch the schema table while connecting */
        return a && strcmp(a, "sqlite_master") == 0 ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_PRAGMA:
        for (int i = 0; pragmas[i]; i++)
            if (a && sqlite3_stricmp(a, pragmas[i]) == 0) return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_DENY;
    }
}

static int l_readonly_guard(lua_State *L)
{
    sqlite3_set_authorizer(check_db(L, 1)->h, readonly_authorizer, NULL);
    return 0;
}

static int l_set_deadline(lua_State *L)
{
    struct db *d = check_db(L, 1);
    d->deadline = lua_isnoneornil(L, 2) ? 0 : monotonic() + luaL_checknumber(L, 2);
    return 0;
}

static int l_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_changes(check_db(L, 1)->h));
    return 1;
}

static int l_last_rowid(lua_State *L)
{
    push_int64(L, sqlite3_last_insert_rowid(check_db(L, 1)->h));
    return 1;
}

static int l_heap_limit(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)sqlite3_hard_heap_limit64((sqlite3_int64)luaL_checknumber(L, 1)));
    return 1;
}

static int l_version(lua_State *L)
{
    lua_pushstring(L, sqlite3_libversion());
    return 1;
}

static const luaL_Reg db_methods[] = {
    {"exec", l_exec}, {"prepare", l_prepare}, {"compile", l_compile}, {"query", l_query}, {"close", l_close},
    {"readonly_guard", l_readonly_guard}, {"set_deadline", l_set_deadline},
    {"changes", l_changes}, {"last_insert_rowid", l_last_rowid}, {NULL, NULL}};

static const luaL_Reg st_methods[] = {
    {"bind", l_st_bind}, {"step", l_st_step}, {"run", l_st_run}, {"reset", l_st_reset},
    {"columns", l_st_columns}, {"readonly", l_st_readonly}, {"finalize", l_st_finalize}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"open", l_open}, {"hard_heap_limit", l_heap_limit}, {"version", l_version}, {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

int luaopen_ipe_sqlite(lua_State *L)
{
    new_class(L, DB_MT, db_methods, l_close);
    new_class(L, ST_MT, st_methods, l_st_finalize);
    lua_newtable(L);
    luaL_register(L, NULL, funcs);
    return 1;
}
