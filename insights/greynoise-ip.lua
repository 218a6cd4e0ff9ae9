-- GreyNoise IP Address (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the greynoise provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "greynoise-ip",
  kind = "insight",
  title = "GreyNoise IP Address",
  summary = "GreyNoise community view of the IP (internet scanner or business service), plus workspace indicators",
  description = [[
Whether GreyNoise (Community API v3) has seen the IP scanning the internet
(noise) or knows it as a common business service (RIOT), and how it
classifies it. Beside the live answer, the indicators this workspace holds
from GreyNoise for the IP (ThreatIntelligenceIndicator, latest version of
each, live or not). Works without a key (a lower quota); a key goes in
IPE_GREYNOISE_API_KEY or [provider.greynoise] key. Private and internal
addresses are never sent; with --offline only the cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 120 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "greynoise", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "greynoise", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
