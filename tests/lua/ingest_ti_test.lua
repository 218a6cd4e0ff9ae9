-- Tests for the threat-intel readers: ipe.ingest.stix, ipe.ingest.misp,
-- ipe.ingest.blocklist, ipe.ingest.ti (pure Lua: also run under plain luajit).
local T = require "ipe.testing"
local stix = require "ipe.ingest.stix"
local misp = require "ipe.ingest.misp"
local blocklist = require "ipe.ingest.blocklist"
local ti = require "ipe.ingest.ti"

local function values(list)
  local out = {}
  for i, o in ipairs(list) do out[i] = o.kind .. ":" .. o.value .. (o.role and ("/" .. o.role) or "") end
  return out
end

T.case("STIX comparisons: paths with quoted parts, escapes, lists, negation", function()
  local list = assert(stix.comparisons("[file:hashes.'SHA-256' = 'ab\\'c' AND NOT ipv4-addr:value = '1.2.3.4'] " ..
    "OR [ipv4-addr:value IN ('5.6.7.8', '9.9.9.9')] WITHIN 300 SECONDS"))
  T.eq(list, {
    { path = "file:hashes.'SHA-256'", op = "=", value = "ab'c", negated = false },
    { path = "ipv4-addr:value", op = "=", value = "1.2.3.4", negated = true },
    { path = "ipv4-addr:value", op = "IN", value = { "5.6.7.8", "9.9.9.9" }, negated = false },
  })
end)

T.case("STIX compound OR patterns give one observable per value", function()
  local obs = assert(stix.observables("[domain-name:value = 'www.webserver.dynssl.com' OR " ..
    "ipv4-addr:value = '113.10.246.30' OR ipv4-addr:value = '219.90.112.203' OR ipv4-addr:value = '113.10.246.30']"))
  T.eq(values(obs), { "domain:www.webserver.dynssl.com", "ip:113.10.246.30", "ip:219.90.112.203" })
end)

T.case("STIX: CIDRs, IPv6, network-traffic refs, URLs and hashes", function()
  local obs = assert(stix.observables("[ipv4-addr:value ISSUBSET '198.51.100.0/24'] OR [ipv4-addr:value = '10.0.0.1/32'] " ..
    "OR [ipv6-addr:value = '2001:0DB8::1'] OR [network-traffic:dst_ref.value = '8.8.8.8' AND " ..
    "network-traffic:src_ref.value = '10.1.1.1'] OR [url:value = 'http://x/y'] OR [file:hashes.MD5 = 'd41d8cd9']"))
  T.eq(values(obs), { "cidr:198.51.100.0/24", "ip:10.0.0.1", "ip:2001:db8::1", "ip:8.8.8.8/dst", "ip:10.1.1.1/src",
    "url:http://x/y", "hash:d41d8cd9/MD5" })
end)

T.case("STIX: patterns without observables, unreadable patterns, invalid IPs", function()
  T.eq(values(assert(stix.observables("[file:name = 'CBricksDoc']"))), {})
  T.eq(values(assert(stix.observables("[ipv4-addr:value != '1.2.3.4']"))), {})
  T.eq({ stix.observables("[ipv4-addr:value = '1.2.3.4") }, { nil, "a quoted value is not closed" })
  T.eq({ stix.observables("[ipv4-addr:value '1.2.3.4']") }, { nil, "no comparison operator after ipv4-addr:value" })
  T.eq({ stix.observables("[ipv4-addr:value = '999.1.1.1']") }, { nil, "'999.1.1.1' is not an IP address or CIDR" })
  T.eq({ stix.observables("") }, { nil, "the pattern holds no comparison" })
  T.eq({ stix.observables(nil) }, { nil, "the pattern is not a string" })
end)

T.case("MISP attribute types", function()
  local function one(t, v)
    local list, why = misp.observables(t, v)
    if not list then return { list, why } end
    local out = {}
    for i, p in ipairs(list) do out[i] = values({ p[1] })[1] .. (p[2] and ("#" .. p[2]) or "") end
    return out
  end
  T.eq(one("ip-src", "1.2.3.4"), { "ip:1.2.3.4/src" })
  T.eq(one("ip-dst", "10.0.0.0/8"), { "cidr:10.0.0.0/8/dst" })
  T.eq(one("ip-dst|port", "1.2.3.4|8080"), { "ip:1.2.3.4/dst#8080" })
  T.eq(one("domain|ip", "evil.example|5.6.7.8"), { "domain:evil.example", "ip:5.6.7.8" })
  T.eq(one("hostname", "a.b.c"), { "domain:a.b.c" })
  T.eq(one("url", "http://x"), { "url:http://x" })
  T.eq(one("sha256", "abc"), { "hash:abc/SHA256" })
  T.eq(one("text", "hello"), { nil })
  T.eq(one("ip-dst", "not-an-ip"), { false, "'not-an-ip' is not an IP address or CIDR" })
  T.eq(one("ip-src|port", "1.2.3.4"), { false, "'1.2.3.4' is not address|port" })
end)

T.case("MISP: events with and without the Event wrapper", function()
  T.ok(misp.is_event({ Event = { info = "x" } }))
  T.ok(misp.is_event({ info = "x", Attribute = {} }))
  T.ok(misp.is_event({ response = { { Event = { info = "x" } } } }))
  T.ok(misp.is_event({ { Event = { info = "x" } } }))
  T.ok(not misp.is_event({ type = "bundle" }))
  T.ok(not misp.is_event({ { a = 1 } }))
end)

T.case("blocklist lines", function()
  T.eq({ blocklist.parse("# comment") }, {})
  T.eq({ blocklist.parse("   ") }, {})
  T.eq({ blocklist.parse("; spamhaus") }, {})
  local obs, desc = blocklist.parse("1.2.3.4 # scanner")
  T.eq({ obs.kind, obs.value, desc }, { "ip", "1.2.3.4", "scanner" })
  obs, desc = blocklist.parse("10.1.2.3/8 ; SBL1")
  T.eq({ obs.kind, obs.value, desc }, { "cidr", "10.0.0.0/8", "SBL1" })
  obs, desc = blocklist.parse("2001:DB8::/32")
  T.eq({ obs.kind, obs.value, desc }, { "cidr", "2001:db8::/32", nil })
  T.eq({ blocklist.parse("evil.example.com") }, { false, "'evil.example.com' is not an IP address or CIDR" })
  T.eq({ blocklist.parse("1.2.3.4:80") }, { false, "'1.2.3.4:80' is not an IP address or CIDR" })
end)

T.case("indicator rows put each observable in its column", function()
  local ind = { time = "2026-01-01T00:00:00.000Z", expires = "2026-02-01T00:00:00.000Z", id = "i1", external = "e1",
    provider = "Feed", confidence = 80, description = "d", threat_type = "malicious-activity", tags = { "a", "b" },
    tlp = "green", active = true, severity = 3, malware = { "X" }, groups = { "G" }, kill_chain = { C2 = true },
    extra = { Pattern = "[...]" } }
  T.eq(ti.row(ind, ti.observable("ip", "1.2.3.4", "dst"), 443), {
    TimeGenerated = "2026-01-01T00:00:00.000Z", ExpirationDateTime = "2026-02-01T00:00:00.000Z", IndicatorId = "i1",
    ExternalIndicatorId = "e1", IndicatorProvider = "Feed", SourceSystem = "Feed", ConfidenceScore = 80,
    Description = "d", ThreatType = "malicious-activity", Tags = '["a","b"]', TrafficLightProtocolLevel = "green",
    Active = true, ThreatSeverity = 3, MalwareNames = '["X"]', ActivityGroupNames = '["G"]', KillChainC2 = true,
    NetworkDestinationIP = "1.2.3.4", NetworkDestinationPort = 443, Pattern = "[...]" })
  local r = ti.row({ time = "t", active = false }, ti.observable("ip", "10.0.0.0/24"))
  T.eq({ r.NetworkCidrBlock, r.Active, r.Tags }, { "10.0.0.0/24", false, nil })
  r = ti.row({ time = "t" }, ti.observable("hash", "ff", "SHA1"))
  T.eq({ r.FileHashValue, r.FileHashType }, { "ff", "SHA1" })
end)

T.case("expiry: --expires never / a time / a duration, else the default span", function()
  local base = "2026-11-27T12:00:00.000Z"
  T.eq(ti.expiry({}, base, 30 * 86400), "2026-12-27T12:00:00.000Z")
  T.eq(ti.expiry({}, base, nil), nil)
  T.eq(ti.expiry({ expires_never = true }, base, 30 * 86400), nil)
  T.eq(ti.expiry({ expires_span = 86400 }, base, 30 * 86400), "2026-11-28T12:00:00.000Z")
  T.eq(ti.expiry({ expires_at = "2027-01-01T00:00:00.000Z" }, base, nil), "2027-01-01T00:00:00.000Z")
end)

T.done()
