/* bind_jsonl.c — ipe.jsonl: the C fast path of JSON-lines ingest (ipe.ingest.fastjsonl).
 *
 *   P = jsonl.plan(spec)     spec = { table=, names={...}, kinds={...}, keys={[key]=ci}, type_ci=,
 *                            tg_ci=, hash_key={a,b,c,d}, max_line=, batch=, ch={prefix=, kind=} }
 *   pos, lines, rows, status = P:parse(buf, pos)
 *       reads whole lines of buf from byte pos into a batch of rows of one shape (the
 *       columns in the order the line gives them); status 0: no whole line left at pos,
 *       1: the line at pos is not for the fast path (ipe.ingest.jsonl reads it), 2: the
 *       batch is full or the next line has another shape
 *   P:shape() -> { ci, ... }    P:hashes() -> { hash53, ... }    P:span() -> tmin, tmax
 *   P:dedup(stmt, id) -> { i, ... }   each row's hash through stmt (ipe.ingest.load's INSERT OR
 *       IGNORE INTO _ipe_ingest_records (Hash, IngestId) VALUES (?, ?)), in row order; the
 *       rows (1-based) whose hash was there already — for the mapper's own duplicate check
 *   P:emit_sqlite(stmt, keep) -> rows written   (keep[i] == false: row i is left out)
 *   P:emit_json(keep, tail) -> JSONEachRow text of the kept rows ("\n" between), rows
 *   P:emit_rowbinary(keep, id) -> RowBinary of the kept rows (every column of spec.ch.bin), rows
 *
 * Only what ipe.ingest.load's mapper would do without any judgement goes through here:
 * member names it already resolved to a column by exact or case-insensitive name, text
 * for text columns, canonical dotted quads for IP columns, workspace times for time
 * columns, integers of at most 15 characters for integer columns, null (left out) and
 * Type equal to the table. Anything else — an unknown name, a nested value, true/false, a
 * byte >= 0x80, a control character, a lone surrogate, a missing TimeGenerated, a
 * repeated member, malformed JSON — sends the line to the Lua mapper (status 1), which
 * stays the reference: it decides, and it names the error. The row hash is
 * ipe.ingest.load's row_hash (ipe.ingest.fingerprint.hash53 of the same text), bit for
 * bit. Linear in the input; raises nothing for any input (only SQLite errors in emit). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <lauxlib.h>
#include "ipe.h"

#define PLAN_MT "ipe.jsonl.plan"
#define MAXC 256
#define ARENA_MAX (8u << 20)   /* a batch ends after this much text (lines can be 1 MiB) */

enum { K_STR = 1, K_IP = 2, K_TIME = 3, K_INT = 4 };             /* ipe.ingest.load's kinds */
enum { CH_STR = 1, CH_NUM = 2, CH_TIME = 3, CH_TIME64 = 4 };      /* JSONEachRow encodings */
enum { ST_MORE = 0, ST_LUA = 1, ST_BATCH = 2 };
/* RowBinary columns (ipe.ingest.clickhouse's fast_columns): Nullable(String), Nullable(Int32),
 * Nullable(Int64), always NULL, DateTime and its _ms Int64, Nullable of both, the table's name
 * (Type), the ingest id (UInt64) */
enum { RB_STR = 1, RB_I32, RB_I64, RB_NULL, RB_DT, RB_DT_MS, RB_NDT, RB_NDT_MS, RB_TYPE, RB_ID };

struct val {
    int64_t i;
    size_t off;
    uint32_t len;
    int is_int;
};

struct key {
    char *name;
    size_t len;
    int ci;
};

struct buf {
    char *p;
    size_t n, cap;
};

struct plan {
    int ncol, type_ci, tg_ci, batch;
    char **cname;          /* "\0Name\1" of each column, for the row hash */
    int *kind;
    char *tname;
    size_t tlen, max_line, nkeys;
    uint32_t hk[4];
    struct key *keys;      /* open addressing, nkeys slots (a power of 2) */
    char **chpre;          /* ClickHouse: "\"Name\":" and its encoding */
    int *chkind;
    int nbin, *bincode, *binsrc;   /* ClickHouse RowBinary: the columns, their source column */
    char *i32;             /* columns that are Int32 on ClickHouse (a larger integer: for Lua) */
    /* the batch */
    int shape[MAXC], nshape, sorted[MAXC];
    size_t nrows, cap_rows;
    struct val *vals;
    double *hashes;
    struct buf arena, scratch;
    char tmin[24], tmax[24];
    /* the line being read */
    unsigned gen, *seen;
    int lshape[MAXC], nl;
    struct val lv[MAXC];
};

static int grow(struct buf *b, size_t more)
{
    if (b->n + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int put(struct buf *b, const void *s, size_t n)
{
    if (grow(b, n)) return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* ---- ipe.ingest.fingerprint.hash53 ---- */

static uint32_t rol(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static uint32_t fmix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

static double hash53(const unsigned char *s, size_t n, const uint32_t key[4])
{
    uint32_t a = key[0], b = key[1], c = key[2], d = key[3], w[4];
    size_t whole = n - n % 16, i;
    for (i = 0; i < whole; i += 16) {
        memcpy(w, s + i, 16);
        a = rol((a ^ w[0]) * 0x9E3Bu, 13);
        b = rol((b ^ w[1]) * 0x85EBu, 17);
        c = rol((c ^ w[2]) * 0xC2B3u, 11);
        d = rol((d ^ w[3]) * 0x27D5u, 19);
    }
    for (; i < n; i++) a = rol((a ^ s[i]) * 0x9E3Bu, 7);
    a = fmix(a ^ (uint32_t)n);
    b = fmix(b);
    c = fmix(c);
    d = fmix(d);
    a = fmix(a + b + c + d);
    b = fmix(b + c + a);
    return (double)(b & 0x1FFFFF) * 4294967296.0 + (double)a;
}

/* ---- the member-name table ---- */

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int find_key(const struct plan *P, const char *s, size_t n)
{
    size_t mask = P->nkeys - 1;
    for (size_t i = hash_name(s, n) & mask;; i = (i + 1) & mask) {
        const struct key *k = &P->keys[i];
        if (!k->name) return 0;
        if (k->len == n && memcmp(k->name, s, n) == 0) return k->ci;
    }
}

static void add_key(struct plan *P, const char *s, size_t n, int ci)
{
    size_t mask = P->nkeys - 1, i = hash_name(s, n) & mask;
    while (P->keys[i].name) i = (i + 1) & mask;
    P->keys[i].name = malloc(n ? n : 1);
    if (!P->keys[i].name) return;
    memcpy(P->keys[i].name, s, n);
    P->keys[i].len = n;
    P->keys[i].ci = ci;
}

/* ---- values ---- */

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int two(const char *s) { return (s[0] - '0') * 10 + s[1] - '0'; }

/* a workspace time "YYYY-MM-DDTHH:MM:SS.sssZ" of a real instant (coerce.is_workspace_time) */
static int workspace_time(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 24) return 0;
    for (int i = 0; i < 24; i++) {
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i]) return 0;
    }
    int y = two(s) * 100 + two(s + 2), m = two(s + 5), d = two(s + 8);
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    int dim = mdays[m - 1] + (m == 2 && leap);
    return d <= dim && two(s + 11) <= 23 && two(s + 14) <= 59 && two(s + 17) <= 59;
}

/* a canonical dotted quad (ipe.ipaddr's quad: no leading zeros, each part <= 255) */
static int quad(const char *s, size_t n)
{
    int parts = 0, v = 0, nd = 0;
    if (n < 7 || n > 15) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (nd == 0 || ++parts > 3) return 0;
            v = nd = 0;
        } else if (is_digit(s[i])) {
            if (nd > 0 && v == 0) return 0;
            v = v * 10 + s[i] - '0';
            if (v > 255) return 0;
            nd++;
        } else {
            return 0;
        }
    }
    return parts == 3 && nd > 0;
}

static int lua_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* an integer of 1..15 characters ("-" counted), not -0: what coerce.int keeps as a number */
static int small_int(const char *s, size_t n, int64_t *out)
{
    size_t i = s[0] == '-';
    if (n > 15 || n == i) return 0;
    int64_t v = 0;
    for (size_t k = i; k < n; k++) {
        if (!is_digit(s[k])) return 0;
        v = v * 10 + (s[k] - '0');
    }
    if (i && v == 0) return 0;
    *out = i ? -v : v;
    return 1;
}

/* ---- the JSON of one line ---- */

struct cur {
    const char *s, *e;
};

static void ws(struct cur *c)
{
    while (c->s < c->e && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++;
}

static int hexv(int ch)
{
    if (is_digit(ch)) return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *e)
{
    if (e - p < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexv((unsigned char)p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static int utf8(struct buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 63)); u[2] = (char)(0x80 | (cp & 63)); n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63)); u[3] = (char)(0x80 | (cp & 63)); n = 4;
    }
    return put(b, u, n);
}

/* escape(c, out): one escape after a backslash; -1: not for the fast path */
static int escape(struct cur *c, struct buf *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (c->s >= c->e) return -1;
    const char *hit = memchr(from, *c->s, 8);
    if (hit && *c->s) { c->s++; return put(out, &to[hit - from], 1); }
    if (*c->s != 'u') return -1;
    int u = hex4(c->s + 1, c->e);
    if (u < 0) return -1;
    c->s += 5;
    if (u >= 0xDC00 && u <= 0xDFFF) return -1;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (c->e - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u') return -1;
        int lo = hex4(c->s + 2, c->e);
        if (lo < 0xDC00 || lo > 0xDFFF) return -1;
        c->s += 6;
        return utf8(out, 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00));
    }
    return utf8(out, (uint32_t)u);
}

/* string(c, out): c->s at the opening quote; the decoded text appended to out */
static int string(struct cur *c, struct buf *out)
{
    c->s++;
    while (c->s < c->e) {
        const char *p = c->s;
        while (p < c->e && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        if (put(out, c->s, (size_t)(p - c->s))) return -1;
        c->s = p;
        if (p >= c->e || (unsigned char)*p < 0x20) return -1;
        if (*p == '"') { c->s++; return 0; }
        c->s++;
        if (escape(c, out)) return -1;
    }
    return -1;
}

/* number(c) -> its length (strict JSON grammar) | 0 */
static size_t number(const struct cur *c)
{
    const char *p = c->s, *e = c->e;
    if (p < e && *p == '-') p++;
    if (p >= e || !is_digit(*p)) return 0;
    if (*p == '0') p++;
    else while (p < e && is_digit(*p)) p++;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p)) return 0;
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return 0;
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-')) return 0;
    return (size_t)(p - c->s);
}

/* store(P, ci, v): one value of the line; -1 when the column is already filled */
static int store(struct plan *P, int ci, struct val v)
{
    if (P->seen[ci] == P->gen) return -1;
    P->seen[ci] = P->gen;
    P->lshape[P->nl] = ci;
    P->lv[P->nl++] = v;
    return 0;
}

static int fits(const struct plan *P, int ci, int64_t v)
{
    return !P->i32 || !P->i32[ci - 1] || (v >= INT32_MIN && v <= INT32_MAX);
}

/* text_value(P, ci, off): a decoded string (in the arena from off) for column ci:
 * 0 stored or left out, -1 for Lua */
static int text_value(struct plan *P, int ci, size_t off)
{
    const char *s = P->arena.p + off;
    size_t n = P->arena.n - off;
    struct val v = {0, off, (uint32_t)n, 0};
    if (ci == P->type_ci) {
        P->arena.n = off;
        return n == P->tlen && memcmp(s, P->tname, n) == 0 ? 0 : -1;
    }
    switch (P->kind[ci - 1]) {
    case K_STR:
        return store(P, ci, v);
    case K_IP: {
        size_t k = 0;
        while (k < n && lua_space(s[k])) k++;
        if (k == n || (n == 1 && s[0] == '-')) { P->arena.n = off; return 0; }
        return quad(s, n) ? store(P, ci, v) : -1;
    }
    case K_TIME:
        if (n == 0) return 0;
        return workspace_time(s, n) ? store(P, ci, v) : -1;
    case K_INT:
        if (n == 0) return 0;
        if (!small_int(s, n, &v.i) || !fits(P, ci, v.i)) return -1;
        P->arena.n = off;
        v.is_int = 1;
        return store(P, ci, v);
    }
    return -1;
}

static int number_value(struct plan *P, int ci, const char *s, size_t n)
{
    struct val v = {0, P->arena.n, (uint32_t)n, 0};
    if (ci == P->type_ci) return -1;
    switch (P->kind[ci - 1]) {
    case K_STR:
        if (put(&P->arena, s, n)) return -1;
        return store(P, ci, v);
    case K_INT:
        if (!small_int(s, n, &v.i) || !fits(P, ci, v.i)) return -1;
        v.is_int = 1;
        return store(P, ci, v);
    }
    return -1;
}

/* member(P, c): one "name": value; 0 fine, -1 for Lua */
static int member(struct plan *P, struct cur *c)
{
    if (c->s >= c->e || *c->s != '"') return -1;
    const char *k = ++c->s;
    while (c->s < c->e && *c->s != '"' && *c->s != '\\') c->s++;
    if (c->s >= c->e || *c->s != '"') return -1;
    size_t kn = (size_t)(c->s - k);
    c->s++;
    ws(c);
    if (c->s >= c->e || *c->s != ':') return -1;
    c->s++;
    ws(c);
    if (c->s >= c->e) return -1;
    /* null: left out whatever the name (the mapper does not even look at it) */
    if (*c->s == 'n' && c->e - c->s >= 4 && memcmp(c->s, "null", 4) == 0) { c->s += 4; return 0; }
    int ci = find_key(P, k, kn);
    if (!ci) return -1;
    if (*c->s == '"') {
        size_t off = P->arena.n;
        if (string(c, &P->arena)) return -1;
        return text_value(P, ci, off);
    }
    size_t n = number(c);
    if (!n) return -1;
    c->s += n;
    return number_value(P, ci, c->s - n, n);
}

/* line(P, s, n): one line (no "\n") into the line arrays; 1 blank, 0 a row, -1 for Lua */
static int line(struct plan *P, const char *s, size_t n)
{
    struct cur c = {s, s + n};
    P->gen++;
    P->nl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0 || ch >= 0x80) return -1;
    }
    if (n && s[n - 1] == '\r') c.e--;
    const char *p = c.s;
    while (p < c.e && (*p == ' ' || *p == '\t')) p++;
    if (p == c.e) return 1;
    ws(&c);
    if (c.s >= c.e || *c.s != '{') return -1;
    c.s++;
    ws(&c);
    if (c.s < c.e && *c.s == '}') return -1;
    for (;;) {
        if (member(P, &c)) return -1;
        ws(&c);
        if (c.s < c.e && *c.s == ',') { c.s++; ws(&c); continue; }
        if (c.s < c.e && *c.s == '}') { c.s++; break; }
        return -1;
    }
    ws(&c);
    if (c.s != c.e) return -1;
    return P->seen[P->tg_ci] == P->gen ? 0 : -1;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* row_hash(P, v): ipe.ingest.load's row_hash of a row of the batch's shape */
static int row_hash(struct plan *P, const struct val *v, double *out)
{
    struct buf *b = &P->scratch;
    b->n = 0;
    if (put(b, P->tname, P->tlen)) return -1;
    for (int j = 0; j < P->nshape; j++) {
        int k = P->sorted[j];
        int ci = P->shape[k];
        if (!v[k].is_int && v[k].len == 0) continue;
        const char *cn = P->cname[ci - 1];
        if (put(b, cn, strlen(cn + 1) + 1)) return -1;
        if (v[k].is_int) {
            char num[24];
            int m = snprintf(num, sizeof num, "%lld", (long long)v[k].i);
            if (put(b, num, (size_t)m)) return -1;
        } else if (put(b, P->arena.p + v[k].off, v[k].len)) {
            return -1;
        }
    }
    *out = hash53((const unsigned char *)b->p, b->n, P->hk);
    return 0;
}

/* same_shape(P): the line's columns in the batch's order */
static int same_shape(const struct plan *P)
{
    return P->nl == P->nshape && memcmp(P->lshape, P->shape, sizeof(int) * (size_t)P->nl) == 0;
}

static void start_batch(struct plan *P)
{
    P->nshape = P->nl;
    memcpy(P->shape, P->lshape, sizeof(int) * (size_t)P->nl);
    for (int j = 0; j < P->nl; j++) P->sorted[j] = j;
    /* sort positions by column index (row_hash's column order) */
    int tmp[MAXC][2];
    for (int j = 0; j < P->nl; j++) { tmp[j][0] = P->shape[j]; tmp[j][1] = j; }
    qsort(tmp, (size_t)P->nl, sizeof tmp[0], cmp_int);
    for (int j = 0; j < P->nl; j++) P->sorted[j] = tmp[j][1];
}

/* add_row(P): the line's values into the batch; -1 when out of memory */
static int add_row(struct plan *P)
{
    if (P->nrows == P->cap_rows) return -1;
    struct val *v = P->vals + P->nrows * (size_t)P->ncol;
    memcpy(v, P->lv, sizeof(struct val) * (size_t)P->nl);
    if (row_hash(P, v, &P->hashes[P->nrows])) return -1;
    for (int j = 0; j < P->nl; j++) {
        if (P->shape[j] != P->tg_ci) continue;
        const char *t = P->arena.p + v[j].off;
        if (P->nrows == 0 || memcmp(t, P->tmin, 24) < 0) memcpy(P->tmin, t, 24);
        if (P->nrows == 0 || memcmp(t, P->tmax, 24) > 0) memcpy(P->tmax, t, 24);
    }
    P->nrows++;
    return 0;
}

static struct plan *check_plan(lua_State *L)
{
    struct plan *P = luaL_checkudata(L, 1, PLAN_MT);
    if (!P->kind) luaL_error(L, "jsonl: the plan is closed");
    return P;
}

static int l_parse(lua_State *L)
{
    struct plan *P = check_plan(L);
    size_t len;
    const char *buf = luaL_checklstring(L, 2, &len);
    size_t pos = (size_t)luaL_checknumber(L, 3) - 1, lines = 0;
    int status = ST_MORE;
    P->nrows = 0;
    P->arena.n = 0;
    while (pos < len) {
        const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        if (n > P->max_line) { status = ST_LUA; break; }
        if (!nl) break;
        size_t mark = P->arena.n;
        int r = line(P, s, n);
        if (r < 0) { P->arena.n = mark; status = ST_LUA; break; }
        if (r == 0) {
            if (P->nrows == 0) start_batch(P);
            if (!same_shape(P) || P->nrows == (size_t)P->batch) { P->arena.n = mark; status = ST_BATCH; break; }
            if (add_row(P)) { P->arena.n = mark; status = P->nrows ? ST_BATCH : ST_LUA; break; }
        }
        pos += n + 1;
        lines++;
        if (P->arena.n >= ARENA_MAX) { status = ST_BATCH; break; }
    }
    lua_pushnumber(L, (lua_Number)pos + 1);
    lua_pushnumber(L, (lua_Number)lines);
    lua_pushnumber(L, (lua_Number)P->nrows);
    lua_pushinteger(L, status);
    return 4;
}

static int l_shape(lua_State *L)
{
    struct plan *P = check_plan(L);
    lua_createtable(L, P->nshape, 0);
    for (int j = 0; j < P->nshape; j++) {
        lua_pushinteger(L, P->shape[j]);
        lua_rawseti(L, -2, j + 1);
    }
    return 1;
}

static int l_hashes(lua_State *L)
{
    struct plan *P = check_plan(L);
    lua_createtable(L, (int)P->nrows, 0);
    for (size_t i = 0; i < P->nrows; i++) {
        lua_pushnumber(L, P->hashes[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int l_dedup(lua_State *L)
{
    struct plan *P = check_plan(L);
    sqlite3_stmt *h = ipe_sqlite_stmt(L, 2);
    sqlite3_int64 id = (sqlite3_int64)luaL_checknumber(L, 3);
    sqlite3 *db = sqlite3_db_handle(h);
    if (sqlite3_bind_parameter_count(h) != 2) return luaL_error(L, "jsonl: the statement does not take a hash and an id");
    lua_newtable(L);
    int again = 0;
    for (size_t i = 0; i < P->nrows; i++) {
        sqlite3_reset(h);
        sqlite3_bind_int64(h, 1, (sqlite3_int64)P->hashes[i]);
        sqlite3_bind_int64(h, 2, id);
        if (sqlite3_step(h) != SQLITE_DONE) {
            lua_pushfstring(L, "sqlite: %s", sqlite3_errmsg(db));
            sqlite3_reset(h);
            sqlite3_clear_bindings(h);
            return lua_error(L);
        }
        if (sqlite3_changes(db) == 0) {
            lua_pushinteger(L, (lua_Integer)i + 1);
            lua_rawseti(L, -2, ++again);
        }
    }
    sqlite3_reset(h);
    sqlite3_clear_bindings(h);
    return 1;
}

static int l_span(lua_State *L)
{
    struct plan *P = check_plan(L);
    if (!P->nrows) return 0;
    lua_pushlstring(L, P->tmin, 24);
    lua_pushlstring(L, P->tmax, 24);
    return 2;
}

/* kept(L, idx, i): row i (0-based) is kept unless keep[i + 1] is false */
static int kept(lua_State *L, int idx, size_t i)
{
    lua_rawgeti(L, idx, (int)i + 1);
    int drop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return !drop;
}

static int l_emit_sqlite(lua_State *L)
{
    struct plan *P = check_plan(L);
    sqlite3_stmt *h = ipe_sqlite_stmt(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (sqlite3_bind_parameter_count(h) != P->nshape) return luaL_error(L, "jsonl: the statement does not fit the rows");
    size_t done = 0;
    for (size_t i = 0; i < P->nrows; i++) {
        if (!kept(L, 3, i)) continue;
        const struct val *v = P->vals + i * (size_t)P->ncol;
        sqlite3_reset(h);
        for (int j = 0; j < P->nshape; j++) {
            if (v[j].is_int) sqlite3_bind_int64(h, j + 1, v[j].i);
            else sqlite3_bind_text(h, j + 1, P->arena.p + v[j].off, (int)v[j].len, SQLITE_STATIC);
        }
        int rc = sqlite3_step(h);
        if (rc != SQLITE_DONE) {
            sqlite3 *db = sqlite3_db_handle(h);
            lua_pushfstring(L, "sqlite: %s", sqlite3_errmsg(db));
            sqlite3_reset(h);
            sqlite3_clear_bindings(h);
            return lua_error(L);
        }
        done++;
    }
    sqlite3_reset(h);
    sqlite3_clear_bindings(h);
    lua_pushnumber(L, (lua_Number)done);
    return 1;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* time_ms(s): epoch milliseconds of a workspace time (ipe.ingest.clickhouse's epoch_ms) */
static int64_t time_ms(const char *s)
{
    return ((days_from_civil(two(s) * 100 + two(s + 2), two(s + 5), two(s + 8)) * 24 + two(s + 11)) * 60
            + two(s + 14)) * 60000 + two(s + 17) * 1000 + (s[20] - '0') * 100 + two(s + 21);
}

/* clamp_secs(ms): the DateTime (UInt32 seconds) of epoch ms, as the Lua encoder clamps it */
static int64_t clamp_secs(int64_t e)
{
    int64_t secs = e >= 0 ? e / 1000 : -((-e + 999) / 1000);
    return secs < 0 ? 0 : secs > 4294967295LL ? 4294967295LL : secs;
}

static int json_text(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (put(b, "\"", 1)) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') { if (put(b, s + i, 1)) return -1; continue; }
        char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
        if (ch == '"' || ch == '\\') { e[1] = (char)ch; if (put(b, e, 2)) return -1; }
        else if (put(b, e, 6)) return -1;
    }
    return put(b, "\"", 1);
}

/* ch_value(P, b, ci, v): one member of a JSONEachRow line */
static int ch_value(struct plan *P, struct buf *b, int ci, const struct val *v)
{
    const char *pre = P->chpre[ci - 1];
    const char *s = P->arena.p + v->off;
    char num[64];
    int m;
    if (put(b, pre, strlen(pre))) return -1;
    switch (P->chkind[ci - 1]) {
    case CH_NUM:
        if (!v->is_int) return -1;
        m = snprintf(num, sizeof num, "%lld", (long long)v->i);
        return put(b, num, (size_t)m);
    case CH_TIME: {
        if (v->is_int || v->len != 24) return -1;
        int64_t e = time_ms(s), secs = clamp_secs(e);
        const char *ms = P->chpre[ci - 1] + strlen(pre) + 1;
        m = snprintf(num, sizeof num, "%lld,", (long long)secs);
        if (put(b, num, (size_t)m) || put(b, ms, strlen(ms))) return -1;
        m = snprintf(num, sizeof num, "%lld", (long long)e);
        return put(b, num, (size_t)m);
    }
    case CH_TIME64:
        if (v->is_int || v->len != 24) return -1;
        m = snprintf(num, sizeof num, "\"%.10s %.12s\"", s, s + 11);
        return put(b, num, (size_t)m);
    case CH_STR:
        if (v->is_int) {
            m = snprintf(num, sizeof num, "%lld", (long long)v->i);
            return json_text(b, num, (size_t)m);
        }
        return json_text(b, s, v->len);
    }
    return -1;
}

static int l_emit_json(lua_State *L)
{
    struct plan *P = check_plan(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t tlen;
    const char *tail = luaL_checklstring(L, 3, &tlen);
    if (!P->chpre) return luaL_error(L, "jsonl: the plan has no ClickHouse columns");
    struct buf *b = &P->scratch;
    b->n = 0;
    size_t done = 0;
    for (size_t i = 0; i < P->nrows; i++) {
        if (!kept(L, 2, i)) continue;
        const struct val *v = P->vals + i * (size_t)P->ncol;
        if ((done && put(b, "\n", 1)) || put(b, "{", 1)) return luaL_error(L, "jsonl: out of memory");
        for (int j = 0; j < P->nshape; j++) {
            if ((j && put(b, ",", 1)) || ch_value(P, b, P->shape[j], &v[j])) return luaL_error(L, "jsonl: out of memory");
        }
        if (put(b, tail, tlen)) return luaL_error(L, "jsonl: out of memory");
        done++;
    }
    lua_pushlstring(L, b->p ? b->p : "", b->n);
    lua_pushnumber(L, (lua_Number)done);
    return 2;
}

static int le(struct buf *b, uint64_t v, int bytes)
{
    unsigned char o[8];
    for (int i = 0; i < bytes; i++) o[i] = (unsigned char)(v >> (8 * i));
    return put(b, o, (size_t)bytes);
}

static int varint(struct buf *b, uint64_t v)
{
    unsigned char o[10];
    size_t n = 0;
    do {
        o[n] = (unsigned char)(v & 127);
        v >>= 7;
        if (v) o[n] |= 128;
        n++;
    } while (v);
    return put(b, o, n);
}

/* rb_value(P, b, code, x, id): one column of a RowBinary row (x: the value, NULL when none) */
static int rb_value(struct plan *P, struct buf *b, int code, const struct val *x, uint64_t id)
{
    const char *s = x ? P->arena.p + x->off : NULL;
    int nullable = code == RB_STR || code == RB_I32 || code == RB_I64 || code == RB_NULL || code == RB_NDT
                   || code == RB_NDT_MS;
    if (nullable && (!x || code == RB_NULL)) return le(b, 1, 1);
    if (nullable && le(b, 0, 1)) return -1;
    switch (code) {
    case RB_STR:
        if (x->is_int) return -1;
        return varint(b, x->len) || put(b, s, x->len);
    case RB_I32:
        return x->is_int ? le(b, (uint64_t)(uint32_t)(int32_t)x->i, 4) : -1;
    case RB_I64:
        return x->is_int ? le(b, (uint64_t)x->i, 8) : -1;
    case RB_DT:
    case RB_NDT:
        if (!x || x->is_int || x->len != 24) return -1;
        return le(b, (uint64_t)clamp_secs(time_ms(s)), 4);
    case RB_DT_MS:
    case RB_NDT_MS:
        if (!x || x->is_int || x->len != 24) return -1;
        return le(b, (uint64_t)time_ms(s), 8);
    case RB_TYPE:
        return le(b, 0, 1) || varint(b, P->tlen) || put(b, P->tname, P->tlen);
    case RB_ID:
        return le(b, id, 8);
    }
    return -1;
}

static int l_emit_rowbinary(lua_State *L)
{
    struct plan *P = check_plan(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    uint64_t id = (uint64_t)luaL_checknumber(L, 3);
    if (!P->bincode) return luaL_error(L, "jsonl: the plan has no RowBinary columns");
    int pos[MAXC];
    for (int i = 0; i <= P->ncol; i++) pos[i] = -1;
    for (int j = 0; j < P->nshape; j++) pos[P->shape[j]] = j;
    struct buf *b = &P->scratch;
    b->n = 0;
    size_t done = 0;
    for (size_t i = 0; i < P->nrows; i++) {
        if (!kept(L, 2, i)) continue;
        const struct val *v = P->vals + i * (size_t)P->ncol;
        for (int k = 0; k < P->nbin; k++) {
            int ci = P->binsrc[k];
            const struct val *x = ci > 0 && ci <= P->ncol && pos[ci] >= 0 ? &v[pos[ci]] : NULL;
            if (rb_value(P, b, P->bincode[k], x, id)) return luaL_error(L, "jsonl: a row does not fit RowBinary");
        }
        done++;
    }
    lua_pushlstring(L, b->p ? b->p : "", b->n);
    lua_pushnumber(L, (lua_Number)done);
    return 2;
}

static void free_plan(struct plan *P)
{
    for (int i = 0; P->cname && i < P->ncol; i++) free(P->cname[i]);
    for (int i = 0; P->chpre && i < P->ncol; i++) free(P->chpre[i]);
    for (size_t i = 0; P->keys && i < P->nkeys; i++) free(P->keys[i].name);
    free(P->bincode); free(P->binsrc); free(P->i32);
    free(P->cname); free(P->chpre); free(P->chkind); free(P->kind); free(P->tname); free(P->keys);
    free(P->vals); free(P->hashes); free(P->arena.p); free(P->scratch.p); free(P->seen);
    memset(P, 0, sizeof *P);
}

static int l_gc(lua_State *L)
{
    free_plan(luaL_checkudata(L, 1, PLAN_MT));
    return 0;
}

/* field(L, t, name, i) -> string field t[name][i] (or t[name] for i == 0), copied */
static char *dup_field(lua_State *L, int t, const char *name, int i, size_t *len, int wrap)
{
    lua_getfield(L, t, name);
    if (i) {
        lua_rawgeti(L, -1, i);
        lua_remove(L, -2);
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s) luaL_error(L, "jsonl.plan: %s[%d] must be a string", name, i);
    char *out = malloc(n + 3);
    if (!out) luaL_error(L, "jsonl.plan: out of memory");
    if (wrap) { out[0] = 0; memcpy(out + 1, s, n); out[n + 1] = 1; out[n + 2] = 0; }
    else { memcpy(out, s, n); out[n] = 0; }
    lua_pop(L, 1);
    if (len) *len = n;
    return out;
}

static int int_field(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    int v = (int)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static void read_keys(lua_State *L, struct plan *P, int t)
{
    size_t n = 0;
    lua_getfield(L, t, "keys");
    luaL_checktype(L, -1, LUA_TTABLE);
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) n++;
    P->nkeys = 16;
    while (P->nkeys < 2 * n + 2) P->nkeys *= 2;
    P->keys = calloc(P->nkeys, sizeof *P->keys);
    if (!P->keys) luaL_error(L, "jsonl.plan: out of memory");
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        int ci = (int)lua_tonumber(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || ci < 1 || ci > P->ncol) continue;
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        if (!find_key(P, k, kl)) add_key(P, k, kl, ci);
    }
    lua_pop(L, 1);
}

/* read_bin(L, P, ch): spec.ch.bin = {code, ...} and spec.ch.src = {ci or 0, ...} */
static void read_bin(lua_State *L, struct plan *P, int ch)
{
    lua_getfield(L, ch, "bin");
    lua_getfield(L, ch, "src");
    if (lua_istable(L, -2) && lua_istable(L, -1)) {
        P->nbin = (int)lua_objlen(L, -2);
        P->bincode = calloc((size_t)P->nbin + 1, sizeof *P->bincode);
        P->binsrc = calloc((size_t)P->nbin + 1, sizeof *P->binsrc);
        P->i32 = calloc((size_t)P->ncol, 1);
        if (!P->bincode || !P->binsrc || !P->i32) luaL_error(L, "jsonl.plan: out of memory");
        for (int k = 0; k < P->nbin; k++) {
            lua_rawgeti(L, -2, k + 1);
            P->bincode[k] = (int)lua_tonumber(L, -1);
            lua_rawgeti(L, -2, k + 1);
            P->binsrc[k] = (int)lua_tonumber(L, -1);
            lua_pop(L, 2);
            if (P->bincode[k] == RB_I32 && P->binsrc[k] >= 1 && P->binsrc[k] <= P->ncol) P->i32[P->binsrc[k] - 1] = 1;
        }
    }
    lua_pop(L, 2);
}

static void read_ch(lua_State *L, struct plan *P, int t)
{
    lua_getfield(L, t, "ch");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    read_bin(L, P, lua_gettop(L));
    lua_getfield(L, -1, "prefix");
    lua_getfield(L, -2, "kind");
    int has_prefix = lua_istable(L, -1) && lua_istable(L, -2);
    lua_pop(L, 2);
    if (has_prefix) {
        int ch = lua_gettop(L);
        P->chpre = calloc((size_t)P->ncol, sizeof *P->chpre);
        P->chkind = calloc((size_t)P->ncol, sizeof *P->chkind);
        if (!P->chpre || !P->chkind) luaL_error(L, "jsonl.plan: out of memory");
        for (int i = 1; i <= P->ncol; i++) {
            /* prefix = "\"Name\":" and, for a split time, "\0\"Name_ms\":" after it */
            lua_getfield(L, ch, "prefix");
            lua_rawgeti(L, -1, i);
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            P->chpre[i - 1] = malloc(n + 1);
            if (!P->chpre[i - 1]) luaL_error(L, "jsonl.plan: out of memory");
            if (s) memcpy(P->chpre[i - 1], s, n);
            P->chpre[i - 1][s ? n : 0] = 0;
            lua_pop(L, 2);
            lua_getfield(L, ch, "kind");
            lua_rawgeti(L, -1, i);
            P->chkind[i - 1] = (int)lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
    }
    lua_pop(L, 1);
}

static int l_plan(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct plan *P = lua_newuserdata(L, sizeof *P);
    memset(P, 0, sizeof *P);
    luaL_getmetatable(L, PLAN_MT);
    lua_setmetatable(L, -2);
    static const char *const tables[] = {"names", "kinds", "keys"};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, 1, tables[i]);
        if (!lua_istable(L, -1)) return luaL_error(L, "jsonl.plan: spec.%s must be a table", tables[i]);
        lua_pop(L, 1);
    }
    lua_getfield(L, 1, "names");
    P->ncol = (int)lua_objlen(L, -1);
    lua_pop(L, 1);
    if (P->ncol < 1 || P->ncol >= MAXC) return luaL_error(L, "jsonl.plan: 1 to %d columns", MAXC - 1);
    P->cname = calloc((size_t)P->ncol, sizeof *P->cname);
    P->kind = calloc((size_t)P->ncol, sizeof *P->kind);
    P->seen = calloc((size_t)P->ncol + 1, sizeof *P->seen);
    if (!P->cname || !P->kind || !P->seen) return luaL_error(L, "jsonl.plan: out of memory");
    for (int i = 1; i <= P->ncol; i++) {
        P->cname[i - 1] = dup_field(L, 1, "names", i, NULL, 1);
        lua_getfield(L, 1, "kinds");
        lua_rawgeti(L, -1, i);
        P->kind[i - 1] = (int)lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    P->tname = dup_field(L, 1, "table", 0, &P->tlen, 0);
    P->type_ci = int_field(L, 1, "type_ci");
    P->tg_ci = int_field(L, 1, "tg_ci");
    P->max_line = (size_t)int_field(L, 1, "max_line");
    P->batch = int_field(L, 1, "batch");
    if (P->tg_ci < 1 || P->tg_ci > P->ncol || P->batch < 1) return luaL_error(L, "jsonl.plan: bad tg_ci or batch");
    lua_getfield(L, 1, "hash_key");    /* none: no duplicate check, the hashes unused */
    for (int i = 0; lua_istable(L, -1) && i < 4; i++) {
        lua_rawgeti(L, -1, i + 1);
        P->hk[i] = (uint32_t)(int64_t)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    read_keys(L, P, 1);
    read_ch(L, P, 1);
    P->cap_rows = (size_t)P->batch;
    P->vals = malloc(sizeof(struct val) * (size_t)P->ncol * P->cap_rows);
    P->hashes = malloc(sizeof(double) * P->cap_rows);
    if (!P->vals || !P->hashes) return luaL_error(L, "jsonl.plan: out of memory");
    return 1;
}

static const luaL_Reg methods[] = {
    {"parse", l_parse}, {"shape", l_shape}, {"hashes", l_hashes}, {"dedup", l_dedup}, {"span", l_span},
    {"emit_sqlite", l_emit_sqlite}, {"emit_json", l_emit_json}, {"emit_rowbinary", l_emit_rowbinary},
    {NULL, NULL}};

int luaopen_ipe_jsonl(lua_State *L)
{
    luaL_newmetatable(L, PLAN_MT);
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_plan);
    lua_setfield(L, -2, "plan");
    return 1;
}
