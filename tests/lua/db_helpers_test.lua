-- ctx.db's helpers (issue 12, the dialect boundary): every argument is checked before any SQL
-- is written — a bad one is one line naming the caller's file:line, on both engines — and
-- `check`'s dialect rules (ipe.lint.dialect) report every engine-specific call with its helper.
-- The helpers' results on both engines: tests/clickhouse/dialect_test.lua.
local T = require "ipe.testing"
local dbmod = require "ipe.db"
local lint = require "ipe.lint"
local sqlite = require "ipe.sqlite"

local path = os.tmpname()
local conn = assert(sqlite.open(path, "rwc"))
local L = dbmod.wrap(conn, { from = "2024-01-01T00:00:00.000Z", to = "2024-01-02T00:00:00.000Z" })
-- a ClickHouse handle builds SQL without a server (no statement is run here)
local C = dbmod.wrap({ dialect = "clickhouse", query = function() error("not run") end }, {})
local HERE = "tests/lua/db_helpers_test.lua:"

local HOSTILE_COLUMNS = { "a b", "a;b", "a'b", "a--", "a.b.c", ".a", "1a", "", "a)", "a\0b", "TimeGenerated OR 1=1" }

T.case("a column that is no plain identifier (or alias.Col) is refused by every helper, on both engines", function()
  for _, h in ipairs({ L, C }) do
    for _, bad in ipairs(HOSTILE_COLUMNS) do
      for _, call in ipairs({
        function() return h:window(bad) end, function() return h:bucket(bad, "hour") end,
        function() return h:time_text(bad) end, function() return h:seconds_between("a", bad) end,
        function() return h:string_agg(bad) end, function() return h:position(bad, "x") end,
        function() return h:host_short(bad) end, function() return h:host_label(bad) end,
        function() return h:json(bad, "a") end, function() return h:json_has_value(bad, "ip") end,
        function() return h:entities_have_ip(bad, "ip") end, function() return h:ip_in_cidr(bad, "c") end,
        function() return h:ip_in_cidr_column("IP", bad) end, function() return h:text_has_ip(bad, "ip") end,
        function() return h:rollup_bucket(bad, "day") end, function() return h:json_valid(bad) end,
        function() return h:json_each(bad, "e") end, function() return h:ip_with_port(bad, "ip") end,
        function() return h:time_in_list(bad, "ts") end,
      }) do
        local e = T.raises(call, "ctx.db: column must be a plain identifier (or alias.Col)")
        T.like(e, "^[^:]-" .. HERE:gsub("%p", "%%%0") .. "%d+: ", "the caller's file:line first")  -- (the run may name the file by its absolute path)
        T.ok(not e:find("\n"), "one line")
      end
    end
  end
end)

T.case("parameters, units, separators, needles, paths, keys and rollup names are checked", function()
  for _, h in ipairs({ L, C }) do
    T.raises(function() return h:json_has_value("c", "ip;x") end, "parameter name must be a plain identifier")
    T.raises(function() return h:bucket("c", "week") end, "ctx.db:bucket: unit must be minute, hour or day")
    T.raises(function() return h:rollup_bucket("c", "minute") end, "ctx.db:rollup_bucket: unit must be hour or day")
    T.raises(function() return h:string_agg("c", "' || x || '") end, "ctx.db:string_agg: separator must be one of")
    T.raises(function() return h:string_agg("c", ", ", true) end, "with distinct, the separator is ','")
    T.raises(function() return h:string_agg("c", ",", "yes") end, "the third argument is true or \"distinct\"")
    T.raises(function() return h:position("c", "it's") end, "ctx.db:position: the needle is a short constant")
    T.raises(function() return h:position("c", string.rep("a", 33)) end, "ctx.db:position: the needle is a short constant")
    T.raises(function() return h:json("c", "a') OR 1=1 --") end, "ctx.db:json: path must be like")
    T.raises(function() return h:latest("T", "t", { "k;" }, "1 = 1") end, "ctx.db: key must be a plain identifier")
    T.raises(function() return h:latest("T", "t", {}, "1 = 1") end, "ctx.db:latest: key is a column or a list")
    T.raises(function() return h:latest("T", "t", "k", "") end, "ctx.db:latest: where is an SQL condition")
    T.raises(function() return h:rollup_rows("secrets") end, "ctx.db:rollup_rows: rollup must be activity, peers or traffic")
    T.raises(function() return h:rollup_rows("peers", "from", "to", "ip) OR (1") end, "parameter name must be a plain identifier")
    T.raises(function() return h:rows_in_ip_hours("Sys log") end, "ctx.db: table must be a plain identifier")
    T.raises(function() return h:rows_in_ip_hours("Syslog", "x'y") end, "ctx.db: source table must be a plain identifier")
    T.raises(function() return h:rows_in_ip_hours("Syslog", nil, "ip)") end, "parameter name must be a plain identifier")
    T.raises(function() return h:ip_with_port("c", "ip'") end, "parameter name must be a plain identifier")
    T.raises(function() return h:time_in_list("c", "ts)") end, "parameter name must be a plain identifier")
    T.raises(function() return h:json_each("c", "e x") end, "ctx.db: table alias must be a plain identifier")
    T.raises(function() return h:json_each("c", "e", "a') --") end, "ctx.db:json_each: path must be like")
  end
end)

T.case("the SQL of a helper names only its checked arguments and its own constants", function()
  for _, h in ipairs({ L, C }) do
    local sql = h:string_agg("x.Col", ", ", false) .. h:position("Msg", " from ") .. h:latest("T", "t", { "A", "B" }, "t.X = :x")
    T.like(sql, "x%.Col")
    local params = {}
    for name in sql:gmatch(":([%a_][%w_]*)") do params[#params + 1] = name end
    T.eq(params, { "x" }, "no parameter the caller did not name")
  end
  T.eq(L:string_agg("Port", ",", "distinct"), "ipe_sorted_distinct(Port, ',')")
  T.eq(L:seconds_between("A", "B"), "((julianday(B) - julianday(A)) * 86400.0)")
  T.like(C:string_agg("Port", ",", "distinct"), "groupUniqArray%(Port%)")
  T.like(C:latest("SecurityAlert", "a", "SystemAlertId", "1 = 1"), "LIMIT 1 BY SystemAlertId$")
end)

T.case("string_agg distinct on SQLite: each value once, sorted as ClickHouse sorts (numbers as numbers), NULL when none", function()
  local rows = L:query("SELECT g, " .. L:string_agg("x", ",", "distinct") .. " FROM (SELECT 1 AS g, 'b' AS x "
    .. "UNION ALL SELECT 1, 'a' UNION ALL SELECT 1, 'b' UNION ALL SELECT 1, NULL UNION ALL SELECT 2, 10 "
    .. "UNION ALL SELECT 2, 9 UNION ALL SELECT 3, NULL) GROUP BY g ORDER BY g")
  T.eq(#rows, 3)
  T.eq(rows[1][2], "a,b")
  T.eq(rows[2][2], "9,10")
  T.eq(rows[3][2], require("cjson").null)
end)

T.case("rows_in_ip_hours on SQLite: exactly the rows of the hours the rollup saw the IP in the source, each once", function()
  conn:exec("CREATE TABLE _ipe_ip_activity (IP TEXT NOT NULL, Hour TEXT NOT NULL, Source TEXT NOT NULL, Host TEXT NOT NULL, "
    .. "Events INTEGER NOT NULL, FirstSeen TEXT NOT NULL, LastSeen TEXT NOT NULL, PRIMARY KEY (IP, Hour, Source, Host)) WITHOUT ROWID")
  conn:exec("CREATE TABLE Logs (TimeGenerated TEXT, N INTEGER)")
  conn:exec("CREATE INDEX ix_Logs_TimeGenerated ON Logs (TimeGenerated)")
  -- the IP's hours: 00 (two hosts: the hour is read once), 10 and 23 of the window's day; 05 only in
  -- another source, 11 only for another IP, the day before outside the window
  for _, r in ipairs({ { "1.2.3.4", "2024-01-01T00", "Logs", "a" }, { "1.2.3.4", "2024-01-01T00", "Logs", "b" },
                       { "1.2.3.4", "2024-01-01T10", "Logs", "" }, { "1.2.3.4", "2024-01-01T23", "Logs", "" },
                       { "1.2.3.4", "2024-01-01T05", "Other", "" }, { "5.6.7.8", "2024-01-01T11", "Logs", "" },
                       { "1.2.3.4", "2023-12-31T10", "Logs", "" } }) do
    conn:exec(string.format("INSERT INTO _ipe_ip_activity VALUES ('%s', '%s', '%s', '%s', 1, 'x', 'x')", r[1], r[2], r[3], r[4]))
  end
  local n = 0
  for _, t in ipairs({ "2023-12-31T10:30:00.000Z", "2024-01-01T00:00:00.000Z", "2024-01-01T00:59:59.999Z",
                       "2024-01-01T01:00:00.000Z", "2024-01-01T05:10:00.000Z", "2024-01-01T09:59:59.999Z",
                       "2024-01-01T10:00:00.000Z", "2024-01-01T10:30:00.000Z", "2024-01-01T11:00:00.000Z",
                       "2024-01-01T11:30:00.000Z", "2024-01-01T23:59:59.999Z", "2024-01-02T00:00:00.000Z" }) do
    n = n + 1
    conn:exec(string.format("INSERT INTO Logs VALUES ('%s', %d)", t, n))
  end
  local got = L:query("SELECT N FROM " .. L:rows_in_ip_hours("Logs") .. " ORDER BY N", { ip = "1.2.3.4" })
  -- the reference: every row whose hour is one of the IP's Logs hours of the window
  local want = L:query("SELECT N FROM Logs WHERE substr(TimeGenerated, 1, 13) IN (SELECT Hour FROM _ipe_ip_activity "
    .. "WHERE IP = :ip AND Source = 'Logs' AND Hour >= substr(:from, 1, 13) AND Hour <= substr(:to, 1, 13)) ORDER BY N",
    { ip = "1.2.3.4" })
  local flat = {}
  for i, r in ipairs(got) do flat[i] = r[1] end
  T.eq(flat, { 2, 3, 7, 8, 11 })
  T.eq(got, want, "as the hour-by-hour reference")
  T.eq(#L:query("SELECT N FROM " .. L:rows_in_ip_hours("Logs", "Other") .. " ORDER BY N", { ip = "1.2.3.4" }), 1,
    "another source's hours")
  T.like(C:rows_in_ip_hours("Syslog"), "^%(SELECT %* FROM Syslog WHERE formatDateTime%(toStartOfHour%(TimeGenerated%)")
end)

T.case("a helper ClickHouse has no form for raises one line naming the helper", function()
  for name, call in pairs({
    json_each_path = function() return C:json_each("c", "e", "items[0].ids") end,
  }) do
    name = name:gsub("_path$", "")
    local e = T.raises(call, "ctx.db:" .. name .. " is not available on ClickHouse")
    T.like(e, "^[^:]-" .. HERE:gsub("%p", "%%%0"))
  end
end)

T.case("check's dialect rules: every engine-specific call is found, with its line; prose and helpers are not", function()
  local uses = {
    { "group_concat(x)", "'group_concat' is SQLite-only; use ctx.db:string_agg" },
    { "json_extract(c, '$.a')", "'json_extract' is SQLite-only; use ctx.db:json(" },
    { "FROM json_each(c)", "'json_each' is SQLite-only" },
    { "json_tree(c)", "'json_tree' is SQLite-only" },
    { "json_valid(c)", "'json_valid' is SQLite-only" },
    { "json_type(c)", "'json_type' is SQLite-only" },
    { "julianday(t)", "'julianday' is SQLite-only; use ctx.db:seconds_between" },
    { "strftime('%H', t)", "'strftime' is SQLite-only; use ctx.db:bucket" },
    { "datetime(t)", "'datetime' is SQLite-only; use ctx.db:time_text" },
    { "instr(Host, '.')", "'instr' is SQLite-only; use ctx.db:position" },
    { "Host GLOB '*a*'", "'GLOB' is SQLite-only; use ctx.db:host_short" },
    { "SELECT rowid FROM t", "'rowid' is SQLite-only" },
    { "ROW_NUMBER() OVER (PARTITION BY k)", "'ROW_NUMBER' is SQLite-only; use ctx.db:latest" },
    { "ipe_ip_in_cidr(a, :c)", "'ipe_ip_in_cidr' is SQLite-only; use ctx.db:ip_in_cidr" },
    { "ipe_text_has_ip(a, :ip)", "'ipe_text_has_ip' is SQLite-only; use ctx.db:text_has_ip" },
    { "FROM sqlite_master", "'sqlite_master' is SQLite-only" },
    { "Hour >= substr(:from, 1, 13)", "'substr(:param' is SQLite-only; use ctx.db:rollup_rows" },
    { "WHERE +TimeGenerated <= :to", "'+Col' is SQLite-only; use ctx.db:window" },
    { "SELECT 1 FROM _ipe_ip_peers", "an _ipe_ table is internal to ipe" },
    { "a JOIN _ipe_ti_ranges r", "an _ipe_ table is internal to ipe" },
    { "argMax(x, t)", "'argMax' is ClickHouse-only; use ctx.db:latest" },
    { "ORDER BY t LIMIT 1 BY k", "'LIMIT n BY' is ClickHouse-only" },
    { "groupArray(x)", "'groupArray' is ClickHouse-only; use ctx.db:string_agg" },
    { "groupUniqArray(x)", "'groupUniqArray' is ClickHouse-only" },
    { "arrayStringConcat(a, ',')", "'arrayStringConcat' is ClickHouse-only" },
    { "visitParamExtractString(c, 'a')", "'visitParamExtract' is ClickHouse-only; use ctx.db:json" },
    { "JSONExtractString(c, 'a')", "'JSONExtract' is ClickHouse-only" },
    { "toStartOfHour(t)", "'toStartOf...' is ClickHouse-only; use ctx.db:bucket" },
    { "dateDiff('second', a, b)", "'dateDiff' is ClickHouse-only" },
    { "formatDateTime(t, '%Y')", "'formatDateTime' is ClickHouse-only" },
    { "IPv4StringToNum(a)", "'IPv4/IPv6StringToNum' is ClickHouse-only" },
    { "positionCaseInsensitive(a, 'x')", "'positionCaseInsensitive' is ClickHouse-only" },
    { "extractAll(a, 'x')", "'extractAll' is ClickHouse-only" },
  }
  local lines = { "local db = ctx.db" }
  for i, u in ipairs(uses) do lines[i + 1] = string.format("local s%d = %q", i, u[1]) end
  local found = lint.dialect(lint.tokens(table.concat(lines, "\n")))
  T.eq(#found, #uses, "one problem per use")
  for i, u in ipairs(uses) do
    T.eq(found[i].line, i + 1)
    T.like(found[i].msg, u[2]:gsub("%p", "%%%0"))
  end
  -- a long string reports the line inside it; prose, helpers and portable SQL are not reported
  local long = lint.dialect(lint.tokens('local s = [[\nSELECT a,\n  group_concat(b)\nFROM t]]'))
  T.eq(long[1].line, 3)
  T.eq(lint.dialect(lint.tokens(table.concat({
    'local d = [[Groups the rows (a window of time); json and GLOBAL counts, the instruction, a rowid-free list.]]',
    'local q = "SELECT " .. db:string_agg("Port", ",", "distinct") .. " FROM t WHERE Host LIKE \'%.%\' AND a + b > 1"',
    'local sources = { "_ipe_ip_activity" }',
  }, "\n"))), {})
end)

os.remove(path)
