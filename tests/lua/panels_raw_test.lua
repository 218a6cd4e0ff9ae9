-- The page's panels and hunts against hand-written reference queries over the same rows, on
-- real data where the problem came from real data (issue 10, items 2-4 and 6):
--   * direction and port of a connection: DeviceNetworkEvents' ActionType (InboundConnectionAccepted
--     is from RemoteIP to LocalIP:LocalPort, the others from the device to RemoteIP:RemotePort),
--     Sysmon event 3 mapped at ingest (OTRF Security-Datasets), and the firewall rule "a record
--     from the IP to itself counts once, as from the IP" shared by the panels and their hunts;
--   * observed in organization: the last event of a device is one that names the IP (OTRF 5140 and
--     4624 beside 4627 and 4672 of the same millisecond);
--   * alerts without a Status (msticpy's SecurityAlert export) are active, in every panel;
--   * an anomaly's time is its TimeGenerated, in the timeline and the anomalies panel alike.
-- Needs ipe.sqlite (ipe-run test).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("panels against raw data", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local migration = require "ipe.migrations.ingest"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"
local ST = require("ipe.demo").STORIES

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local FIX = here .. "/tests/fixtures"
local OTRF_FILE = FIX .. "/windows-events/covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json"
local ALERTS_FILE = FIX .. "/sentinel/msticpy/SecurityAlert.jsonl"

local temps = {}
local function ingest(files)
  local path = os.tmpname() .. ".db"
  temps[#temps + 1] = path
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  migration.up(db)
  for _, f in ipairs(files) do
    local run = { db = db, opts = {}, now = H.time("2026-11-27T00:00:00Z"), now_text = "2026-11-27T00:00:00.000Z",
                  rejects = {}, mappers = {}, say = function() end }
    local ok, res = pcall(load.ingest_file, run, f)
    if not ok then error(f .. ": " .. tostring(type(res) == "table" and res.msg or res)) end
  end
  db:close()
  return path
end

local function null(v) return v == nil or v == cjson.null end
local function line(values, n)
  local out = {}
  for i = 1, n do out[i] = null(values[i]) and "-" or tostring(values[i]) end
  return table.concat(out, "|")
end

local function run(kind, name, params, db, window)
  local rec = H.run(kind, name, params, { db = db, now = window.now, since = window.since, from = window.from,
                                         to = window.to, offline = true })
  if rec.status == "error" then error(name .. ": " .. tostring(rec.message), 2) end
  return rec
end

local function section(rec, id) return H.section(rec, id) or error("no section " .. id, 2) end
local rows_of = H.rows_of

local function sorted(t) table.sort(t); return t end

-- The OTRF lateral-movement dataset (Covenant SharpSC over SMB, 2020-08-06) as a workspace.
local OTRF = ingest({ OTRF_FILE })
local otrf = assert(sqlite.open(OTRF, "ro"))
local OTRF_W = { from = "2020-08-06T00:00:00.000Z", to = "2020-08-07T00:00:00.000Z", now = H.time("2020-08-07T00:00:00Z") }

-- The dataset's hosts and their addresses. WORKSTATION5 and WORKSTATION6 are the two ends of
-- every TCP connection between 172.18.39.5 and 172.18.39.6 (Sysmon: Source is the TCP
-- initiator); MORDORDC, the domain controller and DNS server, is 172.18.38.5 (its machine
-- account MORDORDC$ logs on to it from 172.18.38.5, and it answers DNS on port 53) and speaks
-- to itself over ::1 and its link-local address.
local HOSTS = {
  ["MORDORDC.theshire.local"] = { ["172.18.38.5"] = true, ["::1"] = true, ["fe80::3816:b2ee:1b9b:324b"] = true },
  ["WORKSTATION5.theshire.local"] = { ["172.18.39.5"] = true },
  ["WORKSTATION6.theshire.local"] = { ["172.18.39.6"] = true },
}

-- The Sysmon event 3 records of the fixture, read straight from the file.
local function sysmon_connections()
  local out = {}
  for l in io.lines(OTRF_FILE) do
    local e = cjson.decode(l)
    if e.EventID == 3 and tostring(e.Channel):find("Sysmon", 1, true) then out[#out + 1] = e end
  end
  return out
end

-- DeviceNetworkEvents rows as the hand-written rule reads them: direction of the device, the
-- service port (the accepting side's), the device's and the other end's addresses.
local DNE_REF = [[
SELECT DeviceName, TimeGenerated,
       CASE ActionType WHEN 'InboundConnectionAccepted' THEN 'inbound' WHEN 'ListeningConnectionCreated' THEN 'listening'
                       ELSE 'outbound' END,
       CASE WHEN ActionType IN ('InboundConnectionAccepted', 'ListeningConnectionCreated') THEN LocalPort ELSE RemotePort END,
       LocalIP, RemoteIP, lower(Protocol)
FROM DeviceNetworkEvents ORDER BY DeviceName, TimeGenerated, ReportId]]

T.case("Sysmon event 3 at ingest (OTRF): LocalIP is the device's, Initiated gives direction, ports the service's", function()
  local raw = sysmon_connections()
  T.eq(#raw, 12)
  local want = {}
  for _, e in ipairs(raw) do
    local initiated = tostring(e.Initiated) == "true"
    -- TCP: Destination is the side that accepted the connection; UDP: the port-53 side is the
    -- DNS service (the dataset's only UDP traffic)
    local service = tonumber(e.Protocol == "udp" and (e.SourcePort == "53" and e.SourcePort or e.DestinationPort)
                             or e.DestinationPort)
    want[#want + 1] = line({ e.Hostname, e.UtcTime:gsub(" ", "T") .. "Z", initiated and "outbound" or "inbound",
                             service }, 4)
  end
  local got = {}
  for _, r in ipairs(otrf:query(DNE_REF)) do
    got[#got + 1] = line(r, 4)
    T.ok(HOSTS[r[1]][r[5]], r[1] .. " " .. r[2] .. ": LocalIP " .. tostring(r[5]) .. " is the device's own address")
    local other = r[6]
    for host, addrs in pairs(HOSTS) do
      if host ~= r[1] and addrs[other] then
        T.ok(not HOSTS[r[1]][other], r[1] .. ": RemoteIP " .. other .. " is " .. host .. "'s")
      end
    end
  end
  T.eq(sorted(got), sorted(want))
  -- the inbound SMB connection: from WORKSTATION5's ephemeral port to WORKSTATION6:445
  T.eq(otrf:query("SELECT ActionType, LocalIP, LocalPort, RemoteIP, RemotePort FROM DeviceNetworkEvents "
    .. "WHERE DeviceName = 'WORKSTATION6.theshire.local' AND LocalPort = 445"),
    { { "InboundConnectionAccepted", "172.18.39.6", 445, "172.18.39.5", 54362 } })
  -- the DNS server's inbound query: MORDORDC:53 from WORKSTATION5
  T.eq(otrf:query("SELECT ActionType, LocalIP, LocalPort, RemoteIP FROM DeviceNetworkEvents "
    .. "WHERE DeviceName = 'MORDORDC.theshire.local' AND Protocol = 'Udp' AND RemoteIP = '172.18.39.5' ORDER BY RemotePort"),
    { { "InboundConnectionAccepted", "172.18.38.5", 53, "172.18.39.5" },
      { "InboundConnectionAccepted", "172.18.38.5", 53, "172.18.39.5" } })
end)

-- The device network rows of remote-connections, from the raw rows: the host is the device when
-- the IP is the remote end (the device's direction), the other end when the IP is the device's
-- own address (the reverse direction); the port is the service's.
local RC_REF = [[
SELECT Host, HostIP, Direction, Port || COALESCE('/' || lower(Protocol), '') AS Service, Action,
       count(*), min(TimeGenerated), max(TimeGenerated)
FROM (
  SELECT DeviceName AS Host, LocalIP AS HostIP,
         CASE ActionType WHEN 'InboundConnectionAccepted' THEN 'inbound' WHEN 'ListeningConnectionCreated' THEN 'listening'
                         ELSE 'outbound' END AS Direction,
         CASE WHEN ActionType IN ('InboundConnectionAccepted', 'ListeningConnectionCreated') THEN LocalPort
              ELSE RemotePort END AS Port,
         Protocol, ActionType AS Action, TimeGenerated
  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND TimeGenerated >= :from AND TimeGenerated <= :to
  UNION ALL
  SELECT NULLIF(RemoteUrl, ''), RemoteIP,
         CASE ActionType WHEN 'InboundConnectionAccepted' THEN 'outbound' ELSE 'inbound' END,
         CASE ActionType WHEN 'InboundConnectionAccepted' THEN LocalPort ELSE RemotePort END,
         Protocol, ActionType, TimeGenerated
  FROM DeviceNetworkEvents WHERE LocalIP = :ip AND RemoteIP <> :ip AND ActionType <> 'ListeningConnectionCreated'
    AND TimeGenerated >= :from AND TimeGenerated <= :to
)
GROUP BY Host, HostIP, Direction, Port, Protocol, Action]]

local function rc_rows(db, ip, w)
  local rec = run("insight", "remote-connections", { ip = ip, limit = 100000 }, db, w)
  local out = {}
  for _, r in ipairs(H.records(rec)) do
    if r.Source == "DeviceNetworkEvents" then
      out[#out + 1] = line({ r.Host, r.HostIP, r.Direction, r.Service, r.Action, r.Events, r.FirstSeen, r.LastSeen }, 8)
    end
  end
  return sorted(out), rec.window
end

local function ref_rows(db, sql, ip, window, n)
  local out = {}
  for _, r in ipairs(db:query(sql, { ip = ip, from = window.from, to = window.to })) do out[#out + 1] = line(r, n) end
  return sorted(out)
end

local OTRF_IPS = { "172.18.39.5", "172.18.39.6", "172.18.38.5", "13.107.4.50", "13.107.4.1", "::1",
                   "fe80::3816:b2ee:1b9b:324b" }

T.case("remote connections (OTRF): device network rows equal the raw reference; inbound SMB is 445/tcp", function()
  for _, ip in ipairs(OTRF_IPS) do
    local got, window = rc_rows(OTRF, ip, OTRF_W)
    T.eq(got, ref_rows(otrf, RC_REF, ip, window, 8), ip)
  end
  local got = rc_rows(OTRF, "172.18.39.5", OTRF_W)
  T.eq(got, {
    "-|13.107.4.50|inbound|80/tcp|ConnectionSuccess|1|2020-08-06T05:20:45.986Z|2020-08-06T05:20:45.986Z",
    "-|172.18.39.6|inbound|135/tcp|ConnectionSuccess|1|2020-08-06T05:20:25.103Z|2020-08-06T05:20:25.103Z",
    "-|172.18.39.6|inbound|445/tcp|ConnectionSuccess|1|2020-08-06T05:20:46.112Z|2020-08-06T05:20:46.112Z",
    "MORDORDC.theshire.local|172.18.38.5|inbound|53/udp|InboundConnectionAccepted|2|2020-08-06T05:20:24.127Z|2020-08-06T05:20:45.003Z",
    "WORKSTATION6.theshire.local|172.18.39.6|inbound|135/tcp|InboundConnectionAccepted|1|2020-08-06T05:20:25.309Z|2020-08-06T05:20:25.309Z",
    "WORKSTATION6.theshire.local|172.18.39.6|inbound|445/tcp|InboundConnectionAccepted|1|2020-08-06T05:20:46.317Z|2020-08-06T05:20:46.317Z",
  }, "the IP's SMB and RPC connections to WORKSTATION6 are inbound to 445 and 135 (never 'outbound 54362'), its DNS "
    .. "queries inbound to MORDORDC:53; its own connections make the other ends' inbound")
end)

local NOW = H.time("2026-11-27T00:00:00Z")
local DEMO = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }
local demo = assert(sqlite.open(DEMO, "ro"))
local DEMO_W = { since = "7d", now = NOW }

T.case("remote connections (demo): device network rows equal the raw reference, inbound SQL server included", function()
  local inbound = 0
  for _, ip in ipairs({ ST.c2.ip, ST.internal.ip, ST.rare_port.ip, ST.internal.egress_ip, ST.cdn.ip }) do
    for _, w in ipairs({ DEMO_W, { from = "2026-11-24T09:13:07.250Z", to = "2026-11-26T10:00:00.000Z", now = NOW } }) do
      local got, window = rc_rows(DEMO, ip, w)
      T.eq(got, ref_rows(demo, RC_REF, ip, window, 8), ip)
      for _, l in ipairs(got) do if l:find("|1433/tcp|InboundConnectionAccepted|", 1, true) then inbound = inbound + 1 end end
    end
  end
  T.ok(inbound > 0, "the internal server's inbound SQL connections show on 1433: " .. inbound)
end)

-- Observed in organization, from the raw rows: per device, the rows naming the IP (in any of
-- the IP columns the activity counts read) at the device's last time.
local OBS_REF = [[
SELECT Device, Time, Action, Direction, Port FROM (
  SELECT lower(substr(DeviceName, 1, instr(DeviceName || '.', '.') - 1)) AS Device, TimeGenerated AS Time,
         ActionType AS Action,
         CASE ActionType WHEN 'InboundConnectionAccepted' THEN 'inbound' WHEN 'ListeningConnectionCreated' THEN 'listening'
                         ELSE 'outbound' END AS Direction,
         CAST(CASE WHEN ActionType IN ('InboundConnectionAccepted', 'ListeningConnectionCreated') THEN LocalPort
                   ELSE RemotePort END AS TEXT) AS Port
  FROM DeviceNetworkEvents WHERE (RemoteIP = :ip OR LocalIP = :ip) AND TimeGenerated >= :from AND TimeGenerated <= :to
  UNION ALL
  SELECT lower(substr(Computer, 1, instr(Computer || '.', '.') - 1)), TimeGenerated, Activity,
         CASE WHEN EventID IN (4624, 4625) THEN 'logon' END, NULL
  FROM SecurityEvent WHERE (IpAddress = :ip OR ClientIPAddress = :ip OR RemoteIpAddress = :ip)
    AND TimeGenerated >= :from AND TimeGenerated <= :to
) r
WHERE Time = (SELECT max(TimeGenerated) FROM (
  SELECT DeviceName AS h, TimeGenerated FROM DeviceNetworkEvents WHERE (RemoteIP = :ip OR LocalIP = :ip)
    AND TimeGenerated >= :from AND TimeGenerated <= :to
  UNION ALL
  SELECT Computer, TimeGenerated FROM SecurityEvent WHERE (IpAddress = :ip OR ClientIPAddress = :ip OR RemoteIpAddress = :ip)
    AND TimeGenerated >= :from AND TimeGenerated <= :to
) WHERE lower(substr(h, 1, instr(h || '.', '.') - 1)) = r.Device)]]

-- check_observed(path, raw, ip, w) -> devices checked: the panel's devices are the reference's,
-- each with one of its last events naming the IP (time, action, direction, port)
local function check_observed(path, raw, ip, w)
  local rec = run("insight", "observed-in-organization", { ip = ip }, path, w)
  local allowed, devices = {}, {}
  for _, r in ipairs(raw:query(OBS_REF, { ip = ip, from = rec.window.from, to = rec.window.to })) do
    allowed[r[1]] = allowed[r[1]] or {}
    allowed[r[1]][line({ r[2], r[3], r[4], r[5] }, 4)] = true
    devices[r[1]] = true
  end
  local seen = {}
  for _, r in ipairs(H.records(rec)) do
    local dev = r.Device:lower():match("^[^.]+")
    seen[#seen + 1] = dev
    local got = line({ r.LastSeen, r.Action, r.Direction, r.Port }, 4)
    T.ok(allowed[dev] and allowed[dev][got], ip .. " " .. dev .. ": " .. got .. " is a last event naming the IP")
  end
  local want = {}
  for d in pairs(devices) do want[#want + 1] = d end
  T.eq(sorted(seen), sorted(want), ip .. ": the devices")
  return #seen
end

T.case("observed in organization (OTRF): each device's last event names the IP; its direction and port", function()
  local checked = 0
  for _, ip in ipairs(OTRF_IPS) do checked = checked + check_observed(OTRF, otrf, ip, OTRF_W) end
  T.ok(checked >= 8, "devices checked: " .. checked)
  -- the cases of the issue: 4627/4672 of the same millisecond are not the last event
  local ws6 = H.records(run("insight", "observed-in-organization", { ip = "172.18.39.5" }, OTRF, OTRF_W))
  local by = {}
  for _, r in ipairs(ws6) do by[r.Device] = r end
  local r = by["WORKSTATION6.theshire.local"]
  T.eq({ r.LastSeen, r.Action, r.RemoteIP }, { "2020-08-06T05:20:46.754Z", "5140 - A network share object was accessed.",
                                               "172.18.39.5" })
  local dc = H.records(run("insight", "observed-in-organization", { ip = "172.18.38.5" }, OTRF, OTRF_W))[1]
  T.eq({ dc.Device, dc.LastSeen, dc.Action, dc.Direction }, { "MORDORDC.theshire.local", "2020-08-06T05:21:19.985Z",
    "4624 - An account was successfully logged on.", "logon" })
  -- WORKSTATION5's last connection with 172.18.39.6 is its outbound SMB, to 445
  local ws5 = H.records(run("insight", "observed-in-organization", { ip = "172.18.39.6" }, OTRF, OTRF_W))
  for _, x in ipairs(ws5) do by[x.Device] = x end
  r = by["WORKSTATION5.theshire.local"]
  T.eq({ r.Direction, r.LocalIP, r.RemoteIP, r.Port }, { "outbound", "172.18.39.5", "172.18.39.6", "445" })
end)

T.case("observed in organization: firewall and syslog rows of the same millisecond that do not name the IP are not the last event", function()
  local ip = "203.0.113.5"
  local t = "2026-11-26T10:00:00.123Z"
  local function fw(src, dst, port, action)
    return { TimeGenerated = t, SourceIP = src, DestinationIP = dst, DestinationPort = port, Protocol = "TCP",
             DeviceAction = action, SourceHostName = "wks-5", Computer = "fw-edge01" }
  end
  local function sys(msg)
    return { TimeGenerated = t, Computer = "srv-lnx02", HostIP = "10.0.3.2", ProcessName = "sshd", SyslogMessage = msg }
  end
  for _, order in ipairs({ "before", "after" }) do
    local csl = { fw("10.0.2.5", "8.8.8.8", 53, "drop"), fw("10.0.2.5", ip, 443, "allow") }
    local syslog = { sys("pam_unix(sshd:session): session closed for user bob"),
                     sys("Failed password for root from " .. ip .. " port 5555 ssh2") }
    if order == "after" then csl = { csl[2], csl[1] }; syslog = { syslog[2], syslog[1] } end
    local path = H.workspace{ rows = { CommonSecurityLog = csl, Syslog = syslog } }
    local by = {}
    for _, r in ipairs(H.records(run("insight", "observed-in-organization", { ip = ip }, path, DEMO_W))) do by[r.Device] = r end
    T.eq({ by["wks-5"].Action, by["wks-5"].Direction, by["wks-5"].LocalIP, by["wks-5"].RemoteIP, by["wks-5"].Port },
         { "allow", "outbound", "10.0.2.5", ip, "443" }, "firewall, the other record " .. order)
    T.eq(by["srv-lnx02"].Action, "Failed password for root from " .. ip .. " port 5555 ssh2", "syslog, the other line " .. order)
  end
end)

-- hosts-contacting-ip: per host, the directions and ports, from the raw rows.
local HOSTS_REF = [[
SELECT Host, group_concat(DISTINCT Direction), group_concat(DISTINCT Port), count(*) FROM (
  SELECT substr(DeviceName, 1, instr(DeviceName || '.', '.') - 1) AS Host,
         CASE ActionType WHEN 'InboundConnectionAccepted' THEN 'inbound' WHEN 'ListeningConnectionCreated' THEN 'listening'
                         ELSE 'outbound' END AS Direction,
         CASE WHEN ActionType IN ('InboundConnectionAccepted', 'ListeningConnectionCreated') THEN LocalPort
              ELSE RemotePort END AS Port
  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND TimeGenerated >= :from AND TimeGenerated <= :to
  UNION ALL
  SELECT substr(Computer, 1, instr(Computer || '.', '.') - 1), 'logon', NULL FROM SecurityEvent
  WHERE IpAddress = :ip AND EventID IN (4624, 4625) AND TimeGenerated >= :from AND TimeGenerated <= :to
) GROUP BY Host]]

-- a list's text ("a,b"); none (NULL, or "" as the KQL hunt gives it) is the empty set
local function set_of(text)
  local out = {}
  for v in tostring(null(text) and "" or text):gmatch("[^,]+") do out[#out + 1] = v end
  return table.concat(sorted(out), ",")
end

local function check_hosts(path, raw, ip, w)
  local rec = run("hunt", "hosts-contacting-ip", { ip = ip }, path, w)
  local got, want = {}, {}
  for _, r in ipairs(H.records(rec)) do
    got[#got + 1] = line({ r.Host, set_of(r.Directions), set_of(r.Ports), r.Contacts }, 4)
  end
  for _, r in ipairs(raw:query(HOSTS_REF, { ip = ip, from = rec.window.from, to = rec.window.to })) do
    want[#want + 1] = line({ r[1], set_of(r[2]), set_of(r[3]), r[4] }, 4)
  end
  T.eq(sorted(got), sorted(want), ip)
  return got
end

T.case("hosts-contacting-ip hunt (OTRF): directions and ports per host equal the raw reference", function()
  for _, ip in ipairs(OTRF_IPS) do check_hosts(OTRF, otrf, ip, OTRF_W) end
  local rec = run("hunt", "hosts-contacting-ip", { ip = "172.18.39.5" }, OTRF, OTRF_W)
  local ws6
  for _, r in ipairs(H.records(rec)) do if r.Host == "WORKSTATION6" then ws6 = r end end
  T.eq({ set_of(ws6.Directions), set_of(ws6.Ports) }, { "inbound,logon", "135,445" })
end)

T.case("rare-ports-to-ip hunt (OTRF): only the ports the hosts connected to, never an inbound peer's source port", function()
  local function ports(ip)
    local out = {}
    for _, r in ipairs(H.records(run("hunt", "rare-ports-to-ip", { ip = ip }, OTRF, OTRF_W))) do out[#out + 1] = r.Port end
    return sorted(out)
  end
  local function ref(ip)
    local out = {}
    for _, r in ipairs(otrf:query("SELECT DISTINCT RemotePort FROM DeviceNetworkEvents WHERE RemoteIP = ? "
      .. "AND ActionType <> 'InboundConnectionAccepted'", { ip })) do out[#out + 1] = r[1] end
    return sorted(out)
  end
  T.eq(ports("172.18.39.6"), ref("172.18.39.6"))
  T.eq(ports("172.18.39.6"), { 135, 445 })
  T.eq(ports("172.18.39.5"), {}, "172.18.39.5 only connected in: its source ports 54358 and 54362 are no ports to it")
end)

local function activity_rows(path, raw, ip, w)
  local rec = H.run("action", "activity-log", { ip = ip }, { db = path, from = w.from, to = w.to, since = w.since, now = w.now })
  local got = {}
  for _, r in ipairs(H.records(rec)) do
    if r.TableName == "DeviceNetworkEvents" then got[#got + 1] = line({ r.TimeGenerated, r.Actor, r.Operation, r.Result }, 4) end
  end
  local want = {}
  for _, r in ipairs(raw:query([[SELECT TimeGenerated, DeviceName, InitiatingProcessFileName || ' ' ||
      CASE ActionType WHEN 'InboundConnectionAccepted' THEN RemoteIP || ' -> ' || LocalIP || ':' || LocalPort
                      WHEN 'ListeningConnectionCreated' THEN 'listening on ' || LocalIP || ':' || LocalPort
                      ELSE LocalIP || ' -> ' || RemoteIP || ':' || RemotePort END, ActionType
      FROM DeviceNetworkEvents WHERE (RemoteIP = :ip OR LocalIP = :ip) AND TimeGenerated >= :from AND TimeGenerated <= :to]],
      { ip = ip, from = rec.window.from, to = rec.window.to })) do
    want[#want + 1] = line(r, 4)
  end
  T.eq(sorted(got), sorted(want), ip .. ": activity-log")
  return got
end

T.case("activity-log action (OTRF): a device network row reads in its connection's direction, to the service port", function()
  local got = activity_rows(OTRF, otrf, "172.18.39.5", OTRF_W)
  T.ok(#got == 7, "the IP's seven connections: " .. #got)
  local text = table.concat(got, "\n")
  T.like(text, "svchost%.exe 172%.18%.39%.5 %-> 172%.18%.39%.6:135|InboundConnectionAccepted", "inbound RPC to 135")
  T.like(text, "dns%.exe 172%.18%.39%.5 %-> 172%.18%.38%.5:53|InboundConnectionAccepted", "inbound DNS query to 53")
end)

T.case("crafted device events: listening, failed and attempted connections, both ends, every panel and hunt", function()
  local ip = "10.9.9.9"
  local function dne(t, dev, action, lip, lport, rip, rport, url)
    return { TimeGenerated = t, Timestamp = t, DeviceName = dev, ActionType = action, LocalIP = lip, LocalPort = lport,
             RemoteIP = rip, RemotePort = rport, RemoteUrl = url, Protocol = "Tcp", InitiatingProcessFileName = "p.exe" }
  end
  local path = H.workspace{ rows = { DeviceNetworkEvents = {
    dne("2026-11-26T08:00:00.000Z", "srv-x.contoso.com", "ListeningConnectionCreated", ip, 8443, "", nil),
    dne("2026-11-26T08:05:00.000Z", "srv-x.contoso.com", "InboundConnectionAccepted", ip, 8443, "198.51.100.7", 50111),
    dne("2026-11-26T08:06:00.000Z", "srv-x.contoso.com", "ConnectionFailed", ip, 50200, "203.0.113.9", 22),
    dne("2026-11-26T08:07:00.000Z", "srv-x.contoso.com", "ConnectionAttempt", ip, 50201, "203.0.113.9", 22, "ssh.example"),
    dne("2026-11-26T09:00:00.000Z", "wks-1.contoso.com", "InboundConnectionAccepted", "10.0.0.11", 3389, ip, 50999),
    dne("2026-11-26T09:30:00.000Z", "wks-2.contoso.com", "ConnectionSuccess", "10.0.0.12", 51000, ip, 8443),
    dne("2026-11-26T09:31:00.000Z", "wks-2.contoso.com", "ConnectionSuccess", "10.0.0.12", 51001, ip, 8443),
  } } }
  local raw = assert(sqlite.open(path, "ro"))
  for _, w in ipairs({ DEMO_W, { from = "2026-11-26T08:04:00.000Z", to = "2026-11-26T09:30:30.000Z", now = NOW } }) do
    for _, x in ipairs({ ip, "198.51.100.7", "203.0.113.9", "10.0.0.12" }) do
      local got, window = rc_rows(path, x, w)
      T.eq(got, ref_rows(raw, RC_REF, x, window, 8), x .. " remote-connections")
      check_observed(path, raw, x, w)
      check_hosts(path, raw, x, w)
      activity_rows(path, raw, x, w)
    end
  end
  -- the IP's own device listening on 8443 is no connection; its last event is an attempt to :22
  local obs = H.records(run("insight", "observed-in-organization", { ip = ip }, path, DEMO_W))
  local by = {}
  for _, r in ipairs(obs) do by[r.Device] = r end
  T.eq({ by["srv-x.contoso.com"].Direction, by["srv-x.contoso.com"].Port }, { "outbound", "22" })
  T.eq({ by["wks-1.contoso.com"].Direction, by["wks-1.contoso.com"].Port }, { "inbound", "3389" })
  local first = H.records(run("insight", "observed-in-organization", { ip = ip }, path,
    { from = "2026-11-26T07:00:00.000Z", to = "2026-11-26T08:01:00.000Z", now = NOW }))
  T.eq({ first[1].Device, first[1].Direction, first[1].Port }, { "srv-x.contoso.com", "listening", "8443" })
  local got = rc_rows(path, ip, DEMO_W)
  T.eq(got, {
    "-|198.51.100.7|outbound|8443/tcp|InboundConnectionAccepted|1|2026-11-26T08:05:00.000Z|2026-11-26T08:05:00.000Z",
    "-|203.0.113.9|inbound|22/tcp|ConnectionFailed|1|2026-11-26T08:06:00.000Z|2026-11-26T08:06:00.000Z",
    "ssh.example|203.0.113.9|inbound|22/tcp|ConnectionAttempt|1|2026-11-26T08:07:00.000Z|2026-11-26T08:07:00.000Z",
    "wks-1.contoso.com|10.0.0.11|inbound|3389/tcp|InboundConnectionAccepted|1|2026-11-26T09:00:00.000Z|2026-11-26T09:00:00.000Z",
    "wks-2.contoso.com|10.0.0.12|outbound|8443/tcp|ConnectionSuccess|2|2026-11-26T09:30:00.000Z|2026-11-26T09:31:00.000Z",
  })
  raw:close()
end)

-- Firewall records with the IP on both sides: the panels and their hunts count them once, as
-- from the IP (the host's inbound).
T.case("firewall direction: network traffic, remote connections and their hunts agree, a record to itself included", function()
  local ip = "198.51.100.23"
  local function fw(t, src, dst, port, shost, dhost)
    return { TimeGenerated = t, SourceIP = src, DestinationIP = dst, DestinationPort = port, Protocol = "TCP",
             DeviceAction = "allow", SourceHostName = shost, DestinationHostName = dhost, Computer = "fw-edge01" }
  end
  local path = H.workspace{ rows = { CommonSecurityLog = {
    fw("2026-11-26T10:01:00.000Z", "10.0.2.17", ip, 443, "wks-007", nil),
    fw("2026-11-26T10:02:00.000Z", "10.0.2.17", ip, 443, "wks-007", nil),
    fw("2026-11-26T11:06:00.000Z", ip, ip, 22, "self", "self"),
    fw("2026-11-26T11:09:00.000Z", ip, "10.0.1.30", 80, nil, "srv-web01"),
    fw("2026-11-26T11:10:00.000Z", ip, nil, 53, nil, nil),
  } } }
  local ws = assert(sqlite.open(path, "ro"))
  local ref = {}
  for _, r in ipairs(ws:query([[SELECT CASE WHEN SourceIP = :ip THEN 'from the IP' ELSE 'to the IP' END, count(*)
      FROM CommonSecurityLog WHERE SourceIP = :ip OR DestinationIP = :ip GROUP BY 1]], { ip = ip })) do
    ref[r[1]] = r[2]
  end
  T.eq(ref, { ["from the IP"] = 3, ["to the IP"] = 2 })
  local panel, hunt = {}, {}
  local nti = run("insight", "network-traffic-inspection", { ip = ip }, path, DEMO_W)
  for _, r in ipairs(rows_of(section(nti, "flows"))) do panel[r.Direction] = (panel[r.Direction] or 0) + r.Events end
  for _, r in ipairs(H.records(run("hunt", "firewall-traffic-for-ip", { ip = ip }, path, DEMO_W))) do
    hunt[r.Direction] = (hunt[r.Direction] or 0) + r.Events
  end
  T.eq(panel, ref, "network traffic inspection")
  T.eq(hunt, ref, "firewall-traffic-for-ip")
  -- the record to itself: inbound to the host in remote-connections and its hunt
  local function dir_of(recs, key, value, col)
    for _, r in ipairs(recs) do if r[key] == value then return r[col] end end
  end
  local rc = H.records(run("insight", "remote-connections", { ip = ip }, path, DEMO_W))
  T.eq(dir_of(rc, "Service", "22/tcp", "Direction"), "inbound")
  local hc = H.records(run("hunt", "hosts-contacting-ip", { ip = ip }, path, DEMO_W))
  T.eq(dir_of(hc, "Host", "self", "Directions"), "inbound")
  ws:close()
end)

---------------------------------------------------------------------------
-- Alert and incident status
---------------------------------------------------------------------------
-- Active alerts and open incidents from the raw rows: the latest version of each naming the
-- IP; no Status is New.
local ACTIVE_REF = [[
WITH a AS (
  SELECT SystemAlertId, Status, TimeGenerated,
         ROW_NUMBER() OVER (PARTITION BY SystemAlertId ORDER BY TimeGenerated DESC) AS v
  FROM SecurityAlert
  WHERE TimeGenerated >= :from AND TimeGenerated <= :to
    AND EXISTS (SELECT 1 FROM json_each(Entities) e WHERE json_extract(e.value, '$.Type') = 'ip'
                AND json_extract(e.value, '$.Address') = :ip)
)
SELECT count(*), sum(Status IS NULL OR Status = '' OR lower(Status) NOT IN ('resolved', 'dismissed'))
FROM a WHERE v = 1]]

local function counts(rec)
  local out = {}
  for _, it in ipairs(section(rec, "counts").items) do out[it.key] = it.value end
  return out
end

T.case("alerts without Status (msticpy export): active in security info, as in the alert list and timeline", function()
  local path = ingest({ ALERTS_FILE })
  local ws = assert(sqlite.open(path, "ro"))
  T.eq(ws:query("SELECT count(*), count(Status) FROM SecurityAlert")[1], { 25, 0 }, "the export has no Status")
  local w = { from = "2019-02-14T00:00:00.000Z", to = "2019-02-19T00:00:00.000Z", now = H.time("2019-02-19T00:00:00Z") }
  local total = 0
  for _, ip in ipairs({ "23.97.60.214", "203.0.113.1", "104.211.30.1" }) do
    local ref = ws:query(ACTIVE_REF, { ip = ip, from = w.from, to = w.to })[1]
    local si = run("insight", "security-info", { ip = ip }, path, w)
    T.eq(counts(si), { ["Open incidents"] = 0, ["Active alerts"] = ref[2] }, ip)
    local listed = 0
    for _, r in ipairs(H.records(run("insight", "incidents-and-alerts", { ip = ip }, path, w))) do
      if r.Kind == "Alert" then
        listed = listed + 1
        T.eq(r.Status, "New", ip .. " " .. r.Id)
      end
    end
    T.eq(listed, ref[1], ip .. ": the alert list")
    T.eq(listed, ref[2], ip .. ": every listed alert is active")
    for _, r in ipairs(H.records(run("insight", "timeline", { ip = ip }, path, w))) do
      if r.Kind == "Alert" then T.like(r.Detail, ", New$", ip .. " timeline") end
    end
    total = total + ref[2]
  end
  T.eq(total, 12 + 10 + 2, "the alerts naming the three addresses")
  ws:close()
end)

T.case("alert and incident states: one definition, any case, empty and missing Status", function()
  local ip = "203.0.113.77"
  local ent = cjson.encode({ { Type = "ip", Address = ip } })
  local alerts, incidents = {}, {}
  local states = { cjson.null, "", "New", "InProgress", "Resolved", "resolved", "Dismissed", "Unknown" }
  for i, st in ipairs(states) do
    alerts[i] = { TimeGenerated = string.format("2026-11-26T10:%02d:00.000Z", i), SystemAlertId = "a" .. i,
                  DisplayName = "alert " .. i, AlertSeverity = "Low", Status = st ~= cjson.null and st or nil, Entities = ent }
  end
  for i, st in ipairs({ cjson.null, "", "New", "Active", "Closed", "closed" }) do
    incidents[i] = { TimeGenerated = string.format("2026-11-26T11:%02d:00.000Z", i), IncidentNumber = i, Title = "inc " .. i,
                     Severity = "Low", Status = st ~= cjson.null and st or nil, AlertIds = cjson.encode({ "a" .. i }) }
  end
  local path = H.workspace{ rows = { SecurityAlert = alerts, SecurityIncident = incidents } }
  local si = run("insight", "security-info", { ip = ip }, path, DEMO_W)
  -- by hand: alerts 1-4 and 8 are active; incidents 1-4 are open
  T.eq(counts(si), { ["Open incidents"] = 4, ["Active alerts"] = 5 })
  local open = {}
  for _, r in ipairs(rows_of(section(si, "open"))) do open[#open + 1] = r.Kind .. " " .. r.Id .. " " .. r.Status end
  T.eq(sorted(open), sorted({ "Alert a1 New", "Alert a2 New", "Alert a3 New", "Alert a4 InProgress", "Alert a8 Unknown",
                              "Incident 1 New", "Incident 2 New", "Incident 3 New", "Incident 4 Active" }))
end)

---------------------------------------------------------------------------
-- Anomalies: one time, TimeGenerated
---------------------------------------------------------------------------
T.case("anomalies: the timeline and the anomalies panel place an anomaly at its TimeGenerated", function()
  local ip = "198.51.100.99"
  local list = {}
  local times = { { "2026-11-26T10:15:00.000Z", "2026-11-25T22:00:00.000Z" },   -- started the day before
                  { "2026-11-26T10:40:00.000Z", "2026-11-26T09:50:00.000Z" },   -- started the hour before
                  { "2026-11-26T12:05:00.000Z", "2026-11-26T12:01:00.000Z" },
                  { "2026-11-26T23:10:00.000Z", "2026-11-25T23:30:00.000Z" } }  -- started before the window
  for i, t in ipairs(times) do
    list[i] = { TimeGenerated = t[1], StartTime = t[2], EndTime = t[1], Id = "an" .. i, AnomalyTemplateName = "tpl" .. (i % 2),
                SourceIpAddress = ip, Score = i / 10, VendorName = "UEBA" }
  end
  local path = H.workspace{ rows = { Anomalies = list } }
  local ws = assert(sqlite.open(path, "ro"))
  for _, w in ipairs({ { from = "2026-11-26T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z", now = NOW }, DEMO_W }) do
    local tl = run("insight", "timeline", { ip = ip }, path, w)
    local tl_times = {}
    for _, r in ipairs(H.records(tl)) do if r.Kind == "Anomaly" then tl_times[#tl_times + 1] = r.Time end end
    local ref = {}
    for _, r in ipairs(ws:query("SELECT TimeGenerated FROM Anomalies WHERE SourceIpAddress = ? AND TimeGenerated >= ? "
      .. "AND TimeGenerated <= ?", { ip, tl.window.from, tl.window.to })) do ref[#ref + 1] = r[1] end
    T.eq(sorted(tl_times), sorted(ref), "timeline times")
    local ac = run("insight", "anomalies-count", { ip = ip }, path, w)
    local first, last, n = nil, nil, 0
    for _, r in ipairs(H.records(ac)) do
      first = (not first or r.FirstSeen < first) and r.FirstSeen or first
      last = (not last or r.LastSeen > last) and r.LastSeen or last
      n = n + r.Anomalies
    end
    T.eq({ first, last, n }, { ref[1], ref[#ref], #ref }, "anomalies panel first and last")
    -- the chart's buckets count the timeline's times
    local chart
    for _, s in ipairs(ac.sections) do if s.kind == "chart" then chart = s end end
    local unit = chart.bucket
    local per = {}
    for _, t in ipairs(tl_times) do
      local b = timeutil.format_time(math.floor(H.time(t) / (unit == "hour" and 3600 or 86400)) * (unit == "hour" and 3600 or 86400))
      per[b] = (per[b] or 0) + 1
    end
    for i, label in ipairs(chart.labels) do
      T.eq(chart.series[1].values[i], per[label] or 0, unit .. " " .. label)
    end
  end
  ws:close()
end)

otrf:close()
demo:close()
for _, p in ipairs(temps) do
  for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(p .. suffix) end
end
T.done()
