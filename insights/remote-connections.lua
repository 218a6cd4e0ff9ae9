-- IP address remote connections (Sentinel entity insight, insights.md 2.9):
-- which of our hosts talked to the IP, or were logged on to from it.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT Host, HostIP, Direction, Port || COALESCE('/' || lower(Protocol), '') AS Service, Action,",
    "       COUNT(*) AS Events, MIN(TimeGenerated) AS FirstSeen, MAX(TimeGenerated) AS LastSeen, Source",
    "FROM (",
    "  SELECT 'DeviceNetworkEvents' AS Source, DeviceName AS Host, LocalIP AS HostIP, 'outbound' AS Direction,",
    "         RemotePort AS Port, Protocol, ActionType AS Action, TimeGenerated",
    "  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'DeviceNetworkEvents', DeviceName, RemoteIP, 'inbound', LocalPort, Protocol, ActionType, TimeGenerated",
    "  FROM DeviceNetworkEvents WHERE LocalIP = :ip AND RemoteIP <> :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', COALESCE(SourceHostName, Computer), SourceIP, 'outbound', DestinationPort,",
    "         Protocol, DeviceAction, TimeGenerated",
    "  FROM CommonSecurityLog WHERE DestinationIP = :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', COALESCE(DestinationHostName, Computer), DestinationIP, 'inbound', DestinationPort,",
    "         Protocol, DeviceAction, TimeGenerated",
    "  FROM CommonSecurityLog WHERE SourceIP = :ip AND DestinationIP <> :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', Computer, NULL, 'logon', NULL, LogonTypeName,",
    "         CASE EventID WHEN 4624 THEN 'logon success' ELSE 'logon failure' END, TimeGenerated",
    "  FROM SecurityEvent WHERE IpAddress = :ip AND EventID IN (4624, 4625) AND " .. w,
    "  UNION ALL",
    "  SELECT 'Syslog', Computer, HostIP, 'logon', ProcessName, NULL,",
    "         CASE WHEN SyslogMessage LIKE 'Accepted %' THEN 'logon success' ELSE 'logon failure' END, TimeGenerated",
    -- only the hours in which the rollup saw the IP in Syslog are read from the raw rows
    "  FROM Syslog s JOIN (SELECT FirstSeen AS f, LastSeen AS l FROM _ipe_ip_activity WHERE IP = :ip AND Source = 'Syslog'",
    "    AND Hour >= substr(:from, 1, 13) AND Hour <= substr(:to, 1, 13)) a ON s.TimeGenerated >= a.f AND s.TimeGenerated <= a.l",
    "  WHERE ProcessName = 'sshd' AND " .. w .. " AND " .. db:text_has_ip("SyslogMessage", "ip"),
    ")",
    "GROUP BY Source, Host, HostIP, Direction, Port, Protocol, Action",
    "ORDER BY LastSeen DESC, Events DESC",
    "LIMIT :limit",
  }, "\n")
end

return {
  name = "remote-connections",
  kind = "insight",
  title = "IP address remote connections",
  summary = "Hosts that connected to or from the IP, or were logged on to from it",
  description = [[
Every connection between the IP and a host of the organization — device
network events (Defender for Endpoint), firewall and proxy traffic
(CommonSecurityLog) — and every logon from the IP (Windows 4624/4625, sshd),
grouped per host, host address, direction, port, protocol and action, with the
number of events and when they were first and last seen in the window.
Use it to scope an incident: which machines touched this address, and how.]],
  categories = { "offline", "network", "endpoint", "identity" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog", "SecurityEvent", "Syslog", "_ipe_ip_activity" },
  page = { group = "insights", order = 90, hunt = "hosts-contacting-ip" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
    { name = "limit", type = "int", default = 500, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, limit = p.limit })
    return result.from_query(rows, cols, {
      HostIP = "ip", Events = "count", FirstSeen = "time", LastSeen = "time",
    }, "Remote connections of " .. p.ip)
  end,
}
