/* test_mmdb.c — the ipe.mmdb binding against the MaxMind test databases in
 * tests/fixtures/mmdb (values from its EXPECTED.md and the source-data JSON), every broken
 * database there (one exact error each), and bad input. IPE_TEST_FIXTURES names that folder
 * (tests/c.t sets it); without the fixtures the test fails. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

static lua_State *L;
static char buf[4096];

static void is(const char *code, const char *want, const char *name)
{
    tap_is(lua_run(L, code, buf, sizeof buf), want, name);
}

/* A bad database: open fails with exactly "<path>: <reason>". */
static void open_fails(const char *file, const char *reason)
{
    char code[512], want[1024], name[512];
    snprintf(code, sizeof code, "local r, e = M.open(F .. '/%s') return tostring(r) .. ' ' .. e", file);
    snprintf(want, sizeof want, "nil %s/%s: %s", getenv("IPE_TEST_FIXTURES"), file, reason);
    snprintf(name, sizeof name, "%s: open fails: %s", file, reason);
    is(code, want, name);
}

/* A database that opens but whose records are bad: every lookup of ip fails with exactly
 * "<path>: lookup of <ip> failed: <reason>", through lookup, lookup_into and decode_into. */
static void lookup_fails(const char *file, const char *ip, const char *reason)
{
    char code[1024], want[1024], name[512];
    snprintf(code, sizeof code,
             "local r = assert(M.open(F .. '/%s')) local a, e1 = r:lookup('%s') "
             "local b, e2 = r:lookup_into('%s', M.fields{'x'}, {}) "
             "local ok, _, off = r:locate('%s') local c, e3 = r:decode_into(off, M.fields{'x'}, {}, 0, '%s') "
             "assert(a == nil and b == nil and c == nil and ok == true) "
             "assert(e1 == e2 and e2 == e3, e1 .. ' / ' .. tostring(e2) .. ' / ' .. tostring(e3)) return e1",
             file, ip, ip, ip, ip);
    snprintf(want, sizeof want, "%s/%s: lookup of %s failed: %s", getenv("IPE_TEST_FIXTURES"), file, ip, reason);
    snprintf(name, sizeof name, "%s: lookup of %s fails: %s", file, ip, reason);
    is(code, want, name);
}

static void good_databases(void)
{
    is("local m = assert(M.open(D .. '/GeoIP2-City-Test.mmdb')):metadata() "
       "return table.concat({m.database_type, m.ip_version, m.record_size, m.node_count, m.build_epoch, "
       "m.binary_format, table.concat(m.languages, ' '), m.description.en, m.file_size}, '|')",
       "GeoIP2-City|6|28|1547|1770245369|2.0|en zh|GeoIP2 City Test Database (fake GeoIP2 data, for example "
       "purposes only)|22569",
       "metadata of GeoIP2-City-Test");
    is("local t = {} for _, f in ipairs{'GeoLite2-City-Test', 'GeoIP2-Country-Test', 'GeoLite2-ASN-Test', "
       "'GeoIP2-ISP-Test', 'GeoIP2-Connection-Type-Test', 'GeoIP2-Anonymous-IP-Test', 'MaxMind-DB-test-ipv4-24'} do "
       "local m = assert(M.open(D .. '/' .. f .. '.mmdb')):metadata() "
       "t[#t + 1] = m.database_type .. ':' .. m.node_count .. ':' .. m.ip_version end return table.concat(t, ' ')",
       "GeoLite2-City:1465:6 GeoIP2-Country:1704:6 GeoLite2-ASN:1341:6 GeoIP2-ISP:6692:6 "
       "GeoIP2-Connection-Type:596:6 GeoIP2-Anonymous-IP:629:6 Test:163:4",
       "metadata of the other test databases (EXPECTED.md)");
    is("city = assert(M.open(D .. '/GeoIP2-City-Test.mmdb')) local r, p = city:lookup('216.160.83.56') "
       "return table.concat({r.city.names.en, r.country.iso_code, r.subdivisions[1].iso_code, r.postal.code, "
       "r.location.latitude, r.location.longitude, r.location.accuracy_radius, r.location.time_zone, "
       "r.registered_country.iso_code, r.city.geoname_id, p}, '|')",
       "Milton|US|WA|98354|47.2513|-122.3149|22|America/Los_Angeles|GB|5803556|29",
       "216.160.83.56: Milton, WA 98354 (a /29 in the IPv4 subtree of an IPv6 tree)");
    is("local r, p = city:lookup('81.2.69.160') return table.concat({r.city.names.en, r.country.iso_code, "
       "r.registered_country.iso_code, tostring(r.postal), tostring(r.city.names['zh-CN']), r.continent.code, p}, '|')",
       "London|GB|US|nil|nil|EU|27", "81.2.69.160: London, country GB vs registered US, no postal code");
    is("return city:lookup('89.160.20.128').city.names.en", "Link\xc3\xb6ping", "89.160.20.128: UTF-8 city name");
    is("local r = city:lookup('202.196.224.1') return r.represented_country.iso_code .. ' ' .. r.represented_country.type",
       "US military", "202.196.224.1: represented country");
    is("local r, p = city:lookup('2001:218::1') return r.country.iso_code .. ' ' .. r.location.latitude .. ' ' .. p",
       "JP 35.68536 32", "2001:218::1 (IPv6): JP");
    is("local a, pa = city:lookup('10.0.0.1') local b = city:lookup('127.0.0.1') "
       "return tostring(a) .. ' ' .. pa .. ' ' .. tostring(b)", "false 8 false",
       "10.0.0.1 and 127.0.0.1: not found (false), with the prefix of the empty network");
    is("local r = city:lookup('::ffff:216.160.83.56') return r.city.names.en", "Milton",
       "an IPv4-mapped IPv6 address is looked up as IPv4");
    is("local asn = assert(M.open(D .. '/GeoLite2-ASN-Test.mmdb')) local t = {} "
       "for _, ip in ipairs{'1.128.0.0', '12.81.92.1', '12.81.96.1', '1.0.0.1', '2600:6000::1', '15.230.137.45'} do "
       "local r = asn:lookup(ip) t[#t + 1] = r.autonomous_system_number .. '=' .. tostring(r.autonomous_system_organization) "
       "end t[#t + 1] = tostring(asn:lookup('127.0.0.1')) return table.concat(t, ';')",
       "1221=Telstra Pty Ltd;7018=AT&T Services;7018=nil;15169=Google Inc.;237=Merit Network Inc.;"
       "71=Hewlett-Packard Company;false",
       "GeoLite2-ASN-Test: the ASNs and organizations of EXPECTED.md");
    is("local isp = assert(M.open(D .. '/GeoIP2-ISP-Test.mmdb')) local r = isp:lookup('149.101.100.1') "
       "return table.concat({r.autonomous_system_number, r.autonomous_system_organization, r.isp, r.organization, "
       "type(r.mobile_country_code), r.mobile_country_code, r.mobile_network_code}, '|') .. '|' .. "
       "isp:lookup('8.8.8.8').isp .. '|' .. tostring(isp:lookup('8.8.8.8').autonomous_system_number)",
       "6167|CELLCO-PART|Verizon Wireless|Verizon Wireless|string|310|004|Level 3 Communications|nil",
       "GeoIP2-ISP-Test: 149.101.100.1 is Verizon Wireless, MCC '310', MNC '004' (strings)");
    is("local ct = assert(M.open(D .. '/GeoIP2-Connection-Type-Test.mmdb')) local t = {} "
       "for _, ip in ipairs{'1.0.0.1', '1.0.1.1', '201.243.200.1', '214.78.120.1', '216.160.83.56'} do "
       "t[#t + 1] = ct:lookup(ip).connection_type end return table.concat(t, ',')",
       "Cable/DSL,Cellular,Corporate,Satellite,Corporate", "GeoIP2-Connection-Type-Test");
    is("local an = assert(M.open(D .. '/GeoIP2-Anonymous-IP-Test.mmdb')) local r = an:lookup('81.2.69.1') "
       "local flags = {} for _, k in ipairs{'is_anonymous', 'is_anonymous_vpn', 'is_hosting_provider', "
       "'is_public_proxy', 'is_residential_proxy', 'is_tor_exit_node'} do flags[#flags + 1] = tostring(r[k]) end "
       "local e, pe = an:lookup('8.8.8.8') return table.concat(flags, ',') .. '|' .. type(e) .. ':' .. "
       "tostring(next(e)) .. ':' .. pe .. '|' .. tostring(an:lookup('10.0.0.1'))",
       "true,true,true,true,true,true|table:nil:7|false",
       "Anonymous-IP: every flag of 81.2.69.1; 8.8.8.8 is an empty record {}, not 'not found' like 10.0.0.1");
}

static void types_and_limits(void)
{
    is("dec = assert(M.open(D .. '/MaxMind-DB-test-decoder.mmdb')) local r = dec:lookup('::1.1.1.0') "
       "return table.concat({r.utf8_string, r.double, r.float, r.int32, r.uint16, r.uint32, r.uint64, r.uint128, "
       "tostring(r.boolean), r.bytes == '\\0\\0\\0*' and 'bytes' or '?', table.concat(r.array, ','), "
       "table.concat(r.map.mapX.arrayX, ','), r.map.mapX.utf8_stringX, type(r.uint64)}, '|')",
       "unicode! \xe2\x98\xaf - \xe2\x99\xab|42.123456|1.1|-268435456|100|268435456|1152921504606846976|"
       "1329227995784915872903807060280344576|true|bytes|1,2,3|7,8,9|hello|string",
       "every data type: uint64/uint128 beyond 2^53 as exact decimal strings, the float 1.1 as 1.1");
    is("local r = dec:lookup('::255.255.255.255') return table.concat({r.uint64, r.uint128, r.uint32, r.uint16, "
       "r.int32, tostring(r.double), tostring(r.float)}, '|')",
       "18446744073709551615|340282366920938463463374607431768211455|4294967295|65535|2147483647|inf|inf",
       "maximum values");
    is("local r = dec:lookup('::0.0.0.0') return table.concat({type(r.uint64), r.uint64, type(r.uint128), r.uint128, "
       "#r.array, tostring(next(r.map)), r.utf8_string == '' and 'empty' or '?', tostring(r.boolean)}, '|')",
       "number|0|number|0|0|nil|empty|false", "zero values: small integers are numbers, empty map and array");
    is("local r = assert(M.open(D .. '/MaxMind-DB-test-nested.mmdb')):lookup('1.1.1.1') "
       "local m = r.map1.map2.array[1].map3 return m.a .. m.b .. m.c .. #r.map1.map2.array",
       "1231", "MaxMind-DB-test-nested: maps in an array in maps");
    is("local r = assert(M.open(D .. '/MaxMind-DB-test-pointer-decoder.mmdb')) local m = r:metadata() "
       "return m.database_type", "MaxMind DB Decoder Test", "pointer-decoder opens");
    is("local r = assert(M.open(D .. '/MaxMind-DB-no-ipv4-search-tree.mmdb')) "
       "local a, pa = r:lookup('1.1.1.1') local b = r:lookup('::1.1.1.1') return a .. ' ' .. pa .. ' ' .. b",
       "::/64 0 ::/64", "no-ipv4-search-tree: every IPv4 address answers the ::/64 string record");
    is("local r = assert(M.open(D .. '/MaxMind-DB-test-metadata-pointers.mmdb')) return r:metadata().database_type",
       "Lots of pointers in metadata", "metadata with pointers");
}

static void coverage_and_input(void)
{
    is("v4 = assert(M.open(D .. '/MaxMind-DB-test-ipv4-24.mmdb')) local a, e = v4:lookup('2001:218::1') "
       "local b, f = v4:lookup_into('::1', M.fields{'ip'}, {}) local c, g = v4:locate('2001:db8::1') "
       "return tostring(a) .. ' ' .. e .. '|' .. tostring(b) .. ' ' .. f .. '|' .. tostring(c) .. ' ' .. g",
       "nil not covered|nil not covered|nil not covered",
       "an IPv4-only database asked for IPv6: nil, 'not covered' (not an error with a path)");
    is("return v4:lookup('1.1.1.1').ip .. ' ' .. v4:lookup('::ffff:1.1.1.1').ip", "1.1.1.1 1.1.1.1",
       "IPv4 and IPv4-mapped IPv6 in an IPv4 database");
    is("local t = {} for _, s in ipairs{'nope', '', '1.2.3.999', '1.2.3.4\\n', '1[.]2.3.4', ' 1.2.3.4', "
       "'1.2.3.4\\0', '\\27[31m', string.rep('9', 100)} do local r, e = v4:lookup(s) t[#t + 1] = tostring(r) .. ':' .. e end "
       "return table.concat(t, '|')",
       "nil:'nope' is not an IP address|nil:'' is not an IP address|nil:'1.2.3.999' is not an IP address|"
       "nil:'1.2.3.4\\n' is not an IP address|nil:'1[.]2.3.4' is not an IP address|"
       "nil:' 1.2.3.4' is not an IP address|nil:'1.2.3.4\\x00' is not an IP address|"
       "nil:'\\x1b[31m' is not an IP address|"
       "nil:'99999999999999999999999999999999999999999999999999999999999999999999999999999...' is not an IP address",
       "bad input: one escaped, length-limited message each (the binding takes canonical text only)");
    is("local ok, e = pcall(v4.lookup, v4, {}) return tostring(ok) .. ' ' .. tostring(e):match('string expected') ",
       "false string expected", "a non-string IP is a programming error");
}

static void fast_path(void)
{
    is("local spec = M.fields{'city.names.en', 'location.latitude', 'subdivisions.0.iso_code', 'postal.code', "
       "'country.iso_code', 'registered_country.iso_code', 'location', 'subdivisions.1.iso_code', 'nope.x'} "
       "local t = {} local ok, p = city:lookup_into('216.160.83.56', spec, t) "
       "local out = {tostring(ok), p, #spec} for i = 1, 9 do out[#out + 1] = tostring(t[i]) end "
       "return table.concat(out, '|')",
       "true|29|9|Milton|47.2513|WA|98354|US|GB|nil|nil|nil",
       "lookup_into: scalars at the paths, nil for a map (location) and absent paths; array index 0 is the first");
    is("local spec = M.fields{'city.names.en', 'postal.code'} local t = {'x', 'y', 'z'} "
       "city:lookup_into('81.2.69.160', spec, t, 1) local a = t[1] .. ',' .. t[2] .. ',' .. tostring(t[3]) "
       "local ok, p = city:lookup_into('10.0.0.1', spec, t, 1) "
       "return a .. '|' .. tostring(ok) .. ' ' .. p .. '|' .. t[1] .. ',' .. tostring(t[2]) .. ',' .. tostring(t[3])",
       "x,London,nil|false 8|x,nil,nil", "lookup_into clears its slots (from base + 1) and only those");
    is("local spec = M.fields{'city.names.en', 'country.iso_code'} local ok, p, off = city:locate('216.160.83.56') "
       "local ok2, p2, off2 = city:locate('216.160.83.57') local t = {} local d = city:decode_into(off, spec, t) "
       "local nf = {city:locate('10.0.0.1')} "
       "return table.concat({tostring(ok), p, tostring(off == off2), tostring(d), t[1], t[2], "
       "tostring(nf[1]), nf[2], tostring(nf[3])}, '|')",
       "true|29|true|true|Milton|US|false|8|nil",
       "locate names the record by offset (shared by the /29); decode_into decodes it");
    is("local ok, e = pcall(city.decode_into, city, 1e9, M.fields{'x'}, {}) return e:match('not a record offset[^)]*')",
       "not a record offset of this database", "decode_into refuses an offset beyond the data section");
    is("local t = {} for _, bad in ipairs{ {}, {''}, {'a..b'}, {'a', 'a'}, {1}, "
       "{string.rep('x.', 16) .. 'x'} } do local ok, e = pcall(M.fields, bad) t[#t + 1] = e:gsub('^.-: ', '') end "
       "return table.concat(t, '|')",
       "expected a non-empty list of paths|path 1 is not a non-empty string|"
       "path 'a..b' has an empty component|path 'a' is listed twice|path 1 is not a non-empty string|"
       "path 'x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x' is too long",
       "mmdb.fields: each bad spec is a programming error with its reason");
    is("local r = assert(M.open(D .. '/GeoIP2-City-Test.mmdb')) r:close() r:close() "
       "local ok, e = pcall(r.lookup, r, '1.1.1.1') return tostring(r) .. ' ' .. e",
       "mmdb reader (closed) mmdb: the database is closed", "a closed reader: close twice is fine, use is an error");
    is("return tostring(assert(M.open(D .. '/GeoIP2-City-Test.mmdb')):verify())", "true", "verify() on a good tree");
    is("local _, a = pcall(city.lookup, {}, '1.1.1.1') local _, b = pcall(city.lookup_into, city, '1.1.1.1', city, {}) "
       "return a:match('mmdb reader expected, got table') .. '|' .. b:match('mmdb.fields spec expected, got userdata')",
       "mmdb reader expected, got table|mmdb.fields spec expected, got userdata",
       "a method called on something else, or with a reader as its spec, is a type error");
}

static void broken_databases(void)
{
    /* libmaxminddb's bad-data: refused at open */
    open_fails("bad-data/libmaxminddb/libmaxminddb-corrupt-search-tree.mmdb",
               "the search tree is corrupt (99 of its 100 nodes are unreachable)");
    open_fails("bad-data/libmaxminddb/libmaxminddb-metadata-marker-only.mmdb", "the metadata is incomplete");
    open_fails("bad-data/libmaxminddb/libmaxminddb-offset-integer-overflow.mmdb",
               "the metadata section contains bad data");
    open_fails("bad-data/libmaxminddb/libmaxminddb-separator-record-max-left.mmdb",
               "the search tree is corrupt (node 0 points into the data section separator)");
    open_fails("bad-data/libmaxminddb/libmaxminddb-separator-record-min-left.mmdb",
               "the search tree is corrupt (node 0 points into the data section separator)");
    open_fails("bad-data/libmaxminddb/libmaxminddb-separator-record-min-right.mmdb",
               "the search tree is corrupt (node 0 points into the data section separator)");
    open_fails("bad-data/libmaxminddb/libmaxminddb-uint64-max-epoch.mmdb",
               "the metadata build_epoch 18446744073709551615 is not a plausible time");
    /* ... and refused at lookup: bad data under the record */
    lookup_fails("bad-data/libmaxminddb/libmaxminddb-deep-array-nesting.mmdb", "1.1.1.1",
                 "the data section contains bad data");
    lookup_fails("bad-data/libmaxminddb/libmaxminddb-deep-nesting.mmdb", "1.1.1.1", "the data section contains bad data");
    lookup_fails("bad-data/libmaxminddb/libmaxminddb-oversized-array.mmdb", "1.1.1.1",
                 "the data section contains bad data");
    lookup_fails("bad-data/libmaxminddb/libmaxminddb-oversized-map.mmdb", "1.1.1.1", "the data section contains bad data");
    /* two regression fixtures of libmaxminddb's metadata parser that are valid databases
     * (upstream's own tests open them and look up 1.2.3.4): they open and answer */
    is("local t = {} for _, f in ipairs{'empty-array-last-in-metadata', 'empty-map-last-in-metadata'} do "
       "local r = assert(M.open(F .. '/bad-data/libmaxminddb/libmaxminddb-' .. f .. '.mmdb')) "
       "local m = r:metadata() t[#t + 1] = r:lookup('1.2.3.4').ip .. ':' .. #m.languages .. ':' .. "
       "tostring(next(m.description)) end return table.concat(t, ' ')",
       "test:0:nil test:0:nil", "libmaxminddb-empty-{array,map}-last-in-metadata: valid, they answer {ip='test'}");
    /* maxminddb-golang and maxminddb-python */
    open_fails("bad-data/maxminddb-golang/cyclic-data-structure.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/invalid-bytes-length.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/invalid-data-record-offset.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/invalid-map-key-length.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/invalid-string-length.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/metadata-is-an-uint128.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-golang/unexpected-bytes.mmdb", "the metadata section contains bad data");
    open_fails("bad-data/maxminddb-python/bad-unicode-in-map-key.mmdb",
               "the data section separator is not 16 zero bytes");
    /* the broken ones among test-data */
    open_fails("test-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb", "the metadata is invalid");
    open_fails("test-data/MaxMind-DB-test-broken-pointers-24.mmdb",
               "the search tree is corrupt (node 36 points past the end of the data section)");
    open_fails("test-data/MaxMind-DB-test-broken-search-tree-24.mmdb",
               "the search tree is corrupt (112 of its 164 nodes are unreachable)");
    open_fails("test-data/maps-with-pointers.raw", "not a MaxMind DB file (no metadata section)");
    lookup_fails("test-data/GeoIP2-City-Test-Broken-Double-Format.mmdb", "81.2.69.160",
                 "the data section contains bad data");
    lookup_fails("test-data/GeoIP2-City-Test-Broken-Double-Format.mmdb", "2001:218::1",
                 "the data section contains bad data");
    is("local r = assert(M.open(D .. '/GeoIP2-City-Test-Broken-Double-Format.mmdb')) return tostring(r:lookup('10.0.0.1'))",
       "false", "Broken-Double-Format: an address without a record is still just not found");
}

static void bad_files(const char *tmp)
{
    char path[256], code[2048], want[1024];
    is("local r, e = M.open('/nonexistent/GeoLite2-City.mmdb') return tostring(r) .. ' ' .. e",
       "nil /nonexistent/GeoLite2-City.mmdb: No such file or directory", "a missing file");
    is("local r, e = M.open('/tmp') return e", "/tmp: is a directory", "a directory");
    is("local r, e = M.open('/tmp\\0/etc/passwd') return e", "/tmp: the path holds a NUL byte", "a NUL byte in a path");
    is("local r, e = M.open('/etc/passwd') return e", "/etc/passwd: not a MaxMind DB file (no metadata section)",
       "a text file");
    is("local r, e = M.open('/dev/zero') return e", "/dev/zero: is not a regular file", "a device");
    snprintf(path, sizeof path, "%s/empty.mmdb", tmp);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    snprintf(code, sizeof code, "return select(2, M.open('%s'))", path);
    snprintf(want, sizeof want, "%s: is empty", path);
    is(code, want, "an empty file");
    /* the first half of a real database: no metadata left */
    snprintf(path, sizeof path, "%s/half.mmdb", tmp);
    snprintf(code, sizeof code,
             "local s = io.open(D .. '/GeoIP2-City-Test.mmdb', 'rb'):read('*a') local f = io.open('%s', 'wb') "
             "f:write(s:sub(1, #s / 2)) f:close() return select(2, M.open('%s'))", path, path);
    snprintf(want, sizeof want, "%s: not a MaxMind DB file (no metadata section)", path);
    is(code, want, "a truncated download");
    /* the tree of a real database overwritten with 0xff bytes: records point past the data */
    snprintf(path, sizeof path, "%s/tree.mmdb", tmp);
    snprintf(code, sizeof code,
             "local s = io.open(D .. '/GeoIP2-City-Test.mmdb', 'rb'):read('*a') local f = io.open('%s', 'wb') "
             "f:write(string.rep('\\255', 700) .. s:sub(701)) f:close() return select(2, M.open('%s'))", path, path);
    snprintf(want, sizeof want,
             "%s: the search tree is corrupt (node 0 points past the end of the data section)", path);
    is(code, want, "a search tree overwritten with garbage");
    /* a path with a control character is escaped in the message */
    snprintf(code, sizeof code, "return select(2, M.open('%s/new\\nline.mmdb'))", tmp);
    snprintf(want, sizeof want, "%s/new\\nline.mmdb: No such file or directory", tmp);
    is(code, want, "a control character in a path is escaped");
}

int main(void)
{
    const char *fixtures = getenv("IPE_TEST_FIXTURES") ? getenv("IPE_TEST_FIXTURES") : "tests/fixtures/mmdb";
    char tmp[] = "/tmp/ipe-test-mmdb-XXXXXX";
    struct stat st;
    if (stat(fixtures, &st) != 0) {
        printf("not ok 1 - the MaxMind test databases: %s not found (run from the repository root, or set "
               "IPE_TEST_FIXTURES)\n1..1\n", fixtures);
        return 1;
    }
    setenv("IPE_TEST_FIXTURES", fixtures, 1);
    if (!mkdtemp(tmp)) return 1;
    L = ipe_engine_new();
    char setup[2048];
    snprintf(setup, sizeof setup,
             "M = require('ipe.mmdb') F = '%s' D = F .. '/test-data' return M.lib_version()", fixtures);
    lua_run(L, setup, buf, sizeof buf);
    printf("# libmaxminddb %s\n", buf);
    good_databases();
    types_and_limits();
    coverage_and_input();
    fast_path();
    broken_databases();
    bad_files(tmp);
    ipe_engine_close(L);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmp);
    return tap_done();
}
