-- ipe.migrations.response: the response actions' own tables.
--
--   _ipe_audit      one row per executed write of an action (ipe-run audit lists them):
--     Id            INTEGER, increasing
--     TimeGenerated when it ran (workspace time text, "YYYY-MM-DDTHH:MM:SS.sssZ")
--     User          the OS user who ran it (proc.user())
--     Action        the action script ("add-indicator")
--     Operation     what it did ("indicator.add", "range.add", "range.remove", "hunt.edit")
--     Target        the IP, network or range name acted on
--     Parameters    the action's parameters as a JSON object
--     Result        one line: "created", "updated (new version 2)", "unchanged", "removed", ...
--     Details       JSON object: ids, versions, paths (per operation)
--   _ipe_ip_ranges  named IP ranges, the "cloud app IP address ranges" settings; one row per
--                   network of a range (a range may hold several networks):
--     Name          the range's name (case-sensitive)
--     Cidr          the network, canonical ("10.0.0.0/8", "2001:db8::/32", "1.2.3.4/32")
--     Category      Corporate | Administrative | Risky | VPN | Cloud provider | Other
--     Tags          JSON array of strings
--     CreatedBy, CreatedTime, UpdatedBy, LastUpdatedTime
--   An IP falls in a range when ipe_ip_in_cidr(:ip, Cidr) = 1 (SQL function of every
--   ipe connection).
--
-- The statements are idempotent (IF NOT EXISTS): the action service also runs up()
-- on an older workspace before its first write, inside that write's transaction.
local M = {
  description = "response actions: audit trail (_ipe_audit) and named IP ranges (_ipe_ip_ranges)",
  tables = { "_ipe_audit", "_ipe_ip_ranges" },
}

M.AUDIT = "_ipe_audit"
M.RANGES = "_ipe_ip_ranges"

M.CATEGORIES = { "Corporate", "Administrative", "Risky", "VPN", "Cloud provider", "Other" }

M.STATEMENTS = {
  [[CREATE TABLE IF NOT EXISTS _ipe_audit (
      Id INTEGER PRIMARY KEY AUTOINCREMENT,
      TimeGenerated TEXT NOT NULL,
      User TEXT NOT NULL,
      Action TEXT NOT NULL,
      Operation TEXT NOT NULL,
      Target TEXT,
      Parameters TEXT NOT NULL,
      Result TEXT NOT NULL,
      Details TEXT
    )]],
  "CREATE INDEX IF NOT EXISTS _ipe_audit_time ON _ipe_audit (TimeGenerated)",
  [[CREATE TABLE IF NOT EXISTS _ipe_ip_ranges (
      Name TEXT NOT NULL,
      Cidr TEXT NOT NULL,
      Category TEXT NOT NULL,
      Tags TEXT NOT NULL DEFAULT '[]',
      CreatedBy TEXT NOT NULL,
      CreatedTime TEXT NOT NULL,
      UpdatedBy TEXT NOT NULL,
      LastUpdatedTime TEXT NOT NULL,
      PRIMARY KEY (Name, Cidr)
    ) WITHOUT ROWID]],
}

function M.up(db)
  for _, sql in ipairs(M.STATEMENTS) do db:exec(sql) end
end

return M
