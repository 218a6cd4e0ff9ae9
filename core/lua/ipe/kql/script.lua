-- ipe.kql.script: an insight or hunt written in KQL — `language = "kql"` and
-- `query = [[ ... ]]` in place of `run`. Its typed parameters are the query's let
-- bindings: a `let ip = "...";` of the query takes the parameter's value, and a parameter
-- the query does not declare is bound under its name all the same; `window` is the run's
-- window as a timespan, `window_start` and `window_end` its bounds as datetimes, unless the
-- script has a parameter of that name. A query without a
-- TimeGenerated filter reads each table within the run's window.
--
--   check(script) -> problem or nil (the query parses; the fields fit together)
--   run(script [, path]) -> function(ctx, values): the script's run (errors name path: query:LINE:COL)
--   lets(specs, values [, span [, bounds {from=, to=}]]) -> {name = value}, {name = kusto type}
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
  -- a batch: one display per table
  local n, d = #e.queries, s.display
  if d ~= nil and d[1] ~= nil and #d ~= n then
    return string.format("field 'display': the list has %d display%s, the query returns %d table%s", #d, #d == 1 and "" or "s", n, n == 1 and "" or "s")
  elseif n > 1 and d ~= nil and d[1] == nil then
    return string.format("field 'display': the query returns %d tables: give a list of %d displays, one per table", n, n)
  end
end

-- display = { columns = { Col = "bytes", ... }, title = "Traffic of {ip}", note = "...", hide_empty = true }:
-- how the result is shown — column display types (ipe.result's types) beyond what the KQL
-- types give, and a title (and note) where {name} is the value of the parameter of that name
-- ({window_start}, {window_end}: the run's window);
-- hide_empty leaves the table out when it has no rows. A batch (statements separated by ';')
-- has a list of them, one per table: display = { { title = ... }, { title = ... } }.
local DISPLAY_KEYS = { columns = true, title = true, note = true, hide_empty = true }

local function check_one(d, names, what)
  if type(d) ~= "table" then return what .. " must be a table {columns=, title=, note=, hide_empty=}" end
  for k in pairs(d) do
    if not DISPLAY_KEYS[k] then
      return what .. ": unknown entry '" .. tostring(k) .. "' (columns, title, note, hide_empty)"
    end
  end
  if d.columns ~= nil and type(d.columns) ~= "table" then return what .. ": 'columns' must map column names to types" end
  for col, ty in pairs(d.columns or {}) do
    if type(col) ~= "string" or not result.COLUMN_TYPES[ty] then
      return string.format("%s: column '%s' has unknown type '%s'", what, tostring(col), tostring(ty))
    end
  end
  if d.hide_empty ~= nil and type(d.hide_empty) ~= "boolean" then return what .. ": 'hide_empty' must be true or false" end
  for _, k in ipairs({ "title", "note" }) do
    local t = d[k]
    if t ~= nil and type(t) ~= "string" then return what .. ": '" .. k .. "' must be a string" end
    for name in (t or ""):gmatch("{([^}]*)}") do
      if not names[name] then return string.format("%s: %s names '{%s}', which is not a parameter", what, k, name) end
    end
  end
end

function M.check_display(s)
  local d = s.display
  if d == nil then return nil end
  if type(d) ~= "table" then return "field 'display' must be a table {columns=, title=, note=, hide_empty=}" end
  local names = { window_start = true, window_end = true }   -- and the run's window
  for _, p in ipairs(type(s.params) == "table" and s.params or {}) do names[p.name or ""] = true end
  if d[1] == nil then return check_one(d, names, "field 'display'") end
  for k in pairs(d) do
    if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #d then
      return "field 'display': a list of displays, one per table, has only entries 1 to " .. #d
    end
  end
  for i, one in ipairs(d) do
    local problem = check_one(one, names, "field 'display' [" .. i .. "]")
    if problem then return problem end
  end
end

-- text with each {name} replaced by the parameter's value
local function fill(text, values)
  if not text then return nil end
  return (text:gsub("{([^}]*)}", function(name) return tostring(values[name] == nil and "" or values[name]) end))
end

function M.lets(specs, values, span, bounds)
  local lets, types = {}, {}
  for _, p in ipairs(specs or {}) do
    local v = values[p.name]
    if v ~= nil then
      lets[p.name], types[p.name] = v, KTYPE[p.type] or "string"
      if p.type == "timestamp" then lets[p.name] = require("ipe.timeutil").parse_time(v) end
    end
  end
  if span and lets.window == nil then lets.window, types.window = span, "timespan" end
  -- window_start, window_end: the run's window as datetimes (a query reading history before it)
  if bounds then
    if lets.window_start == nil then lets.window_start, types.window_start = bounds.from, "datetime" end
    if lets.window_end == nil then lets.window_end, types.window_end = bounds.to, "datetime" end
  end
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
  local lets, types = M.lets(meta.params, values, 86400,
    { from = "2026-01-01T00:00:00.000Z", to = "2026-01-02T00:00:00.000Z" })
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
  for _, one in ipairs(conn and plan.batch or {}) do
    local cok, msg = conn:compile(one.sql)
    if not cok then return { string.format("%s:%d: query: the compiled SQL: %s", path, first, tostring(msg)) } end
  end
  return {}
end

function M.run(script, path)
  return function(ctx, values)
    local w = ctx.window
    local lets, types = M.lets(script.params, values, w and w.span, w)
    local ok, plan = pcall(kql.compile, script.query, { now = ctx.now, lets = lets, types = types, engine = ctx.db.dialect,
      window = w and { from = w.from, to = w.to }, named_ranges = function() return ctx.db:has_named_ranges() end })
    if not ok then
      if kql.is_error(plan) then error(string.format("%squery:%d:%d: %s", path and path .. ": " or "", plan.line, plan.col, plan.msg), 0) end
      error(plan, 0)
    end
    local shown_values = setmetatable({ window_start = w and w.from, window_end = w and w.to }, { __index = values })
    for k, v in pairs(values) do shown_values[k] = v end
    local displays = script.display or {}
    if displays[1] == nil then displays = { displays } end
    local sections = {}
    for i, one in ipairs(plan.batch or { plan }) do
      local rows = ctx.db:query(one.sql, one.binds)
      local q = ctx.db.queries[#ctx.db.queries]
      if q and i == 1 then q.kql = script.query end
      kql.shape(rows, one.columns)
      local d = displays[i] or {}
      local shown = d.columns or {}
      local cols = {}
      for j, c in ipairs(one.columns) do cols[j] = { c.name, shown[c.name] or M.RENDER_TYPE[c.type] or "text" } end
      if #rows > 0 or not d.hide_empty then
        sections[#sections + 1] = result.table{ title = fill(d.title, shown_values) or one.name or script.title,
          note = fill(d.note, shown_values), columns = cols, rows = rows }
      end
    end
    return sections
  end
end

return M
