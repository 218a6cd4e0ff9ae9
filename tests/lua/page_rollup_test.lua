-- Tests for ipe.rollup.sqlite and ipe.migrations.rollup: the per-IP hourly rollups the page reads (activity and
-- firewall traffic) — kept right by triggers for every IP-bearing place of a row, equal to a
-- rebuild, exact for any window through the stored statements. Needs ipe.sqlite (ipe-run test).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("rollup", "needs the C core (run with ipe-run test)")
  return T.done()
end
local schema = require "ipe.schema"
local rollup = require "ipe.rollup.sqlite"
local migration = require "ipe.migrations.rollup"
local H = require "ipe.harness"

local function fresh()
  local path = H.workspace{}
  local db = assert(sqlite.open(path, "rw"))
  if #db:query("SELECT 1 FROM sqlite_master WHERE name = '_ipe_ip_activity'") == 0 then migration.up(db) end
  return db, path
end

local function insert(db, tname, row)
  local cols, vals = {}, {}
  for k, v in pairs(row) do cols[#cols + 1] = k; vals[#vals + 1] = v end
  db:prepare(schema.insert_sql(tname, cols)):run(unpack(vals, 1, #cols))
end

local function activity(db, ip)
  local out = {}
  for _, r in ipairs(db:query("SELECT Source, Hour, Host, Events, FirstSeen, LastSeen FROM _ipe_ip_activity "
    .. "WHERE IP = ? ORDER BY Source, Hour, Host", { ip })) do
    out[#out + 1] = table.concat({ r[1], r[2], r[3], tostring(r[4]), r[5], r[6] }, "|")
  end
  return out
end

T.case("the migration has a description, its tables and an up function", function()
  T.eq(rollup.tables, { "_ipe_ip_activity", "_ipe_ip_traffic", "_ipe_ip_peers", "_ipe_ip_queries" })
  T.eq(migration.tables, rollup.tables)
  T.like(migration.description, "rollup")
  T.eq(type(migration.up), "function")
  T.eq(rollup.up, nil)   -- the runtime module holds no migration
end)

T.case("every log table with an IP-bearing place has a source; others do not", function()
  local names = {}
  for _, s in ipairs(rollup.sources()) do names[#names + 1] = s.table end
  T.eq(names, { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "AuditLogs", "OfficeActivity",
                "BehaviorAnalytics", "Heartbeat", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity" })
  for _, s in ipairs(rollup.sources()) do
    local t = schema.table(s.table)
    for _, c in ipairs(t.ip_columns) do T.like(s.ip, "t%." .. c, s.table .. "." .. c) end
    for _, c in ipairs(t.ip_text) do T.like(s.ip, "t%." .. c, s.table .. "." .. c) end
  end
end)

T.case("a row counts once per IP, in its hour, with its host", function()
  local db = fresh()
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T10:15:00.000Z", SourceIP = "10.0.2.17",
    DestinationIP = "89.160.20.128", MaliciousIP = "89.160.20.128", SourceHostName = "wks-007", Computer = "fw-edge01",
    SourceTranslatedAddress = "131.107.0.89" })
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T10:45:00.000Z", SourceIP = "10.0.2.17",
    DestinationIP = "89.160.20.128", SourceHostName = "wks-007", Computer = "fw-edge01" })
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T11:05:00.000Z", SourceIP = "89.160.20.128",
    DestinationIP = "131.107.0.91", DestinationHostName = "srv-lnx01", Computer = "fw-edge01" })
  T.eq(activity(db, "89.160.20.128"), {
    "CommonSecurityLog|2026-11-26T10|wks-007|2|2026-11-26T10:15:00.000Z|2026-11-26T10:45:00.000Z",
    "CommonSecurityLog|2026-11-26T11|srv-lnx01|1|2026-11-26T11:05:00.000Z|2026-11-26T11:05:00.000Z",
  })
  T.eq(activity(db, "131.107.0.89"), {
    "CommonSecurityLog|2026-11-26T10|wks-007|1|2026-11-26T10:15:00.000Z|2026-11-26T10:15:00.000Z" })
  db:close()
end)

T.case("JSON paths, IP lists, ports and brackets, free text", function()
  local db = fresh()
  insert(db, "AuditLogs", { TimeGenerated = "2026-11-26T09:00:00.000Z",
    InitiatedBy = '{"user":{"userPrincipalName":"a@contoso.com","ipAddress":"203.0.113.9"}}' })
  insert(db, "Heartbeat", { TimeGenerated = "2026-11-26T09:01:00.000Z", Computer = "srv-db01.contoso.com",
    ComputerIP = "131.107.0.89", ComputerPrivateIPs = '["10.0.1.20","fe80::1"]' })
  insert(db, "Heartbeat", { TimeGenerated = "2026-11-26T09:02:00.000Z", Computer = "broken",
    ComputerIP = "131.107.0.89", ComputerPrivateIPs = "not json" })
  insert(db, "OfficeActivity", { TimeGenerated = "2026-11-26T09:03:00.000Z", ClientIP = "[203.0.113.9]:5123" })
  insert(db, "OfficeActivity", { TimeGenerated = "2026-11-26T09:04:00.000Z", ClientIP = "203.0.113.9:443" })
  insert(db, "OfficeActivity", { TimeGenerated = "2026-11-26T09:05:00.000Z", ClientIP = "[2001:db8::7]:443" })
  insert(db, "Syslog", { TimeGenerated = "2026-11-26T09:06:00.000Z", Computer = "srv-lnx01", HostIP = "10.0.1.60",
    SyslogMessage = "Failed password for root from 203.0.113.9 port 5022 ssh2" })
  insert(db, "Syslog", { TimeGenerated = "2026-11-26T09:07:00.000Z", Computer = "srv-lnx01", HostIP = "10.0.1.60",
    SyslogMessage = "conn (203.0.113.9), peer=203.0.113.10; to [2001:db8::7]. user@203.0.113.11." })
  insert(db, "Syslog", { TimeGenerated = "2026-11-26T09:08:00.000Z", Computer = "srv-lnx01", HostIP = "10.0.1.60",
    SyslogMessage = "listen 203.0.113.9:22 and 203.0.113.90 and 1203.0.113.9 at 12:30:45" })
  T.eq(activity(db, "203.0.113.9"), {
    "AuditLogs|2026-11-26T09||1|2026-11-26T09:00:00.000Z|2026-11-26T09:00:00.000Z",
    "OfficeActivity|2026-11-26T09||2|2026-11-26T09:03:00.000Z|2026-11-26T09:04:00.000Z",
    "Syslog|2026-11-26T09|srv-lnx01|2|2026-11-26T09:06:00.000Z|2026-11-26T09:07:00.000Z",
  })
  T.eq(activity(db, "10.0.1.20"), {
    "Heartbeat|2026-11-26T09|srv-db01.contoso.com|1|2026-11-26T09:01:00.000Z|2026-11-26T09:01:00.000Z" })
  T.eq(activity(db, "131.107.0.89"), {
    "Heartbeat|2026-11-26T09|broken|1|2026-11-26T09:02:00.000Z|2026-11-26T09:02:00.000Z",
    "Heartbeat|2026-11-26T09|srv-db01.contoso.com|1|2026-11-26T09:01:00.000Z|2026-11-26T09:01:00.000Z",
  })
  T.eq(#activity(db, "2001:db8::7"), 2)
  T.eq(#activity(db, "203.0.113.10"), 1)
  T.eq(#activity(db, "203.0.113.11"), 1)
  T.eq(#activity(db, "203.0.113.90"), 1)
  T.eq(#activity(db, "12:30:45"), 0, "a time is not an IP")
  db:close()
end)

T.case("a text with a control character contributes no tokens but the row still counts its columns", function()
  local db = fresh()
  insert(db, "Syslog", { TimeGenerated = "2026-11-26T09:06:00.000Z", Computer = "h", HostIP = "10.0.1.60",
    SyslogMessage = "from 203.0.113.9\1 port" })
  T.eq(#activity(db, "203.0.113.9"), 0)
  T.eq(#activity(db, "10.0.1.60"), 1)
  db:close()
end)

T.case("rows without TimeGenerated are not counted", function()
  local db = fresh()
  insert(db, "SigninLogs", { IPAddress = "203.0.113.9" })
  T.eq(#activity(db, "203.0.113.9"), 0)
  db:close()
end)

T.case("rebuild gives what the triggers gave, for all hours and for a range", function()
  local path = H.workspace{ demo = { events = 12000, seed = 3 } }
  local db = assert(sqlite.open(path, "rw"))
  if #db:query("SELECT 1 FROM sqlite_master WHERE name = '_ipe_ip_activity'") == 0 then migration.up(db) end
  local function dump()
    local out = {}
    for _, r in ipairs(db:query("SELECT IP, Hour, Source, Host, Events, FirstSeen, LastSeen FROM _ipe_ip_activity ORDER BY 1, 2, 3, 4")) do
      out[#out + 1] = table.concat({ r[1], r[2], r[3], r[4], tostring(r[5]), r[6], r[7] }, "|")
    end
    for _, t in ipairs({ "_ipe_ip_traffic", "_ipe_ip_peers" }) do
      for _, r in ipairs(db:query("SELECT * FROM " .. t .. " ORDER BY 1, 2, 3, 4, 5, 6")) do
        for i = 1, #r do r[i] = tostring(r[i]) end
        out[#out + 1] = table.concat(r, "|")
      end
    end
    return out
  end
  local before = dump()
  T.ok(#before > 1000, "the demo fills the rollup: " .. #before)
  T.ok(db:query("SELECT count(*) FROM _ipe_ip_traffic")[1][1] > 1000, "and the traffic rollup")
  insert(db, "SigninLogs", { TimeGenerated = "2026-11-20T10:00:00.000Z", IPAddress = "198.51.100.77" })
  local with_trigger = dump()
  rollup.rebuild(db)
  T.eq(dump(), with_trigger, "full rebuild")
  db:exec("DELETE FROM _ipe_ip_activity WHERE Hour >= '2026-11-20T09' AND Hour <= '2026-11-20T11'")
  rollup.rebuild(db, "2026-11-20T09:59:00.000Z", "2026-11-20T11:00:00.000Z")
  T.eq(dump(), with_trigger, "range rebuild")
  T.raises(function() rollup.rebuild(db, "2026-11-20", "2026-11-21") end,
    "rollup.rebuild: from and to must be workspace times")
  T.raises(function() rollup.rebuild(db, "2026-11-20T09:59:00.000Z") end,
    "rollup.rebuild: from and to must be workspace times")
  T.raises(function() rollup.rebuild(db, nil, nil, "Syslog") end,
    "rollup.rebuild: which must be _ipe_ip_activity, _ipe_ip_traffic or _ipe_ip_peers")
  db:close()
end)

T.case("bulk loads: triggers off, rebuild at the end", function()
  local db = fresh()
  rollup.bulk_begin(db)
  insert(db, "SigninLogs", { TimeGenerated = "2026-11-26T09:00:00.000Z", IPAddress = "203.0.113.9" })
  T.eq(#activity(db, "203.0.113.9"), 0, "no trigger during the load")
  rollup.bulk_end(db)
  T.eq(activity(db, "203.0.113.9"), { "SigninLogs|2026-11-26T09||1|2026-11-26T09:00:00.000Z|2026-11-26T09:00:00.000Z" })
  insert(db, "SigninLogs", { TimeGenerated = "2026-11-26T09:30:00.000Z", IPAddress = "203.0.113.9" })
  T.eq(activity(db, "203.0.113.9"), { "SigninLogs|2026-11-26T09||2|2026-11-26T09:00:00.000Z|2026-11-26T09:30:00.000Z" })
  db:close()
end)

-- Rows mixing every IP-bearing place: plain columns (clean, padded, non-IP, numbers,
-- duplicates across columns), free text with and without IPs (IPv6, times, glued tokens,
-- control characters), JSON paths and lists (nested, invalid) — the rebuild (a fast path
-- for plain columns, a walk only where the text or JSON may hold an IP) must count exactly
-- what the triggers counted, row by row.
local function mixed_rows(n, seed)
  local state = seed
  local function pick(list)
    state = (state * 1103515245 + 12345) % 2147483648
    return list[math.floor(state / 65536) % #list + 1]
  end
  local ips = { "203.0.113.9", "10.0.0.1", "2001:db8::7", "fe80::1", "1:2:3:4:5:6:7:8", "<203.0.113.9>",
    "203.0.113.9.", "'10.0.0.1'", "-10.0.0.1-", "1.2.3.4.5", "999.1.1.1", "1234.5.6.7", "12:30:45", "abc", "",
    "1.2.3", "::", "10.0.0.1:22", "203.0.113.9:443", "[2001:db8::7]:443", "[203.0.113.9]", 42, false, false, false }
  local words = { "from", "203.0.113.9", "10.0.0.1.", "<fe80::1>", "(2001:db8::7),", "peer=203.0.113.10;",
    "user@10.0.0.1", "at", "12:30:45", "srx1.2.3.4", "1.2.3.4:22", "[10.0.0.1]", "a/203.0.113.9\\b",
    "'10.0.0.1'", "v1.2", "\"203.0.113.9\"", "1234.5.6.7", "-203.0.113.9-" }
  local seps = { " ", " ", " ", ",", ";", "\t", "\n", "\r", "=", "(", ")" }
  local function text()
    local kind = pick({ "none", "none", "words", "words", "words", "plain", "ctrl" })
    if kind == "none" then return nil end
    if kind == "plain" then return pick({ "session opened for user root", "build 7.2 ok", "" }) end
    local parts = {}
    for i = 1, 2 + (state % 5) do parts[#parts + 1] = pick(words) .. pick(seps) end
    if kind == "ctrl" then parts[#parts + 1] = "\1" end
    return table.concat(parts)
  end
  local function ip() local v = pick(ips); if v == false then return nil end return v end
  local rows = {}
  for i = 1, n do
    local t = string.format("2026-11-%02dT%02d:%02d:00.000Z", 26 + math.floor((22 + i % 5) / 24), (22 + i % 5) % 24, i % 60)
    local tname = pick({ "CommonSecurityLog", "CommonSecurityLog", "Syslog", "OfficeActivity", "Heartbeat", "AuditLogs" })
    local row = { TimeGenerated = t }
    if tname == "CommonSecurityLog" then
      row.SourceIP, row.DestinationIP, row.RemoteIP, row.MaliciousIP = ip(), ip(), ip(), ip()
      if state % 3 == 0 then row.DestinationIP = row.SourceIP end
      row.SourceHostName = pick({ "wks-1", "wks-2", "", false }) or nil
      row.Message = text()
    elseif tname == "Syslog" then
      row.HostIP, row.Computer, row.SyslogMessage = ip(), pick({ "srv-1", "srv-2" }), text()
    elseif tname == "OfficeActivity" then
      row.ClientIP, row.ActorIpAddress = ip(), ip()
    elseif tname == "Heartbeat" then
      row.ComputerIP, row.Computer = ip(), "h" .. (i % 3)
      row.ComputerPrivateIPs = pick({ '["10.0.0.1","fe80::1"]', '["10.0.0.1",["203.0.113.9",["1.2.3.4"]]]',
        "not json", "[]", '{"a":"10.0.0.1"}', '[" 10.0.0.1","<10.0.0.2>"]', false }) or nil
    else
      row.InitiatedBy = pick({ '{"user":{"ipAddress":"203.0.113.9"}}', '{"user":{"ipAddress":["10.0.0.1"]}}',
        '{"user":{"ipAddress":"<10.0.0.1>."}}', '{"app":{}}', false }) or nil
    end
    rows[#rows + 1] = { tname, row }
  end
  return rows
end

local function dump_activity(db)
  local out = {}
  for _, r in ipairs(db:query("SELECT IP, Hour, Source, Host, Events, FirstSeen, LastSeen FROM _ipe_ip_activity "
    .. "ORDER BY 1, 2, 3, 4")) do
    out[#out + 1] = table.concat({ r[1], r[2], r[3], r[4], tostring(r[5]), r[6], r[7] }, "|")
  end
  return out
end

local function dump_all(db)
  local out = dump_activity(db)
  for _, t in ipairs({ "_ipe_ip_traffic", "_ipe_ip_peers" }) do
    for _, r in ipairs(db:query("SELECT * FROM " .. t .. " ORDER BY 1, 2, 3, 4, 5, 6, 7")) do
      for i = 1, #r do r[i] = tostring(r[i]) end
      out[#out + 1] = t .. "|" .. table.concat(r, "|")
    end
  end
  return out
end

T.case("bulk_mark / bulk_add: only the rows added since the marks are counted, as the triggers count them", function()
  local db = fresh()
  for _, r in ipairs(mixed_rows(700, 11)) do insert(db, r[1], r[2]) end
  local old = dump_all(db)
  T.ok(#old > 300, "rows counted by the triggers: " .. #old)
  db:exec("BEGIN")
  local marks = rollup.bulk_mark(db)
  local ours = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_ipe_ip_*'"
  T.eq(db:query(ours)[1][1], 0, "no rollup triggers during the load")
  T.ok(marks.CommonSecurityLog > 0 and marks.Syslog > 0, "each log table's end is marked")
  -- the same hours as the rows before (added to their counts), a firewall record on both sides
  for _, r in ipairs(mixed_rows(900, 13)) do insert(db, r[1], r[2]) end
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T23:10:00.000Z", SourceIP = "10.0.0.1",
    DestinationIP = "203.0.113.9", DestinationPort = 443, Protocol = "TCP", DeviceAction = "allow", SentBytes = 5 })
  T.eq(dump_all(db), old, "nothing counted before bulk_add")
  rollup.bulk_add(db, marks)
  db:exec("COMMIT")
  local added = dump_all(db)
  T.ok(#added > #old, "the new rows are counted")
  T.eq(db:query(ours)[1][1], #rollup.sources() + 1, "triggers back")
  rollup.rebuild(db)
  T.eq(added, dump_all(db), "what a full rebuild of every row gives")
  db:close()
end)

T.case("rebuild counts exactly what the triggers count: columns, text, JSON, duplicates", function()
  local rows = mixed_rows(1500, 7)
  local db = fresh()
  for _, r in ipairs(rows) do insert(db, r[1], r[2]) end
  local by_trigger = dump_activity(db)
  T.ok(#by_trigger > 40, "the rows give rollup rows: " .. #by_trigger)
  local ipv6 = 0
  for _, line in ipairs(by_trigger) do if line:find("^2001:db8::7|") then ipv6 = ipv6 + 1 end end
  T.ok(ipv6 > 0, "IPv6 from columns and text")
  rollup.rebuild(db)
  T.eq(dump_activity(db), by_trigger, "full rebuild")
  rollup.rebuild(db, "2026-11-26T23:10:00.000Z", "2026-11-27T00:05:00.000Z")
  T.eq(dump_activity(db), by_trigger, "range rebuild across midnight")
  db:close()
  local bulk = fresh()
  rollup.bulk_begin(bulk)
  for _, r in ipairs(rows) do insert(bulk, r[1], r[2]) end
  rollup.bulk_end(bulk)
  T.eq(dump_activity(bulk), by_trigger, "bulk load")
  bulk:close()
end)

T.case("rebuild: a text IP that a column also holds counts once; a text without digits walks nothing", function()
  local db = fresh()
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T10:00:00.000Z", SourceIP = "203.0.113.9",
    DestinationIP = "203.0.113.9", Message = "deny 203.0.113.9 -> <203.0.113.9>. and 2001:db8::7, 2001:db8::7" })
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T10:01:00.000Z", SourceIP = "10.0.0.1",
    Message = "session opened for user root" })
  insert(db, "Syslog", { TimeGenerated = "2026-11-26T10:02:00.000Z", HostIP = "[10.0.0.1]",
    SyslogMessage = "from 10.0.0.1. via fe80::1" })
  local want = dump_activity(db)
  T.eq(#want, 5, "203.0.113.9 and 2001:db8::7 once each in the CSL row, 10.0.0.1 twice, fe80::1 once")
  rollup.rebuild(db)
  T.eq(dump_activity(db), want)
  T.eq(db:query("SELECT Events FROM _ipe_ip_activity WHERE IP = '203.0.113.9'")[1][1], 1)
  db:close()
end)

T.case("sorting(): a small page cache while fn runs, the caller's back afterwards, also on error", function()
  local db = fresh()
  db:exec("PRAGMA cache_size = -65536")
  local inside
  rollup.sorting(db, function() inside = db:query("PRAGMA cache_size")[1][1] end)
  T.eq(inside, -rollup.SORT_CACHE_KIB)
  T.eq(db:query("PRAGMA cache_size")[1][1], -65536)
  T.raises(function() rollup.sorting(db, function() error("boom", 0) end) end, "boom")
  T.eq(db:query("PRAGMA cache_size")[1][1], -65536)
  db:close()
end)

-- The exact window statement against a brute-force count over the raw rows.
T.case("the stored activity statement is exact for windows cutting through hours", function()
  local db = fresh()
  local ip = "198.51.100.5"
  local times = {}
  for h = 8, 12 do
    for m = 0, 59, 7 do
      local t = string.format("2026-11-26T%02d:%02d:%02d.%03dZ", h, m, (m * 13) % 60, m * 11)
      times[#times + 1] = t
      insert(db, "DeviceNetworkEvents", { TimeGenerated = t, DeviceName = (m % 2 == 0) and "wks-001" or "wks-002",
        RemoteIP = ip, LocalIP = "10.0.2.11" })
      if m % 3 == 0 then insert(db, "SigninLogs", { TimeGenerated = t, IPAddress = ip }) end
    end
  end
  local sql = db:query("SELECT Sql FROM _ipe_ip_queries WHERE Name = 'activity'")[1][1]
  T.eq(sql, rollup.activity_sql())
  local windows = {
    { "2026-11-26T08:00:00.000Z", "2026-11-26T12:59:59.999Z" },
    { "2026-11-26T08:30:00.000Z", "2026-11-26T11:29:59.000Z" },
    { "2026-11-26T09:07:00.000Z", "2026-11-26T09:49:00.000Z" },
    { "2026-11-26T09:14:13.154Z", "2026-11-26T09:14:13.154Z" },
    { "2026-11-26T10:00:00.000Z", "2026-11-26T10:00:00.000Z" },
    { "2026-11-26T13:00:00.000Z", "2026-11-27T00:00:00.000Z" },
  }
  for _, w in ipairs(windows) do
    local got = db:query("SELECT Source, sum(Events), min(FirstSeen), max(LastSeen) FROM (" .. sql
      .. ") GROUP BY Source ORDER BY Source", { ip = ip, from = w[1], to = w[2] })
    local want = {}
    for _, src in ipairs({ "DeviceNetworkEvents", "SigninLogs" }) do
      local r = db:query("SELECT count(*), min(TimeGenerated), max(TimeGenerated) FROM " .. src
        .. " WHERE TimeGenerated >= ? AND TimeGenerated <= ? AND " .. (src == "SigninLogs" and "IPAddress" or "RemoteIP")
        .. " = ?", { w[1], w[2], ip })[1]
      if r[1] > 0 then want[#want + 1] = { src, r[1], r[2], r[3] } end
    end
    T.eq(got, want, w[1] .. " .. " .. w[2])
  end
  db:close()
end)

---------------------------------------------------------------------------
-- The traffic rollup
---------------------------------------------------------------------------
local function rollup_rows(db, t, ip)
  local out = {}
  for _, r in ipairs(db:query("SELECT * FROM " .. t .. " WHERE IP = ? ORDER BY 2, 3, 4, 5", { ip })) do
    table.remove(r, 1)
    for i = 1, #r do r[i] = tostring(r[i]) end
    out[#out + 1] = table.concat(r, "|")
  end
  return out
end

T.case("traffic and peers: each side of a firewall record, bytes from the IP's side", function()
  local db = fresh()
  local function fw(t, src, dst, port, action, sent, recv, shost, dhost, computer)
    insert(db, "CommonSecurityLog", { TimeGenerated = t, SourceIP = src, DestinationIP = dst, DestinationPort = port,
      Protocol = "TCP", DeviceAction = action, SentBytes = sent, ReceivedBytes = recv, SourceHostName = shost,
      DestinationHostName = dhost, Computer = computer })
  end
  fw("2026-11-26T10:01:00.000Z", "10.0.2.17", "89.160.20.128", 443, "allow", 1200, 500, "wks-007", nil, "fw-edge01")
  fw("2026-11-26T10:06:00.000Z", "10.0.2.17", "89.160.20.128", 443, "allow", 1300, 600, "wks-007", nil, "fw-edge01")
  fw("2026-11-26T10:07:00.000Z", "89.160.20.128", "131.107.0.91", 22, "deny", 60, nil, nil, "srv-lnx01", "fw-dmz")
  fw("2026-11-26T10:08:00.000Z", "89.160.20.128", "89.160.20.128", nil, "drop", 10, 0, nil, nil, nil)
  T.eq(rollup_rows(db, "_ipe_ip_traffic", "89.160.20.128"), {
    "2026-11-26T10|from the IP|-1|tcp|drop|1|10|0|2026-11-26T10:08:00.000Z|2026-11-26T10:08:00.000Z",
    "2026-11-26T10|from the IP|22|tcp|deny|1|60|0|2026-11-26T10:07:00.000Z|2026-11-26T10:07:00.000Z",
    "2026-11-26T10|to the IP|443|tcp|allow|2|1100|2500|2026-11-26T10:01:00.000Z|2026-11-26T10:06:00.000Z",
  })
  -- peers: Peer, PeerHost, Direction, Port, Protocol, Action, Reporter, then the sums
  T.eq(rollup_rows(db, "_ipe_ip_peers", "89.160.20.128"), {
    "2026-11-26T10|10.0.2.17|wks-007|to the IP|443|tcp|allow|fw-edge01|2|2|0|1100|2500|2026-11-26T10:01:00.000Z|2026-11-26T10:06:00.000Z",
    "2026-11-26T10|131.107.0.91|srv-lnx01|from the IP|22|tcp|deny|fw-dmz|1|0|1|60|0|2026-11-26T10:07:00.000Z|2026-11-26T10:07:00.000Z",
    "2026-11-26T10|89.160.20.128||from the IP|-1|tcp|drop||1|0|1|10|0|2026-11-26T10:08:00.000Z|2026-11-26T10:08:00.000Z",
  })
  T.eq(rollup_rows(db, "_ipe_ip_peers", "10.0.2.17"), {
    "2026-11-26T10|89.160.20.128||from the IP|443|tcp|allow|fw-edge01|2|2|0|2500|1100|2026-11-26T10:01:00.000Z|2026-11-26T10:06:00.000Z" })
  T.eq(rollup_rows(db, "_ipe_ip_traffic", "10.0.2.17"), {
    "2026-11-26T10|from the IP|443|tcp|allow|2|2500|1100|2026-11-26T10:01:00.000Z|2026-11-26T10:06:00.000Z" })
  db:close()
end)

T.case("traffic: the stored statement is exact for windows cutting through hours", function()
  local db = fresh()
  local ip = "198.51.100.9"
  for h = 8, 11 do
    for m = 0, 59, 6 do
      local t = string.format("2026-11-26T%02d:%02d:%02d.%03dZ", h, m, (m * 7) % 60, m)
      insert(db, "CommonSecurityLog", { TimeGenerated = t, SourceIP = (m % 12 == 0) and ip or "10.0.2." .. (m % 5 + 11),
        DestinationIP = (m % 12 == 0) and "10.0.1.30" or ip, DestinationPort = (m % 3 == 0) and 443 or 80,
        DeviceAction = (m % 4 == 0) and "deny" or "allow", SentBytes = m, ReceivedBytes = 2 * m,
        Computer = (m % 18 == 0) and "fw-b" or "fw-a" })
    end
  end
  local sql = db:query("SELECT Sql FROM _ipe_ip_queries WHERE Name = 'traffic'")[1][1]
  T.eq(sql, rollup.traffic_sql())
  for _, w in ipairs({ { "2026-11-26T08:00:00.000Z", "2026-11-26T11:59:59.999Z" },
                       { "2026-11-26T08:20:00.000Z", "2026-11-26T10:41:30.000Z" },
                       { "2026-11-26T09:13:00.000Z", "2026-11-26T09:47:00.000Z" } }) do
    local got = db:query("SELECT Direction, Port, Action, sum(Events), sum(BytesFromIP), sum(BytesToIP), min(FirstSeen), "
      .. "max(LastSeen) FROM (" .. sql .. ") GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", { ip = ip, from = w[1], to = w[2] })
    local want = db:query("SELECT CASE WHEN SourceIP = :ip THEN 'from the IP' ELSE 'to the IP' END, DestinationPort, "
      .. "DeviceAction, count(*), sum(CASE WHEN SourceIP = :ip THEN SentBytes ELSE ReceivedBytes END), "
      .. "sum(CASE WHEN SourceIP = :ip THEN ReceivedBytes ELSE SentBytes END), min(TimeGenerated), max(TimeGenerated) "
      .. "FROM CommonSecurityLog WHERE (SourceIP = :ip OR DestinationIP = :ip) AND TimeGenerated >= :from "
      .. "AND TimeGenerated <= :to GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", { ip = ip, from = w[1], to = w[2] })
    T.eq(got, want, w[1] .. " .. " .. w[2])
    local psql = db:query("SELECT Sql FROM _ipe_ip_queries WHERE Name = 'peers'")[1][1]
    got = db:query("SELECT Peer, Direction, Port, Action, Reporter, sum(Events), sum(Allowed), sum(Blocked), "
      .. "sum(BytesFromIP), min(FirstSeen), max(LastSeen) FROM (" .. psql .. ") GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
      { ip = ip, from = w[1], to = w[2] })
    want = db:query("SELECT CASE WHEN SourceIP = :ip THEN DestinationIP ELSE SourceIP END, "
      .. "CASE WHEN SourceIP = :ip THEN 'from the IP' ELSE 'to the IP' END, DestinationPort, DeviceAction, Computer, "
      .. "count(*), sum(DeviceAction = 'allow'), sum(DeviceAction <> 'allow'), "
      .. "sum(CASE WHEN SourceIP = :ip THEN SentBytes ELSE ReceivedBytes END), min(TimeGenerated), max(TimeGenerated) "
      .. "FROM CommonSecurityLog WHERE (SourceIP = :ip OR DestinationIP = :ip) AND TimeGenerated >= :from "
      .. "AND TimeGenerated <= :to GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5", { ip = ip, from = w[1], to = w[2] })
    T.eq(got, want, "peers " .. w[1] .. " .. " .. w[2])
  end
  db:close()
end)

T.case("peer_flows migration: a workspace with the old peers rollup gets the flow keys, recounted", function()
  local path = H.workspace{ demo = { events = 12000, seed = 3 } }
  local db = assert(sqlite.open(path, "rw"))
  local function peers()
    local out = {}
    for _, r in ipairs(db:query("SELECT * FROM _ipe_ip_peers ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9")) do
      for i = 1, #r do r[i] = tostring(r[i]) end
      out[#out + 1] = table.concat(r, "|")
    end
    return out
  end
  local want = peers()
  T.ok(#want > 1000, "the demo fills the peers: " .. #want)
  -- the workspace as the version before left it: peers per IP, hour, peer and peer host, its
  -- trigger and statement
  rollup.drop_triggers(db)
  db:exec("DROP TABLE _ipe_ip_peers")
  db:exec([[CREATE TABLE _ipe_ip_peers (IP TEXT NOT NULL, Hour TEXT NOT NULL, Peer TEXT NOT NULL,
    PeerHost TEXT NOT NULL, Events INTEGER NOT NULL, Allowed INTEGER NOT NULL, Blocked INTEGER NOT NULL,
    BytesFromIP INTEGER NOT NULL, BytesToIP INTEGER NOT NULL, FirstSeen TEXT NOT NULL, LastSeen TEXT NOT NULL,
    PRIMARY KEY (IP, Hour, Peer, PeerHost)) WITHOUT ROWID]])
  db:exec("INSERT INTO _ipe_ip_peers VALUES ('10.9.9.9', '2026-11-20T10', '10.9.9.8', '', 7, 7, 0, 1, 1, "
    .. "'2026-11-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z')")
  db:exec([[CREATE TRIGGER _ipe_ip_traffic_CommonSecurityLog AFTER INSERT ON CommonSecurityLog BEGIN
    INSERT INTO _ipe_ip_peers (IP, Hour, Peer, PeerHost, Events, Allowed, Blocked, BytesFromIP, BytesToIP, FirstSeen,
      LastSeen) VALUES (NEW.SourceIP, substr(NEW.TimeGenerated, 1, 13), '', '', 1, 0, 1, 0, 0, NEW.TimeGenerated,
      NEW.TimeGenerated);
  END]])
  db:exec("UPDATE _ipe_ip_queries SET Sql = 'SELECT 1' WHERE Name = 'peers'")
  local before   -- the version before the peer_flows migration
  for i, name in ipairs(schema.LATER) do if name == "ipe.migrations.peer_flows" then before = i end end
  db:exec("UPDATE _ipe_meta SET value = '" .. before .. "' WHERE key = 'schema_version'")
  T.eq({ schema.migrate(db) }, { before, schema.VERSION })
  T.eq(peers(), want, "recounted from the firewall records")
  T.eq(db:query("SELECT Sql FROM _ipe_ip_queries WHERE Name = 'peers'")[1][1], rollup.peers_sql())
  insert(db, "CommonSecurityLog", { TimeGenerated = "2026-11-26T10:01:00.000Z", SourceIP = "10.0.2.17",
    DestinationIP = "203.0.113.77", DestinationPort = 8443, Protocol = "TCP", DeviceAction = "allow", Computer = "fw-edge01" })
  T.eq(rollup_rows(db, "_ipe_ip_peers", "203.0.113.77"), {
    "2026-11-26T10|10.0.2.17||to the IP|8443|tcp|allow|fw-edge01|1|1|0|0|0|2026-11-26T10:01:00.000Z|2026-11-26T10:01:00.000Z" },
    "the trigger writes the new keys")
  T.eq({ schema.migrate(db) }, { schema.VERSION, schema.VERSION })
  db:close()
end)

T.done()
