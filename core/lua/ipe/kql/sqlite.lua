-- ipe.kql.sqlite: the engine-specific SQL pieces the KQL compiler emits for SQLite, one
-- function per fragment. Arguments are SQL text already built (columns, bound :params);
-- nothing here sees a user value. ipe.kql.clickhouse has the same names.
--
-- Value representation: datetime is TEXT "YYYY-MM-DDTHH:MM:SS.sssZ"; timespan REAL seconds;
-- bool INTEGER 0/1; dynamic JSON TEXT; string TEXT (NULL read as "").
-- The pieces ctx.db's helpers also need come from ipe.dialect.sqlite (time buckets, seconds
-- between two times, IP in CIDR, text holding an IP); those only KQL needs are here.
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local D = require("ipe.dialect.sqlite").new()

local M = {}

M.name = "sqlite"
M.cte_hint = " AS NOT MATERIALIZED ("   -- each CTE inlined where read (see C:cte)

function M.ident(name) return '"' .. name:gsub('"', '""') .. '"' end

-- seconds since the epoch of a datetime, and back
function M.epoch(t) return "round((julianday(" .. t .. ") - 2440587.5) * 86400.0, 3)" end
function M.from_epoch(e) return "strftime('%Y-%m-%dT%H:%M:%fZ', " .. e .. ", 'unixepoch')" end
function M.to_datetime(s)
  return "strftime('%Y-%m-%dT%H:%M:%fZ', " .. s .. ")"
end

-- bin(t, span): the start of t's bucket; whole minutes, hours and days by the text
local UNIT = { [60] = "minute", [3600] = "hour", [86400] = "day" }
function M.time_bin(t, span_sql, span_value)
  if UNIT[span_value] then return D.bucket(t, UNIT[span_value]) end
  return M.from_epoch(string.format("(floor(%s / %s) * %s)", M.epoch(t), span_sql, span_sql))
end
function M.num_bin(x, r, whole)
  local s = string.format("(floor((%s) * 1.0 / %s) * %s)", x, r, r)
  return whole and "CAST(" .. s .. " AS INTEGER)" or s
end
function M.start_of_day(t) return D.bucket(t, "day") end
function M.seconds_between(a, b) return D.seconds_between(a, b) end

-- JSON (dynamic): get returns JSON text, scalar the SQL value (string unquoted); valid = x is
-- known to be well-formed JSON (built by json()/json_array()...): no json_valid() guard, x once
function M.json_get(x, path, valid)
  if valid then return string.format("(%s -> (%s))", x, path) end
  return string.format("(CASE WHEN json_valid(%s) THEN %s -> (%s) END)", x, x, path)
end
function M.json_scalar(x, path, valid)
  if valid then return string.format("(%s ->> (%s))", x, path) end
  return string.format("(CASE WHEN json_valid(%s) THEN %s ->> (%s) END)", x, x, path)
end
function M.json_value(x, valid)
  if valid then return string.format("(%s ->> '$')", x) end
  return string.format("(CASE WHEN json_valid(%s) THEN %s ->> '$' ELSE %s END)", x, x, x)
end
-- the element i (0-based) of a well-formed JSON array as a one-element array, [] when it has none
function M.json_pick(arr, i)
  return string.format("(SELECT json_group_array(value) FROM json_each(%s) WHERE key = (%s))", arr, i)
end
function M.parse_json(x) return string.format("(CASE WHEN json_valid(%s) THEN json(%s) ELSE json_quote(%s) END)", x, x, x) end
function M.json_quote(x) return "json_quote(" .. x .. ")" end
function M.array_length(x)
  return string.format("(CASE WHEN json_valid(%s) THEN (CASE WHEN json_type(%s) = 'array' THEN json_array_length(%s) END) END)", x, x, x)
end
function M.bag_keys(x)
  return string.format("(CASE WHEN json_valid(%s) THEN (CASE WHEN json_type(%s) = 'object' THEN "
    .. "(SELECT json_group_array(key) FROM json_each(%s)) END) END)", x, x, x)
end
function M.json_array(list) return "json_array(" .. table.concat(list, ", ") .. ")" end
function M.json_object(list) return "json_object(" .. table.concat(list, ", ") .. ")" end
-- elements of a JSON array as a one-column subquery
function M.json_elements(x) return "(SELECT value FROM json_each(" .. x .. "))" end
-- the elements of a dynamic column of a relation, one per row: a list's elements, a
-- scalar itself, text that is not JSON as it is
function M.list_elements(col, rel)
  return string.format("SELECT e.value FROM %s, json_each(CASE WHEN json_valid(%s) THEN %s ELSE json_quote(%s) END) e",
    rel, col, col, col)
end
function M.set_has(arr, v)
  return string.format("EXISTS (SELECT 1 FROM json_each(%s) WHERE value = %s)", arr, v)
end
-- array_sort_asc: the elements of a JSON array sorted: numbers, strings, the others (by their JSON
-- text, as on ClickHouse); nulls last when the SQL nulls_last is true, ties in their order. The
-- rows (type, value) of x's elements so sorted, as subquery s (none when x is no array):
local function sorted_elements(x, nulls_last)
  local rank = string.format("CASE j.type WHEN 'integer' THEN 0 WHEN 'real' THEN 0 WHEN 'text' THEN 1 "
    .. "WHEN 'null' THEN (CASE WHEN %s THEN 3 ELSE -1 END) ELSE 2 END", nulls_last)
  return string.format("(SELECT j.type, j.value FROM json_each(CASE WHEN json_valid(%s) THEN (CASE WHEN json_type(%s) = 'array' "
    .. "THEN %s END) END) j ORDER BY %s, CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE j.value END, j.key) s",
    x, x, x, rank)
end
-- the sorted array (NULL when x is no array)
function M.array_sort(x, nulls_last)
  return string.format("(CASE WHEN json_valid(%s) THEN (CASE WHEN json_type(%s) = 'array' THEN (SELECT json_group_array("
    .. "CASE WHEN s.type IN ('object', 'array') THEN json(s.value) WHEN s.type = 'true' THEN json('true') "
    .. "WHEN s.type = 'false' THEN json('false') ELSE s.value END) FROM %s) END) END)", x, x, sorted_elements(x, nulls_last))
end
-- strcat_array(array_sort_asc(x), sep) in one pass: the sorted elements' text joined by sep
function M.strcat_sorted(x, nulls_last, sep)
  return string.format("coalesce((SELECT group_concat(CASE WHEN s.type IN ('object', 'array') THEN s.value WHEN s.type = 'true' "
    .. "THEN 'true' WHEN s.type = 'false' THEN 'false' ELSE coalesce(CAST(s.value AS TEXT), '') END, %s) FROM %s), '')",
    sep, sorted_elements(x, nulls_last))
end
function M.split(s, d)
  -- a JSON array of the parts: the delimiter as it reads inside a JSON string becomes '","'
  return string.format("json('[' || replace(json_quote(%s), substr(json_quote(%s), 2, length(json_quote(%s)) - 2), '\",\"') || ']')",
    s, d, d)
end

-- strings: case-insensitive compare, term match (pattern is a GLOB over lower-case text)
function M.lower(x) return "lower(" .. x .. ")" end
function M.upper(x) return "upper(" .. x .. ")" end
function M.ci_equal(a, b) return string.format("(%s = %s COLLATE NOCASE)", a, b) end
function M.contains(x, n) return string.format("(instr(lower(%s), lower(%s)) > 0)", x, n) end
function M.contains_cs(x, n) return string.format("(instr(%s, %s) > 0)", x, n) end
-- x LIKE pattern (a bound '%...%' with \\ escapes): ASCII case-insensitive, as lower() is
function M.like_ci(x, pattern) return string.format("(%s LIKE %s ESCAPE '\\')", x, pattern) end
-- x starts with a literal, ignoring ASCII case (as lower() does): pattern is the bound LIKE
-- pattern 'prefix%' (its %, _ and \\ escaped)
function M.starts_like(x, pattern) return M.like_ci(x, pattern) end
function M.starts(x, n, cs)
  if cs then return string.format("(substr(%s, 1, length(%s)) = %s)", x, n, n) end
  return string.format("(lower(substr(%s, 1, length(%s))) = lower(%s))", x, n, n)
end
function M.ends(x, n, cs)
  local tail = string.format("(CASE WHEN length(%s) = 0 THEN '' ELSE substr(%s, -length(%s)) END)", n, x, n)
  if cs then return string.format("(%s = %s)", tail, n) end
  return string.format("(lower(%s) = lower(%s))", tail, n)
end
-- glob_pattern: a bound GLOB pattern already made by the compiler ("*[^a-z0-9]term[^a-z0-9]*")
function M.glob(x, pattern, cs)
  if cs then return string.format("((' ' || %s || ' ') GLOB %s)", x, pattern) end
  return string.format("((' ' || lower(%s) || ' ') GLOB %s)", x, pattern)
end
-- the GLOB of a term computed in SQL (a needle that is not a literal)
function M.glob_term(n, cs)
  local esc = string.format("replace(replace(replace(%s, '[', '[[]'), '*', '[*]'), '?', '[?]')", cs and n or "lower(" .. n .. ")")
  local cls = cs and "[^a-zA-Z0-9]" or "[^a-z0-9]"
  return string.format("('*%s' || %s || '%s*')", cls, esc, cls)
end
-- hash(x [, mod]): XXH64 of the text (core/sql_hash.c), as Kusto's hash() of a string
function M.hash(x, mod) return mod and string.format("ipe_xxhash64(%s, %s)", x, mod) or string.format("ipe_xxhash64(%s)", x) end
function M.regex_match(x, pat) return string.format("regexp(%s, %s)", pat, x) end
function M.regex_extract(pat, group, x) return string.format("ipe_regex_extract(%s, %s, %s)", pat, group, x) end
function M.strlen(x) return "length(" .. x .. ")" end
function M.substring(x, start, len)
  if len then return string.format("substr(%s, (%s) + 1, %s)", x, start, len) end
  return string.format("substr(%s, (%s) + 1)", x, start)
end
function M.indexof(x, n) return string.format("(instr(%s, %s) - 1)", x, n) end
function M.concat(list) return "(" .. table.concat(list, " || ") .. ")" end
function M.to_text(x) return "CAST(" .. x .. " AS TEXT)" end
function M.to_long(x)
  return string.format("(CASE WHEN typeof(%s) IN ('integer', 'real') THEN CAST(%s AS INTEGER) "
    .. "WHEN trim(%s) GLOB '[0-9+-]*' AND trim(%s) NOT GLOB '?*[^0-9.eE+-]*' THEN CAST(trim(%s) AS INTEGER) END)",
    x, x, x, x, x)
end
function M.to_real(x)
  return string.format("(CASE WHEN typeof(%s) IN ('integer', 'real') THEN CAST(%s AS REAL) "
    .. "WHEN trim(%s) GLOB '[0-9+.-]*' AND trim(%s) NOT GLOB '?*[^0-9.eE+-]*' THEN CAST(trim(%s) AS REAL) END)",
    x, x, x, x, x)
end
function M.format_time(t, fmt) return string.format("strftime(%s, %s)", fmt, t) end
function M.pow10(n) return string.format("power(10.0, %s)", n) end

-- IP addresses (the workspace's own SQL functions, core/bind_sqlite.c)
M.ip_in_cidr = D.ip_in_cidr
-- the named IP ranges (Name, Category, Cidr), current versions: ipe.kql.workspace
M.named_ranges = D.named_ranges
-- an IP in any network of a JSON array of them
function M.ip_in_any_cidr(ip, arr)
  return string.format("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(%s) THEN %s ELSE '[]' END) r WHERE coalesce(%s, 0))",
    arr, arr, M.ip_in_cidr(ip, "r.value"))
end
function M.ip_key(ip, bits) return bits and string.format("ipe_ip_key(%s, %s)", ip, bits) or string.format("ipe_ip_key(%s)", ip) end
function M.cidr_low(cidr) return string.format("ipe_cidr_range(%s, 0)", cidr) end
M.text_has_ip = D.text_has_ip
M.entities_have_ip, M.entity_mapping_has_ip = D.entities_have_ip, D.entity_mapping_has_ip
-- the workspace function ipe_ip_activity(): the activity rollup's rows of the window's hours
function M.ip_activity()
  return "SELECT IP, Hour, Source, Host, Events FROM " .. D.rollup_rows("activity", ":from", ":to")
end
-- evaluate ipv4_lookup / ipv6_lookup: a block column's prefix length in 128-bit terms (NULL:
-- no block; fam4: an IPv4 text only) and first address, the key of an address at a prefix
-- length (NULL: none, or an IPv4 address under an IPv6-only length)
function M.block(col, fam4)
  local bits = string.format("ipe_cidr_range(%s, 2)", col)
  if fam4 then bits = string.format("(CASE WHEN instr(%s, ':') = 0 THEN %s END)", col, bits) end
  return bits, string.format("ipe_cidr_range(%s, 0)", col)
end
function M.address_key(ip, bits, fam4)
  if fam4 then return string.format("(CASE WHEN instr(%s, ':') = 0 THEN ipe_ip_key(%s, %s) END)", ip, ip, bits) end
  return string.format("ipe_ip_key(%s, %s)", ip, bits)
end
function M.parse_ipv4(ip) return string.format("ipe_parse_ipv4(%s)", ip) end

-- aggregations
function M.agg_set(x, cond)
  return string.format("json_group_array(DISTINCT %s) FILTER (WHERE %s IS NOT NULL%s)", x, x, cond and " AND (" .. cond .. ")" or "")
end
function M.agg_list(x, cond)
  return string.format("json_group_array(%s) FILTER (WHERE %s IS NOT NULL%s)", x, x, cond and " AND (" .. cond .. ")" or "")
end
function M.nulls(desc, nulls)
  if not nulls then return "" end
  return nulls == "first" and " NULLS FIRST" or " NULLS LAST"
end

return M
