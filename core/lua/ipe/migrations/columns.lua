-- ipe.migrations.columns: Sentinel columns added after version 1 (its version is its place in
-- schema.LATER). ipe.schema lists each one in its table's `added` (by this module's name), with
-- Microsoft's exact name and type (tests/fixtures/kql-corpus/COLUMNS.md gives the reference
-- page of each): AzureActivity.Category, OfficeActivity.OrganizationName, Logon_Type and
-- ExtendedProperties, SecurityEvent.SourceComputerId — columns published Sentinel queries read.
--
-- up(db, version): ALTER TABLE ... ADD COLUMN for every column of ipe.schema as of `version`
-- that the table lacks (idempotent: a column already there is left alone). SQLite adds a
-- column without rewriting the rows (they read NULL), so a big workspace migrates at once.
local M = {
  description = "Sentinel columns: AzureActivity.Category, OfficeActivity.OrganizationName, Logon_Type, "
    .. "ExtendedProperties, SecurityEvent.SourceComputerId",
  tables = {},
}

local function present(db, tname)
  local have = {}
  for _, r in ipairs(db:query("SELECT name FROM pragma_table_info(:t)", { t = tname })) do have[r[1]] = true end
  return have
end

function M.up(db, version)
  for _, t in ipairs(require("ipe.schema").tables) do
    local have
    for _, c in ipairs(t.columns) do
      if c.since > 1 and c.since <= version then
        have = have or present(db, t.name)
        if not have[c.name] then db:exec("ALTER TABLE " .. t.name .. " ADD COLUMN " .. c.name .. " " .. c.sql) end
      end
    end
  end
end

return M
