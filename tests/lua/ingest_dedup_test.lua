-- Tests for the per-record duplicate detection of ipe.ingest.load (issue 10 item 11):
-- what "the same record" is (column order, CSV text vs JSON numbers, empty values, a
-- TimeGenerated filled in from the ingestion time), the copies of a record within a
-- file, the reference count by SQL, and ipe.ingest.fingerprint.hash53.
local T = require "ipe.testing"

local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("ingest dedup tests", "they need ipe.sqlite (run them with ipe-run test)")
  T.done()
  return
end

local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local migration = require "ipe.migrations.ingest"
local fingerprint = require "ipe.ingest.fingerprint"
local timeutil = require "ipe.timeutil"

local NOW_TEXT = "2026-11-27T12:00:00.000Z"

local H = require "ipe.harness"
local tmp = H.tmpfile

local function workspace()
  local path = tmp(".db")
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  migration.up(db)
  return db
end

-- ingest(db, text, suffix, opts, now) -> summary | error message
local function ingest(db, text, suffix, opts, now)
  now = now or NOW_TEXT
  local run = { db = db, opts = opts or {}, now = timeutil.parse_time(now), now_text = now, rejects = {},
    mappers = {}, say = function() end }
  local ok, res = pcall(load.ingest_file, run, tmp(suffix, text))
  if ok then return res end
  return type(res) == "table" and res.msg or tostring(res)
end

local function one(db, sql) return db:query(sql)[1][1] end

T.case("hash53: a 53-bit integer, the same for the same text and key, another for another key", function()
  local k1, k2 = { 1, 2, 3, 4 }, { 1, 2, 3, 5 }
  local h = fingerprint.hash53("CommonSecurityLog\0SourceIP\0011.2.3.4", k1)
  T.eq(h, fingerprint.hash53("CommonSecurityLog\0SourceIP\0011.2.3.4", k1))
  T.ok(h >= 0 and h < 2 ^ 53 and h % 1 == 0, "an exact integer below 2^53")
  T.ok(h ~= fingerprint.hash53("CommonSecurityLog\0SourceIP\0011.2.3.4", k2), "keyed")
  local seen, n = {}, 0
  for i = 1, 20000 do
    local v = fingerprint.hash53("row " .. i .. string.rep("x", i % 40), k1)
    if not seen[v] then n = n + 1 end
    seen[v] = true
  end
  T.eq(n, 20000, "20000 different texts, 20000 different hashes")
end)

T.case("the same records in another format, column order and spelling are duplicates", function()
  local db = workspace()
  local csv = "TimeGenerated [UTC],SourceIP,DestinationPort,Reason,Type\n" ..
    "6/2/2024 8:23:45.123 AM,10.0.0.1,443,timeout,CommonSecurityLog\n" ..
    "2024-06-02T09:00:00Z,10.0.0.2,,,CommonSecurityLog\n"
  local res = ingest(db, csv, ".csv")
  T.eq(res.rows, 2)
  local jsonl = '{"Type":"CommonSecurityLog","Reason":"timeout","DestinationPort":443,"SourceIP":"10.0.0.1",' ..
    '"TimeGenerated":"2024-06-02T08:23:45.123Z"}\n' ..
    '{"SourceIP":"10.0.0.2","TimeGenerated":"2024-06-02T09:00:00.000Z","Reason":"","Type":"CommonSecurityLog"}\n'
  local msg = ingest(db, jsonl, ".jsonl")
  T.like(msg, "already ingested: all 2 records were loaded by ingest #1 %(")
  T.eq(one(db, "SELECT count(*) FROM CommonSecurityLog"), 2)
  T.eq(one(db, "SELECT count(*) FROM _ipe_ingest_records"), 2, "one hash per record")
  T.eq(one(db, "SELECT count(*) FROM _ipe_ingest_records WHERE IngestId = 1"), 2, "owned by the first ingest")
  db:close()
end)

T.case("a record without a time is the same record at another ingestion time", function()
  local db = workspace()
  T.eq(ingest(db, '{"Computer":"h1","Type":"Heartbeat"}\n', ".jsonl").rows, 1)
  T.like(ingest(db, '{"Type":"Heartbeat","Computer":"h1"}\n\n', ".jsonl", nil, "2026-11-28T00:00:00.000Z"),
    "already ingested: its record was loaded by ingest #1")
  db:close()
end)

T.case("copies within a file: each copy counts; a later file is new for the copies beyond", function()
  local db = workspace()
  local rec = '{"Computer":"h1","Type":"Heartbeat","TimeGenerated":"2026-11-27T10:00:00Z"}\n'
  T.eq(ingest(db, rec .. rec, ".jsonl").rows, 2, "both copies of a file go in")
  local res = ingest(db, rec .. rec .. rec .. ' ', ".jsonl")
  T.eq({ res.rows, res.duplicates }, { 1, 2 }, "the third copy is new")
  T.like(res.duplicates_of, "^ingest #1 %(")
  T.eq(one(db, "SELECT count(*) FROM Heartbeat"), 3)
  -- the reference: rows per distinct record equal the most copies any one file had
  T.eq(one(db, "SELECT count(*) FROM Heartbeat GROUP BY Computer, TimeGenerated"), 3)
  db:close()
end)

T.case("--force loads duplicates; other tables are other records", function()
  local db = workspace()
  local rec = '{"Computer":"h1","TimeGenerated":"2026-11-27T10:00:00Z"}\n'
  T.eq(ingest(db, rec, ".jsonl", { table = "Heartbeat" }).rows, 1)
  T.eq(ingest(db, rec .. " ", ".jsonl", { table = "Heartbeat", force = true }).rows, 1)
  T.eq(ingest(db, rec .. "  ", ".jsonl", { table = "Syslog" }).rows, 1, "the same values in another table")
  T.eq(one(db, "SELECT count(*) FROM Heartbeat"), 2)
  db:close()
end)

H.cleanup()
T.done()
