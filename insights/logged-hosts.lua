-- Logged hosts (IP entity page, overview; overview.md section 2): the computers whose
-- agent heartbeat reported the IP, with their OS and last heartbeat.
local result = require "ipe.result"

local function sql(db)
  return table.concat({
    "WITH hosts AS (",
    "  SELECT Host, sum(Events) AS Heartbeats, min(FirstSeen) AS FirstHeartbeat, max(LastSeen) AS LastHeartbeat",
    "  FROM (", db:rollup_query("activity"), ")",
    "  WHERE Source = 'Heartbeat' AND Host <> ''",
    "  GROUP BY Host",
    ")",
    "SELECT h.Host AS Computer, CASE WHEN hb.ComputerIP = :ip THEN 'public (ComputerIP)' ELSE 'private' END AS Reported,",
    "       hb.OSType, hb.OSName, hb.OSMajorVersion || '.' || hb.OSMinorVersion AS OSVersion, hb.Version AS AgentVersion,",
    "       hb.Category, hb.ComputerEnvironment AS Environment, hb.ResourceId, h.Heartbeats, h.FirstHeartbeat,",
    "       h.LastHeartbeat",
    "FROM hosts h JOIN Heartbeat hb ON hb.TimeGenerated = h.LastHeartbeat AND hb.Computer = h.Host",
    "GROUP BY h.Host",
    "ORDER BY h.LastHeartbeat DESC, h.Host",
  }, "\n")
end

return {
  name = "logged-hosts",
  kind = "insight",
  title = "Logged hosts",
  summary = "Computers whose agent heartbeat reported the IP, with OS and last heartbeat",
  description = [[
The computers whose Azure Monitor / Log Analytics agent heartbeat (Heartbeat)
reported the IP in the window — as the address it connects from (ComputerIP,
often a NAT egress shared by many hosts) or as one of its own private
addresses (ComputerPrivateIPs) — with the operating system, agent version and
environment of its last heartbeat, and how many heartbeats carried the IP.]],
  categories = { "offline", "endpoint", "overview" },
  sources = { "Heartbeat", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "overview", order = 40 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip })
    local s = result.from_query(rows, cols, { Heartbeats = "count", FirstHeartbeat = "time", LastHeartbeat = "time" },
      "Hosts whose heartbeat reported " .. p.ip)
    s.id = "logged-hosts"
    return s
  end,
}
