-- IP address remote connections with TI match (Sentinel entity insight, insights.md 2.8):
-- the devices that connected with the IP, when threat intelligence says the IP is bad.
local result = require "ipe.result"

-- The live indicators naming the IP or a block holding it (ctx.db:ti_matching_ip).
local function ti_sql(db)
  return db:ti_matching_ip("ip") .. "\n"
    .. "SELECT IndicatorProvider, ThreatType, ConfidenceScore, ExpirationDateTime, IndicatorId, MatchedIndicator\n"
    .. "FROM ti WHERE Live = 1 ORDER BY ConfidenceScore DESC, IndicatorProvider, MatchedIndicator"
end

-- Firewall records enriched by Microsoft's TI feed (MaliciousIP) in the window.
local function enriched(db)
  return "SELECT count(*), max(ThreatSeverity), max(IndicatorThreatType), max(ThreatDescription)\n"
    .. "FROM CommonSecurityLog WHERE MaliciousIP = :ip AND " .. db:window("TimeGenerated")
end

local function devices(db)
  return table.concat({
    "SELECT " .. db:host_short("Host") .. " AS Device, max(Host) AS Name, " .. db:string_agg("Source", ",", "distinct")
      .. " AS Sources,",
    "       sum(Events) AS Events, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen",
    "FROM (", db:rollup_query("activity"), ")",
    "WHERE Host <> '' AND Source IN ('DeviceNetworkEvents', 'CommonSecurityLog')",
    "GROUP BY Device ORDER BY LastSeen DESC, Device",
  }, "\n")
end

return {
  name = "remote-connections-ti-match",
  kind = "insight",
  title = "IP address remote connections with TI match",
  summary = "Devices that connected with the IP, when a live TI indicator or TI enrichment names it",
  description = [[
When threat intelligence says the IP is bad — a live indicator of this
workspace names it or a block holding it (ThreatIntelligenceIndicator, latest
version per indicator, active and not expired; MatchedBy shows the address or
the block), or the firewall's Microsoft TI enrichment marked it
(CommonSecurityLog.MaliciousIP) — the devices that connected with it in the
window (Defender for Endpoint network events and firewall records), with how
many events, when first and last, and what the threat intelligence says. When
no threat intelligence names the IP, the panel is empty: see "IP address
remote connections" for every connection.]],
  categories = { "offline", "network", "threat-intel" },
  sources = { "ThreatIntelligenceIndicator", "_ipe_ti_ranges", "CommonSecurityLog", "DeviceNetworkEvents", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "insights", order = 80, hunt = "ti-matches-in-traffic" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local db = ctx.db
    local ti = db:query(ti_sql(db), { ip = p.ip })
    local mal = db:query(enriched(db), { ip = p.ip })[1]
    local columns = { { "Device", "text" }, { "Sources", "text" }, { "Events", "count" }, { "FirstSeen", "time" },
                      { "LastSeen", "time" }, { "ThreatType", "text" }, { "Confidence", "number" },
                      { "MatchedBy", "text" } }
    local title = "Remote connections of " .. p.ip .. " with a TI match"
    if #ti == 0 and mal[1] == 0 then
      return result.output{ status = "empty", message = "no live threat-intelligence indicator or TI enrichment names "
        .. p.ip, sections = { result.table{ id = "connections", title = title, columns = columns, rows = {} } } }
    end
    local matched, threat, confidence = {}, nil, nil
    for _, r in ipairs(ti) do
      matched[#matched + 1] = tostring(r[1]) .. " indicator " .. tostring(r[6])
      if not threat and r[2] ~= result.null then threat = r[2] end
      if r[3] ~= result.null and (not confidence or r[3] > confidence) then confidence = r[3] end
    end
    if mal[1] > 0 then
      matched[#matched + 1] = "firewall TI enrichment (" .. mal[1] .. " records)"
      if not threat and mal[3] ~= result.null then threat = mal[3] end
    end
    local rows = {}
    for i, r in ipairs(db:query(devices(db), { ip = p.ip })) do
      local name = (type(r[2]) == "string" and r[2]:find("%.")) and r[2] or r[1]
      rows[i] = { name, r[3], r[4], r[5], r[6], threat or result.null, confidence or result.null, table.concat(matched, "; ") }
    end
    return result.table{ id = "connections", title = title, columns = columns, rows = rows }
  end,
}
