-- ipe.intel.mdti: Microsoft Defender Threat Intelligence host reputation over
-- Microsoft Graph, GET /v1.0/security/threatIntelligence/hosts/{ip}/reputation.
--
-- Credentials, either of:
--   * a bearer token: IPE_MDTI_TOKEN or [provider.mdti] token (e.g. from
--     `az account get-access-token --resource https://graph.microsoft.com`);
--   * an app registration with ThreatIntelligence.Read.All (application):
--     IPE_MDTI_TENANT_ID, IPE_MDTI_CLIENT_ID, IPE_MDTI_CLIENT_SECRET, or
--     [provider.mdti] tenant_id, client_id, client_secret. ipe then runs the
--     OAuth 2.0 client-credentials flow against
--     {login_url}/{tenant_id}/oauth2/v2.0/token (login_url defaults to
--     https://login.microsoftonline.com) for the scope
--     https://graph.microsoft.com/.default. The token lives in memory only.
-- A given token wins over the client credentials.
-- Verdict from classification: malicious, suspicious, neutral -> harmless,
-- unknown. Score: Microsoft's 0-100 reputation score. Evidence: the rules.
local util = require "ipe.intel.util"
local cjson = require "cjson.safe"

local P = {
  id = "mdti", name = "Microsoft Defender Threat Intelligence",
  env = { token = "IPE_MDTI_TOKEN", tenant_id = "IPE_MDTI_TENANT_ID", client_id = "IPE_MDTI_CLIENT_ID",
          client_secret = "IPE_MDTI_CLIENT_SECRET" },
  required = { { "token" }, { "tenant_id", "client_id", "client_secret" } },
  secrets = { "token", "client_secret" },
  defaults = { base_url = "https://graph.microsoft.com", login_url = "https://login.microsoftonline.com",
               ttl = 86400, negative_ttl = 86400, timeout = 8 },
  ti_names = { "defender threat intelligence", "mdti", "microsoft emerging threat feed" },
}

P.SCOPE = "https://graph.microsoft.com/.default"

function P.link(ip) return "https://ti.defender.microsoft.com/search?query=" .. ip end

-- The token request of the client-credentials flow, or nil when a token is given.
function P.token_request(cred, cfg)
  if cred.token then return nil end
  local body = "grant_type=client_credentials&client_id=" .. util.form_escape(cred.client_id) ..
    "&client_secret=" .. util.form_escape(cred.client_secret) .. "&scope=" .. util.form_escape(P.SCOPE)
  return { method = "POST", url = cfg.login_url .. "/" .. util.escape(cred.tenant_id) .. "/oauth2/v2.0/token",
           headers = { ["Content-Type"] = "application/x-www-form-urlencoded", Accept = "application/json" },
           body = body }
end

-- token_from(response) -> access token | nil, why
function P.token_from(res)
  local doc = cjson.decode(res.body or "")
  if res.status == 200 and type(doc) == "table" and type(doc.access_token) == "string" then return doc.access_token end
  local why = type(doc) == "table" and util.text(doc.error_description or doc.error, 200)
  return nil, string.format("the token request failed (HTTP %d%s)", res.status or 0, why and ": " .. why or "")
end

function P.request(ip, cred, base)
  return { method = "GET", url = base .. "/v1.0/security/threatIntelligence/hosts/" .. util.escape(ip) .. "/reputation",
           headers = { Authorization = "Bearer " .. cred.token, Accept = "application/json" } }
end

P.error_text = util.error_code_message

local VERDICT = { malicious = "malicious", suspicious = "suspicious", neutral = "harmless", unknown = "unknown" }
local SEVERITY = { high = 1, medium = 2, low = 3 }

function P.parse(doc, ip)
  if type(doc) ~= "table" or util.v(doc.classification) == nil then return nil, "no classification in the answer" end
  local evidence = {}
  for _, r in ipairs(util.list(doc.rules)) do
    evidence[#evidence + 1] = util.evidence{ source = "Defender TI", finding = util.get(r, "name"),
      detail = util.get(r, "description"), severity = util.get(r, "severity"), link = util.get(r, "relatedDetailsUrl") }
  end
  table.sort(evidence, function(x, y)
    local a, b = SEVERITY[x.severity] or 4, SEVERITY[y.severity] or 4
    if a ~= b then return a < b end
    return (x.finding or "") < (y.finding or "")
  end)
  local score = util.number(doc.score)
  local class = util.text(doc.classification)
  return {
    verdict = VERDICT[class] or "unknown", score = score, score_max = 100,
    score_text = score and string.format("reputation score %d/100 (%s)", score, class) or class,
    summary = { { "Classification", class }, { "Rules", #evidence, "count" } },
    evidence = evidence, link = P.link(ip),
  }
end

return P
