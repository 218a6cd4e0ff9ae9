-- All traffic that touches a live, unexpired threat-intelligence indicator.
local result = require "ipe.result"

-- The traffic tables and their IP columns read here (the rollup's Source names).
local SOURCES = "'CommonSecurityLog', 'DeviceNetworkEvents', 'SigninLogs', 'SecurityEvent'"

-- The live indicators' addresses (live, one row per IP) and, with only, the statement that
-- lists them; without it, the traffic of the addresses bound to :live_ips (the first statement's
-- answer: each traffic table is read once for them, on either engine) joined to live.
local function sql(db, only_live)
  local w = db:window("TimeGenerated")
  local t = db:time_text("TimeGenerated")
  local with = table.concat({
    -- every address the traffic tables mention in the window's hours (the per-IP rollup: a
    -- superset, its rows one per IP, hour, table and host), matched against the live indicators
    -- by ctx.db:ti_matching_ips — exact IP columns, and CIDR blocks through their numeric ranges
    "WITH RECURSIVE seen AS MATERIALIZED (",
    "  SELECT DISTINCT IP FROM " .. db:rollup_rows("activity") .. " WHERE Source IN (" .. SOURCES .. ")",
    ")" .. db:ti_matching_ips("seen") .. ", matched AS (",
    "  SELECT m.IP, m.MatchedIndicator, l.* FROM ti_ip m JOIN ti_live l ON l.TiRow = m.TiRow",
    "  WHERE COALESCE(l.ConfidenceScore, 0) >= :min_confidence",
    "), live AS MATERIALIZED (",
    "  SELECT IP, " .. db:string_agg("ThreatType", ",", "distinct") .. " AS ThreatTypes, "
      .. db:string_agg("IndicatorProvider", ",", "distinct") .. " AS Providers,",
    "         COUNT(DISTINCT IndicatorId) AS Indicators, MAX(ConfidenceScore) AS Confidence,",
    "         MAX(" .. db:time_text("ExpirationDateTime") .. ") AS Expires, " .. db:string_agg("MatchedIndicator", ",", "distinct") .. " AS MatchedIndicators",
    "  FROM matched GROUP BY IP",
    ")",
  }, "\n")
  if only_live then return with .. "\nSELECT IP FROM live ORDER BY IP" end
  return with .. ",\n" .. table.concat({
    "traffic AS (",
    "  SELECT 'CommonSecurityLog' AS Source, DestinationIP AS IP, 'to the indicator' AS Direction,",
    "         COALESCE(SourceHostName, SourceIP) AS Entity, DeviceAction AS Action, " .. t .. " AS Seen",
    "  FROM CommonSecurityLog WHERE " .. db:ip_in_list("DestinationIP", "live_ips") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', SourceIP, 'from the indicator',",
    "         COALESCE(DestinationHostName, DestinationTranslatedAddress, DestinationIP), DeviceAction, " .. t,
    "  FROM CommonSecurityLog WHERE " .. db:ip_in_list("SourceIP", "live_ips") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'DeviceNetworkEvents', RemoteIP,",
    "         CASE WHEN " .. db:connection_inbound() .. " THEN 'from the indicator' ELSE 'to the indicator' END,",
    "         DeviceName, ActionType, " .. t,
    "  FROM DeviceNetworkEvents WHERE " .. db:ip_in_list("RemoteIP", "live_ips") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'SigninLogs', IPAddress, 'sign-in from the indicator', lower(UserPrincipalName),",
    "         CASE WHEN ResultType = '0' THEN 'success' ELSE 'failure ' || ResultType END, " .. t,
    "  FROM SigninLogs WHERE " .. db:ip_in_list("IPAddress", "live_ips") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', IpAddress, 'logon from the indicator', Computer,",
    "         CASE EventID WHEN 4624 THEN 'success' ELSE 'failure' END, " .. t,
    "  FROM SecurityEvent WHERE " .. db:ip_in_list("IpAddress", "live_ips") .. " AND EventID IN (4624, 4625) AND " .. w,
    ")",
    "SELECT t.IP AS IndicatorIP, l.ThreatTypes, l.Providers, l.Confidence, l.MatchedIndicators, t.Source, t.Direction,",
    "       t.Entity, t.Action, COUNT(*) AS Events, MIN(t.Seen) AS FirstSeen, MAX(t.Seen) AS LastSeen,",
    "       l.Expires AS IndicatorExpires",
    "FROM traffic t JOIN live l ON l.IP = t.IP",
    -- live's columns are one per IP: grouped by too (ClickHouse reads no bare column)
    "GROUP BY t.IP, t.Source, t.Direction, t.Entity, t.Action, l.ThreatTypes, l.Providers, l.Confidence,",
    "         l.MatchedIndicators, l.Expires",
    -- ties in the order of the groups (SQLite's, and so the same on ClickHouse)
    "ORDER BY l.Confidence DESC, t.IP, Events DESC, t.Source, t.Direction, t.Entity, t.Action",
    "LIMIT :limit",
  }, "\n")
end

return {
  name = "ti-matches-in-traffic",
  kind = "hunt",
  title = "Traffic that touches a live indicator",
  summary = "All traffic, sign-ins and logons involving an IP with a live, unexpired TI indicator",
  description = [[
Takes the workspace's live threat-intelligence indicators — the latest version
of each IndicatorId in ThreatIntelligenceIndicator that is Active and not past
its ExpirationDateTime, with a confidence of at least min_confidence — and
finds every event in the window that involves one of their IPs (NetworkIP,
NetworkSourceIP, NetworkDestinationIP, EmailSourceIpAddress) or an address in
one of their CIDR blocks (NetworkCidrBlock, NetworkSourceCidrBlock,
NetworkDestinationCidrBlock; IPv4 and IPv6): firewall records in both
directions, device network events, Entra ID sign-ins and Windows logons. One
row per address, source, direction, internal host or account and action, with
the indicators' threat types, providers, confidence, expiry and
MatchedIndicators (the addresses or blocks that matched). Each indicator is
its latest version up to the window's end. Blocks are matched through their
numeric ranges, against the addresses the per-IP rollup saw in the window.
Indicators only help when someone looks for them in the traffic: this is the
TI-map analytic as a hunt. Expired or deactivated indicators are left out on
purpose — they are where stale false positives come from.]],
  categories = { "offline", "threat-intel", "network" },
  sources = { "ThreatIntelligenceIndicator", "_ipe_ti_ranges", "_ipe_ip_activity", "CommonSecurityLog", "DeviceNetworkEvents", "SigninLogs", "SecurityEvent" },
  params = {
    { name = "min_confidence", type = "int", default = 0, min = 0, max = 100,
      help = "only indicators with at least this confidence (0-100)" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local ips = {}
    for i, r in ipairs(ctx.db:query(sql(ctx.db, true), { min_confidence = p.min_confidence })) do ips[i] = r[1] end
    local rows, cols = ctx.db:query(sql(ctx.db), { min_confidence = p.min_confidence, limit = p.limit, live_ips = ips })
    return result.from_query(rows, cols, { IndicatorIP = "ip", Confidence = "number", Events = "count",
      FirstSeen = "time", LastSeen = "time", IndicatorExpires = "time" }, "Traffic touching live indicators")
  end,
}
