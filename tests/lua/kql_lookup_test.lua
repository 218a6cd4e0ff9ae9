-- Tests for the KQL the threat-intelligence hunts need: evaluate ipv4_lookup / ipv6_lookup
-- (rows worked out by hand, and compared with a per-pair SQL reference), array_sort_asc,
-- strcat_array over an aggregation, ipe's workspace function ipe_ip_activity() (against the
-- rollup table), the isnotempty()-guarded `in` (same rows, the column's index) and a where
-- over a union filtering each branch (the branches' indexes).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql lookup", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local kql = require "ipe.kql"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local NOW = timeutil.parse_time("2026-11-27T00:00:00Z")
local WINDOW = { from = "2026-11-20T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z" }
local function signin(t, ip, user) return { TimeGenerated = t, IPAddress = ip, UserPrincipalName = user, ResultType = "0" } end
local path = H.workspace{ rows = {
  SigninLogs = {
    signin("2026-11-26T10:15:00.000Z", "10.1.2.3", "alice@x.com"),
    signin("2026-11-26T10:45:00.000Z", "10.1.2.3", "bob@x.com"),
    signin("2026-11-26T11:00:00.000Z", "2001:db8::1", "carol@x.com"),
    signin("2026-11-25T09:00:00.000Z", "8.8.8.8", "dave@x.com"),
    signin("2026-11-25T09:30:00.000Z", nil, "erin@x.com"),
    signin("2026-11-10T09:00:00.000Z", "9.9.9.9", "old@x.com"),
  },
} }
local db = assert(sqlite.open(path, "ro"))

local function run(q, opts)
  opts = opts or {}
  local plan = kql.compile(q, { now = NOW, window = WINDOW, lets = opts.lets, types = opts.types, engine = opts.engine })
  if opts.engine then return nil, plan end
  local rows, cols = db:query(plan.sql, plan.binds)
  for _, r in ipairs(rows) do for j = 1, #cols do if r[j] == cjson.null then r[j] = nil end end end
  return rows, plan
end
local function sorted_rows(rows)
  local out = {}
  for i, r in ipairs(rows) do
    local cells = {}
    for j = 1, #r do cells[j] = tostring(r[j] == nil and "" or r[j]) end
    out[i] = table.concat(cells, " | ")
  end
  table.sort(out)
  return out
end
local function kerr(q, engine)
  local ok, e = pcall(kql.compile, q, { now = NOW, window = WINDOW, engine = engine })
  T.ok(not ok and kql.is_error(e), "expected a KQL error for " .. q)
  return string.format("%d:%d: %s", e.line, e.col, e.msg)
end

local NETS = [[let nets = datatable(Net:string, Name:string)["10.0.0.0/8", "ten", "10.1.0.0/16", "ten-one",
  "2001:db8::/32", "doc6", "8.8.8.8", "single", "::ffff:10.1.2.0/120", "mapped", "bad/99", "bad", "10.1.2.3/33", "too long"];
let addrs = datatable(IP:string, Name:string)["10.1.2.3", "a", "2001:db8::1", "b", "8.8.8.8", "c", "1.1.1.1", "d",
  "", "e", "10.255.255.255", "f", "11.0.0.0", "g"];
]]

T.case("ipv4_lookup: each address with every IPv4 block holding it; the lookup's clashing names get a number", function()
  local rows, plan = run(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net)")
  local cols = {}
  for i, c in ipairs(plan.columns) do cols[i] = c.name .. ":" .. c.type end
  T.eq(cols, { "IP:string", "Name:string", "Net:string", "Name1:string" })
  T.eq(sorted_rows(rows), {
    "10.1.2.3 | a | 10.0.0.0/8 | ten", "10.1.2.3 | a | 10.1.0.0/16 | ten-one",
    "10.255.255.255 | f | 10.0.0.0/8 | ten", "8.8.8.8 | c | 8.8.8.8 | single",
  }, "IPv6 texts (the address, the block, the IPv4-mapped block) take no part; a text that is no block matches nothing")
end)

T.case("ipv6_lookup: both families, an IPv4 address as its IPv4-mapped form", function()
  local rows = run(NETS .. "addrs | evaluate ipv6_lookup(nets, IP, Net) | project IP, Net")
  T.eq(sorted_rows(rows), {
    "10.1.2.3 | 10.0.0.0/8", "10.1.2.3 | 10.1.0.0/16", "10.1.2.3 | ::ffff:10.1.2.0/120", "10.255.255.255 | 10.0.0.0/8",
    "2001:db8::1 | 2001:db8::/32", "8.8.8.8 | 8.8.8.8",
  })
end)

T.case("ipv4_lookup and ipv6_lookup agree with a test of every pair (the TI ranges' reading of a block)", function()
  local q = "SigninLogs | distinct IP = IPAddress | evaluate %s(nets, IP, Net) | project IP, Net"
  for _, plugin in ipairs({ "ipv4_lookup", "ipv6_lookup" }) do
    local got = run(NETS .. q:format(plugin))
    -- the reference: every address of the window against every block, by the blocks' numeric
    -- ranges (ipe_cidr_range), IPv4 texts only for ipv4_lookup
    local fam = plugin == "ipv4_lookup" and " AND instr(a.IP, ':') = 0 AND instr(n.Net, ':') = 0" or ""
    local want = db:query("WITH nets(Net) AS (VALUES ('10.0.0.0/8'), ('10.1.0.0/16'), ('2001:db8::/32'), ('8.8.8.8'), "
      .. "('::ffff:10.1.2.0/120'), ('bad/99'), ('10.1.2.3/33')), "
      .. "a AS (SELECT DISTINCT IPAddress AS IP FROM SigninLogs WHERE TimeGenerated >= :from AND TimeGenerated <= :to) "
      .. "SELECT a.IP, n.Net FROM a, nets n WHERE ipe_ip_key(a.IP, ipe_cidr_range(n.Net, 2)) = ipe_cidr_range(n.Net, 0)" .. fam,
      { from = WINDOW.from, to = WINDOW.to })
    T.eq(sorted_rows(got), sorted_rows(want), plugin)
    T.ok(#want >= 3, plugin .. ": the reference has rows")
  end
end)

T.case("ipv4_lookup with return_unmatched: the unmatched rows too, the lookup's columns empty", function()
  local rows = run(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net, true) | project IP, Net")
  T.eq(sorted_rows(rows), {
    " | ", "1.1.1.1 | ", "10.1.2.3 | 10.0.0.0/8", "10.1.2.3 | 10.1.0.0/16", "10.255.255.255 | 10.0.0.0/8",
    "11.0.0.0 | ", "2001:db8::1 | ", "8.8.8.8 | 8.8.8.8",
  })
  T.eq(#run(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net, false)"), 4)
end)

T.case("evaluate: errors name the place; other plugins and ClickHouse's unmatched rows are refused", function()
  T.eq(kerr(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net, Name)"),
    "5:45: 'ipv4_lookup': extra key columns are not supported (only return_unmatched: true or false)")
  T.eq(kerr(NETS .. "addrs | evaluate ipv4_lookup(nets, IP)"),
    "5:18: 'ipv4_lookup' takes a lookup table, the input's key column and the lookup table's key column")
  T.eq(kerr(NETS .. "addrs | evaluate ipv6_lookup(nets, Address, Net)"), "5:36: unknown column 'Address'")
  T.eq(kerr(NETS .. "addrs | evaluate ipv6_lookup(nets, IP, strcat(Net))"),
    "5:40: 'ipv6_lookup': the lookup table's key column must be a column name")
  T.eq(kerr("print n = 1 | evaluate ipv4_lookup((print Net = '1.0.0.0/8'), n, Net)"),
    "1:63: 'ipv4_lookup': the input's key column 'n' is long, not a string")
  T.eq(kerr("print n = 1 | evaluate bag_unpack(n)"), "1:24: 'evaluate bag_unpack' is not supported")
  T.eq(kerr(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net, true)", "clickhouse"),
    "5:45: 'ipv4_lookup with return_unmatched' is not supported on ClickHouse 18.16")
  local _, plan = run(NETS .. "addrs | evaluate ipv4_lookup(nets, IP, Net)", { engine = "clickhouse" })
  T.like(plan.sql, "ALL INNER JOIN", "ClickHouse: one hash join on the probe keys")
end)

T.case("array_sort_asc; strcat_array and array_sort_asc over an aggregation in summarize", function()
  T.eq(run('print a = array_sort_asc(dynamic(["b", "a", "c"])) | project s = strcat_array(a, ",")'), { { "a,b,c" } })
  T.eq(run('print a = array_sort_asc("x")'), { {} }, "not an array: null")
  T.eq(run('SigninLogs | summarize Users = strcat_array(array_sort_asc(make_set(UserPrincipalName)), ";") by IPAddress '
    .. '| where IPAddress == "10.1.2.3"'), { { "10.1.2.3", "alice@x.com;bob@x.com" } })
  T.eq(run('SigninLogs | summarize s = strcat_array(array_sort_asc(make_list(IPAddress)), "/")'),
    { { "/10.1.2.3/10.1.2.3/2001:db8::1/8.8.8.8" } }, "\"\" is a value of the list")
end)

T.case("ipe_ip_activity(): the per-IP activity rollup's rows of the window's hours", function()
  local got = run("ipe_ip_activity() | project IP, Hour, Source, Host, Events")
  local want = db:query("SELECT IP, Hour, Source, Host, Events FROM _ipe_ip_activity "
    .. "WHERE Hour >= substr(:from, 1, 13) AND Hour <= substr(:to, 1, 13)", { from = WINDOW.from, to = WINDOW.to })
  T.eq(sorted_rows(got), sorted_rows(want))
  T.ok(#want >= 3, "the rollup has rows in the window")
  local old = db:query("SELECT count(*) FROM _ipe_ip_activity WHERE IP = '9.9.9.9'")[1][1]
  T.eq(old, 1, "the row before the window is in the rollup")
  T.eq(#run('ipe_ip_activity() | where IP == "9.9.9.9"'), 0, "and not in the window's")
  T.eq(kerr("ipe_ip_activity(1) | count"), "1:1: 'ipe_ip_activity' takes no arguments, got 1")
end)

T.case("x in (T) after isnotempty(x): the same rows, answered by the column's index", function()
  local q = 'let hits = datatable(IP:string)["10.1.2.3", "8.8.8.8", ""]; SigninLogs | where %s | project UserPrincipalName '
    .. '| order by UserPrincipalName asc'
  local guarded, plan = run(q:format("isnotempty(IPAddress) and IPAddress in (hits)"))
  local plain = run(q:format("IPAddress in (hits)"))
  T.eq(guarded, { { "alice@x.com" }, { "bob@x.com" }, { "dave@x.com" } })
  T.eq(plain, { { "alice@x.com" }, { "bob@x.com" }, { "dave@x.com" }, { "erin@x.com" } }, "a missing string is \"\"")
  local steps = {}
  for _, r in ipairs(db:query("EXPLAIN QUERY PLAN " .. plan.sql, plan.binds)) do steps[#steps + 1] = r[4] end
  T.like(table.concat(steps, "\n"), "USING INDEX ix_SigninLogs_IPAddress")
end)

T.case("a where over a union filters each branch: the same rows, each table's index", function()
  local q = 'let hits = datatable(IP:string)["10.1.2.3"]; union (SigninLogs | project IP = IPAddress, T = TimeGenerated), (SigninLogs | project IP = IPAddress, T = TimeGenerated) '
    .. '| where isnotempty(IP) and IP in (hits) | summarize n = count() by IP'
  local rows, plan = run(q)
  T.eq(rows, { { "10.1.2.3", 4 } })
  local steps = {}
  for _, r in ipairs(db:query("EXPLAIN QUERY PLAN " .. plan.sql, plan.binds)) do steps[#steps + 1] = r[4] end
  local _, n = table.concat(steps, "\n"):gsub("INDEX ix_SigninLogs_IPAddress", "")
  T.eq(n, 2, "both branches read the IPAddress index")
end)

T.case("ClickHouse: a scan written last with the columns the statement names, a scan inside another's WHERE too", function()
  local _, plan = run('SigninLogs | where IPAddress in (SigninLogs | where isnotempty(UserPrincipalName) '
    .. '| summarize s = make_set(IPAddress)) | count', { engine = "clickhouse" })
  T.eq(plan.sql:find("\2", 1, true), nil, "no scan left unwritten")
  T.eq(plan.sql:find('"AppDisplayName"', 1, true), nil, "a column the statement does not name is not read")
  T.like(plan.sql, '"UserPrincipalName"')
end)

db:close()
H.cleanup()
T.done()
