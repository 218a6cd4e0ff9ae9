-- ipe.ingest.coerce: turn an input value into what a workspace column holds.
--
-- Values arrive as Lua strings, booleans, cjson.null, or with a kind from
-- ipe.ingest.jsonscan (NUMBER: the number as written; RAW: nested JSON text).
--   time(v, kind)    -> "YYYY-MM-DDTHH:MM:SS.sssZ" | nil, reason
--       Accepts ISO 8601 / RFC 3339 (any zone, 1-9 fraction digits), "YYYY-MM-DD HH:MM:SS[.f]",
--       "YYYY/MM/DD HH:MM:SS", the portal's US form "8/5/2020, 2:09:26.123 AM" (also without the
--       comma, the seconds or AM/PM), "Jan 02 2006 15:04:05[.000][ zone]" (CEF), epoch seconds
--       (10 digits) and milliseconds (13 digits) as text or number. A time without a zone is UTC.
--       Impossible dates and times (2024-02-30, 25:00) are errors.
--   int(v, kind) / real(v, kind) / bool(v, kind) -> the value to bind | nil (not that type)
--   str(v, kind)     -> text (numbers as written, true/false, nested JSON as its text)
--   dynamic(v, kind) -> JSON text (text that is not JSON becomes a JSON string)
--   ip(v)            -> canonical address text, port (from "1.2.3.4:443", "[v6]:443") | nil: not an address
--   header(name)     -> a column name from a CSV header: "TimeGenerated [UTC]" -> "TimeGenerated"
-- Pure Lua; reasons are returned, never raised.
local cjson = require "cjson"
local cjson_safe = require "cjson.safe"
local timeutil = require "ipe.timeutil"
local ipaddr = require "ipe.ipaddr"
local json = require "ipe.ingest.jsonscan"

local byte, sub, find, match, format, lower = string.byte, string.sub, string.find, string.match, string.format,
  string.lower
local floor = math.floor

local M = {}

local NUMBER, RAW = json.NUMBER, json.RAW
local NULL = cjson.null
local quote = ipaddr.quote
local trim, rtrim = ipaddr.trim, ipaddr.rtrim

-- the longest text read as a time (longer text is not one; the time readers' patterns stay short)
M.MAX_TIME_TEXT = 64

-- encode(v): cjson.encode without its "\/" for every "/" (valid JSON either way)
local function encode(v)
  local s = cjson.encode(v)
  if find(s, "\\/", 1, true) then s = s:gsub("\\/", "/") end
  return s
end
M.encode = encode

---------------------------------------------------------------------------
-- Time
---------------------------------------------------------------------------

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function days_in(y, m)
  if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then return 29 end
  return MONTH_DAYS[m]
end

local function valid(y, m, d, hh, mi, ss)
  return m >= 1 and m <= 12 and d >= 1 and d <= days_in(y, m) and hh <= 23 and mi <= 59 and ss <= 59
end

local function dg(c) return c >= 48 and c <= 57 end

-- is_workspace_time(s): s is exactly "YYYY-MM-DDTHH:MM:SS.sssZ" and a real instant
local function is_workspace_time(s)
  if #s ~= 24 then return false end
  local b1, b2, b3, b4, c5, b6, b7, c8, b9, b10, c11, b12, b13, c14, b15, b16, c17, b18, b19, c20,
    b21, b22, b23, c24 = byte(s, 1, 24)
  if not (c5 == 45 and c8 == 45 and c11 == 84 and c14 == 58 and c17 == 58 and c20 == 46 and c24 == 90) then
    return false
  end
  if not (dg(b1) and dg(b2) and dg(b3) and dg(b4) and dg(b6) and dg(b7) and dg(b9) and dg(b10) and dg(b12)
      and dg(b13) and dg(b15) and dg(b16) and dg(b18) and dg(b19) and dg(b21) and dg(b22) and dg(b23)) then
    return false
  end
  local y = (b1 - 48) * 1000 + (b2 - 48) * 100 + (b3 - 48) * 10 + b4 - 48
  return valid(y, (b6 - 48) * 10 + b7 - 48, (b9 - 48) * 10 + b10 - 48, (b12 - 48) * 10 + b13 - 48,
    (b15 - 48) * 10 + b16 - 48, (b18 - 48) * 10 + b19 - 48)
end
M.is_workspace_time = is_workspace_time

local function from_parts(y, m, d, hh, mi, ss, frac, offset)
  y, m, d, hh, mi, ss = tonumber(y), tonumber(m), tonumber(d), tonumber(hh), tonumber(mi), tonumber(ss or 0)
  if not valid(y, m, d, hh, mi, ss) then return nil end
  local ms = 0
  if frac and frac ~= "" then ms = floor(tonumber("0." .. frac) * 1000 + 0.5) end
  local e = timeutil.days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss + ms / 1000 - (offset or 0)
  return timeutil.format_time(e)
end

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8, sep = 9, oct = 10,
                 nov = 11, dec = 12 }
M.MONTHS = MONTHS

-- zone(z) -> seconds east of UTC for "", "Z", "UTC", "GMT", "+02:00", "-0530"; nil otherwise
local function zone(z)
  if z == "" or z == "Z" or z == "z" or z == "UTC" or z == "GMT" then return 0 end
  local sign, hh, mi = match(z, "^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = tonumber(hh) * 3600 + tonumber(mi) * 60
  return sign == "-" and -off or off
end
M.zone = zone

-- "8/5/2020, 2:09:26.123 AM" / "7/8/2019 16:08"
local function us_time(s)
  local mo, d, y, rest = match(s, "^(%d%d?)/(%d%d?)/(%d%d%d%d),?%s+(.*)$")
  if not mo then return nil end
  local hh, mi, tail = match(rest, "^(%d%d?):(%d%d)(.*)$")
  if not hh then return nil end
  local ss, frac = "0", nil
  local s2, f2, tail2 = match(tail, "^:(%d%d)%.(%d+)(.*)$")
  if s2 then ss, frac, tail = s2, f2, tail2
  else
    s2, tail2 = match(tail, "^:(%d%d)(.*)$")
    if s2 then ss, tail = s2, tail2 end
  end
  local ampm = match(tail, "^%s*([AaPp][Mm])$")
  hh = tonumber(hh)
  if ampm then
    if hh < 1 or hh > 12 then return nil end
    local pm = lower(ampm) == "pm"
    if hh == 12 then hh = pm and 12 or 0 elseif pm then hh = hh + 12 end
  elseif not match(tail, "^%s*$") then
    return nil
  end
  return from_parts(y, mo, d, hh, mi, ss, frac)
end

-- "Jan 02 2006 15:04:05[.000][ zone]" (the CEF rt/start/end form)
local function month_name_time(s)
  local mon, d, y, hh, mi, ss, rest = match(s, "^(%a%a%a)%s+(%d%d?)%s+(%d%d%d%d)%s+(%d%d):(%d%d):(%d%d)(.*)$")
  if not mon then return nil end
  local m = MONTHS[lower(mon)]
  if not m then return nil end
  local frac = match(rest, "^%.(%d+)")
  if frac then rest = sub(rest, #frac + 2) end
  local off = zone(trim(rest))
  if not off then return nil end
  return from_parts(y, m, d, hh, mi, ss, frac, off)
end

-- "2024/01/02 03:04:05[.fff]"
local function slash_time(s)
  local y, m, d, hh, mi, ss, frac = match(s, "^(%d%d%d%d)/(%d%d)/(%d%d)[ T](%d%d):(%d%d):(%d%d)%.?(%d*)$")
  if not y then return nil end
  return from_parts(y, m, d, hh, mi, ss, frac)
end

local function epoch_text(e)
  local t = timeutil.format_time(e)
  return t
end

local function bad_time(v) return quote(v) .. " is not a valid time" end

-- time(v, kind) -> workspace time text | nil, reason
function M.time(v, kind)
  local tv = type(v)
  if tv == "string" and kind ~= NUMBER then
    if is_workspace_time(v) then return v end
    local s = v
    if find(s, "^%s") or find(s, "%s$") then s = trim(s) end
    local n = #s
    if n > M.MAX_TIME_TEXT then return nil, bad_time(v) end
    if n == 10 or n == 13 then
      if not find(s, "%D") then
        local e = tonumber(s)
        return epoch_text(n == 13 and e / 1000 or e)
      end
    end
    local c = byte(s, 1)
    if c and dg(c) then
      if byte(s, 5) == 45 then
        if lower(s) ~= "now" then
          local e = timeutil.parse_time(s)
          if e then
            local t = timeutil.format_time(e)
            if t then return t end
          end
        end
        return nil, bad_time(v)
      end
      local t = us_time(s) or slash_time(s)
      if t then return t end
      return nil, bad_time(v)
    end
    local t = month_name_time(s)
    if t then return t end
    return nil, bad_time(v)
  end
  if kind == NUMBER or tv == "number" then
    local e = tonumber(v)
    if e and e == e and e > -1e15 and e < 1e15 then
      local t = epoch_text(math.abs(e) > 1e11 and e / 1000 or e)
      if t then return t end
    end
    return nil, bad_time(v)
  end
  return nil, bad_time(kind == RAW and v or tostring(v))
end

---------------------------------------------------------------------------
-- Numbers and booleans
---------------------------------------------------------------------------

local TWO53 = 2 ^ 53

-- int(v, kind) -> number or exact integer text (SQLite's INTEGER affinity keeps
-- all 64 bits of long text) | nil
function M.int(v, kind)
  local tv = type(v)
  if tv == "number" then
    if v % 1 == 0 and v > -TWO53 and v < TWO53 then return v end
    return nil
  end
  if tv == "boolean" then return v and 1 or 0 end
  if tv ~= "string" or kind == RAW then return nil end
  if kind == NUMBER and #v <= 15 then
    local n = tonumber(v)
    if n % 1 == 0 then return n end
    return nil
  end
  if kind ~= NUMBER and (find(v, "^%s") or find(v, "%s$")) then v = trim(v) end
  if find(v, "^[-+]?%d+$") then
    if #v <= 15 then return tonumber(v) end
    return v
  end
  if kind ~= NUMBER and find(v, "^0[xX]%x+$") and #v <= 15 then return tonumber(sub(v, 3), 16) end
  local n = tonumber(v)
  if n and n % 1 == 0 and n > -TWO53 and n < TWO53 then return n end
  return nil
end

function M.real(v, kind)
  local tv = type(v)
  if tv == "number" then return v == v and v ~= math.huge and v ~= -math.huge and v or nil end
  if tv == "boolean" then return v and 1 or 0 end
  if tv ~= "string" or kind == RAW then return nil end
  if kind ~= NUMBER and not find(v, "^%s*[-+]?%.?%d") then return nil end
  local n = tonumber(v)
  if n and n == n and n ~= math.huge and n ~= -math.huge then return n end
  return nil
end

local BOOL = { ["true"] = 1, ["false"] = 0, ["1"] = 1, ["0"] = 0, yes = 1, no = 0 }

function M.bool(v, kind)
  local tv = type(v)
  if tv == "boolean" then return v and 1 or 0 end
  if tv == "number" then return (v == 1 or v == 0) and v or nil end
  if tv ~= "string" or kind == RAW then return nil end
  local b = BOOL[v] or (#v <= 16 and BOOL[lower(trim(v))])
  return b
end

---------------------------------------------------------------------------
-- Text and JSON
---------------------------------------------------------------------------

local function number_text(n)
  if n % 1 == 0 and n > -TWO53 and n < TWO53 then return format("%d", n) end
  return format("%.17g", n)
end
M.number_text = number_text

function M.str(v, kind)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "number" then return number_text(v) end
  if tv == "table" then return encode(v) end
  return nil
end

-- dynamic(v, kind) -> JSON text for a dynamic column
function M.dynamic(v, kind)
  if kind == RAW or kind == NUMBER then return json.minify(v) end
  local tv = type(v)
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "number" then return number_text(v) end
  if tv == "table" then return encode(v) end
  if tv ~= "string" then return nil end
  local c = byte(v, json.ws(v, 1))
  if (c == 123 or c == 91) and cjson_safe.decode(v) ~= nil then return json.minify(v) end
  return encode(v)
end

-- json_value(v, kind) -> JSON text of any input value (for _Extra)
function M.json_value(v, kind)
  if kind == RAW then return json.minify(v) end
  if kind == NUMBER then return v end
  if v == NULL then return "null" end
  local tv = type(v)
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return number_text(v)
  end
  return encode(v)
end

---------------------------------------------------------------------------
-- IP addresses
---------------------------------------------------------------------------

-- ip(v) -> canonical IP text, port (number or nil) | nil when v is not an
-- address or address:port ("300.1.1.1", "1.2.3", "1.2.3.4,5.6.7.8", a number).
function M.ip(v)
  if type(v) ~= "string" then return nil end
  local n = ipaddr.normalize(v)
  if n then return n end
  if find(v, "[:%]]") then
    local host, port = ipaddr.split_host_port(v)
    if host then return host, port end
  end
  return nil
end

---------------------------------------------------------------------------
-- Column names
---------------------------------------------------------------------------

-- header(name): a portal CSV header without its " [UTC]" suffix, trimmed.
function M.header(name)
  name = trim(name)
  if sub(name, -5) == "[UTC]" then return rtrim(sub(name, 1, -6)) end
  return name
end

return M
