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
    -- each host's last heartbeat row (its columns through max(): the same row on both engines)
    "SELECT h.Host AS Computer, max(CASE WHEN hb.ComputerIP = :ip THEN 'public (ComputerIP)' ELSE 'private' END) AS Reported,",
    "       max(hb.OSType) AS OSType, max(hb.OSName) AS OSName, max(hb.OSVersion) AS OSVersion,",
    "       max(hb.Version) AS AgentVersion, max(hb.Category) AS Category, max(hb.ComputerEnvironment) AS Environment,",
    "       max(hb.ResourceId) AS ResourceId, h.Heartbeats, h.FirstHeartbeat, h.LastHeartbeat",
    "FROM hosts h JOIN (",
    "  SELECT Computer, " .. db:time_text("TimeGenerated") .. " AS Time, ComputerIP, OSType, OSName,",
    "         OSMajorVersion || '.' || OSMinorVersion AS OSVersion, Version, Category, ComputerEnvironment, ResourceId",
    "  FROM Heartbeat WHERE (Computer, " .. db:time_text("TimeGenerated") .. ") IN (SELECT Host, LastHeartbeat FROM hosts)",
    ") hb ON hb.Computer = h.Host AND hb.Time = h.LastHeartbeat",
    "GROUP BY h.Host, h.Heartbeats, h.FirstHeartbeat, h.LastHeartbeat",
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
