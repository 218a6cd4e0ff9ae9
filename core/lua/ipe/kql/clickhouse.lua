-- ipe.kql.clickhouse: the engine-specific SQL pieces the KQL compiler emits for ClickHouse
-- (18.16, what Debian packages, and later), the same names as ipe.kql.sqlite. Arguments are
-- SQL text already built (columns, bound :params); nothing here sees a user value: the
-- query's literals stay :kN parameters that ipe.dialect.clickhouse binds (its audited quote).
--
-- ClickHouse 18.16 has no WITH tables and no window functions: M.nested makes the compiler
-- nest each operator as a subquery (aliases renamed inside, see C:sel), order a relation by a
-- hidden tuple of its keys, number a serialized row set through arrays (M.numbered), and
-- refuse what it cannot express (M.REFUSED).
--
-- Value representation (as on SQLite): datetime is text "YYYY-MM-DDTHH:MM:SS.sssZ" (a scan
-- renders a time column X with X_ms, ipe.dialect.clickhouse's time_text); timespan Float64
-- seconds; bool UInt8 0/1; dynamic JSON text; string String (NULL read as "").
-- Dynamic values are read with the visitParam functions (18.16 has no JSONExtract): a key
-- is found at its first occurrence at any depth in compact JSON; arrays are read when flat
-- (strings, numbers, true/false/null elements).
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local dialect = require "ipe.dialect.clickhouse"
local D = dialect.new()
local Q = dialect.quote

local M = {}

M.name = "clickhouse"
M.nested = true          -- each operator a subquery (no WITH tables)
M.term_regex = true      -- has/hasprefix/hassuffix bind a regular expression, not a GLOB
M.VERSION = "ClickHouse 18.16"

-- constructs the compiler refuses with "'X' is not supported on ClickHouse 18.16"
M.REFUSED = {
  -- operators needing a per-row table function
  parse = true,
  -- a subquery per row (mv-apply): 18.16 has no correlated subqueries
  ["mv-apply"] = true,
  -- scalar functions
  range = true, array_slice = true,
  bag_keys = true, bag_pack = true, pack = true,
  ipv4_is_match = true, ipv4_compare = true, ipv6_compare = true, ipv6_is_match = true, dayofweek = true,
  has_any_ipv4 = true, extract_json = true, extractjson = true,
  hash = true, hash_xxhash64 = true,   -- xxHash64 arrived after 18.16 (19.x)
  -- aggregations
  make_bag = true, percentile = true, stdev = true, variance = true,
}

function M.ident(name) return '"' .. name:gsub('[\\"]', "\\%0") .. '"' end

-- a bound value of a Kusto type, typed so every branch of a UNION ALL agrees
local CH_TYPE = { string = "String", long = "Int64", int = "Int64", real = "Float64", bool = "UInt8",
  datetime = "String", dynamic = "String", timespan = "Float64" }
function M.typed(x, ty)
  local t = CH_TYPE[ty]
  if not t then return x end
  return string.format("CAST(%s AS Nullable(%s))", x, t)
end

-- evaluate ipv4_lookup / ipv6_lookup (ipe.dialect.clickhouse's probe keys): a block column's
-- prefix length, key text and whether it is one (fam4: an IPv4 text only); an address's key
-- at prefix length b ('' when it has none)
function M.block(col, fam4)
  local bits, key, ok = D.ip_block(col)
  if fam4 then ok = string.format("(%s AND position(ifNull(%s, ''), ':') = 0)", ok, col) end
  return bits, key, ok
end
-- the prefix lengths (128-bit terms) an address text can be probed at: 96..128 for IPv4 text
function M.prefix_lengths(ip)
  return string.format("if(position(ifNull(%s, ''), ':') > 0, range(129), arrayMap(x -> toUInt64(x + 96), range(33)))", ip)
end
function M.address_key(ip, b, fam4)
  local k = D.ip_key_at(ip, b)
  if fam4 then return string.format("if(position(ifNull(%s, ''), ':') = 0, %s, '')", ip, k) end
  return k
end

function M.cast_real(x) return "toFloat64(" .. x .. ")" end
function M.total(x) return "coalesce(sum(" .. x .. "), 0)" end

-- seconds since the epoch of a datetime text, and back (milliseconds exact). NULL of NULL: a
-- function of a Nullable column runs on its values under the NULLs too ('' there), which
-- toDateTime cannot parse (prev() of the first row, a leftouter join's missing row)
function M.epoch(t)
  return string.format("(toInt64(toUnixTimestamp(toDateTimeOrNull(replaceOne(substring(%s, 1, 19), 'T', ' '), 'UTC'))) "
    .. "+ toUInt16OrZero(substring(%s, 21, 3)) / 1000)", t, t)
end
function M.from_epoch(e)
  local ms = string.format("toInt64(round((%s) * 1000))", e)
  return string.format("concat(formatDateTime(toDateTime(intDiv(%s, 1000), 'UTC'), '%%Y-%%m-%%dT%%H:%%M:%%S', 'UTC'), '.', "
    .. "substring(toString(1000 + %s %% 1000), 2, 3), 'Z')", ms, ms)
end
function M.to_datetime(s)
  -- NULL when the text is no time (concat of a NULL is NULL)
  return string.format("concat(formatDateTime(parseDateTimeBestEffortOrNull(%s), "
    .. "'%%Y-%%m-%%dT%%H:%%M:%%S', 'UTC'), '.', if(match(%s, '\\\\.[0-9]{3}'), extract(%s, '\\\\.([0-9]{3})'), '000'), 'Z')",
    s, s, s)
end
-- a workspace time column (DateTime with X_ms beside it) as datetime text
function M.time_column(col) return D.time_text(col) end
function M.window(col) return D.window(col) end

function M.time_bin(t, span_sql)
  return M.from_epoch(string.format("(floor(%s / %s) * %s)", M.epoch(t), span_sql, span_sql))
end
function M.num_bin(x, r, whole)
  local s = string.format("(floor((%s) / %s) * %s)", x, r, r)
  return whole and "toInt64(" .. s .. ")" or s
end
function M.start_of_day(t) return string.format("concat(substring(%s, 1, 10), 'T00:00:00.000Z')", t) end
function M.seconds_between(a, b) return string.format("(%s - %s)", M.epoch(b), M.epoch(a)) end

-- JSON (dynamic), compact JSON text
-- an element: a string, an object or array one level deep, or a number / true / false / null
local ELEMENT = Q([=["(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\]|[^,\[\]{}\s]+]=])
local FLAT = Q([=[^\s*\[(?:[^\[\]{}]|\{[^{}]*\}|\[[^\[\]]*\])*\]\s*$]=])
-- the text between an array's brackets
local function inside(x)
  return string.format("replaceRegexpOne(ifNull(%s, ''), %s, %s)", x, Q([[^\s*\[(.*)\]\s*$]]), Q([[\1]]))
end
-- the value at a chain of keys (each a bound key name): JSON text, or NULL when missing
function M.json_keys_get(x, keys)
  local obj = "ifNull(" .. x .. ", '')"
  for _, k in ipairs(keys) do obj = string.format("visitParamExtractRaw(%s, %s)", obj, k) end
  return string.format("nullIf(%s, '')", obj)
end
-- the element at a (1-based, negative from the end) bound index of a flat JSON array
function M.json_index(x, i)
  return string.format("nullIf(arrayElement(%s, %s), '')", M.json_elements_array(x), i)
end
-- valid (x known to be well-formed JSON: SQLite's guard dropped) changes nothing here: the
-- visitParam readers need no guard
function M.json_value(x, valid)
  return string.format("multiIf(isNull(%s) OR %s = 'null', NULL, substring(%s, 1, 1) = '\"', "
    .. "visitParamExtractString(concat('{\"v\":', %s, '}'), 'v'), %s)", x, x, x, x, x)
end
function M.json_scalar_of(get) return M.json_value(get) end
function M.parse_json(x)
  return string.format("if(match(ifNull(%s, ''), %s), %s, %s)", x, Q([[^\s*([\[{"]|-?[0-9]|true$|false$|null$)]]), x, M.json_quote(x))
end
function M.json_quote(x)
  return string.format("concat('\"', replaceRegexpAll(toString(%s), %s, %s), '\"')", x, Q([[(["\\])]]), Q([[\\\1]]))
end
-- the elements (JSON text each) of a flat JSON array; a scalar is an array of itself
function M.json_elements_array(x)
  return string.format("if(match(ifNull(%s, ''), %s), extractAll(%s, %s), [ifNull(%s, 'null')])",
    x, FLAT, inside(x), ELEMENT, x)
end
function M.array_length(x)
  return string.format("if(match(ifNull(%s, ''), %s), toInt64(length(extractAll(%s, %s))), NULL)", x, FLAT, inside(x), ELEMENT)
end
-- the element i (0-based) of a flat JSON array as a one-element array, [] when it has none
function M.json_pick(arr, i)
  local els = M.json_elements_array(arr)
  return string.format("if(length(%s) > (%s), concat('[', arrayElement(%s, toUInt64((%s) + 1)), ']'), '[]')", els, i, els, i)
end
-- the elements of a dynamic column of a relation, one per row (strings unquoted): a list's
-- elements, a scalar itself
function M.list_elements(col, rel)
  return string.format("SELECT %s FROM (SELECT arrayJoin(%s) AS _ipe_v FROM %s)", M.json_value("_ipe_v"),
    M.json_elements_array(col), rel)
end
-- split(s, d, i): the part at a 0-based index, as a one-element array ([] past the end)
function M.split_part(s, d, i)
  local parts = string.format("splitByString(%s, %s)", d, s)
  return string.format("if(length(%s) > (%s), concat('[', %s, ']'), '[]')", parts, i,
    M.json_quote(string.format("arrayElement(%s, toUInt64((%s) + 1))", parts, i)))   -- 18.16 reads an Int64 index of a computed array as 0
end
-- strcat_array: the elements' scalar text joined (the separator a literal: 18.16 wants a constant)
function M.strcat_array(arr, sep)
  return string.format("arrayStringConcat(arrayMap(v -> ifNull(%s, ''), %s), %s)", M.json_value("v"), M.json_elements_array(arr), sep)
end
-- set_has_element(arr, string): the string is one of the JSON text's string values (ipe.dialect's
-- json_has_value: at any depth — a flat array's elements)
function M.set_has(arr, v) return D.json_has_value(arr, v) end
-- array_sort_asc: the elements of a flat JSON array sorted by (kind, number, text): numbers, strings
-- (their unescaped text), the others; null last when the SQL nulls_last is true; NULL when x is no array
function M.array_sort(x, nulls_last)
  local e = "_ipe_e"
  local rank = string.format("multiIf(%s = 'null', if(%s, 3, -1), substring(%s, 1, 1) = '\"', 1, match(%s, '^-?[0-9]'), 0, 2)",
    e, nulls_last, e, e)
  local key = string.format("(%s, if(match(%s, '^-?[0-9]'), toFloat64OrZero(%s), 0), if(substring(%s, 1, 1) = '\"', %s, %s))",
    rank, e, e, e, M.json_value(e), e)
  return string.format("if(match(ifNull(%s, ''), %s), concat('[', arrayStringConcat(arraySort(%s -> %s, %s), ','), ']'), NULL)",
    x, FLAT, e, key, M.json_elements_array(x))
end
-- pack_array: a JSON array of values of known Kusto types ({sql=, type=})
function M.json_array_typed(items)
  local parts = {}
  for i, it in ipairs(items) do
    local ty, x = it.type, it.sql
    if ty == "null" then parts[i] = "'null'"
    elseif ty == "dynamic" then parts[i] = string.format("ifNull(%s, 'null')", x)
    elseif ty == "bool" then parts[i] = string.format("multiIf(isNull(%s), 'null', %s <> 0, 'true', 'false')", x, x)
    elseif ty == "string" or ty == "datetime" then parts[i] = string.format("ifNull(%s, 'null')", M.json_quote(x))
    else parts[i] = string.format("ifNull(toString(%s), 'null')", x) end
  end
  for i, x in ipairs(parts) do parts[i] = "assumeNotNull(" .. x .. ")" end   -- never NULL: each has its 'null'
  return "concat('[', " .. (#parts > 0 and "arrayStringConcat([" .. table.concat(parts, ", ") .. "], ',')" or "''") .. ", ']')"
end
function M.split(s, d)
  return string.format("concat('[', arrayStringConcat(arrayMap(v -> %s, splitByString(%s, %s)), ','), ']')",
    M.json_quote("v"), d, s)
end

-- strings
function M.lower(x) return "lower(" .. x .. ")" end
function M.upper(x) return "upper(" .. x .. ")" end
function M.ci_equal(a, b) return string.format("(lower(%s) = lower(%s))", a, b) end
function M.contains(x, n) return string.format("(positionCaseInsensitive(%s, %s) > 0)", x, n) end
function M.contains_cs(x, n) return string.format("(position(%s, %s) > 0)", x, n) end
function M.starts(x, n, cs)
  if cs then return string.format("(substring(%s, 1, length(%s)) = %s)", x, n, n) end
  return string.format("(lower(substring(%s, 1, length(%s))) = lower(%s))", x, n, n)
end
function M.ends(x, n, cs)
  local tail = string.format("substring(%s, length(%s) - length(%s) + 1)", x, x, n)
  if cs then return string.format("(length(%s) >= length(%s) AND %s = %s)", x, n, tail, n) end
  return string.format("(length(%s) >= length(%s) AND lower(%s) = lower(%s))", x, n, tail, n)
end
-- x LIKE pattern (a bound '%...%' with \\ escapes), ignoring case (18.16 has no ILIKE)
function M.like_ci(x, pattern) return string.format("(lower(%s) LIKE lower(%s))", x, pattern) end
-- term matches: the pattern is a bound regular expression made by the compiler
function M.glob(x, pattern, cs)
  if cs then return string.format("match(%s, %s)", x, pattern) end
  return string.format("match(lower(%s), %s)", x, pattern)
end
-- the regular expression of a term (RE2): the term's bytes escaped, bounded by non-alphanumerics
function M.term_regex(n, cs, left, right)
  local e = n:gsub("[^%w]", function(c)
    if c:byte() >= 128 then return c end
    return "\\" .. c
  end)
  local cls = cs and "[^a-zA-Z0-9]" or "[^a-z0-9]"
  return (left and "(^|" .. cls .. ")" or "") .. e .. (right and "($|" .. cls .. ")" or "")
end
function M.glob_term() return nil end   -- a needle computed in SQL: refused by the compiler
function M.regex_match(x, pat) return string.format("match(%s, %s)", x, pat) end
function M.regex_extract(pat, group, x, group_lit)
  if group_lit ~= 1 then return nil end
  return string.format("nullIf(extract(%s, %s), '')", x, pat)
end
function M.strlen(x) return "toInt64(lengthUTF8(" .. x .. "))" end
function M.substring(x, start, len)
  -- byte offsets (18.16's substringUTF8 takes only constant offsets)
  if len then return string.format("substring(%s, toInt64(%s) + 1, toInt64(%s))", x, start, len) end
  return string.format("substring(%s, toInt64(%s) + 1)", x, start)
end
function M.indexof(x, n) return string.format("(toInt64(position(%s, %s)) - 1)", x, n) end
function M.concat(list) return "(" .. table.concat(list, " || ") .. ")" end
function M.to_text(x) return "toString(" .. x .. ")" end
local SPACE = Q([[^\s+|\s+$]])
local function trimmed(x) return string.format("replaceRegexpAll(toString(%s), %s, '')", x, SPACE) end
function M.to_long(x)
  return string.format("if(isNull(toFloat64OrNull(%s)), NULL, toInt64(toFloat64OrNull(%s)))", trimmed(x), trimmed(x))
end
function M.to_real(x) return string.format("toFloat64OrNull(%s)", trimmed(x)) end
-- format_datetime: the strftime pattern (bound; its text in pat) of a datetime text; none with %f
function M.format_time(t, fmt, pat)
  if not pat or pat:find("%f", 1, true) then return nil end
  return string.format("formatDateTime(parseDateTimeBestEffortOrNull(substring(%s, 1, 19)), %s, 'UTC')", t, fmt)
end
function M.pow10(n) return string.format("pow(10, %s)", n) end

-- IP addresses: ipe.dialect.clickhouse's helpers
M.ip_in_cidr = D.ip_in_cidr
-- the named IP ranges (Name, Category, Cidr), current versions: ipe.kql.workspace
M.named_ranges = D.named_ranges
-- an IP in any network of a (flat) JSON array of them
function M.ip_in_any_cidr(ip, arr)
  return string.format("arrayExists(c -> %s, arrayMap(v -> ifNull(%s, ''), %s))", D.ip_in_cidr(ip, "c"),
    M.json_value("v"), M.json_elements_array(arr))
end
-- the address text x in the IPv4 block of network net and mask (bound numbers): an IPv4 text as
-- IPv4NumToString writes it, or an IPv6 text that maps one (::ffff:a.b.c.d), as ip_in_cidr decides
function M.ip4_in_block(x, net, mask)
  return string.format("if(position(%s, ':') > 0, substring(IPv6StringToNum(%s), 1, 12) = unhex('00000000000000000000FFFF') "
    .. "AND bitAnd(reinterpretAsUInt32(reverse(substring(IPv6StringToNum(%s), 13, 4))), %s) = %s, "
    .. "IPv4NumToString(IPv4StringToNum(%s)) = %s AND bitAnd(IPv4StringToNum(%s), %s) = %s)",
    x, x, x, mask, net, x, x, x, mask, net)
end
M.text_has_ip = D.text_has_ip
M.entities_have_ip, M.entity_mapping_has_ip = D.entities_have_ip, D.entity_mapping_has_ip
-- the workspace function ipe_ip_activity(): the activity rollup's rows of the window's hours
function M.ip_activity()
  return "SELECT IP, Hour, Source, Host, Events FROM " .. D.rollup_rows("activity", ":from", ":to")
end
function M.parse_ipv4(ip)
  return string.format("if(IPv4NumToString(IPv4StringToNum(%s)) = %s, toInt64(IPv4StringToNum(%s)), NULL)", ip, ip, ip)
end

-- a serialized row set (18.16 has no window functions, no neighbor(); runningDifference is per
-- block): the rows of src (a FROM item) in the order order_sql gives (nil: as they come),
-- numbered 1, 2 ... as the column ord, each with the values prev() / next() read beside it.
-- Each column goes into an array, in the order of the sorted subquery the arrays are
-- aggregated from (a tuple per value: groupArray skips a NULL, not a tuple holding one); ARRAY
-- JOIN spreads them back out with the index and, per shift, the array of the values moved by
-- its offset: arraySlice / arrayConcat, linear (a lambda capturing an array would copy it per
-- element). A column no outer query reads is dropped by ClickHouse down to the table scan.
--   cols: the quoted columns kept; shifts: { name = quoted column, sql = the value read, type =
--   its Kusto type, back = true for rows before (prev), rows = the bound offset (0 or more),
--   def = SQL of the value past either end, read at that row (nil: null) }
function M.numbered(src, order_sql, cols, ord, shifts)
  local inner, groups, outer = { "toUInt8(1) AS _ipe_one" }, { "groupArray(_ipe_one) AS _ipe_n" }, {}
  local joins = { "arrayEnumerate(_ipe_n) AS _ipe_rn" }
  -- the array of an expression's values, one per row
  local function values(sql, name)
    inner[#inner + 1] = sql .. " AS _ipe_x" .. name
    groups[#groups + 1] = string.format("groupArray(tuple(_ipe_x%s)) AS _ipe_g%s", name, name)
    return "_ipe_g" .. name
  end
  for i, c in ipairs(cols) do
    joins[#joins + 1] = values(c, i) .. " AS _ipe_v" .. i
    outer[i] = string.format("tupleElement(_ipe_v%d, 1) AS %s", i, c)
  end
  outer[#outer + 1] = "toInt64(_ipe_rn) AS " .. ord
  local function unwrap(arr) return string.format("arrayMap(t -> tupleElement(t, 1), %s)", arr) end
  for j, s in ipairs(shifts) do
    local vals = unwrap(values(M.typed(s.sql, s.type), "a" .. j))
    -- the rows past the end read the default
    local defaults = string.format("arrayMap(t -> %s, _ipe_n)", M.typed("NULL", s.type))
    if s.def then defaults = unwrap(values(M.typed(s.def, s.type), "d" .. j)) end
    local rest = string.format("greatest(toInt64(length(_ipe_n)) - %s, 0)", s.rows)   -- the rows that have one
    local moved
    if s.back then
      moved = string.format("arrayConcat(arraySlice(%s, 1, %s), arraySlice(%s, 1, %s))", defaults, s.rows, vals, rest)
    else
      moved = string.format("arrayConcat(arraySlice(%s, %s + 1), arraySlice(%s, %s + 1))", vals, s.rows, defaults, rest)
    end
    joins[#joins + 1] = moved .. " AS " .. s.name
    outer[#outer + 1] = s.name
  end
  return string.format("SELECT %s FROM (SELECT %s FROM (SELECT %s FROM %s%s)) ARRAY JOIN %s",
    table.concat(outer, ", "), table.concat(groups, ", "), table.concat(inner, ", "), src,
    order_sql and " ORDER BY " .. order_sql or "", table.concat(joins, ", "))
end

-- aggregations: a JSON array text (strings quoted, numbers as they print); sets sorted
local function json_items(arr, ty)
  if ty == "string" or ty == "datetime" then return string.format("arrayMap(v -> %s, %s)", M.json_quote("v"), arr) end
  return string.format("arrayMap(v -> toString(v), %s)", arr)
end
local function agg_json(fn, x, cond, ty, sort, limit)
  local arg = cond and string.format("if(%s, %s, NULL)", cond, x) or x
  local arr = string.format("%s(%s)", fn, arg)
  if sort then arr = "arraySort(" .. arr .. ")" end
  if limit then arr = string.format("arraySlice(%s, 1, %s)", arr, limit) end   -- 18.16: groupUniqArray takes no size
  return string.format("concat('[', arrayStringConcat(%s, ','), ']')", json_items(arr, ty))
end
-- limit: a bound number, the most values kept (which ones: as the shards answer)
function M.agg_set(x, cond, ty, limit) return agg_json("groupUniqArray", x, cond, ty, true, limit) end
function M.agg_list(x, cond, ty, limit) return agg_json("groupArray", x, cond, ty, false, limit) end
function M.nulls(desc, nulls)
  if not nulls then return "" end
  return nulls == "first" and " NULLS FIRST" or " NULLS LAST"
end

return M
