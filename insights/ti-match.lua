-- This IP has a TI match (Sentinel entity insight, insights.md 2.10): a badge and the live
-- threat-intelligence indicators for the IP, latest version of each.
local result = require "ipe.result"

-- Latest version of every indicator naming the IP (as of the window's end), with whether it
-- is live now: active and not expired.
local SQL = [[
SELECT IndicatorProvider AS Provider, ThreatType, ConfidenceScore AS Confidence, ThreatSeverity AS Severity,
       Description, TimeGenerated AS LastUpdated, ExpirationDateTime AS Expires, IndicatorId,
       CASE WHEN Active = 1 AND (ExpirationDateTime IS NULL OR ExpirationDateTime > :now) THEN 1 ELSE 0 END AS Live
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS Version
  FROM ThreatIntelligenceIndicator
  WHERE rowid IN (SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkSourceIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkDestinationIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE EmailSourceIpAddress = :ip)
    AND +TimeGenerated <= :to
)
WHERE Version = 1
ORDER BY Live DESC, Confidence DESC, LastUpdated DESC]]

return {
  name = "ti-match",
  kind = "insight",
  title = "This IP has a TI match",
  summary = "Whether a live threat-intelligence indicator names the IP, and which",
  description = [[
A badge — does a live threat-intelligence indicator of this workspace name the
IP? — and the indicators behind it. Every indicator (ThreatIntelligenceIndicator,
any provider) whose NetworkIP, NetworkSourceIP, NetworkDestinationIP or
EmailSourceIpAddress is the IP is taken as its latest version up to the end of
the window; it is live when that version is active and not expired at the
time of the run. Indicators that are no longer live are counted in the badge
but not listed.]],
  categories = { "offline", "threat-intel" },
  sources = { "ThreatIntelligenceIndicator" },
  page = { group = "insights", order = 100, hunt = "ti-matches-in-traffic" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(SQL, { ip = p.ip })
    local live, stale, providers, seen = {}, 0, {}, {}
    for _, r in ipairs(rows) do
      if r[9] == 1 then
        live[#live + 1] = { r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] }
        if r[1] ~= result.null and not seen[r[1]] then seen[r[1]] = true; providers[#providers + 1] = r[1] end
      else
        stale = stale + 1
      end
    end
    local badge = #live > 0 and string.format("TI match: %d live indicator%s", #live, #live == 1 and "" or "s")
      or "no TI match"
    local columns = {}
    for i = 1, 8 do columns[i] = cols[i] end
    local list = result.from_query(live, columns, { Confidence = "number", Severity = "number", LastUpdated = "time",
      Expires = "time" }, "Live indicators for " .. p.ip)
    list.id = "indicators"
    return result.output{
      status = (#live > 0 or stale > 0) and "ok" or "empty",
      sections = {
        result.kv{ id = "badge", title = "This IP has a TI match", items = {
          { "Match", #live > 0, "bool" }, { "Badge", badge }, { "Live indicators", #live, "count" },
          { "Providers", #providers > 0 and table.concat(providers, ", ") or nil },
          { "Expired or inactive", stale, "count" } } },
        list,
      },
    }
  end,
}
