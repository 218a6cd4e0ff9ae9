-- Every place in the workspace that mentions the IP: the Go hunt default.
local result = require "ipe.result"

-- Where IPs live: every IP column, JSON field, free-text column and IP list of
-- the workspace's tables (ipe.schema's descriptors; tests check this list
-- against them). how: equals | with_port (an IP that may carry a port or
-- brackets) | json (a field of a JSON column) | text (free text, whole token) |
-- array (a JSON array of IPs) | entities (alert entities, {"Type":"ip",
-- "Address":...}) | entity_mapping (a bookmark's __entityMapping) | cidr (a threat-intelligence
-- CIDR block holding the IP, found through ctx.db:ti_matching_ip's numeric ranges; MatchedBy
-- then names the blocks).
local PLACES = {
  { "CommonSecurityLog", "SourceIP" }, { "CommonSecurityLog", "DestinationIP" },
  { "CommonSecurityLog", "RemoteIP" }, { "CommonSecurityLog", "SourceTranslatedAddress" },
  { "CommonSecurityLog", "DestinationTranslatedAddress" }, { "CommonSecurityLog", "MaliciousIP" },
  { "CommonSecurityLog", "Message", "text" },
  { "Syslog", "HostIP" }, { "Syslog", "SyslogMessage", "text" },
  { "SecurityEvent", "IpAddress" }, { "SecurityEvent", "ClientIPAddress" }, { "SecurityEvent", "RemoteIpAddress" },
  { "SigninLogs", "IPAddress" },
  { "AuditLogs", "InitiatedBy", "json", "user.ipAddress" },
  { "OfficeActivity", "ClientIP", "with_port" }, { "OfficeActivity", "ActorIpAddress" },
  { "BehaviorAnalytics", "SourceIPAddress" }, { "BehaviorAnalytics", "DestinationIPAddress" },
  { "Heartbeat", "ComputerIP" }, { "Heartbeat", "ComputerPrivateIPs", "array" },
  { "SecurityAlert", "Entities", "entities" },
  { "ThreatIntelligenceIndicator", "NetworkIP" }, { "ThreatIntelligenceIndicator", "NetworkSourceIP" },
  { "ThreatIntelligenceIndicator", "NetworkDestinationIP" }, { "ThreatIntelligenceIndicator", "EmailSourceIpAddress" },
  { "ThreatIntelligenceIndicator", "NetworkCidrBlock", "cidr" },
  { "ThreatIntelligenceIndicator", "NetworkSourceCidrBlock", "cidr" },
  { "ThreatIntelligenceIndicator", "NetworkDestinationCidrBlock", "cidr" },
  { "HuntingBookmark", "QueryResultRow", "entity_mapping" }, { "HuntingBookmark", "Entities", "entities" },
  { "Anomalies", "SourceIpAddress" }, { "Anomalies", "DestinationIpAddress" }, { "Anomalies", "Entities", "entities" },
  { "DeviceNetworkEvents", "RemoteIP" }, { "DeviceNetworkEvents", "LocalIP" },
  { "DeviceInfo", "PublicIP" },
  { "AzureActivity", "CallerIpAddress" },
  { "Watchlist", "SearchKey" },
}

local function predicate(db, table_name, col, how, path)
  how = how or "equals"
  if how == "equals" then return col .. " = :ip" end
  if how == "with_port" then
    return string.format("(%s = :ip OR %s LIKE '[' || :ip || ']%%' OR (:ip NOT LIKE '%%:%%' AND %s LIKE :ip || ':%%'))",
      col, col, col)
  end
  if how == "json" then return db:json(col, path) .. " = :ip" end
  if how == "text" then return db:text_has_ip(col, "ip") end
  if how == "array" then return db:json_array_has(col, "ip") end
  if how == "entities" then return db:entities_have_ip(col, "ip") end
  if how == "entity_mapping" then return db:entity_mapping_has_ip(col, "ip") end
  if how == "cidr" then return db:ti_block_match(col) end
  error("ip-everywhere: unknown match kind '" .. tostring(how) .. "' for " .. table_name .. "." .. col)
end

local function sql(db, with_text)
  local parts = {}
  local w = db:window("TimeGenerated")
  for _, place in ipairs(PLACES) do
    local t, col, how, path = place[1], place[2], place[3], place[4]
    if with_text or how ~= "text" then
      -- a block match names the blocks: "cidr 223.166.0.0/15"
      local by = how == "cidr" and "'cidr ' || " .. db:string_agg(col, ",", "distinct") or "'" .. (how or "equals") .. "'"
      parts[#parts + 1] = string.format(
        "  SELECT '%s' AS TableName, '%s' AS ColumnName, %s AS MatchedBy, COUNT(*) AS Events,\n" ..
        "         MIN(%s) AS FirstSeen, MAX(%s) AS LastSeen\n" ..
        "  FROM %s WHERE %s AND %s", t, col, by, db:time_text("TimeGenerated"), db:time_text("TimeGenerated"), t,
        predicate(db, t, col, how, path), w)
    end
  end
  -- ctx.db:ti_matching_ip's WITH list gives ti_hits, the indicator rows whose blocks hold the IP
  return db:ti_matching_ip("ip") .. "\nSELECT TableName, ColumnName, MatchedBy, Events, FirstSeen, LastSeen\nFROM (\n"
    .. table.concat(parts, "\n  UNION ALL\n") .. "\n)\nWHERE Events > 0\nORDER BY LastSeen DESC, TableName, ColumnName"
end

return {
  name = "ip-everywhere",
  kind = "hunt",
  title = "Everywhere the IP appears",
  summary = "Every table and column that mentions the IP: counts, first and last seen (the Go hunt default)",
  description = [[
Searches every IP-bearing place of the workspace for the IP: each IP column of
every table (firewall and device network events, sign-ins, Windows and Linux
logons, Office and Azure activity, UEBA, heartbeats, alerts' entities, threat
intelligence, bookmarks, anomalies, watchlist keys) and the threat-intelligence
CIDR blocks that hold it (MatchedBy names them), the IP fields inside JSON
columns (AuditLogs InitiatedBy.user.ipAddress), IP lists (Heartbeat
ComputerPrivateIPs) and, unless include_text=false, free text (CommonSecurityLog
Message, SyslogMessage) where the IP must stand as a whole token. One row per
table and column that matched, with the number of rows and when the IP was first
and last seen there in the window.
It is the first question of every investigation — where has this address been? —
and the starting point to pivot: each row names the table and column to query
next. It is the default of the entity page's "Go hunt".]],
  categories = { "offline", "activity" },
  sources = { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "AuditLogs", "OfficeActivity",
              "BehaviorAnalytics", "Heartbeat", "SecurityAlert", "ThreatIntelligenceIndicator", "HuntingBookmark",
              "Anomalies", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "Watchlist", "_ipe_ti_ranges" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look for" },
    { name = "include_text", type = "bool", default = true,
      help = "also search free-text columns (Message, SyslogMessage; slower)" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db, p.include_text), { ip = p.ip })
    return result.from_query(rows, cols, { Events = "count", FirstSeen = "time", LastSeen = "time" },
      "Where " .. p.ip .. " appears")
  end,
}
