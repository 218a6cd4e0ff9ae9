/* sql_regex.c — regular expressions for the workspace's SQL (KQL's matches regex, extract,
 * parse): regexp(pattern, text) (SQLite's REGEXP operator calls it) and
 * ipe_regex_extract(pattern, group, text) -> the group's text or NULL.
 *
 * PCRE2 (Debian's libpcre2-8) rather than POSIX <regex.h>: Kusto's patterns are RE2
 * syntax — \d, \w, \s, non-greedy *?, (?i), (?s) — which POSIX ERE lacks and PCRE2 reads
 * the same way. The compiled pattern is cached per statement (sqlite3_set_auxdata) and
 * each match has a match limit, so a pathological pattern fails with an error instead of
 * running away. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include "ipe.h"

#define MATCH_LIMIT 1000000

static void free_code(void *p) { pcre2_code_free((pcre2_code *)p); }

/* The compiled pattern of argv[0], from the statement's cache or compiled now; NULL after
 * setting the error (or for a NULL pattern, with *null set). */
static pcre2_code *pattern(sqlite3_context *ctx, sqlite3_value **argv, int *null)
{
    *null = 0;
    pcre2_code *re = sqlite3_get_auxdata(ctx, 0);
    if (re) return re;
    const char *pat = (const char *)sqlite3_value_text(argv[0]);
    if (!pat) { *null = 1; return NULL; }
    int code;
    PCRE2_SIZE off;
    re = pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)sqlite3_value_bytes(argv[0]), PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                       &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        char buf[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(buf, sizeof buf, "bad regular expression at offset %d: %s", (int)off, (const char *)msg);
        sqlite3_result_error(ctx, buf, -1);
        return NULL;
    }
    sqlite3_set_auxdata(ctx, 0, re, free_code);
    return sqlite3_get_auxdata(ctx, 0); /* NULL when SQLite could not keep it (then freed) */
}

/* Match text against re; returns the match count (>0), 0 for no match, -1 after an error. */
static int run(sqlite3_context *ctx, pcre2_code *re, const char *text, int n, pcre2_match_data *md)
{
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc) { sqlite3_result_error_nomem(ctx); return -1; }
    pcre2_set_match_limit(mc, MATCH_LIMIT);
    int rc = pcre2_match(re, (PCRE2_SPTR)text, (PCRE2_SIZE)n, 0, 0, md, mc);
    pcre2_match_context_free(mc);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        sqlite3_result_error(ctx, rc == PCRE2_ERROR_MATCHLIMIT ? "regular expression too costly for this text"
                                                               : "regular expression failed", -1);
        return -1;
    }
    return rc == 0 ? 1 : rc;
}

static void sql_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int null;
    pcre2_code *re = pattern(ctx, argv, &null);
    const char *text = (const char *)sqlite3_value_text(argv[1]);
    if (!re || !text) { if (null || (re && !text)) sqlite3_result_null(ctx); return; }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) { sqlite3_result_error_nomem(ctx); return; }
    int rc = run(ctx, re, text, sqlite3_value_bytes(argv[1]), md);
    if (rc >= 0) sqlite3_result_int(ctx, rc > 0);
    pcre2_match_data_free(md);
}

static void sql_regex_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int null;
    pcre2_code *re = pattern(ctx, argv, &null);
    const char *text = (const char *)sqlite3_value_text(argv[2]);
    if (!re || !text) { if (null || (re && !text)) sqlite3_result_null(ctx); return; }
    sqlite3_int64 group = sqlite3_value_int64(argv[1]);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) { sqlite3_result_error_nomem(ctx); return; }
    int rc = run(ctx, re, text, sqlite3_value_bytes(argv[2]), md);
    if (rc > 0 && group >= 0 && group < (sqlite3_int64)pcre2_get_ovector_count(md)) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[2 * group] != PCRE2_UNSET)
            sqlite3_result_text(ctx, text + ov[2 * group], (int)(ov[2 * group + 1] - ov[2 * group]), SQLITE_TRANSIENT);
        else
            sqlite3_result_null(ctx);
    } else if (rc >= 0) {
        sqlite3_result_null(ctx);
    }
    pcre2_match_data_free(md);
}

void ipe_sql_regex_register(sqlite3 *db)
{
    int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function(db, "regexp", 2, det, NULL, sql_regexp, NULL, NULL);
    sqlite3_create_function(db, "ipe_regex_extract", 3, det, NULL, sql_regex_extract, NULL, NULL);
}
