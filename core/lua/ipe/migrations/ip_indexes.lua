-- ipe.migrations.ip_indexes: the index of a log table's IP column holds only the rows
-- that have the column set (CREATE INDEX ... WHERE <column> IS NOT NULL).
--
-- Log tables leave most of their IP columns empty in most rows (a firewall record has a
-- source and a destination, rarely a translated, remote or malicious address): a full
-- index carries a NULL entry for each such row, which every insert writes and every bulk
-- load sorts (1M CommonSecurityLog rows: four such indexes 3.7 s of CREATE INDEX, 136 MB).
-- Queries that name the column (col = ?, col IN (...), a = ? OR b = ?, col IS NOT NULL)
-- use the partial index as before. Threat intelligence, alert and other non-log tables
-- keep full indexes (their lookups are planned around them).
--
-- up(db, version): recreate each index whose definition in ipe.schema as of `version`
-- differs from the workspace's (idempotent; on a big workspace each recreated index is
-- one sort of its rows).
local M = { description = "log tables' IP column indexes hold only the rows with the column set (partial indexes)" }

M.tables = {}

function M.up(db, version)
  local schema = require "ipe.schema"
  for _, ix in ipairs(schema.index_ddl(version)) do
    local row = db:query("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n", { n = ix.name })[1]
    if row and row[1] ~= ix.sql then
      db:exec("DROP INDEX " .. ix.name)
      db:exec(ix.sql)
    end
  end
end

return M
