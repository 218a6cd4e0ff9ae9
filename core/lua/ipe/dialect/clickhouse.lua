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
--
-- It also holds the SQL text of ctx.db's helpers on ClickHouse (M.new(conn) -> the helper
-- table: the functions of ipe.dialect.sqlite, same arguments and results; the second half
-- of this file).
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

-- inline_with(sql) -> sql: ClickHouse 18.16 has no WITH tables ("WITH name AS (SELECT ...)";
-- its WITH names expressions), so a statement that starts with a WITH list — ctx.db's
-- alerts_naming_ip and ti_* helpers write one, and scripts continue it — is rewritten: each
-- reference to a WITH table after FROM or JOIN becomes the table's SELECT as a subquery
-- ("(SELECT ...) AS name", or "(SELECT ...)" when an alias follows), a later table's SELECT
-- holding the earlier ones. RECURSIVE and MATERIALIZED are dropped (a recursive table is not
-- supported: it raises). The SELECT of a table used twice runs twice. Strings, quoted names
-- and comments are never touched; a statement without a WITH list is returned as it is.
local function skip_quoted(sql, i, len)
  local c = byte(sql, i)
  if c == 39 or c == 34 or c == 96 then
    local j = i + 1
    while j <= len do
      local d = byte(sql, j)
      if d == 92 then j = j + 2
      elseif d == c then
        if byte(sql, j + 1) == c then j = j + 2 else return j + 1 end
      else j = j + 1 end
    end
    return len + 1
  elseif c == 45 and byte(sql, i + 1) == 45 then
    local j = sql:find("\n", i, true)
    return j and j + 1 or len + 1
  elseif c == 47 and byte(sql, i + 1) == 42 then
    local j = sql:find("*/", i + 2, true)
    return j and j + 2 or len + 1
  end
end

-- tokens(sql) -> list of {text=, word=upper-case identifier or nil}
local function tokens(sql)
  local out, i, len = {}, 1, #sql
  while i <= len do
    local j = skip_quoted(sql, i, len)
    if j then out[#out + 1] = { text = sql:sub(i, j - 1) }; i = j
    else
      local w = sql:match("^[%a_][%w_]*", i)
      if w then out[#out + 1] = { text = w, word = w:upper() }; i = i + #w
      else
        local sp = sql:match("^%s+", i)
        if sp then out[#out + 1] = { text = sp, space = true }; i = i + #sp
        else out[#out + 1] = { text = sql:sub(i, i) }; i = i + 1 end
      end
    end
  end
  return out
end

-- words that end a FROM item (after them no alias follows)
local NOT_ALIAS = {}
for w in ([[WHERE JOIN LEFT RIGHT INNER FULL CROSS ANY ALL GLOBAL ON USING GROUP ORDER LIMIT UNION HAVING ARRAY
  PREWHERE FINAL SAMPLE FORMAT SETTINGS INTO WITH SELECT]]):gmatch("%a+") do NOT_ALIAS[w] = true end

local function substitute(toks, first, last, defs)
  local out, prev = {}, nil
  for k = first, last do
    local t = toks[k]
    local body = t.word and prev and (prev.word == "FROM" or prev.word == "JOIN") and defs[t.text]
    if body then
      local n = k + 1
      while toks[n] and toks[n].space do n = n + 1 end
      local nt = n <= last and toks[n] or nil
      local aliased = nt and nt.word and (nt.word == "AS" or not NOT_ALIAS[nt.word])
      out[#out + 1] = "(" .. body .. ")" .. (aliased and "" or (" AS " .. t.text))
    else
      out[#out + 1] = t.text
    end
    if not t.space then prev = t end
  end
  return table.concat(out)
end

function M.inline_with(sql)
  local toks = tokens(sql)
  local k = 1
  local function skip() while toks[k] and toks[k].space do k = k + 1 end end
  skip()
  if not (toks[k] and toks[k].word == "WITH") then return sql end
  k = k + 1; skip()
  if toks[k] and toks[k].word == "RECURSIVE" then k = k + 1; skip() end
  local defs = {}
  while true do
    local name = toks[k]
    if not (name and name.word) then return sql end
    k = k + 1; skip()
    if not (toks[k] and toks[k].word == "AS") then
      if toks[k] and toks[k].text == "(" then
        error("clickhouse: a WITH table with a column list (" .. name.text .. "(...)) is not supported", 0)
      end
      return sql
    end
    k = k + 1; skip()
    if toks[k] and toks[k].word == "NOT" then k = k + 1; skip() end
    if toks[k] and toks[k].word == "MATERIALIZED" then k = k + 1; skip() end
    if not (toks[k] and toks[k].text == "(") then return sql end -- WITH <expr> AS name: ClickHouse's own
    local depth, open = 0, k
    repeat
      local t = toks[k]
      if not t then error("clickhouse: unbalanced parentheses in the WITH list", 0) end
      if t.text == "(" then depth = depth + 1 elseif t.text == ")" then depth = depth - 1 end
      k = k + 1
    until depth == 0
    defs[name.text] = substitute(toks, open + 1, k - 2, defs)
    skip()
    if toks[k] and toks[k].text == "," then k = k + 1; skip() else break end
  end
  return substitute(toks, k, #toks, defs)
end

-- ctx.db's helpers on ClickHouse ------------------------------------------------------
--
-- The SQL runs on ClickHouse 18.16 (no window functions, no JSONExtract, no DateTime64,
-- no isIPAddressInRange) and on current releases. ipe.db checks every argument before it
-- reaches these functions (columns are identifiers or alias.Col, parameters :name); the
-- only other text they write is their own constants, through quote().
--
-- Times: a workspace time column X is X DateTime('UTC') with X_ms Int64 beside it (the exact
-- epoch milliseconds), or X DateTime64(3, 'UTC') alone when the workspace says so
-- (conn.time_type == "DateTime64", ipe.clickhouse_schema). A time parameter (:from, :to)
-- is workspace time text, "2024-05-01T10:00:00.000Z".
--
-- Where ClickHouse differs from SQLite (documented with the helpers, README):
--   json, json_has_value, entities_have_ip, entity_mapping_has_ip read JSON text with the
--   visitParam functions: a key is found at any depth (its first occurrence) and only
--   when its value follows the colon without a space (compact JSON, as ingest writes it);
--   string_agg with distinct sorts its values (on SQLite too: ipe_sorted_distinct);
--   seconds_between counts whole seconds of DateTime values;
--   json_each is an ARRAY JOIN (so it follows the table's FROM item, as on SQLite) of a flat
--   array's elements, a value as text.
local Q = M.quote

local function unsupported(name, why)
  error({ unsupported = true, msg = "ctx.db:" .. name .. " is not available on ClickHouse: " .. why }, 0)
end

-- Addresses as SQL (text expressions x, never NULL): the 16-byte form (IPv4 as ::ffff:a.b.c.d),
-- whether the text is a valid address, whether it is IPv4 (or an IPv6 that maps one), and
-- "the first bits (0..128) of a and b agree" over the two 64-bit halves.
local function v6(x) return "(position(" .. x .. ", ':') > 0)" end
local function valid(x)
  return string.format("if(%s, hex(IPv6StringToNum(%s)) <> '00000000000000000000000000000000' OR match(%s, '^[0:]+$'),"
    .. " IPv4NumToString(IPv4StringToNum(%s)) = %s)", v6(x), x, x, x, x)
end
local function a16(x)
  return string.format("if(%s, IPv6StringToNum(%s), IPv4ToIPv6(IPv4StringToNum(%s)))", v6(x), x, x)
end
local function is4(x) return string.format("(hex(substring(%s, 1, 12)) = '00000000000000000000FFFF')", a16(x)) end
local function half(x, from)
  return string.format("reinterpretAsUInt64(reverse(substring(%s, %d, 8)))", a16(x), from)
end
-- bitShiftRight by 64 (bits 0) is no shift ClickHouse defines: bits 0 matches without it
local function same_bits(a, b, bits)
  return string.format("if(%s <= 64, %s = 0 OR bitShiftRight(%s, 64 - %s) = bitShiftRight(%s, 64 - %s), "
    .. "%s = %s AND bitShiftRight(%s, 128 - %s) = bitShiftRight(%s, 128 - %s))",
    bits, bits, half(a, 1), bits, half(b, 1), bits, half(a, 1), half(b, 1), half(a, 9), bits, half(b, 9), bits)
end
M.valid_ip, M.ip_a16, M.ip_is4, M.ip_same_bits = valid, a16, is4, same_bits

function M.new(conn)
  local H = { name = "clickhouse" }
  local time64 = conn and conn.time_type == "DateTime64"
  -- the workspace's time type (set once its schema is verified) and cluster: what
  -- ipe.rollup.clickhouse writes its window statements for
  H.time_type = conn and conn.time_type
  H.cluster = conn and conn.target and conn.target.cluster or nil

  -- Time ---------------------------------------------------------------------------------

  -- epoch milliseconds of a time column
  local function ms(col)
    if time64 then return "toUnixTimestamp64Milli(" .. col .. ")" end
    return col .. "_ms"
  end
  -- a time parameter (text) as a whole-second DateTime, and as epoch milliseconds
  local function param_time(p)
    return string.format("toDateTime(replaceOne(substring(%s, 1, 19), 'T', ' '), 'UTC')", p)
  end
  local function param_ms(p)
    return string.format("(toInt64(toUnixTimestamp(%s)) * 1000 + toInt64(toUInt16OrZero(substring(%s, 21, 3))))",
      param_time(p), p)
  end
  H.param_time, H.param_ms = param_time, param_ms

  function H.window(col)
    -- the DateTime bounds let the primary key (TimeGenerated) prune; the milliseconds decide
    if time64 then
      return string.format("(%s >= toDateTime64(replaceOne(substring(:from, 1, 23), 'T', ' '), 3, 'UTC') AND "
        .. "%s <= toDateTime64(replaceOne(substring(:to, 1, 23), 'T', ' '), 3, 'UTC'))", col, col)
    end
    return string.format("(%s >= %s AND %s <= %s AND %s >= %s AND %s <= %s)", col, param_time(":from"), col,
      param_time(":to"), ms(col), param_ms(":from"), ms(col), param_ms(":to"))
  end

  local STARTS = { minute = "toStartOfMinute", hour = "toStartOfHour", day = "toStartOfDay" }

  function H.bucket(col, unit)
    return string.format("formatDateTime(%s(%s), '%%Y-%%m-%%dT%%H:%%M:%%S.000Z', 'UTC')", STARTS[unit], col)
  end

  function H.time_text(col)
    return string.format("concat(formatDateTime(%s, '%%Y-%%m-%%dT%%H:%%M:%%S', 'UTC'), '.', "
      .. "substring(toString(1000 + %s %% 1000), 2), 'Z')", col, ms(col))
  end

  function H.seconds_between(a, b)
    return string.format("toFloat64(dateDiff('second', %s, %s))", a, b)
  end

  -- Strings ------------------------------------------------------------------------------

  function H.string_agg(col, sep, distinct)
    local values = distinct and string.format("arraySort(arrayMap(x -> toString(x), groupUniqArray(%s)))", col)
      or string.format("arrayMap(x -> toString(x), groupArray(%s))", col)
    return string.format("if(count(%s) = 0, NULL, arrayStringConcat(%s, %s))", col, values, Q(sep))
  end

  function H.position(col, needle)
    return string.format("position(%s, %s)", col, Q(needle))
  end

  function H.host_short(col)
    return string.format("lower(if(match(%s, '[A-Za-z]') AND position(%s, '.') > 0, "
      .. "substring(%s, 1, position(%s, '.') - 1), %s))", col, col, col, col, col)
  end

  function H.host_label(col)
    return string.format("substring(%s, 1, position(concat(%s, '.'), '.') - 1)", col, col)
  end

  -- JSON ---------------------------------------------------------------------------------

  -- A JSON value as SQLite's json_extract gives it: a string unquoted, a number or
  -- true/false as its text, NULL when missing or null.
  function H.json(col, path)
    if path:find("[%[%]]") then unsupported("json", "array indexes in a path ([n]) need JSONExtract") end
    local keys = {}
    for k in path:gmatch("[^%.]+") do keys[#keys + 1] = k end
    local obj = "ifNull(" .. col .. ", '')"
    for i = 1, #keys - 1 do obj = string.format("visitParamExtractRaw(%s, %s)", obj, Q(keys[i])) end
    local last = Q(keys[#keys])
    local raw = string.format("visitParamExtractRaw(%s, %s)", obj, last)
    return string.format("multiIf(%s IN ('', 'null'), NULL, substring(%s, 1, 1) = '\"', "
      .. "visitParamExtractString(%s, %s), %s)", raw, raw, obj, last, raw)
  end

  -- the string values of a JSON text (keys left out): every "..." not followed by a colon
  local KEYS = Q([["(?:[^"\\]|\\.)*"\s*:]])
  local STRINGS = Q([["((?:[^"\\]|\\.)*)"]])

  function H.json_has_value(col, p)
    return string.format("(position(ifNull(%s, ''), %s) > 0 AND has(extractAll(replaceRegexpAll(ifNull(%s, ''), %s, ':'), %s), %s))",
      col, p, col, KEYS, STRINGS, p)
  end
  H.json_array_has = H.json_has_value

  -- the shape of one JSON value (ClickHouse 18.16 has no JSON parser): an object or array by its
  -- first and last characters, a string, a number, true, false or null
  local JSON_SHAPE = Q([[(?s)^\s*(\{.*\}|\[.*\]|"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null)\s*$]])
  function H.json_valid(col)
    return string.format("match(ifNull(%s, ''), %s)", col, JSON_SHAPE)
  end

  -- json_each: an ARRAY JOIN of the elements of a flat JSON array (strings, numbers, true,
  -- false, null), each row of the table once per element, as alias.value / .key / .type (the
  -- columns are named "alias.value", ..., which alias.value reads). The whole text is checked
  -- against JSON's grammar of such an array first (a linear RE2 match): any other text (an
  -- object, a nested array, a lone value, not JSON) has no elements. Then each token — a
  -- string with its escapes, or a bare scalar — in order: a string unescaped (visitParam reads
  -- its escapes, \uXXXX and surrogate pairs included), an integer of up to 18 digits as SQLite
  -- shows it, another number as its JSON text, true/false as 1/0, null as NULL.
  local WS = "[ \\t\\n\\r]*"
  local JSTR = [["(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"]]
  local JNUM = [[-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?]]
  local JVAL = "(?:" .. JSTR .. "|" .. JNUM .. "|true|false|null)"
  local FLAT = Q("^" .. WS .. "\\[" .. WS .. "(?:" .. JVAL .. "(?:" .. WS .. "," .. WS .. JVAL .. ")*)?" .. WS .. "\\]" .. WS .. "$")
  local TOKEN = Q([=[("(?:[^"\\]|\\.)*"|[^ \t\n\r,\[\]]+)]=])

  function H.json_each(col, alias, path)
    local raw = "ifNull(" .. col .. ", '')"
    if path then
      if path:find("[%[%]]") then unsupported("json_each", "array indexes in a path ([n]) need JSONExtract") end
      for k in path:gmatch("[^%.]+") do raw = string.format("visitParamExtractRaw(%s, %s)", raw, Q(k)) end
    end
    local toks = string.format("if(match(%s, %s), extractAll(%s, %s), emptyArrayString())", raw, FLAT, raw, TOKEN)
    local value = "arrayMap(x -> multiIf(substring(x, 1, 1) = '\"', visitParamExtractString(concat('{\"v\":', x, '}'), 'v'), "
      .. "x = 'null', NULL, x = 'true', '1', x = 'false', '0', match(x, '^-?[0-9]{1,18}$'), toString(toInt64OrZero(x)), x), " .. toks .. ")"
    local kind = "arrayMap(x -> multiIf(substring(x, 1, 1) = '\"', 'text', x IN ('null', 'true', 'false'), x, "
      .. "match(x, '[.eE]'), 'real', 'integer'), " .. toks .. ")"
    local key = "arrayMap(i -> toInt64(i) - 1, arrayEnumerate(" .. toks .. "))"
    return string.format("ARRAY JOIN %s AS `%s.value`, %s AS `%s.key`, %s AS `%s.type`", value, alias, key, alias, kind, alias)
  end

  -- the objects of a JSON array (one level of nesting inside each), their nested objects emptied
  local OBJECTS = Q([[\{(?:[^{}]|\{[^{}]*\})*\}]])
  local INNER = Q([[\{[^{}]*\}]])

  function H.entities_have_ip(col, p)
    return string.format("(position(ifNull(%s, ''), %s) > 0 AND arrayExists(e -> lower(visitParamExtractString(e, 'Type')) = 'ip'"
      .. " AND visitParamExtractString(e, 'Address') = %s, arrayMap(o -> replaceRegexpAll(substring(o, 2, length(o) - 2), %s, '{}'),"
      .. " extractAll(ifNull(%s, ''), %s))))", col, p, p, INNER, col, OBJECTS)
  end

  function H.entity_mapping_has_ip(col, p)
    return string.format("(position(ifNull(%s, ''), %s) > 0 AND upper(visitParamExtractString("
      .. "visitParamExtractRaw(ifNull(%s, ''), '__entityMapping'), %s)) = 'IP')", col, p, col, p)
  end

  -- IP addresses -------------------------------------------------------------------------

  -- a list parameter is bound as (a, b, ...) by bind()
  function H.ip_in_list(col, p)
    return string.format("(%s IN %s)", col, p)
  end

  -- SQLite's LIKE ignores the case of ASCII letters: both sides lower-cased
  function H.ip_with_port(col, p)
    local c = "lower(ifNull(" .. col .. ", ''))"
    return string.format("ifNull(%s = %s OR substring(%s, 1, length(%s) + 2) = concat('[', lower(%s), ']') OR (position(%s, ':') = 0 "
      .. "AND substring(%s, 1, length(%s) + 1) = concat(lower(%s), ':')), 0)", col, p, c, p, p, p, c, p, p)
  end

  -- a time column against workspace time text: its text to the millisecond
  function H.time_in_list(col, p)
    return string.format("(%s IN %s)", H.time_text(col), p)
  end

  -- The first `bits` of the 16-byte forms (IPv4 as ::ffff:a.b.c.d) of the address and of the
  -- block's address agree, as ipe_ip_in_cidr: both texts valid and of one family (an IPv4, or
  -- an IPv6 that maps one, is IPv4), the prefix digits within 0..32 / 0..128 (none: the whole
  -- address), counted from bit 96 for IPv4.
  function H.ip_in_cidr(col, cidr)
    local ip = "ifNull(" .. col .. ", '')"
    local c = "ifNull(" .. cidr .. ", '')"
    local net = string.format("substring(%s, 1, position(concat(%s, '/'), '/') - 1)", c, c)
    local pfx = string.format("substring(%s, position(concat(%s, '/'), '/') + 1)", c, c)
    local max = string.format("if(%s, 32, 128)", is4(net))
    local bits = string.format("(if(%s = '', %s, toUInt16OrZero(%s)) + if(%s, 96, 0))", pfx, max, pfx, is4(net))
    local prefix_ok = string.format("(%s = '' OR (match(%s, '^[0-9]{1,3}$') AND toUInt16OrZero(%s) <= %s))",
      pfx, pfx, pfx, max)
    return string.format("(%s AND %s AND %s = %s AND %s AND %s)", valid(ip), valid(net), is4(ip), is4(net), prefix_ok,
      same_bits(ip, net, bits))
  end

  -- Whole token: not preceded by a hex digit, ':' or '.', not followed by one either (a '.'
  -- may follow when no digit comes after it: the end of a sentence).
  function H.text_has_ip(col, p)
    -- every ASCII punctuation byte of the value escaped: the value is matched literally
    local escaped = string.format("replaceRegexpAll(%s, %s, %s)", p, Q([=[([!-/:-@\[-`{-~])]=]), Q([[\\\1]]))
    return string.format("(%s <> '' AND position(ifNull(%s, ''), %s) > 0 AND match(ifNull(%s, ''), concat(%s, %s, %s)))", p, col, p, col,
      Q("(^|[^0-9A-Fa-f:.])"), escaped, Q([[($|[^0-9A-Fa-f:.]|\.($|[^0-9]))]]))
  end

  -- Records ------------------------------------------------------------------------------

  function H.latest(tname, alias, keys, where, order)
    local by = {}
    for i, col in ipairs(order) do by[i] = (time64 and col or ms(col)) .. " DESC" end
    return string.format("SELECT *, 1 AS Version FROM %s AS %s WHERE %s\n  ORDER BY %s LIMIT 1 BY %s",
      tname, alias, where, table.concat(by, ", "), table.concat(keys, ", "))
  end

  -- Rollups and workspace tables ---------------------------------------------------------

  H.ROLLUP_TABLES = { activity = "_ipe_ip_activity", peers = "_ipe_ip_peers", traffic = "_ipe_ip_traffic" }

  -- the rollups (ipe.rollup.clickhouse): X_all holds aggregate states per key, hour (text
  -- 'YYYY-MM-DDTHH', as SQLite's) and ingest; the rows of committed ingests, merged per key and
  -- hour: the keys and sums of SQLite's table (not its FirstSeen/LastSeen)
  function H.rollup_rows(name, from_p, to_p, ip_p)
    local model = require "ipe.rollup"
    local keys, sums = { "Source", "Host" }, { "Events" }
    for _, r in ipairs(model.CSL_ROLLUPS) do
      if r.name == name then keys, sums = r.keys, r.sums end
    end
    local cols = { "IP", "Hour" }
    for _, k in ipairs(keys) do cols[#cols + 1] = k end
    local group = table.concat(cols, ", ")
    for _, m in ipairs(sums) do
      cols[#cols + 1] = (m == "Events" and "countMerge(Events)" or "sumMerge(" .. m .. ")") .. " AS " .. m
    end
    return string.format("(SELECT %s FROM %s_all WHERE %sHour >= substring(%s, 1, 13) AND Hour <= substring(%s, 1, 13)"
      .. " AND _IngestId GLOBAL IN (SELECT Id FROM _ipe_ingest) GROUP BY %s)",
      table.concat(cols, ", "), H.ROLLUP_TABLES[name], ip_p and ("IP = " .. ip_p .. " AND ") or "", from_p, to_p, group)
  end

  local ROLLUP_BUCKETS = { hour = "concat(%s, ':00:00.000Z')", day = "concat(substring(%s, 1, 10), 'T00:00:00.000Z')" }
  function H.rollup_bucket(col, unit) return string.format(ROLLUP_BUCKETS[unit], col) end

  -- the rows of tname in the hours the activity rollup saw the IP :p in source (ipe.dialect.sqlite)
  function H.rows_in_ip_hours(tname, source, p)
    return string.format("(SELECT * FROM %s WHERE %s IN (SELECT %s FROM %s WHERE IP = %s AND Source = '%s'))",
      tname, H.bucket("TimeGenerated", "hour"), H.rollup_bucket("Hour", "hour"), H.rollup_rows("activity", ":from", ":to"),
      p, source)
  end

  H.NAMED_RANGES_EXIST = "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '_ipe_ip_ranges'"

  function H.named_ranges()
    return "(SELECT Name, Category, Cidr FROM _ipe_ip_ranges)"
  end

  -- Alerts, incidents, threat intelligence ------------------------------------------------

  -- The string values of a JSON array (a flat one: AlertIds), unescaped.
  local function json_strings(col)
    return string.format("arrayMap(s -> visitParamExtractString(concat('{\"v\":', s, '}'), 'v'), extractAll(ifNull(%s, ''), %s))",
      col, Q([[("(?:[^"\\]|\\.)*")]]))
  end

  -- alerts: the latest version in the window of each alert naming the IP; incidents: of each
  -- incident whose AlertIds hold one of them (the alerts' ids as one array: no correlated subquery)
  function H.alerts_naming_ip(p)
    return table.concat({
      "WITH alerts AS (",
      "  " .. H.latest("SecurityAlert", "a", { "SystemAlertId" },
        H.window("TimeGenerated") .. " AND " .. H.entities_have_ip("Entities", p), { "TimeGenerated" }),
      "), incidents AS (",
      "  " .. H.latest("SecurityIncident", "i", { "IncidentNumber" }, H.window("TimeGenerated")
        .. "\n      AND hasAny(" .. json_strings("i.AlertIds") .. ", (SELECT groupArray(SystemAlertId) FROM alerts))",
        { "TimeGenerated" }),
      ")",
    }, "\n")
  end

  -- Threat intelligence (ipe.dialect.sqlite says what the helpers mean). ClickHouse has no
  -- rowid and no _ipe_ti_ranges: a CIDR column holds the IP when its text is a block as
  -- ipe_cidr_range reads it (an address alone its /32 or /128; the text's family decides, an
  -- IPv4 text counted from bit 96) and the IP's first Bits bits are the block's (an IPv4
  -- address only in blocks of 96 bits or more) — the test of the SQLite probe, evaluated on the
  -- indicator rows that have a block (a scan of three columns, no join).
  local TI = "ThreatIntelligenceIndicator"
  local TI_IP_COLUMNS = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" }
  local TI_BLOCKS = { "NetworkCidrBlock", "NetworkSourceCidrBlock", "NetworkDestinationCidrBlock" }

  -- The block tests. Written inline (inline() below), each piece's text nests
  -- in the next (a block's address text appears in its validity, its family, its bits...), so
  -- the three blocks of an indicator came to 237 KB of SQL per statement, which ClickHouse
  -- spent seconds parsing. ClickHouse aliases are visible in the whole SELECT they appear in
  -- (SELECT list and WHERE alike), so each piece is written "(text AS name)" where it first
  -- appears and by its name after. lets() makes one builder per statement: let(key, text)
  -- gives the definition the first time and the name after; text is a function, called
  -- only then. Names carry the builder's number, so two statements' builders never clash.
  local builders = 0
  local function lets()
    builders = builders + 1
    local prefix, seen = "_ti" .. builders .. "_", {}
    return function(key, text)
      local name = prefix .. key:gsub("[^%w]", "_")
      if seen[name] then return name, name end
      seen[name] = true
      return "(" .. text() .. " AS " .. name .. ")", name
    end
  end
  -- valid() of a piece: its definition (or name) first, its name in the other three places
  local function valid_let(first, name)
    return string.format("if(%s, hex(IPv6StringToNum(%s)) <> '00000000000000000000000000000000' OR match(%s, '^[0:]+$'),"
      .. " IPv4NumToString(IPv4StringToNum(%s)) = %s)", v6(first), name, name, name, name)
  end

  -- inline(key, text): no alias, each piece's text wherever it is used (for an expression that
  -- may stand inside a lambda or beside others of its kind: ti_block_match, ip_block, ti_matching_ips)
  local function inline(_, text)
    local t = "(" .. text() .. ")"
    return t, t
  end

  -- block_let(col, let) -> functions giving the block's address text, its prefix in 128-bit
  -- terms, whether it is a block (each through let)
  local function block_let(col, let)
    local k = col
    local function c() return let("c_" .. k, function() return "ifNull(" .. col .. ", '')" end) end
    local function slash() return let("s_" .. k, function() return "position(" .. c() .. ", '/')" end) end
    local function net() return let("net_" .. k, function()
      return string.format("if(%s > 0, substring(%s, 1, %s - 1), %s)", slash(), c(), slash(), c()) end) end
    local function pfx() return let("pfx_" .. k, function()
      return string.format("if(%s > 0, substring(%s, %s + 1), '')", slash(), c(), slash()) end) end
    local function six() return let("v6_" .. k, function() return v6(net()) end) end
    local function bits() return let("bits_" .. k, function()
      return string.format("(if(%s > 0, toUInt16OrZero(%s), if(%s, 128, 32)) + if(%s, 0, 96))", slash(), pfx(), six(), six()) end) end
    local function ok() return let("ok_" .. k, function()
      return string.format("(%s AND (%s = 0 OR (match(%s, '^[0-9]{1,3}$') AND toUInt16OrZero(%s) <= if(%s, 128, 32))))",
        valid_let(net()), slash(), pfx(), pfx(), six()) end) end
    return net, bits, ok
  end

  -- the block in col holds the address ip (both SQL text)
  local function holds_let(ip, col, let)
    local net, bits, ok = block_let(col, let)
    local function a() return let("a_" .. ip, function() return "ifNull(" .. ip .. ", '')" end) end
    return let("holds_" .. ip .. "_" .. col, function()
      local o, va, b = ok(), valid_let(a()), bits()
      return string.format("(%s AND %s AND (NOT %s OR %s >= 96) AND %s)", o, va, is4(a()), b, same_bits(a(), net(), bits()))
    end)
  end

  -- block(col) -> its address text, its prefix in 128-bit terms, whether it is a block
  local function block(col)
    local net, bits, ok = block_let(col, inline)
    return (net()), (bits()), (ok())
  end
  local function holds(ip, col) return (holds_let(ip, col, inline)) end
  H.ti_holds = holds

  function H.ti_live(alias)
    return string.format("(%s.Active = 1 AND (%s.ExpirationDateTime IS NULL OR %s > %s))", alias, alias,
      ms(alias .. ".ExpirationDateTime"), param_ms(":now"))
  end

  -- the newest version up to :to of each IndicatorId (every version of the same, newest
  -- millisecond: ClickHouse has no row order to break the tie); a row without an id is its own
  function H.ti_latest(alias)
    return string.format("(%s <= %s AND (%s.IndicatorId IS NULL OR (ifNull(%s.IndicatorId, ''), %s) IN (SELECT "
      .. "ifNull(IndicatorId, ''), max(%s) FROM %s WHERE IndicatorId IS NOT NULL AND %s <= %s GROUP BY IndicatorId)))",
      ms(alias .. ".TimeGenerated"), param_ms(":to"), alias, alias, ms(alias .. ".TimeGenerated"), ms("TimeGenerated"), TI,
      ms("TimeGenerated"), param_ms(":to"))
  end

  -- what matched: the address when an IP column is it, else the narrowest block holding it
  -- (the smallest text among equals), and the column; a key "2000-bits block<TAB>column"
  -- (each piece written once: lets())
  local function match_of(ip, alias)
    local let = lets()
    local exact, keys = {}, {}
    for _, c in ipairs(TI_IP_COLUMNS) do
      exact[#exact + 1] = string.format("ifNull(%s.%s = %s, 0), '%s'", alias, c, ip, c)
    end
    for _, c in ipairs(TI_BLOCKS) do
      local col = alias .. "." .. c
      local _, bits = block_let(col, let)
      local h = holds_let(ip, col, let)
      keys[#keys + 1] = string.format("if(%s, concat(toString(2000 - %s), ' ', ifNull(%s, ''), '\\t', '%s'), '')",
        h, bits(), col, c)
    end
    local function best() return let("best", function()
      return "arraySort(arrayFilter(k -> k <> '', [" .. table.concat(keys, ", ") .. "]))[1]" end) end
    -- the column's text is given the alias MatchedColumn by the caller: the indicator names it
    local c = "multiIf(" .. table.concat(exact, ", ") .. ", " .. "substring(" .. best() .. ", position(" .. best()
      .. ", '\\t') + 1))"
    local ind = string.format("if(MatchedColumn IN ('NetworkIP', 'NetworkSourceIP', 'NetworkDestinationIP', 'EmailSourceIpAddress'), %s, "
      .. "substring(%s, 6, position(%s, '\\t') - 6))", ip, best(), best())
    local any = {}
    for _, b in ipairs(TI_IP_COLUMNS) do any[#any + 1] = alias .. "." .. b .. " = " .. ip end
    for _, b in ipairs(TI_BLOCKS) do any[#any + 1] = holds_let(ip, alias .. "." .. b, let) end
    return ind, c, "(" .. table.concat(any, " OR ") .. ")"
  end

  function H.ti_matching_ip(ip)
    local ind, col, any = match_of(ip, "t")
    return table.concat({
      "WITH ti AS (",
      "  SELECT *, " .. ind .. " AS MatchedIndicator, " .. col .. " AS MatchedColumn,",
      "         if(" .. H.ti_live("t") .. ", 1, 0) AS Live",
      "  FROM " .. TI .. " AS t",
      "  WHERE " .. H.ti_latest("t") .. " AND " .. any,
      ")",
    }, "\n")
  end

  -- the live indicators, for an export (ipe.dialect.sqlite's ti_export): of each IndicatorId
  -- the row of its newest millisecond, as one tuple (of two versions of the same millisecond,
  -- either: ClickHouse keeps no row order), every column of ipe.schema with the times as
  -- workspace text, Created and Version; live when that row is Active and unexpired at :now
  function H.ti_export()
    local cols, outs = {}, {}
    for _, c in ipairs(require("ipe.schema").table(TI).columns) do
      cols[#cols + 1] = c.type == "datetime" and H.time_text(c.name) or c.name
      outs[#outs + 1] = string.format("tupleElement(ti_row, %d) AS %s", #cols, c.name)
    end
    local n = #cols
    cols[n + 1], cols[n + 2] = "Active", ms("ExpirationDateTime")
    return table.concat({
      "SELECT " .. table.concat(outs, ", ") .. ", ti_created AS Created, ti_versions AS Version FROM (",
      "  SELECT argMax(tuple(" .. table.concat(cols, ", ") .. "), " .. ms("TimeGenerated") .. ") AS ti_row,",
      "         " .. H.time_min("TimeGenerated") .. " AS ti_created, count() AS ti_versions",
      "  FROM " .. TI .. " WHERE IndicatorId IS NOT NULL GROUP BY IndicatorId)",
      string.format("WHERE ifNull(tupleElement(ti_row, %d) = 1, 0) AND (isNull(tupleElement(ti_row, %d)) OR "
        .. "tupleElement(ti_row, %d) > %s)", n + 1, n + 2, n + 2, param_ms(":now")),
      "ORDER BY Created, IndicatorId",
    }, "\n")
  end

  -- over ThreatIntelligenceIndicator (the rows of a query after ti_matching_ip's WITH list):
  -- the block in col holds the IP :p
  function H.ti_block_match(col, p) return holds(p, col) end

  -- the address text x (valid) as a key at prefix length bits: "bits/hi:lo", the two 64-bit
  -- halves of its 16-byte form with the bits after the prefix zeroed
  local function key_at(x, bits)
    local hi = string.format("if(%s >= 64, %s, if(%s = 0, toUInt64(0), toUInt64(bitShiftLeft(bitShiftRight(%s, 64 - %s), 64 - %s))))",
      bits, half(x, 1), bits, half(x, 1), bits, bits)
    local lo = string.format("if(%s >= 128, %s, if(%s <= 64, toUInt64(0), toUInt64(bitShiftLeft(bitShiftRight(%s, 128 - %s), 128 - %s))))",
      bits, half(x, 9), bits, half(x, 9), bits, bits)
    return string.format("concat(toString(%s), '/', toString(%s), ':', toString(%s))", bits, hi, lo)
  end

  -- ti_ip: for each IP of the table `ips` (column IP), each live indicator matching it: rows
  -- (IP, TiRow, MatchedIndicator, MatchedColumn), and ti_live (its rows; TiRow a hash). One hash
  -- join: each live row's exact addresses ("=text") and blocks (their key at their prefix
  -- length) against each IP's "=text" and its keys at the prefix lengths in use — the SQLite
  -- probe per prefix length, as a join.
  -- for KQL's evaluate ipv4_lookup / ipv6_lookup (ipe.kql.clickhouse): a block column's
  -- prefix length, its key and whether it is a block; an address's key at prefix length b
  function H.ip_block(col)
    local net, bits, ok = block(col)
    return "toUInt16(" .. bits .. ")", key_at(net, bits), ok
  end
  function H.ip_key_at(ip, b)
    local a = "ifNull(" .. ip .. ", '')"
    return string.format("if(%s AND (NOT %s OR %s >= 96), %s, '')", valid(a), is4(a), b, key_at(a, b))
  end

  function H.ti_matching_ips(ips)
    -- TiRow: a hash of the row's id, time and IP and block columns (ClickHouse has no rowid): two
    -- rows alike in all of them match the same IPs
    local id = { "ifNull(t.IndicatorId, '')", ms("t.TimeGenerated") }
    for _, c in ipairs(TI_IP_COLUMNS) do id[#id + 1] = "ifNull(t." .. c .. ", '')" end
    for _, c in ipairs(TI_BLOCKS) do id[#id + 1] = "ifNull(t." .. c .. ", '')" end
    local live = "SELECT *, cityHash64(" .. table.concat(id, ", ") .. ") AS TiRow FROM " .. TI .. " AS t WHERE "
      .. H.ti_latest("t") .. " AND " .. H.ti_live("t")
    local keys, inds, cols, bits, oks = {}, {}, {}, {}, {}
    for _, c in ipairs(TI_IP_COLUMNS) do
      keys[#keys + 1] = "concat('=', ifNull(" .. c .. ", ''))"
      inds[#inds + 1] = "ifNull(" .. c .. ", '')"
      cols[#cols + 1] = "'" .. c .. "'"
    end
    for _, c in ipairs(TI_BLOCKS) do
      local net, b, ok = block(c)
      keys[#keys + 1] = string.format("if(%s, %s, '')", ok, key_at(net, b))
      inds[#inds + 1] = "ifNull(" .. c .. ", '')"
      cols[#cols + 1] = "'" .. c .. "'"
      bits[#bits + 1] = "toUInt16(" .. b .. ")"
      oks[#oks + 1] = ok
    end
    local ip = "ifNull(ti_ips.IP, '')"
    local in_use = "(SELECT groupUniqArray(ti_b) FROM ti_live ARRAY JOIN [" .. table.concat(bits, ", ") .. "] AS ti_b, ["
      .. table.concat(oks, ", ") .. "] AS ti_ok WHERE ti_ok)"
    local ip_keys = string.format("arrayConcat([concat('=', %s)], arrayMap(b -> if(%s AND (NOT %s OR b >= 96), %s, ''), %s))",
      ip, valid(ip), is4(ip), key_at(ip, "b"), in_use)
    return table.concat({
      ", ti_live AS (", "  " .. live, "), ti_ip AS (",
      "  SELECT IP, TiRow, MatchedIndicator, MatchedColumn FROM (",
      "    SELECT ti_ips.IP AS IP, ti_k AS Key FROM (SELECT IP FROM " .. ips .. ") AS ti_ips ARRAY JOIN " .. ip_keys .. " AS ti_k",
      "    WHERE ti_k <> '')",
      "  ALL INNER JOIN (",
      "    SELECT TiRow, ti_key AS Key, ti_ind AS MatchedIndicator, ti_col AS MatchedColumn FROM ti_live",
      "    ARRAY JOIN [" .. table.concat(keys, ", ") .. "] AS ti_key, [" .. table.concat(inds, ", ") .. "] AS ti_ind, ["
        .. table.concat(cols, ", ") .. "] AS ti_col",
      "    WHERE ti_key NOT IN ('', '='))",
      "  USING Key",
      ")" }, "\n")
  end

  M.script_helpers(H, ms, param_time, param_ms)
  return H
end

-- Script portability helpers (branch chscripts) ------------------------------------------
-- The functions of ipe.dialect.sqlite's block of the same name; ms(col) the epoch
-- milliseconds of a time column, param_time/param_ms those of a time parameter.
function M.script_helpers(H, ms, param_time, param_ms)
  local function ms_text(v)
    return string.format("concat(formatDateTime(toDateTime(intDiv(%s, 1000), 'UTC'), '%%Y-%%m-%%dT%%H:%%M:%%S', 'UTC'), '.', "
      .. "substring(toString(1000 + %s %% 1000), 2), 'Z')", v, v)
  end
  function H.time_min(col) return ms_text("min(" .. ms(col) .. ")") end
  function H.time_max(col) return ms_text("max(" .. ms(col) .. ")") end
  function H.at_or_before(col, p)
    return string.format("(%s <= %s AND %s <= %s)", col, param_time(p), ms(col), param_ms(p))
  end
  -- text: reals rounded to 12 decimals (SQLite shows 15 significant digits: 0.83, not 0.8300000000000001)
  function H.backslash() return "'\\\\'" end
  function H.text(col) return "toString(round(" .. col .. ", 12))" end
  function H.distinct_count_text(col)
    return string.format("toString(uniqExactIf(%s, %s <> ''))", col, col)
  end
  function H.is(col, p) return string.format("ifNull(%s = %s, 0)", col, p) end
  function H.is_not(col, p) return string.format("ifNull(%s <> %s, 1)", col, p) end
  -- string_agg with distinct sorts the values themselves: numbers in numeric order (445, 1433)
  local string_agg = H.string_agg
  function H.string_agg(col, sep, distinct)
    if not distinct then return string_agg(col, sep) end
    return string.format("if(count(%s) = 0, NULL, arrayStringConcat(arrayMap(x -> toString(x), "
      .. "arraySort(groupUniqArray(%s))), %s))", col, col, M.quote(sep))
  end
  -- seconds_between also takes workspace time text (time_min, time_text): it reads the
  -- text form of the value
  function H.seconds_between(a, b)
    return string.format("toFloat64(dateDiff('second', parseDateTimeBestEffort(toString(%s), 'UTC'), "
      .. "parseDateTimeBestEffort(toString(%s), 'UTC')))", a, b)
  end
end

return M
