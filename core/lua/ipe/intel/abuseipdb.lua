-- ipe.intel.abuseipdb: AbuseIPDB API v2, GET /api/v2/check?ipAddress=&maxAgeInDays=90&verbose.
--
-- Key: IPE_ABUSEIPDB_API_KEY or [provider.abuseipdb] key, sent as the Key header.
-- Free plan: 1000 checks per day (the default rate here).
-- Verdict from abuseConfidenceScore (0-100): 75 or more -> malicious; 1-74 ->
-- suspicious; 0 on a whitelisted address -> harmless; else unknown. Evidence:
-- the individual reports of the last 90 days (category names from AbuseIPDB's
-- category list).
local util = require "ipe.intel.util"

local P = {
  id = "abuseipdb", name = "AbuseIPDB",
  env = { key = "IPE_ABUSEIPDB_API_KEY" },
  required = { { "key" } },
  secrets = { "key" },
  defaults = { base_url = "https://api.abuseipdb.com", ttl = 86400, negative_ttl = 86400, timeout = 8, rate = "1000/1d" },
  ti_names = { "abuseipdb" },
}

P.CATEGORIES = {
  [1] = "DNS Compromise", [2] = "DNS Poisoning", [3] = "Fraud Orders", [4] = "DDoS Attack",
  [5] = "FTP Brute-Force", [6] = "Ping of Death", [7] = "Phishing", [8] = "Fraud VoIP", [9] = "Open Proxy",
  [10] = "Web Spam", [11] = "Email Spam", [12] = "Blog Spam", [13] = "VPN IP", [14] = "Port Scan",
  [15] = "Hacking", [16] = "SQL Injection", [17] = "Spoofing", [18] = "Brute-Force", [19] = "Bad Web Bot",
  [20] = "Exploited Host", [21] = "Web App Attack", [22] = "SSH", [23] = "IoT Targeted",
}

local MAX_REPORTS = 50

function P.link(ip) return "https://www.abuseipdb.com/check/" .. ip end

function P.request(ip, cred, base)
  return { method = "GET", url = base .. "/api/v2/check?ipAddress=" .. util.escape(ip) .. "&maxAgeInDays=90&verbose",
           headers = { Key = cred.key, Accept = "application/json" } }
end

function P.error_text(doc)
  return util.get(doc, "errors", 1, "detail")
end

local function categories(list)
  local names = {}
  for _, c in ipairs(util.list(list)) do names[#names + 1] = P.CATEGORIES[c] or ("category " .. tostring(c)) end
  return table.concat(names, ", ")
end

function P.parse(doc, ip)
  local d = util.get(doc, "data")
  if type(d) ~= "table" then return nil, "no data in the answer" end
  local score = util.number(d.abuseConfidenceScore)
  if not score then return nil, "no abuseConfidenceScore in the answer" end
  local whitelisted = util.v(d.isWhitelisted) == true
  local verdict = "unknown"
  if score >= 75 then verdict = "malicious"
  elseif score >= 1 then verdict = "suspicious"
  elseif whitelisted then verdict = "harmless" end
  local evidence = {}
  for i, r in ipairs(util.list(d.reports)) do
    if i > MAX_REPORTS then break end
    local who = util.get(r, "reporterId")
    local cc = util.get(r, "reporterCountryCode")
    evidence[#evidence + 1] = util.evidence{
      source = "reporter " .. (who and string.format("%d", who) or "?") .. (cc and " (" .. cc .. ")" or ""),
      finding = categories(util.get(r, "categories")), detail = util.get(r, "comment"),
      seen = util.time(util.get(r, "reportedAt")) }
  end
  local reports, users = util.number(d.totalReports) or 0, util.number(d.numDistinctUsers) or 0
  local tor = util.v(d.isTor)
  return {
    verdict = verdict, score = score, score_max = 100,
    score_text = string.format("abuse confidence %d%% (%d reports from %d users)", score, reports, users),
    summary = {
      { "ISP", util.text(d.isp) }, { "Usage type", util.text(d.usageType) }, { "Domain", util.text(d.domain) },
      { "Country", util.text(d.countryName or d.countryCode) },
      { "Tor exit node", tor ~= nil and tor or nil, "bool" },
      { "Whitelisted", util.v(d.isWhitelisted), "bool" },
      { "Reports", reports, "count" }, { "Last reported", util.time(d.lastReportedAt), "time" },
    },
    evidence = evidence, link = P.link(ip),
  }
end

return P
