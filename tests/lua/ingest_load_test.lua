-- Tests for ipe.ingest.load (records -> rows, one file per transaction) and the
-- ingest migration, on throwaway workspaces, including the real fixtures of
-- tests/fixtures. Needs ipe.sqlite: runs inside `ipe-run test`, skipped
-- under plain luajit.
local T = require "ipe.testing"

local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("ingest load tests", "they need ipe.sqlite (run them with ipe-run test)")
  T.done()
  return
end

local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local migration = require "ipe.migrations.ingest"
local timeutil = require "ipe.timeutil"
local jsonscan = require "ipe.ingest.jsonscan"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local FIX = here .. "/tests/fixtures"
local fixture_case = T.case

local NOW_TEXT = "2026-11-27T12:00:00.000Z"
local NOW = timeutil.parse_time(NOW_TEXT)

local H = require "ipe.harness"
local tmp = H.tmpfile

local function workspace()
  local path = tmp(".db")
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  migration.up(db)
  return db, path
end

local function new_run(db, opts)
  local said = {}
  return { db = db, opts = opts or {}, now = NOW, now_text = NOW_TEXT, rejects = {}, mappers = {},
    say = function(m) said[#said + 1] = m end, said = said }
end

-- ingest(db, path, opts) -> summary | error message
local function ingest(db, path, opts)
  local run = new_run(db, opts)
  local ok, res = pcall(load.ingest_file, run, path)
  if ok then return res, run end
  return type(res) == "table" and res.msg or tostring(res), run
end

local function q(db, sql) return db:query(sql) end
local function one(db, sql) return db:query(sql)[1][1] end
local function count(db, t) return one(db, "SELECT count(*) FROM " .. t) end

-- mapper(db, table): feed a record, get the row back as {column = value}
local function row_of(db, tname, rec, kinds)
  local m = load.mapper(db, tname, { now_text = NOW_TEXT })
  local before = one(db, "SELECT COALESCE(max(rowid), 0) FROM " .. tname)
  local ok, why = m.record(7, rec, kinds)
  if not ok then return nil, why end
  local rows, cols = db:query("SELECT * FROM " .. tname .. " WHERE rowid > " .. before)
  local out = {}
  for i, c in ipairs(cols) do
    if rows[1][i] ~= cjson.null then out[c] = rows[1][i] end
  end
  return out
end

T.case("the migration adds the ingest log and _Extra everywhere, and may run again", function()
  local db = workspace()
  T.ok(migration.complete(db))
  migration.up(db)
  for _, t in ipairs(schema.tables) do
    local found = false
    for _, r in ipairs(db:query("PRAGMA table_info(" .. t.name .. ")")) do if r[2] == "_Extra" then found = true end end
    T.ok(found, t.name .. " has _Extra")
  end
  T.eq(count(db, migration.TABLE), 0)
  T.eq(load.ensure(db), false)
  db:close()
end)

T.case("columns map by name; unknown columns and misfit values go to _Extra", function()
  local db = workspace()
  local row = row_of(db, "CommonSecurityLog", { TimeGenerated = "2024-06-02T08:23:45.123Z", SourceIP = "10.10.20.1",
    SourcePort = "52123", ThreatSeverity = "Warning", MaliciousIPLatitude = "203.0.113.5", EventCount = "1",
    ["EndTime [UTC]"] = "6/2/2024, 8:23:55.123 AM", DeviceTimeZone = "x", Type = "CommonSecurityLog" })
  T.eq(row, { TimeGenerated = "2024-06-02T08:23:45.123Z", EndTime = "2024-06-02T08:23:55.123Z", SourceIP = "10.10.20.1",
    SourcePort = 52123, EventCount = 1, Type = "CommonSecurityLog",
    _Extra = '{"DeviceTimeZone":"x","MaliciousIPLatitude":"203.0.113.5","ThreatSeverity":"Warning"}' })
  db:close()
end)

T.case("IP columns are normalized and ports split into the port column or _Extra", function()
  local db = workspace()
  local row = row_of(db, "CommonSecurityLog", { TimeGenerated = NOW_TEXT, SourceIP = "[2001:DB8:0:0::1]:8443",
    DestinationIP = "::ffff:8.8.8.8", DeviceAddress = "10.1.1.1:514", RemoteIP = "52.183.101.11:443" })
  T.eq({ row.SourceIP, row.SourcePort, row.DestinationIP, row.DeviceAddress, row.RemoteIP, row.RemotePort, row._Extra },
    { "2001:db8::1", 8443, "8.8.8.8", "10.1.1.1", "52.183.101.11", "443", '{"DeviceAddressPort":514}' })
  row = row_of(db, "SecurityEvent", { TimeGenerated = NOW_TEXT, IpAddress = "1.2.3.4:5555", IpPort = "6666" })
  T.eq({ row.IpAddress, row.IpPort, row._Extra }, { "1.2.3.4", "6666", '{"IpAddressPort":5555}' })
  row = row_of(db, "SecurityEvent", { TimeGenerated = NOW_TEXT, IpAddress = "-" })
  T.eq(row.IpAddress, nil, "'-' is no value")
  db:close()
end)

-- put(db, table, {{key, value}, ...}) -> the row, the members given in that order
local function put_row(db, tname, list)
  local m = load.mapper(db, tname, { now_text = NOW_TEXT })
  m.begin(1)
  for _, kv in ipairs(list) do m.put(kv[1], kv[2]) end
  T.ok(m.finish())
  local rows, cols = db:query("SELECT * FROM " .. tname .. " ORDER BY rowid DESC LIMIT 1")
  local out = {}
  for i, c in ipairs(cols) do if rows[1][i] ~= cjson.null then out[c] = rows[1][i] end end
  return out
end

T.case("type suffixes and aliases name a column; an exact name wins, in any order", function()
  local db = workspace()
  local row = put_row(db, "SigninLogs", { { "TimeGenerated", NOW_TEXT }, { "LocationDetails_dynamic", '{"city": "Azor"}' },
    { "Status_string", "" }, { "Status_dynamic", '{"errorCode":0}' }, { "IsInteractive", "TRUE" } })
  T.eq({ row.LocationDetails, row.Status, row.IsInteractive, row._Extra }, { '{"city":"Azor"}', '{"errorCode":0}', 1, nil })
  row = put_row(db, "SigninLogs", { { "TimeGenerated", NOW_TEXT }, { "Status_string", "x" }, { "Status_dynamic", "{}" } })
  T.eq({ row.Status, row._Extra }, { '"x"', '{"Status_dynamic":"{}"}' })
  for _, order in ipairs({ { 1, 2 }, { 2, 1 } }) do
    local pairs_ = { { "AlertDisplayName", "SSH Anomalous Login ML" }, { "DisplayName", "exact" } }
    row = put_row(db, "SecurityAlert", { { "TimeGenerated", NOW_TEXT }, pairs_[order[1]], pairs_[order[2]],
      { "Severity", "Low" }, { "StartTimeUtc", "2019-02-18T01:49:02.000Z" } })
    T.eq({ row.DisplayName, row.AlertSeverity, row.StartTime, row._Extra },
      { "exact", "Low", "2019-02-18T01:49:02.000Z", '{"AlertDisplayName":"SSH Anomalous Login ML"}' })
  end
  for _, order in ipairs({ { 1, 2 }, { 2, 1 } }) do
    local pairs_ = { { "ClientIP", "[2a01:110:8068:7:9bf8:aa87:e00a:5f1f]:36185" },
      { "ClientIP_", "[2a01:110:8068:7:9bf8:aa87:e00a:5f1f]:36185" } }
    row = put_row(db, "OfficeActivity", { { "TimeGenerated", NOW_TEXT }, pairs_[order[1]], pairs_[order[2]] })
    T.eq({ row.ClientIP, row._Extra }, { "2a01:110:8068:7:9bf8:aa87:e00a:5f1f",
      '{"ClientIPPort":36185,"ClientIP_":"[2a01:110:8068:7:9bf8:aa87:e00a:5f1f]:36185"}' })
  end
  db:close()
end)

T.case("dynamic columns hold compact JSON; JSON input keeps [] and big numbers", function()
  local db = workspace()
  local line = '{"TimeGenerated":"2020-05-20T18:19:04.423Z","ConditionalAccessPolicies":[],' ..
    '"DeviceDetail":{"os": "Windows 10"},"Latitude":47.6,"Keywords":-9223372036854775808,"MfaDetail":null}'
  local rec, kinds = jsonscan.object_to_table(line, 1)
  local row = row_of(db, "SigninLogs", rec, kinds)
  T.eq({ row.ConditionalAccessPolicies, row.DeviceDetail, row.MfaDetail, row._Extra },
    { "[]", '{"os":"Windows 10"}', nil, '{"Keywords":-9223372036854775808,"Latitude":47.6}' })
  db:close()
end)

T.case("a missing TimeGenerated comes from the next time column, else the ingestion time", function()
  local db = workspace()
  local m = load.mapper(db, "SigninLogs", { now_text = NOW_TEXT })
  T.ok(m.record(1, { CreatedDateTime = "4/28/2021, 2:08:45.221 PM", IPAddress = "175.45.176.99" }))
  T.ok(m.record(2, { IPAddress = "175.45.176.99" }))
  T.eq(q(db, "SELECT TimeGenerated, CreatedDateTime FROM SigninLogs ORDER BY rowid"),
    { { "2021-04-28T14:08:45.221Z", "2021-04-28T14:08:45.221Z" }, { NOW_TEXT, cjson.null } })
  T.eq(m.fallback, { CreatedDateTime = 1, ["the ingestion time"] = 1 })
  db:close()
end)

T.case("an impossible time is an error of the record; nothing is written for it", function()
  local db = workspace()
  T.eq({ row_of(db, "Syslog", { TimeGenerated = "2024-02-30T10:00:00Z", SyslogMessage = "x" }) },
    { nil, "TimeGenerated: '2024-02-30T10:00:00Z' is not a valid time" })
  T.eq(count(db, "Syslog"), 0)
  db:close()
end)

T.case("Type is the table's name; another value is kept in _Extra", function()
  local db = workspace()
  local row = row_of(db, "Syslog", { TimeGenerated = NOW_TEXT, Type = "Syslog_CL", _Extra = '{"from":"export"}' })
  T.eq({ row.Type, row._Extra }, { "Syslog", '{"Type":"Syslog_CL","from":"export"}' })
  db:close()
end)

T.case("many record shapes: past the statement cache every row still goes in", function()
  local db = workspace()
  local save = load.MAX_STATEMENTS
  load.MAX_STATEMENTS = 2
  local m = load.mapper(db, "Syslog", { now_text = NOW_TEXT })
  local cols = { "Computer", "HostName", "Facility", "SeverityLevel", "ProcessName", "SyslogMessage" }
  for i = 1, 64 do
    local rec = { TimeGenerated = NOW_TEXT, ["k" .. i] = i }
    for b, c in ipairs(cols) do
      if math.floor((i - 1) / 2 ^ (b - 1)) % 2 == 1 then rec[c] = c .. i end
    end
    T.ok(m.record(i, rec))
  end
  load.MAX_STATEMENTS = save
  T.eq(count(db, "Syslog"), 64)
  T.eq(m.statements, 2)
  T.eq(q(db, "SELECT Computer, HostName, SyslogMessage, Type, _Extra FROM Syslog WHERE rowid = 64"),
    { { "Computer64", "HostName64", "SyslogMessage64", "Syslog", '{"k64":64}' } })
  T.eq(q(db, "SELECT Computer, HostName, Type FROM Syslog WHERE rowid = 3"), { { cjson.null, "HostName3", "Syslog" } })
  db:close()
end)

---------------------------------------------------------------------------
-- Whole files
---------------------------------------------------------------------------

T.case("a JSON lines file: one transaction, counted, logged", function()
  local db = workspace()
  local path = tmp(".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","HostName":"a","Type":"Syslog"}\n\n' ..
    '{"TimeGenerated":"2024-01-01T00:00:01Z","HostName":"b","Type":"Syslog"}\n')
  local res, run = ingest(db, path)
  T.eq({ res.rows, res.tables, res.counts, res.rejected, res.format }, { 2, { "Syslog" }, { Syslog = 2 }, 0, "jsonl" })
  T.like(run.said[1], "JSON lines %(extension %.jsonl%) into Syslog %(its Type column%)$")
  T.eq(q(db, "SELECT Format, TableName, Tables, Rows, Rejected, Bytes, IngestedAt FROM _ipe_ingest"),
    { { "jsonl", "Syslog", '{"Syslog":2}', 2, 0, 145, NOW_TEXT } })
  db:close()
end)

T.case("records of several tables in one file follow their Type column", function()
  local db = workspace()
  local path = tmp(".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","HostName":"a","Type":"Syslog"}\n' ..
    '{"TimeGenerated":"2024-01-01T00:00:00Z","IPAddress":"1.2.3.4","Type":"SigninLogs"}\n' ..
    '{"TimeGenerated":"2024-01-01T00:00:00Z","Computer":"c","Type":"Syslog"}\n')
  local res = ingest(db, path)
  T.eq({ res.rows, res.tables, res.counts }, { 3, { "Syslog", "SigninLogs" }, { Syslog = 2, SigninLogs = 1 } })
  T.eq(q(db, "SELECT IPAddress, _Extra FROM SigninLogs"), { { "1.2.3.4", cjson.null } })
  db:close()
end)

T.case("JSON documents: an array of records, one record, a Log Analytics query answer", function()
  local db = workspace()
  local res = ingest(db, tmp(".json", '[\n  {"TimeGenerated": "2024-01-01T00:00:00Z", "HostName": "a",\n' ..
    '   "Type": "Syslog"},\n  {"TimeGenerated": "2024-01-01T00:00:01Z", "IPAddress": "::ffff:10.1.2.3",' ..
    ' "LocationDetails": {"city": "Azor", "tags": []}, "Type": "SigninLogs"}\n]\n'))
  T.eq({ res.rows, res.counts }, { 2, { Syslog = 1, SigninLogs = 1 } })
  T.eq(q(db, "SELECT IPAddress, LocationDetails FROM SigninLogs"), { { "10.1.2.3", '{"city":"Azor","tags":[]}' } })
  res = ingest(db, tmp(".json", '{\n  "TimeGenerated": "2024-01-02T00:00:00Z",\n  "HostName": "one"\n}\n'), { table = "Syslog" })
  T.eq(res.rows, 1)
  res = ingest(db, tmp(".json", '{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},' ..
    '{"name":"Computer","type":"string"},{"name":"HostIP","type":"string"},{"name":"Type","type":"string"}],' ..
    '"rows":[["2024-01-03T00:00:00Z","web1","10.0.0.7","Syslog"],["2024-01-03T00:00:01Z","web2",null,"Syslog"]]}]}'))
  T.eq({ res.rows, res.tables }, { 2, { "Syslog" } })
  T.eq(q(db, "SELECT TimeGenerated, HostName, Computer, HostIP FROM Syslog ORDER BY rowid"), {
    { "2024-01-01T00:00:00.000Z", "a", cjson.null, cjson.null }, { "2024-01-02T00:00:00.000Z", "one", cjson.null, cjson.null },
    { "2024-01-03T00:00:00.000Z", cjson.null, "web1", "10.0.0.7" }, { "2024-01-03T00:00:01.000Z", cjson.null, "web2", cjson.null } })
  db:close()
end)

T.case("identical content is refused (even under another name) unless --force", function()
  local db = workspace()
  local text = "1.2.3.4\n5.6.7.8\n"
  local a, b = tmp(".txt", text), tmp(".txt", text)
  T.eq(ingest(db, a).rows, 2)
  local msg = ingest(db, b)
  T.like(msg, "already ingested %(same content as .* on 2026%-11%-27T12:00:00%.000Z: 2 rows into " ..
    "ThreatIntelligenceIndicator%); use %-%-force to ingest it again$")
  T.eq(count(db, "ThreatIntelligenceIndicator"), 2)
  T.eq(ingest(db, b, { force = true }).rows, 2)
  T.eq(count(db, "ThreatIntelligenceIndicator"), 4)
  T.eq(count(db, "_ipe_ingest"), 2)
  db:close()
end)

-- every malformed input: its exact error, and nothing written
local MALFORMED = {
  { "truncated JSON lines", ".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","HostName":"a","Type":"Syslog"}\n' ..
    '{"TimeGenerated":"2024-01-01T00:00:01Z","HostName":"b","Ty',
    ":2: invalid JSON: the line ends before the record is complete" },
  { "a truncated JSON array", ".json", '[\n {"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog"},\n {"Time',
    ": line 3: invalid JSON: the document ends before it is complete" },
  { "a JSON line that is not an object", ".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog"}\n[1,2]\n',
    ":2: invalid JSON: a record must be a JSON object" },
  { "a wrong CSV column count", ".csv", "TimeGenerated,HostName,Type\n2024-01-01T00:00:00Z,a,Syslog\n" ..
    "2024-01-01T00:00:00Z,b\n", ":3: 2 fields, but the header has 3" },
  { "binary garbage", ".bin", "\127ELF\2\1\1\0\0\0\0\0\0\0\0\0\2\0>\0",
    ": the file is binary (it holds NUL bytes), not text; ipe ingests text logs and feeds" },
  { "a 10 MB single line", ".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","SyslogMessage":"' ..
    string.rep("A", 10 * 1048576) .. '","Type":"Syslog"}\n',
    ":1: the line is longer than 1048576 bytes (1 MiB, the record limit)" },
  { "a 10 MB record in a JSON array", ".json", '[{"TimeGenerated":"2024-01-01T00:00:00Z","SyslogMessage":"' ..
    string.rep("A", 10 * 1048576) .. '","Type":"Syslog"}]',
    ":1: the record is longer than 1048576 bytes (1 MiB, the record limit)" },
  { "invalid UTF-8", ".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog"}\n' ..
    '{"TimeGenerated":"2024-01-01T00:00:00Z","SyslogMessage":"caf\233","Type":"Syslog"}\n',
    ":2: invalid UTF-8 (byte 0xe9 at column 61); convert the file to UTF-8" },
  { "an impossible timestamp", ".csv", 'TimeGenerated [UTC],HostName,Type\n"8/5/2020, 2:09:26.123 AM",a,Syslog\n' ..
    '"2/30/2020, 2:09:26.123 AM",b,Syslog\n', ":3: TimeGenerated: '2/30/2020, 2:09:26.123 AM' is not a valid time" },
  { "an empty file", ".jsonl", "", ": the file is empty: nothing to ingest" },
  { "a CSV header only", ".csv", "TimeGenerated,HostName,Type\n", ": no records in it: nothing to ingest" },
  { "an unknown table", ".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Custom_CL"}\n',
    ": its Type column names 'Custom_CL', which is not a table of the workspace; use --table" },
}

for _, c in ipairs(MALFORMED) do
  T.case("malformed: " .. c[1] .. " - exact error, nothing written", function()
    local db = workspace()
    local seed = tmp(".jsonl", '{"TimeGenerated":"2023-01-01T00:00:00Z","HostName":"seed","Type":"Syslog"}\n')
    T.eq(ingest(db, seed).rows, 1)
    local path = tmp(c[2], c[3])
    local msg = ingest(db, path)
    T.eq(msg, path .. c[4])
    T.eq(count(db, "Syslog"), 1)
    T.eq(count(db, "_ipe_ingest"), 1)
    db:close()
  end)
end

T.case("--skip-bad writes the good records and lists every bad one", function()
  local db = workspace()
  local lines = {}
  for i = 1, 15 do
    lines[#lines + 1] = string.format('{"TimeGenerated":"2024-01-01T00:00:%02dZ","HostName":"h%d","Type":"Syslog"}', i, i)
    lines[#lines + 1] = '{"broken":'
  end
  local path = tmp(".jsonl", table.concat(lines, "\n") .. "\n")
  local res, run = ingest(db, path, { skip_bad = true })
  T.eq(type(res), "table", tostring(res))
  T.eq({ res.rows, res.rejected, #res.first, #run.rejects }, { 15, 15, 10, 15 })
  T.eq(run.rejects[1], path .. ":2: invalid JSON: the line ends before the record is complete")
  T.eq(run.rejects[15], path .. ":30: invalid JSON: the line ends before the record is complete")
  T.eq(count(db, "Syslog"), 15)
  T.eq(one(db, "SELECT Rejected FROM _ipe_ingest"), 15)
  db:close()
end)

T.case("--skip-bad with nothing good left fails the file", function()
  local db = workspace()
  local path = tmp(".jsonl", '{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog"}\n')
  local bad = tmp(".jsonl", '{"TimeGenerated":"2024-13-01T00:00:00Z","Type":"Syslog"}\n')
  T.eq(ingest(db, path).rows, 1)
  T.eq(ingest(db, bad, { skip_bad = true }), bad .. ": no record could be ingested (1 record rejected)")
  T.eq(count(db, "Syslog"), 1)
  db:close()
end)

T.case("a big file into a small table rebuilds its indexes in the same transaction", function()
  local db = workspace()
  local parts = {}
  for i = 1, 60000 do
    parts[i] = string.format('{"TimeGenerated":"2024-01-01T00:%02d:%02d.000Z","SourceIP":"10.0.%d.%d","Type":"CommonSecurityLog"}',
      math.floor(i / 60) % 60, i % 60, math.floor(i / 256) % 256, i % 256)
  end
  local path = tmp(".jsonl", table.concat(parts, "\n") .. "\n")
  local before = one(db, "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND " ..
    "tbl_name = 'CommonSecurityLog' ORDER BY name)")
  T.eq(ingest(db, path).rows, 60000)
  T.eq(one(db, "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND " ..
    "tbl_name = 'CommonSecurityLog' ORDER BY name)"), before)
  T.eq(one(db, "SELECT count(*) FROM CommonSecurityLog INDEXED BY ix_CommonSecurityLog_SourceIP WHERE SourceIP = '10.0.1.1'"), 1)
  T.eq(one(db, "PRAGMA integrity_check"), "ok")
  db:close()
end)

T.case("with the per-IP rollup: a bulk load recounts the new hours and restores the triggers", function()
  local rollup = require "ipe.rollup.sqlite"
  local db = workspace()
  require("ipe.migrations.rollup").up(db)
  local small = tmp(".jsonl", '{"TimeGenerated":"2024-01-01T05:00:00.000Z","SourceIP":"10.0.0.1",' ..
    '"SourceHostName":"wks1","Type":"CommonSecurityLog"}\n')
  T.eq(ingest(db, small).rows, 1)
  T.eq(q(db, "SELECT IP, Hour, Source, Host, Events FROM _ipe_ip_activity"),
    { { "10.0.0.1", "2024-01-01T05", "CommonSecurityLog", "wks1", 1 } })
  local parts = {}
  for i = 1, 60000 do
    parts[i] = string.format('{"TimeGenerated":"2024-01-01T0%d:%02d:%02d.000Z","SourceIP":"10.0.0.%d",' ..
      '"SourceHostName":"wks1","Type":"CommonSecurityLog"}', i % 6, math.floor(i / 60) % 60, i % 60, i % 3 + 1)
  end
  T.eq(ingest(db, tmp(".jsonl", table.concat(parts, "\n") .. "\n")).rows, 60000)
  T.eq(q(db, "SELECT IP, sum(Events) FROM _ipe_ip_activity GROUP BY IP ORDER BY IP"),
    { { "10.0.0.1", 20001 }, { "10.0.0.2", 20000 }, { "10.0.0.3", 20000 } })
  T.eq(one(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = '_ipe_ip_activity_CommonSecurityLog'"), 1)
  T.eq(ingest(db, tmp(".jsonl", '{"TimeGenerated":"2024-01-02T00:00:00.000Z","SourceIP":"10.0.0.9",' ..
    '"Type":"CommonSecurityLog"}\n')).rows, 1)
  T.eq(one(db, "SELECT sum(Events) FROM _ipe_ip_activity WHERE IP = '10.0.0.9'"), 1)
  db:close()
end)

---------------------------------------------------------------------------
-- The real fixtures
---------------------------------------------------------------------------

local AS = FIX .. "/sentinel/azure-sentinel/"
local MS = FIX .. "/sentinel/msticpy/"

fixture_case("the portal's Cisco ASA CSV export -> CommonSecurityLog", function()
  local db = workspace()
  local res = ingest(db, AS .. "CommonSecurityLog__ASIM_Cisco_ASA_NetworkSession_IngestedLogs.csv")
  T.eq({ res.rows, res.tables }, { 9, { "CommonSecurityLog" } })
  T.eq(q(db, "SELECT TimeGenerated, StartTime, EndTime, SourceIP, SourcePort, DestinationIP, DestinationPort, " ..
    "DeviceAction, ReceivedBytes, SentBytes, DeviceVendor, Computer FROM CommonSecurityLog ORDER BY rowid LIMIT 1"),
    { { "2024-06-02T08:23:45.123Z", "2024-06-02T08:23:45.123Z", "2024-06-02T08:23:55.123Z", "10.10.20.1", 52123,
      "52.183.101.11", 443, "Allow", 1048576, 524288, "Cisco", "WIN-SERVER01.contoso.com" } })
  T.eq(one(db, "SELECT json_extract(_Extra, '$.ThreatSeverity') || '|' || json_extract(_Extra, '$.ProcessName') " ..
    "|| '|' || json_extract(_Extra, '$.EventData') FROM CommonSecurityLog ORDER BY rowid LIMIT 1"),
    'Warning|asa.exe|{"SessionId":123456,"Protocol":"TCP","SourceIP":"10.10.20.1","SourcePort":52123,' ..
    '"DestinationIP":"52.183.101.11","DestinationPort":443}')
  T.eq(one(db, "SELECT count(*) FROM CommonSecurityLog WHERE DestinationIP = '172.217.16.142'"), 2)
  db:close()
end)

fixture_case("the portal's SigninLogs CSV: multi-line JSON cells, US times, _dynamic columns", function()
  local db = workspace()
  local res = ingest(db, AS .. "SigninLogs__Training_sign-in_adelete__EXCERPT_first4records.csv")
  T.eq(res.rows, 4)
  T.eq(res.fallback, { { "SigninLogs", "CreatedDateTime", 4 } })
  T.eq(q(db, "SELECT TimeGenerated, IPAddress, json_extract(LocationDetails, '$.city'), IsInteractive, " ..
    "json_extract(Status, '$.errorCode'), json_extract(_Extra, '$.AuthenticationProcessingDetails') " ..
    "FROM SigninLogs ORDER BY rowid LIMIT 1"),
    { { "2021-04-28T14:08:45.221Z", "175.45.176.99", "Azor", 1, 0,
      '[\n  {\n    "key": "IsCAEToken",\n    "value": "False"\n  }\n]' } })
  db:close()
end)

fixture_case("the portal's SecurityEvent and OfficeActivity CSVs", function()
  local db = workspace()
  T.eq(ingest(db, AS .. "SecurityEvent__ASIM_Microsoft_Security_Events_Authentication_IngestedLogs__EXCERPT_first17rows.csv").rows, 17)
  T.eq(q(db, "SELECT TimeGenerated, EventID, IpAddress, LogonType, TargetUserName FROM SecurityEvent ORDER BY rowid LIMIT 1"),
    { { "2024-10-18T09:29:21.125Z", 4625, "66.90.100.200", 3, "weatheronline" } })
  T.eq(ingest(db, AS .. "OfficeActivity__Training_office_activity_inbox_rule.csv").rows, 2)
  T.eq(q(db, "SELECT TimeGenerated, ClientIP, json_extract(_Extra, '$.ClientIPPort') FROM OfficeActivity ORDER BY rowid"),
    { { "2021-04-26T07:17:10.000Z", "2a01:110:8068:7:9bf8:aa87:e00a:5f1f", 36185 },
      { "2021-04-26T06:37:32.000Z", "2a01:110:8068:7:9bf8:aa87:e00a:5f1f", 45955 } })
  db:close()
end)

fixture_case("the columns ipe.migrations.columns added take their values: real exports and a record", function()
  local db = workspace()
  T.eq(ingest(db, AS .. "OfficeActivity__Training_office_activity_inbox_rule.csv").rows, 2)
  T.eq(q(db, "SELECT DISTINCT OrganizationName, json_extract(_Extra, '$.OrganizationName') IS NULL FROM OfficeActivity"),
    { { "contoso.onmicrosoft.com", 1 } })
  T.eq(ingest(db, MS .. "SecurityEvent_host_logons.jsonl").rows, 25)
  T.eq(q(db, "SELECT DISTINCT SourceComputerId, json_extract(_Extra, '$.SourceComputerId') IS NULL FROM SecurityEvent"),
    { { "263a788b-6526-4cdc-8ed9-d79402fe4aa0", 1 } })
  T.eq(row_of(db, "OfficeActivity", { TimeGenerated = "2026-11-26T10:00:00Z", Operation = "MailboxLogin",
    Logon_Type = "Delegate", ExtendedProperties = '[{"Name":"UserAgent","Value":"curl/8"}]', Type = "OfficeActivity" }),
    { TimeGenerated = "2026-11-26T10:00:00.000Z", Operation = "MailboxLogin", Logon_Type = "Delegate",
      ExtendedProperties = '[{"Name":"UserAgent","Value":"curl/8"}]', Type = "OfficeActivity" })
  T.eq(row_of(db, "AzureActivity", { TimeGenerated = "2026-11-26T10:00:00Z", Category = "Administrative",
    CategoryValue = "Administrative" }),
    { TimeGenerated = "2026-11-26T10:00:00.000Z", Category = "Administrative", CategoryValue = "Administrative",
      Type = "AzureActivity" })
  db:close()
end)

fixture_case("the Vectra CEF export without a TimeGenerated gets the ingestion time", function()
  local db = workspace()
  local res = ingest(db, AS .. "CommonSecurityLog__Training_solarigate_CEFevent.csv")
  T.eq(res.fallback, { { "CommonSecurityLog", "the ingestion time", 1 } })
  T.eq(q(db, "SELECT TimeGenerated, DeviceVendor, SourceIP, DestinationIP, DestinationPort, AdditionalExtensions " ..
    "FROM CommonSecurityLog"), { { NOW_TEXT, "Vectra Networks", "17.81.146.1", "15.230.137.45", 443,
    "cat=COMMAND & CONTROL;start=1617770662000;end=1617772463000" } })
  db:close()
end)

fixture_case("msticpy JSON lines and CSVs", function()
  local db = workspace()
  T.eq(ingest(db, MS .. "SigninLogs.jsonl").rows, 86)
  T.eq(ingest(db, MS .. "SecurityAlert.jsonl").rows, 25)
  T.eq(ingest(db, MS .. "SecurityEvent_host_logons.jsonl").rows, 25)
  T.eq(ingest(db, MS .. "ThreatIntelligenceIndicator.csv").rows, 633)
  T.eq(ingest(db, MS .. "syslog_data.csv").rows, 100)
  T.eq(ingest(db, MS .. "AzureNetworkAnalytics_CL_az_net_comms.jsonl"), MS .. "AzureNetworkAnalytics_CL_az_net_comms.jsonl" ..
    ": cannot tell which table the records belong to (no Type column, no table name in the file name, and the " ..
    "columns match no table); use --table")
  T.eq(one(db, "SELECT count(*) FROM ThreatIntelligenceIndicator WHERE NetworkIP IS NOT NULL"), 333)
  T.eq(q(db, "SELECT Active, ConfidenceScore, ExpirationDateTime FROM ThreatIntelligenceIndicator WHERE NetworkIP = '51.255.107.37'"),
    { { 1, 70, "2019-09-03T22:16:15.923Z" } })
  T.eq(one(db, "SELECT count(*) FROM SecurityAlert WHERE json_extract(Entities, '$[0].Address') = '23.97.60.214'") >= 1, true)
  T.eq(q(db, "SELECT DisplayName, AlertSeverity FROM SecurityAlert ORDER BY rowid LIMIT 1"),
    { { "SSH Anomalous Login ML", "Low" } })
  T.eq(q(db, "SELECT json_extract(DeviceDetail, '$.browser') IS NOT NULL, ConditionalAccessPolicies LIKE '[%' " ..
    "FROM SigninLogs ORDER BY rowid LIMIT 1"), { { 1, 1 } })
  T.eq(q(db, "SELECT TimeGenerated, Computer, HostIP, Facility, SeverityLevel, ProcessName, json_extract(_Extra, '$.Column1') " ..
    "FROM Syslog ORDER BY rowid LIMIT 1"), { { "2019-07-08T16:08:00.000Z", "squid-uk-02", "10.0.6.5", "authpriv", "info",
    "sudo", "0" } })
  db:close()
end)

fixture_case("OTRF Windows events: Security -> SecurityEvent, Sysmon 3 -> DeviceNetworkEvents", function()
  local db = workspace()
  local res = ingest(db, FIX .. "/windows-events/covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json")
  T.eq({ res.rows, res.counts, res.skipped }, { 142, { SecurityEvent = 130, DeviceNetworkEvents = 12 }, 207 })
  T.eq({ res.skips["Sysmon EventID 7"], res.skips["Sysmon EventID 10"] }, { 94, 47 })
  T.eq(q(db, "SELECT Computer, IpAddress, IpPort, Account, LogonTypeName FROM SecurityEvent WHERE EventID = 4624 " ..
    "ORDER BY TimeGenerated LIMIT 1"), { { "WORKSTATION6.theshire.local", "172.18.39.5", "54362",
    "THESHIRE.LOCAL\\pgustavo", "3 - Network" } })
  T.eq(q(db, "SELECT DeviceName, count(*) FROM DeviceNetworkEvents GROUP BY DeviceName ORDER BY DeviceName"),
    { { "MORDORDC.theshire.local", 7 }, { "WORKSTATION5.theshire.local", 3 }, { "WORKSTATION6.theshire.local", 2 } })
  T.eq(q(db, "SELECT LocalIP, RemoteIP, RemotePort, InitiatingProcessFileName FROM DeviceNetworkEvents " ..
    "WHERE DeviceName = 'WORKSTATION5.theshire.local' AND ActionType = 'ConnectionSuccess' ORDER BY TimeGenerated LIMIT 1"),
    { { "172.18.39.5", "172.18.39.6", 135, "GruntHTTP.exe" } })
  T.eq(one(db, "SELECT count(*) FROM DeviceNetworkEvents WHERE LocalIP = 'fe80::3816:b2ee:1b9b:324b'"), 2)
  db:close()
end)

fixture_case("STIX bundles: compound patterns give one indicator per IP", function()
  local db = workspace()
  T.eq(ingest(db, FIX .. "/ti-feeds/stix21/indicator-for-c2-ip-address.json").rows, 1)
  T.eq(q(db, "SELECT NetworkIP, IndicatorId, ExternalIndicatorId, TimeGenerated, Description, ThreatType, Active, " ..
    "IndicatorProvider FROM ThreatIntelligenceIndicator"), { { "10.0.0.0",
    "indicator--33fe3b22-0201-47cf-85d0-97c02164528d:10.0.0.0", "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
    "2014-05-08T09:00:00.000Z", "Test description C2 channel.", "malicious-activity", 1, "indicator-for-c2-ip-address" } })
  local res = ingest(db, FIX .. "/ti-feeds/stix21/poisonivy.json")
  T.eq({ res.rows, res.skipped }, { 65, 2 })
  T.eq(q(db, "SELECT NetworkIP FROM ThreatIntelligenceIndicator WHERE ExternalIndicatorId = " ..
    "'indicator--329ae6e9-25bd-49e8-89d1-aae4ca52e4a7' AND NetworkIP IS NOT NULL ORDER BY NetworkIP"),
    { { "113.10.246.30" }, { "202.65.222.45" }, { "219.90.112.197" }, { "219.90.112.203" }, { "75.126.95.138" } })
  T.eq(one(db, "SELECT DomainName FROM ThreatIntelligenceIndicator WHERE ExternalIndicatorId = " ..
    "'indicator--329ae6e9-25bd-49e8-89d1-aae4ca52e4a7' AND DomainName IS NOT NULL"), "www.webserver.dynssl.com")
  T.eq(one(db, "SELECT count(*) FROM ThreatIntelligenceIndicator WHERE NetworkIP = '60.2.148.167'"), 4)
  T.eq(q(db, "SELECT MalwareNames, ActivityGroupNames FROM ThreatIntelligenceIndicator WHERE NetworkIP = '123.183.210.28' " ..
    "ORDER BY IndicatorId LIMIT 1"), { { '["PIVY Variant (494e65cf21ad559fccf3dacdd69acc94)"]', '["menuPass"]' } })
  db:close()
end)

fixture_case("the MISP event: ip-dst inside Objects, provider, TLP, galaxies", function()
  local db = workspace()
  local res = ingest(db, FIX .. "/ti-feeds/misp/existing_event.json")
  T.eq({ res.rows, res.skipped, res.format }, { 68, 54, "misp" })
  T.eq(one(db, "SELECT count(*) FROM ThreatIntelligenceIndicator WHERE NetworkDestinationIP IS NOT NULL"), 12)
  T.eq(q(db, "SELECT NetworkDestinationIP, IndicatorId, TimeGenerated, IndicatorProvider, TrafficLightProtocolLevel, " ..
    "Active, ThreatType, ThreatSeverity, ActivityGroupNames, json_extract(_Extra, '$.MispObject') " ..
    "FROM ThreatIntelligenceIndicator WHERE NetworkDestinationIP = '95.215.45.43'"),
    { { "95.215.45.43", "5a3ce5f8-99b4-41a2-915a-4bf8950d210f", "2017-12-22T11:01:12.000Z", "CIRCL", "white", 1,
      "Network activity", 1, '["Sofacy"]', "domain-ip" } })
  db:close()
end)

fixture_case("the MISP event also loads wrapped in {\"Event\": ...}", function()
  local db = workspace()
  local f = assert(io.open(FIX .. "/ti-feeds/misp/existing_event.json", "rb"))
  local text = f:read("*a")
  f:close()
  local res = ingest(db, tmp(".json", '{"Event": ' .. text .. "}"))
  T.eq({ res.rows, res.format }, { 68, "misp" })
  db:close()
end)

H.cleanup()
T.done()
