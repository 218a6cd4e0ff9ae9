-- Security info (IP entity page, overview; overview.md section 2): the open incidents and
-- the active alerts that name the IP.
local result = require "ipe.result"

-- Alerts naming the IP (an "ip" entity of SecurityAlert.Entities) and the incidents holding
-- them, each as its latest version in the window (both tables are logs: an update adds a row).
local function matches(db)
  return db:alerts_naming_ip("ip")
end

local function sql(db)
  -- the union as a subquery, ordered outside it (ClickHouse orders only a union's last SELECT)
  return matches(db) .. "\n" .. table.concat({
    "SELECT * FROM (",
    "SELECT 'Incident' AS Kind, CAST(IncidentNumber AS TEXT) AS Id, Title, Severity, " .. db:status() .. " AS Status,",
    "       " .. db:time_text("LastActivityTime") .. " AS LastActivity",
    "FROM incidents WHERE " .. db:incident_open(),
    "UNION ALL",
    "SELECT 'Alert', SystemAlertId, DisplayName, AlertSeverity, " .. db:status() .. ", " .. db:time_text("EndTime"),
    "FROM alerts WHERE " .. db:alert_active(),
    ")",
    "ORDER BY Kind DESC, LastActivity DESC",
  }, "\n")
end

-- The live threat-intelligence indicators naming the IP or a block holding it (ctx.db:ti_matching_ip).
local function ti_sql(db)
  return db:ti_matching_ip("ip") .. "\nSELECT count(*), " .. db:string_agg("MatchedIndicator", ",", "distinct") .. " FROM ti WHERE Live = 1"
end

return {
  name = "security-info",
  kind = "insight",
  title = "Security info",
  summary = "Open incidents and active alerts that name the IP",
  description = [[
The incidents that are not closed and the alerts that are not resolved or
dismissed among those that name the IP in the window: an alert names it when
its Entities list holds an "ip" entity with that Address; an incident names it
through its alerts (AlertIds). Each alert and incident is taken as its latest
version in the window, since SecurityAlert and SecurityIncident add a row on
every update. An alert or incident without a Status (common in exports) has
Sentinel's default, New: it counts as active or open (ctx.db:alert_active and
ctx.db:incident_open, the one definition of the page's panels). Beside them, the
live threat-intelligence indicators that name the IP or a CIDR block holding it
(as "This IP has a TI match" counts them), with what matched.]],
  categories = { "offline", "alerts", "overview" },
  sources = { "SecurityAlert", "SecurityIncident", "ThreatIntelligenceIndicator", "_ipe_ti_ranges" },
  page = { group = "overview", order = 10 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip })
    local incidents, alerts = 0, 0
    for _, r in ipairs(rows) do
      if r[1] == "Incident" then incidents = incidents + 1 else alerts = alerts + 1 end
    end
    local ti = ctx.db:query(ti_sql(ctx.db), { ip = p.ip })[1]
    local ti_items = { { "Live TI indicators", ti[1], "count" } }
    if ti[2] ~= result.null then ti_items[2] = { "Matched indicators", ti[2] } end
    local list = result.from_query(rows, cols, { LastActivity = "time" }, "Open incidents and active alerts")
    list.id = "open"
    return result.output{
      status = (#rows > 0 or ti[1] > 0) and "ok" or "empty",
      sections = {
        result.kv{ id = "counts", title = "Security info for " .. p.ip,
                   items = { { "Open incidents", incidents, "count" }, { "Active alerts", alerts, "count" } } },
        list,
        result.kv{ id = "ti", title = "Threat intelligence", items = ti_items },
      },
    }
  end,
}
