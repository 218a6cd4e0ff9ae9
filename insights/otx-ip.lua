-- AlienVault OTX IP Address (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the otx provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "otx-ip",
  kind = "insight",
  title = "AlienVault OTX IP Address",
  summary = "AlienVault OTX pulses naming the IP, plus this workspace's OTX indicators",
  description = [[
The AlienVault OTX pulses (community threat reports) that name the IP and
OTX's own validation (e.g. a known-good prefix), from the IPv4/IPv6 general
section. Beside the live answer, the indicators this workspace holds from
OTX for the IP (ThreatIntelligenceIndicator, latest version of each, live or
not). Works without a key; a key goes in IPE_OTX_API_KEY or [provider.otx]
key. Private and internal addresses are never sent; with --offline only the
cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 130 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "otx", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "otx", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
