-- ipe.ingest.syslog: RFC 5424 and RFC 3164 syslog lines -> Syslog.
--
--   syslog.parse(line, now) -> header, nil | nil, reason
--     header = { facility, severity (names), time (workspace text or nil), host, app,
--                procid, msgid, sd (structured data text), message }
--   syslog.record(header) -> { column = value } for the Syslog table
--   syslog.run(src, sink)
-- RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG" ("-" is nil).
-- RFC 3164: "[<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG" (also with an RFC 3339
-- stamp as rsyslog writes it, and without a PRI as in /var/log/auth.log).
-- A 3164 stamp has no year and no zone: it is read as UTC, in the year of the
-- ingestion time (the year before when that would put it more than a day ahead).
-- Facility and severity names are the ones Log Analytics stores (auth, authpriv,
-- local0 ...; info, err, warning ...). HostIP is set when HOST is an IP address;
-- MSGID and structured data go to _Extra (MsgId, StructuredData).
-- Errors: parse returns nil, reason ("not a syslog line (RFC 3164 or RFC 5424)");
-- run rejects such lines through sink.reject.
local coerce = require "ipe.ingest.coerce"
local ipaddr = require "ipe.ipaddr"
local timeutil = require "ipe.timeutil"

local find, sub, match, lower, byte = string.find, string.sub, string.match, string.lower, string.byte

local M = {}

M.FACILITIES = { [0] = "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
  "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
  "local7" }
M.SEVERITIES = { [0] = "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" }

-- pri(line) -> facility, severity, rest | nil (no PRI) | false, reason
local function pri(line)
  local digits, rest = match(line, "^<(%d+)>(.*)$")
  if not digits then return nil end
  local n = tonumber(digits)
  if n > 191 or #digits > 3 then return false, "syslog priority <" .. digits .. "> is out of range (0-191)" end
  return M.FACILITIES[math.floor(n / 8)], M.SEVERITIES[n % 8], rest
end

-- year_for(month, day, now): the year of a 3164 stamp
local function stamp_3164(mon, day, hh, mi, ss, year, now)
  local m = coerce.MONTHS[lower(mon)]
  if not m then return nil end
  local function make(y)
    return coerce.time(string.format("%04d-%02d-%02dT%s:%s:%s.000Z", y, m, tonumber(day), hh, mi, ss))
  end
  if year then return make(tonumber(year)) end
  local y = tonumber(timeutil.format_date(now):sub(1, 4))
  local t = make(y)
  if t and timeutil.parse_workspace_time(t) > now + 86400 then t = make(y - 1) end
  return t
end

-- structured(rest) -> sd text (or nil for "-"), message | false, reason
local function structured(rest)
  if rest == "" then return nil, "" end
  if sub(rest, 1, 1) == "-" then return nil, (match(rest, "^%- ?(.*)$")) end
  if sub(rest, 1, 1) ~= "[" then return false, "structured data must be '-' or start with '['" end
  local p, n, inq = 1, #rest, false
  while p <= n do
    local c = byte(rest, p)
    if c == 92 then
      p = p + 2
    else
      if c == 34 then inq = not inq
      elseif c == 93 and not inq and byte(rest, p + 1) ~= 91 then
        return sub(rest, 1, p), (match(sub(rest, p + 1), "^ ?(.*)$"))
      end
      p = p + 1
    end
  end
  return false, "structured data is not closed with ']'"
end

local function nil_dash(s) if s == "-" then return nil end return s end

local function bad_time(text) return ipaddr.quote(text) .. " is not a valid time" end

function M.parse(line, now)
  local facility, severity, rest = pri(line)
  if facility == false then return nil, severity end
  if facility == nil then rest = line end
  local ver, ts, host, app, procid, msgid, tail = match(rest, "^(%d%d?) (%S+) (%S+) (%S+) (%S+) (%S+) ?(.*)$")
  if ver and facility then
    local h = { facility = facility, severity = severity, host = nil_dash(host), app = nil_dash(app),
      procid = nil_dash(procid), msgid = nil_dash(msgid) }
    if ts ~= "-" then
      local t = coerce.time(ts)
      if not t then return nil, bad_time(ts) end
      h.time = t
    end
    local sd, msg = structured(tail)
    if sd == false then return nil, msg end
    h.sd = sd
    if sub(msg, 1, 3) == "\239\187\191" then msg = sub(msg, 4) end
    h.message = msg
    return h
  end
  local h = { facility = facility, severity = severity }
  local mon, day, hh, mi, ss, after = match(rest, "^(%a%a%a)%s+(%d%d?)%s+(%d%d):(%d%d):(%d%d)%s+(.*)$")
  local year
  if not mon then
    mon, day, year, hh, mi, ss, after = match(rest, "^(%a%a%a)%s+(%d%d?)%s+(%d%d%d%d)%s+(%d%d):(%d%d):(%d%d)%s+(.*)$")
  end
  if mon then
    local t = stamp_3164(mon, day, hh, mi, ss, year, now)
    if not t then return nil, bad_time(mon .. " " .. day .. " " .. hh .. ":" .. mi .. ":" .. ss) end
    h.time = t
  else
    local iso
    iso, after = match(rest, "^(%d%d%d%d%-%d%d%-%d%dT%S+)%s+(.*)$")
    if not iso then return nil, "not a syslog line (RFC 3164 or RFC 5424)" end
    local t = coerce.time(iso)
    if not t then return nil, bad_time(iso) end
    h.time = t
  end
  local host, rest2 = match(after, "^(%S+)%s+(.*)$")
  if host and not find(host, ":$") and not find(host, "%[%d+%]:?$") then
    h.host = host
    after = rest2
  end
  local tag, pid, msg = match(after, "^([^%s%[:]+)%[(%d+)%]:%s?(.*)$")
  if not tag then
    tag, msg = match(after, "^([^%s%[:]+):%s(.*)$")
    if not tag then tag, msg = match(after, "^([^%s%[:]+):()$") end
    if type(msg) == "number" then msg = "" end
  end
  if tag then
    h.app, h.procid, h.message = tag, pid, msg
  else
    h.message = after
  end
  return h
end

-- record(h) -> Syslog columns
function M.record(h)
  local rec = {
    TimeGenerated = h.time, EventTime = h.time, Computer = h.host, HostName = h.host, Facility = h.facility,
    SeverityLevel = h.severity, ProcessName = h.app, ProcessID = h.procid, SyslogMessage = h.message,
    MsgId = h.msgid, StructuredData = h.sd,
  }
  if h.host and ipaddr.normalize(h.host) then rec.HostIP = h.host end
  return rec
end

function M.run(src, sink)
  src:each_record(sink, "Syslog", function(line)
    local h, err = M.parse(line, sink.now)
    if not h then return nil, err end
    return M.record(h)
  end)
end

return M
