-- IP columns hold ipe.ipaddr's canonical form or NULL (issue 10 item 10): every
-- spelling of an address is stored as ipaddr.normalize gives it, "addr:port" as
-- ipaddr.split_host_port splits it, and anything else is kept in _Extra under its
-- key and counted in the mapper's not_ip.
local T = require "ipe.testing"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local ipaddr = require "ipe.ipaddr"
local cjson = require "cjson"

local NOW_TEXT = "2026-11-27T12:00:00.000Z"

local function workspace()
  local db = assert(sqlite.open(":memory:", "rwc"))
  schema.migrate(db)
  require("ipe.migrations.ingest").up(db)
  return db
end

-- store(db, m, value) -> SourceIP, SourcePort, _Extra of the row written for value
local function store(db, m, value)
  T.ok(m.record(1, { TimeGenerated = NOW_TEXT, SourceIP = value }))
  local r = db:query("SELECT SourceIP, SourcePort, _Extra FROM CommonSecurityLog ORDER BY rowid DESC LIMIT 1")[1]
  local out = {}
  for i = 1, 3 do if r[i] ~= cjson.null then out[i] = r[i] end end
  return out[1], out[2], out[3]
end

T.case("every spelling of an address is stored as ipaddr.normalize gives it", function()
  local db = workspace()
  local m = load.mapper(db, "CommonSecurityLog", { now_text = NOW_TEXT })
  for _, v in ipairs({ "10.0.0.1", " 10.0.0.1 ", "2001:DB8:0:0:0:0:0:1", "2001:db8::1", "::ffff:192.0.2.1",
    "::ffff:c000:0201", "fe80::1%eth0", "1[.]2[.]3[.]4", "2001[:]db8[:]:1", "[2001:db8::5]", "::", "::1",
    "0:0:0:0:0:0:0:1", "1:0:0:2:0:0:0:3", "FFFF:0:0:0:0:0:0:0" }) do
    local ip, port, extra = store(db, m, v)
    T.eq({ ip, port, extra }, { (assert(ipaddr.normalize(v))) }, v)
  end
  T.eq(m.not_ip, 0)
end)

T.case("address:port is split as ipaddr.split_host_port splits it", function()
  local db = workspace()
  local m = load.mapper(db, "CommonSecurityLog", { now_text = NOW_TEXT })
  for _, v in ipairs({ "1.2.3.4:443", "[2001:DB8::1]:8443", "[::ffff:10.0.0.1]:0", "10.0.0.1:65535" }) do
    local host, port = ipaddr.split_host_port(v)
    T.eq({ store(db, m, v) }, { host, port }, v)
  end
  T.eq(m.not_ip, 0)
end)

T.case("anything else is NULL in the column, kept in _Extra and counted", function()
  local db = workspace()
  local m = load.mapper(db, "CommonSecurityLog", { now_text = NOW_TEXT })
  local bad = { "300.1.1.1", "1.2.3", "2001:db8::zz", "1.2.3.4,5.6.7.8", "1.2.3.4:99999", "10.0.0.0/8", "host.example",
    "01.2.3.4", "1.2.3.4 5.6.7.8", "[1.2.3.4]x" }
  for _, v in ipairs(bad) do
    T.eq({ ipaddr.normalize(v) }, { nil, select(2, ipaddr.normalize(v)) }, v .. " is no address for ipe.ipaddr")
    T.eq({ store(db, m, v) }, { nil, nil, require("ipe.ingest.coerce").encode({ SourceIP = v }) }, v)
  end
  T.eq(m.not_ip, #bad)
  for _, v in ipairs({ "", "-", "   " }) do T.eq({ store(db, m, v) }, {}, "'" .. v .. "' is no value") end
  T.eq(m.not_ip, #bad, "no value is not counted")
end)

T.case("a record that is rejected does not count its values", function()
  local db = workspace()
  local m = load.mapper(db, "CommonSecurityLog", { now_text = NOW_TEXT })
  local ok, why = m.record(1, { TimeGenerated = "2024-02-30T00:00:00Z", SourceIP = "300.1.1.1" })
  T.eq({ ok, why }, { false, "TimeGenerated: '2024-02-30T00:00:00Z' is not a valid time" })
  T.eq(m.not_ip, 0)
end)
