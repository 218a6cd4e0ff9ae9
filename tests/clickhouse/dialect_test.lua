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
writer:exec("DROP TABLE IF EXISTS _ipe_ip_activity")
writer:exec("DROP TABLE IF EXISTS _ipe_ip_ranges")
writer:exec("CREATE TABLE dialect_rows (id Int64, TimeGenerated DateTime('UTC'), TimeGenerated_ms Int64, Host Nullable(String),"
  .. " IP Nullable(String), Cidr Nullable(String), Msg Nullable(String), Obj Nullable(String), Arr Nullable(String),"
  .. " Ents Nullable(String), Qrr Nullable(String), Grp Nullable(String), Val Nullable(String), Key Nullable(String))"
  .. " ENGINE = MergeTree ORDER BY TimeGenerated")
writer:exec("CREATE TABLE _ipe_ip_activity (IP String, Hour DateTime('UTC'), Source String, Host String, Events UInt64)"
  .. " ENGINE = Memory")
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
  writer:exec("INSERT INTO _ipe_ip_activity VALUES (:ip, toDateTime(concat(replaceOne(:hour, 'T', ' '), ':00:00'), 'UTC'),"
    .. " :src, '', :n)", b)
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

T.case("string_agg: values of a group joined, NULLs left out; distinct", function()
  same("string_agg", function(h)
    return "SELECT Grp, " .. h:string_agg("Val", ", ") .. " FROM (SELECT * FROM dialect_rows ORDER BY id) GROUP BY Grp ORDER BY Grp"
  end)
  -- each value once; the order is SQLite's reading order, sorted on ClickHouse: compared as sets
  local l, c = both(function(h)
    return "SELECT Grp, " .. h:string_agg("Val", ",", "distinct") .. " FROM dialect_rows GROUP BY Grp ORDER BY Grp"
  end)
  local function sorted(rows)
    for _, r in ipairs(rows) do
      local v = {}
      for x in r[2]:gmatch("[^,]+") do v[#v + 1] = x end
      table.sort(v)
      r[2] = table.concat(v, ",")
    end
    return rows
  end
  T.eq(sorted(c), sorted(l))
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
  same("named_ranges", function(h)
    return "SELECT t.id, r.Name FROM dialect_rows t CROSS JOIN " .. h:named_ranges() .. " r WHERE " .. h:ip_in_cidr_column("t.IP", "r.Cidr")
      .. " ORDER BY t.id, r.Name"
  end)
end)

T.case("the helpers ClickHouse has no form for say so, naming the helper", function()
  T.raises(function() return C:json_each("Arr", "e") end, "ctx.db:json_each is not available on ClickHouse")
  T.raises(function() return C:alerts_naming_ip("ip") end, "ctx.db:alerts_naming_ip is not available on ClickHouse")
  T.raises(function() return C:ti_matching_ip("ip") end, "ctx.db:ti_matching_ip is not available on ClickHouse")
  T.raises(function() return C:json("Obj", "a[0]") end, "array indexes")
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
  -- values from both shards, each once (as a set: SQLite's order is its reading order)
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
