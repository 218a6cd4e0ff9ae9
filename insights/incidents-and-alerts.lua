-- Incidents and alerts (IP entity page, "Incidents and alerts" tab; overview.md sections 3
-- and 4): every incident and alert that names the IP, latest version of each.
local result = require "ipe.result"

-- Alerts naming the IP and the incidents holding them, latest version in the window.
local function matches(db)
  return db:alerts_naming_ip("ip") .. ","
end

-- The other entities of an alert, as "host wks-007", "account adele.vance@contoso.com", ...
local function assets(db)
  return table.concat({
    "assets AS (",
    "  SELECT a.SystemAlertId AS Id, lower(" .. db:json("e.value", "Type") .. ") || ' ' || COALESCE(",
    "    " .. db:json("e.value", "HostName") .. " || COALESCE('.' || NULLIF(" .. db:json("e.value", "DnsDomain") .. ", ''), ''),",
    "    " .. db:json("e.value", "Name") .. " || COALESCE('@' || NULLIF(" .. db:json("e.value", "UPNSuffix") .. ", ''), ''),",
    "    " .. db:json("e.value", "Address") .. ", " .. db:json("e.value", "Url") .. ", " .. db:json("e.value", "DomainName") .. ",",
    "    " .. db:json("e.value", "ResourceId") .. ", " .. db:json("e.value", "Value") .. ") AS Asset",
    "  FROM alerts a, " .. db:json_each("a.Entities", "e"),
    "  WHERE e.type = 'object' AND lower(COALESCE(" .. db:json("e.value", "Type") .. ", 'ip')) <> 'ip'",
    ")",
  }, "\n")
end

local function sql(db)
  return matches(db) .. "\n" .. assets(db) .. "\n" .. table.concat({
    "SELECT 'Incident' AS Kind, CAST(i.IncidentNumber AS TEXT) AS Id, i.Title, i.Severity, " .. db:status("i") .. " AS Status,",
    "  COALESCE(NULLIF(i.Classification, ''), 'Undetermined') AS Classification,",
    "  (SELECT " .. db:string_agg("s", ", ") .. " FROM (SELECT DISTINCT " .. db:status("a") .. " AS s FROM "
      .. db:json_each("i.AlertIds", "x"),
    "     JOIN alerts a ON a.SystemAlertId = x.value ORDER BY 1)) AS InvestigationState,",
    "  (SELECT " .. db:string_agg("t.value", ", ") .. " FROM " .. db:json_each("i.AdditionalData", "t", "tactics")
      .. ") AS Category,",
    "  " .. db:json("i.Owner", "assignedTo") .. " AS AssignedTo, i.LastActivityTime AS LastActivity,",
    "  (SELECT " .. db:string_agg("Asset", ", ") .. " FROM (SELECT DISTINCT Asset FROM " .. db:json_each("i.AlertIds", "x"),
    "     JOIN assets ON assets.Id = x.value ORDER BY 1)) AS ImpactedAssets,",
    "  CAST(i.IncidentNumber AS TEXT) AS Incident",
    "FROM incidents i",
    "UNION ALL",
    "SELECT 'Alert', a.SystemAlertId, a.DisplayName, a.AlertSeverity, " .. db:status("a") .. ", NULL, " .. db:status("a")
      .. ", a.Tactics, NULL,",
    "  a.EndTime,",
    "  (SELECT " .. db:string_agg("Asset", ", ") .. " FROM (SELECT DISTINCT Asset FROM assets WHERE assets.Id = a.SystemAlertId",
    "     ORDER BY 1)),",
    "  (SELECT " .. db:string_agg("IncidentNumber", ", ") .. " FROM incidents i, " .. db:json_each("i.AlertIds", "x"),
    "     WHERE x.value = a.SystemAlertId)",
    "FROM alerts a",
    "ORDER BY Kind DESC, LastActivity DESC, Id",
  }, "\n")
end

return {
  name = "incidents-and-alerts",
  kind = "insight",
  title = "Incidents and alerts",
  summary = "Incidents and alerts naming the IP: severity, status, owner, impacted assets",
  description = [[
Every incident and alert that names the IP in the window, as its latest
version (SecurityAlert and SecurityIncident add a row on every update): title,
severity, status (New when the row has none: Sentinel's default),
classification, investigation state (the statuses of an
incident's alerts; an alert's own status), category (MITRE tactics), who it is
assigned to, the last activity and the impacted assets — the other entities of
the alerts (hosts, accounts, URLs, ...). An alert names the IP through an "ip"
entity of its Entities; an incident through its alerts. On the page, the
table can be filtered (--where column=v1,v2), cut to some columns (--columns)
and sorted (--sort column[:asc|desc]).]],
  categories = { "offline", "alerts" },
  sources = { "SecurityAlert", "SecurityIncident" },
  page = { group = "incidents", order = 10 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip })
    local s = result.from_query(rows, cols, { LastActivity = "time" }, "Incidents and alerts naming " .. p.ip)
    s.id = "incidents"
    return s
  end,
}
