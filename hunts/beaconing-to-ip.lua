-- Hosts connecting to the IP at regular intervals (low jitter): beaconing.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "WITH conn AS (",
    "  SELECT 'DeviceNetworkEvents' AS Source, DeviceName AS Host, TimeGenerated",
    "  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND NOT " .. db:connection_inbound() .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', COALESCE(SourceHostName, SourceIP), TimeGenerated",
    "  FROM CommonSecurityLog WHERE DestinationIP = :ip AND " .. w,
    "), gaps AS (",
    "  SELECT Source, Host, TimeGenerated, " .. db:seconds_between("Prev", "TimeGenerated") .. " AS Gap",
    "  FROM (SELECT Source, Host, TimeGenerated,",
    "               LAG(TimeGenerated) OVER (PARTITION BY Source, Host ORDER BY TimeGenerated) AS Prev FROM conn)",
    ")",
    "SELECT Source, Host, COUNT(*) AS Connections, AVG(Gap) AS MeanGap,",
    "       AVG(Gap * Gap) - AVG(Gap) * AVG(Gap) AS GapVariance,",
    "       MIN(TimeGenerated) AS FirstSeen, MAX(TimeGenerated) AS LastSeen",
    "FROM gaps",
    "GROUP BY Source, Host",
    "HAVING COUNT(*) >= :min_connections AND AVG(Gap) > 0",
    "   AND AVG(Gap * Gap) - AVG(Gap) * AVG(Gap) <= (:max_jitter_pct * AVG(Gap) / 100.0) * (:max_jitter_pct * AVG(Gap) / 100.0)",
    "ORDER BY (AVG(Gap * Gap) - AVG(Gap) * AVG(Gap)) / (AVG(Gap) * AVG(Gap)), Connections DESC",
  }, "\n")
end

local function round(x, digits)
  local m = 10 ^ digits
  return math.floor(x * m + 0.5) / m
end

return {
  name = "beaconing-to-ip",
  kind = "hunt",
  title = "Beaconing to the IP",
  summary = "Hosts connecting to the IP at regular intervals (low jitter of the time between connections)",
  description = [[
For every host that connected to the IP in the window (device network events
and firewall records, each source on its own), the time between consecutive
connections: its mean, its standard deviation and the jitter (standard
deviation as a percentage of the mean). A host qualifies with at least
min_connections connections and a jitter of at most max_jitter_pct percent.
Implants call home on a timer ("sleep 300, jitter 1%"); people and ordinary
software do not. Hundreds of connections at a near-constant interval to one
address are a strong sign of command and control, even when the traffic is
encrypted and the address has no reputation yet.]],
  categories = { "offline", "network", "endpoint" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address connected to" },
    { name = "min_connections", type = "int", default = 20, min = 3, max = 10000000,
      help = "at least this many connections from one host" },
    { name = "max_jitter_pct", type = "int", default = 10, min = 0, max = 100,
      help = "at most this standard deviation of the interval, as a % of its mean" },
  },
  run = function(ctx, p)
    local recs = ctx.db:records(sql(ctx.db),
      { ip = p.ip, min_connections = p.min_connections, max_jitter_pct = p.max_jitter_pct })
    local rows = {}
    for i, r in ipairs(recs) do
      local sd = math.sqrt(math.max(0, r.GapVariance))
      rows[i] = { r.Source, r.Host, r.Connections, round(r.MeanGap, 1), round(sd, 2), round(100 * sd / r.MeanGap, 2),
                  r.FirstSeen, r.LastSeen }
    end
    return result.table{
      title = "Hosts beaconing to " .. p.ip,
      note = "interval = seconds between consecutive connections of a host; jitter = its standard deviation / mean",
      columns = { { "Source", "text" }, { "Host", "text" }, { "Connections", "count" }, { "IntervalSec", "number" },
                  { "StdDevSec", "number" }, { "JitterPct", "number" }, { "FirstSeen", "time" }, { "LastSeen", "time" } },
      rows = rows,
    }
  end,
}
