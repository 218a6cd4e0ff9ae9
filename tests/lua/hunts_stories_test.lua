-- Each built-in hunt against the demo workspace finds its story (ipe.demo.STORIES):
-- the password-spray source, the beaconing hosts, the rare port, the TI match, the
-- sweep — and leaves ordinary addresses alone.
local T = require "ipe.testing"
local H = require "ipe.harness"
local demo = require "ipe.demo"
local hunting = require "ipe.hunting"
local sqlite = require "ipe.sqlite"
local response = require "ipe.migrations.response"

local ST = demo.STORIES
local db = H.workspace{ demo = { events = 20000 } }   -- now = 2026-11-27T00:00:00Z, 7-day window

local function hunt(name, params, opts)
  opts = opts or {}
  opts.db = db
  return H.run("hunt", name, params, opts)
end

local function by(rows, f)
  local out = {}
  for _, r in ipairs(rows) do out[#out + 1] = f(r) end
  table.sort(out)
  return out
end

T.case("ip-everywhere: every table and column that mentions the C2 address, with counts", function()
  local rec = hunt("ip-everywhere", { ip = ST.c2.ip })
  T.eq(rec.status, "ok", rec.message)
  local got = {}
  for _, r in ipairs(H.records(rec)) do got[r.TableName .. "." .. r.ColumnName] = r.Events end
  T.eq(got, {
    ["CommonSecurityLog.DestinationIP"] = 4320, ["CommonSecurityLog.MaliciousIP"] = 4320,
    ["DeviceNetworkEvents.RemoteIP"] = 4320, ["ThreatIntelligenceIndicator.NetworkIP"] = 4,
    ["Anomalies.DestinationIpAddress"] = 3, ["Anomalies.Entities"] = 3, ["HuntingBookmark.Entities"] = 1,
    ["HuntingBookmark.QueryResultRow"] = 1, ["SecurityAlert.Entities"] = 2,
  })
  local first = H.records(rec)[1]
  T.eq({ first.TableName, first.FirstSeen, first.LastSeen },
       { "CommonSecurityLog", "2026-11-22T00:01:34.095Z", "2026-11-26T23:59:06.476Z" })
end)

T.case("ip-everywhere: JSON fields, free text, IP lists and watchlist keys", function()
  local rec = hunt("ip-everywhere", { ip = ST.spray.ip })
  local got = {}
  for _, r in ipairs(H.records(rec)) do got[r.TableName .. "." .. r.ColumnName] = r.MatchedBy end
  T.eq(got["Watchlist.SearchKey"], "equals")
  T.eq(got["SigninLogs.IPAddress"], "equals")
  T.eq(got["SecurityEvent.IpAddress"], "equals")
  local rp = hunt("ip-everywhere", { ip = ST.rare_port.ip })
  local text = {}
  for _, r in ipairs(H.records(rp)) do text[r.TableName .. "." .. r.ColumnName] = r.Events end
  T.eq(text["Syslog.SyslogMessage"], 12, "sshd lines name the IP in free text")
  local off = hunt("ip-everywhere", { ip = ST.rare_port.ip, include_text = "false" })
  for _, r in ipairs(H.records(off)) do T.ne(r.MatchedBy, "text", "include_text=false skips free text") end
  local hb = hunt("ip-everywhere", { ip = "10.0.2.17" })
  local lists = {}
  for _, r in ipairs(H.records(hb)) do lists[r.TableName .. "." .. r.ColumnName] = r.MatchedBy end
  T.eq(lists["Heartbeat.ComputerPrivateIPs"], "array", "a host's own address is in its heartbeat IP list")
end)

T.case("ip-everywhere covers exactly the IP-bearing places of ipe.schema (plus watchlist keys)", function()
  local rec = hunt("ip-everywhere", { ip = ST.quiet.ip })
  T.eq(rec.status, "empty")
  local sql = rec.queries[1].sql
  local in_hunt = {}
  for t, c, how in sql:gmatch("SELECT '([%w_]+)' AS TableName, '([%w_]+)' AS ColumnName, '([%w_]+)' AS MatchedBy") do
    in_hunt[#in_hunt + 1] = t .. "." .. c .. ":" .. how
  end
  table.sort(in_hunt)
  T.eq(in_hunt, by(hunting.ip_sources(), function(s) return s.table .. "." .. s.column .. ":" .. s.how end))
  T.eq(#in_hunt, 35)
end)

T.case("signins-from-ip: the spray's sign-ins, two of them successful", function()
  local rows = H.records(hunt("signins-from-ip", { ip = ST.spray.ip }))
  local total, ok = 0, {}
  for _, r in ipairs(rows) do
    total = total + r.SignIns
    if r.Result == "success" then ok[#ok + 1] = r.Account end
  end
  table.sort(ok)
  T.eq(total, 62)
  T.eq(#rows, 35)
  T.eq(ok, ST.spray.winners)
  local failed = H.records(hunt("signins-from-ip", { ip = ST.spray.ip, result = "failure" }))
  T.eq(#failed, 33)
  local rec = hunt("signins-from-ip", { ip = ST.spray.ip, result = "sometimes" })
  T.eq(rec.outcome, "param")
  T.eq(rec.message, "hunt 'signins-from-ip': parameter 'result': 'sometimes' is not one of: any, success, failure")
end)

T.case("failed-logons-from-ip: Entra ID failures, Windows 4625 and sshd failures", function()
  local per = {}
  for _, r in ipairs(H.records(hunt("failed-logons-from-ip", { ip = ST.spray.ip }))) do
    per[r.Source] = (per[r.Source] or 0) + r.Attempts
  end
  T.eq(per, { SigninLogs = 60, SecurityEvent = 40 })
  local ssh = H.records(hunt("failed-logons-from-ip", { ip = ST.rare_port.ip }))
  local n, root = 0, nil
  for _, r in ipairs(ssh) do
    n = n + r.Attempts
    if r.Account == "root" then root = r end
  end
  T.eq(n, 12)
  T.eq({ root.Source, root.Target, root.Reason, root.Attempts }, { "Syslog", "srv-lnx01", "bad password", 3 })
end)

T.case("multiple-users-from-ip finds the password-spray source", function()
  local rec = hunt("multiple-users-from-ip", { ip = ST.spray.ip })
  local rows = H.records(rec, 1)
  T.eq(#rows, 2)
  T.eq({ rows[1].Source, rows[1].Accounts, rows[1].Attempts, rows[1].Failures, rows[1].Successes, rows[1].FailurePct },
       { "SigninLogs", 30, 62, 60, 2, 96.8 })
  T.eq(by({ rows[1].SucceededAccounts:match("([^,]+),"), rows[1].SucceededAccounts:match(",([^,]+)") },
          function(x) return x end), ST.spray.winners)
  T.eq({ rows[2].Source, rows[2].Accounts, rows[2].Attempts, rows[2].Failures }, { "SecurityEvent", 30, 40, 40 })
  local accounts = H.records(rec, 2)
  T.eq(#accounts, 60)
  T.eq({ accounts[1].Successes, accounts[2].Successes }, { 1, 1 })
end)

T.case("multiple-users-from-ip leaves the office egress alone (many users, mostly successes)", function()
  local rec = hunt("multiple-users-from-ip", { ip = demo.ORG.egress_ip })
  T.eq(rec.status, "empty")
  T.eq(#rec.sections, 1, "no account table without a match")
  local lax = hunt("multiple-users-from-ip", { ip = demo.ORG.egress_ip, min_failure_pct = "0" })
  T.eq(rec.status, "empty")
  T.eq(lax.status, "ok", "with the failure threshold at 0 the egress qualifies")
end)

T.case("firewall-traffic-for-ip: both directions by port", function()
  local rows = H.records(hunt("firewall-traffic-for-ip", { ip = ST.rare_port.ip }))
  T.eq(#rows, 2)
  T.eq({ rows[1].Direction, rows[1].Port, rows[1].Action, rows[1].Events, rows[1].Peers },
       { "from the IP", 22, "allow", 12, 1 })
  T.eq({ rows[2].Direction, rows[2].Port, rows[2].Action, rows[2].Events, rows[2].Peers },
       { "to the IP", 4444, "allow", 5, 1 })
end)

T.case("hosts-contacting-ip: the three beaconing workstations, first and last contact", function()
  local rows = H.records(hunt("hosts-contacting-ip", { ip = ST.c2.ip }))
  T.eq(by(rows, function(r) return r.Host end), ST.c2.hosts)
  T.eq(by(rows, function(r) return r.HostIP end), ST.c2.host_ips)
  for _, r in ipairs(rows) do
    T.eq({ r.Contacts, r.Directions, r.Ports }, { 2880, "outbound", "443" }, r.Host)
  end
  local spray = H.records(hunt("hosts-contacting-ip", { ip = ST.spray.ip }))
  T.eq({ #spray, spray[1].Host, spray[1].Directions, spray[1].Contacts }, { 1, "srv-web01", "logon", 40 })
end)

T.case("beaconing-to-ip finds the beaconing hosts: 300 s interval, under 2% jitter", function()
  local rows = H.records(hunt("beaconing-to-ip", { ip = ST.c2.ip }))
  T.eq(#rows, 6, "three hosts, each in device events and firewall records")
  local hosts = {}
  for _, r in ipairs(rows) do
    T.eq({ r.Connections, r.IntervalSec }, { ST.c2.beacons_per_host, ST.c2.interval }, r.Host)
    T.ok(r.JitterPct > 0 and r.JitterPct < 2, "jitter of " .. r.Host .. " is " .. r.JitterPct)
    hosts[r.Host:match("^[^.]+")] = true
  end
  T.eq(hosts, { ["wks-007"] = true, ["wks-013"] = true, ["wks-021"] = true })
  T.eq(hunt("beaconing-to-ip", { ip = ST.c2.ip, min_connections = "1441" }).status, "empty")
  T.eq(hunt("beaconing-to-ip", { ip = ST.c2.ip, max_jitter_pct = "0" }).status, "empty")
  T.eq(hunt("beaconing-to-ip", { ip = ST.cdn.ip }).status, "empty", "browsing a CDN is not beaconing")
end)

T.case("rare-ports-to-ip finds the rare port 4444 and nothing for port 443", function()
  local rows = H.records(hunt("rare-ports-to-ip", { ip = ST.rare_port.ip }))
  T.eq(#rows, 1)
  T.eq({ rows[1].Port, rows[1].ConnectionsToIP, rows[1].Hosts, rows[1].OrgConnections, rows[1].OrgHosts },
       { ST.rare_port.port, 10, ST.rare_port.host, 10, 1 })
  T.eq(hunt("rare-ports-to-ip", { ip = ST.c2.ip }).status, "empty", "443 is used by every host")
end)

T.case("ti-matches-in-traffic finds the TI match: live indicators only", function()
  local rows = H.records(hunt("ti-matches-in-traffic", {}))
  local c2, spray_events = {}, 0
  for _, r in ipairs(rows) do
    if r.IndicatorIP == ST.c2.ip then c2[#c2 + 1] = r end
    if r.IndicatorIP == ST.spray.ip then spray_events = spray_events + r.Events end
    T.unlike(r.Providers, "Recorded Future.*Recorded Future", "one provider once")
  end
  T.eq(#c2, 6)
  for _, r in ipairs(c2) do
    T.eq({ r.Confidence, r.Events, r.Direction, r.ThreatTypes }, { 95, 1440, "to the indicator", "C2" })
    T.like(r.Providers, "Microsoft Defender Threat Intelligence")
    T.like(r.Providers, "VirusTotal")
    T.unlike(r.Providers, "Recorded Future", "the expired indicator is not live")
  end
  T.eq(spray_events, 102, "62 sign-ins and 40 logons from the AbuseIPDB indicator")
  local strict = H.records(hunt("ti-matches-in-traffic", { min_confidence = "96" }))
  for _, r in ipairs(strict) do T.ne(r.IndicatorIP, ST.c2.ip, "confidence 95 is below 96") end
end)

T.case("subnet-sweep finds the sweep of the server network", function()
  local rows = H.records(hunt("subnet-sweep", { cidr = ST.sweep.cidr }))
  T.eq(#rows, 2)
  for _, r in ipairs(rows) do
    T.eq({ r.Scanner, r.Targets }, { ST.sweep.source, ST.sweep.targets }, r.Source)
  end
  T.eq(by(rows, function(r) return r.ScannerHost end), { ST.sweep.host, ST.sweep.device })
  T.eq(hunt("subnet-sweep", { cidr = "10.0.2.0/24" }).status, "empty")
  local bad = hunt("subnet-sweep", { cidr = "10.0.1.0/33" })
  T.eq(bad.outcome, "param")
  T.eq(bad.message, "hunt 'subnet-sweep': parameter 'cidr': '10.0.1.0/33' is not a valid CIDR: prefix length 33 is out of range 0-32")
  local missing = hunt("subnet-sweep", {})
  T.eq(missing.message, "hunt 'subnet-sweep': parameter 'cidr' is required (the network swept, e.g. 10.0.1.0/24)")
end)

T.case("new-ips-first-seen: the spray source is new in the last 3 days, the C2 server is not", function()
  local rows = H.records(hunt("new-ips-first-seen", {}, { since = "3d" }))
  T.eq(#rows, 1)
  T.eq({ rows[1].IP, rows[1].Events, rows[1].Tables, rows[1].FirstSeen },
       { ST.spray.ip, 102, "SecurityEvent,SigninLogs", "2026-11-24T21:00:19.992Z" })
  local week = H.records(hunt("new-ips-first-seen", {}, { since = "7d" }))
  local seen = {}
  for _, r in ipairs(week) do seen[r.IP] = true end
  T.ok(seen[ST.c2.ip] and seen[ST.rare_port.ip], "in a 7-day window the C2 and rare-port addresses are new too")
  T.ok(not seen[demo.ORG.egress_ip], "the egress has been seen for two weeks")
end)

T.case("new-ips-first-seen uses the named IP ranges: shows them, hides known-good ones", function()
  local conn = assert(sqlite.open(db, "rw"))
  response.up(conn)
  conn:query("INSERT INTO _ipe_ip_ranges (Name, Cidr, Category, Tags, CreatedBy, CreatedTime, UpdatedBy, LastUpdatedTime) "
    .. "VALUES ('partner', '216.160.83.0/24', :cat, '[]', 't', 'x', 't', 'x')", { cat = "Risky" })
  conn:close()
  local rows = H.records(hunt("new-ips-first-seen", {}, { since = "3d" }))
  T.eq({ rows[1].IP, rows[1].Ranges }, { ST.spray.ip, "partner (Risky)" })
  conn = assert(sqlite.open(db, "rw"))
  conn:exec("UPDATE _ipe_ip_ranges SET Category = 'VPN'")
  conn:close()
  T.eq(hunt("new-ips-first-seen", {}, { since = "3d" }).status, "empty", "a VPN range is known-good")
  local shown = H.records(hunt("new-ips-first-seen", { hide_known = "false" }, { since = "3d" }))
  T.eq(shown[1].Ranges, "partner (VPN)")
  conn = assert(sqlite.open(db, "rw"))
  conn:exec("DROP TABLE _ipe_ip_ranges")
  conn:close()
end)

T.case("every hunt runs read-only and records its queries with bound values", function()
  local rec = hunt("beaconing-to-ip", { ip = ST.c2.ip })
  T.eq(#rec.queries, 1)
  local bound = {}
  for _, p in ipairs(rec.queries[1].params) do bound[p.name] = p.value end
  -- a KQL hunt: its parameters bound as :kN (the let of each), the window as :from and :to
  T.eq({ bound.from, bound.to }, { "2026-11-20T00:00:00.000Z", "2026-11-27T00:00:00.000Z" })
  T.eq({ bound.k1, bound.k2, bound.k3 }, { ST.c2.ip, 20, 10 }, "ip, min_connections, max_jitter_pct")
  T.eq(rec.queries[1].sql:find(ST.c2.ip, 1, true), nil, "no value in the SQL text")
end)

T.done()
