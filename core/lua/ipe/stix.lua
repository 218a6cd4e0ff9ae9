-- ipe.stix: the workspace's threat-intelligence indicators as STIX 2.1, and back.
--
--   (the live indicators to export are ctx.db:ti_export()'s rows: ipe.db)
--   stix.indicator(row)               -> ordered STIX indicator object (ipe.render.json.object)
--                                        | nil, why (a row with no observable to express)
--   stix.bundle(rows, opts)           -> bundle text (pretty JSON); opts.seed names the bundle
--   stix.pattern(row)                 -> STIX pattern text | nil
--   stix.parse(text)                  -> { indicators = {...}, objects = n } | nil, msg
--       every indicator validated (required properties, formats); each holds the
--       decoded object plus .observables = { {type=, path=, value=}, ... }
--   stix.validate(obj)                -> list of problems (empty when valid)
--   stix.uuid(text), stix.hex(text, n)  deterministic identifiers from a text
--   stix.fnv(text)                      the 32-bit FNV-1 hash behind them (also ipe.demo's)
--   stix.TLP                          TLP 1.0 marking-definition ids of the STIX 2.1 spec
--
-- Mapping (row -> indicator): id = ExternalIndicatorId when it is a STIX indicator id,
-- else derived from IndicatorId; created = first version's TimeGenerated; modified =
-- latest TimeGenerated; valid_from = created; valid_until = ExpirationDateTime;
-- confidence = ConfidenceScore (0-100, rounded); indicator_types from ThreatType;
-- labels = Tags; object_marking_refs = TLP; pattern = the OR of every observable of the
-- row (NetworkIP, NetworkSourceIP, NetworkDestinationIP, EmailSourceIpAddress and the
-- CIDR blocks as ipv4-addr/ipv6-addr, DomainName, Url, FileHashValue); custom
-- properties x_ipe_indicator_id, x_ipe_action, x_ipe_threat_type, x_ipe_severity,
-- x_ipe_provider, x_ipe_version.
-- Errors: parse() returns nil, "one line"; nothing here raises for bad input.
local json = require "ipe.render.json"
local bit = require "bit"

local M = {}

M.TLP = {
  white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
  green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
  amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
  red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
M.TLP_CREATED = "2017-01-20T00:00:00.000Z"

-- ThreatType (Sentinel's legacy vocabulary) -> STIX 2.1 indicator-type-ov
M.INDICATOR_TYPES = {
  maliciousactivity = "malicious-activity", c2 = "malicious-activity", botnet = "malicious-activity",
  malware = "malicious-activity", phishing = "malicious-activity", darknet = "malicious-activity",
  cryptomining = "malicious-activity", ddos = "malicious-activity", maliciousurl = "malicious-activity",
  proxy = "anonymization", anonymization = "anonymization", compromised = "compromised",
  benign = "benign", attribution = "attribution", anomalousactivity = "anomalous-activity",
  watchlist = "anomalous-activity", unknown = "unknown",
}


---------------------------------------------------------------------------
-- Deterministic identifiers
---------------------------------------------------------------------------
local function fnv(s)
  local h = bit.tobit(0x811c9dc5)
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i))
    h = bit.tobit(h * 403 + bit.lshift(h, 24))
  end
  return h
end
M.fnv = fnv

local function mul32(a, b)
  return bit.tobit(a * bit.band(b, 0xffff) + bit.lshift(bit.tobit(a * bit.rshift(b, 16)), 16))
end

local function fmix(h)
  h = bit.bxor(h, bit.rshift(h, 16))
  h = mul32(h, 0x85ebca6b)
  h = bit.bxor(h, bit.rshift(h, 13))
  h = mul32(h, 0xc2b2ae35)
  return bit.bxor(h, bit.rshift(h, 16))
end

-- hex(text, n): n lower-case hex digits that depend on every byte of text.
function M.hex(text, n)
  local parts = {}
  for i = 1, math.floor((n + 7) / 8) do parts[i] = bit.tohex(fmix(fnv(text .. "#" .. i)), 8) end
  return table.concat(parts):sub(1, n)
end

-- uuid(text): an RFC 4122 layout UUID (version 4, variant 10) derived from text.
function M.uuid(text)
  local h = M.hex(text, 32)
  local variant = ({ "8", "9", "a", "b" })[tonumber(h:sub(17, 17), 16) % 4 + 1]
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-" .. variant .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function is_stix_id(s, kind)
  if type(s) ~= "string" then return false end
  local k, u = s:match("^([a-z0-9%-]+)%-%-(.+)$")
  return k ~= nil and (kind == nil or k == kind) and u:match(UUID) ~= nil
end
M.is_stix_id = is_stix_id

---------------------------------------------------------------------------
-- Export
---------------------------------------------------------------------------
local null = json.null

local function present(v) return v ~= nil and v ~= null and v ~= "" end

local function quote(s) return "'" .. tostring(s):gsub("\\", "\\\\"):gsub("'", "\\'") .. "'" end

local function ip_type(v) return tostring(v):find(":", 1, true) and "ipv6-addr" or "ipv4-addr" end

local IP_FIELDS = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress",
                    "NetworkCidrBlock", "NetworkSourceCidrBlock", "NetworkDestinationCidrBlock" }
local HASHES = { md5 = "MD5", sha1 = "SHA-1", ["sha-1"] = "SHA-1", sha256 = "SHA-256", ["sha-256"] = "SHA-256",
                 sha512 = "SHA-512", ["sha-512"] = "SHA-512" }

-- pattern(row) -> "[ipv4-addr:value = '1.2.3.4' OR ...]" | nil
function M.pattern(row)
  local terms, seen = {}, {}
  local function add(term) if not seen[term] then seen[term] = true; terms[#terms + 1] = term end end
  for _, f in ipairs(IP_FIELDS) do
    local v = row[f]
    if present(v) then add(ip_type(v) .. ":value = " .. quote(v)) end
  end
  if present(row.DomainName) then add("domain-name:value = " .. quote(row.DomainName)) end
  if present(row.Url) then add("url:value = " .. quote(row.Url)) end
  if present(row.FileHashValue) then
    local algo = HASHES[tostring(row.FileHashType or ""):lower()] or "SHA-256"
    add("file:hashes.'" .. algo .. "' = " .. quote(row.FileHashValue))
  end
  if #terms == 0 then return nil end
  return "[" .. table.concat(terms, " OR ") .. "]"
end

local function tags(v)
  if not present(v) then return {} end
  local cjson = require "cjson.safe"
  local list = cjson.decode(v)
  if type(list) == "table" then
    local out = {}
    for _, t in ipairs(list) do if type(t) == "string" and t ~= "" then out[#out + 1] = t end end
    return out
  end
  local out = {}
  for t in tostring(v):gmatch("[^,]+") do
    t = t:match("^%s*(.-)%s*$")
    if t ~= "" then out[#out + 1] = t end
  end
  return out
end

local function indicator_id(row)
  if is_stix_id(row.ExternalIndicatorId, "indicator") then return row.ExternalIndicatorId end
  return "indicator--" .. M.uuid("ipe:indicator:" .. tostring(row.IndicatorId))
end

local function first_observable(row)
  for _, f in ipairs(IP_FIELDS) do if present(row[f]) then return row[f] end end
  for _, f in ipairs({ "DomainName", "Url", "FileHashValue" }) do if present(row[f]) then return row[f] end end
end

-- indicator(row) -> ordered object | nil, why
function M.indicator(row)
  local pattern = M.pattern(row)
  if not pattern then return nil, "indicator " .. tostring(row.IndicatorId) .. " has no observable" end
  local created = present(row.Created) and row.Created or row.TimeGenerated
  local fields = {
    { "type", "indicator" }, { "spec_version", "2.1" }, { "id", indicator_id(row) },
    { "created", created }, { "modified", row.TimeGenerated },
    { "name", (present(row.ThreatType) and row.ThreatType .. ": " or "") .. tostring(first_observable(row)) },
  }
  if present(row.Description) then fields[#fields + 1] = { "description", row.Description } end
  local itype = M.INDICATOR_TYPES[tostring(row.ThreatType or ""):lower():gsub("[^%w]", "")] or "unknown"
  fields[#fields + 1] = { "indicator_types", json.array({ itype }) }
  fields[#fields + 1] = { "pattern", pattern }
  fields[#fields + 1] = { "pattern_type", "stix" }
  fields[#fields + 1] = { "valid_from", created }
  if present(row.ExpirationDateTime) then fields[#fields + 1] = { "valid_until", row.ExpirationDateTime } end
  if type(row.ConfidenceScore) == "number" then
    fields[#fields + 1] = { "confidence", math.max(0, math.min(100, math.floor(row.ConfidenceScore + 0.5))) }
  end
  local labels = tags(row.Tags)
  if #labels > 0 then fields[#fields + 1] = { "labels", json.array(labels) } end
  local tlp = M.TLP[tostring(row.TrafficLightProtocolLevel or ""):lower()]
  if tlp then fields[#fields + 1] = { "object_marking_refs", json.array({ tlp }) } end
  fields[#fields + 1] = { "x_ipe_indicator_id", row.IndicatorId }
  for _, x in ipairs({ { "x_ipe_action", row.Action }, { "x_ipe_threat_type", row.ThreatType },
                       { "x_ipe_severity", row.ThreatSeverity }, { "x_ipe_provider", row.IndicatorProvider },
                       { "x_ipe_version", row.Version } }) do
    if present(x[2]) then fields[#fields + 1] = x end
  end
  return json.object(fields)
end

local TLP_NAMES = { white = "TLP:WHITE", green = "TLP:GREEN", amber = "TLP:AMBER", red = "TLP:RED" }

local function marking(level)
  return json.object({
    { "type", "marking-definition" }, { "spec_version", "2.1" }, { "id", M.TLP[level] },
    { "created", M.TLP_CREATED }, { "definition_type", "tlp" }, { "name", TLP_NAMES[level] },
    { "definition", json.object({ { "tlp", level } }) },
  })
end

-- bundle(rows, opts) -> text, count of indicators, skipped (list of why)
function M.bundle(rows, opts)
  opts = opts or {}
  local objects, used, skipped, ids = {}, {}, {}, {}
  for _, row in ipairs(rows) do
    local obj, why = M.indicator(row)
    if obj then
      objects[#objects + 1] = obj
      ids[#ids + 1] = tostring(row.IndicatorId) .. "@" .. tostring(row.TimeGenerated)
      local level = tostring(row.TrafficLightProtocolLevel or ""):lower()
      if M.TLP[level] then used[level] = true end
    else
      skipped[#skipped + 1] = why
    end
  end
  local count = #objects
  for _, level in ipairs({ "white", "green", "amber", "red" }) do
    if used[level] then objects[#objects + 1] = marking(level) end
  end
  local seed = (opts.seed or "") .. "|" .. table.concat(ids, ",")
  local bundle = json.object({
    { "type", "bundle" }, { "id", "bundle--" .. M.uuid("ipe:bundle:" .. seed) },
    { "objects", json.array(objects) },
  })
  return json.encode(bundle, { pretty = true }) .. "\n", count, skipped
end

---------------------------------------------------------------------------
-- Import and validation
---------------------------------------------------------------------------
local TIMESTAMP = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.?%d*Z$"

local function is_time(s) return type(s) == "string" and s:match(TIMESTAMP) ~= nil end

-- A timestamp as a comparable string of fixed width (fraction padded to 9 digits).
local function time_key(s)
  local head, frac = s:match("^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)%.?(%d*)Z$")
  return head .. (frac .. "000000000"):sub(1, 9)
end

local function in_set(set, b) return b ~= nil and set:find(string.char(b), 1, true) ~= nil end
local WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
local PATH = WORD .. "_.'"
local SPACE = " \t\n\r\f\v"

-- comparison_at(pattern, i, eq) -> type, path, position of the value's quote | nil:
-- is the "=" at eq the middle of "type:path = '" (all of it at or after i)?
-- The walks back stop at ":" or "=", so each "=" costs only its own comparison.
local function comparison_at(pattern, i, eq)
  local k = eq - 1
  while k >= i and in_set(SPACE, pattern:byte(k)) do k = k - 1 end
  local path_end = k
  while k >= i and in_set(PATH, pattern:byte(k)) do k = k - 1 end
  if k == path_end or k < i or pattern:byte(k) ~= 58 then return nil end
  local colon = k
  k = k - 1
  while k >= i and in_set(WORD, pattern:byte(k)) do k = k - 1 end
  if k == colon - 1 then return nil end
  local q = eq + 1
  while in_set(SPACE, pattern:byte(q)) do q = q + 1 end
  if pattern:byte(q) ~= 39 then return nil end
  return pattern:sub(k + 1, colon - 1), pattern:sub(colon + 1, path_end), q
end

-- observables(pattern) -> { {type=, path=, value=}, ... } | nil, why (linear in the pattern)
function M.observables(pattern)
  if type(pattern) ~= "string" then return nil, "pattern is not a string" end
  local out, i = {}, 1
  while true do
    local eq = pattern:find("=", i, true)
    if not eq then break end
    local otype, path, q = comparison_at(pattern, i, eq)
    if not otype then
      i = eq + 1
    else
      local j, buf = q + 1, {}
      while true do
        local c = pattern:find("['\\]", j)
        if not c then return nil, "unterminated string in pattern" end
        buf[#buf + 1] = pattern:sub(j, c - 1)
        if pattern:byte(c) == 39 then j = c break end
        if c == #pattern then return nil, "unterminated string in pattern" end
        buf[#buf + 1] = pattern:sub(c + 1, c + 1)
        j = c + 2
      end
      out[#out + 1] = { type = otype, path = path, value = table.concat(buf) }
      i = j + 1
    end
  end
  if not pattern:match("^%s*%[") or not pattern:match("%]%s*$") then return nil, "pattern is not in brackets" end
  if #out == 0 then return nil, "pattern has no comparison" end
  return out
end

-- validate(obj) -> problems (STIX 2.1 indicator: required properties and formats)
function M.validate(obj)
  local p = {}
  local function need(cond, msg) if not cond then p[#p + 1] = msg end end
  if type(obj) ~= "table" then return { "not an object" } end
  need(obj.type == "indicator", "type must be 'indicator'")
  need(obj.spec_version == "2.1", "spec_version must be '2.1'")
  need(is_stix_id(obj.id, "indicator"), "id must be indicator--<uuid>")
  need(is_time(obj.created), "created must be a UTC timestamp")
  need(is_time(obj.modified), "modified must be a UTC timestamp")
  need(is_time(obj.valid_from), "valid_from must be a UTC timestamp")
  need(type(obj.pattern) == "string" and obj.pattern ~= "", "pattern is required")
  need(obj.pattern_type == "stix", "pattern_type must be 'stix' (the only type read here)")
  if is_time(obj.created) and is_time(obj.modified) then
    need(time_key(obj.modified) >= time_key(obj.created), "modified is before created")
  end
  if obj.valid_until ~= nil then
    need(is_time(obj.valid_until), "valid_until must be a UTC timestamp")
    if is_time(obj.valid_until) and is_time(obj.valid_from) then
      need(time_key(obj.valid_until) > time_key(obj.valid_from), "valid_until must be after valid_from")
    end
  end
  if obj.confidence ~= nil then
    need(type(obj.confidence) == "number" and obj.confidence % 1 == 0 and obj.confidence >= 0
         and obj.confidence <= 100, "confidence must be a whole number 0-100")
  end
  if obj.indicator_types ~= nil then
    need(type(obj.indicator_types) == "table" and #obj.indicator_types > 0, "indicator_types must be a non-empty list")
  end
  if type(obj.pattern) == "string" then
    local _, why = M.observables(obj.pattern)
    if why then p[#p + 1] = why end
  end
  return p
end

-- parse(text) -> { indicators = {...}, objects = n } | nil, "one line"
function M.parse(text)
  local cjson = require "cjson.safe"
  local doc, err = cjson.decode(text)
  if type(doc) ~= "table" then return nil, "not JSON: " .. tostring(err) end
  if doc.type ~= "bundle" then return nil, "not a STIX bundle (type is '" .. tostring(doc.type) .. "')" end
  if not is_stix_id(doc.id, "bundle") then return nil, "bundle id must be bundle--<uuid>" end
  if type(doc.objects) ~= "table" then return nil, "bundle has no objects list" end
  local out = { indicators = {}, objects = #doc.objects, id = doc.id }
  for i, obj in ipairs(doc.objects) do
    if type(obj) == "table" and obj.type == "indicator" then
      local problems = M.validate(obj)
      if #problems > 0 then
        return nil, string.format("object %d (%s): %s", i, tostring(obj.id), table.concat(problems, "; "))
      end
      obj.observables = M.observables(obj.pattern)
      out.indicators[#out.indicators + 1] = obj
    end
  end
  return out
end

return M
