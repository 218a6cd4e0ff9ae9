-- Tests for insights/remote-connections.lua: its firewall rows, read from the per-IP peers
-- rollup (ipe.migrations.rollup), are the groups the raw CommonSecurityLog records give — on
-- the demo workspace for several IPs and windows cutting through hours, for crafted records
-- (missing names and addresses, a record from the IP to itself, protocols in mixed case) —
-- and a short list of a busy address (read from the groups seen last) is the head of the
-- whole list. Needs ipe.sqlite (ipe-run test).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("remote connections", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local ST = require("ipe.demo").STORIES

local NOW = H.time("2026-11-27T00:00:00Z")

-- The firewall groups from the raw records, as the panel defines them: the IP as destination
-- (outbound from the host, the source) or as source (inbound to the host, the destination; a
-- record with the IP on both sides counts once, here); the host is the endpoint's name, else
-- the device that logged the record; empty text counts as none, a port of -1 as none, and
-- protocols compare in lower case.
local RAW = [[
SELECT Host, HostIP, Direction, Port || COALESCE('/' || Protocol, '') AS Service, Action,
       count(*), min(TimeGenerated), max(TimeGenerated)
FROM (
  SELECT COALESCE(NULLIF(SourceHostName, ''), NULLIF(Computer, '')) AS Host, NULLIF(SourceIP, '') AS HostIP,
         'outbound' AS Direction, NULLIF(COALESCE(DestinationPort, -1), -1) AS Port,
         NULLIF(lower(Protocol), '') AS Protocol, NULLIF(DeviceAction, '') AS Action, TimeGenerated
  FROM CommonSecurityLog WHERE DestinationIP = :ip AND DestinationIP IS NOT SourceIP
    AND TimeGenerated >= :from AND TimeGenerated <= :to
  UNION ALL
  SELECT COALESCE(NULLIF(DestinationHostName, ''), NULLIF(Computer, '')), NULLIF(DestinationIP, ''), 'inbound',
         NULLIF(COALESCE(DestinationPort, -1), -1), NULLIF(lower(Protocol), ''), NULLIF(DeviceAction, ''), TimeGenerated
  FROM CommonSecurityLog WHERE SourceIP = :ip AND TimeGenerated >= :from AND TimeGenerated <= :to
)
GROUP BY Host, HostIP, Direction, Port, Protocol, Action]]

local function line(values)
  local out = {}
  for i = 1, 8 do out[i] = (values[i] == nil or type(values[i]) == "userdata") and "-" or tostring(values[i]) end
  return table.concat(out, "|")
end

local function run(db, ip, opts)
  local rec = H.run("insight", "remote-connections", { ip = ip, limit = opts.limit or 100000 },
    { db = db, now = NOW, since = opts.since, from = opts.from, to = opts.to, offline = true })
  if rec.status == "error" then error(ip .. ": " .. tostring(rec.message), 2) end
  return rec
end

-- the panel's firewall rows, sorted, as lines
local function firewall_rows(rec)
  local out = {}
  for _, r in ipairs(H.records(rec)) do
    if r.Source == "CommonSecurityLog" then
      out[#out + 1] = line({ r.Host, r.HostIP, r.Direction, r.Service, r.Action, r.Events, r.FirstSeen, r.LastSeen })
    end
  end
  table.sort(out)
  return out
end

local function raw_rows(db, ip, window)
  local out = {}
  for _, r in ipairs(db:query(RAW, { ip = ip, from = window.from, to = window.to })) do out[#out + 1] = line(r) end
  table.sort(out)
  return out
end

local function used_recent(rec)
  for _, q in ipairs(rec.queries) do
    for _, p in ipairs(q.params or {}) do if p.name == "recent" then return true end end
  end
  return false
end

local DEMO = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }
local db = assert(sqlite.open(DEMO, "ro"))
-- the address most sources reach through the firewall (a public address, scanned from outside)
local BUSY = db:query("SELECT DestinationIP FROM CommonSecurityLog GROUP BY 1 ORDER BY count(DISTINCT SourceIP) DESC "
  .. "LIMIT 1")[1][1]

local WINDOWS = {
  { since = "7d" },
  { from = "2026-11-22T08:20:00.000Z", to = "2026-11-25T10:41:30.000Z" },
  { from = "2026-11-24T09:13:07.250Z", to = "2026-11-24T09:47:00.000Z" },
  { from = "2026-11-26T23:30:00.000Z", to = "2026-11-27T00:00:00.000Z" },
}

T.case("demo workspace: the firewall rows are the raw records' groups, for any window", function()
  local seen = 0
  for _, ip in ipairs({ ST.c2.ip, ST.internal.ip, ST.internal.egress_ip, ST.cdn.ip, ST.rare_port.ip,
                          ST.sweep.source, BUSY, ST.quiet.ip }) do
    for _, w in ipairs(WINDOWS) do
      local rec = run(DEMO, ip, w)
      local got = firewall_rows(rec)
      T.eq(got, raw_rows(db, ip, rec.window), ip .. " " .. (w.since or w.from .. " .. " .. w.to))
      seen = seen + #got
    end
  end
  T.ok(seen > 100, "the windows hold firewall groups: " .. seen)
end)

T.case("the story values: the C2 address's beacons, one group per infected host", function()
  local list = {}
  for _, r in ipairs(H.records(run(DEMO, ST.c2.ip, { since = "7d" }))) do
    if r.Source == "CommonSecurityLog" then list[#list + 1] = r end
  end
  T.eq(#list, #ST.c2.hosts)
  for _, r in ipairs(list) do
    T.eq({ r.Direction, r.Service, r.Action }, { "outbound", ST.c2.port .. "/tcp", "allow" })
  end
end)

T.case("a busy address: the short list is the head of the whole list, read from the groups seen last", function()
  local all = H.records(run(DEMO, BUSY, { since = "7d" }))
  T.ok(#all > 20, "the busy address has many groups: " .. #all)
  for _, n in ipairs({ 1, 3, 10 }) do
    local rec = run(DEMO, BUSY, { since = "7d", limit = n })
    T.ok(used_recent(rec), "limit " .. n .. ": read from the last hours")
    local head = {}
    for i = 1, n do head[i] = all[i] end
    T.eq(H.records(rec), head, "limit " .. n)
  end
  T.ok(not used_recent(run(DEMO, BUSY, { since = "7d", limit = #all })), "a list as long as all groups reads the window")
end)

T.case("crafted records: empty names and addresses, the IP on both sides, mixed-case protocols", function()
  local ip = "198.51.100.23"
  local function fw(t, src, dst, port, proto, action, shost, dhost, computer)
    return { TimeGenerated = t, SourceIP = src, DestinationIP = dst, DestinationPort = port, Protocol = proto,
             DeviceAction = action, SourceHostName = shost, DestinationHostName = dhost, Computer = computer }
  end
  local path = H.workspace{ rows = { CommonSecurityLog = {
    fw("2026-11-26T10:01:00.000Z", "10.0.2.17", ip, 443, "TCP", "allow", "wks-007", nil, "fw-edge01"),
    fw("2026-11-26T10:02:00.000Z", "10.0.2.17", ip, 443, "tcp", "allow", "wks-007", nil, "fw-edge02"),
    fw("2026-11-26T10:03:00.000Z", "10.0.2.18", ip, 443, "Tcp", "allow", "", nil, "fw-edge01"),
    fw("2026-11-26T10:04:00.000Z", "10.0.2.19", ip, nil, nil, nil, nil, nil, nil),
    fw("2026-11-26T10:05:00.000Z", "10.0.2.19", ip, -1, "", "", "", "", ""),
    fw("2026-11-26T11:06:00.000Z", ip, ip, 22, "TCP", "deny", "self-src", "self-dst", "fw-edge01"),
    fw("2026-11-26T11:07:00.000Z", ip, nil, 53, "UDP", "allow", nil, nil, "fw-dmz"),
    fw("2026-11-26T11:08:00.000Z", ip, "", 53, "udp", "allow", nil, nil, "fw-dmz"),
    fw("2026-11-26T11:09:00.000Z", ip, "10.0.1.30", 80, "TCP", "deny", nil, "srv-web01", "fw-dmz"),
  } } }
  local ws = assert(sqlite.open(path, "ro"))
  for _, w in ipairs({ { since = "7d" }, { from = "2026-11-26T10:02:30.000Z", to = "2026-11-26T11:07:30.000Z" } }) do
    local rec = run(path, ip, w)
    T.eq(firewall_rows(rec), raw_rows(ws, ip, rec.window), w.since or w.from)
  end
  T.eq(firewall_rows(run(path, ip, { since = "7d" })), {
    "-|10.0.2.19|outbound|-|-|2|2026-11-26T10:04:00.000Z|2026-11-26T10:05:00.000Z",
    "fw-dmz|-|inbound|53/udp|allow|2|2026-11-26T11:07:00.000Z|2026-11-26T11:08:00.000Z",
    "fw-edge01|10.0.2.18|outbound|443/tcp|allow|1|2026-11-26T10:03:00.000Z|2026-11-26T10:03:00.000Z",
    "self-dst|198.51.100.23|inbound|22/tcp|deny|1|2026-11-26T11:06:00.000Z|2026-11-26T11:06:00.000Z",
    "srv-web01|10.0.1.30|inbound|80/tcp|deny|1|2026-11-26T11:09:00.000Z|2026-11-26T11:09:00.000Z",
    "wks-007|10.0.2.17|outbound|443/tcp|allow|2|2026-11-26T10:01:00.000Z|2026-11-26T10:02:00.000Z",
  })
  ws:close()
end)

db:close()
T.done()
