-- Observed in organization (IP entity page, "Observed in organization" tab; overview.md
-- section 5): the devices that had a connection with the IP, each with its last event.
local result = require "ipe.result"

local function sql(db)
  return table.concat({
    "WITH a AS (", db:rollup_query("activity"), "),",
    "seen AS (",
    "  SELECT " .. db:host_short("Host") .. " AS Device, Source, Host, Events, FirstSeen, LastSeen FROM a",
    "  WHERE Host <> '' AND Source IN ('DeviceNetworkEvents', 'CommonSecurityLog', 'SecurityEvent', 'Syslog')",
    "), devices AS (",
    "  SELECT Device, sum(Events) AS Events, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen,",
    "         max(Host) AS Name FROM seen GROUP BY Device ORDER BY LastSeen DESC, Device LIMIT :limit",
    "), last AS (",
    "  SELECT d.*, s.Source, s.Host FROM devices d JOIN seen s ON s.Device = d.Device AND s.LastSeen = d.LastSeen",
    "  GROUP BY d.Device",
    ")",
    "SELECT CASE WHEN l.Name LIKE '%.%' THEN l.Name ELSE l.Host END AS Device, l.LastSeen, l.Source,",
    "  COALESCE(n.ActionType, c.DeviceAction, s.Activity, y.SyslogMessage) AS Action,",
    -- the device's side of the connection: the DeviceNetworkEvents rule, a firewall record's endpoint
    "  CASE WHEN n.DeviceName IS NOT NULL THEN " .. db:connection_direction("n"),
    "    WHEN c.DestinationIP = :ip AND c.SourceIP IS NOT :ip THEN 'outbound' WHEN c.SourceIP = :ip THEN 'inbound'",
    "    WHEN s.EventID IN (4624, 4625) THEN 'logon' END AS Direction,",
    "  COALESCE(n.LocalIP, CASE WHEN c.SourceIP = :ip THEN c.DestinationIP ELSE c.SourceIP END, y.HostIP) AS LocalIP,",
    "  COALESCE(n.RemoteIP, CASE WHEN c.SourceIP = :ip THEN c.SourceIP ELSE c.DestinationIP END, s.IpAddress) AS RemoteIP,",
    "  COALESCE(CAST(" .. db:connection_port("n") .. " AS TEXT), CAST(c.DestinationPort AS TEXT)) AS Port,",
    "  COALESCE(n.Protocol, c.Protocol, s.LogonTypeName) AS Protocol,",
    "  COALESCE(n.InitiatingProcessFileName, c.ApplicationProtocol, s.LogonProcessName, y.ProcessName) AS Process,",
    "  COALESCE(n.InitiatingProcessAccountName, c.SourceUserName, s.Account) AS Account,",
    "  l.Events, l.FirstSeen",
    "FROM last l",
    -- the last event is one that names the IP (the rollup's own test), never another of that millisecond
    "LEFT JOIN DeviceNetworkEvents n ON l.Source = 'DeviceNetworkEvents' AND n.TimeGenerated = l.LastSeen",
    "  AND n.DeviceName = l.Host AND " .. db:row_names_ip("DeviceNetworkEvents", "n", "ip"),
    "LEFT JOIN CommonSecurityLog c ON l.Source = 'CommonSecurityLog' AND c.TimeGenerated = l.LastSeen",
    "  AND COALESCE(NULLIF(c.SourceHostName, ''), NULLIF(c.DestinationHostName, '')) = l.Host",
    "  AND " .. db:row_names_ip("CommonSecurityLog", "c", "ip"),
    "LEFT JOIN SecurityEvent s ON l.Source = 'SecurityEvent' AND s.TimeGenerated = l.LastSeen AND s.Computer = l.Host",
    "  AND " .. db:row_names_ip("SecurityEvent", "s", "ip"),
    "LEFT JOIN Syslog y ON l.Source = 'Syslog' AND y.TimeGenerated = l.LastSeen AND y.Computer = l.Host",
    "  AND " .. db:row_names_ip("Syslog", "y", "ip"),
    "GROUP BY l.Device",
    "ORDER BY l.LastSeen DESC, l.Device",
  }, "\n")
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
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, limit = p.limit })
    local s = result.from_query(rows, cols, { LastSeen = "time", LocalIP = "ip", RemoteIP = "ip", Events = "count",
      FirstSeen = "time" }, "Devices that had a connection with " .. p.ip)
    s.id = "devices"
    return s
  end,
}
