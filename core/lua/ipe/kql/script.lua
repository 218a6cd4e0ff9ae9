-- ipe.kql.script: an insight or hunt written in KQL — `language = "kql"` and
-- `query = [[ ... ]]` in place of `run`. Its typed parameters are the query's let
-- bindings: a `let ip = "...";` of the query takes the parameter's value, and a parameter
-- the query does not declare is bound under its name all the same; `window` is the run's
-- window as a timespan unless the script has a parameter of that name. A query without a
-- TimeGenerated filter reads each table within the run's window.
--
--   check(script) -> problem or nil (the query parses; the fields fit together)
--   run(script [, path]) -> function(ctx, values): the script's run (errors name path: query:LINE:COL)
--   lets(specs, values [, span]) -> {name = value}, {name = kusto type}
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local kql = require "ipe.kql"
local result = require "ipe.result"

local M = {}

local KTYPE = { ip = "string", cidr = "string", string = "string", choice = "string", int = "long",
  bool = "bool", duration = "timespan", timestamp = "datetime", ip_list = "dynamic" }

M.RENDER_TYPE = { string = "text", long = "number", int = "number", real = "number", datetime = "time",
  bool = "bool", dynamic = "json", timespan = "text" }

function M.check(s)
  if s.language ~= "kql" then return "field 'language' must be \"kql\" (or absent for a Lua script)" end
  if type(s.query) ~= "string" or not s.query:find("%S") then return "field 'query' must be the KQL text of the script" end
  if s.run ~= nil then return "a KQL script has a 'query' instead of 'run', not both" end
  local problem = M.check_display(s)
  if problem then return problem end
  local ok, e = pcall(kql.parse, s.query)
  if not ok then
    if kql.is_error(e) then return string.format("field 'query': kql:%d:%d: %s", e.line, e.col, e.msg) end
    return "field 'query': " .. tostring(e)
  end
end

-- display = { columns = { Col = "bytes", ... }, title = "Traffic of {ip}", note = "..." }: how the
-- result is shown — column display types (ipe.result's types) beyond what the KQL types give,
-- and a title (and note) where {name} is the value of the parameter of that name.
function M.check_display(s)
  local d = s.display
  if d == nil then return nil end
  if type(d) ~= "table" then return "field 'display' must be a table {columns=, title=, note=}" end
  for k in pairs(d) do
    if k ~= "columns" and k ~= "title" and k ~= "note" then
      return "field 'display': unknown entry '" .. tostring(k) .. "' (columns, title, note)"
    end
  end
  if d.columns ~= nil and type(d.columns) ~= "table" then return "field 'display': 'columns' must map column names to types" end
  for col, ty in pairs(d.columns or {}) do
    if type(col) ~= "string" or not result.COLUMN_TYPES[ty] then
      return string.format("field 'display': column '%s' has unknown type '%s'", tostring(col), tostring(ty))
    end
  end
  local names = {}
  for _, p in ipairs(type(s.params) == "table" and s.params or {}) do names[p.name or ""] = true end
  for _, k in ipairs({ "title", "note" }) do
    local t = d[k]
    if t ~= nil and type(t) ~= "string" then return "field 'display': '" .. k .. "' must be a string" end
    for name in (t or ""):gmatch("{([^}]*)}") do
      if not names[name] then return string.format("field 'display': %s names '{%s}', which is not a parameter", k, name) end
    end
  end
end

-- text with each {name} replaced by the parameter's value
local function fill(text, values)
  if not text then return nil end
  return (text:gsub("{([^}]*)}", function(name) return tostring(values[name] == nil and "" or values[name]) end))
end

function M.lets(specs, values, span)
  local lets, types = {}, {}
  for _, p in ipairs(specs or {}) do
    local v = values[p.name]
    if v ~= nil then
      lets[p.name], types[p.name] = v, KTYPE[p.type] or "string"
      if p.type == "timestamp" then lets[p.name] = require("ipe.timeutil").parse_time(v) end
    end
  end
  if span and lets.window == nil then lets.window, types.window = span, "timespan" end
  return lets, types
end

-- placeholder values of each parameter type, for compiling a script's query without a run
local SAMPLE = { ip = "192.0.2.1", cidr = "192.0.2.0/24", string = "x", choice = nil, int = 1, bool = true,
  duration = 86400, timestamp = "2026-01-01T00:00:00.000Z", ip_list = { "192.0.2.1" } }

-- lint(path, text, meta, conn) -> problems {"path:line: query:L:C: message"}: the query
-- compiled with each parameter's default (else a sample of its type) and its SQL prepared
-- against conn's schema (never run). line is the line of the file the query's line is on.
function M.lint(path, text, meta, conn)
  local values = {}
  for _, p in ipairs(meta.params or {}) do
    local v = p.default
    if v == nil then v = p.type == "choice" and p.choices and p.choices[1] or SAMPLE[p.type] end
    values[p.name] = v
  end
  local lets, types = M.lets(meta.params, values, 86400)
  local start = text:find(meta.query, 1, true)
  local first = start and select(2, text:sub(1, start):gsub("\n", "")) + 1 or 1
  local ok, plan = pcall(kql.compile, meta.query, { now = 1767225600, lets = lets, types = types,
    engine = conn and conn.dialect == "clickhouse" and "clickhouse" or nil,
    window = { from = "2026-01-01T00:00:00.000Z", to = "2026-01-02T00:00:00.000Z" } })
  if not ok then
    if kql.is_error(plan) then
      return { string.format("%s:%d: query:%d:%d: %s", path, first + plan.line - 1, plan.line, plan.col, plan.msg) }
    end
    return { string.format("%s:%d: query: %s", path, first, tostring(plan):match("[^\n]*")) }
  end
  if conn then
    local cok, msg = conn:compile(plan.sql)
    if not cok then return { string.format("%s:%d: query: the compiled SQL: %s", path, first, tostring(msg)) } end
  end
  return {}
end

function M.run(script, path)
  return function(ctx, values)
    local w = ctx.window
    local lets, types = M.lets(script.params, values, w and w.span)
    local ok, plan = pcall(kql.compile, script.query, { now = ctx.now, lets = lets, types = types, engine = ctx.db.dialect,
      window = w and { from = w.from, to = w.to } })
    if not ok then
      if kql.is_error(plan) then error(string.format("%squery:%d:%d: %s", path and path .. ": " or "", plan.line, plan.col, plan.msg), 0) end
      error(plan, 0)
    end
    local rows = ctx.db:query(plan.sql, plan.binds)
    local q = ctx.db.queries[#ctx.db.queries]
    if q then q.kql = script.query end
    kql.shape(rows, plan.columns)
    local d = script.display or {}
    local shown = d.columns or {}
    local cols = {}
    for i, c in ipairs(plan.columns) do cols[i] = { c.name, shown[c.name] or M.RENDER_TYPE[c.type] or "text" } end
    return result.table{ title = fill(d.title, values) or script.title, note = fill(d.note, values), columns = cols, rows = rows }
  end
end

return M
