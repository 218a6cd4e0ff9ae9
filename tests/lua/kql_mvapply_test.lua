-- Tests for KQL's mv-apply (ipe.kql): each record's expanded array goes through the subquery
-- on its own; the rows are compared with a hand-written SQL query over the same rows, or with
-- values worked out by hand (Kusto's documented example among them).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql mv-apply", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local kql = require "ipe.kql"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local NOW = timeutil.parse_time("2026-11-27T00:00:00Z")
local function hb(t, computer, ips)
  return { TimeGenerated = t, Computer = computer, ComputerPrivateIPs = ips }
end
local path = H.workspace{ rows = {
  Heartbeat = {
    hb("2026-11-26T10:00:00.000Z", "web1", '["10.0.0.5", "192.168.1.7", "10.0.0.9"]'),
    hb("2026-11-26T11:00:00.000Z", "web2", '["172.16.0.4"]'),
    hb("2026-11-26T12:00:00.000Z", "db1", '["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"]'),
    hb("2026-11-26T13:00:00.000Z", "empty", "[]"),
  },
} }
local db = assert(sqlite.open(path, "ro"))
local WINDOW = { from = "2026-11-20T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z" }

local function clean(rows, cols)
  for _, r in ipairs(rows) do for j = 1, #cols do if r[j] == cjson.null then r[j] = nil end end end
  return rows
end
local function run(q)
  local plan = kql.compile(q, { now = NOW, window = WINDOW })
  return clean(db:query(plan.sql, plan.binds)), plan
end
local function sql(q) return clean(db:query(q)) end
local function names(plan)
  local out = {}
  for i, c in ipairs(plan.columns) do out[i] = c.name end
  return out
end
local function kerr(q, engine)
  local ok, e = pcall(kql.compile, q, { now = NOW, window = WINDOW, engine = engine })
  T.ok(not ok and kql.is_error(e), "expected a KQL error for " .. q)
  return ok and "(compiled)" or string.format("%d:%d: %s", e.line, e.col, e.msg)
end

T.case("where and summarize run per record; the other columns stand beside the result", function()
  local rows, plan = run([==[Heartbeat
    | project Computer, ComputerPrivateIPs
    | mv-apply ip = ComputerPrivateIPs to typeof(string) on (where ip startswith "10." | summarize n = count(), first = min(ip))
    | order by Computer asc]==])
  T.eq(names(plan), { "Computer", "ComputerPrivateIPs", "n", "first" }, "a named expansion keeps its source column")
  T.eq(rows, sql([==[SELECT Computer, ComputerPrivateIPs,
      (SELECT count(*) FROM json_each(h.ComputerPrivateIPs) WHERE value LIKE '10.%'),
      coalesce((SELECT min(value) FROM json_each(h.ComputerPrivateIPs) WHERE value LIKE '10.%'), '')
    FROM Heartbeat h ORDER BY Computer]==]))
  -- by hand: an empty subtable still gives summarize's one row (count 0)
  T.eq(rows[2], { "empty", "[]", 0, "" })
  T.eq(rows[3], { "web1", '["10.0.0.5", "192.168.1.7", "10.0.0.9"]', 2, "10.0.0.5" })
end)

T.case("Kusto's documented example: the largest element of each array, with and without a new name", function()
  local data = "datatable(xMod2:long, l:dynamic)[1, dynamic([1, 3, 5, 7]), 0, dynamic([2, 4, 6, 8])]"
  local rows, plan = run(data .. " | mv-apply element = l to typeof(long) on (top 1 by element) | order by xMod2 desc")
  T.eq(names(plan), { "xMod2", "l", "element" })
  T.eq(rows, { { 1, "[1,3,5,7]", 7 }, { 0, "[2,4,6,8]", 8 } })
  rows, plan = run(data .. " | mv-apply l to typeof(long) on (top 2 by l) | order by xMod2 desc, l desc")
  T.eq(names(plan), { "xMod2", "l" }, "expanding a column by its own name replaces it")
  T.eq(rows, { { 1, 7 }, { 1, 5 }, { 0, 8 }, { 0, 6 } })
end)

T.case("the subquery's rows keep its order, within the input's", function()
  local rows = run([==[datatable(id:long, arr:dynamic)[2, dynamic([1, 3, 2]), 1, dynamic(["b", "a"])]
    | order by id asc
    | mv-apply x = arr on (order by tostring(x) desc | project v = strcat("v", tostring(x)))]==])
  T.eq(rows, { { 1, '["b","a"]', "vb" }, { 1, '["b","a"]', "va" }, { 2, "[1,3,2]", "v3" }, { 2, "[1,3,2]", "v2" },
    { 2, "[1,3,2]", "v1" } })
end)

T.case("with_itemindex, limit and several arrays expanded side by side", function()
  local rows, plan = run([==[datatable(k:string, a:dynamic, b:dynamic)["r", dynamic([10, 20, 30]), dynamic(["x", "y"])]
    | mv-apply with_itemindex = i a to typeof(long), b to typeof(string) limit 2 on (extend c = a * 2 + i)]==])
  T.eq(names(plan), { "k", "a", "b", "i", "c" })
  T.eq(rows, { { "r", 10, "x", 0, 20 }, { "r", 20, "y", 1, 41 } })
  rows = run([==[datatable(k:string, a:dynamic, b:dynamic)["r", dynamic([10, 20, 30]), dynamic(["x"])]
    | mv-apply a, b on (where isnull(b) | project a)]==])
  T.eq(rows, { { "r", "20" }, { "r", "30" } }, "the shorter array reads null past its end")
end)

T.case("the subquery's values keep their types: dynamic, bool, datetime, real, quotes in strings", function()
  local rows, plan = run([==[print id = 1, arr = dynamic([{"n": 1, "t": "a\"b"}, {"n": 2}])
    | mv-apply o = arr on (
        summarize list = make_list(o.n), any_t = max(tostring(o.t)), big = countif(toint(o.n) > 1) > 0,
                  at = max(datetime(2026-01-02 03:04:05)), avg_n = avg(toint(o.n)), none = make_list(o.missing))]==])
  T.eq(names(plan), { "id", "arr", "list", "any_t", "big", "at", "avg_n", "none" })
  T.eq(plan.columns[3].type, "dynamic")
  T.eq(plan.columns[5].type, "bool")
  table.remove(rows[1], 2)   -- (the print's own dynamic, its keys in any order)
  T.eq(rows, { { 1, "[1,2]", 'a"b', 1, "2026-01-02T03:04:05.000Z", 1.5, "[]" } })
end)

T.case("042's shape: order inside, then make_list / avg / stdev / max per record", function()
  local rows = run([==[datatable(h:string, hist:dynamic)["a", dynamic([{"c": 3, "t": "2026-01-02"}, {"c": 0, "t": "2026-01-01"}, {"c": 1, "t": "2026-01-03"}])]
    | mv-apply hist = hist on (order by todatetime(hist["t"]) asc
        | summarize l = make_list(toint(hist["c"])), m = avg(toint(hist["c"])), s = stdev(toint(hist["c"])), x = max(toint(hist["c"])))
    | extend last = l[-1]]==])
  -- by hand: in time order the counts are 0, 3, 1; mean 4/3; sample variance (16/9 + 25/9 + 1/9) / 2 = 7/3
  T.eq(#rows, 1)
  T.eq({ rows[1][1], rows[1][2], rows[1][3], rows[1][5], rows[1][6] }, { "a", "[0,3,1]", 4 / 3, 3, "1" })
  T.ok(math.abs(rows[1][4] - math.sqrt(7 / 3)) < 1e-12, "stdev " .. tostring(rows[1][4]))
end)

T.case("a let table read inside the subquery and again outside it", function()
  -- T's CTEs made inside the subquery live in its WITH: the outer use compiles T again
  local rows = run([==[let T = datatable(v:long)[2, 3];
    datatable(a:dynamic)[dynamic([1, 2, 5])]
    | mv-apply x = a to typeof(long) on (where x in (T))
    | union (T | project x = v)
    | order by x asc, tostring(a) desc]==])
  T.eq(rows, { { "[1,2,5]", 2 }, { nil, 2 }, { nil, 3 } })
end)

T.case("literals in the subquery and the limit are bound parameters", function()
  local _, plan = run([==[datatable(k:string, a:dynamic)["r", dynamic(["secret-1", "x"])]
    | mv-apply v = a to typeof(string) limit 7 on (where v != "secret-2" | extend w = strcat(v, "-tail"))]==])
  for _, lit in ipairs({ "secret", "tail", "7" }) do
    T.ok(not plan.sql:find(lit, 1, true), "the SQL text holds no '" .. lit .. "'")
  end
  local vals = {}
  for _, p in ipairs(plan.params) do vals[#vals + 1] = tostring(p.value) end
  T.eq(table.concat(vals, " "), 'r ["secret-1","x"] 7 secret-2 -tail')
end)

T.case("errors: the subquery sees only the expanded columns; names must not clash; ClickHouse refuses", function()
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs on (where Computer == 'x')"),
    "1:56: unknown column 'Computer'")
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs on (extend Computer = tostring(ip))"),
    "1:13: 'mv-apply': its subquery's column 'Computer' is also a column of its input")
  T.eq(kerr("Heartbeat | mv-apply a = ComputerPrivateIPs, a = ComputerPrivateIPs on (take 1)"),
    "1:46: 'mv-apply' expands two columns named 'a'")
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs | take 1"),
    "1:46: expected 'on' and the subquery, found '|'")
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs on take 1"),
    "1:49: expected '(' and the subquery, found 'take'")
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs on (take 1"),
    "1:56: expected ')' after the subquery, found the end of the query")
  T.eq(kerr("Heartbeat | mv-apply ip = ComputerPrivateIPs on (take 1)", "clickhouse"),
    "1:13: 'mv-apply' is not supported on ClickHouse 18.16")
end)

db:close()
H.cleanup()
T.done()
