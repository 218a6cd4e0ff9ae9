-- ipe.dialect.sqlite: the SQL text of ctx.db's helpers on a SQLite workspace.
--
-- ipe.dialect.clickhouse implements the same functions (same names, arguments and
-- results); ipe.db checks every argument (columns and aliases are plain identifiers,
-- "alias.Col" at most; parameters are ":name"; a separator or a needle is a short
-- constant of the script) and passes them here already checked, so these functions only
-- put checked names into SQL text — never a value. The SQL a helper returns is
-- documented with ctx.db's helper of the same name (ipe.db, README "ctx.db helpers").
--
--   M.new(conn) -> the helper table for a connection (SQLite has one flavour: M itself)
local M = {}

function M.new() return M end

M.name = "sqlite"

-- Time ---------------------------------------------------------------------------------

function M.window(col)
  return string.format("(%s >= :from AND %s <= :to)", col, col)
end

local BUCKETS = {
  minute = { 16, ":00.000Z" }, hour = { 13, ":00:00.000Z" }, day = { 10, "T00:00:00.000Z" },
}

function M.bucket(col, unit)
  local b = BUCKETS[unit]
  return string.format("(substr(%s, 1, %d) || '%s')", col, b[1], b[2])
end

-- Workspace times are already text ("2024-05-01T10:00:00.000Z").
function M.time_text(col) return col end

function M.seconds_between(a, b)
  return string.format("((julianday(%s) - julianday(%s)) * 86400.0)", b, a)
end

-- Strings ------------------------------------------------------------------------------

-- The distinct form sorts its values as ClickHouse does (ipe_sorted_distinct, core/sql_agg.c).
function M.string_agg(col, sep, distinct)
  if distinct then return string.format("ipe_sorted_distinct(%s, '%s')", col, sep) end
  return string.format("group_concat(%s, '%s')", col, sep)
end

function M.position(col, needle)
  return string.format("instr(%s, '%s')", col, needle)
end

function M.host_short(col)
  return string.format("lower(CASE WHEN %s GLOB '*[A-Za-z]*' AND instr(%s, '.') > 0 "
    .. "THEN substr(%s, 1, instr(%s, '.') - 1) ELSE %s END)", col, col, col, col, col)
end

function M.host_label(col)
  return string.format("substr(%s, 1, instr(%s || '.', '.') - 1)", col, col)
end

-- JSON ---------------------------------------------------------------------------------

function M.json(col, path)
  return string.format("json_extract(%s, '$.%s')", col, path)
end

function M.json_has_value(col, p)
  return string.format("(instr(%s, %s) > 0 AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(%s) "
    .. "THEN %s END) WHERE value = %s))", col, p, col, col, p)
end

M.json_array_has = M.json_has_value

function M.json_valid(col)
  return string.format("COALESCE(json_valid(%s), 0)", col)
end

-- the elements of a flat JSON array (strings, numbers, true, false, null), joined to the row of
-- col's table; any other text (an object, an array holding one or an array, not JSON) has none
-- (as on ClickHouse)
function M.json_each(col, alias, path)
  local at = path and (", '$." .. path .. "'") or ""
  return string.format("CROSS JOIN json_each(CASE WHEN json_valid(%s) THEN CASE WHEN json_type(%s%s) = 'array' AND NOT EXISTS "
    .. "(SELECT 1 FROM json_each(%s%s) WHERE type IN ('array', 'object')) THEN %s END END%s) AS %s",
    col, col, at, col, at, col, at, alias)
end

function M.entities_have_ip(col, p)
  return string.format("(instr(%s, %s) > 0 AND EXISTS (SELECT 1 FROM json_each(%s) e WHERE "
    .. "lower(json_extract(e.value, '$.Type')) = 'ip' AND json_extract(e.value, '$.Address') = %s))",
    col, p, col, p)
end

function M.entity_mapping_has_ip(col, p)
  return string.format("(instr(%s, %s) > 0 AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(%s) THEN %s END, "
    .. "'$.__entityMapping') m WHERE m.key = %s AND upper(m.value) = 'IP'))", col, p, col, col, p)
end

-- IP addresses -------------------------------------------------------------------------

function M.ip_in_list(col, p)
  return string.format("(%s IN (SELECT value FROM json_each(%s)))", col, p)
end

-- ip_with_port(col, p): col is the IP :p, alone or with a port ("1.2.3.4:51234", "[2001:db8::1]:443"); never NULL
function M.ip_with_port(col, p)
  return string.format("COALESCE(%s = %s OR %s LIKE '[' || %s || ']%%' OR (instr(%s, ':') = 0 AND %s LIKE %s || ':%%'), 0)",
    col, p, col, p, p, col, p)
end

-- time_in_list(col, p): the time column col is one of the workspace times (text) of the list :p
function M.time_in_list(col, p)
  return string.format("(%s IN (SELECT value FROM json_each(%s)))", col, p)
end

-- cidr: a ":param" or a column holding CIDR text
function M.ip_in_cidr(col, cidr)
  return string.format("ipe_ip_in_cidr(%s, %s)", col, cidr)
end

function M.text_has_ip(col, p)
  return string.format("(instr(%s, %s) > 0 AND ipe_text_has_ip(%s, %s))", col, p, col, p)
end

-- Records ------------------------------------------------------------------------------

-- latest(tname, alias, keys, where, order): a SELECT of the rows of tname (as alias)
-- matching where, the latest of each key (order: the time columns, newest first).
function M.latest(tname, alias, keys, where, order)
  local by = {}
  for i, c in ipairs(order) do by[i] = c .. " DESC" end
  return string.format("SELECT * FROM (SELECT %s.*, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s) AS Version\n"
    .. "    FROM %s %s WHERE %s)\n  WHERE Version = 1", alias, table.concat(keys, ", "), table.concat(by, ", "),
    tname, alias, where)
end

-- Rollups and workspace tables -----------------------------------------------------------

M.ROLLUP_TABLES = { activity = "_ipe_ip_activity", peers = "_ipe_ip_peers", traffic = "_ipe_ip_traffic" }

-- The stored rows of a per-IP hourly rollup whose hour is that of from_p, of to_p or between.
function M.rollup_rows(name, from_p, to_p, ip_p)
  return string.format("(SELECT * FROM %s WHERE %sHour >= substr(%s, 1, 13) AND Hour <= substr(%s, 1, 13))",
    M.ROLLUP_TABLES[name], ip_p and ("IP = " .. ip_p .. " AND ") or "", from_p, to_p)
end

local ROLLUP_BUCKETS = { hour = "(%s || ':00:00.000Z')", day = "(substr(%s, 1, 10) || 'T00:00:00.000Z')" }

-- The start of the hour or day of a rollup row's Hour, as workspace time text.
function M.rollup_bucket(col, unit)
  return string.format(ROLLUP_BUCKETS[unit], col)
end

-- rows_in_ip_hours(tname, source, p): the rows of tname (with its TimeGenerated) in the hours in
-- which the activity rollup saw the IP :p in source, from :from's hour to :to's: a subquery.
-- The hours drive the search (one TimeGenerated index range each: Hour <= T < Hour || ';' is
-- "T's first 13 characters are Hour" for workspace times), so a table the IP is absent from
-- costs nothing instead of a scan of the window.
function M.rows_in_ip_hours(tname, source, p)
  return string.format("(SELECT t.* FROM (SELECT DISTINCT Hour FROM %s WHERE IP = %s AND Source = '%s') h\n"
    .. "    CROSS JOIN %s t WHERE t.TimeGenerated >= h.Hour AND t.TimeGenerated < h.Hour || ';')",
    M.rollup_rows("activity", ":from", ":to"), p, source, tname)
end

M.NAMED_RANGES_EXIST = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ipe_ip_ranges'"

function M.named_ranges()
  return "(SELECT Name, Category, Cidr FROM _ipe_ip_ranges)"
end

-- Alerts, incidents, threat intelligence --------------------------------------------------

function M.alerts_naming_ip(p)
  return table.concat({
    "WITH alerts AS (",
    "  " .. M.latest("SecurityAlert", "a", { "SystemAlertId" },
      M.window("TimeGenerated") .. " AND " .. M.entities_have_ip("Entities", p), { "TimeGenerated" }),
    "), incidents AS (",
    "  " .. M.latest("SecurityIncident", "i", { "IncidentNumber" }, M.window("TimeGenerated")
      .. "\n      AND EXISTS (SELECT 1 FROM json_each(i.AlertIds) x JOIN alerts ON alerts.SystemAlertId = x.value)",
      { "TimeGenerated" }),
    ")",
  }, "\n")
end

-- Threat intelligence: "a live indicator matches this IP", one definition for every script.
--
-- An indicator row names an IP when one of its IP columns (NetworkIP, NetworkSourceIP,
-- NetworkDestinationIP, EmailSourceIpAddress) is the IP, or one of its CIDR columns
-- (NetworkCidrBlock, NetworkSourceCidrBlock, NetworkDestinationCidrBlock) holds it — found
-- through the numeric ranges of _ipe_ti_ranges (ipe.migrations.ti_ranges): one key probe per
-- prefix length in use, never a test of every block. An indicator counts as its latest version
-- (the newest row of its IndicatorId up to the window's end, ties to the later row); it is live
-- when that version is Active and not expired at :now.
local TI = "ThreatIntelligenceIndicator"
M.TI_IP_COLUMNS = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" }

local TI_LIVE = "(%s.Active = 1 AND (%s.ExpirationDateTime IS NULL OR %s.ExpirationDateTime > :now))"
local TI_LATEST = "(+%s.TimeGenerated <= :to AND NOT EXISTS (SELECT 1 FROM " .. TI .. " n WHERE n.IndicatorId = "
  .. "%s.IndicatorId AND n.TimeGenerated <= :to AND (n.TimeGenerated > %s.TimeGenerated OR "
  .. "(n.TimeGenerated = %s.TimeGenerated AND n.rowid > %s.rowid))))"

-- The prefix lengths in use, one index seek each (a loose scan of _ipe_ti_ranges' key).
local TI_BITS = "ti_bits(Bits) AS (SELECT min(Bits) FROM _ipe_ti_ranges UNION ALL "
  .. "SELECT (SELECT min(Bits) FROM _ipe_ti_ranges r WHERE r.Bits > ti_bits.Bits) FROM ti_bits "
  .. "WHERE ti_bits.Bits IS NOT NULL)"

-- The blocks holding the address `ip` (SQL): rows (TiRow, Block, Role, Bits).
local function ti_blocks(ip)
  return "SELECT r.TiRow, r.Block, r.Role, r.Bits FROM ti_bits b CROSS JOIN _ipe_ti_ranges r "
    .. "ON r.Bits = b.Bits AND r.RangeStart = ipe_ip_key(" .. ip .. ", b.Bits)"
end

function M.ti_live(alias)
  return string.format(TI_LIVE, alias, alias, alias)
end

function M.ti_latest(alias)
  return string.format(TI_LATEST, alias, alias, alias, alias, alias)
end

function M.ti_matching_ip(ip)
  local hits = {}
  for _, c in ipairs(M.TI_IP_COLUMNS) do
    hits[#hits + 1] = string.format("  SELECT rowid AS TiRow, %s AS MatchedIndicator, '%s' AS MatchedColumn, 200 AS Rank"
      .. " FROM %s WHERE %s = %s", c, c, TI, c, ip)
  end
  hits[#hits + 1] = "  " .. ti_blocks(ip)
  return table.concat({
    "WITH RECURSIVE " .. TI_BITS .. ", ti_hits AS (",
    table.concat(hits, "\n  UNION ALL\n"),
    "), ti AS (",
    "  SELECT t.rowid AS TiRow, t.*, h.MatchedIndicator, h.MatchedColumn,",
    "         CASE WHEN " .. M.ti_live("t") .. " THEN 1 ELSE 0 END AS Live",
    "  FROM (SELECT TiRow, MatchedIndicator, MatchedColumn,",
    "               ROW_NUMBER() OVER (PARTITION BY TiRow ORDER BY Rank DESC, MatchedIndicator) AS k FROM ti_hits) h",
    "  JOIN " .. TI .. " t ON t.rowid = h.TiRow",
    "  WHERE h.k = 1 AND " .. M.ti_latest("t"),
    ")",
  }, "\n")
end

function M.ti_matching_ips(ips)
  local parts = {}
  for _, c in ipairs(M.TI_IP_COLUMNS) do
    parts[#parts + 1] = string.format("  SELECT %s AS IP, TiRow, %s AS MatchedIndicator, '%s' AS MatchedColumn FROM ti_live"
      .. " WHERE %s IN (SELECT IP FROM %s)", c, c, c, c, ips)
  end
  -- CROSS JOIN fixes the loop order: per address and prefix length, one key probe
  parts[#parts + 1] = "  SELECT i.IP, r.TiRow, r.Block, r.Role FROM " .. ips .. " i CROSS JOIN ti_bits b"
    .. " CROSS JOIN _ipe_ti_ranges r ON r.Bits = b.Bits AND r.RangeStart = ipe_ip_key(i.IP, b.Bits)"
    .. " JOIN ti_live l ON l.TiRow = r.TiRow"
  return table.concat({
    ", " .. TI_BITS .. ", ti_live AS MATERIALIZED (",
    "  SELECT t.rowid AS TiRow, t.* FROM " .. TI .. " t WHERE " .. M.ti_latest("t") .. " AND " .. M.ti_live("t"),
    "), ti_ip AS (",
    table.concat(parts, "\n  UNION ALL\n"),
    ")",
  }, "\n")
end

-- The live indicators, for an export: the latest version of each IndicatorId (ties to the
-- later row), Active and not expired at :now; every column, Created (the first version's
-- time) and Version (how many versions), oldest first.
function M.ti_export()
  return [[
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC, rowid DESC) AS Latest,
         MIN(TimeGenerated) OVER (PARTITION BY IndicatorId) AS Created,
         COUNT(*) OVER (PARTITION BY IndicatorId) AS Version
  FROM ThreatIntelligenceIndicator
  WHERE IndicatorId IS NOT NULL
)
WHERE Latest = 1 AND Active = 1 AND (ExpirationDateTime IS NULL OR ExpirationDateTime > :now)
ORDER BY Created, IndicatorId]]
end

-- The rows of a ti_matching_ip WITH list whose CIDR column `col` holds the IP.
function M.ti_block_match(col)
  return string.format("rowid IN (SELECT TiRow FROM ti_hits WHERE MatchedColumn = '%s')", col)
end

-- Script portability helpers (branch chscripts) ------------------------------------------
-- time_min(col), time_max(col): the earliest / latest time of col in the group, as
-- workspace time text. at_or_before(col, p): col is at or before the time parameter :p.
function M.time_min(col) return "MIN(" .. col .. ")" end
function M.time_max(col) return "MAX(" .. col .. ")" end
function M.at_or_before(col, p) return string.format("%s <= %s", col, p) end
-- is(col, p), is_not(col, p): col is (is not) the value of :p, a NULL col being none (never NULL)
function M.is(col, p) return string.format("%s IS %s", col, p) end
-- text(col): a number (or any value) as text, as `'score ' || col` shows it
function M.text(col) return col end
-- backslash(): the string constant of one backslash ('\\' on ClickHouse, whose strings escape)
function M.backslash() return "'\\'" end
-- distinct_count_text(col): how many distinct non-empty values col has in the group, as text
function M.distinct_count_text(col) return string.format("count(DISTINCT CASE WHEN %s <> '' THEN %s END)", col, col) end
function M.is_not(col, p) return string.format("%s IS NOT %s", col, p) end

return M
