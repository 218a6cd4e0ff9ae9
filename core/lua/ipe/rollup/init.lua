-- ipe.rollup: the per-IP rollups, one implementation per engine — runtime code that
-- scripts reach through ctx.db:rollup_query(name) and that writers (ingest, demo)
-- and migrations drive.
--
--   ipe.rollup.sqlite      the tables, AFTER INSERT triggers, bulk rebuild and the
--                          window statements stored in a SQLite workspace's _ipe_ip_queries
--   ipe.rollup.clickhouse  AggregatingMergeTree tables kept by materialized views at
--                          insert time, and the window statements over them
--
--   rollup.NAMES                 the window statements: "activity", "traffic", "peers"
--   rollup.engine(dialect)       -> the module of the engine ("sqlite" | "clickhouse")
--   rollup.statement(h, name)    -> the window statement `name` (binds :ip, :from, :to) of
--                                   the workspace behind the ctx.db handle h, or nil when
--                                   there is no statement of that name. SQLite: the one the
--                                   workspace stores (its migrations keep it current);
--                                   ClickHouse: the module's.
-- Loads no migration code.
local M = {}

M.NAMES = { "activity", "traffic", "peers" }
local known = { activity = true, traffic = true, peers = true }

function M.engine(dialect)
  if dialect == "clickhouse" then return require "ipe.rollup.clickhouse" end
  return require "ipe.rollup.sqlite"
end

function M.statement(h, name)
  if not known[name] then return nil end
  if h.dialect == "clickhouse" then return require("ipe.rollup.clickhouse").statement(name) end
  return h:value("SELECT Sql FROM _ipe_ip_queries WHERE Name = :name", { name = name })
end

return M
