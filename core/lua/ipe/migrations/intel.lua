-- ipe.migrations.intel: the threat-intelligence cache (its version is its place in schema.LATER).
--
-- One row per provider and IP: the provider's normalized answer (JSON, never
-- the raw body, never a key), when it was fetched and until when it is fresh.
-- Only answers worth keeping are stored: "ok" and "not_found" (negative
-- caching). Times are workspace time text ("YYYY-MM-DDTHH:MM:SS.sssZ").
-- The statements are idempotent (IF NOT EXISTS), so ctx.intel may also run
-- up() on an older workspace before the schema migration reaches it.
local M = { description = "threat-intelligence cache (_ipe_intel_cache)" }

M.TABLE = "_ipe_intel_cache"
M.tables = { M.TABLE } -- ipe's own tables this migration creates that scripts may read

M.STATEMENTS = {
  [[CREATE TABLE IF NOT EXISTS _ipe_intel_cache (
      Provider TEXT NOT NULL,
      IP TEXT NOT NULL,
      Status TEXT NOT NULL,
      FetchedAt TEXT NOT NULL,
      ExpiresAt TEXT NOT NULL,
      Result TEXT NOT NULL,
      PRIMARY KEY (Provider, IP)
    ) WITHOUT ROWID]],
  "CREATE INDEX IF NOT EXISTS _ipe_intel_cache_expires ON _ipe_intel_cache (ExpiresAt)",
}

function M.up(db)
  for _, sql in ipairs(M.STATEMENTS) do db:exec(sql) end
end

return M
