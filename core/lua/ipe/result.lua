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

-- result.table{title=, columns={ {"Host","text"} | {name=,type=} | "Host" ...}, rows={ {...} }, note=}
function M.table(t)
  local cols = {}
  for i, c in ipairs(t.columns or {}) do cols[i] = column(c) end
  return { kind = "table", id = t.id, title = t.title, note = t.note, columns = cols, rows = t.rows or {} }
end

-- result.kv{title=, items={ {"Country", "SE"} | {key=, value=, type=} ... }}
function M.kv(t)
  local items = {}
  for i, it in ipairs(t.items or {}) do
    if it.key ~= nil then items[i] = { key = it.key, value = it.value, type = it.type or "text" }
    else items[i] = { key = it[1], value = it[2], type = it[3] or "text" } end
    if items[i].value == nil then items[i].value = null end
  end
  return { kind = "kv", id = t.id, title = t.title, note = t.note, items = items }
end

-- result.chart{chart="bar"|"time", title=, labels={...}, series={ {name=, values={...}} }, bucket=, unit=}
function M.chart(t)
  return { kind = "chart", id = t.id, chart = t.chart or "bar", title = t.title, note = t.note,
           labels = t.labels or {}, series = t.series or {}, bucket = t.bucket, unit = t.unit }
end

function M.output(t)
  return { _output = true, status = t.status, message = t.message, sections = t.sections or {} }
end

-- rows from ctx.db:query plus a {column = type} map -> a table section.
function M.from_query(rows, cols, types, title)
  local columns = {}
  for i, c in ipairs(cols) do columns[i] = { name = c, type = (types and types[c]) or "text" } end
  return M.table{ title = title, columns = columns, rows = rows }
end

local CELL = { string = true, number = true, boolean = true }

local function check_table(s, where)
  if type(s.columns) ~= "table" or #s.columns == 0 then return where .. ": a table needs columns" end
  for i, c in ipairs(s.columns) do
    if type(c.name) ~= "string" then return where .. ": column " .. i .. " has no name" end
    if not M.COLUMN_TYPES[c.type] then return where .. ": column '" .. c.name .. "' has unknown type '" .. tostring(c.type) .. "'" end
  end
  if type(s.rows) ~= "table" then return where .. ": rows must be a list" end
  local n = #s.columns
  for r, row in ipairs(s.rows) do
    if type(row) ~= "table" then return string.format("%s: row %d is not a list", where, r) end
    for i = 1, n do
      local v = row[i]
      if v == nil then row[i] = null
      elseif not (CELL[type(v)] or v == null) then
        return string.format("%s: row %d column '%s' holds a %s", where, r, s.columns[i].name, type(v))
      end
    end
    if #row > n then return string.format("%s: row %d has %d cells for %d columns", where, r, #row, n) end
  end
end

local function check_chart(s, where)
  if s.chart ~= "bar" and s.chart ~= "time" then return where .. ": chart must be 'bar' or 'time'" end
  if s.unit ~= nil and s.unit ~= "count" and s.unit ~= "bytes" then return where .. ": unit must be 'count' or 'bytes'" end
  if s.bucket ~= nil and s.bucket ~= "minute" and s.bucket ~= "hour" and s.bucket ~= "day" then
    return where .. ": bucket must be 'minute', 'hour' or 'day'"
  end
  for _, ser in ipairs(s.series) do
    if type(ser.values) ~= "table" or #ser.values ~= #s.labels then
      return where .. ": series '" .. tostring(ser.name) .. "' needs one value per label"
    end
    for i, v in ipairs(ser.values) do
      if type(v) ~= "number" then return string.format("%s: series '%s' value %d is not a number", where, tostring(ser.name), i) end
    end
  end
end

local function check_section(s, i)
  local where = "section " .. i
  if type(s) ~= "table" then return where .. " is not a table" end
  if s.kind == "table" then return check_table(s, where)
  elseif s.kind == "chart" then return check_chart(s, where)
  elseif s.kind == "kv" then
    if type(s.items) ~= "table" then return where .. ": kv needs items" end
  else
    return where .. ": unknown kind '" .. tostring(s.kind) .. "' (table, kv or chart)"
  end
end

local function is_empty(s)
  if s.kind == "table" then return #s.rows == 0 end
  if s.kind == "chart" then
    for _, ser in ipairs(s.series) do for _, v in ipairs(ser.values) do if v ~= 0 then return false end end end
    return true
  end
  return #s.items == 0
end

-- normalize(value returned by run) -> {status=, message=, sections=} | nil, problem
function M.normalize(ret)
  if type(ret) ~= "table" then return nil, "run() returned " .. type(ret) .. ", not sections" end
  local out
  if ret._output then out = { status = ret.status, message = ret.message, sections = ret.sections }
  elseif ret.kind then out = { sections = { ret } }
  else out = { sections = ret } end
  for i, s in ipairs(out.sections) do
    local problem = check_section(s, i)
    if problem then return nil, problem end
  end
  if out.status ~= nil and not M.STATUSES[out.status] then return nil, "unknown status '" .. tostring(out.status) .. "'" end
  if not out.status then
    out.status = "empty"
    for _, s in ipairs(out.sections) do if not is_empty(s) then out.status = "ok" break end end
  end
  return out
end

return M
