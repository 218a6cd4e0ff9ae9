-- ipe.ingest.jsonscan: a fast JSON object reader for ingest, built for JSON lines.
--
-- parse_object(s, pos, put) reads one JSON object starting at byte pos (white
-- space first is fine) and calls put(key, value, kind) for each member, in the
-- order written, without building a table:
--   kind nil      value is a Lua string, boolean or cjson.null
--   kind NUMBER   value is the number exactly as written ("443", "-9223372036854775808", "1.5e3"),
--                 so big integers keep every digit
--   kind RAW      value is the JSON text of a nested object or array, as written
--                 (validated with cjson, whitespace kept; `[]` stays `[]`)
-- It returns the position just after the object, or nil, message, position.
-- The reader is lenient where that costs nothing (a raw tab inside a string,
-- leading zeros in a number); everything else that is not JSON is an error.
--
-- Also: skip_value (the end of any JSON value), array_elements (walk a top-level
-- array without decoding it), minify (drop insignificant white space), and
-- explain (a one-line reason for text that cjson rejects).
--
-- Pure Lua (cjson for string escapes and nested validation). Errors are
-- returned as nil, msg; nothing is raised for any input.
local cjson = require "cjson"
local cjson_safe = require "cjson.safe"
local ffi = require "ffi"

ffi.cdef [[int memcmp(const void *s1, const void *s2, size_t n);]]
local C = ffi.C
local charp = ffi.typeof("const char *")

local byte, sub, find = string.byte, string.sub, string.find
local safe_decode = cjson_safe.decode

local M = {}

M.NUMBER, M.RAW = 1, 2
local NUMBER, RAW = M.NUMBER, M.RAW
local NULL = cjson.null
local NO_BACKSLASH = 2 ^ 52

-- ws(s, p): position of the first non-blank byte at or after p
local function ws(s, p)
  local c = byte(s, p)
  while c == 32 or c == 9 or c == 10 or c == 13 do p = p + 1; c = byte(s, p) end
  return p, c
end
M.ws = ws

-- string_end(s, p): p is an opening quote; position of the closing quote or nil
local function string_end(s, p)
  local q = p + 1
  while true do
    local e = find(s, '"', q, true)
    if not e then return nil end
    local n, k = 0, e - 1
    while byte(s, k) == 92 do n = n + 1; k = k - 1 end
    if n % 2 == 0 then return e end
    q = e + 1
  end
end

-- nested_end(s, p): p is "{" or "["; position of the matching closer or nil
local function nested_end(s, p)
  local depth, q = 0, p
  while true do
    local i = find(s, '[%[%]{}"]', q)
    if not i then return nil end
    local c = byte(s, i)
    if c == 34 then
      local e = string_end(s, i)
      if not e then return nil end
      q = e + 1
    else
      if c == 123 or c == 91 then depth = depth + 1 else depth = depth - 1 end
      if depth == 0 then return i end
      q = i + 1
    end
  end
end

local function number_end(s, p)
  local c = byte(s, p)
  while c and ((c >= 48 and c <= 57) or c == 46 or c == 101 or c == 69 or c == 43 or c == 45) do
    p = p + 1
    c = byte(s, p)
  end
  return p
end

-- skip_value(s, p) -> position just after the JSON value starting at p (after
-- blanks), or nil, msg, position. Nested values are matched, not validated.
function M.skip_value(s, p)
  local c
  p, c = ws(s, p)
  if c == 34 then
    local e = string_end(s, p)
    if not e then return nil, "a string is not closed", p end
    return e + 1
  elseif c == 123 or c == 91 then
    local e = nested_end(s, p)
    if not e then return nil, "the document ends before it is complete", p end
    return e + 1
  elseif c == nil then
    return nil, "a value is missing", p
  end
  local e = number_end(s, p)
  if e > p then return e end
  for _, lit in ipairs({ "true", "false", "null" }) do
    if sub(s, p, p + #lit - 1) == lit then return p + #lit end
  end
  return nil, "unexpected character '" .. sub(s, p, p) .. "'", p
end

-- parse_object(s, p, put [, keys]) -> position after the object | nil, msg, position
-- keys: a table the caller keeps between records of the same shape; member names
-- equal to the previous record's at the same place are then not copied again.
function M.parse_object(s, p, put, keys)
  local c
  local sp = keys and ffi.cast(charp, s)
  local idx = 0
  p, c = ws(s, p or 1)
  if c ~= 123 then
    if c == nil then return nil, "the record is empty", p end
    return nil, "a record must be a JSON object", p
  end
  local bs = find(s, "\\", p, true) or NO_BACKSLASH
  p, c = ws(s, p + 1)
  if c == 125 then return p + 1 end
  while true do
    if c ~= 34 then
      if c == nil then return nil, "the record ends before it is complete", p end
      return nil, "a member name must be a string", p
    end
    local ke = find(s, '"', p + 1, true)
    if not ke then return nil, "the record ends before it is complete", p end
    local key
    if ke > bs then
      ke = string_end(s, p)
      if not ke then return nil, "the record ends before it is complete", p end
      key = safe_decode(sub(s, p, ke))
      if type(key) ~= "string" then return nil, "a member name has an invalid escape", p end
      bs = find(s, "\\", ke + 1, true) or NO_BACKSLASH
    else
      idx = idx + 1
      local last = keys and keys[idx]
      if last and #last == ke - p - 1 and C.memcmp(sp + p, last, ke - p - 1) == 0 then
        key = last
      else
        key = sub(s, p + 1, ke - 1)
        if keys then keys[idx] = key end
      end
    end
    p, c = ws(s, ke + 1)
    if c ~= 58 then
      if c == nil then return nil, "the record ends before it is complete", p end
      return nil, "a ':' is missing after member \"" .. key .. "\"", p
    end
    p, c = ws(s, p + 1)
    if c == nil then return nil, "the record ends before it is complete", p end
    if c == 34 then
      local ve = find(s, '"', p + 1, true)
      if not ve then return nil, "the record ends before it is complete", p end
      if ve > bs then
        ve = string_end(s, p)
        if not ve then return nil, "the record ends before it is complete", p end
        local v = safe_decode(sub(s, p, ve))
        if type(v) ~= "string" then return nil, "member \"" .. key .. "\" has an invalid escape", p end
        put(key, v)
        bs = find(s, "\\", ve + 1, true) or NO_BACKSLASH
      else
        put(key, sub(s, p + 1, ve - 1))
      end
      p = ve + 1
    elseif (c >= 48 and c <= 57) or c == 45 then
      local e = number_end(s, p + 1)
      local text = sub(s, p, e - 1)
      if not tonumber(text) then return nil, "member \"" .. key .. "\" has an invalid number", p end
      put(key, text, NUMBER)
      p = e
    elseif c == 123 or c == 91 then
      local e = nested_end(s, p)
      if not e then return nil, "the record ends before it is complete", p end
      local text = sub(s, p, e)
      if safe_decode(text) == nil then
        local why = M.explain(text)
        if why and find(why, "^arrays and objects are nested") then
          return nil, "member \"" .. key .. "\" is not valid JSON: " .. why:gsub(" %(character %d+%)$", ""), p
        end
        return nil, "member \"" .. key .. "\" is not valid JSON", p
      end
      put(key, text, RAW)
      p = e + 1
      if bs < p then bs = find(s, "\\", p, true) or NO_BACKSLASH end
    elseif c == 116 and sub(s, p, p + 3) == "true" then put(key, true); p = p + 4
    elseif c == 102 and sub(s, p, p + 4) == "false" then put(key, false); p = p + 5
    elseif c == 110 and sub(s, p, p + 3) == "null" then put(key, NULL); p = p + 4
    else return nil, "member \"" .. key .. "\" has an invalid value", p end
    p, c = ws(s, p)
    if c == 125 then return p + 1 end
    if c ~= 44 then
      if c == nil then return nil, "the record ends before it is complete", p end
      return nil, "a ',' or '}' is missing after member \"" .. key .. "\"", p
    end
    p, c = ws(s, p + 1)
  end
end

-- object_to_table(s, p) -> { key = value }, { key = kind }, end position | nil, msg, position
function M.object_to_table(s, p)
  local rec, kinds = {}, {}
  local e, err, at = M.parse_object(s, p, function(k, v, kind) rec[k] = v; kinds[k] = kind end)
  if not e then return nil, err, at end
  return rec, kinds, e
end

-- value(v, kind) -> the Lua value of a member as cjson would give it
function M.value(v, kind)
  if kind == NUMBER then return tonumber(v) end
  if kind == RAW then return cjson.decode(v) end
  return v
end

-- array_elements(s, p) -> iterator of (start, stop) byte spans of the elements
-- of the array starting at p. On malformed input the iterator returns
-- false, msg, position once.
function M.array_elements(s, p)
  local c
  p, c = ws(s, p or 1)
  local state = "first"
  if c ~= 91 then state = "bad" end
  return function()
    if state == "done" then return nil end
    if state == "bad" then
      state = "done"
      return false, "a JSON array is expected", p
    end
    local c2
    p, c2 = ws(s, p + (state == "first" and 1 or 0))
    if state == "first" and c2 == 93 then state = "done" return nil end
    if state ~= "first" then
      if c2 == 93 then state = "done" return nil end
      if c2 ~= 44 then
        state = "done"
        if c2 == nil then return false, "the document ends before it is complete", p end
        return false, "a ',' or ']' is missing between array elements", p
      end
      p = ws(s, p + 1)
    end
    state = "next"
    local e, err, at = M.skip_value(s, p)
    if not e then state = "done" return false, err, at end
    local start = p
    p = e
    return start, e - 1
  end
end

-- trailing(s, p) -> true when only white space follows position p
function M.trailing(s, p)
  local _, c = ws(s, p)
  return c == nil
end

-- minify(text) -> the JSON text without insignificant white space
function M.minify(text)
  if not find(text, "[\t\n\r ]") then return text end
  local out, n, p = {}, 0, 1
  while true do
    local i = find(text, '[\t\n\r "]', p)
    if not i then n = n + 1; out[n] = sub(text, p); break end
    if i > p then n = n + 1; out[n] = sub(text, p, i - 1) end
    if byte(text, i) == 34 then
      local e = string_end(text, i) or #text
      n = n + 1; out[n] = sub(text, i, e)
      p = e + 1
    else
      p = i + 1
    end
  end
  return table.concat(out)
end

-- line_of(s, pos) -> the 1-based line number of byte pos
function M.line_of(s, pos)
  local line, p = 1, 1
  while true do
    local i = find(s, "\n", p, true)
    if not i or i >= pos then return line end
    line = line + 1
    p = i + 1
  end
end

-- explain(text) -> one line: why cjson rejects text (nil when it is valid JSON),
-- and the byte position it names (nil when it names none)
function M.explain(text)
  local v, err = safe_decode(text)
  if v ~= nil then return nil end
  err = tostring(err)
  if err:find("T_END", 1, true) then return "the document ends before it is complete", #text end
  local what, found, at = err:match("^Expected (.-) but found (.-) at character (%d+)")
  if what then
    return "expected " .. what .. " but found " .. found:gsub("^T_", ""):lower() .. " at character " .. at, tonumber(at)
  end
  local depth, at2 = err:match("^Found too many nested data structures %((%d+)%) at character (%d+)")
  if depth then
    return "arrays and objects are nested more than " .. (tonumber(depth) - 1) .. " deep (character " .. at2 .. ")",
      tonumber(at2)
  end
  return (err:gsub("^Expected", "expected"))
end

return M
