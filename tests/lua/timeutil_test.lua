-- Tests for ipe.timeutil.
local T = require "ipe.testing"
local tu = require "ipe.timeutil"

-- bad(fn, input, msg): fn(input) must return nil, msg exactly.
local function bad(fn, input, msg)
  local v, err = fn(input)
  T.eq(v, nil, "result for " .. T.show(input))
  T.eq(err, msg, "error for " .. T.show(input))
end

local HINT = " is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)"
local function not_time(s) return "'" .. s .. "'" .. HINT end
local function not_duration(s) return "'" .. s .. "' is not a duration (use e.g. 7d, 12h, 30m)" end

local T0 = 1795751549 -- 2026-11-27T03:52:29Z
local DAY = 86400

---------------------------------------------------------------------------
-- Durations
---------------------------------------------------------------------------

T.case("parse_duration units and combinations", function()
  T.eq(tu.parse_duration("30s"), 30)
  T.eq(tu.parse_duration("30m"), 1800)
  T.eq(tu.parse_duration("90m"), 5400)
  T.eq(tu.parse_duration("12h"), 43200)
  T.eq(tu.parse_duration("7d"), 604800)
  T.eq(tu.parse_duration("2w"), 1209600)
  T.eq(tu.parse_duration("1d12h"), 129600)
  T.eq(tu.parse_duration("1w2d3h4m5s"), 604800 + 2 * DAY + 3 * 3600 + 4 * 60 + 5)
  T.eq(tu.parse_duration("0d12h"), 43200)
  T.eq(tu.parse_duration("  7d \t"), 604800)
  T.eq(tu.parse_duration("365d"), 365 * DAY)
  T.eq(tu.parse_duration("007d"), 604800)
end)

T.case("parse_duration errors", function()
  bad(tu.parse_duration, "", not_duration(""))
  bad(tu.parse_duration, "   ", not_duration(""))
  bad(tu.parse_duration, nil, not_duration(""))
  bad(tu.parse_duration, "7x", not_duration("7x"))
  for _, s in ipairs {
    "7", "d", "7dd", "7d7d", "12h1d", "30s5m", "1.5h", "-7d", "+7d", "7 d", "1d 12h", "7D", "7days",
    "P7D", "d7", "1e3s", "0x10s", "1234567890123s",
  } do
    bad(tu.parse_duration, s, not_duration(s))
  end
  bad(tu.parse_duration, 3600, not_duration("3600"))
  bad(tu.parse_duration, "7d\027", not_duration("7d\\x1b"))
end)

T.case("parse_duration must be positive", function()
  bad(tu.parse_duration, "0d", "'0d' is not a duration: it must be positive")
  bad(tu.parse_duration, "0s", "'0s' is not a duration: it must be positive")
  bad(tu.parse_duration, "0h0m", "'0h0m' is not a duration: it must be positive")
  bad(tu.parse_duration, " 0m ", "'0m' is not a duration: it must be positive")
end)

T.case("format_duration", function()
  T.eq(tu.format_duration(604800), "7d")
  T.eq(tu.format_duration(129600), "1d12h")
  T.eq(tu.format_duration(2700), "45m")
  T.eq(tu.format_duration(30), "30s")
  T.eq(tu.format_duration(5400), "1h30m")
  T.eq(tu.format_duration(90061), "1d1h1m1s")
  T.eq(tu.format_duration(86401), "1d1s")
  T.eq(tu.format_duration(3600 * 49), "2d1h")
  T.eq(tu.format_duration(0), "0s")
  T.eq(tu.format_duration(29.6), "30s")
  T.eq(tu.format_duration(59.5), "1m")
  T.eq(tu.format_duration(365 * DAY), "365d")
  bad(tu.format_duration, -1, "'-1' is not a duration: it must not be negative")
  bad(tu.format_duration, "7d", "'7d' is not a number of seconds")
  bad(tu.format_duration, math.huge, "'inf' is not a number of seconds")
end)

T.case("duration round trips", function()
  for _, n in ipairs { 1, 59, 60, 61, 3599, 3600, 3601, 86399, 86400, 86401, 129600, 604800, 694861, 31536000 } do
    T.eq(tu.parse_duration(tu.format_duration(n)), n, "seconds " .. n)
  end
  for _, s in ipairs { "7d", "1d12h", "45m", "30s", "2d3h4m5s", "1h1s" } do
    T.eq(tu.format_duration(tu.parse_duration(s)), s, s)
  end
  T.eq(tu.format_duration(tu.parse_duration("1w")), "7d")
  T.eq(tu.format_duration(tu.parse_duration("90m")), "1h30m")
end)

---------------------------------------------------------------------------
-- Calendar
---------------------------------------------------------------------------

T.case("known epochs", function()
  T.eq(tu.days_from_civil(1970, 1, 1), 0)
  T.eq(tu.parse_time("1970-01-01T00:00:00Z"), 0)
  T.eq(tu.parse_time("2000-01-01T00:00:00Z"), 946684800)
  T.eq(tu.parse_time("2024-02-29"), 1709164800)
  T.eq(tu.parse_time("2038-01-19T03:14:07Z"), 2147483647)
  T.eq(tu.parse_time("2100-03-01"), 4107542400)
  T.eq(tu.parse_time("2200-12-31T23:59:59Z"), 7289654399)
  T.eq(tu.format_time(7289654399), "2200-12-31T23:59:59.000Z")
  T.eq(tu.format_time(4107542400 - 1), "2100-02-28T23:59:59.000Z")
  T.eq(tu.format_time(2147483648), "2038-01-19T03:14:08.000Z")
end)

T.case("every day 1970..2200 converts both ways", function()
  local days, y, m, d = 0, 1970, 1, 1
  local mdays = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  local failures = 0
  while y <= 2200 do
    local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
    local cy, cm, cd = tu.civil_from_days(days)
    if tu.days_from_civil(y, m, d) ~= days or cy ~= y or cm ~= m or cd ~= d then failures = failures + 1 end
    if d == 1 or (d == 28 and m == 2) then -- spot-check the text forms too
      local text = string.format("%04d-%02d-%02d", y, m, d)
      if tu.format_date(days * DAY + 43200.5) ~= text or tu.parse_time(text) ~= days * DAY then
        failures = failures + 1
      end
    end
    d = d + 1
    if d > mdays[m] + ((m == 2 and leap) and 1 or 0) then d, m = 1, m + 1 end
    if m > 12 then m, y = 1, y + 1 end
    days = days + 1
  end
  T.eq(failures, 0)
  T.eq(days, 84371) -- 1970-01-01 .. 2200-12-31 inclusive
end)

T.case("leap years", function()
  T.eq(tu.is_leap(2024), true)
  T.eq(tu.is_leap(2023), false)
  T.eq(tu.is_leap(2000), true)
  T.eq(tu.is_leap(2100), false)
  T.eq(tu.parse_time("2024-02-29"), 1709164800)
  T.eq(tu.format_date(1709164800), "2024-02-29")
  T.eq(tu.format_date(1709164800 + DAY), "2024-03-01")
  T.eq(tu.format_time(tu.parse_time("2000-02-29T12:00:00Z")), "2000-02-29T12:00:00.000Z")
  for _, s in ipairs { "2023-02-29", "2100-02-29", "1900-02-29", "2024-02-30" } do
    bad(tu.parse_time, s, not_time(s))
  end
end)

---------------------------------------------------------------------------
-- parse_time
---------------------------------------------------------------------------

T.case("parse_time ISO 8601 forms", function()
  T.eq(tu.parse_time("2026-11-27"), 1795737600)
  T.eq(tu.parse_time("2026-11-27T03:52"), 1795751520)
  T.eq(tu.parse_time("2026-11-27T03:52:29"), T0)
  T.eq(tu.parse_time("2026-11-27 03:52:29"), T0)
  T.eq(tu.parse_time("2026-11-27T03:52:29Z"), T0)
  T.eq(tu.parse_time("2026-11-27t03:52:29z"), T0)
  T.eq(tu.parse_time("2026-11-27T03:52Z"), 1795751520)
  T.eq(tu.parse_time("  2026-11-27T03:52:29Z\n"), T0)
  T.eq(tu.parse_time("2026-11-27T00:00:00.000Z"), 1795737600)
end)

T.case("parse_time zone offsets", function()
  T.eq(tu.parse_time("2026-11-27T05:52:29+02:00"), T0)
  T.eq(tu.parse_time("2026-11-27T05:52:29+0200"), T0)
  T.eq(tu.parse_time("2026-11-27T05:52:29+02"), T0)
  T.eq(tu.parse_time("2026-11-26T22:22:29-0530"), T0)
  T.eq(tu.parse_time("2026-11-26T22:22:29-05:30"), T0)
  T.eq(tu.parse_time("2026-11-27T03:52:29+00:00"), T0)
  T.eq(tu.parse_time("2026-11-27T03:52:29-00:00"), T0)
  T.eq(tu.parse_time("2026-11-27T03:52+01:00"), 1795751520 - 3600)
  T.eq(tu.format_time(tu.parse_time("2026-01-01T01:00:00+05:45")), "2025-12-31T19:15:00.000Z")
  T.eq(tu.format_time(tu.parse_time("2026-12-31T23:30:00-01:00")), "2027-01-01T00:30:00.000Z")
end)

T.case("parse_time fractional seconds keep milliseconds", function()
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.1Z")), "2026-11-27T03:52:29.100Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.12Z")), "2026-11-27T03:52:29.120Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.123Z")), "2026-11-27T03:52:29.123Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.1234Z")), "2026-11-27T03:52:29.123Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.123456789Z")), "2026-11-27T03:52:29.123Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T03:52:29.9996Z")), "2026-11-27T03:52:30.000Z")
  T.eq(tu.format_time(tu.parse_time("2026-11-27T05:52:29.123456+02:00")), "2026-11-27T03:52:29.123Z")
  T.eq(tu.parse_time("2026-11-27T03:52:29.5Z"), T0 + 0.5)
  local e = tu.parse_time("2026-11-27T03:52:29.007Z")
  T.ok(math.abs(e - (T0 + 0.007)) < 1e-6, "fraction kept: " .. e)
end)

T.case("parse_time leap second", function()
  T.eq(tu.parse_time("2016-12-31T23:59:60Z"), tu.parse_time("2017-01-01T00:00:00Z"))
end)

T.case("parse_time now and epoch numbers", function()
  T.eq(tu.parse_time("now", T0), T0)
  T.eq(tu.parse_time(" NOW ", 12.5), 12.5)
  bad(tu.parse_time, "now", "'now' cannot be used here: the current time is unknown")
  T.eq(tu.parse_time("1764215549"), 1764215549)
  T.eq(tu.parse_time("1764215549.25"), 1764215549.25)
  T.eq(tu.format_time(tu.parse_time("1764215549.1239")), "2025-11-27T03:52:29.124Z")
  T.eq(tu.parse_time(1764215549), 1764215549)
  T.eq(tu.parse_time(0.5), 0.5)
end)

T.case("parse_time errors", function()
  bad(tu.parse_time, "2026-13-01", "'2026-13-01' is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)")
  for _, s in ipairs {
    "2026-00-01", "2026-01-00", "2026-01-32", "2026-04-31", "2026-11-27T24:00:00", "2026-11-27T23:60",
    "2026-11-27T23:59:61", "2026-11-27T3:52", "2026-11-27T03:52:2", "2026-11-27T03", "2026-11-27T",
    "2026-11-27Z", "2026-1-27", "26-11-27", "2026/11/27", "20261127", "2026-11-27T03:52:29.",
    "2026-11-27T03:52:29.1234567891Z", "2026-11-27T03:52:29+24:00", "2026-11-27T03:52:29+02:60",
    "2026-11-27T03:52:29+2", "2026-11-27T03:52:29+02:0", "2026-11-27T03:52:29 Z", "2026-11-27T03:52:29ZZ",
    "2026-11-27T03:52:29EST", "2026-11-27x03:52:29", "176421554", "17642155490", "1764215549.",
    "1764215549.1234567891", "-1764215549", "yesterday", "now-1d", "2026-11-27T03:52:29.1.2Z",
  } do
    bad(tu.parse_time, s, not_time(s))
  end
  bad(tu.parse_time, "", not_time(""))
  bad(tu.parse_time, "  ", not_time(""))
  bad(tu.parse_time, nil, not_time(""))
  bad(tu.parse_time, true, not_time("true"))
  bad(tu.parse_time, math.huge, not_time("inf"))
  bad(tu.parse_time, "2026-11-27\0275", not_time("2026-11-27\\x1b5"))
end)

---------------------------------------------------------------------------
-- format_time / format_date
---------------------------------------------------------------------------

T.case("format_time", function()
  T.eq(tu.format_time(0), "1970-01-01T00:00:00.000Z")
  T.eq(tu.format_time(T0), "2026-11-27T03:52:29.000Z")
  T.eq(tu.format_time(T0 + 0.001), "2026-11-27T03:52:29.001Z")
  T.eq(tu.format_time(T0 + 0.999), "2026-11-27T03:52:29.999Z")
  T.eq(tu.format_time(1.5), "1970-01-01T00:00:01.500Z")
  T.eq(tu.format_time(-1), "1969-12-31T23:59:59.000Z")
end)

T.case("format_time rounds to the millisecond with carry", function()
  T.eq(tu.format_time(59.9996), "1970-01-01T00:01:00.000Z")
  T.eq(tu.format_time(59.9994), "1970-01-01T00:00:59.999Z")
  T.eq(tu.format_time(0.0004), "1970-01-01T00:00:00.000Z")
  T.eq(tu.format_time(0.0006), "1970-01-01T00:00:00.001Z")
  T.eq(tu.format_time(3599.9999), "1970-01-01T01:00:00.000Z")
  T.eq(tu.format_time(86399.9999), "1970-01-02T00:00:00.000Z")
  T.eq(tu.format_time(tu.parse_time("2026-01-01") - 0.0001), "2026-01-01T00:00:00.000Z")
  T.eq(tu.format_time(tu.parse_time("2024-03-01") - 0.0002), "2024-03-01T00:00:00.000Z")
  T.eq(tu.format_time(tu.parse_time("2024-03-01") - 0.0006), "2024-02-29T23:59:59.999Z")
end)

T.case("format_date", function()
  T.eq(tu.format_date(0), "1970-01-01")
  T.eq(tu.format_date(T0), "2026-11-27")
  T.eq(tu.format_date(1795737600 - 0.5), "2026-11-26")
  T.eq(tu.format_date(86399.9999), "1970-01-02")
  T.eq(tu.format_date(7289654399), "2200-12-31")
end)

T.case("format errors", function()
  bad(tu.format_time, "x", "'x' is not an epoch time")
  bad(tu.format_time, nil, "'nil' is not an epoch time")
  bad(tu.format_time, math.huge, "'inf' is not an epoch time")
  bad(tu.format_time, -math.huge, "'-inf' is not an epoch time")
  local v, err = tu.format_time(0 / 0)
  T.eq(v, nil)
  T.like(err, "^'%-?nan' is not an epoch time$")
  bad(tu.format_time, 1e15, "'1e+15' is out of range (years 0000-9999)")
  bad(tu.format_time, -62167219201, "'-62167219201' is out of range (years 0000-9999)")
  T.eq(tu.format_time(-62167219200), "0000-01-01T00:00:00.000Z")
  T.eq(tu.format_time(253402300799), "9999-12-31T23:59:59.000Z")
  bad(tu.format_time, 253402300800, "'253402300800' is out of range (years 0000-9999)")
  bad(tu.format_date, "x", "'x' is not an epoch time")
  bad(tu.format_date, 1e15, "'1e+15' is out of range (years 0000-9999)")
end)

T.case("time round trips", function()
  for _, s in ipairs {
    "1970-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2000-02-29T00:00:00.001Z",
    "2024-02-29T12:34:56.789Z", "2026-11-27T03:52:29.123Z", "2100-12-31T23:59:59.500Z",
    "2200-12-31T23:59:59.999Z",
  } do
    T.eq(tu.format_time(tu.parse_time(s)), s, s)
    T.eq(tu.format_time(tu.parse_workspace_time(s)), s, "workspace " .. s)
  end
  local e = 1000000000.123
  for _ = 1, 200 do
    T.eq(tu.format_time(tu.parse_time(tu.format_time(e))), tu.format_time(e))
    e = e + 31622400.017 -- a leap year and some
  end
end)

---------------------------------------------------------------------------
-- parse_workspace_time
---------------------------------------------------------------------------

T.case("parse_workspace_time fast path", function()
  T.eq(tu.parse_workspace_time("2026-11-27T03:52:29.000Z"), T0)
  T.eq(tu.parse_workspace_time("2026-11-27T03:52:29.500Z"), T0 + 0.5)
  T.eq(tu.parse_workspace_time("1970-01-01T00:00:00.000Z"), 0)
  T.eq(tu.parse_workspace_time("2024-02-29T23:59:59.999Z"), tu.parse_time("2024-02-29T23:59:59.999Z"))
  T.eq(tu.parse_workspace_time("2016-12-31T23:59:60.000Z"), tu.parse_time("2017-01-01"))
end)

T.case("parse_workspace_time falls back to parse_time", function()
  T.eq(tu.parse_workspace_time("2026-11-27"), 1795737600)
  T.eq(tu.parse_workspace_time("2026-11-27T05:52:29+02:00"), T0)
  T.eq(tu.parse_workspace_time("2026-11-27 03:52:29.000Z"), T0)
  T.eq(tu.parse_workspace_time("1795751549"), T0)
end)

T.case("parse_workspace_time errors", function()
  for _, s in ipairs {
    "2026-13-27T03:52:29.000Z", "2023-02-29T00:00:00.000Z", "2026-11-27T24:00:00.000Z",
    "2026-11-2xT03:52:29.000Z", "2026-11-27T03:52:29.00xZ", "2026-11-27T03:5 :29.000Z",
    "2026-11-27T03:52:29.000X", "garbage",
  } do
    bad(tu.parse_workspace_time, s, not_time(s))
  end
  bad(tu.parse_workspace_time, "", not_time(""))
  bad(tu.parse_workspace_time, nil, not_time(""))
end)

---------------------------------------------------------------------------
-- window
---------------------------------------------------------------------------

T.case("window default is the last 7 days", function()
  T.eq(tu.window { now = T0 }, {
    from = T0 - 7 * DAY, to = T0, span = 7 * DAY, since = "7d",
    from_text = "2026-11-20T03:52:29.000Z", to_text = "2026-11-27T03:52:29.000Z",
  })
end)

T.case("window since", function()
  T.eq(tu.window { since = "24h", now = T0 }, {
    from = T0 - DAY, to = T0, span = DAY, since = "24h",
    from_text = "2026-11-26T03:52:29.000Z", to_text = "2026-11-27T03:52:29.000Z",
  })
  local w = tu.window { since = " 1d12h ", now = T0 + 0.25 }
  T.eq(w.span, 129600)
  T.eq(w.since, "1d12h")
  T.eq(w.to_text, "2026-11-27T03:52:29.250Z")
  T.eq(w.from_text, "2026-11-25T15:52:29.250Z")
end)

T.case("window from/to", function()
  T.eq(tu.window { from = "2026-11-20", to = "2026-11-27T00:00:00Z", now = T0 }, {
    from = 1795737600 - 7 * DAY, to = 1795737600, span = 7 * DAY,
    from_text = "2026-11-20T00:00:00.000Z", to_text = "2026-11-27T00:00:00.000Z",
  })
  local w = tu.window { from = "2026-11-27T02:00:00+01:00", now = T0 }
  T.eq(w.from_text, "2026-11-27T01:00:00.000Z")
  T.eq(w.to, T0)
  T.eq(w.span, T0 - 1795741200)
  T.eq(w.since, nil)
  T.eq(tu.window { from = "1795737600", to = "now", now = T0 }.span, T0 - 1795737600)
end)

T.case("window errors", function()
  local function win(o) return tu.window(o) end
  bad(win, { since = "7d", from = "2026-11-20", now = T0 }, "--since cannot be combined with --from/--to")
  bad(win, { since = "7d", to = "2026-11-20", now = T0 }, "--since cannot be combined with --from/--to")
  bad(win, { to = "2026-11-20", now = T0 }, "--to needs --from")
  bad(win, { from = "2026-11-27", to = "2026-11-20", now = T0 }, "the window is empty: --from must be before --to")
  bad(win, { from = "2026-11-27", to = "2026-11-27", now = T0 }, "the window is empty: --from must be before --to")
  bad(win, { from = "2026-11-28", now = T0 }, "the window is empty: --from must be before --to")
  bad(win, { from = "now", now = T0 }, "the window is empty: --from must be before --to")
  bad(win, { since = "7x", now = T0 }, not_duration("7x"))
  bad(win, { since = "", now = T0 }, not_duration(""))
  bad(win, { since = "0d", now = T0 }, "'0d' is not a duration: it must be positive")
  bad(win, { from = "2026-13-01", now = T0 }, "'2026-13-01' is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)")
  bad(win, { from = "2026-11-01", to = "tomorrow", now = T0 }, not_time("tomorrow"))
  bad(win, { since = "7d" }, "window: 'now' must be an epoch number")
  bad(win, { now = "2026-11-27" }, "window: 'now' must be an epoch number")
  bad(win, nil, "window: options must be a table")
  bad(win, { since = "100000000d", now = T0 }, "'-8638204248451' is out of range (years 0000-9999)")
end)

---------------------------------------------------------------------------
-- buckets
---------------------------------------------------------------------------

T.case("bucket_size", function()
  T.eq(tu.bucket_size(3600), "hour")
  T.eq(tu.bucket_size(2 * DAY), "hour")
  T.eq(tu.bucket_size(2 * DAY + 1), "day")
  T.eq(tu.bucket_size(7 * DAY), "day")
  T.eq(tu.bucket_size(0), "hour")
  bad(tu.bucket_size, "2d", "'2d' is not a number of seconds")
end)

T.case("bucket_start", function()
  T.eq(tu.bucket_start(T0, "minute"), tu.parse_time("2026-11-27T03:52:00Z"))
  T.eq(tu.bucket_start(T0, "hour"), tu.parse_time("2026-11-27T03:00:00Z"))
  T.eq(tu.bucket_start(T0, "day"), tu.parse_time("2026-11-27"))
  T.eq(tu.bucket_start(T0 + 0.999, "minute"), tu.parse_time("2026-11-27T03:52:00Z"))
  T.eq(tu.bucket_start(1795737600, "day"), 1795737600)
  T.eq(tu.bucket_start(1795737600 - 0.001, "day"), 1795737600 - DAY)
  T.eq(tu.bucket_start(-1, "hour"), -3600)
  bad(function(u) return tu.bucket_start(T0, u) end, "week", "'week' is not a bucket unit (use minute, hour or day)")
  bad(function(u) return tu.bucket_start(T0, u) end, nil, "'nil' is not a bucket unit (use minute, hour or day)")
  bad(function(e) return tu.bucket_start(e, "hour") end, "x", "'x' is not an epoch time")
end)

T.case("buckets cover the half-open window", function()
  local h = 3600
  local base = tu.parse_time("2026-11-27T03:00:00Z")
  T.eq(tu.buckets(T0, T0 + 2 * h + 1, "hour"), { base, base + h, base + 2 * h })
  T.eq(tu.buckets(base, base + 3 * h, "hour"), { base, base + h, base + 2 * h })
  T.eq(tu.buckets(base, base + 3 * h + 0.001, "hour"), { base, base + h, base + 2 * h, base + 3 * h })
  T.eq(tu.buckets(T0, T0 + 1, "day"), { 1795737600 })
  T.eq(tu.buckets(T0, T0 + 1, "minute"), { T0 - 29 })
  T.eq(tu.buckets(T0, T0, "hour"), {})
  T.eq(tu.buckets(T0, T0 - 1, "hour"), {})
  local w = tu.window { now = T0 }
  local days = tu.buckets(w.from, w.to, tu.bucket_size(w.span))
  T.eq(#days, 8)
  T.eq(tu.format_date(days[1]), "2026-11-20")
  T.eq(tu.format_date(days[8]), "2026-11-27")
  local hours = tu.buckets(T0 - DAY, T0, "hour")
  T.eq(#hours, 25)
  T.eq(tu.format_time(hours[1]), "2026-11-26T03:00:00.000Z")
  T.eq(tu.format_time(hours[25]), "2026-11-27T03:00:00.000Z")
end)

T.case("buckets errors", function()
  local function b3(args) return tu.buckets(args[1], args[2], args[3]) end
  bad(b3, { 0, 10, "week" }, "'week' is not a bucket unit (use minute, hour or day)")
  bad(b3, { "0", 10, "hour" }, "'0' is not an epoch time")
  bad(b3, { 0, nil, "hour" }, "'nil' is not an epoch time")
  bad(b3, { 0, 365 * DAY, "minute" }, "the window needs 525600 minute buckets, more than 100000")
  T.eq(#tu.buckets(0, 100000 * 60, "minute"), 100000)
end)

T.done()
