-- Destination ports used to reach the IP that the organization seldom uses.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  local internal = "(" .. db:ip_in_cidr("SourceIP", "net10") .. " OR " .. db:ip_in_cidr("SourceIP", "net172")
    .. " OR " .. db:ip_in_cidr("SourceIP", "net192") .. ")"
  return table.concat({
    "WITH to_ip AS (",
    "  SELECT RemotePort AS Port, " .. db:host_label("DeviceName") .. " AS Host, " .. db:time_text("TimeGenerated") .. " AS Time",
    "  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND NOT " .. db:connection_inbound() .. " AND " .. w,
    "  UNION ALL",
    "  SELECT DestinationPort, COALESCE(SourceHostName, SourceIP), " .. db:time_text("TimeGenerated"),
    "  FROM CommonSecurityLog WHERE DestinationIP = :ip AND " .. w,
    "), ports AS (",
    "  SELECT Port, COUNT(*) AS ToIP, COUNT(DISTINCT Host) AS HostsToIP, " .. db:string_agg("Host", ",", "distinct") .. " AS Hosts,",
    "         MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen",
    "  FROM to_ip WHERE Port IS NOT NULL GROUP BY Port",
    "), org AS (",
    "  SELECT RemotePort AS Port, " .. db:host_label("DeviceName") .. " AS Host",
    "  FROM DeviceNetworkEvents",
    "  WHERE RemotePort IN (SELECT Port FROM ports) AND NOT " .. db:connection_inbound() .. " AND " .. w,
    "  UNION ALL",
    "  SELECT DestinationPort, COALESCE(SourceHostName, SourceIP)",
    "  FROM CommonSecurityLog",
    "  WHERE DestinationPort IN (SELECT Port FROM ports) AND " .. internal .. " AND " .. w,
    ")",
    "SELECT p.Port, p.ToIP AS ConnectionsToIP, p.Hosts, COUNT(o.Host) AS OrgConnections,",
    "       COUNT(DISTINCT o.Host) AS OrgHosts, p.FirstSeen, p.LastSeen",
    "FROM ports p LEFT JOIN org o ON o.Port = p.Port",
    "GROUP BY p.Port, p.ToIP, p.Hosts, p.FirstSeen, p.LastSeen",
    "HAVING COUNT(DISTINCT o.Host) <= :max_hosts",
    "ORDER BY OrgHosts, OrgConnections, p.Port",
  }, "\n")
end

return {
  name = "rare-ports-to-ip",
  kind = "hunt",
  title = "Rare ports to the IP",
  summary = "Destination ports used to reach the IP that few hosts of the organization use at all",
  description = [[
Takes every destination port the organization's hosts used to reach the IP in
the window (device network events, firewall records) and counts, across the
whole organization and the same window, how many distinct internal hosts used
that destination port with any address (firewall sources in 10/8, 172.16/12,
192.168/16, and every device). A port is rare when at most max_hosts hosts used
it; one row per rare port with the connections to the IP, the hosts that made
them, the organization-wide use, and first and last time.
Reverse shells and implants often listen on ports nothing else uses (4444,
8443, 1337); legitimate services to the same address ride on 443 along with
everyone else. A rare port to a public IP is worth a look at the process
behind it.]],
  categories = { "offline", "network" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address connected to" },
    { name = "max_hosts", type = "int", default = 3, min = 1, max = 100000,
      help = "a port is rare when at most this many internal hosts used it" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, max_hosts = p.max_hosts,
      net10 = "10.0.0.0/8", net172 = "172.16.0.0/12", net192 = "192.168.0.0/16" })
    return result.from_query(rows, cols, { ConnectionsToIP = "count", OrgConnections = "count", OrgHosts = "count",
      FirstSeen = "time", LastSeen = "time" }, "Rare destination ports to " .. p.ip)
  end,
}
