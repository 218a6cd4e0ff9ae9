-- ipe.result: what a script's run() returns — data, never preformatted text.
--
-- Sections: result.table{...}, result.kv{...}, result.chart{...}; run() returns
-- one section, a list of them, or result.output{status=, message=, sections=}.
-- normalize() (used by the runtime) checks the shape and derives the status:
-- "ok", or "empty" when every table and chart is empty.
local null = require("cjson").null

local M = {}

M.null = null
M.COLUMN_TYPES = { text = true, ip = true, time = true, count = true, number = true, bytes = true,
                   bool = true, json = true }
M.STATUSES = { ok = true, empty = true, error = true, skipped = true }

local function column(c)
  if type(c) == "string" then return { name = c, type = "text" } end
  if type(c) == "table" and c.name then return { name = c.name, type = c.type or "text" } end
  if type(c) == "table" then return { name = c[1], type = c[2] or "text" } end
  return c
end

-- Where each section was built ("insights/x.lua:12"), for the messages of normalize():
-- a weak table the constructors fill with their caller's position. It is an upvalue,
-- not a field, so a script's copy of this module shares it and cannot reach it.
local origin = setmetatable({}, { __mode = "k" })
local getinfo = debug and debug.getinfo

local function built(section)
  for level = 2, getinfo and 12 or 0 do
    local info = getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    if info.currentline and info.currentline > 0 and src:sub(1, 1) == "@" and src:sub(1, 5) ~= "@ipe/" then
      origin[section] = src:sub(2) .. ":" .. info.currentline
      break
    end
  end
  return section
end

local function opts(t, what)
  if type(t) ~= "table" then
    error(string.format("result.%s expects a table {...}, got %s", what, type(t) == "nil" and "nothing" or "a " .. type(t)), 3)
  end
  return t
end

-- result.table{title=, columns={ {"Host","text"} | {name=,type=} | "Host" ...}, rows={ {...} }, note=}
function M.table(t)
  opts(t, "table")
  local cols = {}
  for i, c in ipairs(type(t.columns) == "table" and t.columns or {}) do cols[i] = column(c) end
  if type(t.columns) ~= "table" and t.columns ~= nil then cols = t.columns end
  return built({ kind = "table", id = t.id, title = t.title, note = t.note, columns = cols, rows = t.rows or {} })
end

-- result.kv{title=, items={ {"Country", "SE"} | {key=, value=, type=} ... }}
function M.kv(t)
  opts(t, "kv")
  local items = {}
  if type(t.items) == "table" then
    for i, it in ipairs(t.items) do
      if type(it) ~= "table" then items[i] = it
      elseif it.key ~= nil then items[i] = { key = it.key, value = it.value, type = it.type or "text" }
      else items[i] = { key = it[1], value = it[2], type = it[3] or "text" } end
      if type(it) == "table" and items[i].value == nil then items[i].value = null end
    end
  elseif t.items ~= nil then
    items = t.items
  end
  return built({ kind = "kv", id = t.id, title = t.title, note = t.note, items = items })
end

-- result.chart{chart="bar"|"time", title=, labels={...}, series={ {name=, values={...}} },
--   bucket=, unit=, max=}   (max: a fixed top of the scale, e.g. 100 for percentages)
function M.chart(t)
  opts(t, "chart")
  return built({ kind = "chart", id = t.id, chart = t.chart or "bar", title = t.title, note = t.note,
                 labels = t.labels or {}, series = t.series or {}, bucket = t.bucket, unit = t.unit, max = t.max })
end

function M.output(t)
  opts(t, "output")
  return { _output = true, status = t.status, message = t.message, sections = t.sections or {} }
end

-- rows from ctx.db:query plus a {column = type} map -> a table section.
function M.from_query(rows, cols, types, title)
  local columns = {}
  for i, c in ipairs(type(cols) == "table" and cols or {}) do columns[i] = { name = c, type = (types and types[c]) or "text" } end
  return built({ kind = "table", title = title, columns = columns, rows = rows or {} })
end

local CELL = { string = true, number = true, boolean = true }
local TYPE_LIST = "text, ip, time, count, number, bytes, bool or json"

local function a(v)
  if v == nil then return "nothing" end
  if v == null then return "null" end
  return "a " .. type(v)
end

local function is_list(v) return type(v) == "table" end

local function check_table(s)
  if not is_list(s.columns) or #s.columns == 0 then
    return "columns must be a non-empty list of {name, type} (or names), got " .. (is_list(s.columns) and "an empty list" or a(s.columns))
  end
  for i, c in ipairs(s.columns) do
    if type(c) ~= "table" or type(c.name) ~= "string" then return "column " .. i .. " has no name (want {\"Name\", \"type\"})" end
    if not M.COLUMN_TYPES[c.type] then
      return string.format("column '%s' has unknown type '%s' (use %s)", c.name, tostring(c.type), TYPE_LIST)
    end
  end
  if not is_list(s.rows) then return "rows must be a list of rows, got " .. a(s.rows) end
  local n = #s.columns
  for r, row in ipairs(s.rows) do
    if type(row) ~= "table" then return string.format("row %d must be a list of %d cells, got %s", r, n, a(row)) end
    for i = 1, n do
      local v = row[i]
      if v == nil then
        return string.format("row %d has no value for column %d '%s' (%d columns; use result.null for an empty cell)",
          r, i, s.columns[i].name, n)
      elseif not (CELL[type(v)] or v == null) then
        return string.format("row %d column '%s' holds %s (want a string, number, boolean or result.null)", r, s.columns[i].name, a(v))
      end
    end
    if #row > n then return string.format("row %d has %d cells for %d columns", r, #row, n) end
  end
end

local function check_kv(s)
  if not is_list(s.items) then return "items must be a list of {key, value [, type]}, got " .. a(s.items) end
  for i, it in ipairs(s.items) do
    if type(it) ~= "table" then return string.format("item %d must be {key, value [, type]}, got %s", i, a(it)) end
    if type(it.key) ~= "string" and type(it.key) ~= "number" then return string.format("item %d has no key (want {\"Key\", value})", i) end
    if not M.COLUMN_TYPES[it.type] then
      return string.format("item '%s' has unknown type '%s' (use %s)", tostring(it.key), tostring(it.type), TYPE_LIST)
    end
    if not (CELL[type(it.value)] or it.value == null or (it.type == "json" and type(it.value) == "table")) then
      return string.format("item '%s' holds %s (want a string, number, boolean or result.null)", tostring(it.key), a(it.value))
    end
  end
end

local SERIES_SHAPE = "{ {name = \"...\", values = {one number per label}}, ... }"

local function check_chart(s)
  if s.chart ~= "bar" and s.chart ~= "time" then return "chart must be 'bar' or 'time', got '" .. tostring(s.chart) .. "'" end
  if s.unit ~= nil and s.unit ~= "count" and s.unit ~= "bytes" then return "unit must be 'count' or 'bytes'" end
  if s.bucket ~= nil and s.bucket ~= "minute" and s.bucket ~= "hour" and s.bucket ~= "day" then
    return "bucket must be 'minute', 'hour' or 'day'"
  end
  if s.max ~= nil and (type(s.max) ~= "number" or not (s.max > 0) or s.max == math.huge) then
    return "max must be a positive number (the top of the scale), got " .. tostring(s.max)
  end
  if not is_list(s.labels) then return "labels must be a list, got " .. a(s.labels) end
  for i, l in ipairs(s.labels) do
    if type(l) ~= "string" and type(l) ~= "number" then return string.format("label %d is %s (want a string or number)", i, a(l)) end
  end
  if not is_list(s.series) or (s.series.values ~= nil and s.series[1] == nil) then
    return "series must be a list of series " .. SERIES_SHAPE .. ", got "
      .. (is_list(s.series) and "one series (wrap it in a list)" or a(s.series))
  end
  for k, ser in ipairs(s.series) do
    if type(ser) ~= "table" then
      return string.format("series %d must be {name = \"...\", values = {...}}, got %s (series is %s)", k, a(ser), SERIES_SHAPE)
    end
    local name = ser.name ~= nil and "'" .. tostring(ser.name) .. "'" or tostring(k)
    if not is_list(ser.values) then
      return string.format("series %s has no values list (want values = {one number per label})", name)
    end
    if #ser.values ~= #s.labels then
      return string.format("series %s has %d values for %d labels", name, #ser.values, #s.labels)
    end
    for i = 1, #s.labels do
      if type(ser.values[i]) ~= "number" then
        return string.format("series %s value %d is %s (want a number)", name, i, a(ser.values[i]))
      end
    end
  end
end

local CHECKS = { table = check_table, kv = check_kv, chart = check_chart }

local function describe(s, i)
  local d = "section " .. i
  if type(s) == "table" and CHECKS[s.kind] then
    d = d .. " (" .. s.kind .. (type(s.title) == "string" and " \"" .. s.title .. "\"" or "") .. ")"
  end
  return d
end

local function check_section(s, i)
  if type(s) ~= "table" then return describe(s, i) .. " is " .. a(s) .. ", not a section (result.table, kv or chart)" end
  local check = CHECKS[s.kind]
  if not check then return describe(s, i) .. ": unknown kind '" .. tostring(s.kind) .. "' (table, kv or chart)" end
  local problem
  for _, f in ipairs({ "id", "title", "note" }) do
    if s[f] ~= nil and type(s[f]) ~= "string" then problem = f .. " must be a string, got " .. a(s[f]) break end
  end
  problem = problem or check(s)
  if problem then return describe(s, i) .. ": " .. problem, origin[s] end
end

local function is_empty(s)
  if s.kind == "table" then return #s.rows == 0 end
  if s.kind == "chart" then
    for _, ser in ipairs(s.series) do for _, v in ipairs(ser.values) do if v ~= 0 then return false end end end
    return true
  end
  return #s.items == 0
end

-- normalize(value returned by run) -> {status=, message=, sections=} | nil, problem, where.
-- Never raises; the problem names the section and what was expected, where is the
-- "file:line" of the script code that built that section (when a constructor did).
function M.normalize(ret)
  if type(ret) ~= "table" then
    return nil, "run() returned " .. a(ret) .. "; return a section (result.table, kv or chart), a list of them or result.output{...}"
  end
  local out
  if ret._output then out = { status = ret.status, message = ret.message, sections = ret.sections }
  elseif ret.kind then out = { sections = { ret } }
  else out = { sections = ret } end
  if not is_list(out.sections) then return nil, "result.output: sections must be a list, got " .. a(out.sections) end
  if out.message ~= nil and type(out.message) ~= "string" then return nil, "result.output: message must be a string, got " .. a(out.message) end
  for i, s in ipairs(out.sections) do
    local problem, where = check_section(s, i)
    if problem then return nil, problem, where end
  end
  if out.status ~= nil and not M.STATUSES[out.status] then
    return nil, "unknown status '" .. tostring(out.status) .. "' (use ok, empty, error or skipped)"
  end
  if not out.status then
    out.status = "empty"
    for _, s in ipairs(out.sections) do if not is_empty(s) then out.status = "ok" break end end
  end
  return out
end

return M
