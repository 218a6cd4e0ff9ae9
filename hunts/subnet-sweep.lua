-- One source touching many hosts of a network: a sweep or scan.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT *, ROUND(" .. db:seconds_between("FirstSeen", "LastSeen") .. " / 60.0, 1) AS Minutes FROM (",
    "SELECT Source, Scanner, MAX(ScannerHost) AS ScannerHost, COUNT(DISTINCT Target) AS Targets,",
    "       COUNT(*) AS Connections, SUM(IsAllowed) AS Allowed, COUNT(*) - SUM(IsAllowed) AS Blocked,",
    "       " .. db:string_agg("Port", ",", "distinct") .. " AS Ports, MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen",
    "FROM (",
    "  SELECT 'CommonSecurityLog' AS Source, SourceIP AS Scanner, SourceHostName AS ScannerHost,",
    "         DestinationIP AS Target, DestinationPort AS Port,",
    "         CASE WHEN lower(DeviceAction) IN ('allow', 'accept', 'permit', 'allowed') THEN 1 ELSE 0 END AS IsAllowed,",
    "         " .. db:time_text("TimeGenerated") .. " AS Time",
    "  FROM CommonSecurityLog WHERE " .. db:ip_in_cidr("DestinationIP", "cidr") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'DeviceNetworkEvents', LocalIP, DeviceName, RemoteIP, RemotePort,",
    "         CASE WHEN ActionType = 'ConnectionSuccess' THEN 1 ELSE 0 END, " .. db:time_text("TimeGenerated"),
    "  FROM DeviceNetworkEvents",
    "  WHERE " .. db:ip_in_cidr("RemoteIP", "cidr") .. " AND NOT " .. db:connection_inbound() .. " AND " .. w,
    ")",
    "GROUP BY Source, Scanner",
    "HAVING COUNT(DISTINCT Target) >= :min_hosts",
    "ORDER BY Targets DESC, Connections DESC",
    "LIMIT :limit",
    ")",
  }, "\n")
end

return {
  name = "subnet-sweep",
  kind = "hunt",
  title = "Sweep of a network",
  summary = "One source touching many hosts of a CIDR: host discovery, port sweeps, worm spread",
  description = [[
For the network cidr, every source that connected (or tried to) to at least
min_hosts distinct addresses of it in the window, per data source (firewall
records and device network events): how many targets, connections, how many
were allowed or blocked, the destination ports, first and last time and the
duration in minutes.
Ordinary clients talk to a handful of servers; a host that touches hundreds of
addresses of a server network in minutes is scanning it — an attacker's
discovery step, a worm, or a misconfigured tool — and the allowed connections
are the ones that reached something.]],
  categories = { "offline", "network" },
  sources = { "CommonSecurityLog", "DeviceNetworkEvents" },
  params = {
    { name = "cidr", type = "cidr", required = true, help = "the network swept, e.g. 10.0.1.0/24" },
    { name = "min_hosts", type = "int", default = 50, min = 2, max = 10000000,
      help = "at least this many distinct addresses of the network touched" },
    { name = "limit", type = "int", default = 100, min = 1, max = 100000, help = "at most this many sources" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { cidr = p.cidr, min_hosts = p.min_hosts, limit = p.limit })
    return result.from_query(rows, cols, { Scanner = "ip", Targets = "count", Connections = "count",
      Allowed = "count", Blocked = "count", FirstSeen = "time", LastSeen = "time", Minutes = "number" },
      "Sources sweeping " .. p.cidr)
  end,
}
