-- ipe.intel.util: small helpers the provider modules share to turn vendor
-- JSON into ipe's normalized answer (times, text, evidence rows).
--
-- An evidence row is {source=, finding=, detail=, severity=, seen=, link=}:
-- who says it, what they say, the supporting text, how bad (vendor words),
-- when (workspace time text) and where to read more. Missing parts are nil.
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local M = {}

local null = cjson.null

-- A JSON value as a Lua value: JSON null becomes nil.
function M.v(x)
  if x == null then return nil end
  return x
end

-- Dig into nested tables: get(doc, "data", "attributes") -> value | nil.
function M.get(t, ...)
  for i = 1, select("#", ...) do
    if type(t) ~= "table" then return nil end
    t = t[select(i, ...)]
    if t == null then return nil end
  end
  return t
end

-- Text for display: trimmed, control characters as spaces, at most max bytes.
function M.text(s, max)
  s = M.v(s)
  if s == nil then return nil end
  if type(s) ~= "string" then s = tostring(s) end
  s = s:gsub("[%c]+", " "):gsub("^%s+", ""):gsub("%s+$", "")
  max = max or 300
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  if s == "" then return nil end
  return s
end

-- Vendor time (ISO 8601 with any zone, a date, or epoch seconds) -> workspace time text.
function M.time(v)
  v = M.v(v)
  if v == nil or v == "" then return nil end
  local e
  if type(v) == "number" then e = v
  elseif type(v) == "string" then e = timeutil.parse_time(v) end
  if not e then return nil end
  return timeutil.format_time(e)
end

function M.number(v)
  v = M.v(v)
  if type(v) == "number" and v == v then return v end
  if type(v) == "string" then return tonumber(v) end
  return nil
end

function M.list(v)
  v = M.v(v)
  if type(v) ~= "table" then return {} end
  return v
end

-- Join the strings of a list (or the `field` of each table in it) with ", ".
function M.join(list, field, max)
  local parts = {}
  for _, x in ipairs(M.list(list)) do
    local s = field and type(x) == "table" and M.v(x[field]) or x
    if type(s) == "string" or type(s) == "number" then parts[#parts + 1] = tostring(s) end
  end
  if #parts == 0 then return nil end
  return M.text(table.concat(parts, ", "), max or 300)
end

-- error_code_message(doc) -> "code: message" of an {"error": {"code", "message"}} answer
-- (Microsoft Graph and VirusTotal), or whichever of the two it has.
function M.error_code_message(doc)
  local code, msg = M.get(doc, "error", "code"), M.get(doc, "error", "message")
  if code and msg then return code .. ": " .. msg end
  return msg or code
end

function M.evidence(t)
  return { source = M.text(t.source, 80), finding = M.text(t.finding, 160), detail = M.text(t.detail, 400),
           severity = M.text(t.severity, 40), seen = t.seen, link = M.text(t.link, 400) }
end

-- Percent-encode for an application/x-www-form-urlencoded body: only
-- unreserved characters stay.
function M.form_escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Percent-encode for a path segment or a query value. ":" stays as it is
-- (RFC 3986 allows it in both, and APIs expect IPv6 addresses verbatim).
function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~:]", function(c) return string.format("%%%02X", c:byte()) end))
end

return M
