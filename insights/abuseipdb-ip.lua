-- AbuseIPDB (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the abuseipdb provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "abuseipdb-ip",
  kind = "insight",
  title = "AbuseIPDB",
  summary = "AbuseIPDB's abuse confidence and reports for the IP, plus this workspace's AbuseIPDB indicators",
  description = [[
AbuseIPDB's view of the IP (API v2 check, last 90 days): the abuse
confidence score, the ISP and usage type, and each report with its
categories and comment. Beside the live answer, the indicators this
workspace holds from AbuseIPDB for the IP (ThreatIntelligenceIndicator,
latest version of each, live or not — the AbuseIPDB playbooks write there).
Key: IPE_ABUSEIPDB_API_KEY or [provider.abuseipdb] key. Private and internal
addresses are never sent; with --offline only the cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 50 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "abuseipdb", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "abuseipdb", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
