-- Tests for ipe.ipaddr.
local T = require "ipe.testing"
local ipaddr = require "ipe.ipaddr"

-- bad(fn, input, msg): fn(input) must return nil, msg exactly.
local function bad(fn, input, msg)
  local v, err = fn(input)
  T.eq(v, nil, "result for " .. T.show(input))
  T.eq(err, msg, "error for " .. T.show(input))
end

local function not_ip(s) return "'" .. s .. "' is not an IP address" end

---------------------------------------------------------------------------
-- parse: IPv4
---------------------------------------------------------------------------

T.case("parse plain IPv4 returns the address object", function()
  T.eq(ipaddr.parse("1.2.3.4"), { family = 4, text = "1.2.3.4", bytes = "\1\2\3\4" })
  T.eq(ipaddr.parse("0.0.0.0"), { family = 4, text = "0.0.0.0", bytes = "\0\0\0\0" })
  T.eq(ipaddr.parse("255.255.255.255"), { family = 4, text = "255.255.255.255", bytes = "\255\255\255\255" })
  T.eq(ipaddr.parse("192.168.100.10").bytes, "\192\168\100\10")
  T.eq(ipaddr.parse("100.0.10.200").text, "100.0.10.200")
end)

T.case("parse IPv4 trims surrounding white space", function()
  T.eq(ipaddr.parse("  8.8.8.8 ").text, "8.8.8.8")
  T.eq(ipaddr.parse("\t8.8.4.4\r\n").text, "8.8.4.4")
end)

T.case("parse rejects malformed IPv4 with the exact message", function()
  for _, s in ipairs {
    "010.1.1.1", "1.2.3.04", "1.2.3.00", "00.0.0.0", "1.2.3.256", "1.2.3.999", "256.1.1.1", "1.2.3",
    "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.-4", "+1.2.3.4", "1.2.3.4a", "0x7f.0.0.1",
    "16909060", "1.2.3.4.", "1.2.3.1000", "1 .2.3.4", "a.b.c.d", "1.2.3.4:", "1,2,3,4",
  } do
    bad(ipaddr.parse, s, not_ip(s))
  end
end)

T.case("parse reports empty input", function()
  bad(ipaddr.parse, "", "empty IP address")
  bad(ipaddr.parse, "   \t\n", "empty IP address")
  bad(ipaddr.parse, nil, "empty IP address")
end)

T.case("parse of a non-string", function()
  bad(ipaddr.parse, 42, "'42' is not an IP address")
  bad(ipaddr.parse, true, "a boolean is not an IP address")
  bad(ipaddr.parse, {}, "a table is not an IP address")
  local a = ipaddr.parse("10.0.0.1")
  T.ok(ipaddr.parse(a) == a, "an address object passes through unchanged")
end)

T.case("a CIDR where an IP is expected is named a network", function()
  bad(ipaddr.parse, "1.2.3.4/24", "'1.2.3.4/24' is a network, not an IP address")
  bad(ipaddr.parse, "10.0.0.0/8", "'10.0.0.0/8' is a network, not an IP address")
  bad(ipaddr.parse, "2001:db8::/32", "'2001:db8::/32' is a network, not an IP address")
  bad(ipaddr.parse, " 1.2.3.4 / 24 ", "'1.2.3.4 / 24' is a network, not an IP address")
  bad(ipaddr.parse, "1.2.3.4/x", not_ip("1.2.3.4/x"))
  bad(ipaddr.parse, "abc/24", not_ip("abc/24"))
end)

T.case("control characters in messages are escaped", function()
  bad(ipaddr.parse, "1.2\0273.4", "'1.2\\x1b3.4' is not an IP address")
  bad(ipaddr.parse, "1.2\n3.4", "'1.2\\n3.4' is not an IP address")
  bad(ipaddr.parse, "1.2\t.3.4", "'1.2\\t.3.4' is not an IP address")
  bad(ipaddr.parse, "a\rb", "'a\\rb' is not an IP address")
  bad(ipaddr.parse, "\0271.2.3.4", "'\\x1b1.2.3.4' is not an IP address")
  bad(ipaddr.parse, "a\\b", "'a\\\\b' is not an IP address")
  bad(ipaddr.parse, "x\127y", "'x\\x7fy' is not an IP address")
  bad(ipaddr.parse, "caf\195\169", "'caf\\xc3\\xa9' is not an IP address")
  T.eq(ipaddr.quote("\0\31"), "'\\x00\\x1f'")
end)

T.case("long input is cut in messages", function()
  local s = string.rep("9", 100)
  bad(ipaddr.parse, s, "'" .. string.rep("9", 77) .. "...' is not an IP address")
  bad(ipaddr.parse, string.rep("9", 80), not_ip(string.rep("9", 80)))
end)

---------------------------------------------------------------------------
-- parse: defanged
---------------------------------------------------------------------------

T.case("defanged IPv4", function()
  for _, s in ipairs {
    "1[.]2[.]3[.]4", "1(.)2(.)3(.)4", "1{.}2{.}3{.}4", "1[dot]2[dot]3[dot]4", "1(dot)2(dot)3(dot)4",
    "1{dot}2{dot}3{dot}4", "1[DOT]2[Dot]3[dot]4", "1.2.3[.]4", " 1[.]2[.]3[.]4 ",
  } do
    T.eq(ipaddr.normalize(s), "1.2.3.4", s)
  end
end)

T.case("defanged IPv6", function()
  T.eq(ipaddr.normalize("2001[:]db8[:]:1"), "2001:db8::1")
  T.eq(ipaddr.normalize("2001[:]db8[:][:]1"), "2001:db8::1")
  T.eq(ipaddr.normalize("fe80(:)(:)1"), "fe80::1")
  T.eq(ipaddr.normalize("::ffff[:]10[.]1[.]2[.]3"), "10.1.2.3")
end)

T.case("defanging does not make a bad address good", function()
  bad(ipaddr.parse, "1[.]2[.]3[.]999", not_ip("1[.]2[.]3[.]999"))
  bad(ipaddr.parse, "1[.2.3.4", not_ip("1[.2.3.4"))
  bad(ipaddr.parse, "1[x]2[.]3[.]4", not_ip("1[x]2[.]3[.]4"))
end)

---------------------------------------------------------------------------
-- parse: IPv6
---------------------------------------------------------------------------

T.case("IPv6 in every spelling", function()
  local want = "2001:db8::1"
  for _, s in ipairs {
    "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:0:0:0:1", "2001:db8::1", "2001:DB8::1",
    "2001:0DB8::0001", "[2001:db8::1]", " [2001:db8::1] ", "2001:db8::0.0.0.1", "2001:db8:0:0:0:0:0.0.0.1",
    "2001:db8::1%eth0", "[2001:db8::1%25eth0]", "2001:db8:0::1",
  } do
    T.eq(ipaddr.normalize(s), want, s)
  end
  local a = ipaddr.parse("2001:db8::1")
  T.eq(a, { family = 6, text = "2001:db8::1", bytes = "\32\1\13\184" .. string.rep("\0", 11) .. "\1" })
end)

T.case("IPv6 zone ids are dropped", function()
  T.eq(ipaddr.parse("fe80::1%eth0"), ipaddr.parse("fe80::1"))
  T.eq(ipaddr.normalize("fe80::1%12"), "fe80::1")
  T.eq(ipaddr.normalize("[fe80::abcd%en0]"), "fe80::abcd")
end)

T.case("RFC 5952 canonical text", function()
  local cases = {
    { "::", "::" }, { "0:0:0:0:0:0:0:0", "::" }, { "::1", "::1" }, { "1::", "1::" },
    { "1:0:0:0:0:0:0:0", "1::" }, { "0:0:0:0:0:0:0:1", "::1" },
    { "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8" },
    { "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },      -- a single zero group is not compressed
    { "2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },       -- even when the input did
    { "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },               -- longest run wins
    { "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },         -- leftmost on a tie
    { "0:0:1:0:0:1:0:0", "::1:0:0:1:0:0" },
    { "1:0:0:2:0:0:0:3", "1:0:0:2::3" },
    { "0:8:0:0:0:0:0:0", "0:8::" },
    { "ABCD:EF01:0023:4567:89AB:CDEF:0000:0001", "abcd:ef01:23:4567:89ab:cdef:0:1" },
    { "fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156" },
    { "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0" },
    { "::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8" },
    { "64:ff9b::192.0.2.33", "64:ff9b::c000:221" },
    { "::1.2.3.4", "::102:304" },                             -- IPv4-compatible stays IPv6
    { "::ffff:0:1.2.3.4", "::ffff:0:102:304" },              -- IPv4-translated stays IPv6
  }
  for _, c in ipairs(cases) do T.eq(ipaddr.normalize(c[1]), c[2], c[1]) end
end)

T.case("IPv4-mapped IPv6 is the IPv4 address", function()
  local want = { family = 4, text = "1.2.3.4", bytes = "\1\2\3\4" }
  T.eq(ipaddr.parse("::ffff:1.2.3.4"), want)
  T.eq(ipaddr.parse("::ffff:0102:0304"), want)
  T.eq(ipaddr.parse("::FFFF:102:304"), want)
  T.eq(ipaddr.parse("0:0:0:0:0:ffff:1.2.3.4"), want)
  T.eq(ipaddr.parse("[::ffff:1.2.3.4]"), want)
  T.eq(ipaddr.parse("0000:0000:0000:0000:0000:ffff:0102:0304"), want)
  T.eq(ipaddr.family("::ffff:10.0.0.1"), 4)
end)

T.case("parse rejects malformed IPv6 with the exact message", function()
  for _, s in ipairs {
    ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1::", "1::2:",
    ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", "g::1", "::ffff:1.2.3", "::ffff:1.2.3.256", "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:7::8", "::ffff:01.2.3.4", "fe80::1%", "fe80::1%a b",
    "[2001:db8::1", "2001:db8::1]", "[[::1]]", "1.2.3.4::", "::1.2.3.4.5", "2001:db8:::1", "0x1::",
    "::-1", "1:2:3:4:5:6:7:8%eth0%1", "1.2.3.4%eth0",
  } do
    bad(ipaddr.parse, s, not_ip(s))
  end
end)

---------------------------------------------------------------------------
-- normalize, family, to_int, from_int, compare
---------------------------------------------------------------------------

T.case("normalize", function()
  T.eq(ipaddr.normalize("10.0.0.1"), "10.0.0.1")
  T.eq(ipaddr.normalize(" 2001:DB8:0:0::0:1 "), "2001:db8::1")
  T.eq(ipaddr.normalize(ipaddr.parse("::1")), "::1")
  bad(ipaddr.normalize, "", "empty IP address")
  bad(ipaddr.normalize, "1.2.3.4.5", not_ip("1.2.3.4.5"))
  bad(ipaddr.normalize, "1.2.3.0/24", "'1.2.3.0/24' is a network, not an IP address")
end)

T.case("is_ip", function()
  T.eq(ipaddr.is_ip("1.2.3.4"), true)
  T.eq(ipaddr.is_ip("1[.]2[.]3[.]4"), true)
  T.eq(ipaddr.is_ip("::"), true)
  T.eq(ipaddr.is_ip("1.2.3.4/32"), false)
  T.eq(ipaddr.is_ip("host.example"), false)
  T.eq(ipaddr.is_ip(nil), false)
end)

T.case("family", function()
  T.eq(ipaddr.family("1.2.3.4"), 4)
  T.eq(ipaddr.family("::1"), 6)
  T.eq(ipaddr.family(" 1[.]2[.]3[.]4"), 4)
  bad(ipaddr.family, "x", not_ip("x"))
  bad(ipaddr.family, "", "empty IP address")
end)

T.case("to_int and from_int", function()
  T.eq(ipaddr.to_int("0.0.0.0"), 0)
  T.eq(ipaddr.to_int("0.0.0.1"), 1)
  T.eq(ipaddr.to_int("1.2.3.4"), 16909060)
  T.eq(ipaddr.to_int("255.255.255.255"), 4294967295)
  T.eq(ipaddr.to_int("128.0.0.0"), 2147483648)
  T.eq(ipaddr.to_int("::ffff:1.2.3.4"), 16909060)
  T.eq(ipaddr.to_int(ipaddr.parse("10.0.0.1")), 167772161)
  bad(ipaddr.to_int, "::1", "'::1' is not an IPv4 address")
  bad(ipaddr.to_int, "1.2.3", not_ip("1.2.3"))
  T.eq(ipaddr.from_int(0), "0.0.0.0")
  T.eq(ipaddr.from_int(16909060), "1.2.3.4")
  T.eq(ipaddr.from_int(4294967295), "255.255.255.255")
  T.eq(ipaddr.from_int(2147483648), "128.0.0.0")
  bad(ipaddr.from_int, -1, "'-1' is not an IPv4 number (0-4294967295)")
  bad(ipaddr.from_int, 4294967296, "'4294967296' is not an IPv4 number (0-4294967295)")
  bad(ipaddr.from_int, 1.5, "'1.5' is not an IPv4 number (0-4294967295)")
  bad(ipaddr.from_int, "1", "'1' is not an IPv4 number (0-4294967295)")
  for _, n in ipairs { 0, 1, 255, 256, 65535, 65536, 16777215, 16777216, 3232235777, 4294967294 } do
    T.eq(ipaddr.to_int(ipaddr.from_int(n)), n, "round trip " .. n)
  end
end)

T.case("compare orders numerically, IPv4 before IPv6", function()
  T.eq(ipaddr.compare("1.2.3.4", "1.2.3.4"), 0)
  T.eq(ipaddr.compare("1.2.3.4", "1[.]2[.]3[.]4"), 0)
  T.eq(ipaddr.compare("9.0.0.0", "10.0.0.0"), -1)
  T.eq(ipaddr.compare("10.0.0.0", "9.255.255.255"), 1)
  T.eq(ipaddr.compare("1.2.3.4", "1.2.3.5"), -1)
  T.eq(ipaddr.compare("255.255.255.255", "::"), -1)
  T.eq(ipaddr.compare("::", "0.0.0.0"), 1)
  T.eq(ipaddr.compare("::ffff:1.2.3.4", "1.2.3.4"), 0)
  T.eq(ipaddr.compare("2001:db8::2", "2001:db8::10"), -1)
  T.eq(ipaddr.compare("fe80::", "2001:db8::"), 1)
  bad(function(x) return ipaddr.compare(x, "1.2.3.4") end, "bad", not_ip("bad"))
  bad(function(x) return ipaddr.compare("1.2.3.4", x) end, "", "empty IP address")
end)

T.case("less sorts addresses", function()
  local list = { "10.0.0.2", "::1", "9.9.9.9", "10.0.0.10", "2001:db8::1", "1.1.1.1", "10.0.0.1" }
  table.sort(list, ipaddr.less)
  T.eq(list, { "1.1.1.1", "9.9.9.9", "10.0.0.1", "10.0.0.2", "10.0.0.10", "::1", "2001:db8::1" })
  T.eq(ipaddr.less("1.2.3.4", "junk"), true)
  T.eq(ipaddr.less("junk", "1.2.3.4"), false)
end)

---------------------------------------------------------------------------
-- CIDR
---------------------------------------------------------------------------

T.case("parse_cidr IPv4", function()
  T.eq(ipaddr.parse_cidr("10.0.0.0/8"), {
    family = 4, prefix = 8, network = "10.0.0.0", text = "10.0.0.0/8", first = "\10\0\0\0", last = "\10\255\255\255",
  })
  T.eq(ipaddr.parse_cidr("192.168.1.0/24").text, "192.168.1.0/24")
  T.eq(ipaddr.parse_cidr("0.0.0.0/0").last, "\255\255\255\255")
  T.eq(ipaddr.parse_cidr("172.16.0.0/12").last, "\172\31\255\255")
  T.eq(ipaddr.parse_cidr(" 1[.]2[.]3[.]0/24 ").text, "1.2.3.0/24")
  T.eq(ipaddr.parse_cidr("1.2.3.0 / 24").text, "1.2.3.0/24")
  T.eq(ipaddr.parse_cidr("10.0.0.0/08").text, "10.0.0.0/8")
end)

T.case("parse_cidr masks host bits", function()
  T.eq(ipaddr.parse_cidr("10.1.2.3/8").text, "10.0.0.0/8")
  T.eq(ipaddr.parse_cidr("10.1.2.3/8").network, "10.0.0.0")
  T.eq(ipaddr.parse_cidr("192.168.1.77/26").text, "192.168.1.64/26")
  T.eq(ipaddr.parse_cidr("192.168.1.77/26").last, "\192\168\1\127")
  T.eq(ipaddr.parse_cidr("255.255.255.255/1").text, "128.0.0.0/1")
  T.eq(ipaddr.parse_cidr("2001:db8:abcd:12::1/48").text, "2001:db8:abcd::/48")
  T.eq(ipaddr.parse_cidr("2001:db8::ffff/125").text, "2001:db8::fff8/125")
end)

T.case("parse_cidr bare addresses are host networks", function()
  local n = ipaddr.parse_cidr("1.2.3.4")
  T.eq(n, { family = 4, prefix = 32, network = "1.2.3.4", text = "1.2.3.4/32", first = "\1\2\3\4", last = "\1\2\3\4" })
  T.eq(ipaddr.parse_cidr("2001:db8::1").text, "2001:db8::1/128")
  T.eq(ipaddr.parse_cidr(ipaddr.parse("::1")).text, "::1/128")
  T.eq(ipaddr.parse_cidr(ipaddr.parse("8.8.8.8")).text, "8.8.8.8/32")
  local net = ipaddr.parse_cidr("10.0.0.0/8")
  T.ok(ipaddr.parse_cidr(net) == net, "a network object passes through")
end)

T.case("parse_cidr IPv6", function()
  local n = ipaddr.parse_cidr("2001:DB8::/32")
  T.eq(n.family, 6)
  T.eq(n.prefix, 32)
  T.eq(n.network, "2001:db8::")
  T.eq(n.text, "2001:db8::/32")
  T.eq(n.first, "\32\1\13\184" .. string.rep("\0", 12))
  T.eq(n.last, "\32\1\13\184" .. string.rep("\255", 12))
  T.eq(ipaddr.parse_cidr("::/0").text, "::/0")
  T.eq(ipaddr.parse_cidr("[2001:db8::]/64").text, "2001:db8::/64")
  T.eq(ipaddr.parse_cidr("fe80::1%eth0/64").text, "fe80::/64")
end)

T.case("parse_cidr IPv4-mapped networks", function()
  T.eq(ipaddr.parse_cidr("::ffff:10.0.0.0/104").text, "10.0.0.0/8")
  T.eq(ipaddr.parse_cidr("::ffff:1.2.3.4/128").text, "1.2.3.4/32")
  T.eq(ipaddr.parse_cidr("::ffff:0:0/96").text, "0.0.0.0/0")
  T.eq(ipaddr.parse_cidr("::ffff:1.2.3.4").text, "1.2.3.4/32")
  T.eq(ipaddr.parse_cidr("::ffff:1.2.3.4/64").text, "::/64")
  T.eq(ipaddr.parse_cidr("::ffff:1.2.3.4/64").family, 6)
end)

T.case("parse_cidr errors", function()
  bad(ipaddr.parse_cidr, "1.2.3.4/33", "'1.2.3.4/33' is not a valid CIDR: prefix length 33 is out of range 0-32")
  bad(ipaddr.parse_cidr, "2001:db8::/129", "'2001:db8::/129' is not a valid CIDR: prefix length 129 is out of range 0-128")
  bad(ipaddr.parse_cidr, "::ffff:1.2.3.4/129", "'::ffff:1.2.3.4/129' is not a valid CIDR: prefix length 129 is out of range 0-128")
  bad(ipaddr.parse_cidr, "abc/8", "'abc/8' is not a valid CIDR: 'abc' is not an IP address")
  bad(ipaddr.parse_cidr, "1.2.3.0/x", "'1.2.3.0/x' is not a valid CIDR: prefix length 'x' is not a number")
  bad(ipaddr.parse_cidr, "1.2.3.0/", "'1.2.3.0/' is not a valid CIDR: prefix length '' is not a number")
  bad(ipaddr.parse_cidr, "1.2.3.0/-1", "'1.2.3.0/-1' is not a valid CIDR: prefix length '-1' is not a number")
  bad(ipaddr.parse_cidr, "1.2.3.0/24/8", "'1.2.3.0/24/8' is not a valid CIDR: prefix length '24/8' is not a number")
  bad(ipaddr.parse_cidr, "1.2.3.0/2.5", "'1.2.3.0/2.5' is not a valid CIDR: prefix length '2.5' is not a number")
  bad(ipaddr.parse_cidr, "/8", "'/8' is not a valid CIDR: empty IP address")
  bad(ipaddr.parse_cidr, "abc", "'abc' is not a valid CIDR: 'abc' is not an IP address")
  bad(ipaddr.parse_cidr, "1.2.3.256/24", "'1.2.3.256/24' is not a valid CIDR: '1.2.3.256' is not an IP address")
  bad(ipaddr.parse_cidr, "a\027/8", "'a\\x1b/8' is not a valid CIDR: 'a\\x1b' is not an IP address")
  bad(ipaddr.parse_cidr, "", "empty CIDR")
  bad(ipaddr.parse_cidr, "  ", "empty CIDR")
  bad(ipaddr.parse_cidr, nil, "empty CIDR")
  bad(ipaddr.parse_cidr, 8, "a number is not a valid CIDR")
end)

T.case("contains", function()
  T.eq(ipaddr.contains("10.0.0.0/8", "10.0.0.0"), true)
  T.eq(ipaddr.contains("10.0.0.0/8", "10.255.255.255"), true)
  T.eq(ipaddr.contains("10.0.0.0/8", "11.0.0.0"), false)
  T.eq(ipaddr.contains("10.0.0.0/8", "9.255.255.255"), false)
  T.eq(ipaddr.contains("192.168.1.64/26", "192.168.1.127"), true)
  T.eq(ipaddr.contains("192.168.1.64/26", "192.168.1.128"), false)
  T.eq(ipaddr.contains("192.168.1.64/26", "192.168.1.63"), false)
  T.eq(ipaddr.contains("0.0.0.0/0", "255.255.255.255"), true)
  T.eq(ipaddr.contains("1.2.3.4", "1.2.3.4"), true)
  T.eq(ipaddr.contains("1.2.3.4", "1.2.3.5"), false)
  T.eq(ipaddr.contains("2001:db8::/32", "2001:db8:ffff::1"), true)
  T.eq(ipaddr.contains("2001:db8::/32", "2001:db9::1"), false)
  T.eq(ipaddr.contains("fe80::/10", "febf:ffff::1"), true)
  T.eq(ipaddr.contains("fe80::/10", "fec0::1"), false)
  T.eq(ipaddr.contains("::/0", "ffff::1"), true)
end)

T.case("contains: families must match, mapped counts as IPv4", function()
  T.eq(ipaddr.contains("0.0.0.0/0", "::1"), false)
  T.eq(ipaddr.contains("::/0", "1.2.3.4"), false)
  T.eq(ipaddr.contains("10.0.0.0/8", "::ffff:10.1.2.3"), true)
  T.eq(ipaddr.contains("::ffff:10.0.0.0/104", "10.1.2.3"), true)
  T.eq(ipaddr.contains("::ffff:0:0/96", "8.8.8.8"), true)
end)

T.case("contains accepts objects", function()
  local net = ipaddr.parse_cidr("172.16.0.0/12")
  T.eq(ipaddr.contains(net, ipaddr.parse("172.31.255.255")), true)
  T.eq(ipaddr.contains(net, "172.32.0.0"), false)
  T.eq(ipaddr.contains(ipaddr.parse("1.1.1.1"), "1.1.1.1"), true)
end)

T.case("contains errors", function()
  bad(function(x) return ipaddr.contains(x, "1.2.3.4") end, "10/8",
    "'10/8' is not a valid CIDR: '10' is not an IP address")
  bad(function(x) return ipaddr.contains("10.0.0.0/8", x) end, "10.0.0", not_ip("10.0.0"))
  bad(function(x) return ipaddr.contains("10.0.0.0/8", x) end, "10.0.0.0/8",
    "'10.0.0.0/8' is a network, not an IP address")
end)

---------------------------------------------------------------------------
-- classify, describe, is_public, is_internal
---------------------------------------------------------------------------

T.case("classify IPv4", function()
  local cases = {
    { "0.0.0.0", "unspecified" }, { "0.0.0.1", "reserved" }, { "0.255.255.255", "reserved" },
    { "1.0.0.0", "public" }, { "8.8.8.8", "public" }, { "9.255.255.255", "public" },
    { "10.0.0.0", "private" }, { "10.255.255.255", "private" }, { "11.0.0.0", "public" },
    { "100.63.255.255", "public" }, { "100.64.0.0", "shared" }, { "100.127.255.255", "shared" },
    { "100.128.0.0", "public" },
    { "126.255.255.255", "public" }, { "127.0.0.1", "loopback" }, { "127.255.255.255", "loopback" },
    { "128.0.0.0", "public" },
    { "169.253.255.255", "public" }, { "169.254.0.1", "link-local" }, { "169.254.255.255", "link-local" },
    { "169.255.0.0", "public" },
    { "172.15.255.255", "public" }, { "172.16.0.0", "private" }, { "172.31.255.255", "private" },
    { "172.32.0.0", "public" },
    { "192.0.0.0", "reserved" }, { "192.0.0.255", "reserved" }, { "192.0.1.0", "public" },
    { "192.0.2.0", "documentation" }, { "192.0.2.255", "documentation" }, { "192.0.3.0", "public" },
    { "192.88.98.255", "public" }, { "192.88.99.1", "reserved" }, { "192.88.100.0", "public" },
    { "192.167.255.255", "public" }, { "192.168.0.0", "private" }, { "192.168.255.255", "private" },
    { "192.169.0.0", "public" },
    { "198.17.255.255", "public" }, { "198.18.0.0", "benchmarking" }, { "198.19.255.255", "benchmarking" },
    { "198.20.0.0", "public" },
    { "198.51.100.7", "documentation" }, { "198.51.101.0", "public" },
    { "203.0.112.255", "public" }, { "203.0.113.9", "documentation" }, { "203.0.114.0", "public" },
    { "223.255.255.255", "public" }, { "224.0.0.0", "multicast" }, { "239.255.255.255", "multicast" },
    { "240.0.0.0", "reserved" }, { "255.255.255.254", "reserved" }, { "255.255.255.255", "broadcast" },
  }
  for _, c in ipairs(cases) do T.eq(ipaddr.classify(c[1]), c[2], c[1]) end
end)

T.case("classify IPv6", function()
  local cases = {
    { "::", "unspecified" }, { "::1", "loopback" }, { "::2", "reserved" }, { "::1.2.3.4", "reserved" },
    { "::ffff:10.1.1.1", "private" }, { "::ffff:8.8.8.8", "public" },
    { "64:ff9b::808:808", "reserved" }, { "64:ff9b:1::1", "reserved" },
    { "100::1", "reserved" }, { "100::ffff:ffff:ffff:ffff", "reserved" }, { "100:0:0:1::", "reserved" },
    { "1fff:ffff::1", "reserved" },
    { "2000::", "public" }, { "2001::1", "reserved" }, { "2001:0:ffff::1", "reserved" },
    { "2001:1::1", "reserved" }, { "2001:2::1", "benchmarking" }, { "2001:2:0:ffff::1", "benchmarking" },
    { "2001:2:1::1", "reserved" }, { "2001:1ff:ffff::1", "reserved" }, { "2001:200::1", "public" },
    { "2001:db7:ffff::1", "public" }, { "2001:db8::1", "documentation" },
    { "2001:db8:ffff:ffff::1", "documentation" }, { "2001:db9::1", "public" },
    { "2002:c000:204::1", "public" }, { "2606:4700:4700::1111", "public" }, { "2a00:1450::1", "public" },
    { "3ffe:ffff::1", "public" }, { "3fff::1", "documentation" }, { "3fff:fff::1", "documentation" },
    { "3fff:1000::1", "public" }, { "4000::1", "reserved" }, { "8000::1", "reserved" },
    { "fbff::1", "reserved" }, { "fc00::1", "private" }, { "fd12:3456::1", "private" },
    { "fe00::1", "reserved" }, { "fe80::1", "link-local" }, { "febf:ffff::1", "link-local" },
    { "fec0::1", "reserved" }, { "ff00::", "multicast" }, { "ff02::1", "multicast" },
    { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast" },
  }
  for _, c in ipairs(cases) do T.eq(ipaddr.classify(c[1]), c[2], c[1]) end
end)

T.case("classify accepts objects and any spelling", function()
  T.eq(ipaddr.classify(ipaddr.parse("192.168.0.1")), "private")
  T.eq(ipaddr.classify("10[.]0[.]0[.]1"), "private")
  T.eq(ipaddr.classify(" [FE80::1%eth0] "), "link-local")
end)

T.case("classify errors", function()
  bad(ipaddr.classify, "999.1.1.1", not_ip("999.1.1.1"))
  bad(ipaddr.classify, "", "empty IP address")
  bad(ipaddr.classify, "10.0.0.0/8", "'10.0.0.0/8' is a network, not an IP address")
  bad(ipaddr.describe, "nope", not_ip("nope"))
  bad(ipaddr.is_public, "nope", not_ip("nope"))
  bad(ipaddr.is_internal, "nope", not_ip("nope"))
end)

T.case("describe", function()
  T.eq(ipaddr.describe("10.1.2.3"),
    { class = "private", range = "10.0.0.0/8", reference = "RFC 1918", label = "private (RFC 1918)" })
  T.eq(ipaddr.describe("100.64.1.1"), {
    class = "shared", range = "100.64.0.0/10", reference = "RFC 6598", note = "carrier-grade NAT",
    label = "shared (RFC 6598, carrier-grade NAT)",
  })
  T.eq(ipaddr.describe("0.0.0.0"), {
    class = "unspecified", range = "0.0.0.0/32", reference = "RFC 1122", note = "this host",
    label = "unspecified (RFC 1122, this host)",
  })
  T.eq(ipaddr.describe("255.255.255.255").range, "255.255.255.255/32")
  T.eq(ipaddr.describe("198.51.100.1").label, "documentation (RFC 5737, TEST-NET-2)")
  T.eq(ipaddr.describe("2001::1").label, "reserved (RFC 4380, Teredo)")
  T.eq(ipaddr.describe("2001:10::1").label, "reserved (RFC 2928, IETF protocol assignments)")
  T.eq(ipaddr.describe("fd00::1"), {
    class = "private", range = "fc00::/7", reference = "RFC 4193", note = "unique local",
    label = "private (RFC 4193, unique local)",
  })
  T.eq(ipaddr.describe("9000::1").label, "reserved (RFC 4291, outside global unicast 2000::/3)")
  T.eq(ipaddr.describe("8.8.8.8"), { class = "public", label = "public" })
  T.eq(ipaddr.describe("2606:4700::1"), { class = "public", label = "public" })
end)

T.case("is_public and is_internal", function()
  local internal = { "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.1.1",
    "0.0.0.0", "::", "::1", "fd00::1", "fe80::1", "::ffff:192.168.0.1" }
  for _, s in ipairs(internal) do
    T.eq(ipaddr.is_internal(s), true, s)
    T.eq(ipaddr.is_public(s), false, s)
  end
  local neither = { "224.0.0.1", "192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255", "0.1.2.3",
    "ff02::1", "2001:db8::1", "2001::1", "100::1" }
  for _, s in ipairs(neither) do
    T.eq(ipaddr.is_internal(s), false, s)
    T.eq(ipaddr.is_public(s), false, s)
  end
  for _, s in ipairs { "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8" } do
    T.eq(ipaddr.is_internal(s), false, s)
    T.eq(ipaddr.is_public(s), true, s)
  end
end)

T.case("the range table is exported and consistent", function()
  T.ok(#ipaddr.ranges >= 30, "at least 30 ranges")
  local classes = {}
  for _, e in ipairs(ipaddr.ranges) do
    local net = ipaddr.parse_cidr(e.range)
    T.eq(net.text, e.range, "canonical range text")
    T.eq(e.family, net.family, e.range)
    T.like(e.reference, "^RFC %d+$", e.range)
    -- the network address falls in this range or in a more specific one inside it
    local d = ipaddr.describe(net.network)
    local inner = ipaddr.parse_cidr(d.range)
    T.ok(inner.prefix >= net.prefix and ipaddr.contains(net, inner.network), e.range .. " shadowed by " .. d.range)
    classes[e.class] = true
  end
  T.eq(classes, {
    unspecified = true, loopback = true, private = true, shared = true, ["link-local"] = true,
    multicast = true, documentation = true, benchmarking = true, reserved = true, broadcast = true,
  })
end)

---------------------------------------------------------------------------
-- split_host_port
---------------------------------------------------------------------------

T.case("split_host_port", function()
  local function split(s) return { ipaddr.split_host_port(s) } end
  T.eq(split("[2001:db8::1]:443"), { "2001:db8::1", 443 })
  T.eq(split("1.2.3.4:8080"), { "1.2.3.4", 8080 })
  T.eq(split("1.2.3.4"), { "1.2.3.4" })
  T.eq(split("2001:db8::1"), { "2001:db8::1" })
  T.eq(split("2001:db8:0:0:0:0:0:443"), { "2001:db8::443" })
  T.eq(split("[2001:db8::1]"), { "2001:db8::1" })
  T.eq(split("[::ffff:1.2.3.4]:53"), { "1.2.3.4", 53 })
  T.eq(split(" 10.0.0.1:0 "), { "10.0.0.1", 0 })
  T.eq(split("10.0.0.1:65535"), { "10.0.0.1", 65535 })
  T.eq(split("1[.]2[.]3[.]4:80"), { "1.2.3.4", 80 })
  T.eq(split("[2001[:]db8[:]:1]:443"), { "2001:db8::1", 443 })
  T.eq(split("[fe80::1%eth0]:22"), { "fe80::1", 22 })
  T.eq(split("[1.2.3.4]:25"), { "1.2.3.4", 25 })
end)

T.case("split_host_port errors", function()
  bad(ipaddr.split_host_port, "", "empty address")
  bad(ipaddr.split_host_port, nil, "empty address")
  bad(ipaddr.split_host_port, 443, "a number is not a valid address")
  bad(ipaddr.split_host_port, "1.2.3.4:99999",
    "'1.2.3.4:99999' is not a valid address: port 99999 is out of range 0-65535")
  bad(ipaddr.split_host_port, "1.2.3.4:65536",
    "'1.2.3.4:65536' is not a valid address: port 65536 is out of range 0-65535")
  bad(ipaddr.split_host_port, "1.2.3.4:http",
    "'1.2.3.4:http' is not a valid address: port 'http' is not a number")
  bad(ipaddr.split_host_port, "1.2.3.4:", "'1.2.3.4:' is not a valid address: port '' is not a number")
  bad(ipaddr.split_host_port, "1.2.3.4:-1", "'1.2.3.4:-1' is not a valid address: port '-1' is not a number")
  bad(ipaddr.split_host_port, "[::1]:", "'[::1]:' is not a valid address: port '' is not a number")
  bad(ipaddr.split_host_port, "[::1]x", "'[::1]x' is not a valid address: unexpected 'x' after ']'")
  bad(ipaddr.split_host_port, "[::1:80", "'[::1:80' is not a valid address: missing ']'")
  bad(ipaddr.split_host_port, "1.2.3.999:80",
    "'1.2.3.999:80' is not a valid address: '1.2.3.999' is not an IP address")
  bad(ipaddr.split_host_port, "host.example:80",
    "'host.example:80' is not a valid address: 'host.example' is not an IP address")
  bad(ipaddr.split_host_port, "[]:80", "'[]:80' is not a valid address: empty IP address")
  bad(ipaddr.split_host_port, "2001:db8::1:99999",
    "'2001:db8::1:99999' is not a valid address: '2001:db8::1:99999' is not an IP address")
  bad(ipaddr.split_host_port, "::ffff:1.2.3.4:80",
    "'::ffff:1.2.3.4:80' is not a valid address: '::ffff:1.2.3.4:80' is not an IP address")
  bad(ipaddr.split_host_port, "1.2\n.3.4:80",
    "'1.2\\n.3.4:80' is not a valid address: '1.2\\n.3.4' is not an IP address")
  bad(ipaddr.split_host_port, "10.0.0.0/8:80",
    "'10.0.0.0/8:80' is not a valid address: '10.0.0.0/8' is a network, not an IP address")
end)

---------------------------------------------------------------------------
-- fast path
---------------------------------------------------------------------------

T.case("plain dotted quads return the input text itself", function()
  local s = "203.0.113.77"
  local a = ipaddr.parse(s)
  T.ok(rawequal(a.text, s), "text is the input string")
  T.eq(ipaddr.normalize(s), s)
  local n = 0
  for i = 0, 255 do
    local t = i .. "." .. (255 - i) .. ".0." .. i
    if ipaddr.normalize(t) == t and ipaddr.to_int(t) == ((i * 256 + 255 - i) * 256) * 256 + i then n = n + 1 end
  end
  T.eq(n, 256)
end)

T.done()
