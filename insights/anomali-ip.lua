-- Anomali IP Address (Sentinel entity insight, insights.md 2.1-2.5): the live answer
-- of the anomali provider through ctx.intel (egress policy, cache, quotas,
-- offline mode) beside this workspace's own indicators from that provider.
return {
  name = "anomali-ip",
  kind = "insight",
  title = "Anomali IP Address",
  summary = "Anomali ThreatStream intelligence on the IP, plus this workspace's Anomali indicators",
  description = [[
The intelligence Anomali ThreatStream holds on the IP (API v2 intelligence):
each object's type, threat type, status, confidence and threat score. The
verdict comes from the active objects' highest confidence. Beside the live
answer, the indicators this workspace holds from Anomali for the IP
(ThreatIntelligenceIndicator, latest version of each, live or not).
Credentials: IPE_ANOMALI_USER and IPE_ANOMALI_API_KEY, or [provider.anomali]
user and key. Private and internal addresses are never sent; with --offline
only the cache answers.]],
  categories = { "external", "threat-intel" },
  page = { group = "insights", order = 40 },
  sources = { "ThreatIntelligenceIndicator" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look up" },
  },
  run = function(ctx, p)
    local answer = ctx.intel.lookup{ provider = "anomali", ip = p.ip }
    local rows, cols = ctx.intel.indicators{ provider = "anomali", ip = p.ip }
    return ctx.intel.card(answer, rows, cols)
  end,
}
