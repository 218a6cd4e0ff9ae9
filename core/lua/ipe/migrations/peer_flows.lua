-- ipe.migrations.peer_flows: the firewall peers rollup keyed by the flow as well (its version
-- is its place in schema.LATER).
--
-- Workspaces of the version before kept one _ipe_ip_peers row per IP, hour, peer and peer
-- host. This ipe's peers rollup (ipe.rollup.sqlite) also keys Direction, Port, Protocol,
-- Action and Reporter (the device that logged the record, Computer), so that the firewall rows
-- of the remote-connections panel are sums of it instead of a read of every raw record.
-- up(db) replaces an old-shaped table by the new one recounted from the CommonSecurityLog
-- rows (reads every firewall record once), re-creates the triggers (the firewall one writes
-- the peers) and stores the new "peers" window statement. A workspace whose rollup migration
-- ran with this ipe already has the new table: up() then only stores the statements again.
local rollup = require "ipe.rollup.sqlite"

local M = {
  description = "firewall peers rollup keyed by direction, port, protocol, action and reporting device (_ipe_ip_peers)",
  tables = {},
}

local function has_column(db, tname, col)
  return db:query("SELECT count(*) FROM pragma_table_info(:t) WHERE name = :c", { t = tname, c = col })[1][1] > 0
end

function M.up(db)
  if not has_column(db, rollup.PEERS, "Reporter") then
    rollup.drop_triggers(db)
    db:exec("DROP TABLE IF EXISTS " .. rollup.PEERS)
    for _, sql in ipairs(rollup.tables_ddl()) do db:exec(sql) end
    rollup.rebuild(db, nil, nil, rollup.PEERS)
    rollup.create_triggers(db)
  end
  rollup.store_queries(db)
end

return M
