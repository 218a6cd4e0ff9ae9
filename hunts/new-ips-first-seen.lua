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

-- The named ranges each address falls in ("Name (Category)", ", "-separated, in the ranges'
-- order; NULL when none): matched here, over the few rows returned.
local function add_ranges(db, rows)
  local ipaddr = require "ipe.ipaddr"
  local null = require("ipe.result").null
  local ranges = db:query("SELECT r.Name, r.Category, r.Cidr FROM " .. db:named_ranges() .. " r")
  for _, row in ipairs(rows) do
    local labels = {}
    for _, r in ipairs(ranges) do
      if r[1] ~= null and r[2] ~= null and r[3] ~= null and ipaddr.contains(r[3], row[1]) then
        labels[#labels + 1] = r[1] .. " (" .. r[2] .. ")"
      end
    end
    row[6] = #labels > 0 and table.concat(labels, ", ") or null
  end
end

local function sql(db, with_ranges, hide_known)
  local parts = {}
  for _, c in ipairs(COLUMNS) do
    parts[#parts + 1] = string.format("  SELECT %s AS IP, %s AS Time, '%s' AS TableName FROM %s\n"
      .. "  WHERE %s IS NOT NULL AND %s <> '' AND %s >= :history_from AND %s",
      c[2], db:time_text("TimeGenerated"), c[1], c[1], c[2], c[2], db:time_text("TimeGenerated"),
      db:at_or_before("TimeGenerated", "to"))
  end
  local lines = {
    "WITH seen AS (",
    table.concat(parts, "\n  UNION ALL\n"),
    "), per_ip AS (",
    "  SELECT IP, MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen, COUNT(*) AS Events,",
    "         " .. db:string_agg("TableName", ",", "distinct") .. " AS Tables",
    "  FROM seen GROUP BY IP",
    ")",
    "SELECT IP, FirstSeen, LastSeen, Events, Tables",
    "FROM per_ip p",
    "WHERE FirstSeen >= :from AND Events >= :min_events",
  }
  -- the known ranges' addresses as one uncorrelated IN list (ClickHouse 18.16 has no
  -- correlated subquery)
  if with_ranges and hide_known then
    lines[#lines + 1] = "  AND IP NOT IN (SELECT k.IP FROM per_ip k CROSS JOIN " .. db:named_ranges() .. " r WHERE r.Category IN ("
      .. KNOWN .. ") AND " .. db:ip_in_cidr_column("k.IP", "r.Cidr") .. ")"
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
    if with_ranges then
      add_ranges(ctx.db, rows)
      cols[6] = "Ranges"
    end
    return result.from_query(rows, cols, { IP = "ip", FirstSeen = "time", LastSeen = "time", Events = "count" },
      "Addresses first seen since " .. ctx.window.from)
  end,
}
