-- Tests for the C fast path of JSON lines (ipe.ingest.fastjsonl, core/bind_jsonl.c)
-- against the Lua driver, the reference: every input is ingested twice into twin
-- workspaces (the same record-hash key), once with the fast path off and once with it
-- on, and everything must come out the same — every table's rows in order, the record
-- hashes of the duplicate check, the summary, the error line of a bad input. Inputs:
-- the JSON-lines files of tests/fixtures and generated edge cases (escapes, unicode,
-- NUL, huge values, nested values, bad lines, duplicates, mixed shapes, --skip-bad).
local T = require "ipe.testing"

local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("fast JSON lines tests", "they need ipe.sqlite (run them with ipe-run test)")
  T.done()
  return
end

local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local fast = require "ipe.ingest.fastjsonl"
local migration = require "ipe.migrations.ingest"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local FIX = here .. "/tests/fixtures/sentinel/msticpy"
local NOW_TEXT = "2026-11-27T12:00:00.000Z"
local NOW = timeutil.parse_time(NOW_TEXT)

local H = require "ipe.harness"
local tmp = H.tmpfile

-- twins() -> two workspaces with the same record-hash key
local function twins()
  local dbs = {}
  for i = 1, 2 do
    dbs[i] = assert(sqlite.open(tmp(".db"), "rwc"))
    schema.migrate(dbs[i])
    migration.up(dbs[i])
  end
  migration.record_key(dbs[1])
  local key = dbs[1]:query("SELECT value FROM _ipe_meta WHERE key = 'record_hash_key'")[1][1]
  dbs[2]:query("INSERT INTO _ipe_meta (key, value) VALUES ('record_hash_key', :k)", { k = key })
  T.eq(migration.record_key(dbs[2]), migration.record_key(dbs[1]), "the twins' record-hash keys")
  return dbs[1], dbs[2]
end

-- ingest(db, path, opts, on) -> summary | error message, and the records the C path took
local function ingest(db, path, opts, on)
  fast.enabled = on
  local before = fast.taken
  local run = { db = db, opts = opts or {}, now = NOW, now_text = NOW_TEXT, rejects = {}, mappers = {},
    say = function() end }
  local ok, res = pcall(load.ingest_file, run, path)
  fast.enabled = true
  if ok then
    res.rejects = run.rejects
    return res, fast.taken - before
  end
  return type(res) == "table" and res.msg or tostring(res), fast.taken - before
end

-- dump(db) -> every Sentinel table's rows in rowid order, and the record hashes
local function dump(db)
  local out = {}
  for _, t in ipairs(schema.tables) do
    local rows = db:query("SELECT * FROM " .. t.name .. " ORDER BY rowid")
    if #rows > 0 then
      for i, r in ipairs(rows) do
        for j, v in ipairs(r) do if v == cjson.null then r[j] = "<null>" end end
        rows[i] = table.concat(r, "\1")
      end
      out[t.name] = rows
    end
  end
  out.records = {}
  for i, r in ipairs(db:query("SELECT Hash, IngestId FROM " .. migration.RECORDS .. " ORDER BY Hash, IngestId")) do
    out.records[i] = string.format("%.0f/%d", r[1], r[2])
  end
  out.log = {}
  for i, r in ipairs(db:query("SELECT Rows, Rejected, TableName, Tables FROM " .. migration.TABLE .. " ORDER BY Id")) do
    out.log[i] = table.concat(r, " ")
  end
  return out
end

-- same(inputs, opts) -> the C path's summaries: each input (a path, or text) is ingested
-- in turn into both twins; summaries, errors and the workspaces must agree
local function same(inputs, opts, want_taken)
  local lua_db, c_db = twins()
  local summaries, taken = {}, 0
  for i, input in ipairs(inputs) do
    local path = input:find("\n") and tmp(".jsonl", input) or input
    local a = ingest(lua_db, path, opts, false)
    local b, n = ingest(c_db, path, opts, true)
    taken = taken + n
    T.eq(b, a, "input " .. i .. ": the summary (or error)")
    summaries[i] = b
  end
  local d = dump(c_db)
  T.eq(d, dump(lua_db), "the workspaces")
  if want_taken then T.ok(taken >= want_taken, "the C path took " .. taken .. " records (want >= " .. want_taken .. ")") end
  lua_db:close()
  c_db:close()
  return summaries, taken, d
end

-- csl(i, fields) -> a CommonSecurityLog JSON line (fields replace or add members; false drops one)
local function csl(i, fields)
  local r = {
    { "TimeGenerated", string.format('"2025-11-24T16:%02d:%02d.%03dZ"', i % 60, (i * 7) % 60, i % 1000) },
    { "DeviceVendor", '"Palo Alto Networks"' }, { "DeviceProduct", '"PAN-OS"' },
    { "SourceIP", string.format('"10.%d.%d.%d"', i % 256, (i * 3) % 256, 1 + i % 254) },
    { "SourcePort", tostring(1024 + i) }, { "DestinationIP", '"203.0.113.' .. (1 + i % 254) .. '"' },
    { "DestinationPort", "443" }, { "SentBytes", tostring(100 + i * 13) }, { "DeviceAction", '"allow"' },
    { "SourceUserName", '"contoso\\\\user' .. i .. '"' }, { "Type", '"CommonSecurityLog"' },
  }
  fields = fields or {}
  local parts = {}
  for _, kv in ipairs(r) do
    local v = fields[kv[1]]
    if v == nil then v = kv[2] end
    if v then parts[#parts + 1] = '"' .. kv[1] .. '":' .. v end
    fields[kv[1]] = nil
  end
  local extra = {}
  for k in pairs(fields) do extra[#extra + 1] = k end
  table.sort(extra)
  for _, k in ipairs(extra) do parts[#parts + 1] = '"' .. k .. '":' .. fields[k] end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function lines(n, f)
  local out = {}
  for i = 1, n do out[i] = f and f(i) or csl(i) end
  return table.concat(out, "\n") .. "\n"
end

T.case("the fixtures' JSON-lines files come out the same through C and Lua", function()
  for _, name in ipairs({ "SigninLogs", "SecurityAlert", "SecurityEvent_host_logons",
    "AzureNetworkAnalytics_CL_az_net_comms" }) do
    same({ FIX .. "/" .. name .. ".jsonl" })
  end
end)

T.case("plain rows: the C path takes them, and the rows, hashes and counts are the Lua path's", function()
  local s, taken = same({ lines(3000) }, nil, 2990)
  T.eq(s[1].rows, 3000)
end)

T.case("escapes and unicode: \\n \\t \\\" \\/ \\u00e9 \\u20ac a surrogate pair, \\u0000", function()
  local vals = { '"tab\\there"', '"q\\"uote\\\\"', '"sl\\/ash"', '"caf\\u00e9"', '"\\u20ac and \\uD83D\\uDE00"',
    '"nul\\u0000byte"', '"line\\nbreak\\r"', '"\\u001f\\b\\f"', '"UPPER\\u00C9"' }
  same({ lines(200, function(i) return csl(i, { DeviceAction = vals[i % #vals + 1] }) end) }, nil, 150)
end)

T.case("bytes >= 0x80 and raw control characters go the Lua way and come out the same", function()
  same({ lines(50, function(i)
    if i % 3 == 0 then return csl(i, { DeviceVendor = '"Caf\195\169 \226\130\172"' }) end
    if i % 3 == 1 then return csl(i, { DeviceVendor = '"raw\ttab"' }) end
    return csl(i)
  end) })
end)

T.case("a lone surrogate, a bad escape: the same error line", function()
  for _, bad in ipairs({ '"\\uD800x"', '"\\uDC00"', '"\\x41"', '"\\u12"' }) do
    local s = same({ lines(20, function(i) return csl(i, i == 17 and { DeviceAction = bad } or nil) end) })
    T.like(s[1], ":17: ", "the error names line 17")
  end
end)

T.case("a NUL byte in a line: the same error line, nothing written", function()
  -- past the 64 KiB the format detection reads (a NUL there makes the whole file binary)
  local s, _, d = same({ lines(400, function(i) return i == 390 and csl(i, { DeviceAction = '"a\0b"' }) or csl(i) end) })
  T.like(s[1], ":390: a NUL byte", "the error")
  T.eq(d.CommonSecurityLog, nil, "no row written")
  T.eq(#d.records, 0, "no record hash kept")
end)

T.case("huge values: 15- and 16-digit integers, -0, long text, an over-long line", function()
  same({ lines(60, function(i)
    local ints = { "999999999999999", "-99999999999999", "1000000000000000", "-0", "0", "1e3", "1.5", "007" }
    return csl(i, { SentBytes = ints[i % #ints + 1], ReceivedBytes = '"' .. ints[(i + 3) % #ints + 1] .. '"',
      SourcePort = i % 5 == 0 and '"8080"' or nil, DeviceCustomString1 = '"' .. string.rep("x", 100000 + i) .. '"' })
  end) }, nil, 10)
  local big = lines(5) .. csl(6, { DeviceCustomString1 = '"' .. string.rep("y", 1048577) .. '"' }) .. "\n" .. lines(3)
  local s = same({ big })
  T.like(s[1], ":6: the line is longer than", "the error")
end)

T.case("nested objects and arrays, true/false, unknown members: through Lua, the same rows", function()
  same({ lines(40, function(i)
    local f = {}
    if i % 4 == 0 then f.AdditionalExtensions = '{"a":[1,2,{"b":null}],"c":"d"}' end
    if i % 4 == 1 then f.Unknown = '"x"'; f.Flag = "true" end
    if i % 4 == 2 then f.DeviceCustomNumber1 = "[1, 2]" end
    return csl(i, f)
  end) })
end)

T.case("bad lines: truncated, text after the record, a bad number, not an object: the same error line", function()
  for _, bad in ipairs({ '{"TimeGenerated":"2025-11-24T16:00:00.000Z","SourceIP":"1.2.3.4"',
    csl(1) .. " x", csl(1, { SourcePort = "12.3.4" }), csl(1, { SourcePort = "-" }), "[1,2]", "nul",
    csl(1, { SourcePort = "1.5e" }) }) do
    local text = lines(9) .. bad .. "\n" .. lines(5)
    local s = same({ text })
    T.like(s[1], ":10: ", "the error names line 10 (" .. bad .. ")")
    local k = same({ text }, { skip_bad = true })
    T.eq(k[1].rejected, 1, "--skip-bad rejects one")
  end
  -- the Lua reader's leniencies hold on the C path too: a leading zero, a raw tab in a string
  local s = same({ lines(9) .. csl(1, { SourcePort = "01", DeviceAction = '"a\tb"' }) .. "\n" .. lines(5) })
  T.eq(s[1].rows, 15, "lenient lines are rows")
end)

T.case("values the mapper judges: IP:port, bad IPs, '-', blanks, other times, no TimeGenerated, Type", function()
  same({ lines(120, function(i)
    local ips = { '"1.2.3.4:8080"', '"300.1.1.1"', '"-"', '""', '"  "', '"2001:db8::1"', '"01.2.3.4"', '"1.2.3.4"' }
    local times = { '"2025-11-24 16:00:00"', '"1764000000"', "1764000000000", '""', '"2025-02-30T00:00:00.000Z"',
      false, '"2025-11-24T16:00:00.000Z"' }
    return csl(i, { SourceIP = ips[i % #ips + 1], TimeGenerated = i % 11 == 0 and times[(i / 11) % #times + 1] or nil,
      Type = i % 13 == 0 and '"Syslog"' or (i % 17 == 0 and "null" or nil), StartTime = '"2025-01-01T00:00:00Z"' })
  end) }, { skip_bad = true })
end)

T.case("null members, case-insensitive and suffixed names, blank lines, CRLF, mixed shapes", function()
  local text = lines(100, function(i)
    local f = { DeviceVendor = i % 2 == 0 and "null" or nil, Computer = i % 3 == 0 and '"fw1"' or nil,
      devicevendor = i % 7 == 0 and '"lower"' or nil, DestinationPort_d = i % 9 == 0 and "80" or nil,
      Whatever = i % 5 == 0 and "null" or nil }
    local l = csl(i, f)
    if i % 10 == 0 then l = l .. "\r" end
    if i % 15 == 0 then l = l .. "\n   \t\n" end
    return l
  end)
  same({ text })
end)

T.case("duplicates within a file, across files, and --force: the same rows and records", function()
  local a = lines(300)
  local b = lines(150) .. lines(400)
  same({ a, b })
  same({ a, a .. "\n" }, { force = true })
  same({ lines(10, function() return csl(1) end) })
end)

T.case("a last line without its newline, and a file of only blank lines", function()
  same({ lines(20):sub(1, -2) })
  same({ "\n  \n\t\n" })
end)

H.cleanup()
T.done()
