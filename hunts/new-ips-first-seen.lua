-- IPs first seen in the window across all sources.
local result = require "ipe.result"

-- The plain IP columns of the activity tables (not threat intelligence, not
-- alerts: an IP listed there was reported, not seen).
local COLUMNS = {
  { "CommonSecurityLog", "SourceIP" }, { "CommonSecurityLog", "DestinationIP" }, { "CommonSecurityLog", "RemoteIP" },
  { "CommonSecurityLog", "SourceTranslatedAddress" }, { "CommonSecurityLog", "DestinationTranslatedAddress" },
  { "Syslog", "HostIP" },
  { "SecurityEvent", "IpAddress" }, { "SecurityEvent", "ClientIPAddress" }, { "SecurityEvent", "RemoteIpAddress" },
  { "SigninLogs", "IPAddress" },
  { "OfficeActivity", "ClientIP" }, { "OfficeActivity", "ActorIpAddress" },
  { "BehaviorAnalytics", "SourceIPAddress" }, { "BehaviorAnalytics", "DestinationIPAddress" },
  { "Heartbeat", "ComputerIP" },
  { "DeviceNetworkEvents", "RemoteIP" }, { "DeviceNetworkEvents", "LocalIP" },
  { "DeviceInfo", "PublicIP" },
  { "AzureActivity", "CallerIpAddress" },
}

local KNOWN = "'Corporate', 'Administrative', 'VPN', 'Cloud provider'"

local function sql(db, with_ranges, hide_known)
  local parts = {}
  for _, c in ipairs(COLUMNS) do
    parts[#parts + 1] = string.format("  SELECT %s AS IP, TimeGenerated, '%s' AS TableName FROM %s\n"
      .. "  WHERE %s IS NOT NULL AND %s <> '' AND TimeGenerated >= :history_from AND TimeGenerated <= :to",
      c[2], c[1], c[1], c[2], c[2])
  end
  local lines = {
    "WITH seen AS (",
    table.concat(parts, "\n  UNION ALL\n"),
    "), per_ip AS (",
    "  SELECT IP, MIN(TimeGenerated) AS FirstSeen, MAX(TimeGenerated) AS LastSeen, COUNT(*) AS Events,",
    "         " .. db:string_agg("TableName", ",", "distinct") .. " AS Tables",
    "  FROM seen GROUP BY IP",
    ")",
    "SELECT IP, FirstSeen, LastSeen, Events, Tables" .. (with_ranges and "," or ""),
  }
  if with_ranges then
    lines[#lines + 1] = "       (SELECT " .. db:string_agg("Label", ", ") .. " FROM (SELECT r.Name || ' (' || r.Category || ')' AS Label"
      .. " FROM " .. db:named_ranges() .. " r WHERE " .. db:ip_in_cidr_column("p.IP", "r.Cidr") .. ")) AS Ranges"
  end
  lines[#lines + 1] = "FROM per_ip p"
  lines[#lines + 1] = "WHERE FirstSeen >= :from AND Events >= :min_events"
  if with_ranges and hide_known then
    lines[#lines + 1] = "  AND NOT EXISTS (SELECT 1 FROM " .. db:named_ranges() .. " r WHERE r.Category IN (" .. KNOWN
      .. ") AND " .. db:ip_in_cidr_column("p.IP", "r.Cidr") .. ")"
  end
  lines[#lines + 1] = "ORDER BY Events DESC, FirstSeen, IP"
  lines[#lines + 1] = "LIMIT :limit"
  return table.concat(lines, "\n")
end

return {
  name = "new-ips-first-seen",
  kind = "hunt",
  title = "IPs first seen in the window",
  summary = "Addresses that appear in the window but nowhere in the history before it",
  description = [[
Collects every address in the IP columns of the activity tables (firewall,
Syslog, Windows logons, sign-ins, Office and Azure activity, UEBA, heartbeats,
device network events and inventory) over the window plus a history of
`history` before it, and keeps those whose first appearance falls inside the
window and that appear in at least min_events rows. One row per address with
first and last time, the number of rows and the tables it appears in. When
named IP ranges are defined (action ip-ranges), the Ranges column names the
ranges each address falls in, and with hide_known=true (the default) addresses
in a Corporate, Administrative, VPN or Cloud provider range are left out.
New infrastructure is where intrusions start: a first-time sign-in source, a
new destination that suddenly gets traffic from several hosts, an admin
address nobody has seen before. Known-good ranges keep the list short.]],
  categories = { "offline", "activity" },
  sources = { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "OfficeActivity", "BehaviorAnalytics",
              "Heartbeat", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "_ipe_ip_ranges" },
  params = {
    { name = "history", type = "duration", default = "30d",
      help = "how far before the window to look for earlier appearances" },
    { name = "min_events", type = "int", default = 5, min = 1, max = 100000000,
      help = "keep addresses seen in at least this many rows" },
    { name = "hide_known", type = "bool", default = true,
      help = "leave out addresses in Corporate, Administrative, VPN or Cloud provider ranges" },
    { name = "limit", type = "int", default = 200, min = 1, max = 100000, help = "at most this many addresses" },
  },
  run = function(ctx, p)
    local timeutil = require "ipe.timeutil"
    local with_ranges = ctx.db:has_named_ranges()
    local rows, cols = ctx.db:query(sql(ctx.db, with_ranges, p.hide_known), {
      history_from = timeutil.format_time(ctx.window.from_epoch - p.history),
      min_events = p.min_events, limit = p.limit,
    })
    return result.from_query(rows, cols, { IP = "ip", FirstSeen = "time", LastSeen = "time", Events = "count" },
      "Addresses first seen since " .. ctx.window.from)
  end,
}
