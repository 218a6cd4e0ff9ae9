-- Tests for ipe.demo. Option checks, time formatting and the address
-- generator run under plain luajit; the workspace cases build real demo
-- workspaces and need ipe.sqlite (run inside `ipe-run test`).
local T = require "ipe.testing"
local schema = require "ipe.schema"
local demo = require "ipe.demo"
local bit = require "bit"

local has_sqlite, sqlite = pcall(require, "ipe.sqlite")

local NOW = 1795737600                     -- 2026-11-27T00:00:00Z
local LO, HI = "2026-11-13T00:00:00.000Z", "2026-11-27T00:00:00.000Z"
local ST = demo.STORIES

---------------------------------------------------------------------------
-- Pure cases
---------------------------------------------------------------------------
T.case("iso formats epoch milliseconds in the fixed workspace form", function()
  T.eq(demo.iso(0), "1970-01-01T00:00:00.000Z")
  T.eq(demo.iso(951782400123), "2000-02-29T00:00:00.123Z")
  T.eq(demo.iso(NOW * 1000), HI)
  T.eq(demo.iso(NOW * 1000 - 1), "2026-11-26T23:59:59.999Z")
  T.eq(demo.iso(4107542399999), "2100-02-28T23:59:59.999Z")
  for _, s in ipairs({ 1, 86399, 86400, 1e9, 1234567890, 1700000000, 2000000000, 4102444800 }) do
    T.eq(demo.iso(s * 1000 + 7), os.date("!%Y-%m-%dT%H:%M:%S", s) .. ".007Z")
  end
end)

T.case("reserved and special ranges are never public", function()
  local special = { { 10, 1, 2 }, { 127, 0, 0 }, { 0, 1, 1 }, { 100, 64, 0 }, { 100, 127, 255 }, { 169, 254, 1 },
                    { 172, 16, 0 }, { 172, 31, 255 }, { 192, 168, 1 }, { 192, 0, 2 }, { 192, 0, 0 }, { 192, 88, 99 },
                    { 198, 18, 0 }, { 198, 19, 5 }, { 198, 51, 100 }, { 203, 0, 113 }, { 224, 0, 0 }, { 255, 255, 255 },
                    { 131, 107, 0 } }
  for _, a in ipairs(special) do T.ok(demo.is_special(a[1], a[2], a[3]), table.concat(a, ".")) end
  local public = { { 8, 8, 8 }, { 100, 63, 1 }, { 100, 128, 0 }, { 172, 15, 1 }, { 172, 32, 0 }, { 192, 169, 0 },
                   { 198, 51, 101 }, { 203, 0, 114 }, { 223, 255, 255 }, { 89, 160, 20 } }
  for _, a in ipairs(public) do T.ok(not demo.is_special(a[1], a[2], a[3]), table.concat(a, ".")) end
end)

T.case("the public address generator never emits special or story addresses", function()
  math.randomseed(3)
  local story = { [ST.c2.ip] = true, [ST.spray.ip] = true, [ST.cdn.ip] = true, [ST.rare_port.ip] = true,
                  [ST.quiet.ip] = true, [demo.ORG.egress_ip] = true }
  for _ = 1, 20000 do
    local ip = demo.rand_public()
    local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    T.ok(a, ip)
    T.ok(not demo.is_special(tonumber(a), tonumber(b), tonumber(c)), ip)
    T.ok(tonumber(d) >= 1 and tonumber(d) <= 254, ip)
    T.ok(not story[ip], ip)
  end
end)

T.case("story facts are stated", function()
  T.eq(ST.c2.ip, "89.160.20.128")
  T.eq(ST.c2.hosts, { "wks-007", "wks-013", "wks-021" })
  T.eq(ST.spray.ip, "216.160.83.56")
  T.eq(#ST.spray.targets, ST.spray.users)
  T.eq(ST.cdn.ip, "151.101.1.140")
  T.eq(ST.internal.ip, "10.0.1.20")
  T.eq({ ST.rare_port.ip, ST.rare_port.port, ST.rare_port.host }, { "45.33.32.156", 4444, "wks-031" })
  T.eq({ ST.sweep.source, ST.sweep.cidr }, { "10.0.4.99", "10.0.1.0/24" })
  T.eq(ST.ipv6.ip, "2001:218:85a3::8a2e:370:7334")
  T.eq(ST.quiet.ip, "192.0.2.200")
  T.eq(#demo.HOSTS, 48)
  T.eq(#demo.USERS, 60)
end)

T.case("story rows are a fixed number", function()
  T.eq(demo.story_rows(), 10143)
  T.eq(demo.minimum_events(), 10143 + 2 * 48)
end)

T.case("writer SQL puts constants in as quoted literals", function()
  T.eq(demo.writer_sql("Syslog", { "TimeGenerated", { name = "Computer", value = "it's" }, { name = "ProcessID", value = 7 } }),
       "INSERT INTO Syslog (TimeGenerated,Computer,ProcessID) VALUES (?,'it''s',7)")
  T.eq(T.raises(function() demo.writer_sql("Syslog", { "Nope" }) end), "table 'Syslog' has no column 'Nope'")
end)

T.case("every writer column list names real columns", function()
  for name, cols in pairs(demo.COLUMNS) do
    T.ok(schema.table(name), name)
    T.like(demo.writer_sql(name, cols), "^INSERT INTO " .. name .. " %(")
  end
end)

T.case("bad options are refused with exact messages", function()
  local db = {}
  T.eq(T.raises(function() demo.build(nil, { now = NOW }) end), "demo.build needs an open workspace connection")
  T.eq(T.raises(function() demo.build(db, "x") end), "demo.build options must be a table, got string")
  T.eq(T.raises(function() demo.build(db, { events = 0, now = NOW }) end),
       "demo events must be a positive whole number, got 0")
  T.eq(T.raises(function() demo.build(db, { events = 1.5, now = NOW }) end),
       "demo events must be a positive whole number, got 1.5")
  T.eq(T.raises(function() demo.build(db, { events = "many", now = NOW }) end),
       "demo events must be a positive whole number, got many")
  T.eq(T.raises(function() demo.build(db, { seed = 0.5, now = NOW }) end), "demo seed must be a whole number, got 0.5")
  T.eq(T.raises(function() demo.build(db, {}) end), "demo.build needs opts.now, the current time in epoch seconds")
  T.eq(T.raises(function() demo.build(db, { now = "today" }) end),
       "demo now must be epoch seconds after 1970-01-15, got today")
  T.eq(T.raises(function() demo.build(db, { now = 100 }) end), "demo now must be epoch seconds after 1970-01-15, got 100")
  T.eq(T.raises(function() demo.build(db, { now = NOW, progress = true }) end),
       "demo progress must be a function, got boolean")
  T.eq(T.raises(function() demo.build(db, { now = NOW, events = 5000 }) end), "demo needs at least 10239 events, got 5000")
end)

---------------------------------------------------------------------------
-- Workspace cases
---------------------------------------------------------------------------
if not has_sqlite then
  T.skip("demo workspaces", "needs ipe.sqlite (run inside ipe-run test)")
  T.done()
  return
end

local tmpfiles = {}
local function open_fresh()
  local path = os.tmpname()
  os.remove(path)
  tmpfiles[#tmpfiles + 1] = path
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  return db
end

local function build(opts)
  local db = open_fresh()
  return db, demo.build(db, opts)
end

local function rows(db, sql, params) return (db:query(sql, params)) end
local function one(db, sql, params) return db:query(sql, params)[1][1] end
local function column(db, sql, params)
  local out = {}
  for i, r in ipairs(db:query(sql, params)) do out[i] = r[1] end
  return out
end

local function checksum(db, sql)
  local h = bit.tobit(0x811c9dc5)
  for _, r in ipairs(db:query(sql)) do
    for _, v in ipairs(r) do
      local s = tostring(v) .. "\31"
      for i = 1, #s do h = bit.tobit(bit.bxor(h, s:byte(i)) * 403 + bit.lshift(bit.bxor(h, s:byte(i)), 24)) end
    end
  end
  return h
end

local function sample_checksum(db)
  local out = {}
  for _, t in ipairs(schema.tables) do
    out[t.name] = checksum(db, "SELECT * FROM " .. t.name .. " WHERE rowid % 37 = 1 OR rowid <= 50 ORDER BY rowid")
  end
  return out
end

local ticks = {}
local A, SA = build({ events = 25000, seed = 7, now = NOW, progress = function(done, total)
  ticks[#ticks + 1] = { done, total }
end })

T.case("row counts add up to events and match the summary", function()
  local total = 0
  for _, t in ipairs(schema.tables) do
    local n = one(A, "SELECT count(*) FROM " .. t.name)
    T.eq(SA.rows[t.name], n, t.name)
    T.ok(n > 0, t.name .. " has rows")
    total = total + n
  end
  T.eq(total, 25000)
  T.eq(SA.story_rows, 10143)
  T.eq(SA.background_rows, 25000 - 10143)
  T.eq(SA.stories, ST)
end)

T.case("firewall and device network events dominate", function()
  local csl, dne = SA.rows.CommonSecurityLog, SA.rows.DeviceNetworkEvents
  for name, n in pairs(SA.rows) do
    if name ~= "CommonSecurityLog" and name ~= "DeviceNetworkEvents" then
      T.ok(n < dne and n < csl, name .. " is smaller than the network tables")
    end
  end
  T.ok(csl + dne > 0.6 * 25000, "network tables hold most rows")
end)

T.case("progress is reported about every 1% and ends at the total", function()
  T.ok(#ticks >= 95 and #ticks <= 101, "calls: " .. #ticks)
  for i, t in ipairs(ticks) do
    T.eq(t[2], 25000)
    if i > 1 then T.ok(t[1] > ticks[i - 1][1], "increasing") end
  end
  T.eq(ticks[#ticks], { 25000, 25000 })
end)

T.case("all times are in the window and in the fixed format", function()
  local glob = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z"
  for _, t in ipairs(schema.tables) do
    T.eq(one(A, "SELECT count(*) FROM " .. t.name .. " WHERE TimeGenerated IS NULL OR TimeGenerated NOT GLOB ? " ..
                "OR TimeGenerated < ? OR TimeGenerated > ?", { glob, LO, HI }), 0, t.name)
    for _, c in ipairs(t.columns) do
      if c.type == "datetime" then
        T.eq(one(A, "SELECT count(*) FROM " .. t.name .. " WHERE " .. c.name .. " IS NOT NULL AND " .. c.name ..
                    " NOT GLOB ?", { glob }), 0, t.name .. "." .. c.name)
      end
    end
  end
  for _, t in ipairs({ "CommonSecurityLog", "DeviceNetworkEvents", "SigninLogs" }) do
    T.ok(one(A, "SELECT max(TimeGenerated) FROM " .. t) >= "2026-11-26T23:00:00.000Z", t .. " has events in the last hour")
  end
end)

T.case("JSON columns hold valid JSON", function()
  local json_string_cols = { SecurityAlert = { "Entities", "ExtendedProperties" },
                             HuntingBookmark = { "QueryResultRow", "Entities", "CreatedBy" } }
  for _, t in ipairs(schema.tables) do
    local cols = {}
    for _, c in ipairs(t.columns) do if c.type == "dynamic" then cols[#cols + 1] = c.name end end
    for _, c in ipairs(json_string_cols[t.name] or {}) do cols[#cols + 1] = c end
    for _, c in ipairs(cols) do
      T.eq(one(A, "SELECT count(*) FROM " .. t.name .. " WHERE " .. c .. " IS NOT NULL AND json_valid(" .. c .. ") = 0"),
           0, t.name .. "." .. c)
    end
  end
end)

T.case("the same seed, events and now give identical rows", function()
  local B, SB = build({ events = 25000, seed = 7, now = NOW })
  T.eq(SB.rows, SA.rows)
  T.eq(sample_checksum(B), sample_checksum(A))
  B:close()
end)

local D, SD = build({ events = 20000, seed = 7, now = NOW })

T.case("another seed gives other background rows but the same story facts", function()
  local C, SC = build({ events = 25000, seed = 8, now = NOW })
  T.ne(sample_checksum(C).CommonSecurityLog, sample_checksum(A).CommonSecurityLog)
  T.eq(SC.story_rows, SA.story_rows)
  for _, db in ipairs({ C, D }) do
    T.eq(one(db, "SELECT count(*) FROM DeviceNetworkEvents WHERE RemoteIP = ?", { ST.c2.ip }), 4320)
    T.eq(one(db, "SELECT count(DISTINCT UserPrincipalName) FROM SigninLogs WHERE IPAddress = ? AND ResultType = '50126'",
             { ST.spray.ip }), 30)
  end
  C:close()
end)

T.case("story rows do not depend on events", function()
  local sql = "SELECT TimeGenerated, DeviceName, LocalPort FROM DeviceNetworkEvents WHERE RemoteIP = ? ORDER BY 1, 2"
  T.eq(checksum(D, sql:gsub("%?", "'" .. ST.c2.ip .. "'")), checksum(A, sql:gsub("%?", "'" .. ST.c2.ip .. "'")))
  local total = 0
  for _, n in pairs(SD.rows) do total = total + n end
  T.eq(total, 20000)
end)

-- c2 ------------------------------------------------------------------------
T.case("c2: three hosts beacon every 300 s with low jitter for 5 days", function()
  for i, dev in ipairs(ST.c2.devices) do
    local r = rows(A, "SELECT count(*), min(TimeGenerated), max(TimeGenerated), count(DISTINCT LocalIP), " ..
                      "min(RemotePort), max(RemotePort), min(Protocol), min(InitiatingProcessFileName) " ..
                      "FROM DeviceNetworkEvents WHERE DeviceName = ? AND RemoteIP = ?", { dev, ST.c2.ip })[1]
    T.eq(r[1], ST.c2.beacons_per_host, dev)
    T.ok(r[2] >= "2026-11-22T00:00:00.000Z", dev .. " starts within 5 days: " .. r[2])
    T.ok(r[3] >= "2026-11-26T23:50:00.000Z", dev .. " still beacons: " .. r[3])
    T.eq({ r[4], r[5], r[6], r[7], r[8] }, { 1, 443, 443, "Tcp", "rundll32.exe" })
    T.eq(one(A, "SELECT LocalIP FROM DeviceNetworkEvents WHERE DeviceName = ? AND RemoteIP = ? LIMIT 1", { dev, ST.c2.ip }),
         ST.c2.host_ips[i])
    local s = rows(A, [[
      SELECT avg(d), avg(d * d) FROM (
        SELECT (julianday(TimeGenerated) - julianday(lag(TimeGenerated) OVER (ORDER BY TimeGenerated))) * 86400.0 AS d
        FROM DeviceNetworkEvents WHERE DeviceName = ? AND RemoteIP = ?) WHERE d IS NOT NULL]], { dev, ST.c2.ip })[1]
    local mean, sd = s[1], math.sqrt(math.max(0, s[2] - s[1] * s[1]))
    T.ok(math.abs(mean - 300) < 1, dev .. " mean interval " .. mean)
    T.ok(sd < 10, dev .. " interval stddev " .. sd)
  end
end)

T.case("c2: allowed outbound firewall traffic enriched by TI", function()
  local r = rows(A, "SELECT count(*), count(DISTINCT SourceIP), min(DeviceAction), max(DeviceAction), " ..
                    "min(CommunicationDirection), min(IndicatorThreatType), min(ThreatSeverity), min(DestinationPort) " ..
                    "FROM CommonSecurityLog WHERE DestinationIP = ? AND MaliciousIP = ?", { ST.c2.ip, ST.c2.ip })[1]
  T.eq(r, { 4320, 3, "allow", "allow", "Outbound", "C2", 5, 443 })
  T.eq(column(A, "SELECT DISTINCT SourceIP FROM CommonSecurityLog WHERE DestinationIP = ? ORDER BY 1", { ST.c2.ip }),
       { "10.0.2.17", "10.0.2.23", "10.0.4.80" })
  T.eq(one(A, "SELECT count(*) FROM CommonSecurityLog WHERE MaliciousIP IS NOT NULL AND MaliciousIP <> ?", { ST.c2.ip }), 0)
end)

local LATEST_TI = [[
  SELECT IndicatorProvider, Active, ExpirationDateTime > ? AS live, ThreatType FROM (
    SELECT *, row_number() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS rn
    FROM ThreatIntelligenceIndicator WHERE NetworkIP = ?) WHERE rn = 1 ORDER BY 1]]

T.case("c2: two live indicators, one expired, several versions", function()
  T.eq(rows(A, LATEST_TI, { HI, ST.c2.ip }), {
    { "Microsoft Defender Threat Intelligence", 1, 1, "C2" }, { "Recorded Future", 1, 0, "Botnet" },
    { "VirusTotal", 1, 1, "C2" } })
  T.eq(one(A, "SELECT count(*) FROM ThreatIntelligenceIndicator WHERE NetworkIP = ?", { ST.c2.ip }), ST.c2.ti_rows)
end)

local ALERTS_FOR_IP = [[
  SELECT AlertName, AlertSeverity, Status, SystemAlertId, n FROM (
    SELECT a.*, row_number() OVER (PARTITION BY SystemAlertId ORDER BY TimeGenerated DESC) AS rn,
           count(*) OVER (PARTITION BY SystemAlertId) AS n
    FROM SecurityAlert a
    WHERE EXISTS (SELECT 1 FROM json_each(a.Entities) e
                  WHERE json_extract(e.value, '$.Type') = 'ip' AND json_extract(e.value, '$.Address') = ?))
  WHERE rn = 1]]

local INCIDENT_FOR_ALERT = [[
  SELECT IncidentNumber, Title, Severity, Status, json_extract(Owner, '$.assignedTo') FROM (
    SELECT i.*, row_number() OVER (PARTITION BY IncidentNumber ORDER BY TimeGenerated DESC) AS rn
    FROM SecurityIncident i WHERE EXISTS (SELECT 1 FROM json_each(i.AlertIds) WHERE value = ?))
  WHERE rn = 1]]

T.case("c2: a High alert in progress and an Active incident", function()
  local a = rows(A, ALERTS_FOR_IP, { ST.c2.ip })
  T.eq(#a, 1)
  T.eq({ a[1][1], a[1][2], a[1][3], a[1][5] }, { ST.c2.alert, "High", "InProgress", 2 })
  T.eq(rows(A, INCIDENT_FOR_ALERT, { a[1][4] }),
       { { ST.c2.incident_number, ST.c2.alert, "High", "Active", ST.c2.incident_owner } })
end)

T.case("c2: anomalies and a bookmark name it", function()
  T.eq(one(A, "SELECT count(*) FROM Anomalies WHERE DestinationIpAddress = ?", { ST.c2.ip }), 3)
  T.eq(one(A, "SELECT count(*) FROM Anomalies a WHERE EXISTS (SELECT 1 FROM json_each(a.Entities) e " ..
              "WHERE json_extract(e.value, '$.Address') = ?)", { ST.c2.ip }), 3)
  T.eq(rows(A, "SELECT json_extract(QueryResultRow, '$.__entityMapping.\"89.160.20.128\"'), SoftDeleted " ..
               "FROM HuntingBookmark WHERE QueryResultRow LIKE '%89.160.20.128%'"), { { "IP", 0 } })
end)

-- spray ---------------------------------------------------------------------
T.case("spray: failures against 30 users two days ago, two successes at the end", function()
  local r = rows(A, "SELECT count(DISTINCT UserPrincipalName), count(*), min(TimeGenerated), max(TimeGenerated) " ..
                    "FROM SigninLogs WHERE IPAddress = ? AND ResultType = '50126'", { ST.spray.ip })[1]
  T.eq({ r[1], r[2] }, { 30, ST.spray.failures_50126 })
  T.ok(r[1] >= 25)
  T.ok(r[3] >= "2026-11-24T20:59:00.000Z" and r[4] <= "2026-11-25T00:00:00.000Z", r[3] .. " .. " .. r[4])
  T.eq(one(A, "SELECT count(*) FROM SigninLogs WHERE IPAddress = ? AND ResultType = '50053'", { ST.spray.ip }), 3)
  local ok = rows(A, "SELECT UserPrincipalName, TimeGenerated FROM SigninLogs WHERE IPAddress = ? AND ResultType = '0' " ..
                     "ORDER BY 1", { ST.spray.ip })
  T.eq({ ok[1][1], ok[2][1] }, { "grady.archie@contoso.com", "raul.razo@contoso.com" })
  local last_fail = one(A, "SELECT max(TimeGenerated) FROM SigninLogs WHERE IPAddress = ? AND ResultType <> '0'",
                        { ST.spray.ip })
  T.ok(ok[1][2] > last_fail and ok[2][2] > last_fail, "successes come last")
  T.eq(one(A, "SELECT min(json_extract(LocationDetails, '$.city')) FROM SigninLogs WHERE IPAddress = ?", { ST.spray.ip }),
       "Milton")
  T.eq(one(A, "SELECT min(json_extract(Status, '$.errorCode')) FROM SigninLogs WHERE IPAddress = ? AND ResultType = '50126'",
           { ST.spray.ip }), 50126)
end)

T.case("spray: failed Windows logons against srv-web01", function()
  T.eq(rows(A, "SELECT count(*), min(Computer), max(Computer), min(EventID), max(EventID), min(Status), min(SubStatus), " ..
               "min(Activity), min(LogonType) FROM SecurityEvent WHERE IpAddress = ?", { ST.spray.ip }),
       { { 40, "srv-web01.contoso.com", "srv-web01.contoso.com", 4625, 4625, "0xc000006d", "0xc000006a",
           "4625 - An account failed to log on.", 3 } })
  T.eq(one(A, "SELECT count(*) FROM SecurityEvent WHERE IpAddress = ? AND Account NOT LIKE 'CONTOSO\\%'", { ST.spray.ip }), 0)
end)

T.case("spray: a Medium alert, a New incident, anomalies, watchlist and AbuseIPDB", function()
  local a = rows(A, ALERTS_FOR_IP, { ST.spray.ip })
  T.eq(#a, 1)
  T.eq({ a[1][1], a[1][2], a[1][3] }, { "Password spray attack", "Medium", "New" })
  T.eq(rows(A, INCIDENT_FOR_ALERT, { a[1][4] }),
       { { ST.spray.incident_number, "Password spray attack", "Medium", "New", require("cjson").null } })
  T.eq(one(A, "SELECT count(*) FROM Anomalies WHERE SourceIpAddress = ?", { ST.spray.ip }), 2)
  T.eq(rows(A, LATEST_TI, { HI, ST.spray.ip }), { { "AbuseIPDB", 1, 1, "Botnet" } })
end)

local LIVE_WATCHLIST = [[
  SELECT WatchlistAlias, SearchKey FROM (
    SELECT *, row_number() OVER (PARTITION BY _DTItemId ORDER BY _DTTimestamp DESC) AS rn
    FROM Watchlist WHERE _DTItemType = 'watchlist-item') WHERE rn = 1 AND _DTItemStatus <> 'Delete' AND SearchKey = ?]]

T.case("watchlists: suspicious-ips and critical-servers", function()
  T.eq(rows(A, LIVE_WATCHLIST, { ST.spray.ip }), { { "suspicious-ips", ST.spray.ip } })
  T.eq(rows(A, LIVE_WATCHLIST, { ST.internal.ip }), { { "critical-servers", ST.internal.ip } })
  T.eq(one(A, "SELECT count(*) FROM Watchlist WHERE _DTItemStatus = 'Delete'"), 1)
  local deleted = one(A, "SELECT SearchKey FROM Watchlist WHERE _DTItemStatus = 'Delete'")
  T.eq(rows(A, LIVE_WATCHLIST, { deleted }), {})
end)

-- cdn -----------------------------------------------------------------------
T.case("cdn: busy, benign, from every workstation", function()
  local ip = ST.cdn.ip
  T.eq(one(A, "SELECT count(DISTINCT SourceIP) FROM CommonSecurityLog WHERE DestinationIP = ? AND DeviceAction = 'allow' " ..
              "AND DestinationPort = 443 AND (SourceIP LIKE '10.0.2.%' OR SourceIP LIKE '10.0.4.%')", { ip }), 40)
  local top = rows(A, "SELECT DestinationIP, count(*) FROM CommonSecurityLog WHERE DeviceAction = 'allow' " ..
                      "AND DestinationPort = 443 AND CommunicationDirection = 'Outbound' AND DestinationIP <> ? " ..
                      "GROUP BY 1 ORDER BY 2 DESC LIMIT 2", { ST.c2.ip })
  T.eq(top[1][1], ip)
  T.ok(top[1][2] > 3 * top[2][2], "far ahead of the next destination")
  T.eq(one(A, "SELECT count(*) FROM ThreatIntelligenceIndicator WHERE NetworkIP = ?", { ip }), 0)
  T.eq(#rows(A, ALERTS_FOR_IP, { ip }), 0)
  T.eq(one(A, "SELECT count(*) FROM CommonSecurityLog WHERE MaliciousIP = ?", { ip }), 0)
end)

-- internal ------------------------------------------------------------------
T.case("internal: srv-db01 reports, is reached on 1433 from workstations", function()
  local ip = ST.internal.ip
  T.ok(one(A, "SELECT count(*) FROM Heartbeat h WHERE EXISTS (SELECT 1 FROM json_each(h.ComputerPrivateIPs) " ..
              "WHERE value = ?)", { ip }) >= 1)
  T.eq(column(A, "SELECT DISTINCT Computer FROM Heartbeat h WHERE EXISTS (SELECT 1 FROM json_each(h.ComputerPrivateIPs) " ..
                 "WHERE value = ?)", { ip }), { "srv-db01.contoso.com" })
  T.eq(column(A, "SELECT DISTINCT ComputerIP FROM Heartbeat"), { demo.ORG.egress_ip })
  T.ok(one(A, "SELECT count(*) FROM DeviceInfo WHERE DeviceName = 'srv-db01.contoso.com'") >= 1)
  local r = rows(A, "SELECT count(*), count(DISTINCT RemoteIP), min(InitiatingProcessFileName) FROM DeviceNetworkEvents " ..
                    "WHERE LocalIP = ? AND LocalPort = 1433 AND ActionType = 'InboundConnectionAccepted'", { ip })[1]
  T.ok(r[1] >= ST.internal.story_inbound, "inbound: " .. r[1])
  T.ok(r[2] >= 10, "from many workstations: " .. r[2])
  T.eq(r[3], "sqlservr.exe")
  T.eq(one(A, "SELECT count(*) FROM DeviceNetworkEvents WHERE LocalIP = ? AND LocalPort = 1433 " ..
              "AND NOT (RemoteIP LIKE '10.0.2.%' OR RemoteIP LIKE '10.0.4.%')", { ip }), 0)
  T.eq(one(A, "SELECT count(*) FROM Syslog WHERE HostIP = ?", { ip }), 0)
end)

-- rare port -----------------------------------------------------------------
T.case("rare port: only wks-031 uses TCP 4444, to one address", function()
  local rp = ST.rare_port
  T.eq(rows(A, "SELECT count(*), min(DeviceName), max(DeviceName), min(RemoteIP), max(RemoteIP) FROM DeviceNetworkEvents " ..
               "WHERE RemotePort = 4444"), { { rp.connections, rp.device, rp.device, rp.ip, rp.ip } })
  T.eq(rows(A, "SELECT count(*), min(SourceIP), max(SourceIP) FROM CommonSecurityLog WHERE DestinationPort = 4444"),
       { { rp.connections, rp.host_ip, rp.host_ip } })
  T.eq(one(A, "SELECT count(*) FROM Syslog WHERE Computer = ? AND ProcessName = 'sshd' AND Facility = 'auth' " ..
              "AND SyslogMessage LIKE 'Failed password for % from 45.33.32.156 port % ssh2'", { rp.ssh_host }),
       rp.ssh_failures)
  T.eq(one(A, "SELECT count(*) FROM Syslog WHERE SyslogMessage LIKE '%45.33.32.156%' AND Computer <> ?", { rp.ssh_host }), 0)
end)

-- sweep ---------------------------------------------------------------------
T.case("sweep: 10.0.4.99 touches >= 200 addresses of 10.0.1.0/24 on 445 within 10 minutes", function()
  -- the 10-minute window (starting at any of its events) with the most distinct targets
  local r = rows(A, [[
    WITH s AS (SELECT TimeGenerated AS t, DestinationIP AS d, DeviceAction AS act FROM CommonSecurityLog
               WHERE SourceIP = ? AND DestinationPort = 445 AND DestinationIP LIKE '10.0.1.%'),
         w AS (SELECT a.t AS t0, count(DISTINCT b.d) AS n FROM s a JOIN s b
               ON b.t >= a.t AND (julianday(b.t) - julianday(a.t)) * 1440 <= 10 GROUP BY a.t ORDER BY n DESC LIMIT 1)
    SELECT count(DISTINCT d), sum(act = 'deny'), min(t), max(t)
    FROM s, w WHERE s.t >= w.t0 AND (julianday(s.t) - julianday(w.t0)) * 1440 <= 10]], { ST.sweep.source })[1]
  T.eq(r[1], ST.sweep.targets)
  T.ok(r[1] >= 200)
  T.eq(r[2], ST.sweep.targets - ST.sweep.allowed)
  T.ok(r[3] >= "2026-11-25T23:00:00.000Z" and r[4] <= "2026-11-26T01:00:00.000Z", r[3] .. " .. " .. r[4])
  T.eq(one(A, "SELECT count(*) FROM DeviceNetworkEvents WHERE DeviceName = ? AND RemotePort = 445 " ..
              "AND ActionType = 'ConnectionFailed'", { ST.sweep.device }), ST.sweep.targets - ST.sweep.allowed)
end)

-- ipv6 and quiet ------------------------------------------------------------
T.case("ipv6: successful sign-ins for one user", function()
  T.eq(rows(A, "SELECT count(*), count(DISTINCT UserPrincipalName), min(UserPrincipalName), min(ResultType), " ..
               "max(ResultType), min(Location) FROM SigninLogs WHERE IPAddress = ?", { ST.ipv6.ip }),
       { { ST.ipv6.signins, 1, ST.ipv6.user, "0", "0", "JP" } })
end)

T.case("quiet: 192.0.2.200 (and its documentation range) appears nowhere", function()
  for _, t in ipairs(schema.tables) do
    local terms = {}
    for _, c in ipairs(t.columns) do
      if c.sql == "TEXT" then terms[#terms + 1] = c.name .. " LIKE '%192.0.2.%'" end
    end
    T.eq(one(A, "SELECT count(*) FROM " .. t.name .. " WHERE " .. table.concat(terms, " OR ")), 0, t.name)
  end
end)

-- background ----------------------------------------------------------------
T.case("addresses typed Public are public", function()
  for _, ip in ipairs(column(A, "SELECT DISTINCT RemoteIP FROM DeviceNetworkEvents WHERE RemoteIPType = 'Public'")) do
    local a, b, c = ip:match("^(%d+)%.(%d+)%.(%d+)%.%d+$")
    T.ok(a and not demo.is_special(tonumber(a), tonumber(b), tonumber(c)), ip)
  end
  T.eq(one(A, "SELECT count(*) FROM DeviceNetworkEvents WHERE RemoteIPType = 'Private' AND RemoteIP NOT LIKE '10.%'"), 0)
end)

T.case("many distinct public addresses contact the organization", function()
  T.ok(one(A, "SELECT count(DISTINCT SourceIP) FROM CommonSecurityLog WHERE CommunicationDirection = 'Inbound'") >= 500)
end)

T.case("every host sends heartbeats at a steady interval", function()
  T.eq(one(A, "SELECT count(DISTINCT Computer) FROM Heartbeat"), 48)
  T.ok(SA.heartbeat_interval >= 300)
  local per = column(A, "SELECT count(*) FROM Heartbeat GROUP BY Computer")
  for _, n in ipairs(per) do T.eq(n, per[1]) end
  T.eq(one(A, "SELECT count(DISTINCT DeviceName) FROM DeviceInfo"), 48)
end)

T.case("incidents and alerts keep their versions in time order", function()
  T.eq(one(A, [[SELECT count(*) FROM (SELECT SystemAlertId, Status, TimeGenerated,
                 lag(Status) OVER (PARTITION BY SystemAlertId ORDER BY TimeGenerated) AS prev FROM SecurityAlert)
               WHERE (prev = 'InProgress' AND Status = 'New') OR (prev = 'Resolved')]]), 0)
  T.eq(one(A, [[SELECT count(*) FROM (SELECT Status, lag(Status) OVER (PARTITION BY IncidentNumber ORDER BY TimeGenerated)
                 AS prev FROM SecurityIncident) WHERE prev = 'Closed' OR (prev = 'Active' AND Status = 'New')]]), 0)
  T.ok(one(A, "SELECT count(*) FROM (SELECT SystemAlertId FROM SecurityAlert GROUP BY 1 HAVING count(*) > 1)") >= 1)
end)

T.case("the indexes are in place after a build", function()
  local got = column(A, "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' ORDER BY name")
  local want = {}
  for _, ix in ipairs(schema.index_ddl()) do want[#want + 1] = ix.name end
  table.sort(want)
  T.eq(got, want)
end)

-- errors and transactions ---------------------------------------------------
T.case("a workspace that already has rows is refused and left unchanged", function()
  T.eq(T.raises(function() demo.build(D, { events = 20000, now = NOW }) end),
       "demo needs an empty workspace, but CommonSecurityLog already has rows")
  T.eq(one(D, "SELECT count(*) FROM CommonSecurityLog"), SD.rows.CommonSecurityLog)
end)

T.case("a failing build rolls back everything, indexes included", function()
  local db = open_fresh()
  local err = T.raises(function()
    demo.build(db, { events = 20000, now = NOW, progress = function(done) if done > 15000 then error("stop here", 0) end end })
  end)
  T.eq(err, "stop here")
  for _, t in ipairs(schema.tables) do T.eq(one(db, "SELECT count(*) FROM " .. t.name), 0, t.name) end
  T.eq(one(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'"), #schema.index_ddl())
  db:close()
end)

T.case("the smallest accepted build: stories plus one heartbeat and one DeviceInfo row per host", function()
  local db = open_fresh()
  local s = demo.build(db, { events = demo.minimum_events(), seed = 5, now = NOW })
  local total = 0
  for _, t in ipairs(schema.tables) do total = total + one(db, "SELECT count(*) FROM " .. t.name) end
  T.eq(total, 10239)
  T.eq({ s.rows.Heartbeat, s.rows.DeviceInfo, s.background_rows }, { 48, 48, 96 })
  T.eq(one(db, "SELECT count(*) FROM DeviceNetworkEvents WHERE RemoteIP = ?", { ST.c2.ip }), 4320)
  db:close()
end)

T.case("a build nests in the caller's transaction", function()
  local db = open_fresh()
  db:exec("BEGIN")
  local s = demo.build(db, { events = 12000, seed = 2, now = NOW })
  db:exec("ROLLBACK")
  T.eq(s.story_rows, 10143)
  T.eq(one(db, "SELECT count(*) FROM CommonSecurityLog"), 0)
  db:close()
end)

A:close()
D:close()
for _, p in ipairs(tmpfiles) do
  for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(p .. suffix) end
end

T.done()
