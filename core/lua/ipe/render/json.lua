-- ipe.render.json: an ordered, exact JSON encoder and the JSON shape of a run record.
--
-- Why not lua-cjson: its object key order changes from run to run, it rounds numbers to 14
-- significant digits (123456789012345 comes out as 1.2345678901234e+14, 2^53 as 9.007199254741e+15)
-- and it escapes "/".
--
--   json.encode(v [, {pretty=true}]) -> text (no trailing newline)
--     nil, cjson.null -> null; NaN and ±inf -> null
--     integral numbers below 2^63 in magnitude -> "%d" (exact: every double is an exact integer
--       there, so values up to 2^53 round-trip); others -> shortest of %.15g/%.16g/%.17g that
--       reads back as the same double
--     strings -> RFC 8259: \" \\ \b \f \n \r \t; other C0 controls, DEL, C1 controls,
--       U+2028/U+2029 and the bidi controls (see escape.is_bidi) as \uXXXX, so JSON printed on a
--       terminal is as safe as the text formats; "/" left alone; other valid UTF-8 passed
--       through; each invalid byte replaced by U+FFFD
--     json.object({ {"key", value}, ... }) -> object with keys in that order
--     json.array(list [, n])                -> array of list[1..n] (n defaults to #list), even
--       when empty; nil elements -> null
--     plain Lua tables: only string keys -> object with keys sorted; only positive integer keys
--       -> array (holes -> null); empty -> []. Wrap in json.object/json.array to be explicit.
--   json.record(record) / json.section(section) -> the value to encode (see the shapes below)
--
-- Errors (programming errors, raised with error(msg, 0)): "json: cannot encode a <type>",
-- "json: table has both list and string keys", "json: table key of type <type>",
-- "json: sparse list (<n> items, index <max>)", "json: nesting deeper than 100".
local M = {}

local sub, find, format, rep, concat = string.sub, string.find, string.format,
    string.rep, table.concat
local floor, huge = math.floor, math.huge

local escape = require "ipe.render.escape"

local has_cjson, cjson = pcall(require, "cjson")
local NULL = has_cjson and cjson.null or nil

-- is_null(v): SQL NULL / JSON null (cjson.null, a NULL lightuserdata).
local function is_null(v)
  return v ~= nil and (v == NULL or (type(v) == "userdata" and tostring(v) == "userdata: NULL"))
end
M.is_null = is_null
M.null = NULL

local Object, Array = {}, {}

-- object(list) -> ordered object; list is { {"key", value}, ... }.
function M.object(list)
  for i = 1, #list do
    if type(list[i][1]) ~= "string" then
      error(format("json: object key %d is a %s, not a string", i, type(list[i][1])), 0)
    end
  end
  return setmetatable({ list = list }, Object)
end

-- array(list [, n]) -> explicit array of list[1..n].
function M.array(list, n)
  return setmetatable({ list = list, n = n or #list }, Array)
end

-- number(x) -> JSON number text ("null" for NaN/inf).
function M.number(x)
  if x ~= x or x == huge or x == -huge then return "null" end
  if x == floor(x) and x >= -2 ^ 63 and x < 2 ^ 63 then return format("%d", x) end
  for digits = 15, 16 do
    local s = format("%." .. digits .. "g", x)
    if tonumber(s) == x then return s end
  end
  return format("%.17g", x)
end

local ESC = { [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r",
  [34] = '\\"', [92] = "\\\\" }

local function escape_char(s, i)
  local cp, len = escape.decode(s, i)
  if not cp then return "\239\191\189", 1 end
  if ESC[cp] then return ESC[cp], 1 end
  if cp < 0x20 or cp == 0x7F or (cp >= 0x80 and cp <= 0x9F) or cp == 0x2028 or cp == 0x2029
      or escape.is_bidi(cp) then
    return format("\\u%04x", cp), len
  end
  return sub(s, i, i + len - 1), len
end

-- string(s) -> quoted JSON string.
function M.string(s)
  if not find(s, '[%z\1-\31"\\\127-\255]') then return '"' .. s .. '"' end
  local out, n, i, len = { '"' }, 1, 1, #s
  while i <= len do
    local j = find(s, '[%z\1-\31"\\\127-\255]', i)
    if not j then n = n + 1; out[n] = sub(s, i); break end
    if j > i then n = n + 1; out[n] = sub(s, i, j - 1) end
    local piece, l = escape_char(s, j)
    n = n + 1; out[n] = piece
    i = j + l
  end
  out[n + 1] = '"'
  return concat(out)
end

-- plain_shape(t) -> "object", sorted keys | "array", length  (for tables not built by object/array)
local function plain_shape(t)
  local strs, count, maxi = {}, 0, 0
  for k in pairs(t) do
    local tk = type(k)
    if tk == "string" then
      strs[#strs + 1] = k
    elseif tk == "number" and k >= 1 and k == floor(k) then
      count = count + 1
      if k > maxi then maxi = k end
    else
      error("json: table key of type " .. tk, 0)
    end
  end
  if #strs > 0 and count > 0 then error("json: table has both list and string keys", 0) end
  if #strs > 0 then table.sort(strs); return "object", strs end
  if maxi > count * 2 + 16 then error(format("json: sparse list (%d items, index %d)", count, maxi), 0) end
  return "array", maxi
end

local put

local function put_list(buf, items, n, indent, depth)
  if n == 0 then buf[#buf + 1] = "[]"; return end
  buf[#buf + 1] = "["
  for i = 1, n do
    if i > 1 then buf[#buf + 1] = "," end
    if indent then buf[#buf + 1] = "\n" .. rep("  ", depth + 1) end
    put(buf, items[i], indent, depth + 1)
  end
  if indent then buf[#buf + 1] = "\n" .. rep("  ", depth) end
  buf[#buf + 1] = "]"
end

-- put_pairs(buf, keys, get, indent, depth): object members in the order of keys.
local function put_pairs(buf, keys, get, indent, depth)
  if #keys == 0 then buf[#buf + 1] = "{}"; return end
  buf[#buf + 1] = "{"
  for i = 1, #keys do
    if i > 1 then buf[#buf + 1] = "," end
    if indent then buf[#buf + 1] = "\n" .. rep("  ", depth + 1) end
    buf[#buf + 1] = M.string(keys[i])
    buf[#buf + 1] = indent and ": " or ":"
    put(buf, get(i, keys[i]), indent, depth + 1)
  end
  if indent then buf[#buf + 1] = "\n" .. rep("  ", depth) end
  buf[#buf + 1] = "}"
end

local function put_table(buf, t, indent, depth)
  local mt = getmetatable(t)
  if mt == Object then
    local keys = {}
    for i = 1, #t.list do keys[i] = t.list[i][1] end
    put_pairs(buf, keys, function(i) return t.list[i][2] end, indent, depth)
  elseif mt == Array then
    put_list(buf, t.list, t.n, indent, depth)
  else
    local shape, info = plain_shape(t)
    if shape == "object" then
      put_pairs(buf, info, function(_, k) return t[k] end, indent, depth)
    else
      put_list(buf, t, info, indent, depth)
    end
  end
end

put = function(buf, v, indent, depth)
  if depth > 100 then error("json: nesting deeper than 100", 0) end
  local tv = type(v)
  if v == nil or is_null(v) then buf[#buf + 1] = "null"
  elseif tv == "string" then buf[#buf + 1] = M.string(v)
  elseif tv == "number" then buf[#buf + 1] = M.number(v)
  elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
  elseif tv == "table" then put_table(buf, v, indent, depth)
  else error("json: cannot encode a " .. tv, 0) end
end

-- encode(v [, opts]) -> JSON text; opts.pretty -> 2-space indentation.
function M.encode(v, opts)
  local buf = {}
  put(buf, v, opts and opts.pretty and true or nil, 0)
  return concat(buf)
end

-- Shapes of a run record ------------------------------------------------------------------

local function list_of(t, f)
  local out = {}
  for i = 1, #(t or {}) do out[i] = f(t[i]) end
  return M.array(out)
end

-- values(list) -> array of the values as given (n = #list).
local function values(list) return M.array(list or {}, #(list or {})) end

-- named(list) -> {name: value, ...} in the list's order ({ {name=, value=}, ... }); an entry
-- without a name is keyed by its position.
local function named(list)
  local members = {}
  for i, p in ipairs(list or {}) do
    members[i] = { p.name ~= nil and tostring(p.name) or tostring(i), p.value }
  end
  return M.object(members)
end

local function section_head(sec)
  return { { "kind", sec.kind }, { "id", sec.id }, { "title", sec.title }, { "note", sec.note } }
end

local function with(head, more)
  for _, m in ipairs(more) do head[#head + 1] = m end
  return M.object(head)
end

local SHAPES = {
  table = function(sec)
    return {
      { "columns", list_of(sec.columns, function(c)
        return M.object({ { "name", c.name }, { "type", c.type or "text" } })
      end) },
      { "rows", list_of(sec.rows, values) },
    }
  end,
  kv = function(sec)
    return { { "items", list_of(sec.items, function(it)
      return M.object({ { "key", it.key }, { "value", it.value }, { "type", it.type or "text" } })
    end) } }
  end,
  chart = function(sec)
    return {
      { "chart", sec.chart }, { "bucket", sec.bucket }, { "unit", sec.unit }, { "max", sec.max },
      { "labels", values(sec.labels) },
      { "series", list_of(sec.series, function(s)
        return M.object({ { "name", s.name }, { "values", values(s.values) } })
      end) },
    }
  end,
}

-- section(sec) -> ordered value: kind, id, title, note, then
--   table: columns [{name, type}], rows [[...]]; kv: items [{key, value, type}];
--   chart: chart, bucket, unit, max, labels [...], series [{name, values [...]}].
-- Absent id/title/note/bucket/unit/max are null, so every section of a kind has the same keys.
function M.section(sec)
  return with(section_head(sec), SHAPES[sec.kind](sec))
end

-- record(r) -> ordered value: script, kind, title, params {name: value}, window {from, to} | null,
-- status, message, sections [...], queries [{sql, params {name: value}}], timing {ms}.
function M.record(r)
  local window = r.window and M.object({ { "from", r.window.from }, { "to", r.window.to } })
  local timing = r.timing and M.object({ { "ms", r.timing.ms } })
  return M.object({
    { "script", r.script }, { "kind", r.kind }, { "title", r.title },
    { "params", named(r.params) }, { "window", window },
    { "status", r.status or "ok" }, { "message", r.message },
    { "sections", list_of(r.sections, M.section) },
    { "queries", list_of(r.queries, function(q)
      return M.object({ { "sql", q.sql }, { "params", named(q.params) } })
    end) },
    { "timing", timing },
  })
end

return M
