-- ipe.migrations.ingest: the ingest log and the _Extra column.
--
-- _ipe_ingest records every file ingested: its content fingerprint
-- (ipe.ingest.fingerprint), the path it was read from ("<stdin>" for standard
-- input), the format, the table(s) written (TableName: comma-separated; Tables:
-- a JSON object table -> rows), the rows written, records rejected (--skip-bad)
-- and skipped (no table for them), its size in bytes and when it was ingested
-- (workspace time text). `ipe-run ingest` refuses content already in it unless --force.
-- _ipe_ingest_records holds a keyed 53-bit hash of every record ingested (its
-- table and mapped column values, ipe.ingest.load) with the ingest (_ipe_ingest.Id)
-- that first loaded it: the same records come again in another file or format and
-- are recognized. The hash key is the workspace's secret (_ipe_meta
-- 'record_hash_key', random, made by the first ingest), so a crafted record cannot be
-- made to collide.
-- Every Sentinel table gets an `_Extra TEXT` column: a JSON object of the input
-- columns the schema lacks, so nothing an input carries is dropped.
-- up() is idempotent (IF NOT EXISTS; a column is added only when missing), so
-- it may run on a workspace where it already ran.
-- ipe.schema is required on use: it loads this module while it is being loaded.
local function sentinel_tables() return require("ipe.schema").tables end

local M = { description = "ingest log (_ipe_ingest) and an _Extra column on every Sentinel table" }

M.TABLE = "_ipe_ingest"
M.COLUMN = "_Extra"

M.STATEMENTS = {
  [[CREATE TABLE IF NOT EXISTS _ipe_ingest (
      Id INTEGER PRIMARY KEY,
      ContentHash TEXT NOT NULL,
      Path TEXT NOT NULL,
      Format TEXT NOT NULL,
      TableName TEXT NOT NULL,
      Tables TEXT NOT NULL,
      Rows INTEGER NOT NULL,
      Rejected INTEGER NOT NULL,
      Skipped INTEGER NOT NULL,
      Bytes INTEGER NOT NULL,
      IngestedAt TEXT NOT NULL
    )]],
  "CREATE INDEX IF NOT EXISTS _ipe_ingest_hash ON _ipe_ingest (ContentHash)",
  "CREATE INDEX IF NOT EXISTS _ipe_ingest_bytes ON _ipe_ingest (Bytes)",
  "CREATE TABLE IF NOT EXISTS _ipe_ingest_records (Hash INTEGER PRIMARY KEY, IngestId INTEGER NOT NULL)",
}

M.RECORDS = "_ipe_ingest_records"

-- random_key() -> 32 hex digits from the system's random source
local function random_key()
  local f = assert(io.open("/dev/urandom", "rb"))
  local raw = f:read(16)
  f:close()
  return (raw:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
end

-- record_key(db) -> {a, b, c, d}: the workspace's seeds for the record hash, made on
-- the first ingest (inside its transaction)
function M.record_key(db)
  local hex = db:query("SELECT value FROM _ipe_meta WHERE key = 'record_hash_key'")[1]
  hex = hex and hex[1]
  if not hex then
    hex = random_key()
    db:query("INSERT INTO _ipe_meta (key, value) VALUES ('record_hash_key', :k)", { k = hex })
  end
  local key = {}
  for i = 1, 4 do key[i] = require("bit").tobit(tonumber(hex:sub(i * 8 - 7, i * 8), 16)) end
  return key
end

local function has_column(db, tname, col)
  for _, r in ipairs(db:query("PRAGMA table_info(" .. tname .. ")")) do
    if r[2] == col then return true end
  end
  return false
end

local function has_table(db, tname)
  return db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :n", { n = tname })[1][1] == 1
end

-- complete(db) -> true when the log and every _Extra column are in place
function M.complete(db)
  if not has_table(db, M.TABLE) or not has_table(db, M.RECORDS) then return false end
  for _, t in ipairs(sentinel_tables()) do
    if has_table(db, t.name) and not has_column(db, t.name, M.COLUMN) then return false end
  end
  return true
end

function M.up(db)
  for _, sql in ipairs(M.STATEMENTS) do db:exec(sql) end
  for _, t in ipairs(sentinel_tables()) do
    if has_table(db, t.name) and not has_column(db, t.name, M.COLUMN) then
      db:exec("ALTER TABLE " .. t.name .. " ADD COLUMN " .. M.COLUMN .. " TEXT")
    end
  end
end

return M
