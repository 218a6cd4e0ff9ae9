-- ipe.rollup.clickhouse: the per-IP rollups of a ClickHouse workspace, kept by the engine at
-- insert time — the same rows as ipe.rollup.sqlite (see there and ipe.rollup for what counts).
--
-- On every node (ON CLUSTER, or node by node as ipe.clickhouse_schema does):
--   X_local   AggregatingMergeTree, X one of _ipe_ip_activity, _ipe_ip_traffic, _ipe_ip_peers:
--             the keys of the SQLite table, _IngestId, and the measures as aggregate states
--             (Events countState, sums sumState(Int64), FirstSeen/LastSeen min/maxState of the
--             epoch milliseconds), ORDER BY the keys
--   X_mv_T    materialized views TO X_local: one per log table T with IP-bearing places
--             (activity) and one per rollup and side of a firewall record (traffic, peers);
--             each INSERT into T_local (what T_dist forwards to the shard) adds its block's
--             aggregate rows
--   X_all     what reads use: Distributed over X_local on the cluster, else a Merge table
--             over X_local (a table, so the key's index serves WHERE IP = ...)
--   X         a view: the committed rows merged, as the SQLite table holds them (Hour a
--             DateTime, FirstSeen/LastSeen the workspace's times) — what ctx.db:rollup_rows reads
-- A rollup row keeps the ingest its rows came in with (_IngestId): reads count only the
-- ingests in the ingest log (committed), as the Sentinel views do, so a failed or killed
-- ingest (whose raw rows ipe.ingest.clickhouse deletes) is never counted.
-- Approximations of SQLite's JSON walk (ClickHouse 18.16 has no JSON path functions): a JSON
-- path ($.user.ipAddress) is the string of the last key inside a flat object of the first;
-- an IP list is every string of the JSON text.
--
--   M.ddl{database=, cluster=, on=" ON CLUSTER c" | "", time_type=} -> statements, in order
--   M.backfill(database, cluster, time_type) -> INSERT ... SELECT statements counting the
--                                 rows already there (for a workspace made before the rollups)
--   M.row_has_ip(tname, prefix, param) -> SQL: a row of tname names the IP (ctx.db:row_names_ip)
--   M.statement(name, time_type, cluster) -> the window statement "activity", "traffic" or "peers"
--                                 (binds :ip, :from, :to; the rows of ipe.rollup.sqlite's) for
--                                 X
local model = require "ipe.rollup"
local schema = require "ipe.schema"
local q = require("ipe.dialect.clickhouse").quote

local M = {}

local TIME64 = "DateTime64"

-- the row's epoch milliseconds and hour ('YYYY-MM-DDTHH') of its TimeGenerated (prefix "T." or "")
local function ms_of(p, time_type)
  if time_type == TIME64 then return "toUnixTimestamp64Milli(" .. p .. "TimeGenerated)" end
  return p .. "TimeGenerated_ms"
end
local function hour_of(p) return "formatDateTime(" .. p .. "TimeGenerated, '%Y-%m-%dT%H')" end

-- SQL: the value v has the shape of an IPv4 or IPv6 address (ipe.rollup.sqlite's shape)
local function colons(v) return "(length(" .. v .. ") - length(replaceAll(" .. v .. ", ':', '')))" end
local function shape(v)
  return "((match(" .. v .. ", " .. q("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$") .. ") AND length(" .. v .. ") <= 15)"
    .. " OR (match(" .. v .. ", " .. q("^[0-9a-fA-F:.]+$") .. ") AND " .. colons(v) .. " >= 2 AND length(" .. v
    .. ") <= 45 AND (position(" .. v .. ", '::') > 0 OR " .. colons(v) .. " = 7)))"
end

local function class(chars) return "[" .. chars:gsub("[%]%[\\%^%-]", "\\%0") .. "]" end

-- SQL: a candidate cut down as SQLite's rtrim(trim(v, TRIMMED), '.')
local function trimmed(v)
  local c = class(model.TRIMMED)
  return "replaceRegexpAll(replaceRegexpAll(" .. v .. ", " .. q("^" .. c .. "+|" .. c .. "+$") .. ", ''), "
    .. q("\\.+$") .. ", '')"
end

-- SQL: a column that may carry a port or brackets (ipe.rollup.sqlite's without_port)
local function without_port(c)
  return "multiIf(substring(" .. c .. ", 1, 1) = '[' AND position(" .. c .. ", ']') > 0, substring(" .. c .. ", 2, "
    .. "position(" .. c .. ", ']') - 2), position(" .. c .. ", '.') > 0 AND position(" .. c .. ", '.') < position(" .. c
    .. ", ':') AND " .. colons(c) .. " = 1, substring(" .. c .. ", 1, position(" .. c .. ", ':') - 1), " .. c .. ")"
end

-- SQL: Array(String) of a text's tokens (none when it holds a control character other than
-- tab, CR and LF: SQLite's JSON array of them is then invalid)
local function tokens(c)
  local seps = { " " }
  for _, s in ipairs(model.SEPARATORS) do seps[#seps + 1] = s end
  return "if(match(" .. c .. ", " .. q("[\1-\8\11\12\14-\31\0]") .. "), emptyArrayString(), splitByChar(' ', "
    .. "replaceRegexpAll(" .. c .. ", " .. q(class(table.concat(seps))) .. ", ' ')))"
end

-- SQL: the string at a JSON path "$.a.b" (the last key's string inside a flat object of the others)
local function json_path(c, path)
  local keys = {}
  for k in path:gmatch("[^%.%$]+") do keys[#keys + 1] = k end
  local re = {}
  for i, k in ipairs(keys) do
    re[#re + 1] = '"' .. k .. '"\\s*:\\s*' .. (i < #keys and "\\{[^{}]*" or '"([^"\\\\]*)"')
  end
  return "extract(" .. c .. ", " .. q(table.concat(re)) .. ")"
end

-- the IP-bearing columns of t, each as ifNull(p .. column, '')
local function places(t, p)
  local out = {}
  for _, c in ipairs(t.ip_columns) do out[#out + 1] = "ifNull(" .. p .. c .. ", '')" end
  for _, j in ipairs(t.ip_json) do out[#out + 1] = "ifNull(" .. p .. j.column .. ", '')" end
  for _, l in ipairs(t.ip_lists) do
    if l.shape == "array" then out[#out + 1] = "ifNull(" .. p .. l.column .. ", '')" end
  end
  for _, c in ipairs(t.ip_text) do out[#out + 1] = "ifNull(" .. p .. c .. ", '')" end
  return out
end

-- SQL: a row of t may name the IP `needle` (a bound parameter): one of its IP-bearing places
-- holds it as a substring. Every IP ips() finds is a substring of one of them (a column
-- without its port, a JSON string, a token of a text), so this cheap test keeps every row
-- that names it and spares most rows the tokenising and the regexps.
local function may_name(t, p, needle)
  local out = {}
  for i, c in ipairs(places(t, p)) do out[i] = "position(" .. c .. ", " .. needle .. ") > 0" end
  return "(" .. table.concat(out, " OR ") .. ")"
end

-- SQL: Array(String), the distinct IPs a row of t names (p: "T_local." or ""); with needle (a
-- bound parameter), only those among them that hold it as a substring (enough for has(.., needle))
local function ips(t, p, needle)
  local cols, parts = {}, {}
  local with_port = {}
  for _, c in ipairs(t.ip_with_port) do with_port[c] = true end
  for _, c in ipairs(t.ip_columns) do
    local v = "ifNull(" .. p .. c .. ", '')"
    cols[#cols + 1] = with_port[c] and without_port(v) or v
  end
  for _, j in ipairs(t.ip_json) do cols[#cols + 1] = json_path("ifNull(" .. p .. j.column .. ", '')", j.path) end
  if #cols > 0 then parts[1] = "[" .. table.concat(cols, ", ") .. "]" end
  for _, l in ipairs(t.ip_lists) do
    if l.shape == "array" then parts[#parts + 1] = "extractAll(ifNull(" .. p .. l.column .. ", ''), " .. q('"([^"\\\\]*)"') .. ")" end
  end
  for _, c in ipairs(t.ip_text) do parts[#parts + 1] = tokens("ifNull(" .. p .. c .. ", '')") end
  local all = #parts == 1 and parts[1] or "arrayConcat(" .. table.concat(parts, ", ") .. ")"
  -- only a candidate with a '.' or a ':' can have an address's shape once trimmed (trimming
  -- only takes characters away): the cheap test spares most tokens of a text the regexps
  local keep = needle and ("position(v, " .. needle .. ") > 0") or "position(v, '.') > 0 OR position(v, ':') > 0"
  local candidates = "arrayFilter(v -> " .. keep .. ", " .. all .. ")"
  return "arrayDistinct(arrayFilter(v -> " .. shape("v") .. ", arrayMap(v -> " .. trimmed("v") .. ", " .. candidates .. ")))"
end

local function host_of(t, p)
  local o = model.HOSTS[t.name]
  if o then
    return "if(ifNull(" .. p .. o[1] .. ", '') != '', assumeNotNull(" .. p .. o[1] .. "), ifNull(" .. p .. o[2] .. ", ''))"
  end
  return t.host and ("ifNull(" .. p .. t.host .. ", '')") or "''"
end

-- the log tables with IP-bearing places (the tables of ipe.rollup.sqlite's sources())
local function sources()
  local out = {}
  for _, t in ipairs(schema.tables) do
    local arrays = 0
    for _, l in ipairs(t.ip_lists) do if l.shape == "array" then arrays = arrays + 1 end end
    if t.kind == "log" and #t.ip_columns + #t.ip_json + #t.ip_text + arrays > 0 then out[#out + 1] = t end
  end
  return out
end
M.sources = sources

-- row_has_ip(tname, prefix, param) -> SQL: the row (columns prefixed "t.") of the log table
-- tname names the IP :param in one of its IP-bearing places, as the rollups count it (nil when
-- tname has none) — ctx.db:row_names_ip on ClickHouse
function M.row_has_ip(tname, prefix, param)
  for _, t in ipairs(sources()) do
    if t.name == tname then return "has(" .. ips(t, prefix, param) .. ", " .. param .. ")" end
  end
end

-- One side of a firewall record (prefix p): its IP, condition, and an SQL value for every
-- key and measure of the CSL rollups (ipe.rollup.sqlite's side()).
local function side(sd, p)
  local ip = p .. sd.ip
  local cond = "ifNull(" .. ip .. ", '') != ''"
  if sd.not_same then cond = cond .. " AND (" .. p .. sd.peer .. " IS NULL OR " .. ip .. " != " .. p .. sd.peer .. ")" end
  local acts = {}
  for i, a in ipairs(model.ALLOWED_ACTIONS) do acts[i] = q(a) end
  local allowed = "(lower(ifNull(" .. p .. "DeviceAction, '')) IN (" .. table.concat(acts, ", ") .. "))"
  return {
    ip = "assumeNotNull(" .. ip .. ")", cond = cond,
    Direction = q(sd.dir), Port = "toInt32(ifNull(" .. p .. "DestinationPort, -1))",
    Protocol = "lower(ifNull(" .. p .. "Protocol, ''))", Action = "ifNull(" .. p .. "DeviceAction, '')",
    Peer = "ifNull(" .. p .. sd.peer .. ", '')", PeerHost = "ifNull(" .. p .. sd.host .. ", '')",
    Reporter = "ifNull(" .. p .. "Computer, '')",
    Events = "1", Allowed = "toInt64(" .. allowed .. ")", Blocked = "toInt64(1 - " .. allowed .. ")",
    BytesFromIP = "toInt64(ifNull(" .. p .. sd.from_ip .. ", 0))", BytesToIP = "toInt64(ifNull(" .. p .. sd.to_ip .. ", 0))",
  }
end

local ACTIVITY_KEYS = { "Source", "Host" }
local TYPE = { Port = "Int32" }

local function table_ddl(name, keys, sums, db, on)
  local cols = { "IP String", "Hour String" }
  for _, k in ipairs(keys) do cols[#cols + 1] = k .. " " .. (TYPE[k] or "String") end
  cols[#cols + 1] = "_IngestId UInt64"
  for _, m in ipairs(sums) do
    cols[#cols + 1] = m .. (m == "Events" and " AggregateFunction(count)" or " AggregateFunction(sum, Int64)")
  end
  cols[#cols + 1] = "FirstSeen AggregateFunction(min, Int64)"
  cols[#cols + 1] = "LastSeen AggregateFunction(max, Int64)"
  return string.format("CREATE TABLE IF NOT EXISTS %s.%s_local%s (%s) ENGINE = AggregatingMergeTree "
    .. "ORDER BY (IP, Hour, %s, _IngestId)", db, name, on, table.concat(cols, ", "), table.concat(keys, ", "))
end

local function states(sums, v)
  local out = {}
  for i, m in ipairs(sums) do
    out[i] = (m == "Events" and "countState()" or ("sumState(" .. v[m] .. ")")) .. " AS " .. m
  end
  return table.concat(out, ", ")
end

-- the SELECT of each materialized view: { {name=, target=, source=, select=}, ... }, reading
-- T<suffix> ("_local" for the views)
local function views(db, time_type, suffix)
  suffix = suffix or "_local"
  local out = {}
  for _, t in ipairs(sources()) do
    local p = t.name .. suffix .. "."
    out[#out + 1] = { name = model.TABLE .. "_mv_" .. t.name, target = model.TABLE, source = t.name,
      select = "SELECT arrayJoin(" .. ips(t, p) .. ") AS IP, " .. hour_of(p) .. " AS Hour, " .. q(t.name) .. " AS Source, "
        .. host_of(t, p) .. " AS Host, " .. p .. "_IngestId AS _IngestId, countState() AS Events, minState(" .. ms_of(p, time_type)
        .. ") AS FirstSeen, maxState(" .. ms_of(p, time_type) .. ") AS LastSeen FROM " .. db .. "." .. t.name .. suffix
        .. " GROUP BY IP, Hour, Source, Host, _IngestId" }
  end
  local p = "CommonSecurityLog" .. suffix .. "."
  for _, r in ipairs(model.CSL_ROLLUPS) do
    for i, sd in ipairs(model.SIDES) do
      local v = side(sd, p)
      local keys = {}
      for j, k in ipairs(r.keys) do keys[j] = v[k] .. " AS " .. k end
      out[#out + 1] = { name = r.table .. "_mv_" .. i, target = r.table, source = "CommonSecurityLog",
        select = "SELECT " .. v.ip .. " AS IP, " .. hour_of(p) .. " AS Hour, " .. table.concat(keys, ", ") .. ", " .. p
          .. "_IngestId AS _IngestId, " .. states(r.sums, v) .. ", minState(" .. ms_of(p, time_type) .. ") AS FirstSeen, "
          .. "maxState(" .. ms_of(p, time_type) .. ") AS LastSeen FROM " .. db .. ".CommonSecurityLog" .. suffix .. " WHERE " .. v.cond
          .. " GROUP BY IP, Hour, " .. table.concat(r.keys, ", ") .. ", _IngestId" }
    end
  end
  return out
end

local function rollups()
  local out = { { name = model.TABLE, keys = ACTIVITY_KEYS, sums = { "Events" } } }
  for _, r in ipairs(model.CSL_ROLLUPS) do out[#out + 1] = { name = r.table, keys = r.keys, sums = r.sums } end
  return out
end

-- X: a view of the committed rows as the SQLite table holds them (ctx.db:rollup_rows reads it):
-- the keys, Hour the DateTime of the hour's start, the measures as Int64, FirstSeen and
-- LastSeen as the workspace's times (DateTime with X_ms beside it, or DateTime64)
local function rows_view(r, db, on, time_type)
  local inner, cols = { "IP", "Hour AS r_Hour" }, { "IP", "toDateTime(concat(replaceOne(r_Hour, 'T', ' '), ':00:00'), 'UTC') AS Hour" }
  for _, k in ipairs(r.keys) do inner[#inner + 1] = k; cols[#cols + 1] = k end
  for _, m in ipairs(r.sums) do
    inner[#inner + 1] = (m == "Events" and "countMerge" or "sumMerge") .. "(" .. m .. ") AS r_" .. m
    cols[#cols + 1] = "toInt64(r_" .. m .. ") AS " .. m
  end
  inner[#inner + 1] = "minMerge(FirstSeen) AS r_F"
  inner[#inner + 1] = "maxMerge(LastSeen) AS r_L"
  for _, t in ipairs({ { "FirstSeen", "r_F" }, { "LastSeen", "r_L" } }) do
    if time_type == TIME64 then
      cols[#cols + 1] = "fromUnixTimestamp64Milli(" .. t[2] .. ", 'UTC') AS " .. t[1]
    else
      cols[#cols + 1] = "toDateTime(intDiv(" .. t[2] .. ", 1000), 'UTC') AS " .. t[1]
      cols[#cols + 1] = t[2] .. " AS " .. t[1] .. "_ms"
    end
  end
  return string.format("CREATE VIEW IF NOT EXISTS %s.%s%s AS SELECT %s FROM (SELECT %s FROM %s.%s_all WHERE _IngestId "
    .. "GLOBAL IN (SELECT Id FROM %s._ipe_ingest) GROUP BY IP, r_Hour%s)", db, r.name, on, table.concat(cols, ", "),
    table.concat(inner, ", "), db, r.name, db, #r.keys > 0 and (", " .. table.concat(r.keys, ", ")) or "")
end

-- ddl{database=, cluster=, on=, time_type=} -> { {sql=}, ... }: tables, readers, the
-- materialized views, then the row views
function M.ddl(o)
  local db, on, out = o.database, o.on or "", {}
  for _, r in ipairs(rollups()) do
    out[#out + 1] = { sql = table_ddl(r.name, r.keys, r.sums, db, on) }
    local engine = o.cluster and string.format("Distributed(%s, %s, %s_local, rand())", o.cluster, db, r.name)
      or string.format("Merge(%s, %s)", db, q("^" .. r.name .. "_local$"))
    out[#out + 1] = { sql = string.format("CREATE TABLE IF NOT EXISTS %s.%s_all%s AS %s.%s_local ENGINE = %s",
      db, r.name, on, db, r.name, engine) }
  end
  for _, v in ipairs(views(db, o.time_type)) do
    out[#out + 1] = { sql = string.format("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s%s TO %s.%s_local AS %s",
      db, v.name, on, db, v.target, v.select) }
  end
  for _, r in ipairs(rollups()) do out[#out + 1] = { sql = rows_view(r, db, on, o.time_type) } end
  return out
end

-- backfill(database, cluster, time_type) -> the statements that count the rows the workspace
-- holds into its rollups, once, when it gains them: on a cluster from T_dist into X_all (its
-- shards' rollups are summed by every read), else from T_local into X_local
function M.backfill(db, cluster, time_type)
  local out = {}
  for _, v in ipairs(views(db, time_type, cluster and "_dist" or "_local")) do
    out[#out + 1] = { sql = "INSERT INTO " .. db .. "." .. v.target .. (cluster and "_all " or "_local ") .. v.select }
  end
  return out
end

---------------------------------------------------------------------------
-- The window statements
---------------------------------------------------------------------------
-- whole hours strictly inside the window from the rollup (committed ingests only); the hours
-- holding the window's edges recounted from the raw rows between :from and :to
local function ms_text(v)
  return "(toInt64(toDateTime(concat(substring(" .. v .. ", 1, 10), ' ', substring(" .. v .. ", 12, 8)), 'UTC')) * 1000"
    .. " + toInt64(substring(" .. v .. ", 21, 3)))"
end
local function text_ms(v)
  return "concat(formatDateTime(toDateTime(intDiv(" .. v .. ", 1000), 'UTC'), '%Y-%m-%dT%H:%M:%S'), '.', "
    .. "substring(toString(1000 + " .. v .. " % 1000), 2, 3), 'Z')"
end
local COMMITTED = "_IngestId GLOBAL IN (SELECT Id FROM _ipe_ingest)"
local INSIDE = "Hour > substring(:from, 1, 13) AND Hour < substring(:to, 1, 13) AND " .. COMMITTED
-- the start of the hour of a time parameter, a DateTime
local function hour_start(p)
  return "toDateTime(concat(substring(" .. p .. ", 1, 10), ' ', substring(" .. p .. ", 12, 2), ':00:00'), 'UTC')"
end
-- the raw rows of the window's edge hours, committed ones: read from T_dist (T_local on one
-- server) and not the view T, whose WHERE ClickHouse 18.16 does not push down (every shard
-- would send its whole table); the TimeGenerated bounds (the tables' key and partitions) prune
-- to the two hours, the milliseconds decide
local function edge(time_type)
  local ms = ms_of("", time_type)
  local key = "((TimeGenerated >= " .. hour_start(":from") .. " AND TimeGenerated < " .. hour_start(":from")
    .. " + 3600) OR (TimeGenerated >= " .. hour_start(":to") .. " AND TimeGenerated < " .. hour_start(":to") .. " + 3600))"
  return key .. " AND " .. ms .. " >= " .. ms_text(":from") .. " AND " .. ms .. " <= " .. ms_text(":to") .. " AND "
    .. hour_of("") .. " IN (substring(:from, 1, 13), substring(:to, 1, 13)) AND " .. COMMITTED
end
local function raw(name, cluster) return name .. (cluster and "_dist" or "_local") end

-- merged(r) -> "countMerge(Events) AS r_Events, ..." of a rollup's measures
local function merged(sums)
  local out = {}
  for i, m in ipairs(sums) do out[i] = (m == "Events" and "countMerge" or "sumMerge") .. "(" .. m .. ") AS r_" .. m end
  return table.concat(out, ", ")
end

local function outer(keys, sums, body)
  local cols = {}
  for _, k in ipairs(keys) do cols[#cols + 1] = "r_" .. k .. " AS " .. k end
  for _, m in ipairs(sums) do cols[#cols + 1] = "toInt64(r_" .. m .. ") AS " .. m end
  cols[#cols + 1] = text_ms("r_F") .. " AS FirstSeen"
  cols[#cols + 1] = text_ms("r_L") .. " AS LastSeen"
  return "SELECT " .. table.concat(cols, ", ") .. "\nFROM (\n" .. table.concat(body, "\nUNION ALL\n") .. "\n)"
end

local function renamed(list, prefix)
  local out = {}
  for i, k in ipairs(list) do out[i] = (prefix or "") .. k .. " AS r_" .. k end
  return table.concat(out, ", ")
end
local function prefixed(list)
  local out = {}
  for i, k in ipairs(list) do out[i] = "r_" .. k end
  return table.concat(out, ", ")
end

local function activity_sql(time_type, cluster)
  local body = { "SELECT Source AS r_Source, Hour AS r_Hour, Host AS r_Host, countMerge(Events) AS r_Events, "
    .. "minMerge(FirstSeen) AS r_F, maxMerge(LastSeen) AS r_L FROM " .. model.TABLE .. "_all WHERE IP = :ip AND "
    .. INSIDE .. " GROUP BY r_Source, r_Hour, r_Host" }
  for _, t in ipairs(sources()) do
    body[#body + 1] = "SELECT " .. q(t.name) .. " AS r_Source, r_Hour, r_Host, count() AS r_Events, min(r_ms) AS r_F, "
      .. "max(r_ms) AS r_L FROM (SELECT " .. hour_of("") .. " AS r_Hour, " .. host_of(t, "") .. " AS r_Host, "
      .. ms_of("", time_type) .. " AS r_ms, " .. ips(t, "", ":ip") .. " AS r_ips FROM " .. raw(t.name, cluster) .. " WHERE " .. edge(time_type) .. " AND " .. may_name(t, "", ":ip")
      .. ") WHERE has(r_ips, :ip) GROUP BY r_Hour, r_Host"
  end
  return outer({ "Source", "Hour", "Host" }, { "Events" }, body)
end

local function csl_sql(r, time_type, cluster)
  local body = { "SELECT Hour AS r_Hour, " .. renamed(r.keys) .. ", " .. merged(r.sums) .. ", minMerge(FirstSeen) AS r_F, "
    .. "maxMerge(LastSeen) AS r_L FROM " .. r.table .. "_all WHERE IP = :ip AND " .. INSIDE .. " GROUP BY r_Hour, "
    .. prefixed(r.keys) }
  for _, sd in ipairs(model.SIDES) do
    local v = side(sd, "")
    local cols, sums = {}, {}
    for _, k in ipairs(r.keys) do cols[#cols + 1] = v[k] .. " AS r_" .. k end
    for _, m in ipairs(r.sums) do
      cols[#cols + 1] = v[m] .. " AS r_v" .. m
      sums[#sums + 1] = "sum(r_v" .. m .. ") AS r_" .. m
    end
    body[#body + 1] = "SELECT r_Hour, " .. prefixed(r.keys) .. ", " .. table.concat(sums, ", ") .. ", min(r_ms) AS r_F, "
      .. "max(r_ms) AS r_L FROM (SELECT " .. hour_of("") .. " AS r_Hour, " .. table.concat(cols, ", ") .. ", "
      .. ms_of("", time_type) .. " AS r_ms FROM " .. raw("CommonSecurityLog", cluster) .. " WHERE " .. sd.ip .. " = :ip AND " .. v.cond .. " AND "
      .. edge(time_type) .. ") GROUP BY r_Hour, " .. prefixed(r.keys)
  end
  return outer(r.keys, r.sums, body)
end

local cache = {}
-- statement(name [, time_type [, cluster]]) -> the window statement, rows as ipe.rollup.sqlite's:
-- activity (Source, Hour, Host, Events, FirstSeen, LastSeen); traffic and peers (the keys,
-- the sums, FirstSeen, LastSeen), one row per hour and keys.
function M.statement(name, time_type, cluster)
  time_type = time_type or "DateTime+ms"
  local key = name .. "\0" .. time_type .. "\0" .. tostring(not not cluster)
  if cache[key] then return cache[key] end
  local sql
  if name == "activity" then sql = activity_sql(time_type, cluster) end
  for _, r in ipairs(model.CSL_ROLLUPS) do if r.name == name then sql = csl_sql(r, time_type, cluster) end end
  cache[key] = sql
  return sql
end

return M
