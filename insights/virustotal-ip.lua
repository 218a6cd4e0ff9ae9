-- Virus Total IP Address (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the virustotal provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "virustotal-ip",
  kind = "insight",
  title = "Virus Total IP Address",
  summary = "VirusTotal's engine verdicts for the IP, plus this workspace's VirusTotal indicators",
  description = [[
What VirusTotal (API v3 ip_addresses) says about the IP: how many engines
flag it malicious or suspicious, which ones, the community reputation, the AS
and country. Beside the live answer, the indicators this workspace holds from
VirusTotal for the IP (ThreatIntelligenceIndicator, latest version of each,
live or not). Key: IPE_VT_API_KEY or [provider.virustotal] key. The public
API allows 4 lookups a minute; ipe waits its turn within the run's time
budget and caches answers for a day. Private and internal addresses are never
sent; with --offline only the cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 20 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "virustotal", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "virustotal", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
