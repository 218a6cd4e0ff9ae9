-- Tests for ipe.geo (ctx.geo) and insights/ip-details.lua, against the MaxMind test
-- databases in tests/fixtures/mmdb (values from EXPECTED.md and source-data/*.json) and
-- a small ip-location-db (flat layout) database this file writes itself.
local T = require "ipe.testing"
local geo = require "ipe.geo"
local fs = require "ipe.fs"
local cjson = require "cjson"
local ipaddr = require "ipe.ipaddr"
local H = require "ipe.harness"

local root = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local F = root .. "/tests/fixtures/mmdb"
local D = F .. "/test-data"

---------------------------------------------------------------------------
-- Classification needs no database
---------------------------------------------------------------------------

local none = geo.open({})

T.case("no database: the class of every kind of address", function()
  local want = {
    ["10.0.0.1"] = "private", ["172.16.5.4"] = "private", ["192.168.1.1"] = "private",
    ["100.64.1.1"] = "shared", ["127.0.0.1"] = "loopback", ["169.254.1.1"] = "link-local",
    ["224.0.0.1"] = "multicast", ["192.0.2.1"] = "documentation", ["240.0.0.1"] = "reserved",
    ["255.255.255.255"] = "broadcast", ["0.0.0.0"] = "unspecified", ["8.8.8.8"] = "public",
    ["fd00::1"] = "private", ["fe80::1"] = "link-local", ["ff02::1"] = "multicast",
    ["2001:db8::1"] = "documentation", ["::1"] = "loopback", ["2606:4700::1"] = "public",
  }
  for ip, class in pairs(want) do
    local r = none:lookup(ip)
    T.eq(r.classification.class, class, ip)
    T.eq({ r.found, #r.databases, next(r.sources) }, { false, 0, nil }, ip)
  end
  local r = none:lookup("100.64.1.1")
  T.eq(r.classification, { class = "shared", label = "shared (RFC 6598, carrier-grade NAT)", range = "100.64.0.0/10",
                           reference = "RFC 6598", note = "carrier-grade NAT" })
end)

T.case("no database: the IP is canonicalized, bad input is nil and one message", function()
  T.eq(none:lookup("1[.]2[.]3[.]4").ip, "1.2.3.4")
  T.eq(none:lookup("2001:DB8:0:0::1").ip, "2001:db8::1")
  T.eq({ none:lookup("x") }, { nil, "'x' is not an IP address" })
  T.eq({ none:lookup("1.2.3.4/24") }, { nil, "'1.2.3.4/24' is a network, not an IP address" })
  T.eq({ none:lookup("\27[2J") }, { nil, "'\\x1b[2J' is not an IP address" })
  T.eq(none:databases(), {})
  T.eq(none:resolve("8.8.8.8"), nil)
end)

assert(fs.stat(F), F .. " not found: the MaxMind test databases are part of the repository")

---------------------------------------------------------------------------
-- A flat ip-location-db database, written here
---------------------------------------------------------------------------

local floor, char, concat = math.floor, string.char, table.concat

local function be(n, bytes)
  local t = {}
  for i = bytes, 1, -1 do
    t[i] = char(n % 256)
    n = floor(n / 256)
  end
  return concat(t)
end

local function head(kind, size)
  assert(size < 29)
  if kind <= 7 then return char(kind * 32 + size) end
  return char(size) .. char(kind - 7) -- extended type
end

local function enc_uint(kind, v)
  local n = 0
  while v >= 256 ^ n do n = n + 1 end
  return head(kind, n) .. (n > 0 and be(v, n) or "")
end

local function enc_str(s) return head(2, #s) .. s end

local function enc_float(x) -- IEEE 754 single, big-endian
  if x == 0 then return head(15, 4) .. "\0\0\0\0" end
  local sign = x < 0 and 2 ^ 31 or 0
  local m, e = math.frexp(math.abs(x))
  local frac = floor((2 * m - 1) * 2 ^ 23 + 0.5)
  if frac == 2 ^ 23 then frac, e = 0, e + 1 end
  return head(15, 4) .. be(sign + (e + 126) * 2 ^ 23 + frac, 4)
end

local function enc_map(pairs_list)
  local parts = { head(7, #pairs_list) }
  for _, p in ipairs(pairs_list) do parts[#parts + 1] = enc_str(p[1]) .. p[2] end
  return concat(parts)
end

-- write_mmdb(path, database_type, { {cidr, encoded record}, ... }): an IPv4 tree, 24-bit records.
local function write_mmdb(path, dbtype, nets)
  local data, offsets = {}, {}
  local size = 0
  for i, n in ipairs(nets) do
    offsets[i] = size
    data[i] = n[2]
    size = size + #n[2]
  end
  local rootnode = {}
  for i, n in ipairs(nets) do
    local net = assert(ipaddr.parse_cidr(n[1]))
    local addr = assert(ipaddr.to_int(net.network))
    local node = rootnode
    for bit = 0, net.prefix - 1 do
      local side = floor(addr / 2 ^ (31 - bit)) % 2 == 0 and "l" or "r"
      if bit == net.prefix - 1 then
        node[side] = { data = i }
      else
        local child = node[side]
        if child == nil then child = {} node[side] = child
        elseif child.data then child = { l = child, r = child } node[side] = child end
        node = child
      end
    end
  end
  local order, queue = {}, { rootnode }
  while #queue > 0 do
    local node = table.remove(queue, 1)
    order[#order + 1] = node
    node.num = #order - 1
    for _, side in ipairs({ "l", "r" }) do
      local c = node[side]
      if c and not c.data and not c.num then queue[#queue + 1] = c end
    end
  end
  local count = #order
  local function record(c)
    if c == nil then return count end
    if c.data then return count + 16 + offsets[c.data] end
    return c.num
  end
  local tree = {}
  for i, node in ipairs(order) do tree[i] = be(record(node.l), 3) .. be(record(node.r), 3) end
  local meta = enc_map({
    { "binary_format_major_version", enc_uint(5, 2) }, { "binary_format_minor_version", enc_uint(5, 0) },
    { "build_epoch", enc_uint(9, 1781725941) }, { "database_type", enc_str(dbtype) },
    { "description", head(7, 0) }, { "ip_version", enc_uint(5, 4) }, { "languages", head(11, 0) },
    { "node_count", enc_uint(6, count) }, { "record_size", enc_uint(5, 24) },
  })
  local f = assert(io.open(path, "wb"))
  f:write(concat(tree), string.rep("\0", 16), concat(data), "\171\205\239MaxMind.com", meta)
  f:close()
end

local function flat(city, cc, lat, lon, postcode, state1, state2, tz)
  return enc_map({
    { "city", enc_str(city) }, { "country_code", enc_str(cc) }, { "latitude", enc_float(lat) },
    { "longitude", enc_float(lon) }, { "postcode", enc_str(postcode) }, { "state1", enc_str(state1) },
    { "state2", enc_str(state2) }, { "timezone", enc_str(tz) },
  })
end

local FLAT = os.tmpname()
write_mmdb(FLAT, "city ipv4", {
  { "216.160.0.0/16", flat("Tacoma", "US", 47.247601, -122.464302, "98405", "Washington", "", "America/Los_Angeles") },
  { "81.2.69.0/24", flat("", "US", 37.751, -97.822, "", "", "", "America/Chicago") },
  { "8.8.8.0/24", flat("", "US", 37.751, -97.822, "", "", "", "America/Chicago") },
})
local FLAT_FILE = FLAT:match("[^/]+$")

T.case("ipe.mmdb guards nesting depth: 64 levels decode, 70 are one clear error", function()
  local mmdb = require "ipe.mmdb"
  local function nested(levels)
    local v = enc_str("leaf")
    for _ = 1, levels do v = enc_map({ { "a", v } }) end
    return v
  end
  local p = os.tmpname()
  write_mmdb(p, "Nested", { { "1.0.0.0/8", nested(64) }, { "2.0.0.0/8", nested(70) } })
  local r = assert(mmdb.open(p))
  local rec = r:lookup("1.2.3.4")
  for _ = 1, 64 do rec = rec.a end
  T.eq(rec, "leaf")
  local why = p .. ": lookup of 2.3.4.5 failed: the record nests too deeply"
  T.eq({ r:lookup("2.3.4.5") }, { nil, why })
  T.eq({ r:lookup_into("2.3.4.5", mmdb.fields({ "b" }), {}) }, { nil, why })
  T.eq({ r:lookup_into("2.3.4.5", mmdb.fields({ "a.a.a" }), {}) }, { nil, why })
  r:close()
  os.remove(p)
end)

---------------------------------------------------------------------------
-- MaxMind databases: the values of EXPECTED.md
---------------------------------------------------------------------------

local function path(name) return D .. "/" .. name .. ".mmdb" end
local ALL = { path("GeoIP2-City-Test"), path("GeoLite2-ASN-Test"), path("GeoIP2-ISP-Test"),
              path("GeoIP2-Connection-Type-Test"), path("GeoIP2-Anonymous-IP-Test") }
local g = geo.open(ALL)

T.case("databases(): recognized by database_type, with build dates", function()
  local list = {}
  for i, d in ipairs(g:databases()) do
    list[i] = { d.file, d.type, d.kind, d.layout, d.build_date, d.ip_version, d.status }
  end
  T.eq(list, {
    { "GeoIP2-City-Test.mmdb", "GeoIP2-City", "city", "maxmind", "2026-02-04", 6, "ok" },
    { "GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN", "asn", "maxmind", "2026-02-04", 6, "ok" },
    { "GeoIP2-ISP-Test.mmdb", "GeoIP2-ISP", "isp", "maxmind", "2026-02-04", 6, "ok" },
    { "GeoIP2-Connection-Type-Test.mmdb", "GeoIP2-Connection-Type", "connection-type", "maxmind", "2026-02-04", 6, "ok" },
    { "GeoIP2-Anonymous-IP-Test.mmdb", "GeoIP2-Anonymous-IP", "anonymous-ip", "maxmind", "2026-02-04", 6, "ok" },
  })
  local kinds = {}
  for _, name in ipairs({ "GeoIP2-Country-Test", "GeoIP2-Enterprise-Test", "GeoIP2-Precision-Enterprise-Test",
                          "GeoIP-Anonymous-Plus-Test", "GeoIP-Residential-Proxy-Test", "GeoIP2-Domain-Test",
                          "GeoLite2-City-Test", "MaxMind-DB-test-decoder" }) do
    kinds[#kinds + 1] = geo.open({ path(name) }):databases()[1].kind
  end
  T.eq(kinds, { "country", "enterprise", "enterprise", "anonymous-ip", "residential-proxy", "domain", "city", "other" })
end)

T.case("216.160.83.56: Milton, WA 98354 and the rest of its records", function()
  local r = g:lookup("216.160.83.56")
  T.eq({ r.found, r.city, r.state, r.state_code, r.postal_code, r.country_code, r.country_name,
         r.registered_country_code, r.continent_code, r.latitude, r.longitude, r.accuracy_radius, r.time_zone },
       { true, "Milton", "Washington", "WA", "98354", "US", "United States", "GB", "NA", 47.2513, -122.3149, 22,
         "America/Los_Angeles" })
  T.eq({ r.isp, r.organization, r.asn, r.as_organization, r.connection_type, r.carrier },
       { "Century Link", "Lariat Software", 209, nil, "Corporate", nil })
  T.eq(r.sources.city, { file = "GeoIP2-City-Test.mmdb", type = "GeoIP2-City", build_date = "2026-02-04" })
  T.eq(r.sources.asn.file, "GeoLite2-ASN-Test.mmdb")
  T.eq(r.sources.isp.file, "GeoIP2-ISP-Test.mmdb")
  T.eq(r.sources.connection_type.file, "GeoIP2-Connection-Type-Test.mmdb")
  T.eq(r.databases[1], { file = "GeoIP2-City-Test.mmdb", path = path("GeoIP2-City-Test"), type = "GeoIP2-City",
                         kind = "city", build_date = "2026-02-04", status = "found", network = "216.160.83.56/29" })
  T.eq(r.country_conflict, nil)
end)

T.case("149.101.100.1: Verizon Wireless, MCC 310, MNC 004 (strings)", function()
  local r = g:lookup("149.101.100.1")
  T.eq({ r.carrier, r.mobile_country_code, r.mobile_network_code, r.isp, r.organization, r.asn, r.as_organization,
         r.connection_type },
       { "Verizon Wireless", "310", "004", "Verizon Wireless", "Verizon Wireless", 6167, "CELLCO-PART", "Cellular" })
  T.eq(r.sources.carrier.file, "GeoIP2-ISP-Test.mmdb")
end)

T.case("1.128.0.0: AS1221 Telstra; the City database has no entry", function()
  local r = g:lookup("1.128.0.0")
  T.eq({ r.asn, r.as_organization, r.isp, r.country_code, r.city }, { 1221, "Telstra Pty Ltd", "Telstra Internet", nil, nil })
  T.eq({ r.databases[1].status, r.databases[1].network, r.databases[2].status, r.databases[2].network },
       { "not_found", nil, "found", "1.128.0.0/11" })
end)

T.case("81.2.69.160: country GB, registered US; 2001:218::1: JP", function()
  local r = g:lookup("81.2.69.160")
  T.eq({ r.city, r.country_code, r.registered_country_code, r.postal_code, r.state },
       { "London", "GB", "US", nil, "England" })
  T.eq(r.country_conflict, nil, "registered vs located in one database is not a conflict")
  local v6 = g:lookup("2001:218::1")
  T.eq({ v6.family, v6.country_code, v6.latitude, v6.longitude, v6.time_zone }, { 6, "JP", 35.68536, 139.75309, "Asia/Tokyo" })
end)

T.case("anonymizer flags: not found is not an empty record", function()
  local vpn = g:lookup("81.2.69.1")
  T.eq({ vpn.is_anonymous, vpn.is_anonymous_vpn, vpn.is_hosting_provider, vpn.is_public_proxy, vpn.is_residential_proxy,
         vpn.is_tor_exit_node }, { true, true, true, true, true, true })
  local tor = g:lookup("1.124.213.1")
  T.eq({ tor.is_anonymous, tor.is_anonymous_vpn, tor.is_tor_exit_node, tor.is_public_proxy, tor.is_hosting_provider },
       { true, true, true, false, false })
  local plain = g:lookup("8.8.8.8")
  T.eq({ plain.found, plain.databases[5].status, plain.is_anonymous, plain.is_tor_exit_node },
       { true, "found", false, false }, "8.8.8.8: found with an empty record {}: every flag false")
  local private = g:lookup("10.0.0.1")
  T.eq({ private.found, private.databases[5].status, private.is_anonymous, private.classification.label },
       { false, "not_found", nil, "private (RFC 1918)" }, "10.0.0.1: not found: flags unknown")
end)

T.case("an IPv4-only database asked for IPv6 answers not_covered", function()
  local g4 = geo.open({ path("MaxMind-DB-test-ipv4-24"), path("GeoIP2-City-Test") })
  local r = g4:lookup("2001:218::1")
  T.eq({ r.databases[1].status, r.databases[1].network, r.databases[1].error, r.databases[2].status, r.country_code },
       { "not_covered", nil, nil, "found", "JP" })
  T.eq(g4:lookup("1.1.1.1").databases[1].status, "found")
end)

T.case("two databases that disagree on the country: country_conflict", function()
  local gc = geo.open({ path("GeoIP2-City-Test"), path("GeoIP2-Country-Test") })
  local r = gc:lookup("2001:220::") -- a /128 of the Country database, in a /32 of the City one
  T.eq(r.country_code, "KR", "the first database supplies the field")
  T.eq(r.sources.country_code.file, "GeoIP2-City-Test.mmdb")
  T.eq(r.country_conflict, { { country_code = "KR", file = "GeoIP2-City-Test.mmdb" },
                             { country_code = "SE", file = "GeoIP2-Country-Test.mmdb" } })
  local m = gc:resolve("2001:220::")
  T.eq({ m[geo.INDEX.country_code], m.conflict }, { "KR", r.country_conflict })
  T.eq(gc:lookup("2001:220::1").country_conflict, nil, "they agree on 2001:220::1")
  T.eq(gc:lookup("81.2.69.160").country_conflict, nil, "and on 81.2.69.160")
end)

T.case("a broken database is listed with its error; the others still answer", function()
  local gb = geo.open({ path("MaxMind-DB-test-broken-search-tree-24"), path("GeoIP2-City-Test-Broken-Double-Format"),
                        path("GeoLite2-ASN-Test"), D .. "/missing.mmdb" })
  local dbs = gb:databases()
  T.eq({ dbs[1].status, dbs[1].error }, { "error", path("MaxMind-DB-test-broken-search-tree-24")
    .. ": the search tree is corrupt (112 of its 164 nodes are unreachable)" })
  T.eq({ dbs[4].status, dbs[4].error }, { "error", D .. "/missing.mmdb: No such file or directory" })
  local r = gb:lookup("81.2.69.160")
  T.eq(r.databases[2], { file = "GeoIP2-City-Test-Broken-Double-Format.mmdb",
    path = path("GeoIP2-City-Test-Broken-Double-Format"), type = "GeoIP2-City", kind = "city", build_date = "2023-09-26",
    status = "error", error = path("GeoIP2-City-Test-Broken-Double-Format")
      .. ": lookup of 81.2.69.160 failed: the data section contains bad data" })
  T.eq({ r.databases[1].status, r.databases[3].status, r.databases[4].status }, { "error", "not_found", "error" })
  local ok = gb:lookup("1.128.0.0")
  T.eq({ ok.found, ok.asn }, { true, 1221 })
  local m, err = gb:resolve("81.2.69.160")
  T.eq({ m, err }, { nil, r.databases[2].error })
  T.eq(gb:verify(), {})
end)

---------------------------------------------------------------------------
-- The flat ip-location-db layout
---------------------------------------------------------------------------

T.case("the flat layout is recognized by its fields and normalized", function()
  local gf = geo.open({ FLAT })
  local d = gf:databases()[1]
  T.eq({ d.type, d.layout, d.kind, d.build_date, d.ip_version }, { "city ipv4", "ip-location-db", "city", "2026-06-17", 4 })
  local r = gf:lookup("216.160.83.56")
  T.eq({ r.city, r.state, r.district, r.postal_code, r.country_code, r.country_name, r.latitude, r.longitude, r.time_zone },
       { "Tacoma", "Washington", nil, "98405", "US", nil, 47.2476, -122.4643, "America/Los_Angeles" },
       "float coordinates come back as the shortest decimal of the float (47.247601f reads back as 47.2476, "
       .. "not 47.24760055541992); empty strings are absent")
  T.eq(r.databases[1].network, "216.160.0.0/16")
  local empty = gf:lookup("8.8.8.8")
  T.eq({ empty.city, empty.state, empty.postal_code, empty.country_code }, { nil, nil, nil, "US" })
  T.eq(gf:lookup("2001:218::1").databases[1].status, "not_covered")
end)

T.case("order decides which database supplies a field; a flat and a MaxMind database can disagree", function()
  local a = geo.open({ FLAT, path("GeoIP2-City-Test") }):lookup("216.160.83.56")
  T.eq({ a.city, a.postal_code, a.sources.city.file, a.state_code }, { "Tacoma", "98405", FLAT_FILE, "WA" })
  local b = geo.open({ path("GeoIP2-City-Test"), FLAT }):lookup("216.160.83.56")
  T.eq({ b.city, b.postal_code, b.sources.city.file }, { "Milton", "98354", "GeoIP2-City-Test.mmdb" })
  local c = geo.open({ path("GeoIP2-City-Test"), FLAT }):lookup("81.2.69.160")
  T.eq(c.country_conflict, { { country_code = "GB", file = "GeoIP2-City-Test.mmdb" }, { country_code = "US", file = FLAT_FILE } })
end)

---------------------------------------------------------------------------
-- The bulk path agrees with lookup and shares its results
---------------------------------------------------------------------------

T.case("resolve(): the same fields as lookup, one shared table per combination of records", function()
  for _, ip in ipairs({ "216.160.83.56", "149.101.100.1", "1.128.0.0", "81.2.69.1", "8.8.8.8", "2001:218::1" }) do
    local r, m = g:lookup(ip), g:resolve(ip)
    for i, f in ipairs(geo.FIELDS) do T.eq(m[i], r[f[1]], ip .. " " .. f[1]) end
  end
  T.ok(rawequal(g:resolve("216.160.83.56"), g:resolve("216.160.83.57")), "the same records: the same table")
  T.ok(not rawequal(g:resolve("216.160.83.56"), g:resolve("149.101.100.1")), "other records: another table")
  T.eq(g:resolve("10.0.0.1"), nil)
end)

---------------------------------------------------------------------------
-- Every record of the source data
---------------------------------------------------------------------------

-- For every network of source-data/<name>.json, look up its first address and, when the
-- database answers with that very network, compare the normalized fields with the JSON.
local function sweep(name, check)
  local text = assert(fs.read(F .. "/source-data/" .. name .. ".json", 16 * 1024 * 1024))
  local gs = geo.open({ path(name) })
  local compared = 0
  for _, entry in ipairs(cjson.decode(text)) do
    for cidr, data in pairs(entry) do
      local net = ipaddr.parse_cidr(cidr)
      local first = net and (net.family == 4 and net.network or ipaddr.parse(net.network).text)
      local r = first and gs:lookup(first)
      if r and r.databases[1].network == net.text then
        check(r, data, cidr)
        compared = compared + 1
      end
    end
  end
  return compared
end

T.case("source-data: every GeoIP2-City-Test network", function()
  local n = sweep("GeoIP2-City-Test", function(r, data, cidr)
    local names = function(t) return t and t.names and t.names.en or nil end
    local sub = data.subdivisions and data.subdivisions[1]
    T.eq({ r.city, r.country_code, r.country_name, r.state, r.state_code, r.postal_code },
         { names(data.city), data.country and data.country.iso_code, names(data.country), names(sub),
           sub and sub.iso_code, data.postal and data.postal.code }, cidr)
    local loc = data.location or {}
    T.eq({ r.latitude, r.longitude, r.accuracy_radius, r.time_zone },
         { loc.latitude, loc.longitude, loc.accuracy_radius, loc.time_zone }, cidr)
  end)
  T.ok(n >= 50, "compared " .. n .. " networks")
end)

T.case("source-data: every GeoIP2-ISP-Test network", function()
  local n = sweep("GeoIP2-ISP-Test", function(r, data, cidr)
    T.eq({ r.isp, r.organization, r.asn, r.as_organization, r.mobile_country_code, r.mobile_network_code },
         { data.isp, data.organization, data.autonomous_system_number, data.autonomous_system_organization,
           data.mobile_country_code, data.mobile_network_code }, cidr)
  end)
  T.ok(n >= 100, "compared " .. n .. " networks")
end)

T.case("source-data: every GeoLite2-ASN-Test and GeoIP2-Connection-Type-Test network", function()
  local n = sweep("GeoLite2-ASN-Test", function(r, data, cidr)
    T.eq({ r.asn, r.as_organization }, { data.autonomous_system_number, data.autonomous_system_organization }, cidr)
  end)
  local m = sweep("GeoIP2-Connection-Type-Test", function(r, data, cidr)
    T.eq(r.connection_type, data.connection_type, cidr)
  end)
  T.ok(n >= 50 and m >= 10, "compared " .. n .. " and " .. m .. " networks")
end)

---------------------------------------------------------------------------
-- ctx.geo and the ip-details insight (no workspace)
---------------------------------------------------------------------------

local script = root .. "/insights/ip-details.lua"

local function kv(rec)
  local out = {}
  for _, it in ipairs(rec.sections[1].items) do out[it.key] = it.value end
  return out
end

T.case("ip-details: the overview's rows, the source of each value, the databases", function()
  geo.configure(ALL)
  local rec = H.run_file(script, { ip = "149.101.100.1" }, {})
  T.eq(rec.status, "ok", rec.message)
  local items = kv(rec)
  T.eq({ items.IP, items.Class, items["Organization (ISP)"], items.ASN, items["Country/Region"], items.Carrier,
         items["Latitude/Longitude"], items["Connection type"], items.Anonymizer, items.State, items["Postal code"] },
       { "149.101.100.1", "public", "Verizon Wireless", "AS6167 CELLCO-PART", "United States (US)",
         "Verizon Wireless (MCC 310, MNC 004)", "37.751, -97.822 (within 1000 km)", "Cellular", "none known",
         cjson.null, cjson.null })
  local sources = H.records(rec, 1)
  T.eq(sources[1], { Field = "Organization", Value = "Verizon Wireless", Database = "GeoIP2-ISP-Test.mmdb",
                     Built = "2026-02-04" })
  local dbs = H.records(rec, 2)
  T.eq(#dbs, 5)
  T.eq(dbs[1], { Database = "GeoIP2-City-Test.mmdb", Type = "GeoIP2-City", Built = "2026-02-04", Status = "found",
                 Network = "149.101.100.0/28", Error = cjson.null })
end)

T.case("ip-details: Milton, WA; a private address; IPv6", function()
  geo.configure(ALL)
  local items = kv(H.run_file(script, { ip = "216.160.83.56" }, {}))
  T.eq({ items["Organization (ISP)"], items.ASN, items.State, items.City, items["Postal code"], items["Registered country"] },
       { "Lariat Software (Century Link)", "AS209", "Washington (WA)", "Milton", "98354", "GB" })
  local private = H.run_file(script, { ip = "10.1.2.3" }, {})
  T.eq({ kv(private).Class, kv(private).City, private.sections[1].note },
       { "private (RFC 1918)", cjson.null, "10.1.2.3 is private (RFC 1918): the geo databases have no entry for it." })
  local v6 = kv(H.run_file(script, { ip = "2001:0218:0000::1" }, {}))
  T.eq({ v6.IP, v6["Country/Region"], v6["Time zone"] }, { "2001:218::1", "Japan (JP)", "Asia/Tokyo" })
end)

T.case("ip-details with no database: the class and how to configure one", function()
  geo.configure({})
  local rec = H.run_file(script, { ip = "100.64.0.7" }, {})
  T.eq(rec.status, "ok")
  T.eq(#rec.sections, 1)
  T.eq(kv(rec).Class, "shared (RFC 6598, carrier-grade NAT)")
  T.like(rec.sections[1].note, "^No geo database is configured, so only the class is shown%. To add one, run 'ipe%-run geo fetch' %(the free DB%-IP Lite databases%), or set IPE_GEOIP ")
  T.eq(rec.message, rec.sections[1].note)
end)

T.case("ip-details: a bad IP is refused before the script runs", function()
  local rec = H.run_file(script, { ip = "999.1.1.1" }, {})
  T.eq(rec.outcome, "param")
  T.like(rec.message, "'999%.1%.1%.1' is not an IP address")
end)

geo.configure(nil)
os.remove(FLAT)
T.done()
