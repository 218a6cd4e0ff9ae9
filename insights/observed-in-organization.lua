-- Observed in organization (IP entity page, "Observed in organization" tab; overview.md
-- section 5): the devices that had a connection with the IP, each with its last event.
local result = require "ipe.result"

local null = result.null
local SOURCES = { "DeviceNetworkEvents", "CommonSecurityLog", "SecurityEvent", "Syslog" }

-- The rollup's rows of the window per device (the short name), source and host as written.
local function seen_sql(db)
  return table.concat({
    "WITH a AS (", db:rollup_query("activity"), ")",
    "SELECT " .. db:host_short("Host") .. " AS Device, Source, Host, sum(Events) AS HostEvents,",
    "       min(FirstSeen) AS HostFirst, max(LastSeen) AS HostLast FROM a",
    "WHERE Host <> '' AND Source IN ('" .. table.concat(SOURCES, "', '") .. "')",
    "GROUP BY " .. db:host_short("Host") .. ", Source, Host",
  }, "\n")
end

-- Per source: the rows at a device's last event (its host, to the millisecond) that name the IP
-- (the rollup's own test), never another of that millisecond: Host, T (time text) and the columns
-- shown, in the order of COLUMNS. Each its own statement (one JOIN per SELECT on ClickHouse 18.16).
local COLUMNS = { "Action", "Direction", "LocalIP", "RemoteIP", "Port", "Protocol", "Process", "Account" }
local EVENTS = {
  -- the device's side of the connection: the DeviceNetworkEvents rule
  DeviceNetworkEvents = function(db) return "n.DeviceName", {
    "n.ActionType", db:connection_direction("n"), "n.LocalIP", "n.RemoteIP", db:connection_port("n"), "n.Protocol",
    "n.InitiatingProcessFileName", "n.InitiatingProcessAccountName" } end,
  -- a firewall record goes from its source to its destination; the device is the IP's other end
  CommonSecurityLog = function(db) return "COALESCE(NULLIF(n.SourceHostName, ''), NULLIF(n.DestinationHostName, ''))", {
    "n.DeviceAction",
    "CASE WHEN n.DestinationIP = :ip AND " .. db:is_not("n.SourceIP", "ip") .. " THEN 'outbound' WHEN n.SourceIP = :ip "
      .. "THEN 'inbound' END",
    "CASE WHEN n.SourceIP = :ip THEN n.DestinationIP ELSE n.SourceIP END",
    "CASE WHEN n.SourceIP = :ip THEN n.SourceIP ELSE n.DestinationIP END",
    "n.DestinationPort", "n.Protocol", "n.ApplicationProtocol", "n.SourceUserName" } end,
  SecurityEvent = function() return "n.Computer", {
    "n.Activity", "CASE WHEN n.EventID IN (4624, 4625) THEN 'logon' END", "NULL", "n.IpAddress", "NULL",
    "n.LogonTypeName", "n.LogonProcessName", "n.Account" } end,
  Syslog = function() return "n.Computer", {
    "n.SyslogMessage", "NULL", "n.HostIP", "NULL", "NULL", "NULL", "n.ProcessName", "NULL" } end,
}

local function events_sql(db, source)
  local host, cols = EVENTS[source](db)
  local hosts = {}
  for c in host:gmatch("n%.%w+") do hosts[#hosts + 1] = db:in_list(c, "hosts") end
  local list = {}
  for i, c in ipairs(cols) do list[i] = c .. " AS " .. COLUMNS[i] end
  return table.concat({
    "SELECT " .. host .. " AS Host, " .. db:time_text("n.TimeGenerated") .. " AS T, " .. table.concat(list, ", "),
    "FROM " .. source .. " n",
    -- a superset (a host in any of its host columns); the exact host is matched on the rows returned
    "WHERE " .. db:time_in_list("n.TimeGenerated", "times") .. " AND (" .. table.concat(hosts, " OR ") .. ")",
    "  AND " .. db:row_names_ip(source, "n", "ip"),
  }, "\n")
end

-- before(a, b): of two events of one host and millisecond, a is shown rather than b — the
-- first by their columns in order, NULL first (the same choice on both engines)
local function before(a, b)
  for j = 3, #COLUMNS + 2 do
    local x, y = a[j], b[j]
    if x ~= y then
      if x == null or y == null then return x == null end
      if type(x) ~= type(y) then x, y = tostring(x), tostring(y) end
      return x < y
    end
  end
  return false
end

local function text(v)   -- a port as text ("443"), as it shows
  if type(v) == "number" then return string.format("%d", v) end
  return v
end

-- devices(db, p) -> the devices, most recently active first (at most p.limit): {Device=, Events=,
-- FirstSeen=, LastSeen=, Name= (the longest-sorting spelling), Source=, Host= (of its last row)}
local function devices(db, p)
  local by, list = {}, {}
  for _, r in ipairs((db:records(seen_sql(db), { ip = p.ip }))) do
    local d = by[r.Device]
    if not d then
      d = { Device = r.Device, Events = 0, FirstSeen = r.HostFirst, LastSeen = r.HostLast, Name = r.Host,
            Source = r.Source, Host = r.Host }
      by[r.Device] = d
      list[#list + 1] = d
    end
    d.Events = d.Events + r.HostEvents
    if r.HostFirst < d.FirstSeen then d.FirstSeen = r.HostFirst end
    if r.Host > d.Name then d.Name = r.Host end
    -- its last row: the latest; of equals, the first source and host in byte order
    if r.HostLast > d.LastSeen or (r.HostLast == d.LastSeen and (r.Source < d.Source
        or (r.Source == d.Source and r.Host < d.Host))) then
      d.LastSeen, d.Source, d.Host = r.HostLast, r.Source, r.Host
    end
  end
  table.sort(list, function(a, b)
    if a.LastSeen ~= b.LastSeen then return a.LastSeen > b.LastSeen end
    return a.Device < b.Device
  end)
  for i = #list, p.limit + 1, -1 do list[i] = nil end
  return list
end

local function rows_of(db, p)
  local list = devices(db, p)
  local last = {}   -- source -> "host\0time" -> the event's row
  for _, source in ipairs(SOURCES) do
    local hosts, times, want = {}, {}, {}
    for _, d in ipairs(list) do
      if d.Source == source and not want[d.Host .. "\0" .. d.LastSeen] then
        want[d.Host .. "\0" .. d.LastSeen] = true
        hosts[#hosts + 1], times[#times + 1] = d.Host, d.LastSeen
      end
    end
    last[source] = {}
    if #hosts > 0 then
      local rows = db:query(events_sql(db, source), { ip = p.ip, hosts = hosts, times = times })
      for _, r in ipairs(rows) do
        local k = tostring(r[1]) .. "\0" .. r[2]
        if want[k] and (not last[source][k] or before(r, last[source][k])) then last[source][k] = r end
      end
    end
  end
  local out = {}
  for i, d in ipairs(list) do
    local e = last[d.Source][d.Host .. "\0" .. d.LastSeen] or {}
    local row = { d.Name:find(".", 1, true) and d.Name or d.Host, d.LastSeen, d.Source }
    for j = 1, #COLUMNS do
      local v = e[j + 2]
      if v == nil then v = null end
      row[#row + 1] = COLUMNS[j] == "Port" and text(v) or v
    end
    row[#row + 1] = d.Events
    row[#row + 1] = d.FirstSeen
    out[i] = row
  end
  return out
end

return {
  name = "observed-in-organization",
  kind = "insight",
  title = "Observed in organization",
  summary = "Devices that had a connection with the IP, each with its last event's details",
  description = [[
The devices that had a connection with the IP in the window — Defender for
Endpoint network events (the device), firewall and proxy records (the endpoint
behind the traffic), Windows logons from the IP and Linux sshd lines naming it
(the computer) — each with the details of its last event (action, addresses,
port, protocol, process, account), how many events it had with the IP and when
the first was. The last event is one that names the IP (in any of its IP
columns, as the activity counts do), never another event of the same
millisecond. Direction is the device's: outbound when it connected to the IP,
inbound when the IP connected to it (a device network event is inbound when its
ActionType starts with "Inbound", listening for ListeningConnectionCreated, else
outbound; a firewall record goes from its source to its
destination), logon for a Windows logon (4624/4625); LocalIP is the device's address, RemoteIP the
other end, Port the service's (the accepting side's: LocalPort of an inbound
or listening device event, RemotePort of an outbound one, a firewall record's
destination port). A device counts once whatever the spelling of its name
(wks-007.contoso.com and wks-007). The most recently active devices first, at
most `limit` (the page's --limit, 100 by default).]],
  categories = { "offline", "network", "endpoint" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog", "SecurityEvent", "Syslog", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "observed", order = 10, hunt = "hosts-contacting-ip" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
    { name = "limit", type = "int", default = 100, min = 1, max = 100000, help = "at most this many devices" },
  },
  run = function(ctx, p)
    local cols = { "Device", "LastSeen", "Source" }
    for _, c in ipairs(COLUMNS) do cols[#cols + 1] = c end
    cols[#cols + 1], cols[#cols + 2] = "Events", "FirstSeen"
    local s = result.from_query(rows_of(ctx.db, p), cols, { LastSeen = "time", LocalIP = "ip", RemoteIP = "ip", Events = "count",
      FirstSeen = "time" }, "Devices that had a connection with " .. p.ip)
    s.id = "devices"
    return s
  end,
}
