-- ipe.intel.greynoise: GreyNoise Community API v3, GET /v3/community/{ip}.
--
-- Key: optional — IPE_GREYNOISE_API_KEY or [provider.greynoise] key, sent as
-- the key header; without one the community API answers with a lower quota.
-- Verdict from classification: malicious -> malicious, suspicious ->
-- suspicious, benign -> harmless (also an address in RIOT, the set of common
-- business services), else unknown. GreyNoise answers 404 with a message for
-- an address it has not seen: not_found.
local util = require "ipe.intel.util"

local P = {
  id = "greynoise", name = "GreyNoise",
  env = { key = "IPE_GREYNOISE_API_KEY" },
  required = {},
  secrets = { "key" },
  defaults = { base_url = "https://api.greynoise.io", ttl = 86400, negative_ttl = 86400, timeout = 8 },
  ti_names = { "greynoise" },
  handles_404 = true, -- a 404 carries a JSON answer: "not observed"
}

function P.link(ip) return "https://viz.greynoise.io/ip/" .. ip end

function P.request(ip, cred, base)
  return { method = "GET", url = base .. "/v3/community/" .. util.escape(ip),
           headers = { key = cred.key, Accept = "application/json" } }
end

function P.error_text(doc) return util.text(util.get(doc, "message")) end

local VERDICT = { malicious = "malicious", suspicious = "suspicious", benign = "harmless", unknown = "unknown" }

function P.parse(doc, ip, res)
  if type(doc) ~= "table" then return nil, "the answer is not a JSON object" end
  if res.status == 404 then return { not_found = true, message = util.text(doc.message) } end
  local class = util.v(doc.classification)
  local noise, riot = util.v(doc.noise) == true, util.v(doc.riot) == true
  local verdict = VERDICT[class] or "unknown"
  if verdict == "unknown" and riot then verdict = "harmless" end
  local what = {}
  if noise then what[#what + 1] = "internet scanner (noise)" end
  if riot then what[#what + 1] = "common business service (RIOT)" end
  local evidence = {}
  if #what > 0 or class then
    evidence[1] = util.evidence{ source = "GreyNoise", finding = #what > 0 and table.concat(what, ", ") or class,
                                 detail = util.v(doc.name) ~= "unknown" and util.v(doc.name) or nil,
                                 severity = class, seen = util.time(doc.last_seen), link = util.v(doc.link) }
  end
  return {
    verdict = verdict, score_text = class and ("classified " .. class) or nil,
    summary = {
      { "Classification", util.text(class) }, { "Noise", noise, "bool" }, { "RIOT", riot, "bool" },
      { "Name", util.text(doc.name) }, { "Last seen", util.time(doc.last_seen), "time" },
    },
    evidence = evidence, link = util.text(doc.link) or P.link(ip),
  }
end

return P
