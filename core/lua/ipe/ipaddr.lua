-- ipe.ipaddr: IP address parsing, normalization, CIDR networks and classification.
--
-- Pure Lua (LuaJIT `bit` library); needs nothing from the C core.
--
-- Errors: every user-facing function returns `nil, msg` on bad input and never
-- raises for it. Messages are one line and name the input, e.g.
--   "'1.2.3.999' is not an IP address".
-- Inputs shown in messages are escaped: a backslash becomes "\\", \n \r \t stay
-- as "\n" "\r" "\t", every other control byte and every byte >= 0x7f becomes
-- "\xHH" (two lower-case hex digits, e.g. ESC -> "\x1b"). Inputs longer than 80
-- bytes are cut to 77 bytes followed by "...".
--
-- Address objects: { family = 4|6, text = canonical text, bytes = 4- or 16-byte
-- binary string (network order) }. Every function taking an "ip" accepts either
-- such an object or text; every function taking a "cidr" accepts a network
-- object from parse_cidr, an address object (a /32 or /128) or text.
--
-- Accepted spellings: dotted-quad IPv4 (no leading zeros, no short forms),
-- surrounding white space, defanged dots/colons ("1[.]2(.)3{.}4", "[dot]",
-- "2001[:]db8[:]:1"), every IPv6 spelling (full, compressed, mixed with a
-- dotted-quad tail, upper case, in brackets, with a zone id that is dropped).
-- IPv4-mapped IPv6 (::ffff:a.b.c.d, ::ffff:0102:0304) is the IPv4 address.
-- Canonical IPv6 text follows RFC 5952: lower case, no leading zeros, the
-- longest run of two or more zero groups compressed (leftmost on a tie), and
-- always plain hexadecimal (the only mixed form RFC 5952 recommends, IPv4-mapped,
-- is returned as IPv4).
-- Linear in the input: text longer than MAX_TEXT (256) bytes after trimming is no
-- address; trim(s) / rtrim(s) are linear white-space trims for everyone's use.
local bit = require "bit"

local band, bor, rshift, lshift = bit.band, bit.bor, bit.rshift, bit.lshift
local byte, char, sub, find, format = string.byte, string.char, string.sub, string.find, string.format
local floor, concat = math.floor, table.concat
local unpack = unpack or table.unpack

local M = {}

---------------------------------------------------------------------------
-- Messages
---------------------------------------------------------------------------

-- quote(v): v as "'text'" for an error message, escaped and length-limited (ipe.textutil).
local quote = require("ipe.textutil").quote
M.quote = quote

local function not_ip(s) return quote(s) .. " is not an IP address" end

---------------------------------------------------------------------------
-- Low-level scanners (no allocation)
---------------------------------------------------------------------------

-- quad(s, i, j): s[i..j] as a strict dotted quad -> a, b, c, d or nil.
local function quad(s, i, j)
  local len = j - i + 1
  if len < 7 or len > 15 then return nil end
  local a, b, c
  local parts, v, nd = 0, 0, 0
  for k = i, j do
    local ch = byte(s, k)
    if ch == 46 then -- "."
      if nd == 0 then return nil end
      parts = parts + 1
      if parts == 1 then a = v elseif parts == 2 then b = v elseif parts == 3 then c = v else return nil end
      v, nd = 0, 0
    elseif ch >= 48 and ch <= 57 then
      if nd > 0 and v == 0 then return nil end -- leading zero: "01", "00"
      v = v * 10 + ch - 48
      if v > 255 then return nil end
      nd = nd + 1
    else
      return nil
    end
  end
  if parts ~= 3 or nd == 0 then return nil end
  return a, b, c, v
end

local function hexval(ch)
  if ch >= 48 and ch <= 57 then return ch - 48 end
  if ch >= 97 and ch <= 102 then return ch - 87 end
  if ch >= 65 and ch <= 70 then return ch - 55 end
  return nil
end

-- groups_v6(s): an IPv6 text without brackets or zone -> array of 8 numbers or nil.
local function groups_v6(s)
  local n = #s
  if n < 2 or n > 45 then return nil end
  local g, ng, gap, i = {}, 0, nil, 1
  if byte(s, 1) == 58 then
    if byte(s, 2) ~= 58 then return nil end
    gap, i = 0, 3
  end
  while i <= n do
    local j, v = i, 0
    while j <= n do
      local d = hexval(byte(s, j))
      if not d then break end
      v = v * 16 + d
      j = j + 1
    end
    if j <= n and byte(s, j) == 46 then -- dotted-quad tail
      local a, b, c, d = quad(s, i, n)
      if not a or ng + 2 > 8 then return nil end
      g[ng + 1], g[ng + 2] = a * 256 + b, c * 256 + d
      ng = ng + 2
      break
    end
    if j == i or j - i > 4 then return nil end
    ng = ng + 1
    if ng > 8 then return nil end
    g[ng] = v
    if j > n then break end
    if byte(s, j) ~= 58 or j == n then return nil end
    if byte(s, j + 1) == 58 then
      if gap then return nil end
      gap, i = ng, j + 2
    else
      i = j + 1
    end
  end
  if gap then
    if ng > 7 then return nil end
    local shift = 8 - ng
    for k = ng, gap + 1, -1 do g[k + shift] = g[k] end
    for k = gap + 1, gap + shift do g[k] = 0 end
  elseif ng ~= 8 then
    return nil
  end
  return g
end

local function groups_to_bytes(g)
  local t = {}
  for k = 1, 8 do
    t[2 * k - 1] = rshift(g[k], 8)
    t[2 * k] = band(g[k], 255)
  end
  return char(unpack(t))
end

-- v6_text(bytes16): RFC 5952 text.
local function v6_text(b)
  local g = {}
  for k = 1, 8 do
    local hi, lo = byte(b, 2 * k - 1, 2 * k)
    g[k] = hi * 256 + lo
  end
  local best, best_len, run, run_len = 0, 1, 0, 0
  for k = 1, 8 do
    if g[k] == 0 then
      if run_len == 0 then run = k end
      run_len = run_len + 1
      if run_len > best_len then best, best_len = run, run_len end
    else
      run_len = 0
    end
  end
  local out = {}
  if best == 0 then
    for k = 1, 8 do out[k] = format("%x", g[k]) end
    return concat(out, ":")
  end
  for k = 1, best - 1 do out[#out + 1] = format("%x", g[k]) end
  local head = concat(out, ":")
  out = {}
  for k = best + best_len, 8 do out[#out + 1] = format("%x", g[k]) end
  return head .. "::" .. concat(out, ":")
end

local MAPPED_PREFIX = string.rep("\0", 10) .. "\255\255"

local function v4_text(b)
  local a, c, d, e = byte(b, 1, 4)
  return a .. "." .. c .. "." .. d .. "." .. e
end

local function make_addr(b)
  if #b == 4 then return { family = 4, text = v4_text(b), bytes = b } end
  if sub(b, 1, 12) == MAPPED_PREFIX then
    local v4 = sub(b, 13)
    return { family = 4, text = v4_text(v4), bytes = v4 }
  end
  return { family = 6, text = v6_text(b), bytes = b }
end

---------------------------------------------------------------------------
-- Parsing
---------------------------------------------------------------------------

local DEFANG = {
  { "%[([%.:])%]", "%1" }, { "%(([%.:])%)", "%1" }, { "{([%.:])}", "%1" },
  { "%[[dD][oO][tT]%]", "." }, { "%([dD][oO][tT]%)", "." }, { "{[dD][oO][tT]}", "." },
}

local function defang(s)
  if not find(s, "[%[%({]") then return s end
  for _, r in ipairs(DEFANG) do s = s:gsub(r[1], r[2]) end
  return s
end

-- rtrim(s) / trim(s): s without trailing / surrounding white space, in linear
-- time ("^%s*(.-)%s*$" is quadratic in a long run of inner white space).
local function rtrim(s)
  local j = #s
  local c = byte(s, j)
  while c == 32 or (c and c >= 9 and c <= 13) do j = j - 1; c = byte(s, j) end
  if j == #s then return s end
  return sub(s, 1, j)
end
M.rtrim = rtrim

local function trim(s)
  local i = find(s, "%S")
  if not i then return "" end
  s = rtrim(s)
  if i == 1 then return s end
  return sub(s, i)
end
M.trim = trim

-- the longest text that can spell an address (a defanged IPv6 with a zone id)
M.MAX_TEXT = 256

-- raw_bytes(t): t (trimmed) -> 4- or 16-byte string (mapped addresses stay 16) or nil.
local function raw_bytes(t)
  if #t > M.MAX_TEXT then return nil end
  local a, b, c, d = quad(t, 1, #t)
  if a then return char(a, b, c, d) end
  t = defang(t)
  local inner = t:match("^%[(.*)%]$")
  if inner then t = inner end
  a, b, c, d = quad(t, 1, #t)
  if a then return char(a, b, c, d) end
  if not find(t, ":", 1, true) then return nil end
  local pct = find(t, "%", 1, true)
  if pct then
    local zone = sub(t, pct + 1)
    if zone == "" or find(zone, "[%s%c%%/%[%]]") then return nil end
    t = sub(t, 1, pct - 1)
  end
  local g = groups_v6(t)
  return g and groups_to_bytes(g) or nil
end

local function is_addr(v) return type(v) == "table" and type(v.bytes) == "string" and v.family ~= nil end

-- parse_text(s) -> addr object or nil, msg
local function parse_slow(s)
  if s == nil then return nil, "empty IP address" end
  if type(s) == "number" then s = tostring(s) end
  if type(s) ~= "string" then return nil, "a " .. type(s) .. " is not an IP address" end
  local t = trim(s)
  if t == "" then return nil, "empty IP address" end
  local b = raw_bytes(t)
  if b then return make_addr(b) end
  local ip = #t <= M.MAX_TEXT and t:match("^(.-)%s*/%s*%d+$")
  if ip and raw_bytes(ip) then return nil, quote(t) .. " is a network, not an IP address" end
  return nil, not_ip(t)
end

-- parse(s) -> { family, text, bytes } or nil, msg
function M.parse(s)
  if type(s) == "string" then
    local a, b, c, d = quad(s, 1, #s)
    if a then return { family = 4, text = s, bytes = char(a, b, c, d) } end
  elseif is_addr(s) then
    return s
  end
  return parse_slow(s)
end
local parse = M.parse

-- normalize(s) -> canonical text or nil, msg
function M.normalize(s)
  if type(s) == "string" and quad(s, 1, #s) then return s end
  local a, err = parse(s)
  if not a then return nil, err end
  return a.text
end

-- is_ip(s) -> true when s parses as an IP address (any accepted spelling).
function M.is_ip(s) return parse(s) ~= nil end

-- family(ip) -> 4 | 6 or nil, msg
function M.family(ip)
  if type(ip) == "string" and quad(ip, 1, #ip) then return 4 end
  local a, err = parse(ip)
  if not a then return nil, err end
  return a.family
end

-- to_int(ipv4) -> 0 .. 2^32-1 or nil, msg
function M.to_int(ip)
  if type(ip) == "string" then
    local a, b, c, d = quad(ip, 1, #ip)
    if a then return ((a * 256 + b) * 256 + c) * 256 + d end
  end
  local addr, err = parse(ip)
  if not addr then return nil, err end
  if addr.family ~= 4 then return nil, quote(addr.text) .. " is not an IPv4 address" end
  local a, b, c, d = byte(addr.bytes, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- from_int(n) -> IPv4 text or nil, msg
function M.from_int(n)
  if type(n) ~= "number" or n ~= floor(n) or n < 0 or n > 4294967295 then
    return nil, quote(n) .. " is not an IPv4 number (0-4294967295)"
  end
  return floor(n / 16777216) .. "." .. floor(n / 65536) % 256 .. "." .. floor(n / 256) % 256 .. "." .. n % 256
end

-- compare(a, b) -> -1 | 0 | 1 (numeric order, every IPv4 before every IPv6) or nil, msg
function M.compare(x, y)
  local a, err = parse(x)
  if not a then return nil, err end
  local b, err2 = parse(y)
  if not b then return nil, err2 end
  if a.family ~= b.family then return a.family < b.family and -1 or 1 end
  local p, q = a.bytes, b.bytes
  for k = 1, #p do
    local u, v = byte(p, k), byte(q, k)
    if u ~= v then return u < v and -1 or 1 end
  end
  return 0
end

-- less(a, b) -> boolean; for table.sort over valid addresses (invalid sort last).
function M.less(x, y)
  local c = M.compare(x, y)
  if c then return c < 0 end
  return parse(x) ~= nil
end

---------------------------------------------------------------------------
-- Networks
---------------------------------------------------------------------------

-- mask(b, prefix, fill): b with the bits after prefix set to 0 (fill=false) or 1.
local function mask(b, prefix, fill)
  local n = #b
  local t = { byte(b, 1, n) }
  for k = 1, n do
    local keep = prefix - (k - 1) * 8
    if keep <= 0 then
      t[k] = fill and 255 or 0
    elseif keep < 8 then
      local m = band(lshift(255, 8 - keep), 255)
      t[k] = fill and bor(band(t[k], m), 255 - m) or band(t[k], m)
    end
  end
  return char(unpack(t))
end

local function make_net(b, prefix)
  local first, last = mask(b, prefix, false), mask(b, prefix, true)
  local network = #b == 4 and v4_text(first) or v6_text(first)
  return {
    family = #b == 4 and 4 or 6, prefix = prefix, network = network,
    text = network .. "/" .. prefix, first = first, last = last,
  }
end

local function not_cidr(s, why) return quote(s) .. " is not a valid CIDR: " .. why end

-- parse_cidr(s) -> { family, prefix, network, text, first, last } or nil, msg.
-- A bare address is a /32 or /128; host bits are masked off.
function M.parse_cidr(s)
  if type(s) == "table" and s.first and s.last and s.prefix then return s end
  if is_addr(s) then return make_net(s.bytes, #s.bytes * 8) end
  if s == nil then return nil, "empty CIDR" end
  if type(s) ~= "string" then return nil, "a " .. type(s) .. " is not a valid CIDR" end
  local t = trim(s)
  if t == "" then return nil, "empty CIDR" end
  local slash = find(t, "/", 1, true)
  local ip_text, len_text = t, nil
  if slash then ip_text, len_text = trim(sub(t, 1, slash - 1)), trim(sub(t, slash + 1)) end
  if ip_text == "" then return nil, not_cidr(t, "empty IP address") end
  local b = raw_bytes(ip_text)
  if not b then return nil, not_cidr(t, not_ip(ip_text)) end
  local max = #b * 8
  local prefix = max
  if len_text then
    if not find(len_text, "^%d+$") then
      return nil, not_cidr(t, "prefix length " .. quote(len_text) .. " is not a number")
    end
    prefix = tonumber(len_text)
    if prefix > max then
      return nil, not_cidr(t, "prefix length " .. len_text .. " is out of range 0-" .. max)
    end
  end
  if max == 128 and sub(b, 1, 12) == MAPPED_PREFIX and prefix >= 96 then
    b, prefix = sub(b, 13), prefix - 96
  end
  return make_net(b, prefix)
end
local parse_cidr = M.parse_cidr

-- in_net(b, first, prefix): does address b lie in the network starting at first?
local function in_net(b, first, prefix)
  if #b ~= #first then return false end
  local full = floor(prefix / 8)
  for k = 1, full do
    if byte(b, k) ~= byte(first, k) then return false end
  end
  local rest = prefix - full * 8
  if rest == 0 then return true end
  local m = band(lshift(255, 8 - rest), 255)
  return band(byte(b, full + 1), m) == byte(first, full + 1)
end

-- contains(cidr, ip) -> boolean (false when the families differ) or nil, msg
function M.contains(cidr, ip)
  local net, err = parse_cidr(cidr)
  if not net then return nil, err end
  local addr, err2 = parse(ip)
  if not addr then return nil, err2 end
  return in_net(addr.bytes, net.first, net.prefix)
end

---------------------------------------------------------------------------
-- Classification
---------------------------------------------------------------------------

-- Special-purpose ranges (IANA special-purpose registries). The most specific
-- range containing an address decides its class; an address in none is public.
-- note is a short reason a renderer can show: "shared (RFC 6598, carrier-grade NAT)".
M.ranges = {
  { range = "0.0.0.0/32", class = "unspecified", reference = "RFC 1122", note = "this host" },
  { range = "0.0.0.0/8", class = "reserved", reference = "RFC 1122", note = "this network" },
  { range = "10.0.0.0/8", class = "private", reference = "RFC 1918" },
  { range = "100.64.0.0/10", class = "shared", reference = "RFC 6598", note = "carrier-grade NAT" },
  { range = "127.0.0.0/8", class = "loopback", reference = "RFC 1122" },
  { range = "169.254.0.0/16", class = "link-local", reference = "RFC 3927" },
  { range = "172.16.0.0/12", class = "private", reference = "RFC 1918" },
  { range = "192.0.0.0/24", class = "reserved", reference = "RFC 6890", note = "IETF protocol assignments" },
  { range = "192.0.2.0/24", class = "documentation", reference = "RFC 5737", note = "TEST-NET-1" },
  { range = "192.88.99.0/24", class = "reserved", reference = "RFC 7526", note = "deprecated 6to4 relay anycast" },
  { range = "192.168.0.0/16", class = "private", reference = "RFC 1918" },
  { range = "198.18.0.0/15", class = "benchmarking", reference = "RFC 2544" },
  { range = "198.51.100.0/24", class = "documentation", reference = "RFC 5737", note = "TEST-NET-2" },
  { range = "203.0.113.0/24", class = "documentation", reference = "RFC 5737", note = "TEST-NET-3" },
  { range = "224.0.0.0/4", class = "multicast", reference = "RFC 5771" },
  { range = "240.0.0.0/4", class = "reserved", reference = "RFC 1112", note = "future use" },
  { range = "255.255.255.255/32", class = "broadcast", reference = "RFC 919", note = "limited broadcast" },

  { range = "::/128", class = "unspecified", reference = "RFC 4291" },
  { range = "::1/128", class = "loopback", reference = "RFC 4291" },
  { range = "::/3", class = "reserved", reference = "RFC 4291", note = "outside global unicast 2000::/3" },
  { range = "64:ff9b::/96", class = "reserved", reference = "RFC 6052", note = "IPv4/IPv6 translation" },
  { range = "64:ff9b:1::/48", class = "reserved", reference = "RFC 8215", note = "local-use IPv4/IPv6 translation" },
  { range = "100::/64", class = "reserved", reference = "RFC 6666", note = "discard-only" },
  { range = "2001::/23", class = "reserved", reference = "RFC 2928", note = "IETF protocol assignments" },
  { range = "2001::/32", class = "reserved", reference = "RFC 4380", note = "Teredo" },
  { range = "2001:2::/48", class = "benchmarking", reference = "RFC 5180" },
  { range = "2001:db8::/32", class = "documentation", reference = "RFC 3849" },
  { range = "3fff::/20", class = "documentation", reference = "RFC 9637" },
  { range = "4000::/2", class = "reserved", reference = "RFC 4291", note = "outside global unicast 2000::/3" },
  { range = "8000::/1", class = "reserved", reference = "RFC 4291", note = "outside global unicast 2000::/3" },
  { range = "fc00::/7", class = "private", reference = "RFC 4193", note = "unique local" },
  { range = "fe80::/10", class = "link-local", reference = "RFC 4291" },
  { range = "ff00::/8", class = "multicast", reference = "RFC 4291" },
}

-- label(entry): "private (RFC 1918)", "shared (RFC 6598, carrier-grade NAT)".
local function label(e)
  if not e.reference then return e.class end
  return e.class .. " (" .. e.reference .. (e.note and ", " .. e.note or "") .. ")"
end

-- Lookup lists per family, most specific first (ties keep table order).
local V4, V6 = {}, {}
for i, e in ipairs(M.ranges) do
  local net = assert(parse_cidr(e.range))
  assert(net.text == e.range, e.range)
  e.family, e.prefix, e.first, e.order, e.label = net.family, net.prefix, net.first, i, label(e)
  if net.family == 4 then
    local a, b, c, d = byte(net.first, 1, 4)
    e.lo = ((a * 256 + b) * 256 + c) * 256 + d
    e.hi = e.lo + 2 ^ (32 - net.prefix) - 1
    V4[#V4 + 1] = e
  else
    V6[#V6 + 1] = e
  end
end
local function specific_first(x, y)
  if x.prefix ~= y.prefix then return x.prefix > y.prefix end
  return x.order < y.order
end
table.sort(V4, specific_first)
table.sort(V6, specific_first)

local PUBLIC = { class = "public", label = "public" }

local function range_of_int(n)
  for k = 1, #V4 do
    local e = V4[k]
    if n >= e.lo and n <= e.hi then return e end
  end
  return PUBLIC
end

-- entry(ip) -> range entry (or PUBLIC) or nil, msg
local function entry(ip)
  if type(ip) == "string" then
    local a, b, c, d = quad(ip, 1, #ip)
    if a then return range_of_int(((a * 256 + b) * 256 + c) * 256 + d) end
  end
  local addr, err = parse(ip)
  if not addr then return nil, err end
  local bytes = addr.bytes
  if addr.family == 4 then
    local a, b, c, d = byte(bytes, 1, 4)
    return range_of_int(((a * 256 + b) * 256 + c) * 256 + d)
  end
  for k = 1, #V6 do
    local e = V6[k]
    if in_net(bytes, e.first, e.prefix) then return e end
  end
  return PUBLIC
end

-- classify(ip) -> "unspecified" | "loopback" | "private" | "shared" | "link-local" |
--   "multicast" | "documentation" | "benchmarking" | "reserved" | "broadcast" |
--   "public", or nil, msg
function M.classify(ip)
  local e, err = entry(ip)
  if not e then return nil, err end
  return e.class
end

-- describe(ip) -> { class, range, reference, note, label } or nil, msg.
-- range/reference/note are nil for public addresses (label is then "public").
function M.describe(ip)
  local e, err = entry(ip)
  if not e then return nil, err end
  return { class = e.class, range = e.range, reference = e.reference, note = e.note, label = e.label }
end

-- is_public(ip) -> boolean or nil, msg
function M.is_public(ip)
  local e, err = entry(ip)
  if not e then return nil, err end
  return e.class == "public"
end

local INTERNAL = { private = true, shared = true, loopback = true, ["link-local"] = true, unspecified = true }

-- is_internal(ip) -> boolean (private, shared, loopback, link-local, unspecified) or nil, msg
function M.is_internal(ip)
  local e, err = entry(ip)
  if not e then return nil, err end
  return INTERNAL[e.class] == true
end

---------------------------------------------------------------------------
-- host:port
---------------------------------------------------------------------------

local function bad_endpoint(s, why) return quote(s) .. " is not a valid address: " .. why end

-- split_host_port(s) -> canonical ip text, port number | nil; or nil, msg.
-- "[2001:db8::1]:443", "1.2.3.4:8080", "1.2.3.4", "2001:db8::1" (a bare IPv6
-- address never has a port), "[2001:db8::1]".
function M.split_host_port(s)
  if s == nil then return nil, "empty address" end
  if type(s) ~= "string" then return nil, "a " .. type(s) .. " is not a valid address" end
  local t = trim(s)
  if t == "" then return nil, "empty address" end
  local plain, host, port_text = defang(t), nil, nil
  if byte(plain, 1) == 91 then -- "[host]" or "[host]:port"
    local close = find(plain, "]", 2, true)
    if not close then return nil, bad_endpoint(t, "missing ']'") end
    host = sub(plain, 2, close - 1)
    local rest = sub(plain, close + 1)
    if rest ~= "" then
      if byte(rest, 1) ~= 58 then return nil, bad_endpoint(t, "unexpected " .. quote(rest) .. " after ']'") end
      port_text = sub(rest, 2)
    end
  else
    local c1 = find(plain, ":", 1, true)
    if c1 and not find(plain, ":", c1 + 1, true) then
      host, port_text = sub(plain, 1, c1 - 1), sub(plain, c1 + 1)
    else
      host = plain
    end
  end
  local addr, err = parse(host)
  if not addr then return nil, bad_endpoint(t, err) end
  if not port_text then return addr.text, nil end
  if not find(port_text, "^%d+$") then
    return nil, bad_endpoint(t, "port " .. quote(port_text) .. " is not a number")
  end
  local port = tonumber(port_text)
  if port > 65535 then return nil, bad_endpoint(t, "port " .. port_text .. " is out of range 0-65535") end
  return addr.text, port
end

return M
