-- ipe.clickhouse_schema: the Sentinel-shaped workspace on ClickHouse, derived from
-- ipe.schema's table descriptors (never a second hand-written copy).
--
-- For each Sentinel table T, on every node:
--   T_local  MergeTree, PARTITION BY toYYYYMMDD(TimeGenerated), ORDER BY TimeGenerated
--   T_dist   (when a cluster is named) Distributed over T_local on the cluster, sharded by
--            a hash of the row's primary IP (the table's first IP column; AuditLogs: the
--            InitiatedBy user's ipAddress; tables without an IP column: their id), so one
--            IP's rows sit on one shard
--   T        a VIEW: the rows of the ingests that committed (_IngestId in the ingest log),
--            what scripts read — an ingest still running, killed or failed is never visible
-- Columns: every ipe.schema column with its Kusto type mapped (string/guid/dynamic
-- Nullable(String), int Nullable(Int32), long Nullable(Int64), real Nullable(Float64),
-- bool Nullable(UInt8)), plus _Extra (ipe.migrations.ingest) and _IngestId UInt64.
-- Times: ClickHouse 18.16 has only whole-second DateTime, so a datetime column X is
-- X DateTime('UTC') (clamped to 1970..2106) with X_ms Int64 beside it, the exact epoch
-- milliseconds; a server with DateTime64 gets X DateTime64(3, 'UTC') alone. Which one a
-- workspace uses is in _ipe_meta (key 'time_type': 'DateTime+ms' or 'DateTime64').
-- ipe's own tables: _ipe_meta (key/value, newest Version wins), _ipe_ingest (the ingest
-- log: a row is an ingest's commit), _ipe_ingest_pending (ingests started, for cleanup),
-- _ipe_audit and _ipe_ip_ranges (the response tables; a range's rows are versions, the
-- _ipe_ip_ranges view shows the current, undeleted ones — the SQLite table's content).
--
-- Schema changes go to every node: ON CLUSTER when the cluster has ZooKeeper (distributed
-- DDL), else to each node of nodes= in turn. Every statement is IF NOT EXISTS: migrate
-- is idempotent and a failed one can be run again.
--
--   M.VERSION, M.ddl(opts) -> list of statements ({sql=, database_less=true?})
--   M.migrate(conn) -> from, to;  M.verify(conn) raises unless the workspace is current
--   M.columns(t, time_type) -> { {name=, type=, kind=}, ... } (the _local table's columns)
local schema = require "ipe.schema"
local errors = require "ipe.errors"
local q = require("ipe.dialect.clickhouse").quote

local M = {}

-- 1: the tables; 2: the per-IP rollups (ipe.rollup.clickhouse), counted from the rows already there;
-- 3: the Sentinel columns ipe.schema gained (ipe.migrations.columns), added by add_columns
M.VERSION = 3
M.TIME_SPLIT, M.TIME64 = "DateTime+ms", "DateTime64"
M.EXTRA, M.INGEST_ID = require("ipe.migrations.ingest").COLUMN, "_IngestId"

local CH_TYPE = { string = "String", guid = "String", dynamic = "String", int = "Int32", long = "Int64",
  real = "Float64", bool = "UInt8" }

-- the row id a table without an IP column shards by (its versions stay together)
local SHARD_ID = { SecurityAlert = "SystemAlertId", SecurityIncident = "IncidentNumber", Watchlist = "SearchKey",
  HuntingBookmark = "BookmarkId" }

function M.columns(t, time_type)
  local out = {}
  for _, c in ipairs(t.columns) do
    local tg = c.name == t.time
    if c.type == "datetime" then
      if time_type == M.TIME64 then
        out[#out + 1] = { name = c.name, kind = "time64", type = tg and "DateTime64(3, 'UTC')" or "Nullable(DateTime64(3, 'UTC'))" }
      else
        out[#out + 1] = { name = c.name, kind = "time", type = tg and "DateTime('UTC')" or "Nullable(DateTime('UTC'))" }
        out[#out + 1] = { name = c.name .. "_ms", kind = "ms", of = c.name, type = tg and "Int64" or "Nullable(Int64)" }
      end
    else
      local d = { name = c.name, kind = c.type, type = "Nullable(" .. CH_TYPE[c.type] .. ")" }
      if c.name == "Type" then d.default = q(t.name) end
      out[#out + 1] = d
    end
  end
  out[#out + 1] = { name = M.EXTRA, kind = "dynamic", type = "Nullable(String)" }
  out[#out + 1] = { name = M.INGEST_ID, kind = "id", type = "UInt64" }
  return out
end

function M.shard_key(t)
  local ip = t.ip_columns[1]
  if ip then return "cityHash64(ifNull(" .. ip .. ", ''))" end
  if t.ip_json[1] then
    local leaf = t.ip_json[1].path:match("([%w_]+)$")
    return "cityHash64(visitParamExtractString(ifNull(" .. t.ip_json[1].column .. ", ''), " .. q(leaf) .. "))"
  end
  if SHARD_ID[t.name] then return "cityHash64(ifNull(toString(" .. SHARD_ID[t.name] .. "), ''))" end
  return "rand()"
end

local function col_defs(cols)
  local defs = {}
  for i, c in ipairs(cols) do defs[i] = c.name .. " " .. c.type .. (c.default and (" DEFAULT " .. c.default) or "") end
  return table.concat(defs, ", ")
end

-- ipe's own tables: name, columns, engine, sharding key
local OWN = {
  { name = "_ipe_meta", cols = "key String, value String, Version UInt64", engine = "MergeTree ORDER BY key",
    key = "cityHash64(key)" },
  { name = "_ipe_ingest", cols = "Id UInt64, ContentHash String, Path String, Format String, TableName String, "
      .. "Tables String, Rows UInt64, Rejected UInt64, Skipped UInt64, Bytes UInt64, IngestedAt String",
    engine = "MergeTree ORDER BY Id", key = "Id" },
  { name = "_ipe_ingest_pending", cols = "Id UInt64, Host String, Pid UInt32, StartedAt String, Tables String",
    engine = "MergeTree ORDER BY Id", key = "Id", hidden = true },
  { name = "_ipe_audit", cols = "Id UInt64, TimeGenerated String, User String, Action String, Operation String, "
      .. "Target Nullable(String), Parameters String, Result String, Details Nullable(String)",
    engine = "MergeTree ORDER BY Id", key = "Id" },
  { name = "_ipe_ip_ranges_versions", cols = "Name String, Cidr String, Category String, Tags String DEFAULT '[]', "
      .. "CreatedBy String, CreatedTime String, UpdatedBy String, LastUpdatedTime String, Version UInt64, Deleted UInt8",
    engine = "ReplacingMergeTree(Version) ORDER BY (Name, Cidr)", key = "cityHash64(Name, Cidr)", hidden = true },
}

local RANGES_VIEW = [[SELECT Name, Cidr, argMax(Category, Version) AS Category, argMax(Tags, Version) AS Tags,
  argMax(CreatedBy, Version) AS CreatedBy, argMax(CreatedTime, Version) AS CreatedTime,
  argMax(UpdatedBy, Version) AS UpdatedBy, argMax(LastUpdatedTime, Version) AS LastUpdatedTime
  FROM %s GROUP BY Name, Cidr HAVING argMax(Deleted, Version) = 0]]

-- read_name(base, cluster): what a statement reads for base (the Distributed table, else the local one)
local function source(base, cluster) return base .. (cluster and "_dist" or "_local") end

-- ddl{database=, cluster=, on_cluster=bool, time_type=} -> statements, in order
function M.ddl(o)
  local db, cluster = o.database, o.cluster
  local on = (cluster and o.on_cluster) and (" ON CLUSTER " .. cluster) or ""
  local out = { { sql = "CREATE DATABASE IF NOT EXISTS " .. db .. on, no_database = true } }
  local function add(sql) out[#out + 1] = { sql = sql } end
  local function pair(name, cols, engine, key)
    add(string.format("CREATE TABLE IF NOT EXISTS %s.%s_local%s (%s) ENGINE = %s", db, name, on, cols, engine))
    if cluster then
      add(string.format("CREATE TABLE IF NOT EXISTS %s.%s_dist%s AS %s.%s_local ENGINE = Distributed(%s, %s, %s_local, %s)",
        db, name, on, db, name, cluster, db, name, key))
    end
  end
  for _, own in ipairs(OWN) do pair(own.name, own.cols, own.engine, own.key) end
  local ingest = source("_ipe_ingest", cluster)
  local global = cluster and "GLOBAL " or ""
  for _, own in ipairs(OWN) do
    if not own.hidden then
      add(string.format("CREATE VIEW IF NOT EXISTS %s.%s%s AS SELECT * FROM %s.%s", db, own.name, on, db, source(own.name, cluster)))
    end
  end
  add(string.format("CREATE VIEW IF NOT EXISTS %s._ipe_ip_ranges%s AS " .. RANGES_VIEW, db, on,
    db .. "." .. source("_ipe_ip_ranges_versions", cluster)))
  for _, t in ipairs(schema.tables) do
    pair(t.name, col_defs(M.columns(t, o.time_type)),
      string.format("MergeTree PARTITION BY toYYYYMMDD(%s) ORDER BY %s", t.time, t.time), M.shard_key(t))
    add(string.format("CREATE VIEW IF NOT EXISTS %s.%s%s AS SELECT * FROM %s.%s WHERE %s %sIN (SELECT Id FROM %s.%s)",
      db, t.name, on, db, source(t.name, cluster), M.INGEST_ID, global, db, ingest))
  end
  -- the per-IP rollups: tables kept by materialized views on the T_local tables
  for _, st in ipairs(require("ipe.rollup.clickhouse").ddl{ database = db, cluster = cluster, on = on,
    time_type = o.time_type }) do add(st.sql) end
  return out
end

-- the server's capabilities: ZooKeeper (distributed DDL) and DateTime64
local function probe(conn, sql)
  return pcall(conn.query, conn, sql)
end

-- nodes(conn) -> the connections schema changes go to, and whether they use ON CLUSTER
function M.targets(conn)
  local t = conn.target
  if not t.cluster then return { conn }, false end
  if probe(conn, "SELECT count() FROM system.zookeeper WHERE path = '/'") then return { conn }, true end
  if #t.nodes == 0 then
    errors.failed("clickhouse %s: the cluster '%s' has no ZooKeeper for ON CLUSTER; list the HTTP address of each of "
      .. "its nodes in the URL: ?cluster=%s&nodes=host:port,host:port", t.server, t.cluster, t.cluster)
  end
  local out = {}
  for i = 1, #t.nodes do out[i] = conn:on_node(i) end
  return out, false
end

-- meta(conn, key) -> the value, nil when the workspace has no _ipe_meta (Code 60: not made
-- yet); any other failure (the server unreachable, out of time) is raised as it is
local function meta(conn, key)
  local ok, rows = pcall(conn.query, conn, "SELECT argMax(value, Version) FROM _ipe_meta WHERE key = :k", { k = key })
  if not ok then
    local msg = errors.is(rows) and rows.msg or tostring(rows)
    if msg:find(": Code 81: ", 1, true) or msg:find(": Code 60: ", 1, true) then return nil end
    error(rows, 0)
  end
  return rows[1] and rows[1][1] ~= "" and rows[1][1] or nil
end

-- version(conn) -> the workspace's schema version (0: none), its time type
function M.version(conn)
  local v = meta(conn, "schema_version")
  return tonumber(v) or 0, meta(conn, "time_type")
end

-- verify(conn): raises unless the workspace is current; sets conn.time_type (what
-- ipe.dialect.clickhouse writes its time SQL for)
function M.verify(conn)
  local shown = conn.target.display
  local v, time_type = M.version(conn)
  schema.require_version(shown, v, M.VERSION, "create it with 'ipe-run migrate --db " .. shown .. "'")
  conn.time_type = time_type or M.TIME_SPLIT
end

-- add_columns(conn, nodes, on_cluster, time_type): columns ipe.schema gained since the
-- workspace was made (its tables only ever gain columns) are added to T_local and T_dist
-- (the views read SELECT *); returns how many
function M.add_columns(conn, nodes, on_cluster, time_type)
  local added = 0
  for _, node in ipairs(nodes) do
    local have = {}
    for _, r in ipairs(node:query("SELECT table, name FROM system.columns WHERE database = :db", { db = node.target.database })) do
      have[r[1] .. "." .. r[2]] = true
    end
    local on = on_cluster and (" ON CLUSTER " .. conn.target.cluster) or ""
    for _, t in ipairs(schema.tables) do
      for _, c in ipairs(M.columns(t, time_type)) do
        for _, suffix in ipairs(node.target.cluster and { "_local", "_dist" } or { "_local" }) do
          if not have[t.name .. suffix .. "." .. c.name] then
            node:exec(string.format("ALTER TABLE %s%s%s ADD COLUMN %s %s%s", t.name, suffix, on, c.name, c.type,
              c.default and (" DEFAULT " .. c.default) or ""))
            added = added + 1
          end
        end
      end
    end
  end
  return added
end

-- migrate(conn) -> from, to: creates or upgrades the workspace on every node, then
-- records the version (once: _ipe_meta is cluster-wide)
function M.migrate(conn)
  local nodes, on_cluster = M.targets(conn)
  local from, time_type = M.version(conn)
  if from > M.VERSION then
    error(string.format("workspace schema version %d is newer than this ipe (%d); upgrade ipe", from, M.VERSION), 0)
  end
  if from == M.VERSION then
    M.add_columns(conn, nodes, on_cluster, time_type)
    return from, from
  end
  time_type = time_type or (probe(conn, "SELECT toDateTime64('2020-01-01 00:00:00', 3, 'UTC')") and M.TIME64 or M.TIME_SPLIT)
  for _, node in ipairs(nodes) do
    for _, st in ipairs(M.ddl{ database = node.target.database, cluster = node.target.cluster, on_cluster = on_cluster,
      time_type = time_type }) do
      node:exec(st.sql, nil, { no_database = st.no_database })
    end
  end
  local settings = { settings = { insert_distributed_sync = 1 } }
  if from > 0 then
    -- the columns ipe.schema gained since the workspace's version (CREATE ... IF NOT EXISTS kept its tables)
    M.add_columns(conn, nodes, on_cluster, time_type)
    -- a workspace made before the rollups: count its rows into them, once (run it while no ingest runs)
    if from < 2 then
      for _, st in ipairs(require("ipe.rollup.clickhouse").backfill(conn.target.database, conn.target.cluster, time_type)) do
        conn:exec(st.sql, nil, settings)
      end
    end
    conn:exec("INSERT INTO " .. source("_ipe_meta", conn.target.cluster) .. " (key, value, Version) VALUES "
      .. "('schema_version', :v, :n)", { v = tostring(M.VERSION), n = M.VERSION }, settings)
    return from, M.VERSION
  end
  -- the key of the per-record hashes (ipe.migrations.ingest's record_key reads it)
  local rnd = require("ipe.fs").read_head("/dev/urandom", 16) or tostring(os.time())
  local key = rnd:gsub(".", function(c) return string.format("%02x", c:byte()) end):sub(1, 32)
  conn:exec("INSERT INTO " .. source("_ipe_meta", conn.target.cluster) .. " (key, value, Version) VALUES "
    .. "('schema_version', :v, :n), ('time_type', :t, :n), ('record_hash_key', :k, :n)",
    { v = tostring(M.VERSION), t = time_type, n = M.VERSION, k = key }, { settings = { insert_distributed_sync = 1 } })
  return from, M.VERSION
end

-- migrate_verb(url): ipe-run migrate --db clickhouse://... (messages as for SQLite)
function M.migrate_verb(url)
  local conn = require("ipe.clickhouse").open(url, { role = "writer", timeout = 600 })
  local shown = conn.target.display
  local ok, from, to = pcall(M.migrate, conn)
  if not ok then
    if errors.is(from) then error(from, 0) end
    errors.failed("migrate: %s: %s", shown, tostring(from))
  end
  if from == to then
    io.stdout:write(string.format("workspace %s is current (schema version %d)\n", shown, to))
  else
    io.stdout:write(string.format("workspace %s migrated from schema version %d to %d\n", shown, from, to))
  end
  return 0
end

return M
