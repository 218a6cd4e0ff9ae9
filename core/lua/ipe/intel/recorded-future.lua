-- ipe.intel.recorded-future: Recorded Future Connect API v2,
-- GET /v2/ip/{ip}?fields=entity,risk,timestamps,intelCard.
--
-- Key: IPE_RF_API_KEY or [provider.recorded-future] key, sent as the
-- X-RFToken header. Verdict from the risk criticality (0 none, 1 unusual,
-- 2 suspicious, 3 malicious, 4 very malicious): 3-4 -> malicious, 2 ->
-- suspicious, else unknown. Score: the risk score (0-99). Evidence: the risk
-- rules that fired, with their evidence strings. 404: not_found.
local util = require "ipe.intel.util"

local P = {
  id = "recorded-future", name = "Recorded Future",
  env = { key = "IPE_RF_API_KEY" },
  required = { { "key" } },
  secrets = { "key" },
  defaults = { base_url = "https://api.recordedfuture.com", ttl = 86400, negative_ttl = 86400, timeout = 8 },
  ti_names = { "recorded future", "recordedfuture" },
}

function P.link(ip) return "https://app.recordedfuture.com/live/sc/entity/ip%3A" .. ip end

function P.request(ip, cred, base)
  return { method = "GET", url = base .. "/v2/ip/" .. util.escape(ip) .. "?fields=entity,risk,timestamps,intelCard",
           headers = { ["X-RFToken"] = cred.key, Accept = "application/json" } }
end

function P.error_text(doc)
  return util.text(util.get(doc, "error", "message") or util.get(doc, "message") or util.get(doc, "error"))
end

function P.parse(doc, ip)
  local d = util.get(doc, "data")
  local risk = util.get(d, "risk")
  if type(risk) ~= "table" then return nil, "no data.risk in the answer" end
  local crit = util.number(risk.criticality) or 0
  local score = util.number(risk.score)
  local verdict = crit >= 3 and "malicious" or crit == 2 and "suspicious" or "unknown"
  local evidence = {}
  for _, e in ipairs(util.list(risk.evidenceDetails)) do
    local text = util.get(e, "evidenceString")
    evidence[#evidence + 1] = util.evidence{ source = "Recorded Future", finding = util.get(e, "rule"), detail = text,
      severity = util.get(e, "criticalityLabel"), seen = util.time(util.get(e, "timestamp")),
      link = type(text) == "string" and text:match("(https://app%.recordedfuture%.com/%S+)") or nil }
  end
  table.sort(evidence, function(x, y) return (x.seen or "") > (y.seen or "") end)
  local label = util.text(risk.criticalityLabel)
  return {
    verdict = verdict, score = score, score_max = 99,
    score_text = score and string.format("risk %d/99%s, %s", score, label and " (" .. label .. ")" or "",
                                         util.text(risk.riskString) and (risk.riskString .. " risk rules") or "no rules")
      or nil,
    summary = {
      { "Criticality", label }, { "Risk summary", util.text(risk.riskSummary) },
      { "First seen", util.time(util.get(d, "timestamps", "firstSeen")), "time" },
      { "Last seen", util.time(util.get(d, "timestamps", "lastSeen")), "time" },
    },
    evidence = evidence, link = util.text(util.get(d, "intelCard"), 400) or P.link(ip),
  }
end

return P
