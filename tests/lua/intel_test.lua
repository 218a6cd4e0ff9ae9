-- Tests for ctx.intel (ipe.intel and ipe.intel.*) and ctx.http (ipe.http):
--   ipe-run test tests/lua/intel_test.lua
-- Part 1 normalizes the recorded vendor answers of tests/fixtures/ti-responses.
-- Part 2 drives the framework with a scripted transport and a fake clock
-- (egress policy, cache, offline, quotas, breaker, faults, secrets).
-- Part 3 runs the insights through the real runner (sandbox, worker).
-- Part 4 talks HTTP to the mock server (tests/lib/MockTI.pm) on 127.0.0.1.
local T = require "ipe.testing"
local H = require "ipe.harness"
local intel = require "ipe.intel"
local http = require "ipe.http"
local cache = require "ipe.intel.cache"
local quota = require "ipe.intel.quota"
local sqlite = require "ipe.sqlite"
local proc = require "ipe.proc"
local cjson = require "cjson"
local result = require "ipe.result"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local FIX = here .. "/tests/fixtures/ti-responses"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function fixture(rel) return assert(read(FIX .. "/" .. rel), "missing fixture " .. rel) end
local function doc(rel) return cjson.decode((fixture(rel))) end

local fcase = T.case

---------------------------------------------------------------------------
-- Part 1: normalization of the recorded answers
---------------------------------------------------------------------------

local vt = intel.provider("virustotal")
local abuse = intel.provider("abuseipdb")
local gn = intel.provider("greynoise")
local otx = intel.provider("otx")
local anomali = intel.provider("anomali")
local rf = intel.provider("recorded-future")
local mdti = intel.provider("mdti")

fcase("virustotal: engines decide the verdict; evidence lists the flagging engines", function()
  local f = assert(vt.parse(doc("virustotal/gti_v3_ip_8.8.8.8__demisto-content.json"), "8.8.8.8"))
  T.eq({ f.verdict, f.score, f.score_max }, { "malicious", 5, 87 })
  T.eq(f.score_text, "5 of 87 engines flag it malicious, 2 suspicious")
  T.eq(#f.evidence, 3)
  T.eq({ f.evidence[1].source, f.evidence[1].finding, f.evidence[1].severity },
       { "Google Threat Intelligence", "VERDICT_MALICIOUS", "SEVERITY_HIGH" })
  T.eq({ f.evidence[2].source, f.evidence[2].finding, f.evidence[2].detail }, { "GreenSnow", "malicious", "malicious" })
  T.eq({ f.evidence[3].source, f.evidence[3].finding }, { "Snort IP sample list", "suspicious" })
  T.eq(f.summary[2], { "AS", "AS396507 EMERALD-ONION" })
  T.eq(f.summary[5], { "Community votes", "1 malicious, 0 harmless" })
  T.eq(f.summary[6], { "Last modified", "2021-02-14T11:08:34.000Z", "time" })
  T.eq(f.link, "https://www.virustotal.com/gui/ip-address/8.8.8.8")
end)

T.case("virustotal: thresholds and a malformed answer", function()
  local function verdict(stats)
    return vt.parse({ data = { attributes = { last_analysis_stats = stats } } }, "1.1.1.1").verdict
  end
  T.eq(verdict{ malicious = 2, harmless = 80 }, "suspicious")
  T.eq(verdict{ suspicious = 1 }, "suspicious")
  T.eq(verdict{ harmless = 70, undetected = 10 }, "harmless")
  T.eq(verdict{ undetected = 10 }, "unknown")
  local f, err = vt.parse({ error = {} }, "1.1.1.1")
  T.eq({ f, err }, { nil, "no data.attributes in the answer" })
end)

fcase("virustotal: the vendor's error text", function()
  T.eq(vt.error_text(doc("virustotal/error_404_NotFoundError__vt-py.json")), "NotFoundError: Resource not found.")
end)

fcase("abuseipdb: confidence score, categories by name, report times", function()
  local f = assert(abuse.parse(doc("abuseipdb/check_180.126.219.126_verbose__cisco-tr05.json"), "180.126.219.126"))
  T.eq({ f.verdict, f.score, f.score_max }, { "suspicious", 21, 100 })
  T.eq(f.score_text, "abuse confidence 21% (2 reports from 2 users)")
  T.eq(f.evidence[1], { source = "reporter 38609 (US)", finding = "Hacking, Web App Attack", detail = "ssh",
                        seen = "2020-03-10T23:11:57.000Z" })
  T.eq(f.evidence[2].finding, "Brute-Force, Exploited Host")
  T.eq(f.summary[1], { "ISP", "ChinaNet Jiangsu Province Network" })
  T.eq(f.link, "https://www.abuseipdb.com/check/180.126.219.126")
  local g = assert(abuse.parse(doc("abuseipdb/check_38.75.137.9__msticpy.json"), "38.75.137.9"))
  T.eq({ g.verdict, g.score, #g.evidence }, { "unknown", 0, 0 })
  T.eq(abuse.parse({ data = { abuseConfidenceScore = 90 } }, "1.1.1.1").verdict, "malicious")
  T.eq(abuse.parse({ data = { abuseConfidenceScore = 0, isWhitelisted = true } }, "1.1.1.1").verdict, "harmless")
  T.eq(abuse.error_text(doc("abuseipdb/error_429_rate_limit__cisco-tr05.json")),
       "Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.")
end)

fcase("greynoise: classification, RIOT, and the 404 'not observed' answer", function()
  local m = assert(gn.parse(doc("greynoise/community_51.91.185.74_malicious__msticpy.json"), "51.91.185.74", { status = 200 }))
  T.eq({ m.verdict, m.link }, { "malicious", "https://viz.greynoise.io/ip/51.91.185.74" })
  T.eq(m.evidence[1], { source = "GreyNoise", finding = "internet scanner (noise)", severity = "malicious",
                        seen = "2021-03-18T00:00:00.000Z", link = "https://viz.greynoise.io/ip/51.91.185.74" })
  local b = assert(gn.parse(doc("greynoise/community_8.8.8.8_benign__redelk.json"), "8.8.8.8", { status = 200 }))
  T.eq({ b.verdict, b.evidence[1].finding, b.evidence[1].detail }, { "harmless", "common business service (RIOT)", "Google Public DNS" })
  local u = assert(gn.parse(doc("greynoise/community_123.123.115.117_unknown__redelk.json"), "123.123.115.117", { status = 404 }))
  T.eq(u, { not_found = true, message = "IP not observed scanning the internet or contained in RIOT data set." })
end)

fcase("otx: pulses, validation, both spellings of false_positive", function()
  local one = assert(otx.parse(doc("otx/indicators_IPv4_98.136.103.23_general_1_pulse__demisto-content.json"), "98.136.103.23"))
  T.eq({ one.verdict, one.score, one.score_text }, { "harmless", 1, "1 pulse" })
  T.eq({ one.evidence[1].source, one.evidence[1].finding, one.evidence[1].detail },
       { "OTX validation (whitelist)", "Whitelisted IP", "contained in whitelisted prefix" })
  T.eq({ one.evidence[2].source, one.evidence[2].severity, one.evidence[2].seen, one.evidence[2].link },
       { "dorkingbeauty1", "TLP green", "2021-01-10T00:02:05.455Z", "https://otx.alienvault.com/pulse/5fd402cf91a35497c2af3da8" })
  local none = assert(otx.parse(doc("otx/indicators_IPv4_8.8.88.8_general_no_pulses__demisto-content.json"), "8.8.88.8"))
  T.eq({ none.verdict, none.score, none.score_text, #none.evidence }, { "unknown", 0, "0 pulses", 0 })
  local d = doc("otx/indicators_IPv4_8.8.88.8_general_no_pulses__demisto-content.json")
  d.False_positive = nil
  d.false_positive = { { assessment = "accepted", report_message = "CDN" } }
  T.eq(otx.parse(d, "8.8.88.8").verdict, "harmless")
  local syn = assert(otx.parse(doc("otx/minimal_pulse_info__msticpy.json"), "1.2.3.4"))
  T.eq({ syn.verdict, syn.score }, { "suspicious", 1 })
  T.eq(otx.request("2001:db8::1", {}, "https://otx.alienvault.com").url,
       "https://otx.alienvault.com/api/v1/indicators/IPv6/2001:db8::1/general")
end)

fcase("anomali: only active intelligence decides; inactive is evidence", function()
  local d = doc("anomali-threatstream/intelligence_ip_78.78.78.67__demisto-content.json")
  local f = assert(anomali.parse(d, "78.78.78.67"))
  T.eq({ f.verdict, f.score, f.score_text }, { "unknown", nil, "no active intelligence (1 inactive)" })
  T.eq(f.evidence[1].finding, "c2_ip (c2)")
  T.eq(f.evidence[1].detail, "inactive; confidence 100; threat score 70; expired 2021-08-22T16:42:25.366Z; tags: test")
  T.eq({ f.evidence[1].severity, f.evidence[1].seen }, { "medium", "2021-08-22T16:50:01.032Z" })
  d.objects[1].status = "active"
  T.eq({ anomali.parse(d, "78.78.78.67").verdict, anomali.parse(d, "78.78.78.67").score }, { "malicious", 100 })
  d.objects[1].confidence = 40
  T.eq(anomali.parse(d, "78.78.78.67").verdict, "suspicious")
  d.objects[1].confidence = 20
  T.eq(anomali.parse(d, "78.78.78.67").verdict, "unknown")
  T.eq(anomali.parse({ objects = {} }, "78.78.78.67"), { not_found = true })
  T.eq(anomali.request("78.78.78.67", { user = "u", key = "k" }, "https://x").headers.Authorization, "apikey u:k")
end)

fcase("recorded future: risk score, criticality, rules newest first", function()
  local f = assert(rf.parse(doc("recorded-future/v2_enrichment_domain_cisco.com__cisco-tr05.json"), "1.2.3.4"))
  T.eq({ f.verdict, f.score, f.score_max }, { "unknown", 10, 99 })
  T.eq(f.score_text, "risk 10/99 (Unusual), 2/44 risk rules")
  T.eq({ f.evidence[1].finding, f.evidence[1].seen }, { "Trending in Recorded Future Analyst Community", "2021-06-21T07:33:00.061Z" })
  T.eq(f.evidence[2].link, "https://app.recordedfuture.com/live/sc/52qYMuHmYqU1")
  T.eq(f.link, "https://app.recordedfuture.com/live/sc/entity/idn%3Acisco.com")
  T.eq(rf.parse({ data = { risk = { criticality = 3, score = 80 } } }, "1.2.3.4").verdict, "malicious")
  T.eq(rf.parse({ data = { risk = { criticality = 2, score = 30 } } }, "1.2.3.4").verdict, "suspicious")
end)

fcase("defender TI: classification and rules by severity", function()
  local f = assert(mdti.parse(doc("ms-defender-ti/host_reputation__demisto-content.json"), "1.2.3.4"))
  T.eq({ f.verdict, f.score, f.score_text }, { "malicious", 100, "reputation score 100/100 (malicious)" })
  T.eq({ f.evidence[1].severity, f.evidence[1].link }, { "high", "https://ti.defender.microsoft.com/article/831b70a4" })
  T.eq({ f.evidence[2].finding, f.evidence[3].finding, f.evidence[4].finding }, { "Name server", "Registrar", "Resolving IP Address" })
  T.eq(mdti.parse({ classification = "neutral", score = 0 }, "1.2.3.4").verdict, "harmless")
  T.eq(mdti.request("1.2.3.4", { token = "t" }, "https://graph.microsoft.com").url,
       "https://graph.microsoft.com/v1.0/security/threatIntelligence/hosts/1.2.3.4/reputation")
end)

---------------------------------------------------------------------------
-- Part 2: the framework with a scripted transport and a fake clock
---------------------------------------------------------------------------

local KEYS = {
  ["provider.virustotal"] = { key = "vt-key-0001" },
  ["provider.abuseipdb"] = { key = "abuse-key-0002" },
  ["provider.anomali"] = { user = "analyst", key = "anomali-key-0003" },
  ["provider.recorded-future"] = { key = "rf-key-0004" },
  ["provider.mdti"] = { tenant_id = "contoso", client_id = "app-1", client_secret = "mdti-secret-0005" },
  -- the keyless ones are asked only when enabled explicitly
  ["provider.greynoise"] = { enabled = "true" },
  ["provider.otx"] = { enabled = "true" },
}

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return c
end

local clock = { t = 1800000000 }

-- {key = value} of a kv section
local function kvmap(section)
  local m = {}
  for _, it in ipairs(section.items) do m[it.key] = it.value end
  return m
end

-- A transport that answers from a table: responder(request) -> response.
local function transport(responder)
  local log = {}
  local function perform_many(reqs)
    local out = {}
    for i, r in ipairs(reqs) do
      log[#log + 1] = r
      out[i] = responder(r)
    end
    return out
  end
  return perform_many, log
end

local function json_response(status, body, headers)
  return { status = status, body = type(body) == "string" and body or cjson.encode(body),
           headers = headers or { ["content-type"] = "application/json" }, time_ms = 1 }
end

local VT_OK = { data = { attributes = { last_analysis_stats = { malicious = 4, harmless = 60, undetected = 6 },
                                        last_analysis_results = {}, as_owner = "EXAMPLE", asn = 64500 } } }

local temp_files = {}
local function fresh_state()
  local p = os.tmpname()
  os.remove(p)
  temp_files[#temp_files + 1] = p
  return p
end

local function new_engine(o)
  o = o or {}
  local slept = {}
  local e = intel.new{
    config = o.config or copy(KEYS), getenv = function(n) return (o.env or {})[n] end,
    db_path = o.db, offline = o.offline, refresh = o.refresh, budget = o.budget or 10,
    now = function() return clock.t end, monotonic = function() return clock.t end,
    perform_many = o.transport, sleep = function(s) slept[#slept + 1] = s; clock.t = clock.t + s end,
    state_path = o.state or fresh_state(),
  }
  return e, slept
end


T.case("egress: addresses that are not public are never sent", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local e = new_engine{ transport = send, config = (function()
    local c = copy(KEYS); c.intel = { internal_ranges = "81.2.69.0/24, 2a02:cf40::/32" }; return c end)() }
  local cases = {
    { "10.1.2.3", "10.1.2.3 is private (RFC 1918): it is never sent to a third party" },
    { "100.64.0.9", "100.64.0.9 is shared (RFC 6598, carrier-grade NAT): it is never sent to a third party" },
    { "127.0.0.1", "127.0.0.1 is loopback (RFC 1122): it is never sent to a third party" },
    { "169.254.10.1", "169.254.10.1 is link-local (RFC 3927): it is never sent to a third party" },
    { "192.0.2.44", "192.0.2.44 is documentation (RFC 5737, TEST-NET-1): it is never sent to a third party" },
    { "240.0.0.1", "240.0.0.1 is reserved (RFC 1112, future use): it is never sent to a third party" },
    { "fe80::1", "fe80::1 is link-local (RFC 4291): it is never sent to a third party" },
    { "fd00::5", "fd00::5 is private (RFC 4193, unique local): it is never sent to a third party" },
    { "81.2.69.160", "81.2.69.160 is in the internal range 81.2.69.0/24 ([intel] internal_ranges): it is never sent to a third party" },
    { "2a02:cf40::1", "2a02:cf40::1 is in the internal range 2a02:cf40::/32 ([intel] internal_ranges): it is never sent to a third party" },
  }
  for _, c in ipairs(cases) do
    local a = e:lookup{ provider = "virustotal", ip = c[1] }
    T.eq({ a.status, a.verdict, a.message }, { "skipped_private", "unknown", c[2] }, c[1])
  end
  T.eq(#log, 0, "no request was made")
  T.eq(e:lookup{ provider = "virustotal", ip = "81.2.70.1" }.status, "ok")
  T.eq(#log, 1)
end)

T.case("egress: a bad internal range fails closed", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local c = copy(KEYS); c.intel = { internal_ranges = "10.0.0/8" }
  local a = new_engine{ transport = send, config = c }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ a.status, a.message }, { "error", "config [intel] internal_ranges: '10.0.0/8' is not a valid CIDR: '10.0.0' is not an IP address" })
  T.eq(#log, 0)
end)

T.case("misuse raises one line naming the call", function()
  local e = new_engine{ transport = transport(function() end) }
  T.eq(T.raises(function() e:lookup{ provider = "shodan", ip = "8.8.8.8" } end),
       "ctx.intel.lookup: unknown provider 'shodan' (known: mdti, virustotal, recorded-future, anomali, abuseipdb, greynoise, otx)")
  T.eq(T.raises(function() e:lookup{ provider = "virustotal", ip = "8.8.8.999" } end),
       "ctx.intel.lookup: '8.8.8.999' is not an IP address")
  T.eq(T.raises(function() e:lookup("8.8.8.8") end), "ctx.intel.lookup: expects a table {provider=, ip=}")
end)

T.case("not_configured names the environment variables and the config keys", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local e = new_engine{ transport = send, config = {} }
  T.eq(e:lookup{ provider = "virustotal", ip = "8.8.8.8" }.message,
       "not asked: set IPE_VT_API_KEY (or key in [provider.virustotal] of the config file)")
  T.eq(e:lookup{ provider = "mdti", ip = "8.8.8.8" }.message,
       "not asked: set IPE_MDTI_TOKEN, or IPE_MDTI_TENANT_ID, " ..
       "IPE_MDTI_CLIENT_ID and IPE_MDTI_CLIENT_SECRET (or token or tenant_id+client_id+client_secret in [provider.mdti] of the config file)")
  T.eq(e:lookup{ provider = "anomali", ip = "8.8.8.8" }.status, "not_configured")
  -- the keyless providers too: not configured, not asked
  T.eq({ e:lookup{ provider = "greynoise", ip = "8.8.8.8" }.status, e:lookup{ provider = "greynoise", ip = "8.8.8.8" }.message },
       { "not_configured", "not asked: set IPE_GREYNOISE_API_KEY, or add [provider.greynoise] enabled = true to the config file" })
  T.eq(e:lookup{ provider = "otx", ip = "8.8.8.8" }.message,
       "not asked: set IPE_OTX_API_KEY, or add [provider.otx] enabled = true to the config file")
  T.eq(#log, 0)
  -- a keyless provider enabled in the config file goes without a key; the environment wins over the file
  local on = new_engine{ transport = send, config = { ["provider.greynoise"] = { enabled = "true" } } }
  T.eq(on:lookup{ provider = "greynoise", ip = "8.8.8.8" }.status, "ok")
  T.eq(log[1].headers.key, nil)
  local e2 = new_engine{ transport = send, config = { ["provider.virustotal"] = { key = "from-file-1" } },
                         env = { IPE_VT_API_KEY = "from-env-22" } }
  e2:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq(log[#log].headers["x-apikey"], "from-env-22")
end)

T.case("configuration errors are the provider's status", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local function with(section)
    local c = copy(KEYS)
    for k, v in pairs(section) do c["provider.virustotal"][k] = v end
    return new_engine{ transport = send, config = c }:lookup{ provider = "virustotal", ip = "8.8.8.8" }.message
  end
  T.eq(with{ api_key = "x" }, "config [provider.virustotal]: unknown key 'api_key'")
  T.eq(with{ base_url = "ftp://x" }, "config [provider.virustotal]: base_url 'ftp://x' is not an http(s) URL")
  T.eq(with{ ttl = "soon" }, "config [provider.virustotal]: ttl: 'soon' is not a duration (use e.g. 7d, 12h, 30m)")
  T.eq(with{ timeout = "0" }, "config [provider.virustotal]: timeout: '0' is not a number from 0.001 to 300")
  T.eq(with{ rate = "4 per minute" }, "config [provider.virustotal]: rate: '4 per minute' is not N/duration (e.g. 4/1m) or off")
  T.eq(with{ base_url = "http://vt.example.com" },
       "refusing to send the VirusTotal credentials over plain http (http://vt.example.com); use https")
  local c = copy(KEYS); c.intel = { proxy_url = "x" }
  T.eq(new_engine{ transport = send, config = c }:lookup{ provider = "virustotal", ip = "8.8.8.8" }.message,
       "config [intel]: unknown key 'proxy_url'")
  T.eq(#log, 0)
end)

T.case("request shape: key header, no redirects, the cap, the deadline", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local a = new_engine{ transport = send, budget = 5 }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq(a.status, "ok")
  local r = log[1]
  T.eq({ r.method, r.url, r.headers["x-apikey"], r.max_redirects, r.max_bytes },
       { "GET", "https://www.virustotal.com/api/v3/ip_addresses/8.8.8.8", "vt-key-0001", 0, 8388608 })
  T.ok(r.timeout <= 5 and r.timeout > 4, "the timeout fits the budget: " .. r.timeout)
end)

T.case("answers are cached per provider and IP; refresh bypasses; TTL expires", function()
  clock.t = 1800000000
  local db = H.workspace{}
  local n = 0
  local send, log = transport(function() n = n + 1; return json_response(200, VT_OK) end)
  local state = fresh_state()
  local a = new_engine{ transport = send, db = db, state = state }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ a.status, a.verdict, a.cached, a.age, a.fetched_at }, { "ok", "malicious", false, 0, "2027-01-15T08:00:00.000Z" })
  clock.t = clock.t + 3600
  local b = new_engine{ transport = send, db = db, state = state }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ b.status, b.verdict, b.cached, b.age, b.fetched_at, b.expires_at },
       { "ok", "malicious", true, 3600, "2027-01-15T08:00:00.000Z", "2027-01-16T08:00:00.000Z" })
  T.eq(n, 1, "the second lookup came from the cache")
  local c = new_engine{ transport = send, db = db, state = state, refresh = true }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ c.cached, c.age, n }, { false, 0, 2 })
  clock.t = clock.t + 86401
  local d = new_engine{ transport = send, db = db, state = state }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ d.cached, n }, { false, 3 }, "expired after the TTL")
  T.eq(new_engine{ transport = send, db = db, state = state }:lookup{ provider = "abuseipdb", ip = "8.8.8.8" }.status,
       "error", "another provider has its own entry")
  T.eq(#log, 4)
end)

T.case("not_found is cached for negative_ttl", function()
  local db = H.workspace{}
  local send, log = transport(function() return json_response(404, { error = { code = "NotFoundError", message = "x" } }) end)
  local c = copy(KEYS); c["provider.virustotal"].negative_ttl = "1h"
  local state = fresh_state()
  local a = new_engine{ transport = send, db = db, config = c, state = state }:lookup{ provider = "virustotal", ip = "9.9.9.9" }
  T.eq({ a.status, a.message }, { "not_found", "VirusTotal has no record of 9.9.9.9" })
  clock.t = clock.t + 1800
  T.eq(new_engine{ transport = send, db = db, config = c, state = state }:lookup{ provider = "virustotal", ip = "9.9.9.9" }.cached, true)
  clock.t = clock.t + 1801
  T.eq(new_engine{ transport = send, db = db, config = c, state = state }:lookup{ provider = "virustotal", ip = "9.9.9.9" }.cached, false)
  T.eq(#log, 2)
end)

T.case("offline: only the cache answers and nothing is sent", function()
  local db = H.workspace{}
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local state = fresh_state()
  new_engine{ transport = send, db = db, state = state }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq(#log, 1)
  local off = new_engine{ transport = send, db = db, state = state, offline = true, refresh = true }
  local a = off:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ a.status, a.cached, a.verdict }, { "ok", true, "malicious" })
  local b = off:lookup{ provider = "virustotal", ip = "8.8.4.4" }
  T.eq({ b.status, b.message }, { "skipped_offline", "offline: VirusTotal was not asked and nothing is cached" })
  clock.t = clock.t + 2 * 86400
  local c = new_engine{ transport = send, db = db, state = state, offline = true }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq({ c.status, c.live_status, c.verdict, c.message },
       { "stale", "skipped_offline", "malicious", "offline: the cached answer expired 1d ago; nothing was sent" })
  T.eq(#log, 1, "offline sent nothing")
end)

T.case("faults become statuses; an expired cached answer is shown as stale", function()
  local db = H.workspace{}
  local reply = json_response(200, VT_OK)
  local send = transport(function() return reply end)
  local state = fresh_state()
  local function look(ip) return new_engine{ transport = send, db = db, state = state }:lookup{ provider = "virustotal", ip = ip } end
  local cases = {
    { { error = "Operation timed out after 7999 milliseconds with 0 bytes received", kind = "timeout" },
      "timeout", "VirusTotal did not answer within 8s" },
    { { error = "the response body is larger than the limit of 8388608 bytes", kind = "too_large" },
      "error", "VirusTotal sent more than 8388608 bytes: answer refused" },
    { { error = "Recv failure: Connection reset by peer", kind = "reset" },
      "error", "VirusTotal broke off the connection: Recv failure: Connection reset by peer" },
    { { error = "Failed to connect to 127.0.0.1 port 1: Connection refused", kind = "connect" },
      "error", "cannot connect to VirusTotal: Failed to connect to 127.0.0.1 port 1: Connection refused" },
    { json_response(503, { error = { code = "TransientError", message = "busy" } }),
      "error", "VirusTotal failed (HTTP 503): TransientError: busy" },
    { json_response(401, { error = { code = "WrongCredentialsError", message = "Wrong API key" } }),
      "unauthorized", "VirusTotal refused the credentials (HTTP 401): WrongCredentialsError: Wrong API key" },
    { json_response(403, "{}"), "unauthorized", "VirusTotal refused the credentials (HTTP 403)" },
    { json_response(429, { error = { code = "QuotaExceededError", message = "Quota exceeded" } },
                     { ["retry-after"] = "7", ["content-type"] = "application/json" }),
      "rate_limited", "VirusTotal is rate limiting (HTTP 429); retry after 7s: QuotaExceededError: Quota exceeded" },
    { json_response(200, '{"data": {"attributes": {"last_analysis'),
      "error", "VirusTotal sent invalid JSON (39 bytes): Expected object key string but found unexpected end of string at character 40" },
    { json_response(200, "<html><body>login</body></html>", { ["content-type"] = "text/html" }),
      "error", "VirusTotal answered HTTP 200 with an HTML page, not JSON (a proxy or captive portal?)" },
    { json_response(404, "<html>404</html>", { ["content-type"] = "text/html" }),
      "error", "VirusTotal answered HTTP 404 with an HTML page (is base_url right?)" },
    { json_response(200, { data = {} }), "error", "VirusTotal sent an unexpected answer: no data.attributes in the answer" },
    { json_response(400, { error = { code = "InvalidArgumentError", message = "bad ip" } }),
      "error", "VirusTotal answered HTTP 400: InvalidArgumentError: bad ip" },
  }
  for i, c in ipairs(cases) do
    reply = c[1]
    clock.t = clock.t + 120 -- past any Retry-After of the case before
    local ip = "8.8.8." .. i
    local a = look(ip)
    T.eq({ a.status, a.verdict, a.message }, { c[2], "unknown", c[3] }, "case " .. i)
    quota.open(state):success("virustotal")
  end
  -- with an expired answer in the cache, the failure shows the old answer as stale
  reply = json_response(200, VT_OK)
  look("8.8.4.4")
  clock.t = clock.t + 2 * 86400
  reply = json_response(503, "{}")
  local s = look("8.8.4.4")
  T.eq({ s.status, s.live_status, s.verdict, s.cached },
       { "stale", "error", "malicious", true })
  T.eq(s.message, "VirusTotal failed (HTTP 503); showing the answer cached 2d ago")
end)

T.case("429 Retry-After is honoured by the next lookup, in any process", function()
  local state = fresh_state()
  local reply = json_response(429, "{}", { ["retry-after"] = "30" })
  local send, log = transport(function() return reply end)
  local a = new_engine{ transport = send, state = state }:lookup{ provider = "abuseipdb", ip = "1.1.1.1" }
  T.eq({ a.status, a.retry_after }, { "rate_limited", 30 })
  reply = json_response(200, { data = { abuseConfidenceScore = 0 } })
  local b = new_engine{ transport = send, state = state, budget = 10 }:lookup{ provider = "abuseipdb", ip = "1.1.1.2" }
  T.eq({ b.status, b.message }, { "rate_limited",
    "AbuseIPDB asked to wait (Retry-After): the next request may go in 30s, after this run's deadline" })
  T.eq(#log, 1, "nothing was sent while blocked")
  local e, slept = new_engine{ transport = send, state = state, budget = 60 }
  T.eq(e:lookup{ provider = "abuseipdb", ip = "1.1.1.3" }.status, "ok", "a long enough budget waits its turn")
  T.eq(slept, { 30 })
  T.eq(#log, 2)
end)

T.case("rate limit: requests wait in turn up to the deadline", function()
  local state = fresh_state()
  local c = copy(KEYS); c["provider.virustotal"].rate = "2/1m"
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local e, slept = new_engine{ transport = send, state = state, config = c, budget = 100 }
  T.eq(e:lookup{ provider = "virustotal", ip = "1.0.0.1" }.status, "ok")
  T.eq(e:lookup{ provider = "virustotal", ip = "1.0.0.2" }.status, "ok")
  T.eq(slept, {}, "two fit in the minute")
  T.eq(e:lookup{ provider = "virustotal", ip = "1.0.0.3" }.status, "ok")
  T.eq(slept, { 60 }, "the third waited for a slot")
  local short = new_engine{ transport = send, state = state, config = c, budget = 10 }
  T.eq(short:lookup{ provider = "virustotal", ip = "1.0.0.4" }.status, "ok", "the first slot of the next minute")
  local a = short:lookup{ provider = "virustotal", ip = "1.0.0.5" }
  T.eq({ a.status, a.retry_after }, { "rate_limited", 60 })
  T.eq(a.message, "VirusTotal allows 2 requests per 1m: the next slot is in 1m, after this run's deadline")
  T.eq(#log, 4)
end)

T.case("quota: slots are shared through the state file", function()
  local path = fresh_state()
  local q1, q2 = assert(quota.open(path)), assert(quota.open(path))
  local rate = { limit = 2, period = 10 }
  T.eq(q1:acquire("p", rate, 100, 0), 0)
  T.eq(q2:acquire("p", rate, 101, 0), 0)
  T.eq({ q1:acquire("p", rate, 102, 5) }, { nil, 8, "quota" })
  T.eq(q2:acquire("p", rate, 102, 9), 8, "reserved for t=110")
  T.eq(q1:acquire("p", rate, 103, 20), 8, "the next free slot after t=110 is t=111")
  T.eq(q1:acquire("other", rate, 103, 0), 0, "providers are independent")
  q1:block("p", 200)
  T.eq({ q2:acquire("p", nil, 150, 10) }, { nil, 50, "retry_after" })
  q1:close(); q2:close()
end)

T.case("circuit breaker: three failures open it; the probe after the cool-down closes it", function()
  local state = fresh_state()
  local reply = json_response(500, "{}")
  local send, log = transport(function() return reply end)
  local function look() return new_engine{ transport = send, state = state }:lookup{ provider = "recorded-future", ip = "5.5.5.5" } end
  for i = 1, 3 do T.eq(look().status, "error", "failure " .. i) end
  local open = look()
  T.eq({ open.status, open.message }, { "error", "Recorded Future failed 3 times in a row: not asked again for 1m" })
  T.eq(#log, 3)
  clock.t = clock.t + 61
  reply = json_response(200, { data = { risk = { criticality = 0, score = 0 } } })
  T.eq(look().status, "ok", "the probe went")
  T.eq(look().status, "ok", "closed again")
  T.eq(#log, 5)
end)

T.case("secrets never appear in answers, messages or the cache", function()
  local db = H.workspace{}
  local send = transport(function(r)
    -- a hostile or careless service echoing everything it received
    local echo = r.url .. " " .. cjson.encode(r.headers) .. " " .. (r.body or "")
    if r.url:find("/oauth2/", 1, true) then return json_response(200, { access_token = "tok-ABCDEFGH-1234" }) end
    if r.url:find("virustotal", 1, true) then return json_response(401, { error = { message = echo } }) end
    return json_response(200, { classification = "malicious", score = 90,
                                rules = { { name = "echo", description = echo, severity = "high" } } })
  end)
  local e = new_engine{ transport = send, db = db, state = fresh_state() }
  local a = e:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq(a.status, "unauthorized")
  T.unlike(a.message, "vt%-key%-0001")
  T.like(a.message, "%[redacted%]")
  local m = e:lookup{ provider = "mdti", ip = "8.8.8.8" }
  T.eq(m.status, "ok")
  local text = cjson.encode(m)
  for _, secret in ipairs({ "tok-ABCDEFGH-1234", "mdti-secret-0005", "vt-key-0001", "abuse-key-0002" }) do
    T.ok(not text:find(secret, 1, true), "the answer holds " .. secret)
  end
  local conn = sqlite.open(db, "ro")
  local rows = conn:query("SELECT Result FROM _ipe_intel_cache")
  conn:close()
  T.eq(#rows, 1)
  T.ok(not rows[1][1]:find("tok-ABCDEFGH-1234", 1, true) and not rows[1][1]:find("mdti-secret-0005", 1, true),
       "the cache holds a secret")
  T.like(rows[1][1], "Bearer %[redacted%]")
end)

T.case("defender TI: client credentials become a bearer token", function()
  local send, log = transport(function(r)
    if r.method == "POST" then return json_response(200, { access_token = "graph-token-777", expires_in = 3599 }) end
    return json_response(200, { classification = "suspicious", score = 50, rules = {} })
  end)
  local a = new_engine{ transport = send }:lookup{ provider = "mdti", ip = "8.8.8.8" }
  T.eq({ a.status, a.verdict }, { "ok", "suspicious" })
  T.eq(log[1].url, "https://login.microsoftonline.com/contoso/oauth2/v2.0/token")
  T.eq(log[1].body, "grant_type=client_credentials&client_id=app-1&client_secret=mdti-secret-0005" ..
                    "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
  T.eq(log[2].headers.Authorization, "Bearer graph-token-777")
  local e = new_engine{ transport = send }
  e:lookup_many{ { provider = "mdti", ip = "8.8.8.8" }, { provider = "mdti", ip = "8.8.4.4" } }
  local posts = 0
  for _, r in ipairs(log) do if r.method == "POST" then posts = posts + 1 end end
  T.eq(posts, 2, "one token per engine, whatever the number of lookups")
  local bad = transport(function() return json_response(401, { error = "invalid_client", error_description = "AADSTS7000215: Invalid client secret provided." }) end)
  local b = new_engine{ transport = bad }:lookup{ provider = "mdti", ip = "8.8.8.8" }
  T.eq({ b.status, b.message }, { "unauthorized",
    "Microsoft Defender Threat Intelligence: the token request failed (HTTP 401: AADSTS7000215: Invalid client secret provided.)" })
  local tok = new_engine{ transport = send, env = { IPE_MDTI_TOKEN = "given-token-1" } }
  tok:lookup{ provider = "mdti", ip = "8.8.8.8" }
  T.eq(log[#log].headers.Authorization, "Bearer given-token-1", "a given token skips the flow")
end)

T.case("only configured providers are asked: a key, enabled = true; enabled = false turns one off", function()
  local send, log = transport(function() return json_response(200, VT_OK) end)
  local function status(config, env, id)
    local a = new_engine{ transport = send, config = config, env = env }:lookup{ provider = id, ip = "8.8.8.8" }
    return a.status .. ": " .. (a.message or "")
  end
  -- a key alone enables a keyless provider (environment or file)
  T.eq(status({}, { IPE_GREYNOISE_API_KEY = "gn-env-0001" }, "greynoise"):sub(1, 4), "ok: ")
  T.eq(log[#log].headers.key, "gn-env-0001")
  status({ ["provider.otx"] = { key = "otx-file-0002" } }, {}, "otx")
  T.eq(log[#log].headers["X-OTX-API-KEY"], "otx-file-0002")
  local n = #log
  -- enabled = false: never asked, even with a key
  T.eq(status({ ["provider.virustotal"] = { key = "vt-key-0001", enabled = "false" } }, {}, "virustotal"),
       "not_configured: not asked: turned off (enabled = false in [provider.virustotal] of the config file)")
  T.eq(status({ ["provider.greynoise"] = { enabled = "no" } }, { IPE_GREYNOISE_API_KEY = "gn-env-0001" }, "greynoise"),
       "not_configured: not asked: turned off (enabled = false in [provider.greynoise] of the config file)")
  -- enabled = true does not stand in for a key a provider needs
  T.eq(status({ ["provider.abuseipdb"] = { enabled = "true" } }, {}, "abuseipdb"),
       "not_configured: not asked: set IPE_ABUSEIPDB_API_KEY (or key in [provider.abuseipdb] of the config file)")
  -- a value that is not a boolean is the provider's configuration error, and nothing goes out
  T.eq(status({ ["provider.otx"] = { enabled = "maybe" } }, {}, "otx"),
       "error: config [provider.otx] of the config file: enabled 'maybe' is not true or false")
  T.eq(#log, n)
  -- the config file's own path, home as ~
  local e = intel.new{ config = { path = "/home/ana/.config/ipe/config", sections = {} }, budget = 5,
                       getenv = function(k) return k == "HOME" and "/home/ana" or nil end, perform_many = send,
                       state_path = fresh_state() }
  T.eq(e:lookup{ provider = "greynoise", ip = "8.8.8.8" }.message,
       "not asked: set IPE_GREYNOISE_API_KEY, or add [provider.greynoise] enabled = true to ~/.config/ipe/config")
  T.eq(#log, n)
end)

T.case("not_asked finds the providers a page did not ask", function()
  local send = transport(function() return json_response(200, VT_OK) end)
  local e = new_engine{ transport = send, config = {} }
  local a = e:lookup{ provider = "greynoise", ip = "8.8.8.8" }
  local card = result.normalize(intel.card(a, {}, {}))
  T.eq({ intel.not_asked(card) }, { "GreyNoise",
       "not asked: set IPE_GREYNOISE_API_KEY, or add [provider.greynoise] enabled = true to the config file" })
  -- with the workspace's own indicators the panel is ok, and the provider still was not asked
  local with_rows = result.normalize(intel.card(a, { { "2026-11-20T00:00:00Z", "C2" } }, { "LastUpdated", "ThreatType" }))
  T.eq(with_rows.status, "ok")
  T.eq((intel.not_asked(with_rows)), "GreyNoise")
  local asked = new_engine{ transport = send }:lookup{ provider = "virustotal", ip = "8.8.8.8" }
  T.eq(intel.not_asked(result.normalize(intel.card(asked, {}, {}))), nil)
  T.eq(intel.not_asked({ status = "ok", sections = {} }), nil)
  T.eq(intel.not_asked(nil), nil)
end)

T.case("lookup_many asks every provider in one batch", function()
  local batches = {}
  local function send(reqs)
    batches[#batches + 1] = #reqs
    local out = {}
    for i in ipairs(reqs) do out[i] = { error = "Connection refused", kind = "connect" } end
    return out
  end
  local specs = {}
  for i, id in ipairs(intel.PROVIDERS) do specs[i] = { provider = id, ip = "8.8.8.8" } end
  local out = new_engine{ transport = send, env = { IPE_MDTI_TOKEN = "t-000001" } }:lookup_many(specs)
  T.eq(batches, { 7 })
  for i, id in ipairs(intel.PROVIDERS) do T.eq({ out[i].provider, out[i].status }, { id, "error" }) end
end)

T.case("helpers: rates, Retry-After, the scrubber", function()
  T.eq(intel.parse_rate("4/1m"), { limit = 4, period = 60 })
  T.eq(intel.parse_rate("1000/1d"), { limit = 1000, period = 86400 })
  T.eq(intel.parse_rate("off"), false)
  T.eq({ intel.parse_rate("0/1m") }, { nil, "rate: '0/1m' is not N/duration (e.g. 4/1m) or off" })
  T.eq(intel.retry_after("120", 0), 120)
  T.eq(intel.retry_after(nil, 0), 60)
  T.eq(intel.retry_after("999999", 0), 86400)
  T.eq(intel.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412450), 30)
  local scrub = intel.scrubber({ "abc", "secret-1", "secret-1-long", "p@ss/word" })
  T.eq(scrub("x secret-1-long y secret-1 abc"), "x [redacted] y [redacted] abc")
  T.eq(scrub("form: client_secret=p%40ss%2Fword&x=1"), "form: client_secret=[redacted]&x=1")
end)

T.case("the card: verdict kv, evidence, workspace indicators and the run status", function()
  local a = { provider = "virustotal", name = "VirusTotal", ip = "8.8.8.8", status = "ok", verdict = "malicious",
              score_text = "5 of 87", summary = { { "AS", "AS1 X" }, { "Empty", nil } }, evidence = {
              { source = "E", finding = "malicious", detail = "d" } }, link = "L", fetched_at = "2027-01-15T08:00:00.000Z",
              age = 7200, cached = true, expires_at = "2027-01-16T08:00:00.000Z" }
  local out = intel.card(a, {}, {})
  T.eq(out.status, "ok")
  local kv = out.sections[1].items
  T.eq(kv[4], { key = "Status", value = "ok", type = "text" })
  T.eq(kv[6], { key = "Age", value = "2h (cached, fresh until 2027-01-16T08:00:00.000Z)", type = "text" })
  T.eq(kv[#kv], { key = "AS", value = "AS1 X", type = "text" })
  local null = require("cjson").null
  T.eq(out.sections[2].rows[1], { "E", "malicious", "d", null, null, null }, "an evidence row holds a cell per column")
  local function status(s, rows) return intel.card({ provider = "x", name = "X", ip = "1.1.1.1", status = s,
    verdict = "unknown", message = "m" }, rows or {}, { "IndicatorId" }) end
  T.eq({ status("not_found").status, status("not_found").message }, { "empty", "X: m" })
  T.eq(status("skipped_private").status, "skipped")
  T.eq(status("not_configured").status, "skipped")
  T.eq(status("timeout").status, "error")
  T.eq(status("timeout", { { "id-1" } }).status, "ok", "workspace indicators are content")
  T.eq(kvmap(status("rate_limited").sections[1]).Status, "rate_limited")
  local stale = intel.card({ provider = "x", name = "X", ip = "1.1.1.1", status = "stale", live_status = "timeout",
    verdict = "harmless" }, {}, {})
  T.eq({ stale.status, kvmap(stale.sections[1]).Status }, { "ok", "stale (live lookup: timeout)" })
end)

T.case("cache module: a read-only workspace still answers", function()
  local db = H.workspace{}
  local c = assert(cache.open(db))
  T.ok(c:put("virustotal", "1.2.3.4", { status = "ok", verdict = "harmless" }, 1800000000, 60))
  local row = c:get("virustotal", "1.2.3.4")
  T.eq({ row.status, row.fetched_at, row.expires_at, row.result.verdict }, { "ok", 1800000000, 1800000060, "harmless" })
  c:close()
  os.execute("chmod 444 " .. db)
  local probe = io.open(db, "r+b")
  if probe then
    probe:close()
    T.diag("running as root: file modes do not stop writes; the read-only case is not checked")
  else
    local ro = assert(cache.open(db))
    T.eq(ro:get("virustotal", "1.2.3.4").result.verdict, "harmless")
    local ok, err = ro:put("virustotal", "1.2.3.5", { status = "ok" }, 1800000000, 60)
    T.eq(ok, nil)
    T.like(err, "readonly")
    ro:close()
  end
  os.execute("chmod 644 " .. db)
  T.eq({ cache.open(nil) }, { nil, "no workspace" })
  local conn = sqlite.open(db, "ro")
  local via = assert(cache.open(db, { reader = function(sql, binds) return conn:query(sql, binds) end }))
  T.eq(via:get("virustotal", "1.2.3.4").result.verdict, "harmless", "reads through a given read-only connection")
  T.eq(via.db, nil, "without opening a connection of its own")
  conn:close()
  local v1 = H.workspace{}
  local c1 = sqlite.open(v1, "ro")
  local none = assert(cache.open(v1, { reader = function(sql, binds) return c1:query(sql, binds) end }))
  T.eq(none:get("virustotal", "1.2.3.4"), nil, "a workspace without the cache table has nothing cached")
  c1:close()
end)

---------------------------------------------------------------------------
-- Part 2b: ctx.http
---------------------------------------------------------------------------

T.case("ctx.http: only external scripts; offline refuses; bodies and headers", function()
  local sent = {}
  local function send(reqs) for _, r in ipairs(reqs) do sent[#sent + 1] = r end
    local out = {} for i in ipairs(reqs) do out[i] = { status = 200, headers = {}, body = "ok", time_ms = 1 } end return out end
  local inside = http.new{ external = false, name = "insight 'x'", perform_many = send }
  T.eq(T.raises(function() inside.get("https://example.com/") end),
       "ctx.http: insight 'x' is not in category 'external'; only external scripts may use the network")
  local off = http.new{ external = true, offline = true, perform_many = send }
  T.eq({ off.get("https://example.com/") }, { nil, "offline: no network", "offline" })
  T.eq(off.request_many({ { url = "https://example.com/" } }), { { error = "offline: no network", kind = "offline" } })
  T.eq(#sent, 0, "offline sent nothing")
  local on = http.new{ external = true, perform_many = send, budget = 3, monotonic = function() return 0 end }
  T.eq(on.post("https://example.com/api", { a = 1 }, { headers = { ["X-Trace"] = "1" } }).body, "ok")
  T.eq({ sent[1].method, sent[1].body, sent[1].headers["Content-Type"], sent[1].headers["X-Trace"], sent[1].timeout },
       { "POST", '{"a":1}', "application/json", "1", 3 })
  T.eq(T.raises(function() on.get("https://example.com/", { timeout = -1 }) end),
       "ctx.http: timeout must be a number from 0.001 to 300")
  T.eq(T.raises(function() on.get(42) end), "ctx.http: the request URL must be a string")
  local fail = http.new{ external = true, perform_many = function() return { { error = "boom", kind = "reset" } } end }
  T.eq({ fail.get("https://example.com/") }, { nil, "boom", "reset" })
end)

---------------------------------------------------------------------------
-- Part 3: the insights through the real runner
---------------------------------------------------------------------------

local INSIGHTS = { mdti = "defender-ti-reputation", virustotal = "virustotal-ip", ["recorded-future"] = "recorded-future-ip",
                   anomali = "anomali-ip", abuseipdb = "abuseipdb-ip", greynoise = "greynoise-ip", otx = "otx-ip" }

local ws = H.workspace{ rows = { ThreatIntelligenceIndicator = {
  { TimeGenerated = "2026-11-20T10:00:00.000Z", IndicatorId = "ID-VT-1", NetworkIP = "81.2.69.142", Active = 1,
    ExpirationDateTime = "2026-11-21T00:00:00.000Z", IndicatorProvider = "VirusTotal", ThreatType = "C2",
    ConfidenceScore = 40, Description = "old version" },
  { TimeGenerated = "2026-11-25T10:00:00.000Z", IndicatorId = "ID-VT-1", NetworkIP = "81.2.69.142", Active = 1,
    ExpirationDateTime = "2026-12-25T00:00:00.000Z", IndicatorProvider = "VirusTotal", ThreatType = "C2",
    ConfidenceScore = 80, Description = "latest version" },
  { TimeGenerated = "2026-11-01T10:00:00.000Z", IndicatorId = "ID-VT-2", NetworkSourceIP = "81.2.69.142", Active = 1,
    ExpirationDateTime = "2026-11-10T00:00:00.000Z", SourceSystem = "VirusTotal", ThreatType = "Botnet",
    ConfidenceScore = 50, Description = "expired" },
  { TimeGenerated = "2026-11-26T10:00:00.000Z", IndicatorId = "ID-RF-1", NetworkIP = "81.2.69.142", Active = 1,
    ExpirationDateTime = "2026-12-25T00:00:00.000Z", IndicatorProvider = "Recorded Future", ThreatType = "C2" },
} } }

T.case("an insight shows the workspace's own indicators from its provider, latest version each", function()
  local rec = H.run("insight", "virustotal-ip", { ip = "81.2.69.142" }, { db = ws, offline = true })
  T.eq(rec.status, "ok", rec.message)
  local rows = H.records(rec, 2)
  T.eq(#rows, 2)
  T.eq({ rows[1].IndicatorId, rows[1].Description, rows[1].Live, rows[1].Confidence }, { "ID-VT-1", "latest version", 1, 80 })
  T.eq({ rows[2].IndicatorId, rows[2].Live, rows[2].Active }, { "ID-VT-2", 0, 1 })
  T.eq(kvmap(rec.sections[1]).Status, "skipped_offline")
  T.eq(rec.queries[1].sql, cache.GET, "the cache is read through the script's own connection")
  T.like(rec.queries[2].sql, "NOT EXISTS %(SELECT 1 FROM ThreatIntelligenceIndicator n WHERE n.IndicatorId = t.IndicatorId")
end)

T.case("every provider insight: private IPs are skipped, offline runs send nothing", function()
  for id, name in pairs(INSIGHTS) do
    local rec = H.run("insight", name, { ip = "10.9.8.7" }, { db = ws })
    T.eq(rec.status, "skipped", name)
    T.like(rec.message, "10%.9%.8%.7 is private %(RFC 1918%): it is never sent to a third party", name)
    local off = H.run("insight", name, { ip = "81.2.69.142" }, { db = ws, offline = true })
    T.eq(kvmap(off.sections[1]).Status, "skipped_offline", name .. " " .. id)
  end
end)

T.case("offline with a cached answer: the answer and its age", function()
  local c = assert(cache.open(ws))
  local fetched = proc.now() - 5400
  c:put("abuseipdb", "81.2.69.142", { provider = "abuseipdb", name = "AbuseIPDB", ip = "81.2.69.142", status = "ok",
    verdict = "malicious", score = 99, score_text = "abuse confidence 99%", summary = {}, evidence = {
      { source = "reporter 1 (US)", finding = "SSH", detail = "brute force", seen = "2026-11-26T00:00:00.000Z" } },
    link = "https://www.abuseipdb.com/check/81.2.69.142", fetched_at = "x" }, fetched, 86400)
  c:close()
  local rec = H.run("insight", "abuseipdb-ip", { ip = "81.2.69.142" }, { db = ws, offline = true })
  T.eq(rec.status, "ok", rec.message)
  local kv = kvmap(rec.sections[1])
  T.eq({ kv.Verdict, kv.Status, kv.Score }, { "malicious", "ok", "abuse confidence 99%" })
  T.like(kv.Age, "^1h30m%d*s? %(cached, fresh until ", "the age: 1h30m (and the seconds the run took on a slow machine)")
  T.eq(H.records(rec, 1)[1].Finding, "SSH")
end)

T.case("a script outside 'external' reads the cache but never sends", function()
  local dir = os.tmpname(); os.remove(dir)
  assert(require("ipe.fs").mkdir_p(dir .. "/insights"))
  local f = io.open(dir .. "/insights/cache-reader.lua", "w")
  f:write([[return { name = "cache-reader", kind = "insight", title = "t", summary = "s", description = "d",
    categories = { "offline", "threat-intel" }, sources = {},
    params = { { name = "ip", type = "ip", required = true, help = "the IP" } },
    run = function(ctx, p)
      local a = ctx.intel.lookup{ provider = "abuseipdb", ip = p.ip }
      local b = ctx.intel.lookup{ provider = "virustotal", ip = p.ip }
      local ok, err = pcall(ctx.http.get, "https://example.com/")
      local result = require "ipe.result"
      return result.kv{ items = { { "a", a.status }, { "b", b.status }, { "b-msg", b.message }, { "http", err } } }
    end }]])
  f:close()
  local rec = H.run_file(dir .. "/insights/cache-reader.lua", { ip = "81.2.69.142" }, { db = ws })
  T.eq(rec.status, "ok", rec.message)
  local items = rec.sections[1].items
  T.eq({ items[1].value, items[2].value }, { "ok", "skipped_offline" })
  T.eq(items[3].value, "offline (this script is not in category 'external'): VirusTotal was not asked and nothing is cached")
  T.eq(items[4].value, "ctx.http: insight 'cache-reader' is not in category 'external'; only external scripts may use the network")
  os.remove(dir .. "/insights/cache-reader.lua"); os.remove(dir .. "/insights"); os.remove(dir)
end)

---------------------------------------------------------------------------
-- Part 4: real HTTP against the mock server
---------------------------------------------------------------------------

local curl = require "ipe.curl"

local function start_mock()
  local dir = os.tmpname(); os.remove(dir)
  require("ipe.fs").mkdir_p(dir)
  local cmd = string.format("perl %s/tests/lib/MockTI.pm --port-file %s/port --log %s/log --key virustotal=vt-key-0001 " ..
    "--watch %d >/dev/null 2>&1 & echo $! > %s/pid", here, dir, dir, proc.pid(), dir)
  proc.run({ "sh", "-c", cmd })
  for _ = 1, 100 do
    local port = read(dir .. "/port")
    if port then return { dir = dir, port = tonumber(port), pid = tonumber(read(dir .. "/pid")) } end
    curl.sleep(0.05)
  end
  return nil
end

local function stop_mock(m)
  proc.run({ "kill", "-KILL", "--", "-" .. m.pid })
  for _, f in ipairs({ "port", "pid", "log" }) do os.remove(m.dir .. "/" .. f) end
  os.remove(m.dir)
end

local function mock_config(m, modes)
  local c = copy(KEYS)
  c.intel = { proxy = "" }
  for _, id in ipairs(intel.PROVIDERS) do
    c["provider." .. id] = c["provider." .. id] or {}
    c["provider." .. id].base_url = string.format("http://127.0.0.1:%d/%s/%s", m.port, modes[id] or modes.default, id)
  end
  c["provider.mdti"].login_url = string.format("http://127.0.0.1:%d/ok/mdti-login", m.port)
  return c
end

local function real_engine(m, modes, budget)
  return intel.new{ config = mock_config(m, modes), getenv = function() return nil end, budget = budget or 10,
                    state_path = fresh_state() }
end

local mock = assert(start_mock(), "the mock threat-intel server (perl, tests/fixtures) did not start")
local mcase = T.case

local function all(ip)
  local specs = {}
  for i, id in ipairs(intel.PROVIDERS) do specs[i] = { provider = id, ip = ip } end
  return specs
end

-- together7: the mock answers none of the seven lookups before all seven are in (504 after 5 s
-- otherwise), so they answer ok only if they were in flight at once, however loaded the machine
mcase("mock: the seven providers' lookups are in flight together", function()
  local e = real_engine(mock, { default = "together7" })
  local out = e:lookup_many(all("8.8.8.8"))
  local v = {}
  for i, a in ipairs(out) do v[i] = a.provider .. "=" .. a.status .. "/" .. a.verdict end
  T.eq(v, { "mdti=ok/malicious", "virustotal=ok/malicious", "recorded-future=ok/unknown", "anomali=ok/unknown",
            "abuseipdb=ok/suspicious", "greynoise=ok/harmless", "otx=ok/harmless" })
end)

mcase("mock: each fault gives its provider its status, the others still answer", function()
  local modes = { default = "ok", virustotal = "timeout", abuseipdb = "429-30", greynoise = "truncated", otx = "html",
                  anomali = "huge", ["recorded-future"] = "reset", mdti = "503" }
  local c = mock_config(mock, modes)
  c["provider.virustotal"].timeout = "1"
  local e = intel.new{ config = c, getenv = function() return nil end, budget = 10, state_path = fresh_state() }
  local t0 = proc.monotonic()
  local out = e:lookup_many(all("8.8.8.8"))
  T.ok(proc.monotonic() - t0 < 3, "a slow provider does not hold the others beyond its timeout")
  local got = {}
  for _, a in ipairs(out) do got[a.provider] = a.status .. ": " .. (a.message or "") end
  T.eq(got.virustotal, "timeout: VirusTotal did not answer within 1s")
  T.eq(got.abuseipdb, "rate_limited: AbuseIPDB is rate limiting (HTTP 429); retry after 30s: " ..
       "Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.")
  T.eq(got.greynoise, "error: GreyNoise sent invalid JSON (110 bytes): Expected value but found unexpected end of string at character 111")
  T.eq(got.otx, "error: AlienVault OTX answered HTTP 200 with an HTML page, not JSON (a proxy or captive portal?)")
  T.eq(got.anomali, "error: Anomali ThreatStream sent more than 8388608 bytes: answer refused")
  T.like(got["recorded-future"], "^error: Recorded Future broke off the connection: ")
  T.eq(got.mdti, "error: Microsoft Defender Threat Intelligence failed (HTTP 503): ServerError: try later")
end)

mcase("mock: a wrong key is unauthorized, a 50 MB body without a length is cut off", function()
  local c = mock_config(mock, { default = "ok", anomali = "hugechunked" })
  c["provider.virustotal"].key = "not-the-key"
  local e = intel.new{ config = c, getenv = function() return nil end, budget = 10, state_path = fresh_state() }
  local out = e:lookup_many{ { provider = "virustotal", ip = "8.8.8.8" }, { provider = "anomali", ip = "8.8.8.8" } }
  T.eq({ out[1].status, out[1].message }, { "unauthorized",
    "VirusTotal refused the credentials (HTTP 401): WrongCredentialsError: Wrong API key" })
  T.eq({ out[2].status, out[2].message }, { "error", "Anomali ThreatStream sent more than 8388608 bytes: answer refused" })
end)

mcase("mock: ctx.http fetches, caps and times out for real", function()
  local h = http.new{ external = true, budget = 10, proxy = "" }
  local url = string.format("http://127.0.0.1:%d/%%s/greynoise/v3/community/8.8.8.8", mock.port)
  local res = assert(h.get(url:format("ok")))
  T.eq({ res.status, res.headers["content-type"], cjson.decode(res.body).name }, { 200, "application/json", "Google Public DNS" })
  T.eq({ h.get(url:format("huge"), { max_bytes = 1024 * 1024 }) },
       { nil, "the response body is larger than the limit of 1048576 bytes", "too_large" })
  local ok, msg, kind = h.get(url:format("timeout"), { timeout = 0.5 })
  T.eq({ ok, kind }, { nil, "timeout" })
  T.like(msg, "timed out")
  local many = h.request_many{ { url = url:format("delay300") }, { url = url:format("delay300") }, { url = url:format("503") } }
  T.eq({ many[1].status, many[2].status, many[3].status }, { 200, 200, 503 })
end)

if mock then stop_mock(mock) end
for _, p in ipairs(temp_files) do
  for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(p .. suffix) end
end

T.done()
