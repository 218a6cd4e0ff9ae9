-- This IP has a TI match (Sentinel entity insight, insights.md 2.10): a badge and the live
-- threat-intelligence indicators for the IP, latest version of each.
local result = require "ipe.result"

-- The indicators naming the IP or a block holding it (ctx.db:ti_matching_ip: latest version as of
-- the window's end, live now or not), with the indicator that matched.
local function sql(db)
  return db:ti_matching_ip("ip") .. "\n" .. table.concat({
    "SELECT IndicatorProvider AS Provider, MatchedIndicator, ThreatType, ConfidenceScore AS Confidence,",
    "       ThreatSeverity AS Severity, Description, " .. db:time_text("TimeGenerated") .. " AS LastUpdated, "
      .. db:time_text("ExpirationDateTime") .. " AS Expires,",
    "       IndicatorId, Live",
    "FROM ti",
    "ORDER BY Live DESC, Confidence DESC, LastUpdated DESC, IndicatorId",
  }, "\n")
end

return {
  name = "ti-match",
  kind = "insight",
  title = "This IP has a TI match",
  summary = "Whether a live threat-intelligence indicator names the IP, and which",
  description = [[
A badge — does a live threat-intelligence indicator of this workspace name the
IP? — and the indicators behind it. Every indicator (ThreatIntelligenceIndicator,
any provider) whose NetworkIP, NetworkSourceIP, NetworkDestinationIP or
EmailSourceIpAddress is the IP, or whose NetworkCidrBlock,
NetworkSourceCidrBlock or NetworkDestinationCidrBlock holds it (IPv4 or IPv6),
is taken as its latest version up to the end of the window; it is live when
that version is active and not expired at the time of the run.
MatchedIndicator shows what matched: the address, or the block. Indicators that are no longer live are counted in the badge
but not listed.]],
  categories = { "offline", "threat-intel" },
  sources = { "ThreatIntelligenceIndicator", "_ipe_ti_ranges" },
  page = { group = "insights", order = 100, hunt = "ti-matches-in-traffic" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip })
    local live, stale, providers, seen = {}, 0, {}, {}
    for _, r in ipairs(rows) do
      if r[10] == 1 then
        live[#live + 1] = { r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9] }
        if r[1] ~= result.null and not seen[r[1]] then seen[r[1]] = true; providers[#providers + 1] = r[1] end
      else
        stale = stale + 1
      end
    end
    local badge = #live > 0 and string.format("TI match: %d live indicator%s", #live, #live == 1 and "" or "s")
      or "no TI match"
    local columns = {}
    for i = 1, 9 do columns[i] = cols[i] end
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
