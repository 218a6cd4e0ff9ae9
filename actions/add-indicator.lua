-- Add the IP to the workspace's threat intelligence (Sentinel's "Add indicator").
return {
  name = "add-indicator",
  kind = "action",
  title = "Add indicator",
  summary = "Add the IP as an indicator of compromise to ThreatIntelligenceIndicator; export live indicators as STIX",
  description = [[
Adds the IP as an indicator of compromise to the workspace's
ThreatIntelligenceIndicator table, as the entity page's "Add indicator" does:
the action a defence should take on it (alert, block or allow), the threat
type, a confidence (0-100), a severity (0-5), a description, tags, the TLP
level and an expiration (default 30 days from now; a duration like 90d or a
time in the future). The indicator is provided by "ipe".
Re-adding the IP updates the same indicator — the same IndicatorId and STIX id,
a new version row, as Sentinel keeps versions — and nothing is written when
nothing changed. With --export stix (-p export=stix) it then writes the
workspace's live indicators (latest version, active, not expired; from every
provider) as a STIX 2.1 bundle, to stdout or -o FILE; the IP may be left out
to export only. Without --execute it shows what it would add; the export
always reflects the indicators as they are.
Indicators are what the TI-matching hunts and insights look for: adding one
makes every past and future event with the IP stand out.]],
  categories = { "offline", "response", "threat-intel" },
  sources = { "ThreatIntelligenceIndicator" },
  side_effects = {
    "adds or updates the IP's indicator in ThreatIntelligenceIndicator (a new version row)",
    "records each change in the audit trail (_ipe_audit)",
  },
  params = {
    { name = "ip", type = "string", default = "", help = "the IP address to add (may be left out with export=stix)" },
    { name = "action", type = "choice", choices = { "alert", "block", "allow" }, default = "alert",
      help = "what a defence should do on a match" },
    { name = "threat_type", type = "choice", default = "MaliciousActivity",
      choices = { "MaliciousActivity", "C2", "Botnet", "Malware", "Phishing", "Proxy", "Darknet", "Anonymization",
                  "Compromised", "Benign", "Unknown" },
      help = "the kind of threat" },
    { name = "confidence", type = "int", default = 80, min = 0, max = 100, help = "confidence 0-100" },
    { name = "severity", type = "int", default = 3, min = 0, max = 5, help = "threat severity 0-5" },
    { name = "description", type = "string", default = "", help = "why the IP is an indicator" },
    { name = "tags", type = "string", default = "", help = "comma-separated tags" },
    { name = "tlp", type = "choice", choices = { "white", "green", "amber", "red" }, default = "amber",
      help = "traffic light protocol level" },
    { name = "expires", type = "string", default = "30d",
      help = "expiration: a duration from now (30d) or a time in the future (ISO 8601)" },
    { name = "export", type = "choice", choices = { "none", "stix" }, default = "none",
      help = "afterwards export the live indicators (stix: a STIX 2.1 bundle)" },
  },
  run = function(ctx, p)
    local A = ctx.actions
    local ip = A.ip(p.ip, "ip")
    if not ip and p.export == "none" then
      A.required("ip", "the IP address to add; or export only with --export stix")
    end
    if ip then
      A.indicator_add{
        ip = ip, action = p.action, threat_type = p.threat_type, confidence = p.confidence, severity = p.severity,
        description = p.description, tags = A.tags(p.tags), tlp = p.tlp, expires = A.expiry(p.expires, "expires"),
      }
    end
    if p.export ~= "none" then A.indicators_export{ format = p.export } end
    return A.report()
  end,
}
