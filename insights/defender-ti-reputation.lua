-- Microsoft Defender Threat Intelligence reputation (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the mdti provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "defender-ti-reputation",
  kind = "insight",
  title = "Microsoft Defender Threat Intelligence reputation",
  summary = "Defender TI reputation of the IP, plus this workspace's Defender TI indicators for it",
  description = [[
The reputation Microsoft Defender Threat Intelligence gives the IP (Microsoft
Graph security/threatIntelligence/hosts/{ip}/reputation): a classification
(malicious, suspicious, neutral, unknown), a 0-100 score and the rules behind
it. Beside the live answer, the indicators this workspace holds from Defender
TI for the IP (ThreatIntelligenceIndicator, latest version of each, live or
not). Credentials: IPE_MDTI_TOKEN (a Graph bearer token), or
IPE_MDTI_TENANT_ID, IPE_MDTI_CLIENT_ID and IPE_MDTI_CLIENT_SECRET of an app
with ThreatIntelligence.Read.All (or [provider.mdti] in the config file).
Private and internal addresses are never sent; with --offline only the
cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 10 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "mdti", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "mdti", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
