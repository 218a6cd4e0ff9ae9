/* ingest_floor.c — the floor of bench_ingest: what loading the benchmark's rows costs
 * SQLite itself, with nothing of ipe around it.
 *
 *   ingest_floor DB CSV TABLE
 *
 * Reads CSV (a header naming TABLE's columns, then one row per line; RFC 4180 quoting,
 * no line breaks inside fields) and inserts every row into TABLE of the existing SQLite
 * file DB the way ipe's bulk ingest does, minus everything ipe adds: one transaction
 * (BEGIN IMMEDIATE ... COMMIT), the table's indexes dropped first and recreated after the
 * load from their own SQL with ipe's sort settings (page cache 4 MB while sorting,
 * temp_store FILE), one prepared INSERT of the columns the first row fills, values bound
 * (INTEGER columns as integers, REAL as reals, empty fields left NULL). The table's
 * triggers (ipe's per-IP rollups) are dropped and not recreated: the floor keeps no
 * rollups. Connection settings as ipe's ingest: synchronous NORMAL, cache_size 256 MB.
 *
 * Prints "<rows> rows" on success (exit 0) and, on stderr, the wall and CPU seconds of each
 * stage as ipe-run ingest -v says them ("rows loaded in 1.00 s, indexes rebuilt in 0.50 s,
 * committed in 0.20 s (cpu 0.80, 0.40, 0.10 s)"); any error: one line on stderr, exit 1,
 * and the transaction is rolled back. A benchmark tool, not part of ipe.
 */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_COLS 256
#define MAX_INDEXES 64

enum kind { K_TEXT, K_INT, K_REAL };

struct table {
    int ncol;
    char *name[MAX_COLS];
    enum kind kind[MAX_COLS];
};

struct row {
    int n;
    char *field[MAX_COLS];
    size_t len[MAX_COLS];
};

static sqlite3 *db;

/* stage(i): the wall and CPU seconds since the previous call go into wall[i], cpu[i] */
static double wall[3], cpu[3];
static void stage(int i)
{
    static struct timespec w0;
    static clock_t c0;
    struct timespec w;
    clock_t c = clock();
    clock_gettime(CLOCK_MONOTONIC, &w);
    if (i >= 0) {
        wall[i] = (double)(w.tv_sec - w0.tv_sec) + (double)(w.tv_nsec - w0.tv_nsec) / 1e9;
        cpu[i] = (double)(c - c0) / CLOCKS_PER_SEC;
    }
    w0 = w;
    c0 = c;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "ingest_floor: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    if (db) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    exit(1);
}

static void exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die(sql, err);
}

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql, sqlite3_errmsg(db));
    return st;
}

static enum kind kind_of(const char *decl)
{
    if (decl && strcmp(decl, "INTEGER") == 0) return K_INT;
    if (decl && strcmp(decl, "REAL") == 0) return K_REAL;
    return K_TEXT;
}

static void read_table(const char *tname, struct table *t)
{
    sqlite3_stmt *st = prepare("SELECT name, type FROM pragma_table_info(?)");
    sqlite3_bind_text(st, 1, tname, -1, SQLITE_STATIC);
    t->ncol = 0;
    while (sqlite3_step(st) == SQLITE_ROW && t->ncol < MAX_COLS) {
        t->name[t->ncol] = strdup((const char *)sqlite3_column_text(st, 0));
        t->kind[t->ncol] = kind_of((const char *)sqlite3_column_text(st, 1));
        t->ncol++;
    }
    sqlite3_finalize(st);
    if (t->ncol == 0) die("no such table", tname);
}

/* split_csv(line, row): cut one CSV line in place into fields (quotes removed, "" -> ") */
static void split_csv(char *line, struct row *r)
{
    char *p = line;
    r->n = 0;
    for (;;) {
        if (r->n == MAX_COLS) die("too many fields", NULL);
        char *out = p, *start = p;
        if (*p == '"') {
            for (p++;; p++) {
                if (*p == '\0') die("a quoted field is not closed", NULL);
                if (*p == '"' && p[1] == '"') { *out++ = '"'; p++; }
                else if (*p == '"') { p++; break; }
                else *out++ = *p;
            }
        } else {
            while (*p && *p != ',' && *p != '\n' && *p != '\r') *out++ = *p++;
        }
        r->field[r->n] = start;
        r->len[r->n] = (size_t)(out - start);
        r->n++;
        char sep = *p;
        *out = '\0';
        if (sep != ',') return;
        p++;
    }
}

static int column_index(const struct table *t, const char *name)
{
    for (int i = 0; i < t->ncol; i++)
        if (strcmp(t->name[i], name) == 0) return i;
    die("the header names a column the table lacks", name);
    return -1;
}

/* the INSERT of the header's columns that the first row fills; used[] marks them */
static sqlite3_stmt *insert_for(const char *tname, const struct row *header, const struct row *first, int *used)
{
    char sql[16384];
    size_t n = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (", tname);
    int count = 0;
    for (int i = 0; i < header->n && i < first->n; i++) {
        used[i] = first->len[i] > 0;
        if (!used[i]) continue;
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s%s", count ? "," : "", header->field[i]);
        count++;
    }
    n += (size_t)snprintf(sql + n, sizeof sql - n, ") VALUES (");
    for (int i = 0; i < count; i++) n += (size_t)snprintf(sql + n, sizeof sql - n, "%s?", i ? "," : "");
    snprintf(sql + n, sizeof sql - n, ")");
    if (count == 0) die("the first row is empty", NULL);
    return prepare(sql);
}

static void bind_field(sqlite3_stmt *st, int at, enum kind k, const char *v, size_t len)
{
    char *end;
    if (k == K_INT) {
        long long x = strtoll(v, &end, 10);
        if (*end == '\0') { sqlite3_bind_int64(st, at, x); return; }
    } else if (k == K_REAL) {
        double x = strtod(v, &end);
        if (*end == '\0') { sqlite3_bind_double(st, at, x); return; }
    }
    sqlite3_bind_text(st, at, v, (int)len, SQLITE_STATIC);
}

static void insert_row(sqlite3_stmt *st, const struct row *r, const int *used, const int *col,
                       const struct table *t, long line)
{
    int at = 0;
    for (int i = 0; i < r->n; i++) {
        if (!used[i]) {
            if (r->len[i] > 0) {
                fprintf(stderr, "ingest_floor: line %ld fills a column the first row leaves empty\n", line);
                die("the rows differ in shape", NULL);
            }
            continue;
        }
        at++;
        if (r->len[i] == 0) sqlite3_bind_null(st, at);
        else bind_field(st, at, t->kind[col[i]], r->field[i], r->len[i]);
    }
    if (sqlite3_step(st) != SQLITE_DONE) die("insert", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

/* drop the table's triggers and indexes; the index SQL is kept in sqls[] */
static int drop_indexes_and_triggers(const char *tname, char **sqls)
{
    int n = 0;
    sqlite3_stmt *st = prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? "
                               "AND type IN ('index', 'trigger') AND sql IS NOT NULL");
    sqlite3_bind_text(st, 1, tname, -1, SQLITE_STATIC);
    char *drops[2 * MAX_INDEXES];
    int ndrop = 0;
    while (sqlite3_step(st) == SQLITE_ROW && ndrop < 2 * MAX_INDEXES) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        char drop[512];
        snprintf(drop, sizeof drop, "DROP %s %s", strcmp(type, "index") == 0 ? "INDEX" : "TRIGGER",
                 (const char *)sqlite3_column_text(st, 1));
        drops[ndrop++] = strdup(drop);
        if (strcmp(type, "index") == 0 && n < MAX_INDEXES) sqls[n++] = strdup((const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    for (int i = 0; i < ndrop; i++) {
        exec(drops[i]);
        free(drops[i]);
    }
    return n;
}

static void rebuild_indexes(char **sqls, int n)
{
    exec("PRAGMA cache_size = -4096");
    for (int i = 0; i < n; i++) {
        exec(sqls[i]);
        free(sqls[i]);
    }
    exec("PRAGMA cache_size = -262144");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ingest_floor DB CSV TABLE\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "r");
    if (!in) die("cannot read", argv[2]);
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) die("cannot open", argv[1]);
    exec("PRAGMA busy_timeout = 60000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; "
         "PRAGMA temp_store = FILE");
    if (strspn(argv[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(argv[3]))
        die("not a table name", argv[3]);
    static struct table t;
    read_table(argv[3], &t);

    char *line = NULL, *head = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, in) < 0) die("the CSV has no header", NULL);
    head = strdup(line);
    static struct row header, r;
    split_csv(head, &header);
    static int col[MAX_COLS], used[MAX_COLS];
    for (int i = 0; i < header.n; i++) col[i] = column_index(&t, header.field[i]);

    stage(-1);
    exec("BEGIN IMMEDIATE");
    static char *indexes[MAX_INDEXES];
    int nindex = drop_indexes_and_triggers(argv[3], indexes);
    sqlite3_stmt *ins = NULL;
    long rows = 0, lineno = 1;
    while (getline(&line, &cap, in) >= 0) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0') continue;
        split_csv(line, &r);
        if (r.n != header.n) die("a row has another number of fields than the header", NULL);
        if (!ins) ins = insert_for(argv[3], &header, &r, used);
        insert_row(ins, &r, used, col, &t, lineno);
        rows++;
    }
    sqlite3_finalize(ins);
    stage(0);
    rebuild_indexes(indexes, nindex);
    stage(1);
    exec("COMMIT");
    stage(2);
    free(line);
    free(head);
    fclose(in);
    if (sqlite3_close(db) != SQLITE_OK) die("close", sqlite3_errmsg(db));
    db = NULL;
    printf("%ld rows\n", rows);
    fprintf(stderr, "rows loaded in %.2f s, indexes rebuilt in %.2f s, committed in %.2f s (cpu %.2f, %.2f, %.2f s)\n",
            wall[0], wall[1], wall[2], cpu[0], cpu[1], cpu[2]);
    return 0;
}
