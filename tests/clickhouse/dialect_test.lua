-- ctx.db's helpers on both engines (issue 12, the dialect boundary): the same small rows in a
-- SQLite file and in a ClickHouse table, each helper's SQL (ipe.dialect.sqlite,
-- ipe.dialect.clickhouse, through ipe.db's handle) run on both, the results compared. SQLite's
-- answer is the reference (its ipe_ip_in_cidr and ipe_text_has_ip are the C core's). Run by
-- tests/cli/clickhouse.t, which starts the cluster and sets IPE_TEST_CH_URL.
local T = require "ipe.testing"
local ch = require "ipe.clickhouse"
local sqlite = require "ipe.sqlite"
local dbmod = require "ipe.db"
local proc = require "ipe.proc"
local cjson = require "cjson"

local URL = assert(proc.getenv("IPE_TEST_CH_URL"), "run me through tests/cli/clickhouse.t")
local NULL = cjson.null

-- id, TimeGenerated, Host, IP, Cidr, Msg, Obj (JSON object), Arr (JSON array), Ents (alert
-- entities), Qrr (a bookmark's row), Grp, Val, Key
local ROWS = {
  { 1, "2024-05-01T10:00:00.000Z", "WKS-007.contoso.com", "10.1.2.3", "10.0.0.0/8", "Accepted password for bob from 10.1.2.3 port 22",
    [[{"user":{"ipAddress":"10.1.2.3","n":5},"IPAddress":"10.1.2.3","Role":"SQL"}]], '["10.1.2.3","fe80::1"]',
    [=[[{"$id":"1","Type":"ip","Address":"10.1.2.3"},{"$id":"2","Type":"host","HostName":"wks-007"}]]=],
    [[{"__entityMapping":{"10.1.2.3":"IP","bob":"Account"}}]], "a", "x", "k1" },
  { 2, "2024-05-01T10:00:00.500Z", "wks-007", "10.1.2.30", "10.1.2.0/24", "scan from 10.1.2.30. done",
    [[{"user":{"ipAddress":"9.9.9.9"},"IPAddress":"10.1.2.30"}]], '["10.1.2.3"]',
    [=[[{"$id":"1","Type":"IP","Address":"10.1.2.30","Location":{"Type":"geo","Address":"x"}}]]=],
    [[{"__entityMapping":{"10.1.2.30":"ip"}}]], "a", "y", "k1" },
  { 3, "2024-05-01T10:59:59.999Z", "10.9.9.9", "2001:db8::1", "2001:db8::/32", "from 2001:db8::1:22 and 2001:db8::1",
    [[{"IPAddress":"x","Other":"2001:db8::1"}]], "[]", "[]", "{}", "a", "x", "k2" },
  { 4, "2024-05-01T11:00:00.000Z", "srv.example.org", "2001:db8::1", "2001:db9::/32", "10.1.2.3x not it",
    "not json", "not json", "not json", "not json", "b", "z", "k2" },
  { 5, "2024-05-01T11:30:00.001Z", "", "10.1.2.3", "10.1.2.3", "110.1.2.3 and 10.1.2.33 only", [[{"a":1}]],
    '["10.1.2.30"]', [=[[{"Type":"ip","Address":"10.1.2.33"}]]=], [[{"__entityMapping":{"10.1.2.3":"Host"}}]], "b", "w", "k3" },
  { 6, "2024-05-02T00:00:00.000Z", NULL, "::ffff:10.1.2.3", "10.0.0.0/8", NULL, NULL, NULL, NULL, NULL, "c", NULL, "k3" },
  { 7, "2024-05-02T23:59:59.000Z", "Host.Two.Lan", "300.1.2.3", "0.0.0.0/0", "ip=10.1.2.3;", "{}", "[]", "[]", "{}",
    "c", "v", "k4" },
  { 8, "2024-05-03T01:02:03.004Z", "h", "10.1.2.3", "10.1.2.0/33", "(10.1.2.3)", "{}", "[]", "[]", "{}", "c", "v", "k4" },
  { 9, "2024-05-03T01:02:03.005Z", "h", "fe80::1", "fe80::/10", "fe80::1", "{}", "[]", "[]", "{}", "d", "v", "k5" },
  { 10, "2024-05-03T01:02:03.006Z", "h", "fe80::1", "::/0", "FE80::1 upper", "{}", "[]", "[]", "{}", "d", "u", "k5" },
  { 11, "2024-05-03T01:02:03.007Z", "h", "2001:db8:0:0:8000::1", "2001:db8::8000:0:0:0/65", "", "{}", "[]", "[]", "{}",
    "d", "u", "k5" },
  { 12, "2024-05-03T01:02:03.008Z", "h", "2001:db8::1", "2001:db8::/128", "", "{}", "[]", "[]", "{}", "d", "u", "k5" },
  { 13, "2024-05-03T01:02:03.009Z", "h", "10.1.2.3", "10.1.2.3/32", "", "{}", "[]", "[]", "{}", "d", "u", "k5" },
  { 14, "2024-05-03T01:02:03.010Z", "h", "10.1.2.3", "10.1.2.3/x", "", "{}", "[]", "[]", "{}", "d", "u", "k5" },
  { 15, "2024-05-03T01:02:03.011Z", "h", "", "", "", "{}", "[]", "[]", "{}", "d", "u", "k5" },
  { 16, "2024-05-03T01:02:03.012Z", "h", "10.1.2.3", "010.1.2.3/32", "", "{}", "[]", "[]", "{}", "d", "u", "k5" },
}
local COLS = { "id", "TimeGenerated", "Host", "IP", "Cidr", "Msg", "Obj", "Arr", "Ents", "Qrr", "Grp", "Val", "Key" }

local WINDOW = { from = "2024-05-01T10:00:00.500Z", to = "2024-05-02T23:59:59.000Z", now = "2024-05-04T00:00:00.000Z" }

-- SQLite ----------------------------------------------------------------------------------
local path = os.tmpname()
os.remove(path)
local lite = assert(sqlite.open(path, "rwc"))
lite:exec("CREATE TABLE dialect_rows (id INTEGER, TimeGenerated TEXT, Host TEXT, IP TEXT, Cidr TEXT, Msg TEXT, Obj TEXT, Arr TEXT,"
  .. " Ents TEXT, Qrr TEXT, Grp TEXT, Val TEXT, Key TEXT)")
lite:exec("CREATE TABLE _ipe_ip_activity (IP TEXT, Hour TEXT, Source TEXT, Host TEXT, Events INTEGER)")
lite:exec("CREATE TABLE _ipe_ip_ranges (Name TEXT, Category TEXT, Cidr TEXT)")

-- ClickHouse ------------------------------------------------------------------------------
local writer = ch.open(URL, { role = "writer", password = "" })
local reader = ch.open(URL, { role = "reader", password = "" })
writer:exec("DROP TABLE IF EXISTS dialect_rows")
writer:exec("DROP TABLE IF EXISTS _ipe_ip_activity_all")
writer:exec("DROP TABLE IF EXISTS _ipe_ingest")
writer:exec("DROP TABLE IF EXISTS _ipe_ip_ranges")
writer:exec("CREATE TABLE dialect_rows (id Int64, TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64, Host Nullable(String),"
  .. " IP Nullable(String), Cidr Nullable(String), Msg Nullable(String), Obj Nullable(String), Arr Nullable(String),"
  .. " Ents Nullable(String), Qrr Nullable(String), Grp Nullable(String), Val Nullable(String), Key Nullable(String))"
  .. " ENGINE = MergeTree ORDER BY TimeGenerated")
-- the rollup as ipe.rollup.clickhouse keeps it: aggregate states per ingest, read for committed ingests
writer:exec("CREATE TABLE _ipe_ip_activity_all (IP String, Hour String, Source String, Host String, _IngestId UInt64,"
  .. " Events AggregateFunction(count), FirstSeen AggregateFunction(min, Int64), LastSeen AggregateFunction(max, Int64))"
  .. " ENGINE = AggregatingMergeTree ORDER BY (IP, Hour, Source, Host, _IngestId)")
writer:exec("CREATE TABLE _ipe_ingest (Id UInt64) ENGINE = Memory")
writer:exec("INSERT INTO _ipe_ingest VALUES (1)")
writer:exec("CREATE TABLE _ipe_ip_ranges (Name String, Category String, Cidr String) ENGINE = Memory")

local timeutil = require "ipe.timeutil"
for _, r in ipairs(ROWS) do
  local b = {}
  for i, c in ipairs(COLS) do b[c] = r[i] end
  lite:query("INSERT INTO dialect_rows VALUES (:id, :TimeGenerated, :Host, :IP, :Cidr, :Msg, :Obj, :Arr, :Ents, :Qrr, :Grp, :Val, :Key)", b)
  local ms = math.floor(timeutil.parse_workspace_time(b.TimeGenerated) * 1000 + 0.5)
  b.sec = string.format("%d", math.floor(ms / 1000))
  b.ms = ms
  writer:exec("INSERT INTO dialect_rows VALUES (:id, toDateTime(toUInt32(:sec), 'UTC'), :ms, :Host, :IP, :Cidr, :Msg, :Obj, :Arr,"
    .. " :Ents, :Qrr, :Grp, :Val, :Key)", b)
end
for _, a in ipairs({ { "10.1.2.3", "2024-05-01T09", "Syslog", 1 }, { "10.1.2.3", "2024-05-01T10", "Syslog", 2 },
                     { "10.1.2.4", "2024-05-01T12", "Syslog", 3 }, { "10.1.2.5", "2024-05-03T00", "Syslog", 4 } }) do
  local b = { ip = a[1], hour = a[2], src = a[3], n = a[4] }
  lite:query("INSERT INTO _ipe_ip_activity VALUES (:ip, :hour, :src, '', :n)", b)
  -- n events of a committed ingest (1), and one of an ingest never committed (2), which is not read
  for ingest, count in pairs({ [1] = a[4], [2] = 1 }) do
    b.ingest, b.count = ingest, count
    writer:exec("INSERT INTO _ipe_ip_activity_all SELECT :ip, :hour, :src, '', :ingest, countState(), minState(toInt64(0)),"
      .. " maxState(toInt64(0)) FROM (SELECT number FROM system.numbers LIMIT :count)", b)
  end
end
for _, r in ipairs({ { "corp", "Corporate", "10.0.0.0/8" }, { "vpn", "VPN", "2001:db8::/32" } }) do
  local b = { n = r[1], c = r[2], cidr = r[3] }
  lite:query("INSERT INTO _ipe_ip_ranges VALUES (:n, :c, :cidr)", b)
  writer:exec("INSERT INTO _ipe_ip_ranges VALUES (:n, :c, :cidr)", b)
end

local L = dbmod.wrap(lite, WINDOW)
local C = dbmod.wrap(reader, WINDOW)
T.eq(L.dialect, "sqlite")
T.eq(C.dialect, "clickhouse")

-- The rows of sql(handle) on both engines, values as text (a JSON number is one on SQLite,
-- its text on ClickHouse; 0/1 conditions are numbers on both).
local function norm(v)
  if v == NULL or v == nil then return NULL end
  if type(v) == "number" then return (v % 1 == 0) and string.format("%d", v) or string.format("%.6f", v) end
  return tostring(v)
end
local function both(build, binds)
  local out = {}
  for k, h in ipairs({ L, C }) do
    local rows = h:query(build(h), binds or {})
    local got = {}
    for i, r in ipairs(rows) do
      got[i] = {}
      for j, v in ipairs(r) do got[i][j] = norm(v) end
    end
    out[k] = got
  end
  return out[1], out[2]
end
local function same(name, build, binds)
  local ok, l, c = pcall(both, build, binds)
  if not ok then error(name .. ": " .. tostring(l), 0) end
  T.ok(#l > 0, name .. ": SQLite gave rows")
  T.eq(c, l, name .. ": ClickHouse as SQLite")
  return l
end
local function per_row(expr_of, binds, where)
  return function(h)
    return "SELECT id, " .. expr_of(h) .. " AS v FROM dialect_rows" .. (where and (" WHERE " .. where) or "") .. " ORDER BY id"
  end, binds
end

T.case("window: the rows of [from, to] to the millisecond", function()
  local l = same("window", function(h) return "SELECT id FROM dialect_rows WHERE " .. h:window("TimeGenerated") .. " ORDER BY id" end)
  T.eq(l, { { "2" }, { "3" }, { "4" }, { "5" }, { "6" }, { "7" } })
end)

T.case("bucket and time_text: workspace time text", function()
  for _, unit in ipairs({ "minute", "hour", "day" }) do
    same("bucket " .. unit, per_row(function(h) return h:bucket("TimeGenerated", unit) end))
  end
  local l = same("time_text", per_row(function(h) return h:time_text("TimeGenerated") end))
  for i, r in ipairs(l) do T.eq(r[2], ROWS[i][2]) end
end)

T.case("seconds_between: whole seconds between two times", function()
  local build = function(h)
    return "SELECT a.id, round(" .. h:seconds_between("a.TimeGenerated", "b.TimeGenerated") .. ") FROM dialect_rows a JOIN dialect_rows b ON b.id = a.id + 3"
      .. " WHERE a.id IN (1, 4) ORDER BY a.id"
  end
  T.eq(same("seconds_between", build), { { "1", "3600" }, { "4", "133199" } })
end)

T.case("time_min, time_max: a group's earliest and latest time as time text, to the millisecond", function()
  T.eq(same("time_min/time_max", function(h)
    return "SELECT Grp, " .. h:time_min("TimeGenerated") .. ", " .. h:time_max("TimeGenerated")
      .. " FROM dialect_rows GROUP BY Grp ORDER BY Grp"
  end), { { "a", "2024-05-01T10:00:00.000Z", "2024-05-01T10:59:59.999Z" },
          { "b", "2024-05-01T11:00:00.000Z", "2024-05-01T11:30:00.001Z" },
          { "c", "2024-05-02T00:00:00.000Z", "2024-05-03T01:02:03.004Z" },
          { "d", "2024-05-03T01:02:03.005Z", "2024-05-03T01:02:03.012Z" } })
  -- a time selected from a subquery as time text: MIN over it is exact on both
  T.eq(same("MIN of time_text", function(h)
    return "SELECT Grp, MIN(T) FROM (SELECT Grp, " .. h:time_text("TimeGenerated") .. " AS T FROM dialect_rows)"
      .. " GROUP BY Grp ORDER BY Grp"
  end)[4], { "d", "2024-05-03T01:02:03.005Z" })
end)

T.case("at_or_before: a time column against a time parameter, to the millisecond", function()
  T.eq(same("at_or_before :to", function(h)
    return "SELECT id FROM dialect_rows WHERE " .. h:at_or_before("TimeGenerated", "to") .. " ORDER BY id"
  end), { { "1" }, { "2" }, { "3" }, { "4" }, { "5" }, { "6" }, { "7" } })
  T.eq(same("at_or_before :t", function(h)
    return "SELECT id FROM dialect_rows WHERE " .. h:at_or_before("TimeGenerated", "t") .. " ORDER BY id"
  end, { t = "2024-05-01T10:00:00.499Z" }), { { "1" } })
end)

T.case("is, is_not: never NULL, a NULL column is not the value", function()
  local l = same("is", per_row(function(h) return h:is("Host", "v") end, { v = "wks-007" }))
  local l2 = same("is_not", per_row(function(h) return h:is_not("Host", "v") end, { v = "wks-007" }))
  for i, r in ipairs(l) do
    T.eq(r[2], i == 2 and "1" or "0", "is, row " .. i)
    T.eq(l2[i][2], i == 2 and "0" or "1", "is_not, row " .. i)
  end
end)

T.case("text, distinct_count_text: numbers as text for ||", function()
  T.eq(same("text", function(h)
    return "SELECT id, 'n ' || " .. h:text("x") .. " FROM (SELECT id, id * 0.1 AS x FROM dialect_rows WHERE id IN (1, 2, 3, 5))"
      .. " ORDER BY id"
  end), { { "1", "n 0.1" }, { "2", "n 0.2" }, { "3", "n 0.3" }, { "5", "n 0.5" } })
  T.eq(same("distinct_count_text", function(h)
    return "SELECT Grp, " .. h:distinct_count_text("Host") .. " || ' host(s)' FROM dialect_rows GROUP BY Grp ORDER BY Grp"
  end), { { "a", "3 host(s)" }, { "b", "1 host(s)" }, { "c", "2 host(s)" }, { "d", "1 host(s)" } })
end)

T.case("backslash: one backslash between two texts", function()
  T.eq(same("backslash", function(h) return "SELECT 'CONTOSO' || " .. h:backslash() .. " || 'bob'" end), { { "CONTOSO\\bob" } })
end)

T.case("string_agg: values of a group joined, NULLs left out; distinct", function()
  same("string_agg", function(h)
    return "SELECT Grp, " .. h:string_agg("Val", ", ") .. " FROM (SELECT * FROM dialect_rows ORDER BY id) GROUP BY Grp ORDER BY Grp"
  end)
  -- each value once, sorted (numbers as numbers) on both engines: the same rows
  local l, c = both(function(h)
    return "SELECT Grp, " .. h:string_agg("Val", ",", "distinct") .. " FROM dialect_rows GROUP BY Grp ORDER BY Grp"
  end)
  T.eq(c, l)
  T.eq(l, { { "a", "x,y" }, { "b", "w,z" }, { "c", "v" }, { "d", "u,v" } })
  same("string_agg of nothing is NULL", function(h)
    return "SELECT Grp, " .. h:string_agg("Val") .. " FROM dialect_rows WHERE id = 6 GROUP BY Grp"
  end)
end)

T.case("position and host_short", function()
  same("position", per_row(function(h) return h:position("Msg", " from ") end))
  local l = same("host_short", per_row(function(h) return h:host_short("Host") end))
  T.eq(l[1][2], "wks-007")
  T.eq(l[3][2], "10.9.9.9")
  l = same("host_label", per_row(function(h) return h:host_label("Host") end))
  T.eq(l[1][2], "WKS-007")
  T.eq(l[3][2], "10")
end)

T.case("json: a field's value, nested, missing, not JSON", function()
  for _, path in ipairs({ "IPAddress", "user.ipAddress", "user.n", "Role", "nope" }) do
    same("json " .. path, per_row(function(h) return h:json("Obj", path) end, nil, "id <> 4"))
  end
end)

T.case("json_has_value, entities_have_ip, entity_mapping_has_ip", function()
  for _, ip in ipairs({ "10.1.2.3", "10.1.2.30", "fe80::1", "2001:db8::1", "SQL", "IPAddress" }) do
    same("json_has_value " .. ip, per_row(function(h) return h:json_has_value("Obj", "ip") end, { ip = ip }))
    same("entities_have_ip " .. ip, per_row(function(h) return h:entities_have_ip("Ents", "ip") end, { ip = ip }, "id <> 4"))
    same("entity_mapping_has_ip " .. ip, per_row(function(h) return h:entity_mapping_has_ip("Qrr", "ip") end, { ip = ip }))
  end
  for _, ip in ipairs({ "10.1.2.3", "10.1.2.30", "fe80::1" }) do
    same("json_array_has " .. ip, per_row(function(h) return h:json_array_has("Arr", "ip") end, { ip = ip }))
  end
  local l = same("entities", per_row(function(h) return h:entities_have_ip("Ents", "ip") end, { ip = "10.1.2.30" }, "id <> 4"))
  T.eq(l[2][2], "1", "Type matches without case, a nested object's Address is not the entity's")
end)

T.case("ip_in_cidr: v4, v6, prefixes 0..128, bad blocks and addresses — as ipe_ip_in_cidr", function()
  local l = same("ip_in_cidr", per_row(function(h) return h:ip_in_cidr_column("IP", "Cidr") end))
  local hits = {}
  for _, r in ipairs(l) do if r[2] == "1" then hits[#hits + 1] = tonumber(r[1]) end end
  T.eq(hits, { 1, 2, 3, 5, 6, 9, 10, 11, 13 })
  for _, cidr in ipairs({ "10.1.0.0/16", "2001:db8::/48", "0.0.0.0/0", "fe80::/64" }) do
    same("ip_in_cidr " .. cidr, per_row(function(h) return h:ip_in_cidr("IP", "cidr") end, { cidr = cidr }))
  end
end)

T.case("ip_in_list and text_has_ip", function()
  same("ip_in_list", function(h) return "SELECT id FROM dialect_rows WHERE " .. h:ip_in_list("IP", "ips") .. " ORDER BY id" end,
    { ips = { "10.1.2.3", "fe80::1" } })
  for _, ip in ipairs({ "10.1.2.3", "10.1.2.30", "2001:db8::1", "fe80::1" }) do
    same("text_has_ip " .. ip, per_row(function(h) return h:text_has_ip("Msg", "ip") end, { ip = ip }))
  end
end)

T.case("hostile values bound to the helpers: no error, the same answer as SQLite", function()
  local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
  local HOSTILE = dofile(here .. "/../lua/clickhouse_hostile.lua")
  for i, v in ipairs(HOSTILE) do
    if not v:find("%z") then -- SQLite's text functions stop at a NUL; ClickHouse's do not
      for _, helper in ipairs({ "text_has_ip", "json_has_value", "entities_have_ip", "entity_mapping_has_ip" }) do
        local col = ({ text_has_ip = "Msg", json_has_value = "Obj", entities_have_ip = "Ents", entity_mapping_has_ip = "Qrr" })[helper]
        same(helper .. " hostile " .. i, per_row(function(h) return h[helper](h, col, "v") end, { v = v }, "id <> 4"))
      end
    end
  end
end)

T.case("latest: the newest row of each key", function()
  local l = same("latest", function(h)
    return "SELECT id, Key, Version FROM (" .. h:latest("dialect_rows", "x", "Key", "x.Grp <> 'd'") .. ") ORDER BY id"
  end)
  T.eq(l, { { "2", "k1", "1" }, { "4", "k2", "1" }, { "6", "k3", "1" }, { "8", "k4", "1" } })
end)

T.case("rollup_rows and named_ranges", function()
  local l = same("rollup_rows", function(h)
    return "SELECT IP, sum(Events) FROM " .. h:rollup_rows("activity") .. " GROUP BY IP ORDER BY IP"
  end)
  T.eq(l, { { "10.1.2.3", "2" }, { "10.1.2.4", "3" } })
  -- one IP's rows, said inside the subquery (ClickHouse merges every IP's states otherwise)
  l = same("rollup_rows of one IP", function(h)
    return "SELECT IP, sum(Events) FROM " .. h:rollup_rows("activity", "from", "to", "ip") .. " GROUP BY IP ORDER BY IP"
  end, { ip = "10.1.2.4" })
  T.eq(l, { { "10.1.2.4", "3" } })
  same("named_ranges", function(h)
    return "SELECT t.id, r.Name FROM dialect_rows t CROSS JOIN " .. h:named_ranges() .. " r WHERE " .. h:ip_in_cidr_column("t.IP", "r.Cidr")
      .. " ORDER BY t.id, r.Name"
  end)
end)

T.case("the helpers ClickHouse has no form for say so, naming the helper", function()
  T.raises(function() return C:json_each("Arr", "e", "a[0]") end, "ctx.db:json_each is not available on ClickHouse")
  T.raises(function() return C:json("Obj", "a[0]") end, "array indexes")
end)

local HOSTILE = dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or ".") .. "/../lua/clickhouse_hostile.lua")
-- SQLite's text functions stop at a NUL; ClickHouse's do not
local function no_nul(list)
  local out = {}
  for _, v in ipairs(list) do if not v:find("%z") then out[#out + 1] = v end end
  return out
end

T.case("time_in_list: a time column against a list of times as text, to the millisecond", function()
  T.eq(same("time_in_list", function(h)
    return "SELECT id FROM dialect_rows WHERE " .. h:time_in_list("TimeGenerated", "ts") .. " ORDER BY id"
  end, { ts = { "2024-05-01T10:00:00.500Z", "2024-05-03T01:02:03.012Z", "2024-05-01T10:00:00.501Z",
                "2024-05-01T11:30:00.000Z", "2024-05-01 10:00:00" } }), { { "2" }, { "16" } })
  -- hostile texts bound as the list: no error, no row
  local l, c = both(function(h)
    return "SELECT id FROM dialect_rows WHERE " .. h:time_in_list("TimeGenerated", "ts") .. " ORDER BY id"
  end, { ts = no_nul(HOSTILE) })
  T.eq(c, l); T.eq(#l, 0)
end)

-- the addresses with and without a port, as OfficeActivity.ClientIP holds them
local PORTS = { "10.1.2.3:51234", "[2001:db8::1]:443", "[2001:DB8::1]:443", "10.1.2.3", "10.1.2.30:1", "2001:db8::1",
  "2001:db8::1:22", NULL, "", "[10.1.2.3]:5", "10.1.2.3:", "x10.1.2.3:1", "10.1.2.3:x", "[2001:db8::1]" }
lite:exec("CREATE TABLE port_rows (id INTEGER, ClientIP TEXT)")
writer:exec("DROP TABLE IF EXISTS port_rows")
writer:exec("CREATE TABLE port_rows (id Int64, ClientIP Nullable(String)) ENGINE = Memory")
for i, v in ipairs(PORTS) do
  lite:query("INSERT INTO port_rows VALUES (:i, :v)", { i = i, v = v })
  writer:exec("INSERT INTO port_rows VALUES (:i, :v)", { i = i, v = v })
end

T.case("ip_with_port: the address alone, with a port, in brackets with a port (letters in any case)", function()
  local function build(h) return "SELECT id, " .. h:ip_with_port("ClientIP", "ip") .. " FROM port_rows ORDER BY id" end
  local function hits(ip)
    local out = {}
    for _, r in ipairs(same("ip_with_port " .. ip, build, { ip = ip })) do if r[2] == "1" then out[#out + 1] = tonumber(r[1]) end end
    return out
  end
  T.eq(hits("10.1.2.3"), { 1, 4, 10, 11, 13 })
  T.eq(hits("2001:db8::1"), { 2, 3, 6, 14 })
  T.eq(hits("10.1.2.30"), { 5 })
  -- hostile values bound (an IP parameter holds no LIKE wildcard: those are left out)
  for i, v in ipairs(no_nul(HOSTILE)) do
    if not v:find("[%%_]") then same("ip_with_port hostile " .. i, build, { ip = v }) end
  end
end)

T.case("json_valid: JSON text or not (ClickHouse: a JSON value's shape), never NULL", function()
  for _, col in ipairs({ "Obj", "Arr", "Ents", "Qrr" }) do
    same("json_valid " .. col, per_row(function(h) return h:json_valid(col) end))
  end
  local l = same("json_valid of texts", function(h)
    return "SELECT v, " .. h:json_valid("v") .. " FROM (SELECT :a AS v UNION ALL SELECT :b UNION ALL SELECT :c UNION ALL "
      .. "SELECT :d UNION ALL SELECT :e UNION ALL SELECT :f) ORDER BY v"
  end, { a = '"abc"', b = "-5.5e3", c = " true ", d = '{"a":1', e = "[1,2", f = "nope" })
  T.eq(l, { { " true ", "1" }, { '"abc"', "1" }, { "-5.5e3", "1" }, { "[1,2", "0" }, { "nope", "0" }, { '{"a":1', "0" } })
end)

-- JSON arrays for json_each: strings with escapes, numbers, literals, spacing, and texts that
-- are not flat arrays; then each hostile string (an array of it, as JSON encodes it)
local cjson_safe = require "cjson"
local JSON_TEXTS = {
  '["a,b", "c\\"d", "[e]", "f\\\\", "\\u00e9\\ud83d\\ude00\\/", "", " , "]',
  ' [ 1 , 22,-3 , 0, -0, 1234567890123456 ] ',
  '[true, false, null, "null", "true"]',
  "[]", "[ ]", '{"a":1}', '"abc"', "5", "[1,[2]]", '[{"a":1}]', "[1,]", '["a"', "not json", '["a\\x"]', "[01]",
  '{"tags":["x","y"],"n":{"list":["p,q",7]}}',
}
for _, v in ipairs(no_nul(HOSTILE)) do JSON_TEXTS[#JSON_TEXTS + 1] = cjson_safe.encode({ v, "after", 1 }) end
lite:exec("CREATE TABLE json_rows (id INTEGER, J TEXT)")
writer:exec("DROP TABLE IF EXISTS json_rows")
writer:exec("CREATE TABLE json_rows (id Int64, J Nullable(String)) ENGINE = Memory")
for i, v in ipairs(JSON_TEXTS) do
  lite:query("INSERT INTO json_rows VALUES (:i, :v)", { i = i, v = v })
  writer:exec("INSERT INTO json_rows VALUES (:i, :v)", { i = i, v = v })
end
lite:query("INSERT INTO json_rows VALUES (0, NULL)")
writer:exec("INSERT INTO json_rows VALUES (0, NULL)")

T.case("json_each: a flat array's elements (key, value as text, type) joined to their row, as on SQLite", function()
  local function build(h)
    return "SELECT t.id, e.key, e.value, e.type FROM json_rows t " .. h:json_each("t.J", "e") .. " ORDER BY t.id, e.key"
  end
  local l = same("json_each", build)
  local by = {}
  for _, r in ipairs(l) do
    by[r[1]] = by[r[1]] or {}
    by[r[1]][#by[r[1]] + 1] = r[3] == NULL and "null" or r[3]
  end
  T.eq(by["1"], { "a,b", 'c"d', "[e]", "f\\", "é😀/", "", " , " }, "strings unescaped, commas and brackets inside kept")
  T.eq(by["2"], { "1", "22", "-3", "0", "0", "1234567890123456" }, "integers as SQLite shows them")
  T.eq(by["3"], { "1", "0", "null", "null", "true" }, "true and false as 1 and 0, null as NULL")
  for _, id in ipairs({ "0", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16" }) do
    T.eq(by[id], nil, "no elements: row " .. id)
  end
  for i = 17, #JSON_TEXTS do
    T.eq(by[tostring(i)] and by[tostring(i)][2], "after", "hostile string " .. (i - 16) .. ": one element, then the next")
  end
  -- a real is a number on SQLite and its JSON text on ClickHouse: the key and type agree
  local lr, cr = both(function(h)
    return "SELECT t.id, e.key, e.type FROM (SELECT 1 AS id, '[1.5, -2e3, 0.1]' AS J) t " .. h:json_each("t.J", "e")
      .. " ORDER BY e.key"
  end)
  T.eq(cr, lr); T.eq(#lr, 3); T.eq(lr[2][3], "real")
end)

T.case("json_each with a path; elements compared with a bound value; grouped", function()
  for _, path in ipairs({ "tags", "n.list", "nope", "a" }) do
    local l, c = both(function(h)
      return "SELECT t.id, e.key, e.value FROM json_rows t " .. h:json_each("t.J", "e", path) .. " ORDER BY t.id, e.key"
    end)
    T.eq(c, l, "path " .. path)
  end
  T.eq(same("path n.list", function(h)
    return "SELECT t.id, e.key, e.value FROM json_rows t " .. h:json_each("t.J", "e", "n.list") .. " ORDER BY t.id, e.key"
  end), { { "16", "0", "p,q" }, { "16", "1", "7" } })
  for i, v in ipairs(no_nul(HOSTILE)) do
    local l = same("json_each = hostile " .. i, function(h)
      return "SELECT t.id, e.key FROM json_rows t " .. h:json_each("t.J", "e") .. " WHERE e.value = :v ORDER BY t.id, e.key"
    end, { v = v })
    T.ok(#l >= 1, "hostile " .. i .. " found as a value")
  end
  same("json_each grouped", function(h)
    return "SELECT e.value, count(*) FROM json_rows t " .. h:json_each("t.J", "e") .. " WHERE e.type = 'text'"
      .. " GROUP BY e.value ORDER BY e.value"
  end)
end)

-- Threat intelligence and alerts: the same indicator, alert and incident rows on both engines
-- (SQLite keeps _ipe_ti_ranges by its triggers), the WITH-list helpers compared.
local TI_COLS = { "TimeGenerated", "IndicatorId", "Active", "ExpirationDateTime", "NetworkIP", "NetworkSourceIP",
  "NetworkDestinationIP", "EmailSourceIpAddress", "NetworkCidrBlock", "NetworkSourceCidrBlock", "NetworkDestinationCidrBlock" }
local T0, EXP_OK, EXP_PAST = "2024-05-01T12:00:00.000Z", "2024-06-01T00:00:00.000Z", "2024-05-03T00:00:00.000Z"
local TI_ROWS = {
  -- STIX ipv4-addr (NetworkIP), live; a MISP ip-dst (NetworkDestinationIP), expired; inactive email source
  { T0, "stix-1", 1, EXP_OK, "10.1.2.3", NULL, NULL, NULL, NULL, NULL, NULL },
  { T0, "misp-1", 1, EXP_PAST, NULL, NULL, "10.1.2.3", NULL, NULL, NULL, NULL },
  { T0, "mail-1", 0, NULL, NULL, NULL, NULL, "2001:db8::1", NULL, NULL, NULL },
  -- CIDR blocks: v4 edges, /32, /0, host bits set, v6 /32, /128, /127, mapped, bad texts
  { T0, "cidr-24", 1, NULL, NULL, NULL, NULL, NULL, "10.1.2.0/24", NULL, NULL },
  { T0, "cidr-32", 1, NULL, NULL, NULL, NULL, NULL, NULL, "10.1.2.255/32", NULL },
  { T0, "cidr-0", 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "0.0.0.0/0" },
  { T0, "cidr-host", 1, NULL, NULL, NULL, NULL, NULL, "10.1.2.77/23", NULL, NULL },
  { T0, "cidr-v6", 1, EXP_OK, NULL, NULL, NULL, NULL, "2001:db8::/32", "2001:db8::1/128", NULL },
  { T0, "cidr-127", 1, NULL, NULL, NULL, NULL, NULL, "2001:db8::/127", NULL, NULL },
  { T0, "cidr-mapped", 1, NULL, NULL, NULL, NULL, NULL, "::ffff:10.1.0.0/112", NULL, NULL },
  { T0, "cidr-v6all", 1, NULL, NULL, NULL, NULL, NULL, "::/0", NULL, NULL },
  { T0, "cidr-bad", 1, NULL, NULL, NULL, NULL, NULL, "10.1.2.0/", "10.1.2.0/33", "10.1.2.0/+8" },
  { T0, "cidr-plain", 1, NULL, NULL, NULL, NULL, NULL, "10.1.3.0", NULL, NULL },
  -- versions: the newer one (up to :to) no longer names the IP; a version after :to is not seen
  { "2024-05-01T11:00:00.000Z", "ver-1", 1, NULL, "10.1.2.3", NULL, NULL, NULL, NULL, NULL, NULL },
  { "2024-05-02T11:00:00.000Z", "ver-1", 1, NULL, "10.9.9.9", NULL, NULL, NULL, NULL, NULL, NULL },
  { "2024-05-01T11:00:00.000Z", "ver-2", 1, NULL, "10.1.2.4", NULL, NULL, NULL, NULL, NULL, NULL },
  { "2024-05-03T11:00:00.000Z", "ver-2", 0, NULL, "10.1.2.4", NULL, NULL, NULL, NULL, NULL, NULL },
}
local ALERT_ROWS = {
  -- id, time, Entities (the IP as Type ip / IP, in Address; nested or other fields do not count)
  { "al-1", "2024-05-01T12:00:00.000Z", [=[[{"$id":"1","Type":"ip","Address":"10.1.2.3"},{"Type":"host","HostName":"w"}]]=] },
  { "al-1", "2024-05-01T13:00:00.000Z", [=[[{"$id":"1","Type":"IP","Address":"10.1.2.3"}]]=] },
  { "al-2", "2024-05-01T12:00:00.000Z", [=[[{"Type":"host","HostName":"10.1.2.3","Address":"10.1.2.3"}]]=] },
  { "al-3", "2024-05-01T12:00:00.000Z", [=[[{"Type":"account","Location":{"Type":"ip","Address":"10.1.2.3"}}]]=] },
  { "al-4", "2024-05-02T12:00:00.000Z", [=[[{"Type":"ip","Address":"2001:db8::1"},{"Type":"ip","Address":"10.1.2.3"}]]=] },
  { "al-5", "2024-04-01T12:00:00.000Z", [=[[{"Type":"ip","Address":"10.1.2.3"}]]=] },
}
local INCIDENT_ROWS = {
  { 1, "2024-05-01T12:00:00.000Z", '["al-1"]' }, { 1, "2024-05-01T14:00:00.000Z", '["al-1","al-2"]' },
  { 2, "2024-05-01T12:00:00.000Z", '["al-2","al-3"]' }, { 3, "2024-05-02T12:00:00.000Z", '["al-x","al-4"]' },
  { 4, "2024-05-01T12:00:00.000Z", '["al-5"]' },
}

local function ms_of(t) return math.floor(timeutil.parse_workspace_time(t) * 1000 + 0.5) end
local function ch_time(t) return string.format("%d", math.floor(ms_of(t) / 1000)) end

require("ipe.migrations.ti_ranges") -- SQLite: the ranges table and its triggers, as a workspace has them
lite:exec("CREATE TABLE ThreatIntelligenceIndicator (" .. table.concat(TI_COLS, " , ") .. ")")
require("ipe.migrations.ti_ranges").up(lite)
lite:exec("CREATE TABLE SecurityAlert (SystemAlertId TEXT, TimeGenerated TEXT, Entities TEXT)")
lite:exec("CREATE TABLE SecurityIncident (IncidentNumber INTEGER, TimeGenerated TEXT, AlertIds TEXT)")
for _, t in ipairs({ "ThreatIntelligenceIndicator", "SecurityAlert", "SecurityIncident" }) do writer:exec("DROP TABLE IF EXISTS " .. t) end
writer:exec("CREATE TABLE ThreatIntelligenceIndicator (TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64,"
  .. " IndicatorId Nullable(String), Active Nullable(UInt8), ExpirationDateTime Nullable(DateTime('UTC')),"
  .. " ExpirationDateTime_ms Nullable(Int64), NetworkIP Nullable(String), NetworkSourceIP Nullable(String),"
  .. " NetworkDestinationIP Nullable(String), EmailSourceIpAddress Nullable(String), NetworkCidrBlock Nullable(String),"
  .. " NetworkSourceCidrBlock Nullable(String), NetworkDestinationCidrBlock Nullable(String)) ENGINE = MergeTree ORDER BY TimeGenerated")
writer:exec("CREATE TABLE SecurityAlert (SystemAlertId Nullable(String), TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64,"
  .. " Entities Nullable(String)) ENGINE = MergeTree ORDER BY TimeGenerated")
writer:exec("CREATE TABLE SecurityIncident (IncidentNumber Nullable(Int64), TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64,"
  .. " AlertIds Nullable(String)) ENGINE = MergeTree ORDER BY TimeGenerated")
for _, r in ipairs(TI_ROWS) do
  local b = {}
  for i, c in ipairs(TI_COLS) do b[c] = r[i] end
  lite:query("INSERT INTO ThreatIntelligenceIndicator VALUES (:" .. table.concat(TI_COLS, ", :") .. ")", b)
  b.sec, b.ms = ch_time(b.TimeGenerated), ms_of(b.TimeGenerated)
  b.esec = b.ExpirationDateTime ~= NULL and ch_time(b.ExpirationDateTime) or NULL
  b.ems = b.ExpirationDateTime ~= NULL and ms_of(b.ExpirationDateTime) or NULL
  writer:exec("INSERT INTO ThreatIntelligenceIndicator SELECT toDateTime(toUInt32(:sec), 'UTC'), :ms, :IndicatorId, :Active,"
    .. " if(isNull(:esec), NULL, toDateTime(toUInt32(ifNull(:esec, '0')), 'UTC')), :ems, :NetworkIP, :NetworkSourceIP,"
    .. " :NetworkDestinationIP, :EmailSourceIpAddress, :NetworkCidrBlock, :NetworkSourceCidrBlock, :NetworkDestinationCidrBlock", b)
end
for _, r in ipairs(ALERT_ROWS) do
  local b = { id = r[1], t = r[2], e = r[3], sec = ch_time(r[2]), ms = ms_of(r[2]) }
  lite:query("INSERT INTO SecurityAlert VALUES (:id, :t, :e)", b)
  writer:exec("INSERT INTO SecurityAlert VALUES (:id, toDateTime(toUInt32(:sec), 'UTC'), :ms, :e)", b)
end
for _, r in ipairs(INCIDENT_ROWS) do
  local b = { n = r[1], t = r[2], a = r[3], sec = ch_time(r[2]), ms = ms_of(r[2]) }
  lite:query("INSERT INTO SecurityIncident VALUES (:n, :t, :a)", b)
  writer:exec("INSERT INTO SecurityIncident VALUES (:n, toDateTime(toUInt32(:sec), 'UTC'), :ms, :a)", b)
end

T.case("ti_matching_ip: exact columns, CIDR blocks at their edges (v4, v6, mapped, bad), versions, Live", function()
  local build = function(h)
    return h:ti_matching_ip("ip") .. "\nSELECT IndicatorId, MatchedIndicator, MatchedColumn, Live FROM ti ORDER BY IndicatorId"
  end
  for _, ip in ipairs({ "10.1.2.3", "10.1.2.0", "10.1.2.255", "10.1.3.0", "10.1.1.255", "10.1.3.255", "10.1.2.4",
                        "2001:db8::1", "2001:db8::", "2001:db8::2", "2001:db9::", "::ffff:10.1.2.3", "::1", "10.9.9.9" }) do
    same("ti_matching_ip " .. ip, build, { ip = ip })
  end
  local l = same("ti_matching_ip 10.1.2.3", build, { ip = "10.1.2.3" })
  T.eq(l, { { "cidr-0", "0.0.0.0/0", "NetworkDestinationCidrBlock", "1" }, { "cidr-24", "10.1.2.0/24", "NetworkCidrBlock", "1" },
            { "cidr-host", "10.1.2.77/23", "NetworkCidrBlock", "1" }, { "cidr-mapped", "::ffff:10.1.0.0/112", "NetworkCidrBlock", "1" },
            { "misp-1", "10.1.2.3", "NetworkDestinationIP", "0" }, { "stix-1", "10.1.2.3", "NetworkIP", "1" } })
  -- each block's pieces are written once (they were nested into each other: 237 KB of SQL)
  local text = build(C)
  T.ok(#text < 20000, "ti_matching_ip on ClickHouse: " .. #text .. " bytes of SQL")
  l = same("ti_matching_ip 2001:db8::1", build, { ip = "2001:db8::1" })
  T.eq(l, { { "cidr-127", "2001:db8::/127", "NetworkCidrBlock", "1" }, { "cidr-v6", "2001:db8::1/128", "NetworkSourceCidrBlock", "1" },
            { "cidr-v6all", "::/0", "NetworkCidrBlock", "1" }, { "mail-1", "2001:db8::1", "EmailSourceIpAddress", "0" } }, "the narrowest block of a row; an inactive indicator is not Live")
end)

T.case("ti_block_match: the indicator rows whose block column holds the IP", function()
  for _, col in ipairs({ "NetworkCidrBlock", "NetworkSourceCidrBlock", "NetworkDestinationCidrBlock" }) do
    for _, ip in ipairs({ "10.1.2.3", "10.1.2.255", "2001:db8::1", "10.1.3.0" }) do
      same("ti_block_match " .. col .. " " .. ip, function(h)
        return h:ti_matching_ip("ip") .. "\nSELECT 1, count(*) FROM ThreatIntelligenceIndicator WHERE "
          .. h:ti_block_match(col, "ip")
      end, { ip = ip })
    end
  end
end)

T.case("ti_matching_ips: every IP of a table against the live indicators", function()
  lite:exec("CREATE TABLE seen_ips (IP TEXT)")
  writer:exec("DROP TABLE IF EXISTS seen_ips")
  writer:exec("CREATE TABLE seen_ips (IP String) ENGINE = Memory")
  for _, ip in ipairs({ "10.1.2.3", "10.1.2.255", "2001:db8::1", "10.1.3.0", "10.7.7.7" }) do
    lite:query("INSERT INTO seen_ips VALUES (:ip)", { ip = ip })
    writer:exec("INSERT INTO seen_ips VALUES (:ip)", { ip = ip })
  end
  local l = same("ti_matching_ips", function(h)
    return "WITH RECURSIVE x AS (SELECT 1 AS One)" .. h:ti_matching_ips("seen_ips")
      .. "\nSELECT IP, MatchedIndicator, MatchedColumn FROM ti_ip ORDER BY IP, MatchedColumn, MatchedIndicator"
  end)
  T.ok(#l >= 10, "matches over several IPs")
  -- ti_ip's TiRow names its ti_live row (a rowid on SQLite, a row hash on ClickHouse)
  l = same("ti_matching_ips joined to ti_live", function(h)
    return "WITH RECURSIVE x AS (SELECT 1 AS One)" .. h:ti_matching_ips("seen_ips")
      .. "\nSELECT m.IP, l.IndicatorId, m.MatchedIndicator FROM ti_ip m JOIN ti_live l ON l.TiRow = m.TiRow"
      .. "\nORDER BY m.IP, l.IndicatorId, m.MatchedIndicator"
  end)
  local for_ip = {}
  for _, r in ipairs(l) do if r[1] == "10.1.2.3" then for_ip[#for_ip + 1] = r[2] .. " " .. r[3] end end
  T.eq(for_ip, { "cidr-0 0.0.0.0/0", "cidr-24 10.1.2.0/24", "cidr-host 10.1.2.77/23", "cidr-mapped ::ffff:10.1.0.0/112",
                 "stix-1 10.1.2.3" }, "live only (misp-1 expired), every block holding it")
end)

T.case("alerts_naming_ip: latest versions of the alerts naming the IP, the incidents holding them", function()
  for _, ip in ipairs({ "10.1.2.3", "2001:db8::1", "10.9.9.9" }) do
    local build_a = function(h)
      return h:alerts_naming_ip("ip") .. "\nSELECT SystemAlertId, " .. h:time_text("TimeGenerated") .. " FROM alerts ORDER BY SystemAlertId"
    end
    local build_i = function(h)
      return h:alerts_naming_ip("ip") .. "\nSELECT IncidentNumber, AlertIds FROM incidents ORDER BY IncidentNumber"
    end
    if ip == "10.9.9.9" then
      local l, c = both(build_a, { ip = ip })
      T.eq(c, l); T.eq(#l, 0, "no alert names 10.9.9.9")
    else
      same("alerts " .. ip, build_a, { ip = ip })
      same("incidents " .. ip, build_i, { ip = ip })
    end
  end
  local l = same("alerts", function(h)
    return h:alerts_naming_ip("ip") .. "\nSELECT SystemAlertId, " .. h:time_text("TimeGenerated") .. " FROM alerts ORDER BY SystemAlertId"
  end, { ip = "10.1.2.3" })
  T.eq(l, { { "al-1", "2024-05-01T13:00:00.000Z" }, { "al-4", "2024-05-02T12:00:00.000Z" } },
    "Type without case, Address only, nested objects not; the window; the newest version")
  l = same("incidents", function(h)
    return h:alerts_naming_ip("ip") .. "\nSELECT IncidentNumber, AlertIds FROM incidents ORDER BY IncidentNumber"
  end, { ip = "10.1.2.3" })
  T.eq(l, { { "1", '["al-1","al-2"]' }, { "3", '["al-x","al-4"]' } })
end)

T.case("ti_export: the latest version of each indicator, live at :now (to the ms), Created and Version", function()
  -- a workspace's ThreatIntelligenceIndicator (every column of ipe.schema) on both engines
  local schema = require "ipe.schema"
  local tpath = os.tmpname()
  os.remove(tpath)
  local tl = assert(sqlite.open(tpath, "rwc"))
  schema.migrate(tl)
  writer:exec("CREATE DATABASE IF NOT EXISTS ipe_ti_export", nil, { no_database = true })
  writer:exec("DROP TABLE IF EXISTS ipe_ti_export.ThreatIntelligenceIndicator")
  local defs = {}
  for _, c in ipairs(require("ipe.clickhouse_schema").columns(schema.table("ThreatIntelligenceIndicator"))) do
    defs[#defs + 1] = c.name .. " " .. c.type
  end
  writer:exec("CREATE TABLE ipe_ti_export.ThreatIntelligenceIndicator (" .. table.concat(defs, ", ")
    .. ") ENGINE = MergeTree ORDER BY TimeGenerated")
  local NOW = "2024-05-04T00:00:00.000Z"
  local rows = {   -- IndicatorId, TimeGenerated, ExpirationDateTime, Active, Description, ConfidenceScore
    { "a", "2024-05-01T10:00:00.000Z", NULL, 1, "first", 50 },
    { "a", "2024-05-02T10:00:00.250Z", "2024-06-01T00:00:00.000Z", 1, "second", 70.5 },
    { "a", "2024-05-02T10:00:00.249Z", NULL, 0, "older", 10 },
    { "b", "2024-05-01T10:00:00.000Z", NULL, 1, "live once", 1 },
    { "b", "2024-05-02T10:00:00.000Z", NULL, 0, "now inactive", 1 },
    { "c", "2024-05-01T10:00:00.000Z", "2024-05-04T00:00:00.000Z", 1, "expires at now", 1 },
    { "d", "2024-05-01T10:00:00.000Z", "2024-05-04T00:00:00.001Z", 1, "one ms after now", 1 },
    { NULL, "2024-05-01T10:00:00.000Z", NULL, 1, "no id", 1 },
  }
  for i, v in ipairs(no_nul(HOSTILE)) do
    rows[#rows + 1] = { "h" .. i, "2024-05-03T00:00:00.000Z", NULL, 1, v, i / 4 }
  end
  for _, r in ipairs(rows) do
    local b = { id = r[1], t = r[2], e = r[3], a = r[4], d = r[5], c = r[6] }
    tl:query("INSERT INTO ThreatIntelligenceIndicator (IndicatorId, TimeGenerated, ExpirationDateTime, Active, Description,"
      .. " ConfidenceScore, NetworkIP) VALUES (:id, :t, :e, :a, :d, :c, '10.1.2.3')", b)
    b.sec, b.ms = ch_time(r[2]), ms_of(r[2])
    b.esec = r[3] ~= NULL and ch_time(r[3]) or NULL
    b.ems = r[3] ~= NULL and ms_of(r[3]) or NULL
    writer:exec("INSERT INTO ipe_ti_export.ThreatIntelligenceIndicator (IndicatorId, TimeGenerated, TimeGenerated_ms,"
      .. " ExpirationDateTime, ExpirationDateTime_ms, Active, Description, ConfidenceScore, NetworkIP) SELECT :id,"
      .. " toDateTime(toUInt32(:sec), 'UTC'), :ms, if(isNull(:esec), NULL, toDateTime(toUInt32(ifNull(:esec, '0')), 'UTC')),"
      .. " :ems, :a, :d, :c, '10.1.2.3'", b)
  end
  local TL = dbmod.wrap(tl, { now = NOW })
  local TC = dbmod.wrap(ch.open((URL:gsub("/default(%??[^/]*)$", "/ipe_ti_export%1")), { role = "reader", password = "" }), { now = NOW })
  local out = {}
  for k, h in ipairs({ TL, TC }) do
    local got = {}
    for i, r in ipairs(h:records(h:ti_export())) do
      got[i] = { r.IndicatorId, r.TimeGenerated, norm(r.ExpirationDateTime), r.Created, norm(r.Version), r.Description,
                 norm(r.ConfidenceScore), r.NetworkIP }
    end
    out[k] = got
  end
  T.eq(out[2], out[1], "ClickHouse as SQLite")
  T.eq(out[1][1], { "a", "2024-05-02T10:00:00.250Z", "2024-06-01T00:00:00.000Z", "2024-05-01T10:00:00.000Z", "3", "second",
                    "70.500000", "10.1.2.3" })
  T.eq(out[1][2], { "d", "2024-05-01T10:00:00.000Z", "2024-05-04T00:00:00.001Z", "2024-05-01T10:00:00.000Z", "1",
                    "one ms after now", "1", "10.1.2.3" }, "b inactive, c expired at :now, the row without an id left out")
  T.eq(#out[1], 2 + #no_nul(HOSTILE), "each hostile description's indicator")
  tl:close()
  os.remove(tpath)
  writer:exec("DROP TABLE IF EXISTS ipe_ti_export.ThreatIntelligenceIndicator")
end)

T.case("inline_with: WITH tables as subqueries; strings, comments and ClickHouse's own WITH untouched", function()
  local d = require "ipe.dialect.clickhouse"
  T.eq(d.inline_with("WITH RECURSIVE a AS MATERIALIZED (SELECT 1 AS x), b AS (SELECT x FROM a WHERE 'FROM a' = '')"
    .. " SELECT * FROM b JOIN a q ON q.x = b.x -- FROM a"),
    "SELECT * FROM (SELECT x FROM (SELECT 1 AS x) AS a WHERE 'FROM a' = '') AS b JOIN (SELECT 1 AS x) q ON q.x = b.x -- FROM a")
  T.eq(d.inline_with("WITH 1 AS x SELECT x"), "WITH 1 AS x SELECT x")
  T.raises(function() return d.inline_with("WITH a(x) AS (SELECT 1) SELECT * FROM a") end, "column list")
  T.eq(C:value("WITH a AS (SELECT 41 AS x) SELECT x + 1 FROM a WHERE x IN (SELECT x FROM a)"), 42)
end)

-- The same rows over the 2-shard cluster: dialect_rows a Distributed table over a MergeTree on
-- each node (odd ids on the first shard, even on the second), so a record's versions and a
-- group's values are split between shards: latest, string_agg and window still agree.
T.case("on a Distributed table over two shards: latest, string_agg and window as on SQLite", function()
  local CLUSTER_URL = assert(proc.getenv("IPE_TEST_CH_CLUSTER_URL"), "run me through tests/cli/clickhouse.t")
  local cw = ch.open(CLUSTER_URL, { role = "writer", password = "" })
  local db = cw.target.database
  local cols = "(id Int64, TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64, Host Nullable(String),"
    .. " IP Nullable(String), Cidr Nullable(String), Msg Nullable(String), Obj Nullable(String), Arr Nullable(String),"
    .. " Ents Nullable(String), Qrr Nullable(String), Grp Nullable(String), Val Nullable(String), Key Nullable(String))"
  for i = 1, 2 do
    local node = cw:on_node(i)
    node:exec("CREATE DATABASE IF NOT EXISTS " .. db, nil, { no_database = true })
    node:exec("DROP TABLE IF EXISTS dialect_rows")
    node:exec("DROP TABLE IF EXISTS dialect_rows_local")
    node:exec("CREATE TABLE dialect_rows_local " .. cols .. " ENGINE = MergeTree ORDER BY TimeGenerated")
    node:exec("CREATE TABLE dialect_rows " .. cols .. " ENGINE = Distributed(ipe, " .. db .. ", dialect_rows_local, id)")
    -- the rows of this shard, copied from the single node's table
    local rows = writer:query("SELECT * FROM dialect_rows WHERE id % 2 = :odd ORDER BY id", { odd = i == 1 and 1 or 0 })
    for _, r in ipairs(rows) do
      local b = {}
      for k, v in ipairs(r) do b["c" .. k] = v end
      node:exec("INSERT INTO dialect_rows_local VALUES (:c1, toDateTime(:c2, 'UTC'), :c3, :c4, :c5, :c6, :c7, :c8, :c9,"
        .. " :c10, :c11, :c12, :c13, :c14)", b)
    end
  end
  local D = dbmod.wrap(ch.open(CLUSTER_URL, { role = "reader", password = "" }), WINDOW)
  T.eq(D:value("SELECT count() FROM dialect_rows"), #ROWS, "every row through the Distributed table")
  local function on_both(build, as_set)
    local want = L:query(build(L))
    local got = D:query(build(D))
    for _, set in ipairs({ want, got }) do
      for _, r in ipairs(set) do
        for j, v in ipairs(r) do
          r[j] = norm(v)
          if as_set and type(r[j]) == "string" and r[j]:find(",") then
            local parts = {}
            for x in r[j]:gmatch("[^,]+") do parts[#parts + 1] = x end
            table.sort(parts)
            r[j] = table.concat(parts, ",")
          end
        end
      end
    end
    T.eq(got, want)
    return want
  end
  T.eq(on_both(function(h)
    return "SELECT id, Key FROM (" .. h:latest("dialect_rows", "x", "Key", "x.Grp <> 'd'") .. ") ORDER BY id"
  end), { { "2", "k1" }, { "4", "k2" }, { "6", "k3" }, { "8", "k4" } })
  on_both(function(h) return "SELECT id FROM dialect_rows WHERE " .. h:window("TimeGenerated") .. " ORDER BY id" end)
  -- the elements of each shard's rows, joined on the shard
  T.eq(on_both(function(h)
    return "SELECT t.id, e.key, e.value FROM dialect_rows t " .. h:json_each("t.Arr", "e") .. " ORDER BY t.id, e.key"
  end), { { "1", "0", "10.1.2.3" }, { "1", "1", "fe80::1" }, { "2", "0", "10.1.2.3" }, { "5", "0", "10.1.2.30" } })
  -- values from both shards, each once, sorted on both engines
  T.eq(on_both(function(h)
    return "SELECT Grp, " .. h:string_agg("Val", ",", true) .. ", count(*) FROM dialect_rows GROUP BY Grp ORDER BY Grp"
  end, true), { { "a", "x,y", "3" }, { "b", "w,z", "2" }, { "c", "v", "3" }, { "d", "u,v", "8" } })
  for i = 1, 2 do
    cw:on_node(i):exec("DROP TABLE IF EXISTS dialect_rows")
    cw:on_node(i):exec("DROP TABLE IF EXISTS dialect_rows_local")
  end
end)

writer:exec("DROP TABLE IF EXISTS dialect_rows")
os.remove(path)
