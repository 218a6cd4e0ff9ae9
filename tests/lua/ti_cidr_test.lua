-- Tests for threat-intelligence CIDR indicators: the numeric ranges of ipe.migrations.ti_ranges
-- (kept by triggers, backfilled by the migration), ctx.db:ti_matching_ip / ti_matching_ips, and
-- every panel and hunt that matches an IP against ThreatIntelligenceIndicator: ti-match,
-- security-info, remote-connections-ti-match, ti-matches-in-traffic, ip-everywhere and the
-- provider cards. Answers are compared with a reference computed here in Lua over every
-- indicator row with ipe.ipaddr (no SQL function of the C core).
local T = require "ipe.testing"
local H = require "ipe.harness"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local ipaddr = require "ipe.ipaddr"
local dbmod = require "ipe.db"
local workspace = require "ipe.workspace"
local ranges = require "ipe.migrations.ti_ranges"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local FIX = here .. "/tests/fixtures/ti-cidr"
local NOW_TEXT = "2026-11-27T00:00:00.000Z"
local NOW = H.time(NOW_TEXT)
local SEEN = "2026-11-26T10:00:00.000Z"
local V4, V6 = "223.166.0.0/15", "2001:db8:abcd::/48"

local function sorted(t) table.sort(t) return t end

-- Traffic touching the blocks' edges: first and last addresses, one past the end, one before.
local function traffic()
  local function csl(dst, host)
    return { TimeGenerated = SEEN, SourceIP = "10.0.0.5", SourceHostName = host, DestinationIP = dst,
             DestinationPort = 443, Protocol = "TCP", DeviceAction = "allow", Computer = "fw01" }
  end
  local function dne(remote)
    return { TimeGenerated = SEEN, DeviceName = "ws2.contoso.com", LocalIP = "10.0.0.6", RemoteIP = remote,
             RemotePort = 443, ActionType = "ConnectionSuccess" }
  end
  return {
    CommonSecurityLog = { csl("223.166.0.1", "ws1.contoso.com"), csl("223.166.0.1", "ws1.contoso.com"),
                          csl("223.166.0.0", "ws1.contoso.com"), csl("223.167.255.255", "ws3.contoso.com"),
                          csl("223.168.0.0", "ws1.contoso.com"), csl("2001:db8:abcd::1", "ws1.contoso.com") },
    DeviceNetworkEvents = { dne("223.166.0.1"), dne("2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"), dne("2001:db8:abce::"),
                            dne("2001:db8:abcc:ffff:ffff:ffff:ffff:ffff") },
    SigninLogs = { { TimeGenerated = SEEN, IPAddress = "223.165.255.255", UserPrincipalName = "a@contoso.com",
                     ResultType = "0" } },
  }
end

local function ingest(path, file)
  local db = assert(sqlite.open(path, "rw"))
  local run = { db = db, opts = {}, now = NOW, now_text = "2026-11-25T00:00:00.000Z", rejects = {}, mappers = {},
                say = function() end }
  local ok, err = pcall(load.ingest_file, run, file)
  db:close()
  if not ok then error(type(err) == "table" and err.msg or err, 0) end
end

local function run(kind, name, params, db, opts)
  opts = opts or {}
  opts.db, opts.now = db, NOW
  local rec = H.run(kind, name, params, opts)
  assert(rec.status ~= "error", tostring(rec.message))
  return rec
end

local section = H.section
local function items(rec, id) return H.items_of(section(rec, id)) end
local function rows_of(rec, id) return H.rows_of(section(rec, id)) end

---------------------------------------------------------------------------
-- The SQL functions behind the ranges
---------------------------------------------------------------------------
T.case("ipe_cidr_range and ipe_ip_key: blocks and addresses as 16-byte keys", function()
  local db = assert(sqlite.open(":memory:", "rwc"))
  local function q(sql, p) return db:query(sql, p)[1] end
  T.eq(q("SELECT hex(ipe_cidr_range(:c, 0)), hex(ipe_cidr_range(:c, 1)), ipe_cidr_range(:c, 2)", { c = V4 }),
    { "00000000000000000000FFFFDFA60000", "00000000000000000000FFFFDFA7FFFF", 111 })
  T.eq(q("SELECT hex(ipe_cidr_range(:c, 0)), hex(ipe_cidr_range(:c, 1)), ipe_cidr_range(:c, 2)", { c = V6 }),
    { "20010DB8ABCD00000000000000000000", "20010DB8ABCDFFFFFFFFFFFFFFFFFFFF", 48 })
  -- host bits are masked, a bare address is its /32 or /128, a mapped block is its IPv4 block
  T.eq(q("SELECT hex(ipe_cidr_range('10.1.2.3/8', 0)), ipe_cidr_range('10.1.2.3', 2), ipe_cidr_range('::1', 2),"
    .. " ipe_cidr_range('::ffff:10.1.2.0/120', 2), hex(ipe_cidr_range('::ffff:10.1.2.0/120', 0)), ipe_cidr_range('0.0.0.0/0', 2)"),
    { "00000000000000000000FFFF0A000000", 128, 128, 120, "00000000000000000000FFFF0A010200", 96 })
  for _, bad in ipairs({ "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "x/8", "", "2001:db8::/129", "10.0.0.0/-1",
                         "10.0.0.0/ 8", "10.0.0.0/0008" }) do
    T.eq(q("SELECT ipe_cidr_range(:c, 0), ipe_cidr_range(:c, 2)", { c = bad }), { cjson.null, cjson.null }, bad)
  end
  T.eq(q("SELECT hex(ipe_ip_key('223.166.0.1')), hex(ipe_ip_key('223.167.1.1', 111)), hex(ipe_ip_key('::ffff:223.166.0.1', 111))"),
    { "00000000000000000000FFFFDFA60001", "00000000000000000000FFFFDFA60000", "00000000000000000000FFFFDFA60000" })
  -- an IPv6 prefix never applies to an IPv4 address; junk and out-of-range prefixes give NULL
  T.eq(q("SELECT ipe_ip_key('1.2.3.4', 64), ipe_ip_key('1.2.3.4', 129), ipe_ip_key('x'), ipe_ip_key('1.2.3.4', '8'),"
    .. " hex(ipe_ip_key('2001:db8:abcd:1::', 48))"),
    { cjson.null, cjson.null, cjson.null, cjson.null, "20010DB8ABCD00000000000000000000" })
  db:close()
end)

---------------------------------------------------------------------------
-- The three feed forms, every panel
---------------------------------------------------------------------------
local FORMS = {
  { file = "cidr-stix.json", provider = "CIDR Feed STIX", v4col = "NetworkCidrBlock", v6col = "NetworkCidrBlock" },
  { file = "cidr-misp.json", provider = "CIDR Feed MISP", v4col = "NetworkDestinationCidrBlock",
    v6col = "NetworkSourceCidrBlock" },
  { file = "cidr-blocklist.txt", provider = "cidr-blocklist", v4col = "NetworkCidrBlock", v6col = "NetworkCidrBlock" },
}

for _, form in ipairs(FORMS) do
  T.case(form.file .. ": every panel and hunt finds 223.166.0.1 and the IPv6 edge via the block", function()
    local ws = H.workspace{ rows = traffic() }
    ingest(ws, FIX .. "/" .. form.file)

    -- ti-match: the block, for the first and last addresses; nothing one past either end (every
    -- edge for the first form, the random workspace below checks edges against the reference)
    local inside = { { "223.166.0.1", V4 }, { "2001:db8:abcd:1:2:3:4:5", V6 } }
    local outside = { "223.168.0.0" }
    if form == FORMS[1] then
      for _, e in ipairs({ { "223.166.0.0", V4 }, { "223.167.255.255", V4 }, { "2001:db8:abcd::", V6 },
                           { "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff", V6 } }) do inside[#inside + 1] = e end
      for _, ip in ipairs({ "223.165.255.255", "2001:db8:abce::", "2001:db8:abcc:ffff:ffff:ffff:ffff:ffff" }) do
        outside[#outside + 1] = ip
      end
    end
    for _, case in ipairs(inside) do
      local rec = run("insight", "ti-match", { ip = case[1] }, ws)
      local list = rows_of(rec, "indicators")
      T.eq({ #list, list[1] and list[1].MatchedIndicator, list[1] and list[1].Provider, items(rec, "badge").Match },
           { 1, case[2], form.provider, true }, "ti-match " .. case[1])
    end
    for _, ip in ipairs(outside) do
      local rec = run("insight", "ti-match", { ip = ip }, ws)
      T.eq({ rec.status, items(rec, "badge").Badge }, { "empty", "no TI match" }, "ti-match " .. ip)
    end

    -- security info: the TI section names the block
    local k = items(run("insight", "security-info", { ip = "223.166.0.1" }, ws), "ti")
    T.eq({ k["Live TI indicators"], k["Matched indicators"] }, { 1, V4 })
    T.eq(items(run("insight", "security-info", { ip = "223.168.0.0" }, ws), "ti")["Live TI indicators"], 0)

    -- remote connections with TI match: the devices, matched by the block
    local conns = H.records(run("insight", "remote-connections-ti-match", { ip = "223.166.0.1" }, ws))
    local devices = {}
    for i, r in ipairs(conns) do
      devices[i] = r.Device
      T.eq(r.MatchedBy, form.provider .. " indicator " .. V4)
    end
    T.eq(sorted(devices), { "ws1.contoso.com", "ws2.contoso.com" })
    T.eq(run("insight", "remote-connections-ti-match", { ip = "223.168.0.0" }, ws).status, "empty")

    -- ti-matches-in-traffic: every event at an address inside a block, none outside
    local got = {}
    for _, r in ipairs(H.records(run("hunt", "ti-matches-in-traffic", {}, ws))) do
      local key = r.IndicatorIP .. " " .. r.Source .. " " .. r.MatchedIndicators
      got[key] = (got[key] or 0) + r.Events
    end
    T.eq(got, {
      ["223.166.0.1 CommonSecurityLog " .. V4] = 2, ["223.166.0.0 CommonSecurityLog " .. V4] = 1,
      ["223.167.255.255 CommonSecurityLog " .. V4] = 1, ["2001:db8:abcd::1 CommonSecurityLog " .. V6] = 1,
      ["223.166.0.1 DeviceNetworkEvents " .. V4] = 1,
      ["2001:db8:abcd:ffff:ffff:ffff:ffff:ffff DeviceNetworkEvents " .. V6] = 1,
    })

    -- ip-everywhere: the indicator table's block column, named
    for _, case in ipairs({ { "223.166.0.1", form.v4col, V4 }, { "2001:db8:abcd::1", form.v6col, V6 } }) do
      local hit
      for _, r in ipairs(H.records(run("hunt", "ip-everywhere", { ip = case[1] }, ws))) do
        if r.TableName == "ThreatIntelligenceIndicator" then hit = r end
      end
      T.eq(hit and { hit.ColumnName, hit.MatchedBy, hit.Events }, { case[2], "cidr " .. case[3], 1 }, case[1])
    end
    local none = H.records(run("hunt", "ip-everywhere", { ip = "223.168.0.0" }, ws))
    for _, r in ipairs(none) do T.ne(r.TableName, "ThreatIntelligenceIndicator") end
  end)
end

T.case("provider card: the workspace's indicators from the provider include its blocks", function()
  local ws = H.workspace{ rows = { ThreatIntelligenceIndicator = {
    { TimeGenerated = SEEN, IndicatorId = "vt-block", IndicatorProvider = "VirusTotal", NetworkCidrBlock = V4,
      Active = 1, ConfidenceScore = 60, ThreatType = "Botnet" },
    { TimeGenerated = SEEN, IndicatorId = "other-block", IndicatorProvider = "Someone else", NetworkCidrBlock = V4,
      Active = 1 },
  } } }
  local rec = run("insight", "virustotal-ip", { ip = "223.166.0.1" }, ws, { offline = true })
  local list = rows_of(rec, "workspace-ti")
  T.eq({ #list, list[1].IndicatorId, list[1].MatchedIndicator, list[1].Live }, { 1, "vt-block", V4, 1 })
  T.eq(#rows_of(run("insight", "virustotal-ip", { ip = "223.168.0.0" }, ws, { offline = true }), "workspace-ti"), 0)
end)

---------------------------------------------------------------------------
-- Against a reference over every indicator row
---------------------------------------------------------------------------

-- A deterministic pseudo-random workspace: exact and CIDR indicators (IPv4 and IPv6, nested
-- blocks), several versions of some (a later version may change the block, deactivate or expire
-- it), and a version after the window's end.
local function lcg(seed)
  local s = seed
  return function(n) s = (s * 16807) % 2147483647 return math.floor(s / 7) % n end
end

local function random_indicators(rnd)
  local rows = {}
  local function v4() return string.format("%d.%d.%d.%d", 200 + rnd(4), rnd(4), rnd(256), rnd(256)) end
  local function v6() return string.format("2001:db8:%x:%x::%x", rnd(3), rnd(4), rnd(65536)) end
  local function value()
    local kind = rnd(4)
    if kind == 0 then return "ip", v4() end
    if kind == 1 then return "ip", v6() end
    if kind == 2 then return "cidr", assert(ipaddr.parse_cidr(v4() .. "/" .. (8 + rnd(24)))).text end
    return "cidr", assert(ipaddr.parse_cidr(v6() .. "/" .. (28 + rnd(100)))).text
  end
  local IPCOLS = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" }
  local CIDRCOLS = ranges.ROLES
  for i = 1, 300 do
    local versions = 1 + (rnd(4) == 0 and rnd(3) or 0)
    local kind, v = value()
    for k = 1, versions do
      if k > 1 and rnd(3) == 0 then kind, v = value() end
      local r = { IndicatorId = "ind-" .. i, TimeGenerated = string.format("2026-11-%02dT%02d:00:00.000Z", 10 + k, rnd(24)),
                  Active = rnd(6) == 0 and 0 or 1, IndicatorProvider = "P" .. rnd(3), ConfidenceScore = rnd(101) }
      if rnd(5) == 0 then r.ExpirationDateTime = "2026-11-2" .. rnd(10) .. "T00:00:00.000Z" end
      if k == versions and rnd(20) == 0 then r.TimeGenerated = "2026-11-28T00:00:00.000Z" end -- after :to
      if kind == "ip" then r[IPCOLS[1 + rnd(4)]] = v else r[CIDRCOLS[1 + rnd(3)]] = v end
      rows[#rows + 1] = r
    end
  end
  return rows
end

-- reference(rows, ip, to, now) -> { "IndicatorId MatchedIndicator Live" ... } sorted: each
-- indicator's latest version up to `to` (ties: the later row), kept when it names ip exactly or
-- holds it in a block (the address beats a block, a narrower block a wider one).
local nets = {}
local function net(text)
  local n = nets[text]
  if not n then n = assert(ipaddr.parse_cidr(text)); nets[text] = n end
  return n
end

local function reference(rows, ip, to, now, live_only)
  local addr = assert(ipaddr.parse(ip))
  local latest = {}
  for n, r in ipairs(rows) do
    if r.TimeGenerated <= to then
      local cur = latest[r.IndicatorId]
      if not cur or r.TimeGenerated >= cur.TimeGenerated then latest[r.IndicatorId] = r; r._n = n end
    end
  end
  local out = {}
  for id, r in pairs(latest) do
    local match, width
    for _, c in ipairs(dbmod.TI_IP_COLUMNS) do
      if r[c] and r[c] == ip then match, width = r[c], -1 end
    end
    if not match then
      for _, c in ipairs(ranges.ROLES) do
        if r[c] and ipaddr.contains(net(r[c]), addr) then
          local p = net(r[c])
          local w = (p.family == 4 and 32 or 128) - p.prefix
          if not width or w < width or (w == width and r[c] < match) then match, width = r[c], w end
        end
      end
    end
    local live = r.Active == 1 and (r.ExpirationDateTime == nil or r.ExpirationDateTime > now)
    if match and (live or not live_only) then out[#out + 1] = id .. " " .. match .. " " .. (live and 1 or 0) end
  end
  return sorted(out)
end

-- Probe addresses: each block's first and last address and their outside neighbours, each exact
-- address, and a few others.
local function probes(rows, rnd)
  local list, seen = {}, {}
  local function add(ip) if ip and not seen[ip] then seen[ip] = true; list[#list + 1] = ip end end
  local function step(bytes, delta)
    local b = { bytes:byte(1, -1) }
    local i = #b
    while i >= 1 do
      local v = b[i] + delta
      if v >= 0 and v <= 255 then b[i] = v; break end
      b[i] = delta > 0 and 0 or 255
      i = i - 1
    end
    if i == 0 then return nil end
    local s = string.char(unpack(b))
    if #b == 4 then return string.format("%d.%d.%d.%d", s:byte(1, 4)) end
    local g = {}
    for k = 1, 16, 2 do g[#g + 1] = string.format("%x", s:byte(k) * 256 + s:byte(k + 1)) end
    return assert(ipaddr.normalize(table.concat(g, ":")))
  end
  for _, r in ipairs(rows) do
    for _, c in ipairs(ranges.ROLES) do
      if r[c] then
        local p = assert(ipaddr.parse_cidr(r[c]))
        add(step(p.first, 0)); add(step(p.first, -1)); add(step(p.last, 0)); add(step(p.last, 1))
      end
    end
    for _, c in ipairs(dbmod.TI_IP_COLUMNS) do add(r[c]) end
  end
  for _ = 1, 50 do add(string.format("%d.%d.%d.%d", 200 + rnd(4), rnd(4), rnd(256), rnd(256))) end
  return list
end

T.case("ctx.db:ti_matching_ip agrees with the reference for every block edge of a random workspace", function()
  local rnd = lcg(7)
  local rows = random_indicators(rnd)
  local ws = H.workspace{ rows = { ThreatIntelligenceIndicator = rows } }
  local conn = assert(workspace.open_reader(ws))
  local to = "2026-11-27T00:00:00.000Z"
  local h = dbmod.wrap(conn, { from = "2026-11-01T00:00:00.000Z", to = to, now = "2026-11-24T12:00:00.000Z" })
  local sql = h:ti_matching_ip("ip") .. "\nSELECT IndicatorId, MatchedIndicator, Live FROM ti"
  local list = probes(rows, rnd)
  local blocks, checked, matched = 0, 0, 0
  for _, r in ipairs(rows) do for _, c in ipairs(ranges.ROLES) do if r[c] then blocks = blocks + 1 end end end
  T.ok(blocks > 100, "the workspace has " .. blocks .. " blocks")
  local bad = {}
  for _, ip in ipairs(list) do
    local got = {}
    for i, r in ipairs(h:query(sql, { ip = ip })) do got[i] = r[1] .. " " .. r[2] .. " " .. r[3] end
    local want = reference(rows, ip, to, "2026-11-24T12:00:00.000Z")
    if table.concat(sorted(got), "|") ~= table.concat(want, "|") and #bad < 3 then
      bad[#bad + 1] = ip .. ": got " .. table.concat(got, "|") .. " want " .. table.concat(want, "|")
    end
    checked = checked + 1
    if #want > 0 then matched = matched + 1 end
  end
  conn:close()
  T.eq(bad, {}, checked .. " probes")
  T.ok(matched > 200 and matched < checked, matched .. " of " .. checked .. " probes match")
end)

T.case("ti-match and ti-matches-in-traffic agree with the reference on a random workspace", function()
  local rnd = lcg(11)
  local rows = random_indicators(rnd)
  local list = probes(rows, rnd)
  local events, n = {}, 0
  for i = 1, #list, 3 do
    n = n + 1
    events[n] = { TimeGenerated = SEEN, DeviceName = "ws" .. (i % 5), RemoteIP = list[i], LocalIP = "10.0.0.9",
                  ActionType = "ConnectionSuccess" }
  end
  local ws = H.workspace{ rows = { ThreatIntelligenceIndicator = rows, DeviceNetworkEvents = events } }
  -- the hunt: per address, the live indicators' matched values (the reference's)
  local want = {}
  for _, e in ipairs(events) do
    local m = {}
    for _, s in ipairs(reference(rows, e.RemoteIP, NOW_TEXT, NOW_TEXT, true)) do m[#m + 1] = s:match("^%S+ (%S+)") end
    if #m > 0 then
      local seen, uniq = {}, {}
      for _, v in ipairs(m) do if not seen[v] then seen[v] = true; uniq[#uniq + 1] = v end end
      want[e.RemoteIP] = table.concat(sorted(uniq), ",") .. " " .. ((want[e.RemoteIP] and tonumber(want[e.RemoteIP]:match("%d+$")) or 0) + 1)
    end
  end
  local got = {}
  for _, r in ipairs(H.records(run("hunt", "ti-matches-in-traffic", { limit = "100000" }, ws))) do
    local vals = {}
    for v in r.MatchedIndicators:gmatch("[^,]+") do vals[#vals + 1] = v end
    local prev = got[r.IndicatorIP] and tonumber(got[r.IndicatorIP]:match("%d+$")) or 0
    got[r.IndicatorIP] = table.concat(sorted(vals), ",") .. " " .. (prev + r.Events)
  end
  local count = 0
  for _ in pairs(want) do count = count + 1 end
  T.ok(count > 20, count .. " addresses of the traffic match")
  T.eq(got, want)
  -- the panel, for a sample of the probes
  for i = 1, #list, math.floor(#list / 8) do
    local rec = run("insight", "ti-match", { ip = list[i] }, ws)
    local g = {}
    for j, r in ipairs(rows_of(rec, "indicators")) do g[j] = r.IndicatorId .. " " .. r.MatchedIndicator .. " 1" end
    T.eq(sorted(g), reference(rows, list[i], NOW_TEXT, NOW_TEXT, true), list[i])
  end
end)

---------------------------------------------------------------------------
-- Kept on write, backfilled by the migration
---------------------------------------------------------------------------
T.case("the ranges follow inserts, updates and deletes of the indicator rows", function()
  local path = H.workspace{ rows = {} }
  local db = assert(sqlite.open(path, "rw"))
  local function kept()
    local out = {}
    for i, r in ipairs(db:query("SELECT TiRow, Role, Block, Bits FROM _ipe_ti_ranges ORDER BY TiRow, Role")) do
      out[i] = table.concat(r, " ")
    end
    return out
  end
  db:exec("INSERT INTO ThreatIntelligenceIndicator (IndicatorId, NetworkCidrBlock, NetworkSourceCidrBlock, NetworkIP) "
    .. "VALUES ('a', '223.166.0.0/15', '2001:db8:abcd::/48', NULL), ('b', 'not a block', NULL, NULL), "
    .. "('c', NULL, NULL, '1.2.3.4')")
  T.eq(kept(), { "1 NetworkCidrBlock 223.166.0.0/15 111", "1 NetworkSourceCidrBlock 2001:db8:abcd::/48 48" })
  db:exec("UPDATE ThreatIntelligenceIndicator SET NetworkCidrBlock = '10.0.0.0/8' WHERE IndicatorId = 'b'")
  db:exec("UPDATE ThreatIntelligenceIndicator SET NetworkSourceCidrBlock = NULL WHERE IndicatorId = 'a'")
  T.eq(kept(), { "1 NetworkCidrBlock 223.166.0.0/15 111", "2 NetworkCidrBlock 10.0.0.0/8 104" })
  db:exec("DELETE FROM ThreatIntelligenceIndicator WHERE IndicatorId = 'a'")
  T.eq(kept(), { "2 NetworkCidrBlock 10.0.0.0/8 104" })
  db:close()
end)

T.case("migration: a workspace of the version before is refused, then upgraded, backfilled and matching", function()
  local path = H.workspace{ rows = { ThreatIntelligenceIndicator = {
    { TimeGenerated = SEEN, IndicatorId = "old-block", IndicatorProvider = "Old feed", NetworkCidrBlock = V4, Active = 1 },
    { TimeGenerated = SEEN, IndicatorId = "old-v6", IndicatorProvider = "Old feed", NetworkDestinationCidrBlock = V6,
      Active = 1 } } } }
  local before
  for i, name in ipairs(schema.LATER) do if name == "ipe.migrations.ti_ranges" then before = i end end
  T.eq(schema.migrations[before + 1].module, "ipe.migrations.ti_ranges", "the ranges' version is the one after it")
  -- make it the workspace an older ipe wrote: no ranges table, no triggers
  local db = assert(sqlite.open(path, "rw"))
  for _, t in ipairs({ "_ipe_ti_ranges_insert", "_ipe_ti_ranges_update", "_ipe_ti_ranges_delete" }) do
    db:exec("DROP TRIGGER " .. t)
  end
  db:exec("DROP TABLE _ipe_ti_ranges")
  db:exec("UPDATE _ipe_meta SET value = '" .. before .. "' WHERE key = 'schema_version'")
  db:close()
  local ok, err = pcall(workspace.open_reader, path)
  T.eq(ok, false)
  T.eq(err.msg or err, "workspace " .. path .. " has schema version " .. before .. ", this ipe needs " .. schema.VERSION
    .. "; upgrade it with 'ipe-run migrate --db " .. path .. "'")
  db = assert(sqlite.open(path, "rw"))
  T.eq({ schema.migrate(db) }, { before, schema.VERSION })
  T.eq(db:query("SELECT count(*) FROM _ipe_ti_ranges")[1][1], 2, "backfilled")
  db:close()
  T.eq(rows_of(run("insight", "ti-match", { ip = "223.167.0.9" }, path), "indicators")[1].MatchedIndicator, V4)
  T.eq(rows_of(run("insight", "ti-match", { ip = "2001:db8:abcd::9" }, path), "indicators")[1].MatchedIndicator, V6)
end)

H.cleanup()
