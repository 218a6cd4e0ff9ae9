-- The per-IP rollups on ClickHouse (ipe.rollup.clickhouse: materialized views kept at insert
-- time) answer the window statements "activity", "traffic" and "peers" with the rows SQLite's
-- (ipe.rollup.sqlite) give over the same rows: fixtures, a demo workspace's log rows and rows
-- made for the edge cases (tokens of free text, ports and brackets, IP lists, a JSON path,
-- both sides of a firewall record) are ingested into a SQLite workspace and into the 2-shard
-- cluster, then every statement is run on both for many addresses and windows whose edges
-- cut through busy hours. Run by tests/cli/clickhouse.t (IPE_TEST_CH_CLUSTER_URL).
local T = require "ipe.testing"
local proc = require "ipe.proc"
local fs = require "ipe.fs"
local cjson = require "cjson"
local sqlite = require "ipe.sqlite"
local ch = require "ipe.clickhouse"
local dbmod = require "ipe.db"
local schema = require "ipe.schema"
local H = require "ipe.harness"

local CLUSTER = assert(proc.getenv("IPE_TEST_CH_CLUSTER_URL"), "run me through tests/cli/clickhouse.t")
local URL = CLUSTER:gsub("/[%w_]+%?", "/ipe_rollup?", 1)
local exe = assert(proc.exe_path())
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
local FX = here .. "/../fixtures"

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function run(args)
  local q = {}
  for i, a in ipairs(args) do q[i] = sh(a) end
  local err = os.tmpname()
  local ok = os.execute("IPE_NOW=2026-11-27T12:00:00Z " .. sh(exe) .. " " .. table.concat(q, " ") .. " >/dev/null 2>" .. err)
  local text = fs.read(err) or ""
  os.remove(err)
  return ok == 0 or ok == true, text
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. sh(dir)) == 0)
local function file(name, lines)
  local p = dir .. "/" .. name
  assert(fs.write_atomic(p, table.concat(lines, "\n") .. "\n"))
  return p
end
local function rows(tname, list)
  local out = {}
  for i, r in ipairs(list) do r.Type = tname; out[i] = cjson.encode(r) end
  return out
end

-- the edge cases, around two hours whose edges the windows cut
local E = {
  CommonSecurityLog = rows("CommonSecurityLog", {
    { TimeGenerated = "2026-11-20T10:05:00.100Z", SourceIP = "203.0.113.5", DestinationIP = "198.51.100.7",
      DestinationPort = 443, Protocol = "TCP", DeviceAction = "Allow", SentBytes = 100, ReceivedBytes = 2000,
      Computer = "fw1", DestinationHostName = "web1", Message = "from 203.0.113.5. to [2001:db8::1]:443 (198.51.100.9)" },
    { TimeGenerated = "2026-11-20T10:59:59.999Z", SourceIP = "203.0.113.5", DestinationIP = "203.0.113.5",
      Protocol = "udp", DeviceAction = "deny", Computer = "fw1", SourceHostName = "", DestinationHostName = "self" },
    { TimeGenerated = "2026-11-20T11:00:00.000Z", DestinationIP = "203.0.113.5", DestinationPort = 22,
      DeviceAction = "drop", Message = "srx1.2.3.4 '198.51.100.9' <203.0.113.77>. 1.2.3.4:22 2001:db8::1.", ReceivedBytes = 5 },
    { TimeGenerated = "2026-11-20T11:30:00.500Z", SourceIP = "198.51.100.7", DestinationIP = "203.0.113.5",
      DestinationPort = 443, Protocol = "TCP", DeviceAction = "accept", SentBytes = 7, SourceHostName = "cli" },
    { TimeGenerated = "2026-11-20T12:10:00.000Z", SourceIP = "203.0.113.5", Message = "x\1 198.51.100.9",
      DeviceAction = "permit" },
  }),
  Syslog = rows("Syslog", {
    { TimeGenerated = "2026-11-20T10:20:00.000Z", Computer = "lnx1", HostIP = "10.0.0.5",
      SyslogMessage = "Failed password for root from 203.0.113.5 port 22 ssh2" },
    { TimeGenerated = "2026-11-20T11:40:00.000Z", Computer = "lnx1", HostIP = "10.0.0.5",
      SyslogMessage = "conn=203.0.113.5;peer=(198.51.100.7),user@203.0.113.77/x \"10.0.0.5\" -2001:db8::1-" },
    { TimeGenerated = "2026-11-20T11:41:00.000Z", Computer = "lnx2", SyslogMessage = "tab\t203.0.113.5\r\nend 10.0.0.5." },
  }),
  OfficeActivity = rows("OfficeActivity", {
    { TimeGenerated = "2026-11-20T10:30:00.000Z", ClientIP = "[2001:db8::5]:443", ActorIpAddress = "203.0.113.5" },
    { TimeGenerated = "2026-11-20T11:10:00.000Z", ClientIP = "203.0.113.5:1234", ActorIpAddress = "203.0.113.5" },
    { TimeGenerated = "2026-11-20T11:20:00.000Z", ClientIP = "203.0.113.5" },
  }),
  Heartbeat = rows("Heartbeat", {
    { TimeGenerated = "2026-11-20T10:40:00.000Z", Computer = "lnx1", ComputerIP = "203.0.113.5",
      ComputerPrivateIPs = { "10.0.0.5", "10.0.0.6" } },
    { TimeGenerated = "2026-11-20T11:50:00.000Z", Computer = "lnx1", ComputerPrivateIPs = { "10.0.0.5", "203.0.113.5" } },
  }),
  AuditLogs = rows("AuditLogs", {
    { TimeGenerated = "2026-11-20T10:45:00.000Z", OperationName = "Add user",
      InitiatedBy = { user = { id = "u1", ipAddress = "203.0.113.5" } } },
    { TimeGenerated = "2026-11-20T11:45:00.000Z", OperationName = "Add app", InitiatedBy = { app = { id = "a1" } } },
  }),
  SecurityEvent = rows("SecurityEvent", {
    { TimeGenerated = "2026-11-20T10:50:00.000Z", EventID = 4625, Computer = "dc1", IpAddress = "203.0.113.5" },
    { TimeGenerated = "2026-11-20T11:05:00.000Z", EventID = 4624, Computer = "dc1", IpAddress = "-" },
  }),
}

-- the log rows of a small demo workspace, as JSON lines per table
local function demo_files()
  local path = H.workspace{ demo = { events = 12000, seed = 3 } }
  local db = assert(sqlite.open(path, "ro"))
  local out = {}
  for _, t in ipairs(require("ipe.rollup.clickhouse").sources()) do
    local lines = {}
    local rs, cols = db:query("SELECT * FROM " .. t.name)
    for _, r in ipairs(rs) do
      local o = {}
      for j, c in ipairs(cols) do if r[j] ~= nil and r[j] ~= cjson.null and c ~= "Type" then o[c] = r[j] end end
      lines[#lines + 1] = cjson.encode(o)
    end
    if #lines > 0 then out[#out + 1] = { t.name, file("demo_" .. t.name .. ".jsonl", lines) } end
  end
  db:close()
  return out
end

local inputs = {}
for tname, lines in pairs(E) do inputs[#inputs + 1] = { tname, file("edge_" .. tname .. ".jsonl", lines) } end
for _, f in ipairs(demo_files()) do inputs[#inputs + 1] = f end
table.sort(inputs, function(a, b) return a[2] < b[2] end)
local fixtures = { FX .. "/sentinel/azure-sentinel/CommonSecurityLog__ASIM_Cisco_ASA_NetworkSession_IngestedLogs.csv",
  FX .. "/sentinel/azure-sentinel/CommonSecurityLog__Training_solarigate_CEFevent.csv",
  FX .. "/sentinel/azure-sentinel/OfficeActivity__Training_office_activity_inbox_rule.csv",
  FX .. "/sentinel/msticpy/syslog_data.csv", FX .. "/sentinel/msticpy/SigninLogs.jsonl",
  FX .. "/sentinel/msticpy/SecurityEvent_host_logons.jsonl" }

local lite = dir .. "/w.db"
local ok, err = run({ "migrate", "--db", URL })
T.case("migrate creates the ClickHouse workspace with its rollups", function() T.ok(ok, err) end)

local function ingest_all(db)
  for _, f in ipairs(inputs) do
    local fine, e = run({ "ingest", "--db", db, "--table", f[1], f[2] })
    if not fine then return false, f[2] .. ": " .. e end
  end
  local fine, e = run({ "ingest", "--db", db, unpack(fixtures) })
  return fine, e
end
local ok1, e1 = ingest_all(lite)
local ok2, e2 = ingest_all(URL)
T.case("the same files go into SQLite and ClickHouse", function()
  T.ok(ok1, e1)
  T.ok(ok2, e2)
end)

local ldb = assert(sqlite.open(lite, "ro"))
local conn = ch.open(URL, { role = "reader", password = "" })

-- the addresses: the edge cases', the busiest, and every 40th of the rest (the SQLite rollup's)
local ips, seen = {}, {}
local function add(ip) if not seen[ip] then seen[ip] = true; ips[#ips + 1] = ip end end
for _, ip in ipairs({ "203.0.113.5", "198.51.100.7", "198.51.100.9", "203.0.113.77", "2001:db8::1", "2001:db8::5",
                      "10.0.0.5", "10.0.0.6", "1.2.3.4" }) do add(ip) end
for i, r in ipairs(ldb:query("SELECT IP, sum(Events) FROM _ipe_ip_activity GROUP BY IP ORDER BY 2 DESC, IP")) do
  if i <= 8 or i % 40 == 0 then add(r[1]) end
end

local function text_rows(rs)
  local out = {}
  for i, r in ipairs(rs) do
    local f = {}
    for j = 1, #r do f[j] = tostring(r[j]) end
    out[i] = table.concat(f, "|")
  end
  table.sort(out)
  return out
end

local function compare(name, ip, from, to)
  local window = { ip = ip, from = from, to = to }
  local hl, hc = dbmod.wrap(ldb, window), dbmod.wrap(conn, window)
  local a = text_rows(hl:query(hl:rollup_query(name)))
  local b = text_rows(hc:query(hc:rollup_query(name)))
  T.eq(b, a, name .. " " .. ip .. " " .. from .. " .. " .. to)
  return #a
end

-- windows: everything; edges cut inside the edge cases' busy hours; a window inside one hour
local WINDOWS = {
  { "2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z" },
  { "2026-11-20T10:30:00.000Z", "2026-11-20T11:30:00.500Z" },
  { "2026-11-20T10:05:00.100Z", "2026-11-20T10:59:59.998Z" },
}
do
  local span = ldb:query("SELECT min(TimeGenerated), max(TimeGenerated) FROM CommonSecurityLog WHERE TimeGenerated > '2026-11-21'")[1]
  local function at(text, add_ms)
    local timeutil = require "ipe.timeutil"
    return timeutil.format_time(timeutil.parse_time(text) + add_ms / 1000)
  end
  WINDOWS[#WINDOWS + 1] = { at(span[1], 3600 * 1000 * 5 + 1234567), at(span[2], -(3600 * 1000 * 7 + 2345678)) }
end

for _, name in ipairs({ "activity", "traffic", "peers" }) do
  T.case(name .. ": the same rows on ClickHouse as on SQLite, for " .. #ips .. " addresses and 4 windows", function()
    local n = 0
    for _, ip in ipairs(ips) do
      for _, w in ipairs(WINDOWS) do n = n + compare(name, ip, w[1], w[2]) end
    end
    T.ok(n > 50, name .. ": rows compared (" .. n .. ")")
  end)
end

T.case("ctx.db:rollup_rows reads the same stored rows on both engines (the _ipe_ip_* views)", function()
  for _, ip in ipairs({ "203.0.113.5", "198.51.100.7", ips[#ips] }) do
    local window = { ip = ip, from = WINDOWS[2][1], to = WINDOWS[2][2] }
    for _, name in ipairs({ "activity", "traffic", "peers" }) do
      local function read(h)
        return text_rows(h:query("SELECT count(*), COALESCE(sum(Events), 0) FROM " .. h:rollup_rows(name) .. " WHERE IP = :ip"))
      end
      T.eq(read(dbmod.wrap(conn, window)), read(dbmod.wrap(ldb, window)), name .. " " .. ip)
    end
  end
end)

T.case("the edge cases count what SQLite counts (a known answer)", function()
  local h = dbmod.wrap(ldb, { ip = "203.0.113.5", from = WINDOWS[2][1], to = WINDOWS[2][2] })
  local got = {}
  for _, r in ipairs(h:query("SELECT Source, sum(Events) FROM (" .. h:rollup_query("activity") .. ") GROUP BY Source ORDER BY Source")) do
    got[#got + 1] = r[1] .. "=" .. r[2]
  end
  -- 10:30..11:30:00.500: CSL 10:59 (both sides once), 11:00 (destination), 11:30 (destination); Syslog 11:40 out;
  -- OfficeActivity 10:30, 11:10 (port), 11:20; Heartbeat 10:40; AuditLogs 10:45; SecurityEvent 10:50
  T.eq(got, { "AuditLogs=1", "CommonSecurityLog=3", "Heartbeat=1", "OfficeActivity=3", "SecurityEvent=1" })
end)

T.case("an ingest that never committed is not counted (its rollup rows carry its ingest id)", function()
  local before = conn:query("SELECT count() FROM _ipe_ip_activity_all")[1][1]
  -- rows inserted straight into the shards under an ingest id the ingest log does not have
  local w = ch.open(URL, { role = "writer", password = "" })
  w:exec("INSERT INTO CommonSecurityLog_dist (TimeGenerated, TimeGenerated_ms, SourceIP, _IngestId) VALUES "
    .. "(toDateTime('2026-11-20 10:40:00', 'UTC'), :ms, '203.0.113.5', 999999)", { ms = H.time("2026-11-20T10:40:00Z") * 1000 },
    { settings = { insert_distributed_sync = 1 } })
  T.ok(conn:query("SELECT count() FROM _ipe_ip_activity_all")[1][1] > before, "the view counted the rows")
  compare("activity", "203.0.113.5", WINDOWS[1][1], WINDOWS[1][2])
  compare("traffic", "203.0.113.5", WINDOWS[1][1], WINDOWS[1][2])
  -- 10:40 is inside the edge hour of WINDOWS[2]: recounted from the raw rows, committed ones only
  compare("activity", "203.0.113.5", WINDOWS[2][1], WINDOWS[2][2])
  compare("peers", "203.0.113.5", WINDOWS[2][1], WINDOWS[2][2])
end)

T.case("the edge hours are read from T_dist bounded on its key, with no _ipe_meta round trip", function()
  require("ipe.clickhouse_schema").verify(conn)   -- as every verb opening a workspace does
  local h = dbmod.wrap(conn, { ip = "203.0.113.5", from = WINDOWS[2][1], to = WINDOWS[2][2] })
  local sql = h:rollup_query("activity")
  T.eq(#h.queries, 0, "no statement run to find the time type")
  T.ok(sql:find("FROM CommonSecurityLog_dist WHERE ((TimeGenerated >= ", 1, true) ~= nil, "the tail reads T_dist on its key")
  T.ok(sql:find("FROM CommonSecurityLog WHERE", 1, true) == nil, "not the view")
  local single = require("ipe.rollup.clickhouse").statement("peers", "DateTime+ms", nil)
  T.ok(single:find("FROM CommonSecurityLog_local WHERE", 1, true) ~= nil, "one server: T_local")
end)

ldb:close()
local w = ch.open(URL, { role = "writer", password = "", timeout = 600 })
for i = 1, #w.target.nodes do w:on_node(i):exec("DROP DATABASE IF EXISTS ipe_rollup", nil, { no_database = true }) end
os.execute("rm -rf " .. sh(dir))
H.cleanup()
T.done()
