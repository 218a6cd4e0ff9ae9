-- ipe.intel.otx: AlienVault OTX DirectConnect API v1,
-- GET /api/v1/indicators/IPv4/{ip}/general (IPv6 for IPv6 addresses).
--
-- Key: optional — IPE_OTX_API_KEY or [provider.otx] key, sent as the
-- X-OTX-API-KEY header. OTX has no verdict of its own; ipe derives one: an
-- address OTX validates as known-good (validation / false_positive entries,
-- e.g. "contained in whitelisted prefix") -> harmless; one or more pulses
-- (community threat reports) naming the address -> suspicious; else unknown.
-- Score: the number of pulses.
local util = require "ipe.intel.util"

local P = {
  id = "otx", name = "AlienVault OTX",
  env = { key = "IPE_OTX_API_KEY" },
  required = {},
  secrets = { "key" },
  defaults = { base_url = "https://otx.alienvault.com", ttl = 86400, negative_ttl = 86400, timeout = 8 },
  ti_names = { "alienvault", "otx" },
}

local MAX_PULSES = 50

function P.link(ip) return "https://otx.alienvault.com/indicator/ip/" .. ip end

function P.request(ip, cred, base)
  local kind = ip:find(":", 1, true) and "IPv6" or "IPv4"
  return { method = "GET", url = base .. "/api/v1/indicators/" .. kind .. "/" .. util.escape(ip) .. "/general",
           headers = { ["X-OTX-API-KEY"] = cred.key, Accept = "application/json" } }
end

function P.error_text(doc) return util.text(util.get(doc, "detail")) end

function P.parse(doc, ip)
  local info = util.get(doc, "pulse_info")
  if type(info) ~= "table" then return nil, "no pulse_info in the answer" end
  local pulses = util.list(info.pulses)
  local count = util.number(info.count) or #pulses
  -- the API spells it false_positive; some recorded answers say False_positive
  local fps = util.list(doc.false_positive or doc.False_positive)
  local validation = util.list(doc.validation)
  local evidence = {}
  for _, v in ipairs(validation) do
    evidence[#evidence + 1] = util.evidence{ source = "OTX validation" .. (util.v(v.source) and " (" .. v.source .. ")" or ""),
                                             finding = util.get(v, "name"), detail = util.get(v, "message") }
  end
  for _, fp in ipairs(fps) do
    evidence[#evidence + 1] = util.evidence{ source = "OTX false positive", finding = util.get(fp, "assessment"),
                                             detail = util.get(fp, "report_message") or util.get(fp, "assessment"),
                                             seen = util.time(util.get(fp, "assessment_date")) }
  end
  for i, p in ipairs(pulses) do
    if i > MAX_PULSES then break end
    local detail = util.join(util.get(p, "tags"))
    local fams = util.join(util.get(p, "malware_families"), "display_name")
    local adversary = util.text(util.get(p, "adversary"))
    if fams then detail = "malware: " .. fams .. (detail and "; tags: " .. detail or "") end
    if adversary then detail = "adversary: " .. adversary .. (detail and "; " .. detail or "") end
    local id = util.get(p, "id")
    evidence[#evidence + 1] = util.evidence{ source = util.get(p, "author", "username") or "OTX pulse",
      finding = util.get(p, "name"), detail = detail, severity = util.get(p, "TLP") and ("TLP " .. p.TLP) or nil,
      seen = util.time(util.get(p, "modified") or util.get(p, "created")),
      link = type(id) == "string" and "https://otx.alienvault.com/pulse/" .. id or nil }
  end
  local verdict = "unknown"
  if #validation > 0 or #fps > 0 then verdict = "harmless"
  elseif count > 0 then verdict = "suspicious" end
  return {
    verdict = verdict, score = count,
    score_text = string.format("%d pulse%s", count, count == 1 and "" or "s"),
    summary = {
      { "ASN", util.text(doc.asn) }, { "Country", util.text(doc.country_name or doc.country_code) },
      { "Reputation", util.number(doc.reputation), "number" }, { "Pulses", count, "count" },
      { "Validation", util.join(validation, "message") },
    },
    evidence = evidence, link = P.link(ip),
  }
end

return P
