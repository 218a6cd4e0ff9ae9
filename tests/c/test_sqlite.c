/* test_sqlite.c — the ipe.sqlite binding. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <unistd.h>
#include "tap.h"

int main(void)
{
    char buf[1024], path[] = "/tmp/ipe-test-sqlite-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    lua_State *L = ipe_engine_new();
    lua_pushstring(L, path);
    lua_setglobal(L, "PATH");
    tap_is(lua_run(L, "db = require('ipe.sqlite').open(PATH, 'rwc') "
                      "db:exec('CREATE TABLE t (a TEXT, b INTEGER, c REAL)') return 'ok'", buf, sizeof buf),
           "ok", "open rwc and create a table");
    tap_is(lua_run(L, "local st = db:prepare('INSERT INTO t VALUES (?, ?, ?)') "
                      "return st:run('x', 42, 1.5) + st:run(nil, 9007199254740992, nil) + st:run(\"it's\", true, 0.25)",
                   buf, sizeof buf),
           "3", "positional run binds text, integers, reals, NULL and booleans");
    tap_is(lua_run(L, "local rows, cols = db:query('SELECT a, b, c FROM t WHERE b = :b', {b = 42}) "
                      "return table.concat(cols, ',') .. '|' .. rows[1][1] .. '|' .. rows[1][2] .. '|' .. rows[1][3]",
                   buf, sizeof buf),
           "a,b,c|x|42|1.5", "query with a named parameter, columns in order");
    tap_is(lua_run(L, "local rows = db:query('SELECT a FROM t WHERE a IS NULL') "
                      "return tostring(rows[1][1] == require('cjson').null)", buf, sizeof buf),
           "true", "NULL comes back as cjson.null");
    tap_is(lua_run(L, "return string.format('%d', db:query('SELECT b FROM t WHERE a IS NULL')[1][1])", buf, sizeof buf),
           "9007199254740992", "2^53 round-trips exactly");
    tap_is(lua_run(L, "local r = db:query('SELECT 9007199254740993, -9007199254740993, 9223372036854775807, "
                      "-9223372036854775807 - 1, 9007199254740992, -9007199254740992')[1] "
                      "local t = {} for i, v in ipairs(r) do t[i] = type(v) .. ' ' .. (type(v) == 'number' and string.format('%.0f', v) or v) end "
                      "return table.concat(t, ',')",
                   buf, sizeof buf),
           "string 9007199254740993,string -9007199254740993,string 9223372036854775807,string -9223372036854775808,"
           "number 9007199254740992,number -9007199254740992",
           "integers beyond 2^53 come back as their exact decimal text, up to the int64 limits");
    tap_is(lua_run(L, "db:exec('CREATE TABLE big (id INTEGER)') db:prepare('INSERT INTO big VALUES (?)'):run('9007199254740993') "
                      "local rows = db:query('SELECT id, typeof(id), id = 9007199254740993 FROM big WHERE id = :id', "
                      "{ id = db:query('SELECT id FROM big')[1][1] }) "
                      "return tostring(rows[1][1]) .. ' ' .. rows[1][2] .. ' ' .. rows[1][3]", buf, sizeof buf),
           "9007199254740993 integer 1", "the text of a large integer binds back to the same integer");
    tap_is(lua_run(L, "local r = db:query('SELECT 9007199254740993 + 0.0')[1][1] return type(r) .. ' ' .. string.format('%.0f', r)",
                   buf, sizeof buf),
           "number 9007199254740992", "a REAL stays a number");
    tap_is(lua_run(L, "db:exec('INSERT INTO big (rowid, id) VALUES (9007199254740999, 1)') "
                      "local v = db:last_insert_rowid() return type(v) .. ' ' .. v", buf, sizeof buf),
           "string 9007199254740999", "last_insert_rowid beyond 2^53 is exact text too");
    tap_is(lua_run(L, "local ok, e, off = db:compile('SELECT a,\\n  nope FROM t') return tostring(ok) .. '|' .. e .. '|' .. off",
                   buf, sizeof buf),
           "nil|no such column: nope|12", "compile: the error and its byte offset, nothing run");
    tap_is(lua_run(L, "local before = db:query('SELECT count(*) FROM big')[1][1] "
                      "local ok = db:compile('DELETE FROM big') return tostring(ok) .. ' ' .. db:query('SELECT count(*) FROM big')[1][1] - before",
                   buf, sizeof buf),
           "true 0", "compile prepares only: a statement is never run");
    tap_is(lua_run(L, "local rows = db:query(\"SELECT count(*) FROM t WHERE a = ?\", {\"x' OR '1'='1\"}) return rows[1][1]",
                   buf, sizeof buf),
           "0", "a quote in a bound value is data, not SQL");
    tap_is(lua_run(L, "local ok, e = pcall(db.query, db, 'SELECT :missing') return e", buf, sizeof buf),
           "sqlite: no value for parameter :missing", "a missing named parameter is an error");
    tap_is(lua_run(L, "local ok, e = pcall(db.prepare, db, 'SELECT 1; SELECT 2') return e", buf, sizeof buf),
           "sqlite: one statement at a time (found more after the first)", "one statement per prepare");
    tap_is(lua_run(L, "db:exec('CREATE TABLE u (k TEXT PRIMARY KEY)') local st = db:prepare('INSERT INTO u VALUES (?)') "
                      "st:run('a') local ok, e = pcall(st.run, st, 'a') st:run('b') "
                      "return e .. '|' .. db:query('SELECT count(*) FROM u')[1][1]", buf, sizeof buf),
           "sqlite: UNIQUE constraint failed: u.k|2", "a failing run raises once and leaves the statement usable");
    tap_is(lua_run(L, "local ok, e = pcall(db.query, db, 'SELECT nope FROM t') return e", buf, sizeof buf),
           "sqlite: no such column: nope", "SQL errors carry SQLite's message");
    tap_is(lua_run(L, "local r = db:query(\"SELECT ipe_ip_in_cidr('10.1.2.3', '10.0.0.0/8'), "
                      "ipe_ip_in_cidr('11.1.2.3', '10.0.0.0/8'), ipe_ip_in_cidr('2001:db8::5', '2001:db8::/32'), "
                      "ipe_ip_in_cidr('10.1.2.3', '2001:db8::/32'), ipe_ip_in_cidr('::ffff:10.0.0.1', '10.0.0.0/24'), "
                      "ipe_ip_in_cidr('1.2.3.4', '1.2.3.4'), ipe_ip_in_cidr('1.2.3.4', '1.2.3.0/33'), "
                      "ipe_ip_in_cidr(NULL, '1.0.0.0/8')\")[1] return table.concat(r, ',')", buf, sizeof buf),
           "1,0,1,0,1,1,0,0", "ipe_ip_in_cidr: v4, v6, mixed families, mapped, bare IP, bad prefix, NULL");
    tap_is(lua_run(L, "local r = db:query(\"SELECT ipe_text_has_ip('from 10.0.1.2 port 22', '10.0.1.2'), "
                      "ipe_text_has_ip('from 10.0.1.20 port 22', '10.0.1.2'), ipe_text_has_ip('110.0.1.2', '10.0.1.2'), "
                      "ipe_text_has_ip('host 10.0.1.2.', '10.0.1.2'), ipe_text_has_ip('ip=10.0.1.2', '10.0.1.2')\")[1] "
                      "return table.concat(r, ',')", buf, sizeof buf),
           "1,0,0,1,1", "ipe_text_has_ip matches whole tokens only");
    tap_is(lua_run(L, "local r = db:query(\"SELECT 'ab12' REGEXP '\\\\d+$', regexp('^b', 'ab'), regexp('(?i)AB', 'xab'), "
                      "regexp('a', NULL) IS NULL, ipe_regex_extract('(\\\\w+)@(\\\\w+)', 2, 'mail bob@contoso now'), "
                      "ipe_regex_extract('(x)?y', 1, 'y') IS NULL, ipe_regex_extract('a', 3, 'a') IS NULL, "
                      "ipe_regex_extract('(.)', 1, 'é')\")[1] return table.concat(r, ',')", buf, sizeof buf),
           "1,0,1,1,contoso,1,1,\xc3\xa9", "regexp and ipe_regex_extract: PCRE2 syntax, NULL, unset and missing groups, UTF-8");
    tap_is(lua_run(L, "local ok, e = pcall(db.query, db, \"SELECT regexp('(a', 'a')\") return e", buf, sizeof buf),
           "sqlite: bad regular expression at offset 2: missing closing parenthesis", "a bad pattern is an error naming it");
    tap_is(lua_run(L, "local ok, e = pcall(db.query, db, \"SELECT regexp('(a+)+$', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab')\") return tostring(e)", buf, sizeof buf),
           "sqlite: regular expression too costly for this text", "a runaway match stops at the match limit");
    tap_is(lua_run(L, "local r = db:query(\"SELECT ipe_parse_ipv4('1.2.3.4'), ipe_parse_ipv4('10.1.2.3/8'), "
                      "ipe_parse_ipv4('::1') IS NULL, ipe_parse_ipv4('x') IS NULL\")[1] "
                      "return string.format('%d,%d,%d,%d', r[1], r[2], r[3], r[4])", buf, sizeof buf),
           "16909060,167772160,1,1", "ipe_parse_ipv4: a number, a masked prefix, not IPv4");
    tap_is(lua_run(L, "db:close() local ro = require('ipe.sqlite').open(PATH, 'ro') ro:readonly_guard() "
                      "local ok, e = pcall(ro.exec, ro, \"INSERT INTO t VALUES ('y', 1, 1)\") ro:close() return e",
                   buf, sizeof buf),
           "sqlite: not authorized", "a guarded read-only connection refuses writes");
    tap_is(lua_run(L, "local ro = require('ipe.sqlite').open(PATH, 'ro') ro:readonly_guard() "
                      "local ok, e = pcall(ro.exec, ro, \"ATTACH '/tmp/ipe-x.db' AS x\") ro:close() return e",
                   buf, sizeof buf),
           "sqlite: not authorized", "ATTACH is refused");
    tap_is(lua_run(L, "local ro = require('ipe.sqlite').open(PATH, 'ro') ro:set_deadline(0.2) "
                      "local ok, e = pcall(ro.query, ro, 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                      "SELECT count(*) FROM c') ro:close() return e", buf, sizeof buf),
           "sqlite: query interrupted: time budget exceeded", "a runaway query is interrupted at the deadline");
    tap_is(lua_run(L, "local db, e = require('ipe.sqlite').open('/nonexistent/dir/x.db', 'ro') return e", buf, sizeof buf),
           "unable to open database file", "open failure returns nil, message");
    ipe_engine_close(L);
    unlink(path);
    return tap_done();
}
