-- ipe.timeutil: durations, timestamps, time windows and chart buckets.
--
-- Pure Lua arithmetic on UTC epoch seconds (numbers; fractions are
-- milliseconds): no os.time/os.date, so results never depend on the local zone.
-- Calendar conversion uses Howard Hinnant's days-from-civil algorithm
-- (proleptic Gregorian); text output is limited to years 0000-9999.
--
-- Errors: every function returns `nil, msg` on bad input and never raises for
-- it. Messages are one line and name the input, e.g.
--   "'2026-13-01' is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)".
-- Inputs shown in messages are escaped like ipe.ipaddr does it: "\\", "\n",
-- "\r", "\t", other control bytes and bytes >= 0x7f as "\xHH"; inputs longer
-- than 80 bytes are cut to 77 bytes followed by "...".
--
-- Windows are half-open: [from, to). buckets() covers exactly that interval.
local byte, sub, find, format = string.byte, string.sub, string.find, string.format
local floor = math.floor

local M = {}

local DAY = 86400

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local quote = require("ipe.textutil").quote   -- "'v'" for an error message

local function trim(s) return (s:match("^%s*(.-)%s*$")) end

local function is_finite(n) return type(n) == "number" and n == n and n ~= math.huge and n ~= -math.huge end

---------------------------------------------------------------------------
-- Calendar (days since 1970-01-01, proleptic Gregorian)
---------------------------------------------------------------------------

-- days_from_civil(y, m, d) -> days since 1970-01-01
function M.days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local days_from_civil = M.days_from_civil

-- civil_from_days(z) -> y, m, d
function M.civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end
local civil_from_days = M.civil_from_days

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function is_leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end
M.is_leap = is_leap

local function days_in_month(y, m)
  if m == 2 and is_leap(y) then return 29 end
  return MONTH_DAYS[m]
end

local function valid_civil(y, m, d, hh, mi, ss)
  return m >= 1 and m <= 12 and d >= 1 and d <= days_in_month(y, m)
    and hh <= 23 and mi <= 59 and ss <= 60
end

---------------------------------------------------------------------------
-- Durations
---------------------------------------------------------------------------

local UNIT = { w = 7 * DAY, d = DAY, h = 3600, m = 60, s = 1 }
local UNIT_RANK = { w = 5, d = 4, h = 3, m = 2, s = 1 }

local function not_duration(s) return quote(s) .. " is not a duration (use e.g. 7d, 12h, 30m)" end

-- parse_duration(s) -> seconds or nil, msg. Parts "<digits><unit>" with units
-- w, d, h, m, s, each at most once and largest first: "7d", "1d12h", "90m".
function M.parse_duration(s)
  if type(s) ~= "string" then
    if s == nil then return nil, not_duration("") end
    return nil, not_duration(s)
  end
  local t = trim(s)
  if t == "" then return nil, not_duration("") end
  local total, pos, last_rank = 0, 1, 6
  while pos <= #t do
    local digits, unit, nxt = t:match("^(%d+)([wdhms])()", pos)
    if not digits or UNIT_RANK[unit] >= last_rank or #digits > 12 then return nil, not_duration(t) end
    total = total + tonumber(digits) * UNIT[unit]
    last_rank, pos = UNIT_RANK[unit], nxt
  end
  if total <= 0 then return nil, quote(t) .. " is not a duration: it must be positive" end
  return total
end

-- format_duration(secs) -> "7d", "1d12h", "45m", "30s", "0s" (days, hours,
-- minutes, seconds; zero parts left out; rounded to the second) or nil, msg.
function M.format_duration(secs)
  if not is_finite(secs) then return nil, quote(secs) .. " is not a number of seconds" end
  if secs < 0 then return nil, quote(secs) .. " is not a duration: it must not be negative" end
  local n = floor(secs + 0.5)
  if n == 0 then return "0s" end
  local out = ""
  for _, u in ipairs { "d", "h", "m", "s" } do
    local q = floor(n / UNIT[u])
    if q > 0 then
      out = out .. format("%d", q) .. u
      n = n - q * UNIT[u]
    end
  end
  return out
end

---------------------------------------------------------------------------
-- Time stamps
---------------------------------------------------------------------------

local TIME_HINT = " is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)"

local function not_time(s) return quote(s) .. TIME_HINT end

-- epoch(y, m, d, hh, mi, ss, ms) -> seconds
local function epoch(y, m, d, hh, mi, ss, ms)
  local secs = days_from_civil(y, m, d) * DAY + hh * 3600 + mi * 60 + ss
  if ms == 0 then return secs end
  return secs + ms / 1000
end

-- zone_offset(z) -> seconds east of UTC, or nil when z is not a zone.
local function zone_offset(z)
  if z == "" or z == "Z" or z == "z" then return 0 end
  local sign, hh, mi = z:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then
    sign, hh = z:match("^([+-])(%d%d)$")
    mi = "00"
  end
  if not sign then return nil end
  hh, mi = tonumber(hh), tonumber(mi)
  if hh > 23 or mi > 59 then return nil end
  local off = hh * 3600 + mi * 60
  return sign == "-" and -off or off
end

local function parse_iso(t)
  local y, m, d, rest = t:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local hh, mi, ss, ms, off = 0, 0, 0, 0, 0
  if rest ~= "" then
    local h, n, tail = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
    if not h then return nil end
    hh, mi = tonumber(h), tonumber(n)
    local s, tail2 = tail:match("^:(%d%d)(.*)$")
    if s then
      ss, tail = tonumber(s), tail2
      local frac, tail3 = tail:match("^%.(%d+)(.*)$")
      if frac then
        if #frac > 9 then return nil end
        ms, tail = floor(tonumber("0." .. frac) * 1000 + 0.5), tail3
      end
    end
    off = zone_offset(tail)
    if not off then return nil end
  end
  if not valid_civil(y, m, d, hh, mi, ss) then return nil end
  return epoch(y, m, d, hh, mi, ss, ms) - off
end

-- parse_time(s, now) -> epoch seconds or nil, msg.
-- Accepts ISO 8601 / RFC 3339 ("2026-11-27", "2026-11-27T03:52",
-- "2026-11-27T03:52:29", "2026-11-27 03:52:29", fraction of 1-9 digits rounded
-- to the millisecond, zone "Z", "+02:00", "-0530", "+02", none = UTC), "now"
-- (returns `now`) and a plain 10-digit epoch in seconds (optional fraction).
-- A number is returned as it is.
function M.parse_time(s, now)
  if type(s) == "number" then
    if not is_finite(s) then return nil, not_time(s) end
    return s
  end
  if type(s) ~= "string" then return nil, not_time(s == nil and "" or s) end
  local t = trim(s)
  if t:lower() == "now" then
    if not is_finite(now) then return nil, "'now' cannot be used here: the current time is unknown" end
    return now
  end
  local whole, frac = t:match("^(%d+)(.*)$")
  if whole and #whole == 10 and (frac == "" or find(frac, "^%.%d%d?%d?%d?%d?%d?%d?%d?%d?$")) then
    local e = tonumber(whole)
    frac = sub(frac, 2)
    if frac ~= "" then e = e + floor(tonumber("0." .. frac) * 1000 + 0.5) / 1000 end
    return e
  end
  local e = parse_iso(t)
  if not e then return nil, not_time(t) end
  return e
end
local parse_time = M.parse_time

local function dig(v) return v >= 48 and v <= 57 end

-- parse_workspace_time(text) -> epoch. Fast path for the workspace format
-- "YYYY-MM-DDTHH:MM:SS.sssZ"; anything else goes through parse_time.
function M.parse_workspace_time(text)
  if type(text) == "string" and #text == 24 then
    local b1, b2, b3, b4, c5, b6, b7, c8, b9, b10, c11, b12, b13, c14, b15, b16, c17, b18, b19, c20,
      b21, b22, b23, c24 = byte(text, 1, 24)
    if c5 == 45 and c8 == 45 and c11 == 84 and c14 == 58 and c17 == 58 and c20 == 46 and c24 == 90 then
      local y = (b1 - 48) * 1000 + (b2 - 48) * 100 + (b3 - 48) * 10 + (b4 - 48)
      local m = (b6 - 48) * 10 + (b7 - 48)
      local d = (b9 - 48) * 10 + (b10 - 48)
      local hh = (b12 - 48) * 10 + (b13 - 48)
      local mi = (b15 - 48) * 10 + (b16 - 48)
      local ss = (b18 - 48) * 10 + (b19 - 48)
      local ms = (b21 - 48) * 100 + (b22 - 48) * 10 + (b23 - 48)
      local digits = dig(b1) and dig(b2) and dig(b3) and dig(b4) and dig(b6) and dig(b7) and dig(b9)
        and dig(b10) and dig(b12) and dig(b13) and dig(b15) and dig(b16) and dig(b18) and dig(b19)
        and dig(b21) and dig(b22) and dig(b23)
      if digits and valid_civil(y, m, d, hh, mi, ss) then return epoch(y, m, d, hh, mi, ss, ms) end
    end
  end
  return parse_time(text)
end

-- split(epoch) -> y, m, d, hh, mi, ss, ms (rounded to the millisecond) or nil, msg
local function split(e)
  if not is_finite(e) then return nil, quote(e) .. " is not an epoch time" end
  local total_ms = floor(e * 1000 + 0.5)
  local secs = floor(total_ms / 1000)
  local ms = total_ms - secs * 1000
  local days = floor(secs / DAY)
  local sod = secs - days * DAY
  local y, m, d = civil_from_days(days)
  if y < 0 or y > 9999 then return nil, quote(e) .. " is out of range (years 0000-9999)" end
  return y, m, d, floor(sod / 3600), floor(sod / 60) % 60, sod % 60, ms
end

-- format_time(epoch) -> "YYYY-MM-DDTHH:MM:SS.sssZ" (rounded to the ms) or nil, msg
function M.format_time(e)
  local y, m, d, hh, mi, ss, ms = split(e)
  if not y then return nil, m end
  return format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, hh, mi, ss, ms)
end
local format_time = M.format_time

-- format_date(epoch) -> "YYYY-MM-DD" (UTC; same ms rounding as format_time) or nil, msg
function M.format_date(e)
  local y, m, d = split(e)
  if not y then return nil, m end
  return format("%04d-%02d-%02d", y, m, d)
end

---------------------------------------------------------------------------
-- Windows and buckets
---------------------------------------------------------------------------

-- window{since=, from=, to=, now=} -> { from, to, from_text, to_text, span, since? } or nil, msg.
-- since (a duration) and from/to (times) exclude each other; nothing given = since 7d;
-- from without to ends at now.
function M.window(opts)
  if type(opts) ~= "table" then return nil, "window: options must be a table" end
  local now = opts.now
  if not is_finite(now) then return nil, "window: 'now' must be an epoch number" end
  local since, from_s, to_s = opts.since, opts.from, opts.to
  if since ~= nil and (from_s ~= nil or to_s ~= nil) then
    return nil, "--since cannot be combined with --from/--to"
  end
  if to_s ~= nil and from_s == nil then return nil, "--to needs --from" end
  local from, to, err
  if from_s ~= nil then
    from, err = parse_time(from_s, now)
    if not from then return nil, err end
    to = now
    if to_s ~= nil then
      to, err = parse_time(to_s, now)
      if not to then return nil, err end
    end
    since = nil
  else
    since = since or "7d"
    local span
    span, err = M.parse_duration(since)
    if not span then return nil, err end
    from, to = now - span, now
  end
  if from >= to then return nil, "the window is empty: --from must be before --to" end
  local from_text, e1 = format_time(from)
  if not from_text then return nil, e1 end
  local to_text, e2 = format_time(to)
  if not to_text then return nil, e2 end
  return {
    from = from, to = to, from_text = from_text, to_text = to_text, span = to - from,
    since = since and trim(since) or nil,
  }
end

local BUCKET = { minute = 60, hour = 3600, day = DAY }
M.MAX_BUCKETS = 100000

-- bucket_size(span) -> "hour" for spans up to 2 days, else "day"
function M.bucket_size(span)
  if not is_finite(span) then return nil, quote(span) .. " is not a number of seconds" end
  return span <= 2 * DAY and "hour" or "day"
end

local function bad_unit(unit) return quote(unit) .. " is not a bucket unit (use minute, hour or day)" end

-- bucket_start(epoch, unit) -> start of the UTC minute/hour/day holding epoch, or nil, msg
function M.bucket_start(e, unit)
  local size = BUCKET[unit]
  if not size then return nil, bad_unit(unit) end
  if not is_finite(e) then return nil, quote(e) .. " is not an epoch time" end
  return floor(e / size) * size
end

-- buckets(from, to, unit) -> array of bucket starts covering [from, to), or nil, msg.
-- Empty when to <= from; at most MAX_BUCKETS.
function M.buckets(from, to, unit)
  local size = BUCKET[unit]
  if not size then return nil, bad_unit(unit) end
  if not is_finite(from) then return nil, quote(from) .. " is not an epoch time" end
  if not is_finite(to) then return nil, quote(to) .. " is not an epoch time" end
  local out = {}
  if to <= from then return out end
  local first = floor(from / size) * size
  local n = math.ceil((to - first) / size)
  if n > M.MAX_BUCKETS then
    return nil, format("the window needs %d %s buckets, more than %d", n, unit, M.MAX_BUCKETS)
  end
  for k = 1, n do out[k] = first + (k - 1) * size end
  return out
end

return M
