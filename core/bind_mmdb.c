/* bind_mmdb.c — ipe.mmdb: MaxMind DB files (libmaxminddb) behind ctx.geo.
 *
 *   r, err = mmdb.open(path)        reader | nil, "<path>: <reason>"
 *   r:metadata()                    {database_type=, build_epoch=, ip_version=, languages={...},
 *                                    description={lang=text}, node_count=, record_size=,
 *                                    binary_format="2.0", file_size=}
 *   rec, prefix = r:lookup(ip)      the whole record as Lua values | false, prefix (not found)
 *                                   | nil, "not covered" (IPv6 asked of an IPv4-only database)
 *                                   | nil, "<path>: lookup of <ip> failed: <reason>"
 *                                   | nil, "'<ip>' is not an IP address"
 *   spec = mmdb.fields{"city.names.en", "subdivisions.0.iso_code", ...}
 *   found, prefix = r:lookup_into(ip, spec, t [, base])
 *                                   the bulk fast path: decodes the record once and stores only
 *                                   the scalar (string, number, boolean) at path i in t[base + i]
 *                                   — nil when the path is absent or holds a map or an array;
 *                                   every slot is cleared first. Returns like lookup, with true
 *                                   for a record.
 *   found, prefix, offset = r:locate(ip)   the lookup alone: offset names the record (many
 *                                   networks share one), for callers that cache decodes
 *   ok, err = r:decode_into(offset, spec, t [, base [, ip]])   the record at an offset from
 *                                   locate, decoded like lookup_into, slots of absent paths left
 *                                   untouched (ip only names the lookup in an error)
 *   r:verify()                      true | nil, "<path>: <reason>" (the whole-tree check below)
 *   r:close(), r:path(), mmdb.lib_version()
 *
 * ip is canonical text (IPv4 dotted quad or IPv6; IPv4-mapped IPv6 is IPv4): callers
 * normalize first (ipe.ipaddr). Values: maps -> tables, arrays -> lists (1-based), strings and
 * bytes -> strings, booleans, numbers; uint64/uint128 above 2^53 -> exact decimal strings; a
 * 32-bit float becomes the double of its shortest decimal (the float nearest 47.2476 reads back
 * as 47.2476, not 47.24760055541992). Path components that are all digits also index arrays
 * (0-based, as in mmdblookup). Records nest at most 64 deep.
 *
 * open() refuses, with one line naming the file, what libmaxminddb refuses plus what a
 * careful reader must not trust: metadata without a database_type, an ip_version other than
 * 4 or 6, a build_epoch after the year 9999, a search tree larger than the file, a non-zero
 * data section separator and — for trees of up to 2^20 nodes, where it takes a few ms — a
 * tree with a record that points into the separator or past the data section, a path deeper
 * than the address, or nodes no lookup can reach. Bigger trees (a GeoLite2 City has ~4M
 * nodes: 40-80 ms, mostly page faults) get that walk from r:verify(), which bulk callers run
 * once. libmaxminddb bounds-checks every lookup, so an unverified tree can give a wrong
 * answer or a lookup error, never a crash or a hang. Bad data under one record is reported
 * when that record is looked up. Nothing here raises for bad input or a bad file (errors are
 * returned as nil, message); programming errors (a closed reader, a bad spec, a wrong type)
 * raise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <maxminddb.h>
#include <lauxlib.h>
#include "ipe.h"

#define READER_MT "ipe.mmdb.reader"
#define SPEC_MT "ipe.mmdb.fields"
#define MAX_DEPTH 64              /* nesting of maps and arrays in one record */
#define MAX_PATH_PARTS 16
#define METADATA_WINDOW (128 * 1024) /* the metadata marker lies in the file's last 128 KiB */
#define LATEST_EPOCH 253402300799ULL /* 9999-12-31T23:59:59Z */
#define FULL_CHECK_NODES (1u << 20)  /* open() walks trees up to this size (a few ms) */

static const char METADATA_MARKER[] = "\xab\xcd\xefMaxMind.com";

struct reader {
    MMDB_s db;
    int open;
    MMDB_entry_data_list_s *pending; /* a decode a Lua error cut short; freed on the next call */
    char *path;                      /* as given */
    char *shown;                     /* escaped for messages */
};

struct tnode {
    const char *key; /* path component */
    uint32_t klen;
    long index;      /* the component as an array index, or -1 */
    int slot;        /* >= 0: the value here goes to slot + 1 */
    int child, sibling;
};

struct spec {
    int nnodes, nslots;
    struct tnode nodes[]; /* node 0 is the record itself; component text follows the nodes */
};

/* ---------------------------------------------------------------- messages */

/* path as shown in messages: control bytes and backslashes escaped, UTF-8 kept. */
static char *escape_path(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\') { *o++ = '\\'; *o++ = '\\'; }
        else if (*p == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (*p == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (*p == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (*p < 0x20 || *p == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\'; *o++ = 'x'; *o++ = hex[*p >> 4]; *o++ = hex[*p & 15];
        } else *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

/* 'text' quoted as ipe.ipaddr.quote does: at most 80 bytes (77 + "..."), control bytes, backslash
 * and bytes >= 0x7f escaped. */
static void push_quoted(lua_State *L, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    luaL_Buffer b;
    int cut = n > 80;
    if (cut) n = 77;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') luaL_addstring(&b, "\\\\");
        else if (c == '\n') luaL_addstring(&b, "\\n");
        else if (c == '\r') luaL_addstring(&b, "\\r");
        else if (c == '\t') luaL_addstring(&b, "\\t");
        else if (c < 0x20 || c >= 0x7f) {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            luaL_addlstring(&b, e, 4);
        } else luaL_addchar(&b, (char)c);
    }
    if (cut) luaL_addstring(&b, "...");
    luaL_addchar(&b, '\'');
    luaL_pushresult(&b);
}

static const char *open_reason(int status)
{
    switch (status) {
    case MMDB_CORRUPT_SEARCH_TREE_ERROR: return "the search tree is corrupt";
    case MMDB_INVALID_METADATA_ERROR: return "the metadata is invalid";
    case MMDB_IO_ERROR: return "read error";
    case MMDB_OUT_OF_MEMORY_ERROR: return "out of memory";
    case MMDB_UNKNOWN_DATABASE_FORMAT_ERROR: return "unsupported MaxMind DB binary format version";
    case MMDB_INVALID_DATA_ERROR: return "the metadata section contains bad data";
    case MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR: return "the metadata is incomplete";
    default: return MMDB_strerror(status);
    }
}

static const char *lookup_reason(int status)
{
    switch (status) {
    case MMDB_CORRUPT_SEARCH_TREE_ERROR: return "the search tree is corrupt";
    case MMDB_INVALID_NODE_NUMBER_ERROR: return "the search tree is corrupt (invalid node number)";
    case MMDB_INVALID_DATA_ERROR: return "the data section contains bad data";
    case MMDB_OUT_OF_MEMORY_ERROR: return "out of memory";
    default: return MMDB_strerror(status);
    }
}

static int open_fail(lua_State *L, const char *path, const char *fmt, ...)
{
    char *shown = escape_path(path);
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", shown ? shown : path, reason);
    free(shown);
    return 2;
}

static int lookup_fail(lua_State *L, const struct reader *r, const char *ip, const char *reason)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: lookup of %s failed: %s", r->shown, ip, reason);
    return 2;
}

/* ---------------------------------------------------------------- open and verify */

/* The file must exist, be a regular non-empty file and hold the metadata marker. */
static int precheck(lua_State *L, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_fail(L, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return open_fail(L, path, "%s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) { close(fd); return open_fail(L, path, "is a directory"); }
    if (!S_ISREG(st.st_mode)) { close(fd); return open_fail(L, path, "is not a regular file"); }
    if (st.st_size == 0) { close(fd); return open_fail(L, path, "is empty"); }
    size_t want = st.st_size < METADATA_WINDOW ? (size_t)st.st_size : METADATA_WINDOW;
    char *buf = malloc(want);
    if (!buf) { close(fd); return open_fail(L, path, "out of memory"); }
    ssize_t got = pread(fd, buf, want, st.st_size - (off_t)want);
    int e = errno;
    close(fd);
    if (got < 0) { free(buf); return open_fail(L, path, "%s", strerror(e)); }
    int found = memmem(buf, (size_t)got, METADATA_MARKER, sizeof METADATA_MARKER - 1) != NULL;
    free(buf);
    if (!found) return open_fail(L, path, "not a MaxMind DB file (no metadata section)");
    return 0;
}

static void read_node(const uint8_t *p, uint16_t rs, uint32_t *left, uint32_t *right)
{
    if (rs == 24) {
        *left = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        *right = (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
    } else if (rs == 28) {
        *left = (uint32_t)(p[3] & 0xf0) << 20 | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        *right = (uint32_t)(p[3] & 0x0f) << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
    } else {
        *left = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        *right = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    }
}

/* The checks that cost nothing: NULL when they pass, else the reason (in buf). */
static const char *check_layout(const MMDB_s *db, char *buf, size_t cap)
{
    uint32_t n = db->metadata.node_count;
    uint16_t rs = db->metadata.record_size;
    if (n == 0) return "the search tree is empty (node_count 0)";
    if (rs != 24 && rs != 28 && rs != 32) {
        snprintf(buf, cap, "unsupported record_size %u", rs);
        return buf;
    }
    size_t tree = (size_t)n * (rs / 4);
    if (db->file_size < 0 || tree + 16 > (size_t)db->file_size) return "the search tree is larger than the file";
    for (int i = 0; i < 16; i++)
        if (db->file_content[tree + i] != 0) return "the data section separator is not 16 zero bytes";
    return NULL;
}

/* One pass over the whole search tree (after check_layout): NULL when it is sound, else the
 * reason (in buf). Costs O(node_count): about 10 ns a node plus faulting the tree in. */
static const char *verify_tree(const MMDB_s *db, char *buf, size_t cap)
{
    uint32_t n = db->metadata.node_count;
    uint16_t rs = db->metadata.record_size;
    int bits = db->metadata.ip_version == 6 ? 128 : 32;
    size_t width = (size_t)rs / 4;
    uint8_t *seen = calloc(n / 8 + 1, 1);
    struct { uint32_t node; int depth; } *stack = malloc(sizeof *stack * (size_t)(2 * bits + 8));
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return "out of memory while checking the search tree";
    }
    const char *why = NULL;
    uint32_t reached = 1;
    int top = 0;
    seen[0] = 1;
    stack[top].node = 0;
    stack[top++].depth = 0;
    while (top > 0 && !why) {
        top--;
        uint32_t node = stack[top].node;
        int depth = stack[top].depth;
        uint32_t rec[2];
        read_node(db->file_content + (size_t)node * width, rs, &rec[0], &rec[1]);
        for (int side = 0; side < 2 && !why; side++) {
            uint32_t r = rec[side];
            if (r < n) {
                if (depth + 1 >= bits) {
                    snprintf(buf, cap, "the search tree is corrupt (node %u leads deeper than %d bits)", node, bits);
                    why = buf;
                } else if (!(seen[r >> 3] & (1u << (r & 7)))) {
                    seen[r >> 3] |= (uint8_t)(1u << (r & 7));
                    reached++;
                    if (top >= 2 * bits + 8) { why = "the search tree is corrupt (too deep)"; break; }
                    stack[top].node = r;
                    stack[top++].depth = depth + 1;
                }
            } else if (r > n && r < n + 16) {
                snprintf(buf, cap, "the search tree is corrupt (node %u points into the data section separator)", node);
                why = buf;
            } else if (r >= n + 16 && (uint64_t)r - n - 16 >= db->data_section_size) {
                snprintf(buf, cap, "the search tree is corrupt (node %u points past the end of the data section)", node);
                why = buf;
            }
        }
    }
    free(seen);
    free(stack);
    if (!why && reached != n) {
        snprintf(buf, cap, "the search tree is corrupt (%u of its %u nodes are unreachable)", n - reached, n);
        why = buf;
    }
    return why;
}

static const char *verify_metadata(const MMDB_metadata_s *m, char *buf, size_t cap)
{
    if (!m->database_type || !*m->database_type) return "the metadata has no database_type";
    if (m->ip_version != 4 && m->ip_version != 6) {
        snprintf(buf, cap, "the metadata ip_version %u is neither 4 nor 6", m->ip_version);
        return buf;
    }
    if (m->build_epoch > LATEST_EPOCH) {
        snprintf(buf, cap, "the metadata build_epoch %llu is not a plausible time",
                 (unsigned long long)m->build_epoch);
        return buf;
    }
    return NULL;
}

static int l_open(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (strlen(path) != len) return open_fail(L, path, "the path holds a NUL byte");
    int rc = precheck(L, path);
    if (rc) return rc;
    struct reader *r = lua_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    luaL_getmetatable(L, READER_MT);
    lua_setmetatable(L, -2);
    errno = 0;
    int status = MMDB_open(path, MMDB_MODE_MMAP, &r->db);
    if (status != MMDB_SUCCESS) {
        int e = errno;
        if ((status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) && e)
            return open_fail(L, path, "%s", strerror(e));
        return open_fail(L, path, "%s", open_reason(status));
    }
    r->open = 1;
    char buf[160];
    const char *why = verify_metadata(&r->db.metadata, buf, sizeof buf);
    if (!why) why = check_layout(&r->db, buf, sizeof buf);
    if (!why && r->db.metadata.node_count <= FULL_CHECK_NODES) why = verify_tree(&r->db, buf, sizeof buf);
    if (why) {
        MMDB_close(&r->db);
        r->open = 0;
        return open_fail(L, path, "%s", why);
    }
    r->path = strdup(path);
    r->shown = escape_path(path);
    if (!r->path || !r->shown) {
        MMDB_close(&r->db);
        r->open = 0;
        free(r->path);
        free(r->shown);
        r->path = r->shown = NULL;
        return open_fail(L, path, "out of memory");
    }
    return 1;
}

static void free_pending(struct reader *r)
{
    if (r->pending) MMDB_free_entry_data_list(r->pending);
    r->pending = NULL;
}

static void release(struct reader *r)
{
    free_pending(r);
    if (r->open) MMDB_close(&r->db);
    r->open = 0;
    free(r->path);
    free(r->shown);
    r->path = r->shown = NULL;
}

static int l_close(lua_State *L)
{
    release(luaL_checkudata(L, 1, READER_MT));
    return 0;
}

/* The methods carry the two metatables as upvalues: checking a userdata against them costs no
 * registry lookup (luaL_checkudata interns the type name on every call; lookups are hot). */
static void *check_type(lua_State *L, int idx, int upvalue, const char *what)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx) || !lua_rawequal(L, -1, lua_upvalueindex(upvalue))) luaL_typerror(L, idx, what);
    lua_pop(L, 1);
    return p;
}

static struct reader *check_reader(lua_State *L)
{
    struct reader *r = check_type(L, 1, 1, "mmdb reader");
    if (!r->open) luaL_error(L, "mmdb: the database is closed");
    free_pending(r);
    return r;
}

static const struct spec *check_spec(lua_State *L, int idx) { return check_type(L, idx, 2, "mmdb.fields spec"); }

/* r:verify() -> true | nil, "<path>: <reason>": the whole-tree check for any size. */
static int l_verify(lua_State *L)
{
    struct reader *r = check_reader(L);
    char buf[160];
    const char *why = verify_tree(&r->db, buf, sizeof buf);
    if (!why) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", r->shown, why);
    return 2;
}

static int l_path(lua_State *L)
{
    lua_pushstring(L, check_reader(L)->path);
    return 1;
}

static int l_tostring(lua_State *L)
{
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    if (r->open) lua_pushfstring(L, "mmdb reader (%s)", r->shown);
    else lua_pushliteral(L, "mmdb reader (closed)");
    return 1;
}

/* ---------------------------------------------------------------- values */

static void push_u128(lua_State *L, const uint8_t be[16])
{
    uint8_t v[16];
    char digits[48];
    int nd = 0;
    memcpy(v, be, 16);
    for (;;) {
        int zero = 1;
        unsigned rem = 0;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem << 8 | v[i];
            v[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (v[i]) zero = 0;
        }
        digits[nd++] = (char)('0' + rem);
        if (zero) break;
    }
    char out[48];
    for (int i = 0; i < nd; i++) out[i] = digits[nd - 1 - i];
    lua_pushlstring(L, out, (size_t)nd);
}

static void push_u64(lua_State *L, uint64_t v)
{
    if (v <= (1ULL << 53)) {
        lua_pushnumber(L, (lua_Number)v);
        return;
    }
    uint8_t be[16] = {0};
    for (int i = 0; i < 8; i++) be[15 - i] = (uint8_t)(v >> (8 * i));
    push_u128(L, be);
}

static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double nearest the shortest decimal that reads back as the same float. */
static double short_float(float f)
{
    double v = f;
    if (!isfinite(v) || v == 0) return v;
    int e10 = (int)floor(log10(fabs(v)));
    for (int digits = 1; digits <= 9; digits++) {
        int k = digits - 1 - e10;
        double d;
        if (k >= 0 && k <= 22) d = round(v * P10[k]) / P10[k];
        else if (k < 0 && -k <= 22) d = round(v / P10[-k]) * P10[-k];
        else return v;
        if ((float)d == f) return d;
    }
    return v;
}

/* Push the value starting at e; returns the entry after it (NULL at the end of the list).
 * On bad data sets *err and returns NULL (the Lua stack may hold partial values). */
static MMDB_entry_data_list_s *push_value(lua_State *L, MMDB_entry_data_list_s *e, int depth, const char **err)
{
    if (!e) { *err = "the record ends early"; return NULL; }
    if (depth > MAX_DEPTH) { *err = "the record nests too deeply"; return NULL; }
    if (!lua_checkstack(L, 4)) { *err = "the record nests too deeply"; return NULL; }
    MMDB_entry_data_s *d = &e->entry_data;
    switch (d->type) {
    case MMDB_DATA_TYPE_MAP: {
        uint32_t n = d->data_size;
        lua_createtable(L, 0, n < 64 ? (int)n : 64);
        e = e->next;
        for (uint32_t i = 0; i < n; i++) {
            if (!e || e->entry_data.type != MMDB_DATA_TYPE_UTF8_STRING) {
                *err = e ? "a map key is not a string" : "the record ends early";
                return NULL;
            }
            lua_pushlstring(L, e->entry_data.utf8_string, e->entry_data.data_size);
            e = push_value(L, e->next, depth + 1, err);
            if (*err) return NULL;
            lua_rawset(L, -3);
        }
        return e;
    }
    case MMDB_DATA_TYPE_ARRAY: {
        uint32_t n = d->data_size;
        lua_createtable(L, n < 64 ? (int)n : 64, 0);
        e = e->next;
        for (uint32_t i = 0; i < n; i++) {
            e = push_value(L, e, depth + 1, err);
            if (*err) return NULL;
            lua_rawseti(L, -2, (int)i + 1);
        }
        return e;
    }
    case MMDB_DATA_TYPE_UTF8_STRING: lua_pushlstring(L, d->utf8_string, d->data_size); break;
    case MMDB_DATA_TYPE_BYTES: lua_pushlstring(L, (const char *)d->bytes, d->data_size); break;
    case MMDB_DATA_TYPE_DOUBLE: lua_pushnumber(L, d->double_value); break;
    case MMDB_DATA_TYPE_FLOAT: lua_pushnumber(L, short_float(d->float_value)); break;
    case MMDB_DATA_TYPE_UINT16: lua_pushnumber(L, d->uint16); break;
    case MMDB_DATA_TYPE_UINT32: lua_pushnumber(L, d->uint32); break;
    case MMDB_DATA_TYPE_INT32: lua_pushnumber(L, d->int32); break;
    case MMDB_DATA_TYPE_UINT64: push_u64(L, d->uint64); break;
    case MMDB_DATA_TYPE_UINT128: {
        uint8_t be[16];
#if MMDB_UINT128_IS_BYTE_ARRAY
        memcpy(be, d->uint128, 16);
#else
        mmdb_uint128_t v = d->uint128;
        for (int i = 15; i >= 0; i--) { be[i] = (uint8_t)v; v >>= 8; }
#endif
        int small = 1;
        for (int i = 0; i < 9; i++) if (be[i]) small = 0;
        if (small && !(be[9] & 0xc0)) {
            uint64_t v64 = 0;
            for (int i = 8; i < 16; i++) v64 = v64 << 8 | be[i];
            push_u64(L, v64);
        } else push_u128(L, be);
        break;
    }
    case MMDB_DATA_TYPE_BOOLEAN: lua_pushboolean(L, d->boolean); break;
    default: *err = "the record holds an unknown data type"; return NULL;
    }
    return e->next;
}

/* Skip the value starting at e without pushing anything. */
static MMDB_entry_data_list_s *skip_value(MMDB_entry_data_list_s *e, int depth, const char **err)
{
    if (!e) { *err = "the record ends early"; return NULL; }
    if (depth > MAX_DEPTH) { *err = "the record nests too deeply"; return NULL; }
    uint32_t type = e->entry_data.type, n = e->entry_data.data_size;
    if (type != MMDB_DATA_TYPE_MAP && type != MMDB_DATA_TYPE_ARRAY) return e->next;
    e = e->next;
    for (uint32_t i = 0; i < n; i++) {
        if (type == MMDB_DATA_TYPE_MAP) {
            if (!e) { *err = "the record ends early"; return NULL; }
            e = e->next;
        }
        e = skip_value(e, depth + 1, err);
        if (*err) return NULL;
    }
    return e;
}

/* ---------------------------------------------------------------- lookups */

union addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
};

/* Parse ip text; 0 when it is not an address. IPv4-mapped IPv6 becomes IPv4. */
static int parse_ip(const char *s, size_t n, union addr *a)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n)) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, buf, &a->v4.sin_addr) == 1) {
        a->v4.sin_family = AF_INET;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, buf, &a->v6.sin6_addr) != 1) return 0;
    if (IN6_IS_ADDR_V4MAPPED(&a->v6.sin6_addr)) {
        struct in_addr v4;
        memcpy(&v4, a->v6.sin6_addr.s6_addr + 12, 4);
        memset(a, 0, sizeof *a);
        a->v4.sin_family = AF_INET;
        a->v4.sin_addr = v4;
        return AF_INET;
    }
    a->v6.sin6_family = AF_INET6;
    return AF_INET6;
}

/* Look up argument 2. Returns 0 with *res (and *prefix) set, or the number of values pushed. */
static int find(lua_State *L, struct reader *r, MMDB_lookup_result_s *res, int *prefix)
{
    size_t n;
    const char *ip = luaL_checklstring(L, 2, &n);
    union addr a;
    int family = parse_ip(ip, n, &a);
    if (!family) {
        lua_pushnil(L);
        push_quoted(L, ip, n);
        lua_pushliteral(L, " is not an IP address");
        lua_concat(L, 2);
        return 2;
    }
    if (family == AF_INET6 && r->db.metadata.ip_version == 4) {
        lua_pushnil(L);
        lua_pushliteral(L, "not covered");
        return 2;
    }
    int status = MMDB_SUCCESS;
    *res = MMDB_lookup_sockaddr(&r->db, &a.sa, &status);
    if (status == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
        lua_pushnil(L);
        lua_pushliteral(L, "not covered");
        return 2;
    }
    if (status != MMDB_SUCCESS) return lookup_fail(L, r, ip, lookup_reason(status));
    int p = res->netmask;
    if (family == AF_INET && r->db.metadata.ip_version == 6) p = p >= 96 ? p - 96 : 0;
    *prefix = p;
    return 0;
}

/* The record's entry list, kept in r->pending until the next call. */
static MMDB_entry_data_list_s *entries(lua_State *L, struct reader *r, MMDB_lookup_result_s *res, const char *what,
                                       int *nret)
{
    MMDB_entry_data_list_s *list = NULL;
    int status = MMDB_get_entry_data_list(&res->entry, &list);
    if (status != MMDB_SUCCESS || !list) {
        if (list) MMDB_free_entry_data_list(list);
        *nret = lookup_fail(L, r, what, status != MMDB_SUCCESS ? lookup_reason(status) : "the record is empty");
        return NULL;
    }
    r->pending = list;
    return list;
}

static int l_lookup(lua_State *L)
{
    struct reader *r = check_reader(L);
    MMDB_lookup_result_s res;
    int prefix = 0, nret = find(L, r, &res, &prefix);
    if (nret) return nret;
    if (!res.found_entry) {
        lua_pushboolean(L, 0);
        lua_pushinteger(L, prefix);
        return 2;
    }
    MMDB_entry_data_list_s *list = entries(L, r, &res, lua_tostring(L, 2), &nret);
    if (!list) return nret;
    int top = lua_gettop(L);
    const char *err = NULL;
    push_value(L, list, 0, &err);
    free_pending(r);
    if (err) {
        lua_settop(L, top);
        return lookup_fail(L, r, lua_tostring(L, 2), err);
    }
    lua_pushinteger(L, prefix);
    return 2;
}

static MMDB_entry_data_list_s *walk(lua_State *L, const struct spec *sp, int ni, MMDB_entry_data_list_s *e,
                                    int depth, int t, int base, const char **err)
{
    const struct tnode *nd = &sp->nodes[ni];
    if (!e) { *err = "the record ends early"; return NULL; }
    if (depth > MAX_DEPTH) { *err = "the record nests too deeply"; return NULL; }
    uint32_t type = e->entry_data.type;
    if (type != MMDB_DATA_TYPE_MAP && type != MMDB_DATA_TYPE_ARRAY) {
        if (nd->slot < 0) return e->next;
        MMDB_entry_data_list_s *next = push_value(L, e, depth, err);
        if (*err) return NULL;
        lua_rawseti(L, t, base + nd->slot + 1);
        return next;
    }
    if (nd->child < 0) return skip_value(e, depth, err);
    uint32_t n = e->entry_data.data_size;
    e = e->next;
    for (uint32_t i = 0; i < n; i++) {
        int c;
        if (type == MMDB_DATA_TYPE_MAP) {
            if (!e || e->entry_data.type != MMDB_DATA_TYPE_UTF8_STRING) {
                *err = e ? "a map key is not a string" : "the record ends early";
                return NULL;
            }
            const char *k = e->entry_data.utf8_string;
            uint32_t kl = e->entry_data.data_size;
            for (c = nd->child; c >= 0; c = sp->nodes[c].sibling)
                if (sp->nodes[c].klen == kl && memcmp(sp->nodes[c].key, k, kl) == 0) break;
            e = e->next;
        } else {
            for (c = nd->child; c >= 0; c = sp->nodes[c].sibling)
                if (sp->nodes[c].index == (long)i) break;
        }
        e = c >= 0 ? walk(L, sp, c, e, depth + 1, t, base, err) : skip_value(e, depth + 1, err);
        if (*err) return NULL;
    }
    return e;
}

/* Decode the record at entry into t[base + slot] for the spec's paths (absent ones untouched).
 * Returns 0, or the number of error values pushed. */
static int decode_into(lua_State *L, struct reader *r, MMDB_entry_s *entry, const struct spec *sp, int t, int base,
                       const char *what)
{
    MMDB_lookup_result_s res = {.found_entry = true, .entry = *entry, .netmask = 0};
    int nret;
    MMDB_entry_data_list_s *list = entries(L, r, &res, what, &nret);
    if (!list) return nret;
    const char *err = NULL;
    int top = lua_gettop(L);
    walk(L, sp, 0, list, 0, t, base, &err);
    free_pending(r);
    if (err) {
        lua_settop(L, top);
        return lookup_fail(L, r, what, err);
    }
    return 0;
}

static int l_lookup_into(lua_State *L)
{
    struct reader *r = check_reader(L);
    const struct spec *sp = check_spec(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    int base = (int)luaL_optinteger(L, 5, 0);
    for (int i = 1; i <= sp->nslots; i++) {
        lua_pushnil(L);
        lua_rawseti(L, 4, base + i);
    }
    MMDB_lookup_result_s res;
    int prefix = 0, nret = find(L, r, &res, &prefix);
    if (nret) return nret;
    if (res.found_entry) {
        nret = decode_into(L, r, &res.entry, sp, 4, base, lua_tostring(L, 2));
        if (nret) {
            for (int i = 1; i <= sp->nslots; i++) {
                lua_pushnil(L);
                lua_rawseti(L, 4, base + i);
            }
            return nret;
        }
    }
    lua_pushboolean(L, res.found_entry);
    lua_pushinteger(L, prefix);
    return 2;
}

/* r:locate(ip) -> true, prefix, record offset | false, prefix | nil, "not covered" | nil, err.
 * The offset names the record: many networks share one, so a caller can cache its decode. */
static int l_locate(lua_State *L)
{
    struct reader *r = check_reader(L);
    MMDB_lookup_result_s res;
    int prefix = 0, nret = find(L, r, &res, &prefix);
    if (nret) return nret;
    lua_pushboolean(L, res.found_entry);
    lua_pushinteger(L, prefix);
    if (!res.found_entry) return 2;
    lua_pushnumber(L, res.entry.offset);
    return 3;
}

/* r:decode_into(offset, spec, t [, base [, ip]]) -> true | nil, err: the record at an offset
 * from locate, like lookup_into but leaving the slots of absent paths untouched. */
static int l_decode_into(lua_State *L)
{
    struct reader *r = check_reader(L);
    lua_Number off = luaL_checknumber(L, 2);
    const struct spec *sp = check_spec(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    int base = (int)luaL_optinteger(L, 5, 0);
    if (!(off >= 0 && off < r->db.data_section_size) || off != (lua_Number)(uint32_t)off)
        return luaL_argerror(L, 2, "not a record offset of this database");
    MMDB_entry_s entry = {.mmdb = &r->db, .offset = (uint32_t)off};
    const char *what = lua_tostring(L, 6);
    if (!what) {
        lua_pushfstring(L, "the record at offset %d", (int)off);
        what = lua_tostring(L, -1);
    }
    int nret = decode_into(L, r, &entry, sp, 4, base, what);
    if (nret) return nret;
    lua_pushboolean(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- metadata */

static int l_metadata(lua_State *L)
{
    struct reader *r = check_reader(L);
    const MMDB_metadata_s *m = &r->db.metadata;
    lua_createtable(L, 0, 9);
    lua_pushstring(L, m->database_type);
    lua_setfield(L, -2, "database_type");
    push_u64(L, m->build_epoch);
    lua_setfield(L, -2, "build_epoch");
    lua_pushinteger(L, m->ip_version);
    lua_setfield(L, -2, "ip_version");
    lua_pushinteger(L, m->record_size);
    lua_setfield(L, -2, "record_size");
    lua_pushnumber(L, m->node_count);
    lua_setfield(L, -2, "node_count");
    lua_pushfstring(L, "%d.%d", (int)m->binary_format_major_version, (int)m->binary_format_minor_version);
    lua_setfield(L, -2, "binary_format");
    lua_pushnumber(L, (lua_Number)r->db.file_size);
    lua_setfield(L, -2, "file_size");
    lua_createtable(L, (int)m->languages.count, 0);
    for (size_t i = 0; i < m->languages.count; i++) {
        lua_pushstring(L, m->languages.names[i] ? m->languages.names[i] : "");
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "languages");
    lua_createtable(L, 0, (int)m->description.count);
    for (size_t i = 0; i < m->description.count; i++) {
        const MMDB_description_s *d = m->description.descriptions[i];
        if (!d || !d->language) continue;
        lua_pushstring(L, d->description ? d->description : "");
        lua_setfield(L, -2, d->language);
    }
    lua_setfield(L, -2, "description");
    return 1;
}

/* ---------------------------------------------------------------- field specs */

/* mmdb.fields{path, ...}: a trie of the paths, one slot per path in list order. */
static int l_fields(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int npaths = (int)lua_objlen(L, 1);
    if (npaths < 1) return luaL_error(L, "mmdb.fields: expected a non-empty list of paths");
    size_t text = 0;
    int parts = 0;
    for (int i = 1; i <= npaths; i++) {
        lua_rawgeti(L, 1, i);
        size_t n = 0;
        const char *p = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (!p || n == 0) return luaL_error(L, "mmdb.fields: path %d is not a non-empty string", i);
        text += n + 1;
        parts += 1;
        for (size_t k = 0; k < n; k++) parts += p[k] == '.';
        lua_pop(L, 1);
    }
    size_t nodes_size = sizeof(struct tnode) * (size_t)(parts + 1);
    struct spec *sp = lua_newuserdata(L, sizeof *sp + nodes_size + text);
    char *arena = (char *)sp->nodes + nodes_size;
    sp->nnodes = 1;
    sp->nslots = npaths;
    sp->nodes[0] = (struct tnode){"", 0, -1, -1, -1, -1};
    for (int i = 1; i <= npaths; i++) {
        lua_rawgeti(L, 1, i);
        size_t n;
        const char *p = lua_tolstring(L, -1, &n);
        memcpy(arena, p, n);
        arena[n] = '\0';
        int cur = 0, depth = 0;
        char *s = arena;
        arena += n + 1;
        for (;;) {
            char *dot = strchr(s, '.');
            size_t kl = dot ? (size_t)(dot - s) : strlen(s);
            if (kl == 0) return luaL_error(L, "mmdb.fields: path '%s' has an empty component", lua_tostring(L, -1));
            if (++depth > MAX_PATH_PARTS) return luaL_error(L, "mmdb.fields: path '%s' is too long", lua_tostring(L, -1));
            int c;
            for (c = sp->nodes[cur].child; c >= 0; c = sp->nodes[c].sibling)
                if (sp->nodes[c].klen == kl && memcmp(sp->nodes[c].key, s, kl) == 0) break;
            if (c < 0) {
                c = sp->nnodes++;
                long index = -1;
                if (kl <= 9 && strspn(s, "0123456789") >= kl) index = strtol(s, NULL, 10);
                sp->nodes[c] = (struct tnode){s, (uint32_t)kl, index, -1, -1, -1};
                /* append so that siblings keep list order */
                int *link = &sp->nodes[cur].child;
                while (*link >= 0) link = &sp->nodes[*link].sibling;
                *link = c;
            }
            cur = c;
            if (!dot) break;
            s = dot + 1;
        }
        if (sp->nodes[cur].slot >= 0) return luaL_error(L, "mmdb.fields: path '%s' is listed twice", lua_tostring(L, -1));
        sp->nodes[cur].slot = i - 1;
        lua_pop(L, 1);
    }
    luaL_getmetatable(L, SPEC_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int l_spec_len(lua_State *L)
{
    lua_pushinteger(L, ((struct spec *)luaL_checkudata(L, 1, SPEC_MT))->nslots);
    return 1;
}

static int l_lib_version(lua_State *L)
{
    lua_pushstring(L, MMDB_lib_version());
    return 1;
}

int luaopen_ipe_mmdb(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"lookup", l_lookup}, {"lookup_into", l_lookup_into}, {"locate", l_locate},
        {"decode_into", l_decode_into}, {"metadata", l_metadata},
        {"verify", l_verify}, {"path", l_path}, {"close", l_close}, {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"open", l_open}, {"fields", l_fields}, {"lib_version", l_lib_version}, {NULL, NULL},
    };
    luaL_newmetatable(L, SPEC_MT);
    lua_pushcfunction(L, l_spec_len);
    lua_setfield(L, -2, "__len");
    lua_pushliteral(L, "ipe.mmdb.fields");
    lua_setfield(L, -2, "__metatable");
    luaL_newmetatable(L, READER_MT); /* stack: spec mt, reader mt */
    lua_createtable(L, 0, 9);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -4);
    luaL_openlib(L, NULL, methods, 2); /* upvalues: reader mt, spec mt */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "ipe.mmdb.reader");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_createtable(L, 0, 3);
    luaL_register(L, NULL, funcs);
    return 1;
}
