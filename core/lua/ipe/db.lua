-- ipe.db: ctx.db, the one door from a script to the workspace.
--
-- Scripts get a read-only handle (query, records, value) plus small helpers that
-- produce the dialect-specific SQL pieces — time windows, time buckets, JSON
-- field access, "IP in this list / range / text" — so a script stays portable
-- when another engine sits behind ctx.db. Every user value is a bound parameter
-- (:name); the helpers only ever emit column names and parameter names, which
-- they check. Every statement run is recorded with its bound values for
-- --show-query and the JSON rendering.
local cjson = require "cjson"

local M = {}

local IDENT = "^[%a_][%w_]*$"
local JSON_PATH = "^[%w_%.%[%]]+$"

local function ident(s, what)
  if type(s) ~= "string" or not s:match(IDENT) then
    error(string.format("ctx.db: %s must be a plain identifier, got %q", what, tostring(s)), 3)
  end
  return s
end

local function param(name)
  return ":" .. ident(type(name) == "string" and name:gsub("^:", "") or name, "parameter name")
end

-- Parameter names in the order they first appear in the SQL text.
local function param_names(sql)
  local names, seen = {}, {}
  for name in sql:gmatch("[:@$]([%a_][%w_]*)") do
    if not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  return names
end
M.param_names = param_names

local function bind_value(v)
  if type(v) == "table" then return cjson.encode(v) end
  return v
end

local Handle = {}
Handle.__index = Handle
Handle.__metatable = false

-- M.wrap(conn, window) -> handle; conn is an ipe.sqlite connection.
function M.wrap(conn, window)
  local h = setmetatable({ dialect = "sqlite", queries = {} }, Handle)
  local private = { conn = conn, window = window or {} }
  -- The connection stays in this closure: scripts never reach exec or prepare.
  function h.run_statement(_, sql, binds)
    if type(sql) ~= "string" then error("ctx.db:query expects SQL text", 3) end
    binds = binds or {}
    local final, ordered = {}, {}
    for _, name in ipairs(param_names(sql)) do
      local v = binds[name]
      if v == nil then v = private.window[name] end
      if v == nil then error("ctx.db: no value for parameter :" .. name, 3) end
      final[name] = bind_value(v)
      ordered[#ordered + 1] = { name = name, value = final[name] }
    end
    h.queries[#h.queries + 1] = { sql = sql, params = ordered }
    return private.conn:query(sql, final)
  end
  return h
end

function Handle:query(sql, binds) return self:run_statement(sql, binds) end

-- records(): rows as {column = value} maps.
function Handle:records(sql, binds)
  local rows, cols = self:run_statement(sql, binds)
  local out = {}
  for i, r in ipairs(rows) do
    local rec = {}
    for j, c in ipairs(cols) do rec[c] = r[j] end
    out[i] = rec
  end
  return out, cols
end

-- value(): the first column of the first row, or nil.
function Handle:value(sql, binds)
  local rows = self:run_statement(sql, binds)
  local v = rows[1] and rows[1][1]
  if v == cjson.null then return nil end
  return v
end

-- Helpers: SQL pieces for the dialect behind this handle.

-- "col within the run's time window" (binds :from and :to automatically).
function Handle:window(col)
  col = ident(col, "column")
  return string.format("(%s >= :from AND %s <= :to)", col, col)
end

local BUCKETS = {
  minute = { 16, ":00.000Z" }, hour = { 13, ":00:00.000Z" }, day = { 10, "T00:00:00.000Z" },
}

-- The start of the time bucket of col, as workspace time text.
function Handle:bucket(col, unit)
  local b = BUCKETS[unit]
  if not b then error("ctx.db:bucket: unit must be minute, hour or day", 2) end
  return string.format("(substr(%s, 1, %d) || '%s')", ident(col, "column"), b[1], b[2])
end

-- A field of a JSON column: db:json("InitiatedBy", "user.ipAddress").
function Handle:json(col, path)
  if type(path) ~= "string" or not path:match(JSON_PATH) then
    error("ctx.db:json: path must be like user.ipAddress or items[0].id", 2)
  end
  return string.format("json_extract(%s, '$.%s')", ident(col, "column"), path)
end

-- A JSON array column holds the value of :param.
function Handle:json_array_has(col, p)
  col = ident(col, "column")
  return string.format("(instr(%s, %s) > 0 AND EXISTS (SELECT 1 FROM json_each(%s) WHERE value = %s))",
    col, param(p), col, param(p))
end

-- An entity list (SecurityAlert.Entities, Anomalies.Entities) names the IP :param.
function Handle:entities_have_ip(col, p)
  col = ident(col, "column")
  return string.format("(instr(%s, %s) > 0 AND EXISTS (SELECT 1 FROM json_each(%s) e WHERE "
    .. "lower(json_extract(e.value, '$.Type')) = 'ip' AND json_extract(e.value, '$.Address') = %s))",
    col, param(p), col, param(p))
end

-- col is one of the IPs of the list parameter :param (bound as a JSON array).
function Handle:ip_in_list(col, p)
  return string.format("(%s IN (SELECT value FROM json_each(%s)))", ident(col, "column"), param(p))
end

-- col lies in the CIDR bound to :param.
function Handle:ip_in_cidr(col, p)
  return string.format("ipe_ip_in_cidr(%s, %s)", ident(col, "column"), param(p))
end

-- An optional table alias ("n") before a column: "n.ActionType", or "ActionType" without one.
local function col_of(alias, col)
  if alias == nil then return col end
  return ident(alias, "table alias") .. "." .. col
end

-- Direction and service port of a DeviceNetworkEvents row, seen from the device (DeviceName,
-- LocalIP): the one rule every panel, hunt and action uses. An ActionType starting with
-- "Inbound" (InboundConnectionAccepted) is a connection from RemoteIP to LocalIP:LocalPort;
-- every other (ConnectionSuccess, ConnectionAttempt, ConnectionFailed, ...) one from the device
-- to RemoteIP:RemotePort, except ListeningConnectionCreated: the device listens on
-- LocalIP:LocalPort (direction "listening"). The service port is the accepting side's port.
-- Alert and incident states, the one definition of "active" and "open": an alert is active
-- unless its Status is Resolved or Dismissed, an incident open unless Closed (any case); no
-- Status (common in exports) is Sentinel's default, New: active, open. status(alias): the
-- Status as shown, New when there is none.
-- Each is also a function of the module (db.connection_inbound(alias), ...) for SQL built
-- outside a script.
local RULES = {}

function RULES.connection_inbound(alias)
  return "(" .. col_of(alias, "ActionType") .. " LIKE 'Inbound%')"
end

function RULES.connection_listening(alias)
  return "(" .. col_of(alias, "ActionType") .. " = 'ListeningConnectionCreated')"
end

function RULES.connection_direction(alias)
  return "(CASE WHEN " .. RULES.connection_inbound(alias) .. " THEN 'inbound' WHEN " .. RULES.connection_listening(alias)
    .. " THEN 'listening' ELSE 'outbound' END)"
end

function RULES.connection_port(alias)
  return "(CASE WHEN " .. RULES.connection_inbound(alias) .. " OR " .. RULES.connection_listening(alias) .. " THEN "
    .. col_of(alias, "LocalPort") .. " ELSE " .. col_of(alias, "RemotePort") .. " END)"
end

function RULES.status(alias)
  return "COALESCE(NULLIF(" .. col_of(alias, "Status") .. ", ''), 'New')"
end

function RULES.alert_active(alias)
  return "(lower(" .. RULES.status(alias) .. ") NOT IN ('resolved', 'dismissed'))"
end

function RULES.incident_open(alias)
  return "(lower(" .. RULES.status(alias) .. ") <> 'closed')"
end

for name, fn in pairs(RULES) do
  M[name] = fn
  Handle[name] = function(_, alias) return fn(alias) end
end

-- A row of the log table tname (alias its alias in the query) names the IP :param in one of its
-- IP-bearing places: the per-IP rollups' own test (ipe.migrations.rollup), so a row this finds
-- is one the rollups counted.
function Handle:row_names_ip(tname, alias, p)
  ident(tname, "table")
  local rollup = require "ipe.migrations.rollup"
  for _, s in ipairs(rollup.sources(ident(alias, "table alias") .. ".")) do
    if s.table == tname then return rollup.row_has_ip(s, param(p)) end
  end
  error("ctx.db:row_names_ip: " .. tname .. " is not a log table with IP columns", 2)
end

-- "WITH alerts AS (...), incidents AS (...)": the alerts naming the IP :param (an
-- "ip" entity in SecurityAlert.Entities) and the incidents holding them, each the
-- latest version in the window (both tables are logs: an update adds a row).
-- Callers continue the WITH list with ", name AS (...)" or end it with a SELECT.
function Handle:alerts_naming_ip(p)
  return table.concat({
    "WITH alerts AS (",
    "  SELECT * FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY SystemAlertId ORDER BY TimeGenerated DESC) AS Version",
    "    FROM SecurityAlert a WHERE " .. self:window("TimeGenerated") .. " AND " .. self:entities_have_ip("Entities", p) .. ")",
    "  WHERE Version = 1",
    "), incidents AS (",
    "  SELECT * FROM (SELECT i.*, ROW_NUMBER() OVER (PARTITION BY IncidentNumber ORDER BY TimeGenerated DESC) AS Version",
    "    FROM SecurityIncident i WHERE " .. self:window("TimeGenerated"),
    "      AND EXISTS (SELECT 1 FROM json_each(i.AlertIds) x JOIN alerts ON alerts.SystemAlertId = x.value))",
    "  WHERE Version = 1",
    ")",
  }, "\n")
end

-- rollup_query(name) -> the per-IP rollup's exact window statement "activity",
-- "traffic" or "peers" (stored in the workspace by ipe.migrations.rollup; it binds
-- :ip, :from and :to). The workspace check guarantees the rollup exists.
function Handle:rollup_query(name)
  local sql = self:value("SELECT Sql FROM _ipe_ip_queries WHERE Name = :name", { name = name })
  if not sql then error("ctx.db:rollup_query: no stored rollup statement '" .. tostring(name) .. "'", 2) end
  return sql
end

-- Free text (SyslogMessage, Message) mentions the IP :param as a whole token.
function Handle:text_has_ip(col, p)
  col = ident(col, "column")
  return string.format("(instr(%s, %s) > 0 AND ipe_text_has_ip(%s, %s))", col, param(p), col, param(p))
end

return M
