-- Tests for the page's panel scripts (insights/*.lua with a page field) against the demo
-- workspace: each story IP of ipe.demo must show the facts the demo planted — counts,
-- first/last seen (checked against the raw rows), devices, incidents, the TI match and the
-- watchlist hit — and an IP with no data must come out empty everywhere.
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("page panels", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local demo = require "ipe.demo"
local rollup = require "ipe.rollup.sqlite"
local ST = demo.STORIES

local NOW = H.time("2026-11-27T00:00:00Z")
local DB = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }
do -- until the rollup migration is part of ipe.schema, add it here (a no-op afterwards)
  local db = assert(sqlite.open(DB, "rw"))
  if #db:query("SELECT 1 FROM sqlite_master WHERE name = '_ipe_ip_activity'") == 0 then require("ipe.migrations.rollup").up(db) end
  db:close()
end
local RAW = assert(sqlite.open(DB, "ro"))
local FROM, TO = "2026-11-20T00:00:00.000Z", "2026-11-27T00:00:00.000Z"

local function run(name, ip, extra)
  local given = { ip = ip }
  for k, v in pairs(extra or {}) do given[k] = v end
  local rec = H.run("insight", name, given, { db = DB, now = NOW, since = "7d", offline = true })
  if rec.status == "error" then error(name .. " " .. ip .. ": " .. tostring(rec.message), 2) end
  return rec
end

local function section(rec, id) return H.section(rec, id) or error("no section " .. id, 2) end
local function items(rec, id) return H.items_of(section(rec, id)) end
local function rows(rec, id) return H.rows_of(section(rec, id)) end

local function by(list, key)
  local out = {}
  for _, r in ipairs(list) do out[r[key]] = r end
  return out
end

local function raw(sql, binds)
  local r = RAW:query(sql, binds or {})
  return r[1]
end

local function sorted(list)
  table.sort(list)
  return list
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  return sorted(out)
end

---------------------------------------------------------------------------
-- Log activity
---------------------------------------------------------------------------
T.case("log activity: the C2 server in firewall and device network events", function()
  local rec = run("log-activity", ST.c2.ip)
  local got = by(rows(rec, "log-activity"), "DataSource")
  local per_source = ST.c2.beacons_per_host * #ST.c2.hosts
  T.eq(keys(got), { "CommonSecurityLog", "DeviceNetworkEvents" })
  T.eq(got.CommonSecurityLog.Events, per_source)
  T.eq(got.DeviceNetworkEvents.Events, per_source)
  local csl = raw("SELECT min(TimeGenerated), max(TimeGenerated) FROM CommonSecurityLog WHERE DestinationIP = ?", { ST.c2.ip })
  local dne = raw("SELECT min(TimeGenerated), max(TimeGenerated) FROM DeviceNetworkEvents WHERE RemoteIP = ?", { ST.c2.ip })
  T.eq({ got.CommonSecurityLog.FirstSeen, got.CommonSecurityLog.LastSeen }, { csl[1], csl[2] })
  T.eq({ got.DeviceNetworkEvents.FirstSeen, got.DeviceNetworkEvents.LastSeen }, { dne[1], dne[2] })
  T.ok(dne[1] >= "2026-11-22T00:00:00.000Z", "beacons start five days before now")
end)

T.case("log activity: the spray source in sign-ins and Windows logons", function()
  local got = by(rows(run("log-activity", ST.spray.ip), "log-activity"), "DataSource")
  T.eq(got.SigninLogs.Events, ST.spray.failures + ST.spray.successes)
  T.eq(got.SecurityEvent.Events, ST.spray.windows_failures)
  T.eq(keys(got), { "SecurityEvent", "SigninLogs" })
  local s = raw("SELECT min(TimeGenerated), max(TimeGenerated) FROM SigninLogs WHERE IPAddress = ?", { ST.spray.ip })
  T.eq({ got.SigninLogs.FirstSeen, got.SigninLogs.LastSeen }, { s[1], s[2] })
end)

T.case("log activity: the rare-port IP in firewall, device and sshd text", function()
  local got = by(rows(run("log-activity", ST.rare_port.ip), "log-activity"), "DataSource")
  T.eq(got.Syslog.Events, ST.rare_port.ssh_failures, "IPs inside SyslogMessage count")
  T.eq(got.DeviceNetworkEvents.Events, ST.rare_port.connections)
  T.eq(got.CommonSecurityLog.Events, ST.rare_port.connections + ST.rare_port.ssh_failures)
end)

T.case("log activity: the internal server, also from its own heartbeat's private IPs", function()
  local ip = ST.internal.ip
  local got = by(rows(run("log-activity", ip), "log-activity"), "DataSource")
  local w = "TimeGenerated >= :from AND TimeGenerated <= :to"
  local b = { ip = ip, from = FROM, to = TO }
  T.eq(got.DeviceNetworkEvents.Events,
    raw("SELECT count(*) FROM DeviceNetworkEvents WHERE (RemoteIP = :ip OR LocalIP = :ip) AND " .. w, b)[1])
  T.ok(got.DeviceNetworkEvents.Events >= 2 * ST.internal.story_inbound, "the story's SQL connections")
  T.eq(got.Heartbeat.Events, raw("SELECT count(*) FROM Heartbeat WHERE ComputerPrivateIPs LIKE '%\"10.0.1.20\"%' AND " .. w, b)[1])
  T.eq(got.CommonSecurityLog.Events,
    raw("SELECT count(*) FROM CommonSecurityLog WHERE (SourceIP = :ip OR DestinationIP = :ip OR RemoteIP = :ip OR "
      .. "SourceTranslatedAddress = :ip OR DestinationTranslatedAddress = :ip OR MaliciousIP = :ip) AND " .. w, b)[1])
end)

T.case("log activity: the IPv6 address in sign-ins", function()
  local got = rows(run("log-activity", "2001:0218:85A3:0000:0000:8A2E:0370:7334"), "log-activity")
  T.eq(#got, 1)
  T.eq({ got[1].DataSource, got[1].Events }, { "SigninLogs", ST.ipv6.signins })
end)

---------------------------------------------------------------------------
-- Security info, severity cards, incidents and alerts
---------------------------------------------------------------------------
T.case("security info: the C2 incident is open (Active) and its alert active (InProgress)", function()
  local rec = run("security-info", ST.c2.ip)
  T.eq(rec.status, "ok")
  T.eq(items(rec, "counts"), { ["Open incidents"] = 1, ["Active alerts"] = 1 })
  local list = rows(rec, "open")
  T.eq({ list[1].Kind, list[1].Id, list[1].Status, list[1].Severity }, { "Incident", "87", ST.c2.incident_status, "High" })
  T.eq({ list[2].Kind, list[2].Status, list[2].Title }, { "Alert", ST.c2.alert_status, ST.c2.alert })
end)

T.case("security info: the spray incident is New", function()
  local list = rows(run("security-info", ST.spray.ip), "open")
  T.eq(#list, 2)
  T.eq({ list[1].Id, list[1].Status, list[1].Severity }, { tostring(ST.spray.incident_number), "New", "Medium" })
end)

T.case("severity cards count incidents and alerts per severity", function()
  local c2 = by(rows(run("incidents-by-severity", ST.c2.ip), "severity"), "Severity")
  T.eq({ c2.High.Incidents, c2.High.Alerts, c2.Medium.Incidents, c2.Low.Alerts, c2.Informational.Alerts }, { 1, 1, 0, 0, 0 })
  local spray = by(rows(run("incidents-by-severity", ST.spray.ip), "severity"), "Severity")
  T.eq({ spray.Medium.Incidents, spray.Medium.Alerts, spray.High.Incidents }, { 1, 1, 0 })
  local chart = section(run("incidents-by-severity", ST.c2.ip), "severity-chart")
  T.eq(chart.labels, { "High", "Medium", "Low", "Informational" })
  T.eq(chart.series[1].values, { 1, 0, 0, 0 })
end)

T.case("incidents and alerts: latest versions, owner, classification, impacted assets", function()
  local list = rows(run("incidents-and-alerts", ST.c2.ip), "incidents")
  T.eq(#list, 2)
  local inc, al = list[1], list[2]
  T.eq({ inc.Kind, inc.Id, inc.Status, inc.Severity, inc.Classification, inc.AssignedTo, inc.Category },
    { "Incident", "87", "Active", "High", "Undetermined", ST.c2.incident_owner, "CommandAndControl" })
  T.eq(inc.InvestigationState, "InProgress")
  for _, d in ipairs(ST.c2.devices) do T.like(inc.ImpactedAssets, "host " .. d:gsub("%-", "%%-"), d) end
  T.unlike(inc.ImpactedAssets, "89%.160", "the IP itself is not an impacted asset")
  T.eq({ al.Kind, al.Status, al.Incident, al.Title }, { "Alert", "InProgress", "87", ST.c2.alert })
end)

T.case("incidents and alerts: nothing for the internal server", function()
  T.eq(run("incidents-and-alerts", ST.internal.ip).status, "empty")
  T.eq(run("security-info", ST.internal.ip).status, "empty")
end)

---------------------------------------------------------------------------
-- Observed in organization, logged hosts, prevalence
---------------------------------------------------------------------------
T.case("observed in organization: the three beaconing workstations", function()
  local list = rows(run("observed-in-organization", ST.c2.ip), "devices")
  local names = {}
  for i, r in ipairs(list) do names[i] = r.Device end
  T.eq(sorted(names), ST.c2.devices)
  for _, r in ipairs(list) do
    T.eq(r.Events, 2 * ST.c2.beacons_per_host, r.Device)
    T.eq(r.RemoteIP, ST.c2.ip)
  end
  local last = raw("SELECT max(TimeGenerated) FROM CommonSecurityLog WHERE DestinationIP = ?", { ST.c2.ip })[1]
  T.eq(list[1].LastSeen, last, "most recent first")
end)

T.case("observed in organization: sshd and port 4444 for the rare-port IP; logons for the spray", function()
  local got = by(rows(run("observed-in-organization", ST.rare_port.ip), "devices"), "Device")
  T.eq(got[ST.rare_port.device].Events, 2 * ST.rare_port.connections)
  T.eq({ got[ST.rare_port.device].Direction, got[ST.rare_port.device].Port }, { "outbound", "4444" })
  T.eq(got[ST.rare_port.ssh_host].Events, 2 * ST.rare_port.ssh_failures)
  local spray = rows(run("observed-in-organization", ST.spray.ip), "devices")
  T.eq(#spray, 1)
  T.eq({ spray[1].Device, spray[1].Events, spray[1].Source }, { ST.spray.target_device, ST.spray.windows_failures, "SecurityEvent" })
  T.like(spray[1].Action, "^4625")
end)

T.case("observed in organization: --limit", function()
  T.eq(#rows(run("observed-in-organization", ST.c2.ip, { limit = 2 }), "devices"), 2)
  local rec = H.run("insight", "observed-in-organization", { ip = ST.c2.ip, limit = "0" }, { db = DB, now = NOW })
  T.eq(rec.message, "insight 'observed-in-organization': parameter 'limit': 0 is below the minimum 1")
end)

T.case("logged hosts: the database server reports the internal IP as a private address", function()
  local list = rows(run("logged-hosts", ST.internal.ip), "logged-hosts")
  T.eq(#list, 1)
  local h = list[1]
  T.eq({ h.Computer, h.Reported, h.OSType, h.OSName }, { ST.internal.device, "private", "Windows", "Windows Server 2019 Datacenter" })
  local hb = raw("SELECT count(*), max(TimeGenerated) FROM Heartbeat WHERE Computer = ? AND TimeGenerated >= ? AND TimeGenerated <= ?",
    { ST.internal.device, FROM, TO })
  T.eq({ h.Heartbeats, h.LastHeartbeat }, { hb[1], hb[2] })
  T.eq(run("logged-hosts", ST.c2.ip).status, "empty")
end)

T.case("logged hosts: every host reports the NAT egress as ComputerIP", function()
  local list = rows(run("logged-hosts", ST.internal.egress_ip), "logged-hosts")
  T.eq(#list, #demo.HOSTS)
  for _, h in ipairs(list) do T.eq(h.Reported, "public (ComputerIP)") end
end)

T.case("prevalence: beacons per day and three hosts, adding up to the log activity", function()
  local rec = run("ip-prevalence", ST.c2.ip)
  local events, hosts = section(rec, "events"), section(rec, "hosts")
  T.eq(#events.labels, 7)
  T.eq(events.labels[1], FROM)
  local total, most = 0, 0
  for i, v in ipairs(events.series[1].values) do
    total = total + v
    most = math.max(most, hosts.series[1].values[i])
  end
  T.eq(total, 2 * ST.c2.beacons_per_host * #ST.c2.hosts)
  T.eq(most, #ST.c2.hosts)
  T.eq(hosts.series[1].values[1], 0, "no beacons a week ago")
end)

T.case("prevalence: per hour for short windows", function()
  local rec = H.run("insight", "ip-prevalence", { ip = ST.c2.ip }, { db = DB, now = NOW, since = "12h" })
  local s = rec.sections[1]
  T.eq({ s.bucket, #s.labels }, { "hour", 12 })
  -- 12 beacons an hour from each of 3 hosts, each a device event and a firewall record
  for _, v in ipairs(s.series[1].values) do T.ok(v >= 66 and v <= 78, "events in an hour: " .. v) end
end)

---------------------------------------------------------------------------
-- Timeline
---------------------------------------------------------------------------
T.case("timeline: alert, bookmark, anomalies and activity, newest first", function()
  local list = rows(run("timeline", ST.c2.ip), "timeline")
  local kinds = {}
  for i, r in ipairs(list) do
    kinds[r.Kind] = (kinds[r.Kind] or 0) + 1
    if i > 1 then T.ok(list[i - 1].Time >= r.Time, "time order") end
  end
  T.eq({ kinds.Alert, kinds.Bookmark, kinds.Anomaly }, { 1, ST.c2.bookmarks, ST.c2.anomalies })
  local activity = 0
  for _, r in ipairs(list) do if r.Kind == "Activity" then activity = activity + r.Events end end
  T.eq(activity, 2 * ST.c2.beacons_per_host * #ST.c2.hosts)
  local got = by(list, "Kind")
  T.eq(got.Bookmark.Title, "Beaconing to " .. ST.c2.ip .. " from wks-007")
  T.eq(got.Alert.Title, ST.c2.alert)
end)

---------------------------------------------------------------------------
-- Insights: network traffic, TI, watchlists
---------------------------------------------------------------------------
T.case("network traffic inspection: all beacons allowed, to the IP, three peers on 443", function()
  local rec = run("network-traffic-inspection", ST.c2.ip)
  local k = items(rec, "summary")
  local n = ST.c2.beacons_per_host * #ST.c2.hosts
  T.eq({ k.Events, k["As destination"], k["As source"], k.Allowed, k.Blocked, k.Peers }, { n, n, 0, n, 0, 3 })
  local peers = {}
  for i, r in ipairs(rows(rec, "peers")) do peers[i] = r.Peer end
  T.eq(sorted(peers), ST.c2.host_ips)
  local ports = rows(rec, "ports")
  T.eq({ #ports, ports[1].Port, ports[1].Events }, { 1, "443/tcp", n })
  local bytes = raw("SELECT total(SentBytes), total(ReceivedBytes) FROM CommonSecurityLog WHERE DestinationIP = ?", { ST.c2.ip })
  T.eq({ k["Bytes to the IP"], k["Bytes from the IP"] }, { bytes[1], bytes[2] })
end)

T.case("network traffic inspection: ssh in, port 4444 out for the rare-port IP", function()
  local k = items(run("network-traffic-inspection", ST.rare_port.ip), "summary")
  T.eq({ k["As source"], k["As destination"] }, { ST.rare_port.ssh_failures, ST.rare_port.connections })
end)

T.case("this IP has a TI match: two live indicators, the expired one only counted", function()
  local rec = run("ti-match", ST.c2.ip)
  local k = items(rec, "badge")
  T.eq({ k.Match, k["Live indicators"], k["Expired or inactive"], k.Badge },
    { true, #ST.c2.ti_live_providers, ST.c2.ti_indicators - #ST.c2.ti_live_providers, "TI match: 2 live indicators" })
  local providers = {}
  for i, r in ipairs(rows(rec, "indicators")) do
    providers[i] = r.Provider
    T.eq(r.ThreatType, ST.c2.threat_type)
  end
  T.eq(sorted(providers), sorted({ unpack(ST.c2.ti_live_providers) }))
  T.eq(rows(rec, "indicators")[1].Confidence, 95, "the latest version of the MDTI indicator")
end)

T.case("this IP has a TI match: AbuseIPDB for the spray source; nothing for the internal server", function()
  local list = rows(run("ti-match", ST.spray.ip), "indicators")
  T.eq(#list, 1)
  T.eq({ list[1].Provider, list[1].Confidence }, { ST.spray.ti_provider, 100 })
  local rec = run("ti-match", ST.internal.ip)
  T.eq(rec.status, "empty")
  T.eq(items(rec, "badge").Badge, "no TI match")
end)

T.case("remote connections with TI match: the three devices, matched by the live indicators", function()
  local list = rows(run("remote-connections-ti-match", ST.c2.ip), "connections")
  local names = {}
  for i, r in ipairs(list) do
    names[i] = r.Device
    T.eq({ r.ThreatType, r.Confidence, r.Events }, { "C2", 95, 2 * ST.c2.beacons_per_host })
    for _, p in ipairs(ST.c2.ti_live_providers) do T.like(r.MatchedBy, p, "matched by " .. p) end
    T.like(r.MatchedBy, "firewall TI enrichment %(4320 records%)")
  end
  T.eq(sorted(names), ST.c2.devices)
  local rec = run("remote-connections-ti-match", ST.internal.ip)
  T.eq({ rec.status, rec.message }, { "empty", "no live threat-intelligence indicator or TI enrichment names 10.0.1.20" })
end)

T.case("watchlist insights: the spray source on suspicious-ips, the server on critical-servers", function()
  local spray = rows(run("watchlist-insights", ST.spray.ip), "watchlists")
  T.eq(#spray, 1)
  T.eq({ spray[1].Watchlist, spray[1].Alias, spray[1].SearchKey }, { "Suspicious IPs", ST.spray.watchlist, ST.spray.ip })
  T.like(spray[1].Item, "Reason: Password spray source")
  local db = rows(run("watchlist-insights", ST.internal.ip), "watchlists")
  T.eq({ #db, db[1].Alias }, { 1, ST.internal.watchlist })
  T.like(db[1].Item, "Owner: dba@contoso%.com; Role: SQL Server")
  T.eq(run("watchlist-insights", ST.c2.ip).status, "empty")
end)

---------------------------------------------------------------------------
-- An IP with no data; a workspace from before the rollup
---------------------------------------------------------------------------
T.case("an IP with no data: every page panel is empty", function()
  for _, name in ipairs({ "security-info", "log-activity", "logged-hosts", "incidents-by-severity", "ip-prevalence",
                          "incidents-and-alerts", "observed-in-organization", "timeline", "network-traffic-inspection",
                          "remote-connections-ti-match", "ti-match", "watchlist-insights" }) do
    T.eq(run(name, ST.quiet.ip).status, "empty", name)
  end
end)

T.case("a workspace from before the rollup is refused with the command that upgrades it", function()
  local old = H.workspace{}
  local db = assert(sqlite.open(old, "rw"))
  for _, t in ipairs({ "_ipe_ip_activity", "_ipe_ip_traffic", "_ipe_ip_peers", "_ipe_ip_queries" }) do
    db:exec("DROP TABLE IF EXISTS " .. t)
  end
  db:exec("UPDATE _ipe_meta SET value = '" .. (require("ipe.schema").VERSION - 1) .. "' WHERE key = 'schema_version'")
  db:close()
  local rec = H.run("insight", "log-activity", { ip = ST.c2.ip }, { db = old, now = NOW })
  T.eq({ rec.status, rec.outcome }, { "error", "workspace" })
  T.like(rec.message, "upgrade it with 'ipe%-run migrate %-%-db ")
end)

T.done()
