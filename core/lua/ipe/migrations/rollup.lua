-- ipe.migrations.rollup: the migration that gives a workspace the per-IP rollups (its
-- version is its place in schema.LATER). The rollups themselves — tables, triggers, bulk
-- rebuild and the window statements — are runtime code: ipe.rollup (ipe.rollup.sqlite here).
--
-- up(db): create the rollup tables, store the window statements in _ipe_ip_queries and
-- count every existing row into them. Rollup tables already present (made complete by an
-- earlier up() or bulk_end(): both run in one transaction with the rows they count) are
-- kept as they are.
local rollup = require "ipe.rollup.sqlite"

local M = {
  description = "per-IP hourly rollups of activity and firewall traffic (_ipe_ip_activity, _ipe_ip_traffic, "
    .. "_ipe_ip_peers), kept by triggers",
  tables = rollup.tables,
}

function M.up(db)
  local existed = db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :n",
                           { n = rollup.TABLE })[1][1] > 0
  for _, sql in ipairs(rollup.tables_ddl()) do db:exec(sql) end
  rollup.store_queries(db)
  if not existed then rollup.rebuild(db) end
  rollup.create_triggers(db)
end

return M
