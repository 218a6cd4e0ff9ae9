-- Firewall and proxy traffic (CEF) to and from the IP, by port and action.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT Direction, DestinationPort AS Port, Protocol, DeviceAction AS Action, COUNT(*) AS Events,",
    "       COUNT(DISTINCT Peer) AS Peers, SUM(SentBytes) AS SentBytes, SUM(ReceivedBytes) AS ReceivedBytes,",
    "       MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen",
    "FROM (",
    "  SELECT 'to the IP' AS Direction, SourceIP AS Peer, DestinationPort, Protocol, DeviceAction,",
    "         SentBytes, ReceivedBytes, " .. db:time_text("TimeGenerated") .. " AS Time",
    "  FROM CommonSecurityLog WHERE (DestinationIP = :ip OR DestinationTranslatedAddress = :ip)",
    "    AND NOT (" .. db:is("SourceIP", "ip") .. " OR " .. db:is("SourceTranslatedAddress", "ip") .. ") AND " .. w,
    "  UNION ALL",
    "  SELECT 'from the IP', DestinationIP, DestinationPort, Protocol, DeviceAction,",
    "         SentBytes, ReceivedBytes, " .. db:time_text("TimeGenerated"),
    "  FROM CommonSecurityLog WHERE (SourceIP = :ip OR SourceTranslatedAddress = :ip) AND " .. w,
    ")",
    "GROUP BY Direction, DestinationPort, Protocol, DeviceAction",
    "ORDER BY Events DESC, Direction, Port",
    "LIMIT :limit",
  }, "\n")
end

return {
  name = "firewall-traffic-for-ip",
  kind = "hunt",
  title = "Firewall traffic to and from the IP",
  summary = "CommonSecurityLog traffic in both directions, allowed and denied, by port",
  description = [[
All firewall and proxy records (CommonSecurityLog, CEF) in the window where the
IP is the destination ("to the IP") or the source ("from the IP"), original or
NAT-translated address (a record from the IP to itself counts once, as
from the IP, as in the network traffic panel), grouped by direction, destination port, protocol and
the device's action (allow, deny, drop, ...), with the number of events, of
distinct peers, the bytes sent and received, and first and last time.
It shows what the perimeter saw: which services the IP reached or was reached
on, whether the firewall let it through, and how much data moved — a denied
scan looks very different from a long allowed session that sends data out.]],
  categories = { "offline", "network" },
  sources = { "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, limit = p.limit })
    return result.from_query(rows, cols, { Events = "count", Peers = "count", SentBytes = "bytes",
      ReceivedBytes = "bytes", FirstSeen = "time", LastSeen = "time" }, "Firewall traffic of " .. p.ip)
  end,
}
