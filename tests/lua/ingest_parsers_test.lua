-- The linear parsers read what the quadratic ones read (issue 10 item 7): CEF
-- extensions and multi-line CSV records against the earlier implementations kept
-- here as references, on many generated inputs; STIX value lists, Windows image
-- names and ipe.ipaddr's linear trims on their edge cases.
local T = require "ipe.testing"
local cef = require "ipe.ingest.cef"
local csv = require "ipe.ingest.csv"
local source = require "ipe.ingest.source"
local stix_ingest = require "ipe.ingest.stix"
local stix = require "ipe.stix"
local ipaddr = require "ipe.ipaddr"
local winevent = require "ipe.ingest.winevent"

local find, sub, byte, match = string.find, string.sub, string.byte, string.match

-- a deterministic generator
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local function text(alphabet, max)
  local out = {}
  for i = 1, rnd(max) - 1 do
    local k = rnd(#alphabet)
    out[i] = sub(alphabet, k, k)
  end
  return table.concat(out)
end

-- the CEF extension reader before issue 10 (quadratic), as the reference
local function old_extension(ext)
  local found, p = {}, 1
  while true do
    local s, e, key = find(ext, "([%w_%.%-]+)=", p)
    if not s then break end
    local before = s == 1 and 32 or byte(ext, s - 1)
    if before == 32 or before == 9 then found[#found + 1] = { s, e, key } end
    p = e + 1
  end
  if #found == 0 then
    if find(ext, "%S") then return nil, "the CEF extension holds no key=value pair" end
    return {}
  end
  if find(sub(ext, 1, found[1][1] - 1), "%S") then
    return nil, "the CEF extension starts with text that is not key=value"
  end
  local UNESCAPE = { ["="] = "=", ["\\"] = "\\", n = "\n", r = "\r", ["|"] = "|" }
  local pairs_ = {}
  for i, f in ipairs(found) do
    local stop = found[i + 1] and found[i + 1][1] - 1 or #ext
    local v = match(sub(ext, f[2] + 1, stop), "^(.-)%s*$")
    if find(v, "\\", 1, true) then v = v:gsub("\\(.)", function(c) return UNESCAPE[c] or ("\\" .. c) end) end
    pairs_[i] = { f[3], v }
  end
  return pairs_
end

T.case("CEF extensions: the linear reader gives what the earlier one gave (3000 generated extensions)", function()
  for _ = 1, 3000 do
    local ext = text("ab1=.-_ \t\\=|xn", 40)
    T.eq({ cef.extension(ext) }, { old_extension(ext) }, ext)
  end
end)

T.case("CEF extensions: escaped '=', keys after tabs, '=' inside values", function()
  T.eq(cef.extension("a=b=c d\\=e f=\tg=1"), { { "a", "b=c d=e" }, { "f", "" }, { "g", "1" } })
  T.eq(cef.extension("x= =y"), { { "x", " =y" } })
  T.eq({ cef.extension("=a b") }, { nil, "the CEF extension holds no key=value pair" })
end)

-- the CSV record reader before issue 10 (each line appended, the record parsed again)
local function old_parse(s)
  local out, n, p, len = {}, 0, 1, #s
  while true do
    n = n + 1
    if byte(s, p) == 34 then
      local parts, q = {}, p + 1
      while true do
        local e = find(s, '"', q, true)
        if not e then return nil end
        if byte(s, e + 1) == 34 then parts[#parts + 1] = sub(s, q, e); q = e + 2
        else parts[#parts + 1] = sub(s, q, e - 1); p = e + 1; break end
      end
      out[n] = table.concat(parts)
      if p > len then return out end
      if byte(s, p) ~= 44 then return false, "field " .. n .. ": text after the closing quote of a quoted field" end
      p = p + 1
      if p > len then out[n + 1] = "" return out end
    else
      local c = find(s, ",", p, true)
      out[n] = c and sub(s, p, c - 1) or sub(s, p)
      if not c then return out end
      p = c + 1
      if p > len then out[n + 1] = "" return out end
    end
  end
end

local function old_records(textin)
  local src = source.from_string(textin, "t")
  local out = {}
  while true do
    local line, ln = src:next_line()
    if line == nil then break end
    if find(line, "[^%s]") then
      local rec = line
      while true do
        local fields, err = old_parse(rec)
        if fields then out[#out + 1] = { ln, fields } break end
        if fields == false then out[#out + 1] = { ln, false, err } break end
        local more = src:next_line()
        if more == nil then out[#out + 1] = { ln, false, "a quoted field is not closed before the end of the file" } break end
        rec = rec .. "\n" .. more
      end
    end
  end
  return out
end

local function new_records(textin)
  local reader = csv.reader(source.from_string(textin, "t"))
  local out = {}
  while true do
    local fields, ln, why = reader()
    if fields == nil then break end
    out[#out + 1] = fields and { ln, fields } or { ln, false, why }
  end
  return out
end

T.case("CSV records of many lines: the line-by-line reader gives what the earlier one gave (2000 generated files)", function()
  for _ = 1, 2000 do
    local t = text('a,"\n x', 30)
    T.eq(new_records(t), old_records(t), t)
  end
end)

T.case("STIX value lists: a ')' inside a quoted value, separators, errors", function()
  local list = assert(stix_ingest.comparisons("[ipv4-addr:value IN ('1.2.3.4', 'a)b' ,'5.6.7.8')]"))
  T.eq(list[1].value, { "1.2.3.4", "a)b", "5.6.7.8" })
  T.eq({ stix_ingest.comparisons("[ipv4-addr:value IN ('1.2.3.4'") }, { nil, "a value list is not closed" })
  T.eq({ stix_ingest.comparisons("[ipv4-addr:value IN ('1.2.3.4' x)]") },
    { nil, "unexpected 'x' in a value list at character 32" })
  T.eq({ stix_ingest.comparisons("[" .. string.rep("A1", 1000) .. "]") }, { nil, "the pattern holds no comparison" })
end)

T.case("ipe.stix observables: comparisons found from each '=', escapes, errors", function()
  T.eq(stix.observables("[ipv4-addr:value = '1.2.3.4' AND file:hashes.'SHA-256'= 'a\\'b' OR x = 'y']"),
    { { type = "ipv4-addr", path = "value", value = "1.2.3.4" }, { type = "file", path = "hashes.'SHA-256'", value = "a'b" } })
  T.eq({ stix.observables("[a:b = 'x\\") }, { nil, "unterminated string in pattern" })
  T.eq({ stix.observables("[a:b = x]") }, { nil, "pattern has no comparison" })
  T.eq({ stix.observables("a:b = 'x'") }, { nil, "pattern is not in brackets" })
end)

T.case("Windows events: the image's file name", function()
  local function name(image)
    return winevent.network_event({ Image = image, Initiated = "true" }).InitiatingProcessFileName
  end
  T.eq(name("C:\\Windows\\System32\\svchost.exe"), "svchost.exe")
  T.eq(name("/usr/bin/curl"), "curl")
  T.eq(name("x.exe"), "x.exe")
  T.eq(name("C:\\dir\\"), nil)
end)

T.case("ipe.ipaddr trims in linear time and caps the text of an address", function()
  T.eq(ipaddr.trim("  a b \t\n"), "a b")
  T.eq(ipaddr.trim(" \t "), "")
  T.eq(ipaddr.rtrim("  a b \r\n"), "  a b")
  T.eq(ipaddr.trim("x" .. string.rep(" ", 200000) .. "y"), "x" .. string.rep(" ", 200000) .. "y")
  T.eq(ipaddr.normalize(string.rep(" ", 300) .. "10.0.0.1" .. string.rep(" ", 300)), "10.0.0.1")
  T.eq({ ipaddr.normalize("1" .. string.rep(":", 300)) }, { nil, "'1" .. string.rep(":", 76) .. "...' is not an IP address" })
end)

T.case("STIX: a long pattern of many observables is stored once, not once per observable", function()
  local driver = dofile((debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or ".") .. "/tests/fuzz/driver.lua")
  local terms = {}
  for i = 1, 3000 do terms[i] = "ipv4-addr:value = '10.0." .. math.floor(i / 256) .. "." .. i % 256 .. "'" end
  local pattern = "[" .. table.concat(terms, " OR ") .. "]"
  local short = "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']"
  local doc = '{"type":"bundle","id":"bundle--1","objects":[' ..
    '{"type":"indicator","id":"indicator--1","modified":"2024-01-01T00:00:00Z","pattern":"' .. pattern .. '"},' ..
    '{"type":"indicator","id":"indicator--2","modified":"2024-01-01T00:00:00Z","pattern":"' .. short .. '"}]}'
  local stored
  local s = driver.run_format("stix", doc, {}, function(db)
    stored = db:query("SELECT ExternalIndicatorId, count(*), sum(json_extract(_Extra, '$.Pattern') IS NOT NULL), " ..
      "min(json_extract(_Extra, '$.Pattern')) FROM ThreatIntelligenceIndicator GROUP BY 1 ORDER BY 1")
  end)
  T.eq(s.rows, { ThreatIntelligenceIndicator = 3002 })
  T.eq(stored, { { "indicator--1", 3000, 1, pattern }, { "indicator--2", 2, 2, short } })
end)
