-- ipe.db: ctx.db, the one door from a script to the workspace.
--
-- Scripts get a read-only handle (query, records, value) plus small helpers that
-- produce the dialect-specific SQL pieces — time windows, buckets and arithmetic, string
-- aggregation, JSON values, "IP in this list / range / text", the latest version of each
-- record, the rollups' rows — so a script stays portable: the SQL text is the dialect
-- module's of the connection (conn.dialect: ipe.dialect.sqlite, ipe.dialect.clickhouse;
-- `ipe-run check` reports a script that writes an engine's own function instead). Every
-- user value is a bound parameter (:name); the helpers only ever emit column names and
-- parameter names, which they check here (and a separator or needle from a short list
-- of safe characters). Every statement run is recorded with its bound values for
-- --show-query and the JSON rendering. db.as_records(rows, cols) turns a query's rows into
-- {column = value} maps (Handle:records, and ipe.actions on its raw connection).
local cjson = require "cjson"

local M = {}

local DIALECTS = { sqlite = require "ipe.dialect.sqlite", clickhouse = require "ipe.dialect.clickhouse" }

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
  local dialect = conn.dialect or "sqlite"
  local h = setmetatable({ dialect = dialect, queries = {}, _sql = DIALECTS[dialect].new(conn) }, Handle)
  local private = { conn = conn, window = window or {} }
  -- The connection stays in this closure: scripts never reach exec or prepare.
  function h.run_statement(_, sql, binds)
    script_path = script
    if type(sql) ~= "string" then raise("ctx.db:query expects SQL text, got " .. type(sql)) end
    if h.dialect == "clickhouse" then
      -- WITH tables as subqueries (ClickHouse 18.16 has none): what runs, and is recorded
      local ok, inlined = pcall(DIALECTS.clickhouse.inline_with, sql)
      if not ok then raise(inlined) end
      sql = inlined
    end
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
      -- a ClickHouse server's error (one line naming the server and the script): at the script's line
      if require("ipe.errors").is(rows) and private.conn.dialect == "clickhouse" then raise(rows.msg) end
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

-- Helpers: SQL pieces for the dialect behind this handle. The text is the dialect
-- module's (ipe.dialect.sqlite, ipe.dialect.clickhouse: one helper set, same arguments and
-- results); here every argument is checked first, so only checked names reach SQL.

-- A column: Col or alias.Col.
local function column(s)
  if type(s) ~= "string" or not (s:match(IDENT) or s:match("^[%a_][%w_]*%.[%a_][%w_]*$")) then
    raise(string.format("ctx.db: column must be a plain identifier (or alias.Col), got %q", tostring(s)))
  end
  return s
end

-- gen(self, name, ...) -> the dialect's SQL; its "not on this engine" as the script's error
local function gen(self, name, ...)
  local ok, out = pcall(self._sql[name], ...)
  if ok then return out end
  if type(out) == "table" and out.unsupported then raise(out.msg) end
  error(out, 0)
end

-- "col within the run's time window" (binds :from and :to automatically).
function Handle:window(col) return gen(self, "window", column(col)) end

local UNITS = { minute = true, hour = true, day = true }

-- The start of the time bucket of col, as workspace time text.
function Handle:bucket(col, unit)
  if not UNITS[unit] then raise("ctx.db:bucket: unit must be minute, hour or day") end
  return gen(self, "bucket", column(col), unit)
end

-- A time column as workspace time text ("2024-05-01T10:00:00.000Z").
function Handle:time_text(col) return gen(self, "time_text", column(col)) end

-- Seconds from time a to time b (a number; b earlier: negative).
function Handle:seconds_between(a, b) return gen(self, "seconds_between", column(a), column(b)) end

local SEPARATORS = { [","] = true, [", "] = true, ["; "] = true, [" "] = true }

-- The values of col in the group joined by sep (", " ...; default ","), NULLs left out;
-- NULL when there is none. distinct: each value once (then sep must be ",").
function Handle:string_agg(col, sep, distinct)
  sep = sep or ","
  if not SEPARATORS[sep] then raise("ctx.db:string_agg: separator must be one of ',', ', ', '; ', ' '") end
  if distinct and distinct ~= "distinct" and distinct ~= true then
    raise("ctx.db:string_agg: the third argument is true or \"distinct\"")
  end
  if distinct and sep ~= "," then raise("ctx.db:string_agg: with distinct, the separator is ','") end
  return gen(self, "string_agg", column(col), sep, distinct and true or false)
end

-- The 1-based position of the constant needle in col, 0 when absent.
function Handle:position(col, needle)
  if type(needle) ~= "string" or #needle > 32 or not needle:match("^[%w %-_%.:@/#=]+$") then
    raise("ctx.db:position: the needle is a short constant (letters, digits, spaces, - _ . : @ / # =)")
  end
  return gen(self, "position", column(col), needle)
end

-- A host's short, lower-case name: wks-007.contoso.com and WKS-007 are one device (a name
-- without a letter, an IP address, stays whole).
function Handle:host_short(col) return gen(self, "host_short", column(col)) end

-- The first label of a host name as written: the text before its first '.' (WKS-007.contoso.com -> WKS-007).
function Handle:host_label(col) return gen(self, "host_label", column(col)) end

-- A field of a JSON column: db:json("InitiatedBy", "user.ipAddress").
function Handle:json(col, path)
  if type(path) ~= "string" or not path:match(JSON_PATH) then
    raise("ctx.db:json: path must be like user.ipAddress or items[0].id")
  end
  return gen(self, "json", column(col), path)
end

-- A JSON array (or object) column holds the value of :param (a string value, at the top level).
function Handle:json_has_value(col, p) return gen(self, "json_has_value", column(col), param(p)) end
function Handle:json_array_has(col, p) return gen(self, "json_array_has", column(col), param(p)) end

-- The text of col is JSON (on ClickHouse 18.16: has the shape of a JSON value).
function Handle:json_valid(col) return gen(self, "json_valid", column(col)) end

-- A join to write right after the FROM item of col's table ("FROM T t " .. db:json_each("t.Col", "e")):
-- each row once per element of the JSON array in col (or in its field at path), as alias.value,
-- alias.key (0, 1, ...) and alias.type (text, integer, real, true, false, null); a row whose text is
-- no JSON array has none. ClickHouse reads flat arrays (strings, numbers, true/false/null; a
-- nested array or object there has no elements) and gives value as text (true 1, false 0, a
-- real its JSON text); SQLite: json_each's.
function Handle:json_each(col, alias, path)
  if path ~= nil and (type(path) ~= "string" or not path:match(JSON_PATH)) then
    raise("ctx.db:json_each: path must be like tactics or items[0].ids")
  end
  return gen(self, "json_each", column(col), ident(alias, "table alias"), path)
end

-- An entity list (SecurityAlert.Entities, Anomalies.Entities) names the IP :param.
function Handle:entities_have_ip(col, p) return gen(self, "entities_have_ip", column(col), param(p)) end

-- A bookmark's QueryResultRow maps the IP :param as an "IP" entity (its __entityMapping).
function Handle:entity_mapping_has_ip(col, p) return gen(self, "entity_mapping_has_ip", column(col), param(p)) end

-- col is one of the values (IPs, names) of the list parameter :param.
function Handle:ip_in_list(col, p) return gen(self, "ip_in_list", column(col), param(p)) end
Handle.in_list = Handle.ip_in_list

-- col holds the IP :param, alone or with a port (1.2.3.4:51234, [2001:db8::1]:443).
function Handle:ip_with_port(col, p) return gen(self, "ip_with_port", column(col), param(p)) end

-- The time column col is one of the times (workspace time text, to the millisecond) of the
-- list parameter :param.
function Handle:time_in_list(col, p) return gen(self, "time_in_list", column(col), param(p)) end

-- col lies in the CIDR bound to :param.
function Handle:ip_in_cidr(col, p) return gen(self, "ip_in_cidr", column(col), param(p)) end

-- col lies in the CIDR held by the column cidr_col.
function Handle:ip_in_cidr_column(col, cidr_col) return gen(self, "ip_in_cidr", column(col), column(cidr_col)) end

-- Free text (SyslogMessage, Message) mentions the IP :param as a whole token.
function Handle:text_has_ip(col, p) return gen(self, "text_has_ip", column(col), param(p)) end

local function ident_list(v, what)
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" or #v == 0 then raise("ctx.db:latest: " .. what .. " is a column or a list of columns") end
  local out = {}
  for i, c in ipairs(v) do out[i] = ident(c, what) end
  return out
end

-- latest(tname, alias, keys, where [, order]) -> a SELECT of the latest version of each
-- record: of the rows of tname (as alias) matching the SQL condition where, per value of
-- keys (a column or a list), the newest by order (time columns, default TimeGenerated;
-- ties: any one). Every column of tname, and Version (1).
function Handle:latest(tname, alias, keys, where, order)
  if type(where) ~= "string" or where == "" then raise("ctx.db:latest: where is an SQL condition") end
  return gen(self, "latest", ident(tname, "table"), ident(alias, "table alias"), ident_list(keys, "key"), where,
    ident_list(order or "TimeGenerated", "order column"))
end

-- The stored rows of the per-IP hourly rollup `name` (activity, peers, traffic) of the
-- hours from that of :from_param to that of :to_param (default :from, :to): a subquery; with
-- ip_param, only the rows of the IP :ip_param (ClickHouse merges a rollup's states before an
-- outer WHERE would keep one IP's: say it here)
function Handle:rollup_rows(name, from_p, to_p, ip_p)
  if not self._sql.ROLLUP_TABLES[name] then raise("ctx.db:rollup_rows: rollup must be activity, peers or traffic") end
  return gen(self, "rollup_rows", name, param(from_p or "from"), param(to_p or "to"), ip_p and param(ip_p) or nil)
end

-- The start of the hour or day (unit) of a rollup row's Hour column, as workspace time text.
function Handle:rollup_bucket(col, unit)
  if unit ~= "hour" and unit ~= "day" then raise("ctx.db:rollup_bucket: unit must be hour or day") end
  return gen(self, "rollup_bucket", column(col), unit)
end

-- The rows of log table tname in the hours in which the activity rollup saw the IP :p in
-- source (a log table's name; default tname), from :from's hour to :to's: a subquery, the
-- search driven by those hours (a table the IP is absent from is not scanned).
function Handle:rows_in_ip_hours(tname, source, p)
  return gen(self, "rows_in_ip_hours", ident(tname, "table"), ident(source or tname, "source table"), param(p or "ip"))
end

-- The named IP ranges (action ip-ranges): a subquery of (Name, Category, Cidr).
function Handle:named_ranges() return gen(self, "named_ranges") end

-- has_named_ranges() -> true when the workspace has the named IP ranges table (runs a query).
function Handle:has_named_ranges() return self:value(self._sql.NAMED_RANGES_EXIST) == 1 end

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
-- IP-bearing places: the per-IP rollups' own test (ipe.rollup.sqlite), so a row this finds
-- is one the rollups counted.
function Handle:row_names_ip(tname, alias, p)
  ident(tname, "table")
  if self.dialect == "clickhouse" then
    local sql = require("ipe.rollup.clickhouse").row_has_ip(tname, ident(alias, "table alias") .. ".", param(p))
    if sql then return sql end
    error("ctx.db:row_names_ip: " .. tname .. " is not a log table with IP columns", 2)
  end
  local rollup = require "ipe.rollup.sqlite"
  for _, s in ipairs(rollup.sources(ident(alias, "table alias") .. ".")) do
    if s.table == tname then return rollup.row_has_ip(s, param(p)) end
  end
  error("ctx.db:row_names_ip: " .. tname .. " is not a log table with IP columns", 2)
end

-- "WITH alerts AS (...), incidents AS (...)": the alerts naming the IP :param (an
-- "ip" entity in SecurityAlert.Entities) and the incidents holding them, each the
-- latest version in the window (both tables are logs: an update adds a row).
-- Callers continue the WITH list with ", name AS (...)" or end it with a SELECT.
function Handle:alerts_naming_ip(p) return gen(self, "alerts_naming_ip", param(p)) end

-- Threat intelligence: "a live indicator matches this IP", one definition for every script
-- (the dialect module says how: ipe.dialect.sqlite). An indicator counts as its latest
-- version up to the window's end; it is live when that version is Active and not expired at :now.
M.TI_IP_COLUMNS = require("ipe.dialect.sqlite").TI_IP_COLUMNS

-- ti_live(alias): SQL condition, the row `alias` is active and unexpired at :now.
function Handle:ti_live(alias) return gen(self, "ti_live", ident(alias or "ThreatIntelligenceIndicator", "table alias")) end

-- ti_latest(alias): SQL condition, the row `alias` is its indicator's latest version up to :to.
function Handle:ti_latest(alias) return gen(self, "ti_latest", ident(alias or "ThreatIntelligenceIndicator", "table alias")) end

-- "WITH ti_bits AS (...), ti_hits AS (...), ti AS (...)": the indicators matching the IP
-- :param, each its latest version naming the IP: every column of ThreatIntelligenceIndicator,
-- TiRow (its rowid), MatchedIndicator (the IP, or the block that holds it), MatchedColumn
-- (the column it is in) and Live (1 or 0). An indicator whose latest version no longer names
-- the IP is not there. A row naming the IP twice shows the address, else its narrowest block.
-- Callers continue the WITH list with ", name AS (...)" or end it with a SELECT.
function Handle:ti_matching_ip(p) return gen(self, "ti_matching_ip", param(p)) end

-- In a query that starts with ti_matching_ip's WITH list, over ThreatIntelligenceIndicator:
-- the rows whose CIDR column col holds the IP :p (the one given to ti_matching_ip).
-- p: the IP's parameter (default "ip"; ClickHouse tests the block against it, SQLite reads ti_hits).
function Handle:ti_block_match(col, p) return gen(self, "ti_block_match", ident(col, "column"), param(p or "ip")) end

-- A SELECT of the live indicators, for an export: the latest version of each IndicatorId,
-- Active and unexpired at :now; every column (times as workspace time text), Created (the
-- first version's time) and Version (how many versions), ordered by Created, IndicatorId.
function Handle:ti_export() return gen(self, "ti_export") end

-- ", ti_bits AS (...), ti_live AS (...), ti_ip AS (...)": for the IPs of the caller's table or
-- CTE `ips` (column IP, one row per address), the live indicators matching each: rows (IP,
-- TiRow, MatchedIndicator, MatchedColumn), one per IP, indicator row and match; ti_live holds
-- the live latest versions (every column, TiRow = rowid). Continues a WITH RECURSIVE list
-- (RECURSIVE: ti_bits is a loose index scan); each IP costs one probe per prefix length.
function Handle:ti_matching_ips(ips) return gen(self, "ti_matching_ips", ident(ips, "table name")) end

-- rollup_query(name) -> the per-IP rollup's exact window statement "activity",
-- "traffic" or "peers" of this engine (ipe.rollup; it binds :ip, :from and :to). The
-- workspace check guarantees the rollup exists.
function Handle:rollup_query(name)
  local sql = require("ipe.rollup").statement(self, name)
  if not sql then raise("ctx.db:rollup_query: no stored rollup statement '" .. tostring(name) .. "'") end
  return sql
end

-- Script portability helpers (branch chscripts; ipe.dialect.*'s block of that name) -------
-- The earliest / latest time of col in the group, as workspace time text (MIN/MAX of a time).
function Handle:time_min(col) return gen(self, "time_min", column(col)) end
function Handle:time_max(col) return gen(self, "time_max", column(col)) end
-- col is at or before the time parameter :p (a time column against :to, :now, ...).
function Handle:at_or_before(col, p) return gen(self, "at_or_before", column(col), param(p)) end
-- col IS :p, col IS NOT :p: true or false, never NULL (a NULL col is not the value).
-- A value as text, for || ('score ' || db:text("Score")); a whole real reads 1.0 on SQLite, 1 on ClickHouse.
function Handle:text(col) return gen(self, "text", column(col)) end
-- How many distinct non-empty values col has in the group, as text (for || ' host(s)').
function Handle:distinct_count_text(col) return gen(self, "distinct_count_text", column(col)) end
-- The SQL string constant of one backslash (DOMAIN || db:backslash() || user).
function Handle:backslash() return gen(self, "backslash") end
function Handle:is(col, p) return gen(self, "is", column(col), param(p)) end
function Handle:is_not(col, p) return gen(self, "is_not", column(col), param(p)) end

return M
