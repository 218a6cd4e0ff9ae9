-- ipe.page.filter: the filters of the page's incidents tables: --where, --columns, --sort.
--
--   filter.parse_where(list), filter.parse_columns(text), filter.parse_sort(text) -> filter specs
--   filter.filter(record, {where=, columns=, sort=}) -> the page record with the incidents tables
--       filtered, sorted and cut (in place; notes say what was done)
--
-- Errors a user can trigger are raised as usage errors (ipe.errors, exit 2) with one line
-- naming the option, e.g. "--sort: direction must be asc or desc, got 'up'".
local errors = require "ipe.errors"

local M = {}

-- {"severity=High,Medium", "status=New"} -> { {column="severity", values={"High","Medium"}}, ... }
function M.parse_where(list)
  local out = {}
  for _, w in ipairs(list or {}) do
    local col, vals = w:match("^%s*([%w_]+)%s*=(.*)$")
    if not col then errors.usage("--where: expected column=value[,value...], got '%s'", w) end
    local values = {}
    for v in vals:gmatch("[^,]+") do
      v = v:match("^%s*(.-)%s*$")
      if v ~= "" then values[#values + 1] = v end
    end
    if #values == 0 then errors.usage("--where: no value given for '%s'", col) end
    out[#out + 1] = { column = col, values = values }
  end
  return out
end

function M.parse_columns(text)
  if text == nil then return nil end
  local out = {}
  for c in text:gmatch("[^,]+") do
    c = c:match("^%s*(.-)%s*$")
    if c ~= "" then out[#out + 1] = c end
  end
  if #out == 0 then errors.usage("--columns: no column named in '%s'", text) end
  return out
end

-- "LastActivity", "-LastActivity", "LastActivity:desc", "Severity:asc"
function M.parse_sort(text)
  if text == nil then return nil end
  local desc = false
  local col, dir = text:match("^%s*([%w_]+)%s*:%s*(%a+)%s*$")
  if col then
    dir = dir:lower()
    if dir ~= "asc" and dir ~= "desc" then errors.usage("--sort: direction must be asc or desc, got '%s'", dir) end
    desc = dir == "desc"
  else
    local minus
    minus, col = text:match("^%s*(%-?)([%w_]+)%s*$")
    if not col then errors.usage("--sort: expected column[:asc|desc], got '%s'", text) end
    desc = minus == "-"
  end
  return { column = col, desc = desc }
end

local SEVERITY_RANK = { high = 1, medium = 2, low = 3, informational = 4, info = 4 }

local function find_column(sec, name)
  for i, c in ipairs(sec.columns) do
    if c.name:lower() == name:lower() then return i end
  end
end

local function cell_text(v)
  if type(v) == "number" then
    return v == math.floor(v) and string.format("%d", v) or string.format("%.17g", v)
  end
  if type(v) ~= "string" then return nil end
  return v:lower()
end

local function sort_key(v, severity)
  if type(v) == "number" then return 1, v end
  if type(v) == "string" then
    if severity and SEVERITY_RANK[v:lower()] then return 1, SEVERITY_RANK[v:lower()] end
    return 2, v
  end
  return 3, 0   -- NULL last
end

local function apply(sec, f)
  local notes = {}
  local total = #sec.rows
  for _, w in ipairs(f.where or {}) do
    local i = find_column(sec, w.column)
    local set = {}
    for _, v in ipairs(w.values) do set[v:lower()] = true end
    local kept = {}
    for _, row in ipairs(sec.rows) do
      local t = cell_text(row[i])
      if t and set[t] then kept[#kept + 1] = row end
    end
    sec.rows = kept
    notes[#notes + 1] = sec.columns[i].name .. " = " .. table.concat(w.values, " or ")
  end
  local parts = {}
  if #notes > 0 then parts[1] = string.format("%d of %d rows where %s", #sec.rows, total, table.concat(notes, " and ")) end
  if f.sort then
    local i = find_column(sec, f.sort.column)
    local severity = sec.columns[i].name:lower():find("severity", 1, true) ~= nil
    for n, row in ipairs(sec.rows) do row._n = n end
    table.sort(sec.rows, function(a, b)
      local ga, ka = sort_key(a[i], severity)
      local gb, kb = sort_key(b[i], severity)
      if ga ~= gb then return ga < gb end   -- values before NULLs in either direction
      if ka ~= kb then
        if f.sort.desc then return ka > kb end
        return ka < kb
      end
      return a._n < b._n
    end)
    for _, row in ipairs(sec.rows) do row._n = nil end
    parts[#parts + 1] = "sorted by " .. sec.columns[i].name .. (f.sort.desc and " (descending)" or "")
  end
  if f.columns then
    local idx, cols = {}, {}
    for k, name in ipairs(f.columns) do
      idx[k] = find_column(sec, name)
      cols[k] = sec.columns[idx[k]]
    end
    local rows = {}
    for r, row in ipairs(sec.rows) do
      local out = {}
      for k, i in ipairs(idx) do out[k] = row[i] end
      rows[r] = out
    end
    sec.columns, sec.rows = cols, rows
  end
  if #parts > 0 then
    local note = table.concat(parts, "; ")
    sec.note = sec.note and (sec.note .. " — " .. note) or note
  end
end

local function named(f)
  local names = {}
  for _, w in ipairs(f.where or {}) do names[#names + 1] = { "--where", w.column } end
  for _, c in ipairs(f.columns or {}) do names[#names + 1] = { "--columns", c } end
  if f.sort then names[#names + 1] = { "--sort", f.sort.column } end
  return names
end

local function has_all(sec, f)
  for _, n in ipairs(named(f)) do if not find_column(sec, n[2]) then return false, n end end
  return true
end

-- filter(record, f): f = {where=, columns=, sort=}; applies to every table of the incidents
-- group that has all the named columns. A column no incidents table has is a usage error.
function M.filter(record, f)
  if not f or (not f.where or #f.where == 0) and not f.columns and not f.sort then return record end
  local tables, ran = {}, false
  for _, p in ipairs(record.panels) do
    if p.group == "incidents" then
      ran = true
      for _, s in ipairs(p.record.sections or {}) do if s.kind == "table" then tables[#tables + 1] = s end end
    end
  end
  if not ran then
    errors.usage("%s applies to the incidents and alerts section, which is not on this page",
      named(f)[1][1])
  end
  local applied, missing = 0, nil
  for _, s in ipairs(tables) do
    local ok, miss = has_all(s, f)
    if ok then apply(s, f); applied = applied + 1 else missing = missing or { miss, s } end
  end
  if applied == 0 and missing then
    local cols = {}
    for _, c in ipairs(missing[2].columns) do cols[#cols + 1] = c.name end
    errors.usage("%s: the incidents table has no column '%s' (columns: %s)", missing[1][1], missing[1][2],
      table.concat(cols, ", "))
  end
  return record
end

return M
