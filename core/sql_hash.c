/* sql_hash.c — ipe_xxhash64(text [, mod]): XXH64 (seed 0) of the text's UTF-8 bytes as a
 * signed 64-bit integer, or its unsigned value modulo mod (1 ... 2^63-1) — what KQL's
 * hash() compiles to. NULL in, NULL out; a mod < 1 gives NULL. */
#include <stdint.h>
#include <string.h>
#include <sqlite3.h>
#include "ipe.h"

static const uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL,
    P3 = 1609587929392839161ULL, P4 = 9650029242287828579ULL, P5 = 2870177450012600261ULL;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t rd32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t round64(uint64_t acc, uint64_t in) { return rotl(acc + in * P2, 31) * P1; }

static uint64_t merge(uint64_t h, uint64_t v) { return (h ^ round64(0, v)) * P1 + P4; }

static uint64_t stripes(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
    for (; end - p >= 32; p += 32) {
        v1 = round64(v1, rd64(p));
        v2 = round64(v2, rd64(p + 8));
        v3 = round64(v3, rd64(p + 16));
        v4 = round64(v4, rd64(p + 24));
    }
    *pp = p;
    uint64_t h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    return merge(merge(merge(merge(h, v1), v2), v3), v4);
}

static uint64_t xxh64(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    uint64_t h = n >= 32 ? stripes(&p, end) : P5;
    h += n;
    for (; end - p >= 8; p += 8) h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
    if (end - p >= 4) {
        h = rotl(h ^ rd32(p) * P1, 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++) h = rotl(h ^ *p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

static void sql_xxhash64(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
    const unsigned char *s = sqlite3_value_text(argv[0]);
    uint64_t h = xxh64(s ? s : (const unsigned char *)"", (size_t)sqlite3_value_bytes(argv[0]));
    if (argc == 2) {
        sqlite3_int64 mod = sqlite3_value_int64(argv[1]);
        if (sqlite3_value_type(argv[1]) == SQLITE_NULL || mod < 1) return;
        sqlite3_result_int64(ctx, (sqlite3_int64)(h % (uint64_t)mod));
        return;
    }
    int64_t v;
    memcpy(&v, &h, sizeof v);
    sqlite3_result_int64(ctx, v);
}

void ipe_sql_hash_register(sqlite3 *db)
{
    int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function(db, "ipe_xxhash64", 1, det, NULL, sql_xxhash64, NULL, NULL);
    sqlite3_create_function(db, "ipe_xxhash64", 2, det, NULL, sql_xxhash64, NULL, NULL);
}
