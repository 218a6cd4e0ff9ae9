-- ipe.ingest.detect: which format an input is in and which table its records go to.
--
--   detect.detect(src, opts) -> det
--     det.format   one of detect.FORMATS
--     det.label    what it is, in words ("CSV export", "CEF", ...)
--     det.how      why: "--format", "extension .csv", "content"
--     det.table    the table when the format decides it (cef -> CommonSecurityLog, ...), else nil
--                  (then table_for decides from the first record)
--   detect.table_for(keys, first, name, opts) -> table, why | nil, reason
--     --table, else the record's Type column, else a table name at the start of
--     the file name (SigninLogs.jsonl, SecurityEvent_logons.csv), else the one
--     table most of the columns belong to.
-- The format comes from --format, else the extension (.csv, .jsonl, .ndjson,
-- .cef decide; .jsonl may still hold Windows events), else the content of the
-- first 64 KiB: JSON ({ or [; a STIX bundle; a MISP event; Windows events with
-- Channel/EventID/Hostname or winlog), CEF ("CEF:0|" anywhere in the first
-- line), syslog (<PRI>, an RFC 3164 "Mmm dd hh:mm:ss" or RFC 3339 stamp),
-- blocklists (every line an IP or CIDR, # ; // comments), CSV.
-- Errors: an input that is empty, UTF-16, binary or unrecognizable raises
-- {file_error = true, msg = "name: ..."} (error(e, 0)).
local schema = require "ipe.schema"
local jsonscan = require "ipe.ingest.jsonscan"
local ipaddr = require "ipe.ipaddr"
local textutil = require "ipe.textutil"

local find, sub, match, lower, format = string.find, string.sub, string.match, string.lower, string.format

local M = {}

M.FORMATS = { "csv", "json", "jsonl", "cef", "syslog", "winevent", "stix", "misp", "blocklist", "watchlist" }

M.LABELS = {
  csv = "CSV export", json = "JSON", jsonl = "JSON lines", cef = "CEF", syslog = "syslog",
  winevent = "Windows event JSON lines", stix = "STIX 2.1 bundle", misp = "MISP event", blocklist = "blocklist",
  watchlist = "watchlist CSV",
}

local TI = "ThreatIntelligenceIndicator"

-- the table a format always writes (nil: decided per input)
M.FIXED = {
  cef = "CommonSecurityLog", syslog = "Syslog", stix = TI, misp = TI, blocklist = TI, watchlist = "Watchlist",
  winevent = "SecurityEvent",
}
M.ANNOUNCE = { winevent = "SecurityEvent (Security channel) and DeviceNetworkEvents (Sysmon EventID 3)" }

-- formats whose rows all go to one table (big files of them may rebuild that table's indexes)
local SINGLE = { csv = true, json = true, jsonl = true, cef = true, syslog = true }

local function fail(name, fmt, ...)
  error({ file_error = true, msg = textutil.visible(name) .. ": " .. format(fmt, ...) }, 0)
end

function M.is_format(f)
  for _, x in ipairs(M.FORMATS) do if x == f then return true end end
  return false
end

local function first_lines(head, n)
  local out = {}
  for line in (head .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if find(line, "%S") then
      out[#out + 1] = line
      if #out >= n then break end
    end
  end
  return out
end

function M.is_cef(line) return find(line, "CEF:%s*%d+|") ~= nil end

function M.is_syslog(line)
  if find(line, "^<%d%d?%d?>") then return true end
  if find(line, "^%a%a%a%s+%d%d?%s+%d%d:%d%d:%d%d%s") then return true end
  return find(line, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*[Zz%+%-][%d:]*%s+%S+%s+%S") ~= nil
end

-- blocklist_value(line) -> the IP/CIDR text a blocklist line starts with, or nil
function M.blocklist_value(line)
  local token = match(line, "^%s*([^%s#;,]+)")
  if not token then return nil end
  if ipaddr.parse_cidr(token) and (ipaddr.parse(token) or find(token, "/", 1, true)) then return token end
  return nil
end

local function is_comment(line)
  return find(line, "^%s*#") or find(line, "^%s*;") or find(line, "^%s*//")
end

local function blocklist(lines)
  local n = 0
  for _, l in ipairs(lines) do
    if not is_comment(l) then
      if not M.blocklist_value(l) then return false end
      n = n + 1
    end
  end
  return n > 0 or #lines > 0
end

-- is_winevent(rec): an OTRF / winlogbeat / nxlog Windows event
function M.is_winevent(rec)
  if type(rec.winlog) == "table" then return true end
  if rec.Type ~= nil and schema.table(tostring(rec.Type)) then return false end
  return rec.EventID ~= nil and rec.Channel ~= nil and (rec.Hostname ~= nil or rec.SourceName ~= nil)
end

local function json_kind(head)
  local p, c = jsonscan.ws(head, 1)
  if c == 91 then
    if find(head, '^%s*%[%s*{%s*"Event"%s*:') then return "misp" end
    return "json"
  end
  local nl = find(head, "\n", p, true)
  local line = sub(head, p, nl and nl - 1 or #head)
  local rec, _, e = jsonscan.object_to_table(line, 1)
  if rec and jsonscan.trailing(line, e) then
    if rec.type == "bundle" then return "stix" end
    if rec.Event ~= nil or rec.response ~= nil or (rec.info ~= nil and (rec.Attribute ~= nil or rec.Object ~= nil)) then
      return "misp"
    end
    if rec.tables ~= nil then return "json" end
    if rec.EventID ~= nil or rec.winlog ~= nil then
      local full = jsonscan.object_to_table(line, 1)
      if full and M.is_winevent(full) then return "winevent" end
    end
    return "jsonl"
  end
  if find(head, '"type"%s*:%s*"bundle"') then return "stix" end
  if find(head, '^%s*{%s*"Event"%s*:') or find(head, '^%s*{%s*"response"%s*:') then return "misp" end
  if find(head, '^%s*{%s*"Attribute"%s*:%s*%[') or find(head, '^%s*{%s*"Object"%s*:%s*%[') then return "misp" end
  if find(head, '"info"%s*:') and (find(head, '"Attribute"%s*:') or find(head, '"Object"%s*:')) then return "misp" end
  return "json"
end

local EXT = { csv = "csv", jsonl = "jsonl", ndjson = "jsonl", json = "json", cef = "cef" }

function M.detect(src, opts)
  opts = opts or {}
  local name = src.name
  local head = src:head()
  if head == "" then fail(name, "the file is empty: nothing to ingest") end
  if sub(head, 1, 2) == "\255\254" or sub(head, 1, 2) == "\254\255" then
    fail(name, "the file is UTF-16 encoded; ipe reads UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)")
  end
  local det
  local fmt = opts.format or (opts.search_key and "watchlist")
  if fmt then
    det = { format = fmt, how = opts.search_key and "--search-key" or "--format" }
  else
    if find(head, "%z") then
      fail(name, "the file is binary (it holds NUL bytes), not text; ipe ingests text logs and feeds")
    end
    local lines = first_lines(head, 20)
    if #lines == 0 then fail(name, "the file holds only white space: nothing to ingest") end
    local ext = lower(match(name, "%.([%w]+)$") or "")
    local first = lines[1]
    local c = match(first, "^%s*(.)")
    local kind
    if EXT[ext] == "csv" or EXT[ext] == "cef" then
      kind = EXT[ext]
    elseif EXT[ext] == "jsonl" then
      kind = "jsonl"
      if c == "{" and json_kind(head) == "winevent" then kind = "winevent" end
    elseif c == "{" or c == "[" then
      kind = json_kind(head)
    elseif M.is_cef(first) then
      kind = "cef"
    elseif M.is_syslog(first) then
      kind = "syslog"
    elseif blocklist(lines) then
      kind = "blocklist"
    elseif find(first, ",", 1, true) and not textutil.visible(first):find("\\x", 1, true) then
      kind = "csv"
    end
    if not kind then
      if textutil.visible(sub(head, 1, 4096)):find("\\x", 1, true) then
        fail(name, "the file is not UTF-8 text (binary data?); ipe ingests text logs and feeds")
      end
      fail(name, "cannot tell the format (not JSON, CSV, CEF, syslog, STIX, MISP or a blocklist); use --format")
    end
    det = { format = kind, how = EXT[ext] == kind and ("extension ." .. ext) or "content" }
  end
  det.label = M.LABELS[det.format]
  det.table = M.FIXED[det.format]
  det.announce = M.ANNOUNCE[det.format]
  det.single_table = SINGLE[det.format] or false
  return det
end

local COMMON = { TimeGenerated = true, Type = true, TenantId = true, SourceSystem = true, _ResourceId = true,
  Computer = true }

local function basename(name) return match(name, "([^/]*)$") end

-- table_for(keys, first, name, opts) -> table, why | nil, reason
function M.table_for(keys, first, name, opts)
  opts = opts or {}
  if opts.table then return opts.table, "--table" end
  local tv = first and first.Type
  if type(tv) == "string" and schema.table(tv) then return tv, "its Type column" end
  local base = basename(name or "")
  local best
  for _, t in ipairs(schema.tables) do
    local n = #t.name
    if sub(base, 1, n) == t.name and (#base == n or not find(sub(base, n + 1, n + 1), "%w")) then
      if not best or n > #best then best = t.name end
    end
  end
  if best then return best, "its file name" end
  local coerce = require "ipe.ingest.coerce"
  local scores, considered = {}, 0
  for _, key in ipairs(keys) do
    local k = coerce.header(key)
    if not COMMON[k] then
      considered = considered + 1
      for _, t in ipairs(schema.tables) do
        if t.by_name[k] then scores[t.name] = (scores[t.name] or 0) + 1 end
      end
    end
  end
  local top, second, top_name = 0, 0, nil
  for tname, s in pairs(scores) do
    if s > top then top, second, top_name = s, top, tname elseif s > second then second = s end
  end
  if type(tv) == "string" and tv ~= "" then
    return nil, format("its Type column names '%s', which is not a table of the workspace; use --table",
      textutil.visible(tv))
  end
  if top_name and top >= 3 and top * 2 >= considered and top > second then
    return top_name, format("%d of its %d columns are %s columns", top, considered, top_name)
  end
  return nil, "cannot tell which table the records belong to (no Type column, no table name in the file name, "
    .. "and the columns match no table); use --table"
end

return M
