-- ipe.ingest.ti: ThreatIntelligenceIndicator rows, shared by the STIX, MISP and
-- blocklist readers.
--
--   ti.observable(kind, value, role) -> { kind, value, ... } | nil, reason
--     kind "ip" (an address or a CIDR; a /32 or /128 is the address), "domain",
--     "url", "hash" (role = the hash type: MD5, SHA1, SHA256, ...); for "ip",
--     role "src" / "dst" picks NetworkSourceIP / NetworkDestinationIP (else NetworkIP)
--   ti.row(ind, obs) -> { column = value } for one observable of an indicator:
--     ind = { time, expires, id, external, provider, confidence (0-100), description,
--             threat_type, tags (list), tlp, active (bool), severity (0-5), malware (list),
--             groups (list), kill_chain (set of C2/Delivery/... flags), extra (table) }
--   ti.expiry(opts, base_text, default_span) -> expiry text | nil
-- Lists are stored as JSON arrays (Tags, MalwareNames, ActivityGroupNames), the
-- TLP in lower case ("white", "green", "amber", "red"), SourceSystem = the provider.
-- Errors: observable returns nil, reason ("'x' is not an IP address or CIDR");
-- nothing is raised.
local ipaddr = require "ipe.ipaddr"
local timeutil = require "ipe.timeutil"
local coerce = require "ipe.ingest.coerce"

local M = {}

local IP_COLUMN = { src = "NetworkSourceIP", dst = "NetworkDestinationIP" }
local CIDR_COLUMN = { src = "NetworkSourceCidrBlock", dst = "NetworkDestinationCidrBlock" }
local PORT_COLUMN = { src = "NetworkSourcePort", dst = "NetworkDestinationPort" }

function M.observable(kind, value, role)
  if type(value) ~= "string" or value == "" then return nil, "an empty " .. kind .. " value" end
  if kind == "ip" then
    local net = ipaddr.parse_cidr(value)
    if not net then return nil, ipaddr.quote(value) .. " is not an IP address or CIDR" end
    if net.prefix == (net.family == 4 and 32 or 128) then return { kind = "ip", value = net.network, role = role } end
    return { kind = "cidr", value = net.text, role = role }
  end
  return { kind = kind, value = value, role = role }
end

local function list_json(list)
  if not list or #list == 0 then return nil end
  return coerce.encode(list)
end

function M.row(ind, obs, port)
  local r = {}
  if ind.extra then for k, v in pairs(ind.extra) do r[k] = v end end
  r.TimeGenerated = ind.time
  r.ExpirationDateTime = ind.expires
  r.IndicatorId = ind.id
  r.ExternalIndicatorId = ind.external
  r.IndicatorProvider = ind.provider
  r.SourceSystem = ind.provider
  r.ConfidenceScore = ind.confidence
  r.Description = ind.description
  r.ThreatType = ind.threat_type
  r.Tags = list_json(ind.tags)
  r.TrafficLightProtocolLevel = ind.tlp
  r.Active = ind.active ~= false
  r.ThreatSeverity = ind.severity
  r.MalwareNames = list_json(ind.malware)
  r.ActivityGroupNames = list_json(ind.groups)
  for phase in pairs(ind.kill_chain or {}) do r["KillChain" .. phase] = true end
  if obs.kind == "ip" then
    r[IP_COLUMN[obs.role] or "NetworkIP"] = obs.value
    if port then r[PORT_COLUMN[obs.role] or "NetworkPort"] = port end
  elseif obs.kind == "cidr" then
    r[CIDR_COLUMN[obs.role] or "NetworkCidrBlock"] = obs.value
    if port then r[PORT_COLUMN[obs.role] or "NetworkPort"] = port end
  elseif obs.kind == "domain" then
    r.DomainName = obs.value
  elseif obs.kind == "url" then
    r.Url = obs.value
  elseif obs.kind == "hash" then
    r.FileHashValue = obs.value
    r.FileHashType = obs.role
  end
  return r
end

-- expiry(opts, base_text, default_span) -> workspace time text or nil
function M.expiry(opts, base_text, default_span)
  if opts.expires_never then return nil end
  if opts.expires_at then return opts.expires_at end
  local span = opts.expires_span or default_span
  if not span or not base_text then return nil end
  return timeutil.format_time(timeutil.parse_workspace_time(base_text) + span)
end

-- STIX/MISP kill chain phase names -> the KillChain* column suffix
M.KILL_CHAIN = { reconnaissance = "Reconnaissance", weaponization = "Weaponization", delivery = "Delivery",
  exploitation = "Exploitation", ["command-and-control"] = "C2", ["command-control"] = "C2",
  ["actions-on-objectives"] = "Actions", ["actions-on-objective"] = "Actions" }

-- read_document(src, sink) -> the decoded JSON document of a whole-file feed
-- (STIX bundle, MISP event); invalid JSON fails the file with where and why.
function M.read_document(src, sink)
  local text, err = src:read_all()
  if not text then sink.fail(err) end
  local doc, derr = require("cjson.safe").decode(text)
  if doc == nil then
    local jsonscan = require "ipe.ingest.jsonscan"
    local why, at = jsonscan.explain(text)
    sink.fail((at and "line " .. jsonscan.line_of(text, at) .. ": " or "") .. "invalid JSON: " .. (why or tostring(derr)))
  end
  return doc
end

return M
