-- ipe.intel.virustotal: VirusTotal API v3, GET /api/v3/ip_addresses/{ip}.
--
-- Key: IPE_VT_API_KEY or [provider.virustotal] key, sent as the x-apikey header.
-- Public API quota: 4 requests per minute (the default rate here).
-- Verdict from last_analysis_stats: 3 or more engines say malicious ->
-- malicious; any malicious or suspicious engine -> suspicious; otherwise any
-- harmless engine -> harmless; else unknown. Score: malicious engines of all
-- engines. A 404 (NotFoundError) is not_found.
local util = require "ipe.intel.util"

local P = {
  id = "virustotal", name = "VirusTotal",
  env = { key = "IPE_VT_API_KEY" },
  required = { { "key" } },
  secrets = { "key" },
  defaults = { base_url = "https://www.virustotal.com", ttl = 86400, negative_ttl = 86400, timeout = 8, rate = "4/1m" },
  ti_names = { "virustotal", "virus total" },
}

function P.link(ip) return "https://www.virustotal.com/gui/ip-address/" .. ip end

function P.request(ip, cred, base)
  return { method = "GET", url = base .. "/api/v3/ip_addresses/" .. util.escape(ip),
           headers = { ["x-apikey"] = cred.key, Accept = "application/json" } }
end

P.error_text = util.error_code_message

local ORDER = { malicious = 1, suspicious = 2 }

function P.parse(doc, ip)
  local a = util.get(doc, "data", "attributes")
  if type(a) ~= "table" then return nil, "no data.attributes in the answer" end
  local stats = util.get(a, "last_analysis_stats") or {}
  local total = 0
  for _, n in pairs(stats) do if type(n) == "number" then total = total + n end end
  local mal = util.number(stats.malicious) or 0
  local sus = util.number(stats.suspicious) or 0
  local harm = util.number(stats.harmless) or 0
  local verdict = "unknown"
  if mal >= 3 then verdict = "malicious"
  elseif mal + sus > 0 then verdict = "suspicious"
  elseif harm > 0 then verdict = "harmless" end
  local evidence = {}
  for engine, r in pairs(util.get(a, "last_analysis_results") or {}) do
    local cat = util.get(r, "category")
    if ORDER[cat] then
      evidence[#evidence + 1] = util.evidence{ source = util.get(r, "engine_name") or engine, finding = cat,
                                               detail = util.get(r, "result"),
                                               seen = util.time(util.get(a, "last_analysis_date")) }
    end
  end
  table.sort(evidence, function(x, y)
    if x.finding ~= y.finding then return ORDER[x.finding] < ORDER[y.finding] end
    return x.source < y.source
  end)
  local gti = util.get(a, "gti_assessment")
  if type(gti) == "table" then
    table.insert(evidence, 1, util.evidence{ source = "Google Threat Intelligence",
      finding = util.get(gti, "verdict", "value"), detail = util.get(gti, "description"),
      severity = util.get(gti, "severity", "value") })
  end
  local asn, owner = util.number(a.asn), util.text(a.as_owner)
  local votes = util.get(a, "total_votes") or {}
  local summary = {
    { "Reputation", util.number(a.reputation), "number" },
    { "AS", asn and ("AS" .. string.format("%d", asn) .. (owner and " " .. owner or "")) or owner },
    { "Country", util.text(a.country) },
    { "Network", util.text(a.network) },
    { "Community votes", string.format("%d malicious, %d harmless", util.number(votes.malicious) or 0,
                                       util.number(votes.harmless) or 0) },
    { "Last modified", util.time(a.last_modification_date), "time" },
  }
  if type(gti) == "table" then
    summary[#summary + 1] = { "GTI threat score", util.number(util.get(gti, "threat_score", "value")), "number" }
  end
  return {
    verdict = verdict, score = mal, score_max = total,
    score_text = string.format("%d of %d engines flag it malicious, %d suspicious", mal, total, sus),
    summary = summary, evidence = evidence, link = P.link(ip),
  }
end

return P
