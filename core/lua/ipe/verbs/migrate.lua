-- ipe.verbs.migrate: ipe-run migrate — upgrade a workspace to this ipe's schema.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"

local M = {}

M.summary = "upgrade a workspace made by an older ipe"
M.usage = [[
usage: ipe-run migrate [--db PATH]
       ipe-run migrate --db clickhouse://[user@]host[:port]/db?cluster=NAME

Runs the schema migrations a workspace made by an older ipe lacks, in one
transaction: an interrupted or failed upgrade leaves the workspace as it was.
Readers refuse an older workspace until it is migrated. Building the per-IP
rollups of a large workspace reads every row once and can take a while.
On ClickHouse it creates the database and tables when missing (idempotently;
ON CLUSTER, or on each node of nodes=host:port,... without ZooKeeper).
Exit codes: 0 migrated or already current, 1 the migration failed, 3 no workspace.
]]

M.options = {}

function M.run(opts)
  local path = workspace.check(workspace.path(opts.db))
  if require("ipe.clickhouse").is_url(path) then return require("ipe.clickhouse_schema").migrate_verb(path) end
  local db, err = sqlite.open(path, "rw")
  if not db then errors.failed("migrate: cannot open %s for writing: %s", path, err) end
  local ok, from, to = pcall(schema.migrate, db)
  db:close()
  if not ok then errors.failed("migrate: %s: %s", path, tostring(from)) end
  if from == to then
    io.stdout:write(string.format("workspace %s is current (schema version %d)\n", path, to))
  else
    io.stdout:write(string.format("workspace %s migrated from schema version %d to %d\n", path, from, to))
  end
  return 0
end

return M
