/* sql_agg.c: ipe_sorted_distinct(x, sep), the SQLite aggregate behind
 * ctx.db:string_agg(col, sep, "distinct"): the distinct non-NULL values of x, sorted as
 * ClickHouse sorts a column's values (numbers in numeric order, text bytewise; numbers
 * before text), joined by sep as text; NULL when there are none.
 * SQLite's group_concat(DISTINCT x) keeps the order rows were read in instead. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "ipe.h"

typedef struct { char *s; size_t n; int is_num; double num; } item;

typedef struct {
    item *v;
    size_t n, cap;
    char *sep;
    size_t sep_n;
    int oom;
} agg;

static void agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    agg *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a || a->oom) { if (a) sqlite3_result_error_nomem(ctx); return; }
    if (!a->sep && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
        size_t n = (size_t)sqlite3_value_bytes(argv[1]);
        const unsigned char *s = sqlite3_value_text(argv[1]);
        a->sep = malloc(n + 1);
        if (!a->sep) { a->oom = 1; return; }
        memcpy(a->sep, s ? (const char *)s : "", n);
        a->sep_n = n;
    }
    int type = sqlite3_value_type(argv[0]);
    if (type == SQLITE_NULL) return;
    double num = (type == SQLITE_INTEGER || type == SQLITE_FLOAT) ? sqlite3_value_double(argv[0]) : 0;
    const unsigned char *s = sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        item *v = realloc(a->v, cap * sizeof *v);
        if (!v) { a->oom = 1; return; }
        a->v = v, a->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) { a->oom = 1; return; }
    memcpy(copy, s ? (const char *)s : "", n);
    a->v[a->n].s = copy, a->v[a->n].n = n;
    a->v[a->n].is_num = type == SQLITE_INTEGER || type == SQLITE_FLOAT, a->v[a->n].num = num;
    a->n++;
}

static int item_cmp(const void *x, const void *y)
{
    const item *a = x, *b = y;
    if (a->is_num != b->is_num) return a->is_num ? -1 : 1;
    if (a->is_num) return a->num < b->num ? -1 : a->num > b->num;
    int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
    if (c) return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

static void agg_free(agg *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->v[i].s);
    free(a->v);
    free(a->sep);
}

static void agg_final(sqlite3_context *ctx)
{
    agg *a = sqlite3_aggregate_context(ctx, 0);
    if (!a) return;
    if (a->oom) { sqlite3_result_error_nomem(ctx); agg_free(a); return; }
    if (a->n == 0) { agg_free(a); return; }
    qsort(a->v, a->n, sizeof *a->v, item_cmp);
    size_t len = 0;
    for (size_t i = 0; i < a->n; i++) len += a->v[i].n + a->sep_n;
    char *out = malloc(len + 1), *p = out;
    if (!out) { sqlite3_result_error_nomem(ctx); agg_free(a); return; }
    for (size_t i = 0; i < a->n; i++) {
        if (i > 0 && item_cmp(&a->v[i - 1], &a->v[i]) == 0) continue;
        if (p != out && a->sep_n) { memcpy(p, a->sep, a->sep_n); p += a->sep_n; }
        memcpy(p, a->v[i].s, a->v[i].n);
        p += a->v[i].n;
    }
    sqlite3_result_text(ctx, out, (int)(p - out), free);
    agg_free(a);
}

void ipe_sql_agg_register(sqlite3 *db)
{
    int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function(db, "ipe_sorted_distinct", 2, det, NULL, NULL, agg_step, agg_final);
}
