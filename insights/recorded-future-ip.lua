-- Recorded Future IP Address (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the recorded-future provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "recorded-future-ip",
  kind = "insight",
  title = "Recorded Future IP Address",
  summary = "Recorded Future's risk score and risk rules for the IP, plus this workspace's RF indicators",
  description = [[
Recorded Future's risk for the IP (Connect API v2 /v2/ip): the 0-99 risk
score, its criticality and every risk rule that fired with its evidence.
Beside the live answer, the indicators this workspace holds from Recorded
Future for the IP (ThreatIntelligenceIndicator, latest version of each, live
or not — Recorded Future's risk lists land there). Key: IPE_RF_API_KEY or
[provider.recorded-future] key. Private and internal addresses are never
sent; with --offline only the cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 30 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "recorded-future", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "recorded-future", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
