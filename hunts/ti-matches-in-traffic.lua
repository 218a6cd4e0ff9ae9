-- All traffic that touches a live, unexpired threat-intelligence indicator.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "WITH latest AS (",
    "  SELECT *, ROW_NUMBER() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS Version",
    "  FROM ThreatIntelligenceIndicator",
    "), live_rows AS (",
    "  SELECT * FROM latest",
    "  WHERE Version = 1 AND Active = 1 AND (ExpirationDateTime IS NULL OR ExpirationDateTime > :now)",
    "    AND COALESCE(ConfidenceScore, 0) >= :min_confidence",
    "), live_ips AS (",
    "  SELECT NetworkIP AS IP, * FROM live_rows WHERE NetworkIP IS NOT NULL",
    "  UNION ALL SELECT NetworkDestinationIP, * FROM live_rows WHERE NetworkDestinationIP IS NOT NULL",
    "  UNION ALL SELECT NetworkSourceIP, * FROM live_rows WHERE NetworkSourceIP IS NOT NULL",
    "), live AS (",
    "  SELECT IP, group_concat(DISTINCT ThreatType) AS ThreatTypes, group_concat(DISTINCT IndicatorProvider) AS Providers,",
    "         COUNT(DISTINCT IndicatorId) AS Indicators, MAX(ConfidenceScore) AS Confidence,",
    "         MAX(ExpirationDateTime) AS Expires",
    "  FROM live_ips GROUP BY IP",
    "), traffic AS (",
    "  SELECT 'CommonSecurityLog' AS Source, DestinationIP AS IP, 'to the indicator' AS Direction,",
    "         COALESCE(SourceHostName, SourceIP) AS Entity, DeviceAction AS Action, TimeGenerated",
    "  FROM CommonSecurityLog WHERE DestinationIP IN (SELECT IP FROM live) AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', SourceIP, 'from the indicator',",
    "         COALESCE(DestinationHostName, DestinationTranslatedAddress, DestinationIP), DeviceAction, TimeGenerated",
    "  FROM CommonSecurityLog WHERE SourceIP IN (SELECT IP FROM live) AND " .. w,
    "  UNION ALL",
    "  SELECT 'DeviceNetworkEvents', RemoteIP,",
    "         CASE WHEN " .. db:connection_inbound() .. " THEN 'from the indicator' ELSE 'to the indicator' END,",
    "         DeviceName, ActionType, TimeGenerated",
    "  FROM DeviceNetworkEvents WHERE RemoteIP IN (SELECT IP FROM live) AND " .. w,
    "  UNION ALL",
    "  SELECT 'SigninLogs', IPAddress, 'sign-in from the indicator', lower(UserPrincipalName),",
    "         CASE WHEN ResultType = '0' THEN 'success' ELSE 'failure ' || ResultType END, TimeGenerated",
    "  FROM SigninLogs WHERE IPAddress IN (SELECT IP FROM live) AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', IpAddress, 'logon from the indicator', Computer,",
    "         CASE EventID WHEN 4624 THEN 'success' ELSE 'failure' END, TimeGenerated",
    "  FROM SecurityEvent WHERE IpAddress IN (SELECT IP FROM live) AND EventID IN (4624, 4625) AND " .. w,
    ")",
    "SELECT t.IP AS IndicatorIP, l.ThreatTypes, l.Providers, l.Confidence, t.Source, t.Direction, t.Entity, t.Action,",
    "       COUNT(*) AS Events, MIN(t.TimeGenerated) AS FirstSeen, MAX(t.TimeGenerated) AS LastSeen,",
    "       l.Expires AS IndicatorExpires",
    "FROM traffic t JOIN live l ON l.IP = t.IP",
    "GROUP BY t.IP, t.Source, t.Direction, t.Entity, t.Action",
    "ORDER BY l.Confidence DESC, t.IP, Events DESC",
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
NetworkSourceIP or NetworkDestinationIP): firewall records in both directions,
device network events, Entra ID sign-ins and Windows logons. One row per
indicator IP, source, direction, internal host or account and action, with
the indicator's threat types, providers, confidence and expiry.
Indicators only help when someone looks for them in the traffic: this is the
TI-map analytic as a hunt. Expired or deactivated indicators are left out on
purpose — they are where stale false positives come from. CIDR-block
indicators are not matched.]],
  categories = { "offline", "threat-intel", "network" },
  sources = { "ThreatIntelligenceIndicator", "CommonSecurityLog", "DeviceNetworkEvents", "SigninLogs", "SecurityEvent" },
  params = {
    { name = "min_confidence", type = "int", default = 0, min = 0, max = 100,
      help = "only indicators with at least this confidence (0-100)" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { min_confidence = p.min_confidence, limit = p.limit })
    return result.from_query(rows, cols, { IndicatorIP = "ip", Confidence = "number", Events = "count",
      FirstSeen = "time", LastSeen = "time", IndicatorExpires = "time" }, "Traffic touching live indicators")
  end,
}
