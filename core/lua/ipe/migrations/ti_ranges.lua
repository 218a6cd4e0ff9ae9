-- ipe.migrations.ti_ranges: threat-intelligence CIDR blocks as numeric ranges (its version is
-- its place in schema.LATER).
--
-- A STIX "ipv4-addr:value = '223.166.0.0/15'", a MISP ip-dst with a mask or a blocklist line
-- "223.166.0.0/15" lands in ThreatIntelligenceIndicator's NetworkCidrBlock,
-- NetworkSourceCidrBlock or NetworkDestinationCidrBlock. Testing every block against every
-- address is what a workspace of 20,000 blocks cannot afford, so each block is also kept here:
--
--   _ipe_ti_ranges (Bits, RangeStart, TiRow, Role, Block, RangeEnd)   WITHOUT ROWID, PK in that order
--     TiRow       the indicator row (ThreatIntelligenceIndicator.rowid)
--     Role        the column holding the block (NetworkCidrBlock, NetworkSourceCidrBlock,
--                 NetworkDestinationCidrBlock)
--     Block       that column's text, as the row has it
--     Bits        the prefix length in 128-bit terms (an IPv4 /15 is 96 + 15 = 111)
--     RangeStart, RangeEnd  the block's first and last address as 16-byte blobs, IPv4 mapped
--                 into IPv6 space (::ffff:a.b.c.d), so one byte order sorts both families
--
-- "The block holds address x" is then one primary-key probe per prefix length in use:
-- Bits = b AND RangeStart = ipe_ip_key(x, b) (the address with its first b bits kept). A
-- workspace uses a few dozen prefix lengths at most; ctx.db:ti_matching_ip builds its queries
-- on this (ipe.db). A text that is no CIDR (nor a plain address, taken as its /32 or /128) gets
-- no range and matches nothing.
--
-- Kept on write by triggers on ThreatIntelligenceIndicator (insert, delete, update of a block
-- column), so every writer — ingest, actions/add-indicator, the demo generator, the test
-- harness — stores the range with the row. The triggers use ipe's SQL function
-- ipe_cidr_range (every connection ipe opens has it): a SQLite client without it cannot insert
-- an indicator at all ("no such function: ipe_cidr_range") rather than insert one unindexed.
-- up(db) creates the table and the triggers and fills it from the rows already there.
local M = {
  description = "threat-intelligence CIDR blocks as numeric ranges (_ipe_ti_ranges), kept by triggers",
}

M.TABLE = "_ipe_ti_ranges"
M.tables = { M.TABLE }
M.ROLES = { "NetworkCidrBlock", "NetworkSourceCidrBlock", "NetworkDestinationCidrBlock" }

local TI = "ThreatIntelligenceIndicator"

local TABLE_DDL = [[
CREATE TABLE IF NOT EXISTS _ipe_ti_ranges (
  Bits INTEGER NOT NULL, RangeStart BLOB NOT NULL, TiRow INTEGER NOT NULL, Role TEXT NOT NULL,
  Block TEXT NOT NULL, RangeEnd BLOB NOT NULL,
  PRIMARY KEY (Bits, RangeStart, TiRow, Role)
) WITHOUT ROWID]]

local ROW_INDEX = "CREATE INDEX IF NOT EXISTS _ipe_ti_ranges_row ON _ipe_ti_ranges (TiRow)"

-- The INSERT ... SELECT statements of the ranges of a row's blocks: row "NEW." and no `from` in
-- a trigger, row "" and from " FROM ThreatIntelligenceIndicator" for every row.
local function fill(row, from)
  local parts = {}
  for _, col in ipairs(M.ROLES) do
    local c = row .. col
    parts[#parts + 1] = string.format("INSERT INTO %s (Bits, RangeStart, TiRow, Role, Block, RangeEnd)\n"
      .. "  SELECT ipe_cidr_range(%s, 2), ipe_cidr_range(%s, 0), %srowid, '%s', %s, ipe_cidr_range(%s, 1)%s\n"
      .. "  WHERE %s IS NOT NULL AND ipe_cidr_range(%s, 2) IS NOT NULL;",
      M.TABLE, c, c, row, col, c, c, from, c, c)
  end
  return table.concat(parts, "\n")
end

local ANY_BLOCK = "(NEW.NetworkCidrBlock IS NOT NULL OR NEW.NetworkSourceCidrBlock IS NOT NULL "
  .. "OR NEW.NetworkDestinationCidrBlock IS NOT NULL)"

function M.triggers_ddl()
  return {
    "CREATE TRIGGER IF NOT EXISTS _ipe_ti_ranges_insert AFTER INSERT ON " .. TI .. " WHEN " .. ANY_BLOCK
      .. "\nBEGIN\n" .. fill("NEW.", "") .. "\nEND",
    "CREATE TRIGGER IF NOT EXISTS _ipe_ti_ranges_delete AFTER DELETE ON " .. TI
      .. "\nBEGIN DELETE FROM " .. M.TABLE .. " WHERE TiRow = OLD.rowid; END",
    "CREATE TRIGGER IF NOT EXISTS _ipe_ti_ranges_update AFTER UPDATE OF " .. table.concat(M.ROLES, ", ")
      .. " ON " .. TI .. "\nBEGIN\nDELETE FROM " .. M.TABLE .. " WHERE TiRow = OLD.rowid;\n" .. fill("NEW.", "")
      .. "\nEND",
  }
end

-- rebuild(db): the ranges of every indicator row, recomputed from the table.
function M.rebuild(db)
  db:exec("DELETE FROM " .. M.TABLE)
  db:exec(fill("", " FROM " .. TI))
end

function M.up(db)
  db:exec(TABLE_DDL)
  db:exec(ROW_INDEX)
  for _, sql in ipairs(M.triggers_ddl()) do db:exec(sql) end
  M.rebuild(db)
end

return M
