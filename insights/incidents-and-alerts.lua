-- Incidents and alerts (IP entity page, "Incidents and alerts" tab; overview.md sections 3
-- and 4): every incident and alert that names the IP, latest version of each.
local result = require "ipe.result"
local cjson = require "cjson"

-- The alerts naming the IP and the incidents holding them, latest version in the window
-- (ctx.db:alerts_naming_ip), read as rows; what SQL would join per incident through its
-- AlertIds (statuses, impacted assets, incident numbers) is put together here, the same on
-- either engine (ClickHouse has no json_each nor correlated subqueries).
local function alerts_sql(db)
  return db:alerts_naming_ip("ip") .. "\n" .. table.concat({
    "SELECT SystemAlertId, DisplayName, AlertSeverity, " .. db:status() .. " AS Status, Tactics, "
      .. db:time_text("EndTime") .. " AS EndTime, Entities",
    "FROM alerts",
  }, "\n")
end

local function incidents_sql(db)
  return db:alerts_naming_ip("ip") .. "\n" .. table.concat({
    "SELECT IncidentNumber, Title, Severity, " .. db:status() .. " AS Status,",
    "  COALESCE(NULLIF(Classification, ''), 'Undetermined') AS Classification, AdditionalData,",
    "  " .. db:json("Owner", "assignedTo") .. " AS AssignedTo, " .. db:time_text("LastActivityTime") .. " AS LastActivity,",
    "  AlertIds",
    "FROM incidents",
  }, "\n")
end

local null = result.null

-- a JSON value as SQLite's json_extract gives it and || writes it (nil: SQL NULL)
local function text(v)
  if v == nil or v == cjson.null then return nil end
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return v and "1" or "0" end
  if type(v) == "number" then
    if v % 1 == 0 and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.15g", v)
  end
  return cjson.encode(v)
end

local function decode(s)
  if type(s) ~= "string" then return nil end
  local ok, v = pcall(cjson.decode, s)
  if ok then return v end
end

local function concat(a, b) if a == nil or b == nil then return nil end return a .. b end
local function nonempty(v) if v == "" then return nil end return v end

-- The other entities of an alert, as "host wks-007", "account adele.vance@contoso.com", ...
local function assets_of(entities)
  local out = {}
  local list = decode(entities)
  if type(list) ~= "table" then return out end
  for _, e in ipairs(list) do
    if type(e) == "table" and next(e) ~= nil and #e == 0 then
      local kind = text(e.Type)
      if (kind or "ip"):lower() ~= "ip" then
        local value = concat(text(e.HostName), concat(".", nonempty(text(e.DnsDomain))) or "")
          or concat(text(e.Name), concat("@", nonempty(text(e.UPNSuffix))) or "")
          or text(e.Address) or text(e.Url) or text(e.DomainName) or text(e.ResourceId) or text(e.Value)
        local asset = concat(kind:lower() .. " ", value)
        if asset then out[#out + 1] = asset end
      end
    end
  end
  return out
end

-- the distinct values of a list, sorted, joined by ", " (NULL when none)
local function joined(values)
  local seen, list = {}, {}
  for _, v in ipairs(values) do
    if not seen[v] then seen[v] = true; list[#list + 1] = v end
  end
  if #list == 0 then return null end
  table.sort(list)
  return table.concat(list, ", ")
end

-- the tactics of an incident's AdditionalData, in their order
local function tactics(data)
  local d = decode(data)
  local t = type(d) == "table" and d.tactics or nil
  if t == nil or t == cjson.null then return null end
  if type(t) ~= "table" then t = { t } end
  local out = {}
  for _, v in ipairs(t) do out[#out + 1] = text(v) end
  return #out > 0 and table.concat(out, ", ") or null
end

local function rows_of(alerts, incidents)
  local by_id, assets = {}, {}
  for _, a in ipairs(alerts) do
    by_id[a.SystemAlertId] = a
    assets[a.SystemAlertId] = assets_of(a.Entities)
  end
  table.sort(incidents, function(x, y) return x.IncidentNumber < y.IncidentNumber end)
  local rows, in_incidents = {}, {}
  for _, i in ipairs(incidents) do
    local states, impacted = {}, {}
    local ids = decode(i.AlertIds)
    for _, id in ipairs(type(ids) == "table" and ids or {}) do
      local a = by_id[id]
      if a then
        states[#states + 1] = a.Status
        for _, x in ipairs(assets[id]) do impacted[#impacted + 1] = x end
        local list = in_incidents[id] or {}
        list[#list + 1] = tostring(i.IncidentNumber)
        in_incidents[id] = list
      end
    end
    local number = tostring(i.IncidentNumber)
    rows[#rows + 1] = { "Incident", number, i.Title, i.Severity, i.Status, i.Classification, joined(states),
      tactics(i.AdditionalData), i.AssignedTo, i.LastActivity, joined(impacted), number }
  end
  for _, a in ipairs(alerts) do
    local inc = in_incidents[a.SystemAlertId]
    rows[#rows + 1] = { "Alert", a.SystemAlertId, a.DisplayName, a.AlertSeverity, a.Status, null, a.Status, a.Tactics,
      null, a.EndTime, joined(assets[a.SystemAlertId]), inc and table.concat(inc, ", ") or null }
  end
  -- Kind descending, LastActivity descending (none last), Id
  table.sort(rows, function(x, y)
    if x[1] ~= y[1] then return x[1] > y[1] end
    local lx, ly = x[10] ~= null and x[10] or nil, y[10] ~= null and y[10] or nil
    if lx ~= ly then
      if lx == nil or ly == nil then return ly == nil end
      return lx > ly
    end
    return x[2] < y[2]
  end)
  return rows
end

local COLUMNS = { "Kind", "Id", "Title", "Severity", "Status", "Classification", "InvestigationState", "Category",
  "AssignedTo", "LastActivity", "ImpactedAssets", "Incident" }

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
    local alerts = ctx.db:records(alerts_sql(ctx.db), { ip = p.ip })
    local incidents = ctx.db:records(incidents_sql(ctx.db), { ip = p.ip })
    local s = result.from_query(rows_of(alerts, incidents), COLUMNS, { LastActivity = "time" },
      "Incidents and alerts naming " .. p.ip)
    s.id = "incidents"
    return s
  end,
}
