-- Tests for the per-IP rollups that ingest's bulk loads keep (ipe.ingest.load dropping the
-- triggers and counting the new rows with ipe.rollup.sqlite's bulk_mark / bulk_add): a workspace
-- loaded in several files — the same hours and addresses in each, firewall records seen from both
-- sides, text that names addresses, one file refused on its last line and rolled back, a small
-- file counted by the triggers in between — holds after every file exactly the rollup rows that a
-- rebuild from the raw rows gives, row by row and column by column. Needs ipe.sqlite (ipe-run test).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("rollup bulk tests", "they need ipe.sqlite (run them with ipe-run test)")
  return T.done()
end
local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local rollup = require "ipe.rollup.sqlite"
local cjson = require "cjson"

local NOW_TEXT = "2026-11-27T12:00:00.000Z"

local H = require "ipe.harness"
local tmp = H.tmpfile

local function workspace()
  local path = tmp(".db")
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  require("ipe.migrations.ingest").up(db)
  require("ipe.migrations.rollup").up(db)
  return db
end

-- ingest(db, path) -> summary, what it said (verbose) | error message
local function ingest(db, path)
  local said = {}
  local run = { db = db, opts = { verbose = true }, now = require("ipe.timeutil").parse_time(NOW_TEXT),
    now_text = NOW_TEXT, rejects = {}, mappers = {}, say = function(m) said[#said + 1] = m end }
  local ok, res = pcall(load.ingest_file, run, path)
  if not ok then return type(res) == "table" and res.msg or tostring(res), said end
  return res, table.concat(said, "\n")
end

-- every row of the three rollups, every column, in key order
local function dump(db)
  local out = {}
  for _, t in ipairs({ rollup.TABLE, rollup.TRAFFIC, rollup.PEERS }) do
    local ncol = #db:query("PRAGMA table_info(" .. t .. ")")
    local order = {}
    for i = 1, ncol do order[i] = tostring(i) end
    for _, r in ipairs(db:query("SELECT * FROM " .. t .. " ORDER BY " .. table.concat(order, ", "))) do
      for i = 1, ncol do r[i] = tostring(r[i]) end
      out[#out + 1] = t .. "|" .. table.concat(r, "|")
    end
  end
  return out
end

-- the rollups as a rebuild from every raw row gives them (the workspace left as it was)
local function rebuilt(db)
  db:exec("SAVEPOINT cmp")
  rollup.rebuild(db)
  local d = dump(db)
  db:exec("ROLLBACK TO cmp")
  db:exec("RELEASE cmp")
  return d
end

local function triggers(db)
  return db:query("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_ipe_ip_*'")[1][1]
end

-- firewall records of one file: a few addresses and hours shared by every file, both sides,
-- the same address on both, missing peers, hosts, ports, bytes; text naming addresses
local function csl_lines(batch, n)
  local state = batch * 7919
  local function pick(list)
    state = (state * 1103515245 + 12345) % 2147483648
    return list[math.floor(state / 65536) % #list + 1]
  end
  local ips = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "203.0.113.9", "198.51.100.7", "2001:db8::7" }
  local lines = {}
  for i = 1, n do
    local r = { Type = "CommonSecurityLog", SourcePort = batch * 100000 + i,
      TimeGenerated = string.format("2026-11-26T%02d:%02d:%02d.%03dZ", pick({ 8, 9, 10, 11 }), i % 60, batch % 60, i % 1000),
      SourceIP = pick(ips), DestinationIP = pick({ "10.0.0.1", "203.0.113.9", "198.51.100.7", "2001:db8::7", false }),
      SourceHostName = pick({ "wks-1", "wks-2", false }), DestinationHostName = pick({ "srv-9", false }),
      DestinationPort = pick({ 443, 22, 53, false }), Protocol = pick({ "TCP", "tcp", "Udp", false }),
      DeviceAction = pick({ "allow", "Deny", "accept", "drop", false }), Computer = pick({ "fw-1", "fw-2" }),
      SentBytes = pick({ 100, 2500, 7, false }), ReceivedBytes = pick({ 40, 900000, false }),
      Message = pick({ false, false, "session from 10.0.0.4 to 203.0.113.10 closed", "peer=198.51.100.8; ok" }) }
    if pick({ true, false, false, false }) then r.DestinationIP = r.SourceIP end
    for k, v in pairs(r) do if v == false then r[k] = nil end end
    lines[i] = cjson.encode(r)
  end
  return lines
end

local function syslog_lines(batch, n)
  local lines = {}
  for i = 1, n do
    lines[i] = cjson.encode({ Type = "Syslog", Computer = "srv-" .. (i % 3), HostIP = i % 4 == 0 and "10.0.0.2" or nil,
      TimeGenerated = string.format("2026-11-26T%02d:%02d:%02d.000Z", 8 + i % 4, i % 60, batch),
      SyslogMessage = string.format("Failed password for root from %s port %d", i % 2 == 0 and "203.0.113.9" or "10.0.0.3",
        batch * 10000 + i) })
  end
  return lines
end

local function file(lines, tail) return tmp(".jsonl", table.concat(lines, "\n") .. "\n" .. (tail or "")) end

T.case("loads in several files, one refused, keep every rollup row equal to a rebuild", function()
  local min, rmin = load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS
  load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS = 100, 100
  local db = workspace()
  local function check(label, bulk, res, said)
    T.eq(type(res), "table", label .. ": loaded (" .. tostring(res) .. ")")
    T.eq(said:find("per-IP rollups recounted", 1, true) ~= nil, bulk, label .. (bulk and ": a bulk load" or ": by the triggers"))
    if bulk then
      -- -v: each stage's wall and CPU seconds (bench_ingest reads them)
      T.ok(said:match(": rows loaded in %d+%.%d%d s, indexes rebuilt in %d+%.%d%d s, per%-IP rollups recounted in "
        .. "%d+%.%d%d s, committed in %d+%.%d%d s %(cpu %d+%.%d%d, %d+%.%d%d, %d+%.%d%d, %d+%.%d%d s%)") ~= nil,
        label .. ": the stages' times (" .. said .. ")")
    end
    T.eq(triggers(db), #rollup.sources() + 1, label .. ": the triggers are back")
    local have = dump(db)
    T.ok(#have > 0, label .. ": " .. #have .. " rollup rows")
    T.eq(have, rebuilt(db), label .. ": every rollup row is what a rebuild gives")
  end
  check("first file", true, ingest(db, file(csl_lines(1, 300))))
  check("second file, the same hours and addresses", true, ingest(db, file(csl_lines(2, 400))))
  check("a file under BULK_MIN_ROWS, counted by the triggers", false, ingest(db, file(csl_lines(3, 90))))
  check("syslog text naming the same addresses", true, ingest(db, file(syslog_lines(4, 200))))

  local before, rows = dump(db), db:query("SELECT count(*) FROM CommonSecurityLog")[1][1]
  local bad = file(csl_lines(5, 1500), "{\"TimeGenerated\": \n")
  local err = ingest(db, bad)
  T.like(err, "^" .. bad:gsub("%p", "%%%0") .. ":1501: ", "the bad line is named")
  T.eq(db:query("SELECT count(*) FROM CommonSecurityLog")[1][1], rows, "nothing of the refused file is in")
  T.eq(dump(db), before, "the rollups are as they were")
  T.eq(triggers(db), #rollup.sources() + 1, "the triggers are there")

  check("a bigger file after the refused one", true, ingest(db, file(csl_lines(6, 1600))))
  check("then the refused file's rows, fixed", true, ingest(db, file(csl_lines(5, 2600))))
  T.eq(db:query("PRAGMA integrity_check")[1][1], "ok")
  db:close()
  load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS = min, rmin
end)

-- firewall records of the given (source, destination, hour) flows, n of each
local function flow_lines(flows, n, batch)
  local lines = {}
  for _, f in ipairs(flows) do
    for i = 1, n do
      lines[#lines + 1] = cjson.encode({ Type = "CommonSecurityLog", SourceIP = f[1], DestinationIP = f[2],
        TimeGenerated = string.format("2026-11-26T%02d:%02d:%02d.000Z", f[3], i % 60, batch), DestinationPort = 443,
        Protocol = "TCP", DeviceAction = i % 3 == 0 and "deny" or "allow", Computer = "fw-1", SentBytes = i,
        ReceivedBytes = batch })
    end
  end
  return lines
end

T.case("a second file touching some (IP, hour) keys of the first: only those re-summed, all equal to a rebuild", function()
  local min, rmin = load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS
  load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS = 100, 100
  local db = workspace()
  local function traffic(ip, hour)
    return db:query("SELECT Direction, sum(Events), sum(BytesFromIP), sum(BytesToIP) FROM " .. rollup.TRAFFIC
      .. " WHERE IP = ? AND Hour = ? GROUP BY 1 ORDER BY 1", { ip, "2026-11-26T" .. hour })
  end
  -- first file: A -> B at 08, 09, 10; C -> D at 09
  local A, B, C, D, E = "10.0.0.1", "203.0.113.9", "10.0.0.3", "198.51.100.7", "2001:db8::7"
  T.eq(type(ingest(db, file(flow_lines({ { A, B, 8 }, { A, B, 9 }, { A, B, 10 }, { C, D, 9 } }, 50, 1)))), "table", "first file")
  T.eq(dump(db), rebuilt(db), "first file: every rollup row is what a rebuild gives")
  local a8, a10, c9, d9 = traffic(A, "08"), traffic(A, "10"), traffic(C, "09"), traffic(D, "09")
  -- second file: A -> E at 09 (A's hour 09 touched, not 08 nor 10; E new), B -> A at 10, C at 11 (new hour)
  local res, said = ingest(db, file(flow_lines({ { A, E, 9 }, { B, A, 10 }, { C, E, 11 } }, 40, 2)))
  T.eq(type(res), "table", "second file (" .. tostring(res) .. ")")
  T.ok(said:find("per-IP rollups recounted", 1, true) ~= nil, "second file, smaller than the table: its rollups counted in bulk")
  T.eq(dump(db), rebuilt(db), "second file: every rollup row is what a rebuild gives")
  T.eq(traffic(A, "08"), a8, "A's untouched hour 08 is as it was")
  T.eq(traffic(C, "09"), c9, "C's untouched hour 09 is as it was")
  T.eq(traffic(D, "09"), d9, "D, untouched, is as it was")
  T.eq(traffic(A, "09")[1][2], 90, "A at 09: 50 records to B and 40 to E sent")
  T.eq(#traffic(A, "10"), #a10 + 1, "A at 10: its sent rows and now received ones")
  T.eq(#traffic(C, "11"), 1, "C's new hour 11")
  T.eq(db:query("SELECT count(*) FROM sqlite_temp_master WHERE name = ?", { rollup._touched.table })[1][1], 0,
    "the temporary table of touched keys is gone")

  -- the plans: the delete and the re-sum go through the IP-first primary keys, no scan of a rollup
  db:exec("CREATE TEMP TABLE " .. rollup._touched.table .. " (IP TEXT NOT NULL, Hour TEXT NOT NULL, PRIMARY KEY (IP, Hour)) WITHOUT ROWID")
  local function plan(sql) local out = {}
    for _, r in ipairs(db:query("EXPLAIN QUERY PLAN " .. sql)) do out[#out + 1] = r[4] end
    return table.concat(out, "\n")
  end
  for label, sql in pairs({ delete = rollup._touched.delete, resum = rollup._touched.resum() }) do
    local p = plan(sql)
    T.ok(not p:find("SCAN " .. rollup.TRAFFIC, 1, true) and not p:find("SCAN " .. rollup.PEERS, 1, true)
      and not p:find("SCAN p", 1, true), label .. ": no scan of a rollup table (" .. p .. ")")
    T.ok(p:find("SEARCH", 1, true) ~= nil, label .. ": searches by the key (" .. p .. ")")
  end
  db:close()
  load.BULK_MIN_ROWS, load.BULK_ROLLUP_MIN_ROWS = min, rmin
end)

H.cleanup()
T.done()
