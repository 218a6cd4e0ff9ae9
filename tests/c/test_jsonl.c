/* test_jsonl.c — ipe.jsonl: the row hash is ipe.ingest.fingerprint.hash53's bit for bit,
 * lines go to the batch or back to Lua as documented, rows come out as bound values and as
 * RowBinary bytes, and a bad spec is one error, never a crash. */
#include "tap.h"

static const char *SPEC =
    "spec = { table = 'T', names = { 'TimeGenerated', 'Name', 'SrcIP', 'Port', 'Type' }, "
    "kinds = { 3, 1, 2, 4, 1 }, keys = { TimeGenerated = 1, Name = 2, SrcIP = 3, Port = 4, Type = 5 }, "
    "type_ci = 5, tg_ci = 1, max_line = 1000, batch = 3, hash_key = { 1, -2, 3, 4 } } "
    "P = require('ipe.jsonl').plan(spec) return 1";

int main(void)
{
    char buf[2048];
    lua_State *L = ipe_engine_new();
    lua_run(L, SPEC, buf, sizeof buf);

    tap_is(lua_run(L, "local fp = require 'ipe.ingest.fingerprint' local bad = {} "
                      "for n = 0, 70 do "
                      "  local s = 'T' for i = 1, n do s = s .. string.char(i % 7 == 0 and 0 or 32 + i) end "
                      "  local P2 = require('ipe.jsonl').plan({ table = s, names = { 'TimeGenerated' }, kinds = { 3 }, "
                      "    keys = { TimeGenerated = 1 }, type_ci = 0, tg_ci = 1, max_line = 100, batch = 1, "
                      "    hash_key = { 1, -2, 3, 4 } }) "
                      "  P2:parse('{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\"}\\n', 1) "
                      "  local want = fp.hash53(s .. '\\0TimeGenerated\\1' .. '2024-01-01T00:00:00.000Z', { 1, -2, 3, 4 }) "
                      "  if P2:hashes()[1] ~= want then bad[#bad + 1] = n end "
                      "end return #bad == 0 and 'same' or table.concat(bad, ',')", buf, sizeof buf),
           "same", "the row hash is fingerprint.hash53 of load's row text, for tables names of 1 to 71 bytes");

    tap_is(lua_run(L, "local s = '{\"Name\":\"a\\\\u00e9\",\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Port\":80,"
                      "\"Type\":\"T\",\"X\":null}\\n\\n{\"Name\":\"b\",\"TimeGenerated\":\"2024-01-02T00:00:00.000Z\",\"Port\":\"81\"}\\n"
                      "{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":\"c\"}\\n' "
                      "local pos, lines, rows, status = P:parse(s, 1) "
                      "local lo, hi = P:span() "
                      "return table.concat({ pos, lines, rows, status, table.concat(P:shape(), ','), lo, hi }, ' ')",
                      buf, sizeof buf),
           "162 3 2 2 2,1,4 2024-01-01T00:00:00.000Z 2024-01-02T00:00:00.000Z",
           "two rows of one shape (a blank line between), then a line of another shape ends the batch");

    tap_is(lua_run(L, "local out = {} "
                      "for _, l in ipairs({ '{\"TimeGenerated\":\"2024-01-01T00:00:00Z\"}', '{\"Name\":\"x\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Other\":1}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"SrcIP\":\"1.2.3.4:80\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Port\":1e3}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":true}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":\"\\xc3\\xa9\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Type\":\"U\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":\"\\\\ud800\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":\"a\",\"Name\":\"b\"}', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\"} x', '[1]', "
                      "  '{\"TimeGenerated\":\"2024-01-01T00:00:00.000Z\",\"Name\":\"' .. string.rep('y', 1000) .. '\"}' }) do "
                      "  local pos, lines, rows, status = P:parse(l .. '\\n', 1) "
                      "  out[#out + 1] = pos .. lines .. rows .. status "
                      "end return table.concat(out, ' ')", buf, sizeof buf),
           "1001 1001 1001 1001 1001 1001 1001 1001 1001 1001 1001 1001 1001",
           "lines the mapper must judge, bad lines and over-long lines go back to Lua (status 1), unread");

    tap_is(lua_run(L, "local s = '{\"TimeGenerated\":\"2024-01-01T00:00:01.250Z\",\"Name\":\"ab\",\"Port\":-2}\\n' "
                      "local P3 = require('ipe.jsonl').plan({ table = 'T', names = spec.names, kinds = spec.kinds, "
                      "  keys = spec.keys, type_ci = 5, tg_ci = 1, max_line = 1000, batch = 3, "
                      "  ch = { bin = { 5, 6, 1, 1, 2, 4, 9, 10 }, src = { 1, 1, 2, 3, 4, 0, 0, 0 } } }) "
                      "P3:parse(s, 1) "
                      "local data, n = P3:emit_rowbinary({}, 258) "
                      "return n .. ' ' .. data:gsub('.', function(c) return string.format('%02x', c:byte()) end)",
                      buf, sizeof buf),
           "1 81009265" "e2f851c28c010000" "0002616201" "00feffffff" "01" "000154" "0201000000000000",
           "RowBinary: DateTime, _ms, Nullable strings and Int32 (NULL flags), NULL, Type, the ingest id");

    tap_is(lua_run(L, "local ok, e = pcall(require('ipe.jsonl').plan, { table = 'T', names = { 'A' } }) return e",
                      buf, sizeof buf),
           "jsonl.plan: spec.kinds must be a table", "a spec without kinds: one error");
    tap_is(lua_run(L, "local ok, e = pcall(require('ipe.jsonl').plan, { table = 'T', names = { 'A' }, kinds = { 1 }, "
                      "keys = {}, tg_ci = 0, batch = 1 }) return e", buf, sizeof buf),
           "jsonl.plan: bad tg_ci or batch", "a spec without a TimeGenerated column: one error");

    ipe_engine_close(L);
    return tap_done();
}
