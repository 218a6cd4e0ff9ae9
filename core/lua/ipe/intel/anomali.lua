-- ipe.intel.anomali: Anomali ThreatStream API v2, GET /api/v2/intelligence/?value={ip}.
--
-- Credentials: IPE_ANOMALI_USER and IPE_ANOMALI_API_KEY, or [provider.anomali]
-- user and key; sent as "Authorization: apikey user:key" (never in the URL).
-- Verdict from the active intelligence objects' highest confidence (the
-- thresholds of Anomali's own SOAR integration): above 65 -> malicious, above
-- 25 -> suspicious, else unknown. Objects that are no longer active are shown
-- as evidence but do not decide the verdict. No objects at all: not_found.
local util = require "ipe.intel.util"

local P = {
  id = "anomali", name = "Anomali ThreatStream",
  env = { user = "IPE_ANOMALI_USER", key = "IPE_ANOMALI_API_KEY" },
  required = { { "user", "key" } },
  secrets = { "key" },
  defaults = { base_url = "https://api.threatstream.com", ttl = 86400, negative_ttl = 86400, timeout = 8 },
  ti_names = { "anomali", "threatstream" },
}

local MAX_OBJECTS = 50

function P.link(ip) return "https://ui.threatstream.com/detail/ip/" .. ip end

function P.request(ip, cred, base)
  return { method = "GET",
           url = base .. "/api/v2/intelligence/?value=" .. util.escape(ip) .. "&type=ip&limit=" .. MAX_OBJECTS ..
                 "&order_by=-modified_ts",
           headers = { Authorization = "apikey " .. cred.user .. ":" .. cred.key, Accept = "application/json" } }
end

function P.error_text(doc) return util.text(util.get(doc, "message") or util.get(doc, "error")) end

function P.parse(doc, ip)
  local objects = util.get(doc, "objects")
  if type(objects) ~= "table" then return nil, "no objects in the answer" end
  if #objects == 0 then return { not_found = true } end
  local best, active, types, sources = nil, 0, {}, {}
  local evidence = {}
  for _, o in ipairs(objects) do
    local status = util.text(util.get(o, "status")) or "unknown"
    local conf = util.number(util.get(o, "confidence"))
    if status == "active" then
      active = active + 1
      if conf and (not best or conf > best) then best = conf end
    end
    local tt = util.text(util.get(o, "threat_type"))
    if tt and not types[tt] then types[#types + 1] = tt; types[tt] = true end
    local src = util.text(util.get(o, "source"))
    if src and not sources[src] then sources[#sources + 1] = src; sources[src] = true end
    local parts = { status }
    if conf then parts[#parts + 1] = string.format("confidence %d", conf) end
    local ts = util.number(util.get(o, "threatscore"))
    if ts then parts[#parts + 1] = string.format("threat score %d", ts) end
    local exp = util.time(util.get(o, "expiration_ts"))
    if exp then parts[#parts + 1] = (status == "active" and "expires " or "expired ") .. exp end
    local tags = util.join(util.get(o, "tags"), "name")
    if tags then parts[#parts + 1] = "tags: " .. tags end
    local desc = util.text(util.get(o, "description"))
    if desc then parts[#parts + 1] = desc end
    evidence[#evidence + 1] = util.evidence{ source = src or "ThreatStream",
      finding = (util.text(util.get(o, "itype")) or "indicator") .. (tt and " (" .. tt .. ")" or ""),
      detail = table.concat(parts, "; "), severity = util.get(o, "meta", "severity"),
      seen = util.time(util.get(o, "modified_ts") or util.get(o, "created_ts")), link = P.link(ip) }
  end
  local verdict = "unknown"
  if best and best > 65 then verdict = "malicious" elseif best and best > 25 then verdict = "suspicious" end
  return {
    verdict = verdict, score = best, score_max = 100,
    score_text = best and string.format("confidence %d (highest of %d active)", best, active)
      or string.format("no active intelligence (%d inactive)", #objects),
    summary = {
      { "Intelligence objects", #objects, "count" }, { "Active", active, "count" },
      { "Threat types", #types > 0 and table.concat(types, ", ") or nil },
      { "Sources", #sources > 0 and table.concat(sources, ", ") or nil },
    },
    evidence = evidence, link = P.link(ip),
  }
end

return P
