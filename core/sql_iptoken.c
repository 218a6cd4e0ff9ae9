/* sql_iptoken.c: ipe_ip_token(v), the SQLite function behind the bulk recount of the per-IP
 * activity rollup (ipe.rollup.sqlite): v cut down to the IP candidate it holds — the
 * characters < > ' | { } - trimmed from both ends, then trailing dots — when that has the
 * shape of an IPv4 or IPv6 address (rollup.shape), else NULL (a number or a blob is read as
 * its text, as trim() reads it).
 * The same value, byte for byte, as the plain SQL the rollup's triggers use,
 *   CASE WHEN shape(rtrim(trim(v, '<>''|{}-'), '.')) THEN rtrim(trim(v, '<>''|{}-'), '.') END
 * (tests/lua/rollup_iptoken_test.lua compares them), SQLite's quirks included: trim() and
 * instr() read the whole text, GLOB and length() stop at an embedded NUL. One pass over v. */
#include <sqlite3.h>
#include <string.h>
#include "ipe.h"

static int trimmed(unsigned char ch) { return ch && strchr("<>'|{}-", ch) != NULL; }
static int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }
static int is_hex(unsigned char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* IPv4 shape of s[0..n) (no NUL in it): four runs of digits joined by three dots, at most
 * 15 characters — what GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*', NOT GLOB '*[^0-9.]*', NOT GLOB
 * '*.*.*.*.*' and length() <= 15 together accept */
static int v4_shape(const unsigned char *s, size_t n)
{
    if (n == 0 || n > 15 || !is_digit(s[0])) return 0;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (++dots > 3 || i + 1 == n || !is_digit(s[i + 1])) return 0;
        } else if (!is_digit(s[i])) return 0;
    }
    return dots == 3;
}

/* IPv6 shape: at least two colons, only hex digits, colons and dots, at most 45 characters
 * (up to the first NUL: p of the n bytes), and "::" somewhere in all n bytes or exactly 7
 * colons before the NUL */
static int v6_shape(const unsigned char *s, size_t p, size_t n)
{
    if (p > 45) return 0;
    int colons = 0;
    for (size_t i = 0; i < p; i++) {
        if (s[i] == ':') colons++;
        else if (s[i] != '.' && !is_hex(s[i])) return 0;
    }
    if (colons < 2) return 0;
    if (colons == 7) return 1;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == ':' && s[i + 1] == ':') return 1;
    return 0;
}

static void sql_ip_token(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
    const unsigned char *s = sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    if (!s) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    while (n > 0 && trimmed(s[0])) { s++; n--; }
    while (n > 0 && trimmed(s[n - 1])) n--;
    while (n > 0 && s[n - 1] == '.') n--;
    const unsigned char *nul = memchr(s, 0, n);
    size_t p = nul ? (size_t)(nul - s) : n;
    if (v4_shape(s, p) || v6_shape(s, p, n)) sqlite3_result_text(ctx, (const char *)s, (int)n, SQLITE_TRANSIENT);
}

void ipe_sql_iptoken_register(sqlite3 *db)
{
    int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function(db, "ipe_ip_token", 1, det, NULL, sql_ip_token, NULL, NULL);
}
