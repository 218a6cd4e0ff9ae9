-- ipe.dialect.clickhouse: bound values for ClickHouse, which (18.16, what Debian 12
-- packages) has no server-side query parameters.
--
-- The one audited place where a value becomes SQL text is quote(s): a string
-- literal in single quotes in which the quote and the backslash are escaped with a
-- backslash and every other byte below 0x20 (NUL, newline, ...) and 0x7F is written
-- as \xHH; bytes from 0x80 up (UTF-8) go through unchanged. ClickHouse reads such a
-- literal back byte for byte, in 18.16 as in current releases.
--
--   quote(s)              -> "'...'"
--   literal(v)            -> SQL text of one value, by its Lua type:
--       nil / cjson.null -> NULL; true / false -> 1 / 0; a whole number -> digits
--       (integers beyond 2^53 as LuaJIT int64 / uint64 cdata, or M.int("digits"));
--       another number -> %.17g (nan, inf, -inf as ClickHouse spells them);
--       a string -> quote(s); a list {a, b} -> (a, b) for IN ((NULL) when empty);
--       another table -> quote(its JSON text) (what ctx.db binds on SQLite too)
--   int(text)             -> a value literal() writes as that exact integer
--   bind(sql, binds [, defaults]) -> final SQL, {{name=, value=}, ...}: every :name
--       outside string literals, quoted identifiers and comments is replaced by
--       literal(binds[name]) (else defaults[name]); a name without a value raises
--       "ctx.db: no value for parameter :name".
local cjson = require "cjson"
local ffi = require "ffi"

local M = {}

local byte, char, format, gsub = string.byte, string.char, string.format, string.gsub

local ESC = { ["'"] = "\\'", ["\\"] = "\\\\" }
for b = 0, 31 do ESC[char(b)] = format("\\x%02X", b) end
ESC["\127"] = "\\x7F"

function M.quote(s)
  if type(s) ~= "string" then error("clickhouse.quote: expects a string, got " .. type(s), 2) end
  return "'" .. gsub(s, "[%z\1-\31'\\\127]", ESC) .. "'"
end

local INT = {}
INT.__index = INT
function M.int(text)
  if type(text) ~= "string" or not text:match("^%-?%d+$") or #text > 20 then
    error("clickhouse.int: expects decimal digits, got " .. tostring(text), 2)
  end
  return setmetatable({ text = text }, INT)
end

local int64, uint64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local function number(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v % 1 == 0 and math.abs(v) < 2 ^ 63 then return format("%.0f", v) end
  return format("%.17g", v)
end

local literal
local function is_list(t)
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n and (n > 0 or next(t) == nil)
end

function literal(v)
  local t = type(v)
  if v == nil or v == cjson.null then return "NULL" end
  if t == "boolean" then return v and "1" or "0" end
  if t == "number" then return number(v) end
  if t == "string" then return M.quote(v) end
  if t == "cdata" and (ffi.istype(int64, v) or ffi.istype(uint64, v)) then
    return (tostring(v):gsub("U?LL$", ""))
  end
  if t == "table" then
    if getmetatable(v) == INT then return v.text end
    if is_list(v) then
      if #v == 0 then return "(NULL)" end
      local parts = {}
      for i, x in ipairs(v) do
        if type(x) == "table" and getmetatable(x) ~= INT then
          error("clickhouse: a list for IN holds plain values, not tables", 0)
        end
        parts[i] = literal(x)
      end
      return "(" .. table.concat(parts, ", ") .. ")"
    end
    return M.quote(cjson.encode(v))
  end
  error("clickhouse: cannot bind a " .. t .. " value", 0)
end
M.literal = literal

-- bind(sql, binds, defaults): a single left-to-right scan, so a ':x' inside '...',
-- "...", `...`, -- ... or /* ... */ stays text
function M.bind(sql, binds, defaults)
  if type(sql) ~= "string" then error("ctx.db:query expects SQL text", 3) end
  binds, defaults = binds or {}, defaults or {}
  local out, params, seen, n = {}, {}, {}, 0
  local i, len, start = 1, #sql, 1
  local function emit(upto) n = n + 1; out[n] = sql:sub(start, upto) end
  while i <= len do
    local c = byte(sql, i)
    if c == 39 or c == 34 or c == 96 then          -- ' " `: to the matching unescaped quote
      local j = i + 1
      while j <= len do
        local d = byte(sql, j)
        if d == 92 then j = j + 2
        elseif d == c then
          if byte(sql, j + 1) == c then j = j + 2 else break end
        else j = j + 1 end
      end
      i = j + 1
    elseif c == 45 and byte(sql, i + 1) == 45 then   -- -- comment
      local j = sql:find("\n", i, true)
      i = j and j + 1 or len + 1
    elseif c == 47 and byte(sql, i + 1) == 42 then   -- /* comment */
      local j = sql:find("*/", i + 2, true)
      i = j and j + 2 or len + 1
    elseif c == 58 then                              -- :name
      local name = sql:match("^[%a_][%w_]*", i + 1)
      if name then
        local v = binds[name]
        if v == nil then v = defaults[name] end
        if v == nil then error("ctx.db: no value for parameter :" .. name, 3) end
        emit(i - 1)
        n = n + 1
        out[n] = literal(v)
        if not seen[name] then seen[name] = true; params[#params + 1] = { name = name, value = v } end
        i = i + 1 + #name
        start = i
      else
        i = i + 1
      end
    else
      i = i + 1
    end
  end
  emit(len)
  return table.concat(out), params
end

return M
