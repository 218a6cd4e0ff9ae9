-- ipe.db: ctx.db, the one door from a script to the workspace.
--
-- Scripts get a read-only handle (query, records, value) plus small helpers that
-- produce the dialect-specific SQL pieces — time windows, time buckets, JSON
-- field access, "IP in this list / range / text" — so a script stays portable
-- when another engine sits behind ctx.db. Every user value is a bound parameter
-- (:name); the helpers only ever emit column names and parameter names, which
-- they check. Every statement run is recorded with its bound values for
-- --show-query and the JSON rendering. db.as_records(rows, cols) turns a query's rows into
-- {column = value} maps (Handle:records, and ipe.actions on its raw connection).
local cjson = require "cjson"

local M = {}

local IDENT = "^[%a_][%w_]*$"
local JSON_PATH = "^[%w_%.%[%]]+$"

-- located(msg, script) -> "insights/x.lua:12: msg": the position of the script's own
-- call, the first stack frame whose chunk is the script file (else the first one
-- outside the runtime's bundled modules), however deep in the runtime the error is
-- found. Errors of ctx.db are the script's errors: they name its file:line.
local function located(msg, script)
  local fallback
  for level = 3, 60 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    if info.currentline and info.currentline > 0 and src:sub(1, 1) == "@" then
      local at = src:sub(2) .. ":" .. info.currentline .. ": "
      if script and src == "@" .. script then return at .. msg end
      if not fallback and src:sub(1, 5) ~= "@ipe/" then fallback = at end
    end
  end
  return (fallback or "") .. msg
end
M.located = located

local script_path -- the script of the handle being used (set by each Handle method)

local function raise(msg) error(located(msg, script_path), 0) end

local function ident(s, what)
  if type(s) ~= "string" or not s:match(IDENT) then
    raise(string.format("ctx.db: %s must be a plain identifier, got %q", what, tostring(s)))
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

-- An error of the SQLite binding ("sqlite: no such column: X", possibly behind the
-- binding's own position) as the script should read it: "no such column: X".
local function sql_message(e)
  if type(e) ~= "string" then return nil end
  if e:find("not enough memory", 1, true) then return nil end -- the memory budget's own path
  return (e:gsub("^[^\n]-sqlite: ", "", 1))
end
M.sql_message = sql_message

-- fault_line(conn, sql, script) -> the line of the script that holds the fault of a
-- failed statement (the literal with the misspelt column), when the statement is one
-- `ipe-run check` can rebuild from the script's text (ipe.lint) and SQLite says where
-- in it the fault is; else nil (the message then names the line of the call).
local function fault_line(conn, sql, script)
  if not script or not conn.compile or conn.dialect == "clickhouse" then return nil end
  local _, _, offset = conn:compile(sql)
  if not offset then return nil end
  local lint = require "ipe.lint"
  local text = require("ipe.fs").read(script, 4 * 1024 * 1024)
  if not text then return nil end
  for _, st in ipairs(lint.statements(lint.tokens(text), M.wrap(conn, {}))) do
    if st.text == sql then return lint.line_of(st.value, offset) end
  end
end

-- M.wrap(conn, window [, script]) -> handle; conn is an ipe.sqlite connection, script
-- the path of the script using it (its errors name that file's line).
function M.wrap(conn, window, script)
  local h = setmetatable({ dialect = conn.dialect or "sqlite", queries = {} }, Handle)
  local private = { conn = conn, window = window or {} }
  -- The connection stays in this closure: scripts never reach exec or prepare.
  function h.run_statement(_, sql, binds)
    script_path = script
    if type(sql) ~= "string" then raise("ctx.db:query expects SQL text, got " .. type(sql)) end
    binds = binds or {}
    local final, ordered = {}, {}
    for _, name in ipairs(param_names(sql)) do
      local v = binds[name]
      if v == nil then v = private.window[name] end
      if v == nil then raise("ctx.db: no value for parameter :" .. name) end
      final[name] = h.dialect == "sqlite" and bind_value(v) or v   -- ClickHouse binds lists as IN (...)
      ordered[#ordered + 1] = { name = name, value = final[name] }
    end
    h.queries[#h.queries + 1] = { sql = sql, params = ordered }
    local ok, rows, cols = pcall(private.conn.query, private.conn, sql, final)
    if not ok then
      local msg = sql_message(rows)
      if not msg then error(rows, 0) end
      local okl, line = pcall(fault_line, private.conn, sql, script)
      if okl and line then error(script .. ":" .. line .. ": " .. msg, 0) end
      raise(msg)
    end
    return rows, cols
  end
  return h
end

function Handle:query(sql, binds) return self:run_statement(sql, binds) end

-- as_records(rows, cols) -> the rows of a query as {column = value} maps, and cols.
function M.as_records(rows, cols)
  local out = {}
  for i, r in ipairs(rows) do
    local rec = {}
    for j, c in ipairs(cols) do rec[c] = r[j] end
    out[i] = rec
  end
  return out, cols
end

-- records(): rows as {column = value} maps.
function Handle:records(sql, binds) return M.as_records(self:run_statement(sql, binds)) end

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
  if not b then raise("ctx.db:bucket: unit must be minute, hour or day") end
  return string.format("(substr(%s, 1, %d) || '%s')", ident(col, "column"), b[1], b[2])
end

-- A field of a JSON column: db:json("InitiatedBy", "user.ipAddress").
function Handle:json(col, path)
  if type(path) ~= "string" or not path:match(JSON_PATH) then
    raise("ctx.db:json: path must be like user.ipAddress or items[0].id")
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

-- Threat intelligence: "a live indicator matches this IP", one definition for every script.
--
-- An indicator row names an IP when one of its IP columns (NetworkIP, NetworkSourceIP,
-- NetworkDestinationIP, EmailSourceIpAddress) is the IP, or one of its CIDR columns
-- (NetworkCidrBlock, NetworkSourceCidrBlock, NetworkDestinationCidrBlock) holds it — found
-- through the numeric ranges of _ipe_ti_ranges (ipe.migrations.ti_ranges): one key probe per
-- prefix length in use, never a test of every block. An indicator counts as its latest version
-- (the newest row of its IndicatorId up to the window's end, ties to the later row); it is live
-- when that version is Active and not expired at :now.
local TI = "ThreatIntelligenceIndicator"
local TI_IP_COLUMNS = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" }
M.TI_IP_COLUMNS = TI_IP_COLUMNS

local TI_LIVE = "(%s.Active = 1 AND (%s.ExpirationDateTime IS NULL OR %s.ExpirationDateTime > :now))"
local TI_LATEST = "(+%s.TimeGenerated <= :to AND NOT EXISTS (SELECT 1 FROM " .. TI .. " n WHERE n.IndicatorId = "
  .. "%s.IndicatorId AND n.TimeGenerated <= :to AND (n.TimeGenerated > %s.TimeGenerated OR "
  .. "(n.TimeGenerated = %s.TimeGenerated AND n.rowid > %s.rowid))))"

-- The prefix lengths in use, one index seek each (a loose scan of _ipe_ti_ranges' key).
local TI_BITS = "ti_bits(Bits) AS (SELECT min(Bits) FROM _ipe_ti_ranges UNION ALL "
  .. "SELECT (SELECT min(Bits) FROM _ipe_ti_ranges r WHERE r.Bits > ti_bits.Bits) FROM ti_bits "
  .. "WHERE ti_bits.Bits IS NOT NULL)"

-- The blocks holding the address `ip` (SQL): rows (TiRow, Block, Role, Bits).
local function ti_blocks(ip)
  return "SELECT r.TiRow, r.Block, r.Role, r.Bits FROM ti_bits b CROSS JOIN _ipe_ti_ranges r "
    .. "ON r.Bits = b.Bits AND r.RangeStart = ipe_ip_key(" .. ip .. ", b.Bits)"
end

-- ti_live(alias): SQL condition, the row `alias` is active and unexpired at :now.
function Handle:ti_live(alias)
  alias = ident(alias or TI, "table alias")
  return string.format(TI_LIVE, alias, alias, alias)
end

-- ti_latest(alias): SQL condition, the row `alias` is its indicator's latest version up to :to.
function Handle:ti_latest(alias)
  alias = ident(alias or TI, "table alias")
  return string.format(TI_LATEST, alias, alias, alias, alias, alias)
end

-- "WITH ti_bits AS (...), ti_hits AS (...), ti AS (...)": the indicators matching the IP
-- :param, each its latest version naming the IP: every column of ThreatIntelligenceIndicator,
-- TiRow (its rowid), MatchedIndicator (the IP, or the block that holds it), MatchedColumn
-- (the column it is in) and Live (1 or 0). An indicator whose latest version no longer names
-- the IP is not there. A row naming the IP twice shows the address, else its narrowest block.
-- Callers continue the WITH list with ", name AS (...)" or end it with a SELECT.
function Handle:ti_matching_ip(p)
  local ip = param(p)
  local hits = {}
  for _, c in ipairs(TI_IP_COLUMNS) do
    hits[#hits + 1] = string.format("  SELECT rowid AS TiRow, %s AS MatchedIndicator, '%s' AS MatchedColumn, 200 AS Rank"
      .. " FROM %s WHERE %s = %s", c, c, TI, c, ip)
  end
  hits[#hits + 1] = "  " .. ti_blocks(ip)
  return table.concat({
    "WITH RECURSIVE " .. TI_BITS .. ", ti_hits AS (",
    table.concat(hits, "\n  UNION ALL\n"),
    "), ti AS (",
    "  SELECT t.rowid AS TiRow, t.*, h.MatchedIndicator, h.MatchedColumn,",
    "         CASE WHEN " .. self:ti_live("t") .. " THEN 1 ELSE 0 END AS Live",
    "  FROM (SELECT TiRow, MatchedIndicator, MatchedColumn,",
    "               ROW_NUMBER() OVER (PARTITION BY TiRow ORDER BY Rank DESC, MatchedIndicator) AS k FROM ti_hits) h",
    "  JOIN " .. TI .. " t ON t.rowid = h.TiRow",
    "  WHERE h.k = 1 AND " .. self:ti_latest("t"),
    ")",
  }, "\n")
end

-- ", ti_bits AS (...), ti_live AS (...), ti_ip AS (...)": for the IPs of the caller's table or
-- CTE `ips` (column IP, one row per address), the live indicators matching each: rows (IP,
-- TiRow, MatchedIndicator, MatchedColumn), one per IP, indicator row and match; ti_live holds
-- the live latest versions (every column, TiRow = rowid). Continues a WITH RECURSIVE list
-- (RECURSIVE: ti_bits is a loose index scan); each IP costs one probe per prefix length.
function Handle:ti_matching_ips(ips)
  ips = ident(ips, "table name")
  local parts = {}
  for _, c in ipairs(TI_IP_COLUMNS) do
    parts[#parts + 1] = string.format("  SELECT %s AS IP, TiRow, %s AS MatchedIndicator, '%s' AS MatchedColumn FROM ti_live"
      .. " WHERE %s IN (SELECT IP FROM %s)", c, c, c, c, ips)
  end
  -- CROSS JOIN fixes the loop order: per address and prefix length, one key probe
  parts[#parts + 1] = "  SELECT i.IP, r.TiRow, r.Block, r.Role FROM " .. ips .. " i CROSS JOIN ti_bits b"
    .. " CROSS JOIN _ipe_ti_ranges r ON r.Bits = b.Bits AND r.RangeStart = ipe_ip_key(i.IP, b.Bits)"
    .. " JOIN ti_live l ON l.TiRow = r.TiRow"
  return table.concat({
    ", " .. TI_BITS .. ", ti_live AS MATERIALIZED (",
    "  SELECT t.rowid AS TiRow, t.* FROM " .. TI .. " t WHERE " .. self:ti_latest("t") .. " AND " .. self:ti_live("t"),
    "), ti_ip AS (",
    table.concat(parts, "\n  UNION ALL\n"),
    ")",
  }, "\n")
end

-- rollup_query(name) -> the per-IP rollup's exact window statement "activity",
-- "traffic" or "peers" (stored in the workspace by ipe.migrations.rollup; it binds
-- :ip, :from and :to). The workspace check guarantees the rollup exists.
function Handle:rollup_query(name)
  local sql = self:value("SELECT Sql FROM _ipe_ip_queries WHERE Name = :name", { name = name })
  if not sql then raise("ctx.db:rollup_query: no stored rollup statement '" .. tostring(name) .. "'") end
  return sql
end

-- Free text (SyslogMessage, Message) mentions the IP :param as a whole token.
function Handle:text_has_ip(col, p)
  col = ident(col, "column")
  return string.format("(instr(%s, %s) > 0 AND ipe_text_has_ip(%s, %s))", col, param(p), col, param(p))
end

return M
