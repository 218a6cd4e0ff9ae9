-- All traffic that touches a live, unexpired threat-intelligence indicator (KQL).
return {
  name = "ti-matches-in-traffic",
  kind = "hunt",
  title = "Traffic that touches a live indicator",
  summary = "All traffic, sign-ins and logons involving an IP with a live, unexpired TI indicator",
  description = [[
Takes the workspace's live threat-intelligence indicators — the latest version
of each IndicatorId in ThreatIntelligenceIndicator that is Active and not past
its ExpirationDateTime, with a confidence of at least min_confidence — and
finds every event in the window that involves one of their IPs (NetworkIP,
NetworkSourceIP, NetworkDestinationIP, EmailSourceIpAddress) or an address in
one of their CIDR blocks (NetworkCidrBlock, NetworkSourceCidrBlock,
NetworkDestinationCidrBlock; IPv4 and IPv6): firewall records in both
directions, device network events, Entra ID sign-ins and Windows logons. One
row per address, source, direction, internal host or account and action, with
the indicators' threat types, providers, confidence, expiry and
MatchedIndicators (the addresses or blocks that matched). Each indicator is
its latest version up to the window's end. Blocks are matched through their
numeric ranges, against the addresses the per-IP rollup saw in the window.
Indicators only help when someone looks for them in the traffic: this is the
TI-map analytic as a hunt. Expired or deactivated indicators are left out on
purpose — they are where stale false positives come from.]],
  categories = { "offline", "threat-intel", "network" },
  sources = { "ThreatIntelligenceIndicator", "_ipe_ti_ranges", "_ipe_ip_activity", "CommonSecurityLog", "DeviceNetworkEvents", "SigninLogs", "SecurityEvent" },
  params = {
    { name = "min_confidence", type = "int", default = 0, min = 0, max = 100,
      help = "only indicators with at least this confidence (0-100)" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  display = { title = "Traffic touching live indicators", columns = { IndicatorIP = "ip", Confidence = "number",
    Events = "count", FirstSeen = "time", LastSeen = "time", IndicatorExpires = "time" } },
  language = "kql",
  query = [[
let min_confidence = 0;
let limit = 1000;
// the addresses the traffic tables name in the window's hours (ipe's per-IP rollup: a superset),
// for the CIDR blocks: an address an indicator names exactly needs no such list (the traffic
// join below keeps only the addresses with events)
let addresses = ipe_ip_activity()
    | where Source in ("CommonSecurityLog", "DeviceNetworkEvents", "SigninLogs", "SecurityEvent")
    | distinct IP;
// the live indicators: each one's latest version up to the window's end, active, unexpired
let live = ThreatIntelligenceIndicator
    | where TimeGenerated <= window_end
    | project TimeGenerated, IndicatorId, Active, ExpirationDateTime, ConfidenceScore, ThreatType, IndicatorProvider,
        NetworkIP, NetworkSourceIP, NetworkDestinationIP, EmailSourceIpAddress, NetworkCidrBlock, NetworkSourceCidrBlock,
        NetworkDestinationCidrBlock
    | summarize arg_max(TimeGenerated, *) by IndicatorId
    | where Active == true and (isnull(ExpirationDateTime) or ExpirationDateTime > now())
    | where coalesce(ConfidenceScore, 0.0) >= min_confidence;
// each address an indicator names, or that lies in an indicator's CIDR block (ipv6_lookup: IPv4
// and IPv6 blocks, an IPv4 address read as its IPv4-mapped form)
let blocks = live
    | mv-expand Block = pack_array(NetworkCidrBlock, NetworkSourceCidrBlock, NetworkDestinationCidrBlock) to typeof(string)
    | where isnotempty(Block);
let matched = union
    (live
     | mv-expand Indicator = pack_array(NetworkIP, NetworkSourceIP, NetworkDestinationIP, EmailSourceIpAddress)
         to typeof(string)
     | where isnotempty(Indicator)
     | extend IP = Indicator),
    (addresses | evaluate ipv6_lookup(blocks, IP, Block) | extend Indicator = Block);
let indicators = matched
| summarize ThreatTypes = strcat_array(array_sort_asc(make_set_if(ThreatType, isnotempty(ThreatType))), ","),
    Providers = strcat_array(array_sort_asc(make_set_if(IndicatorProvider, isnotempty(IndicatorProvider))), ","),
    Confidence = max(ConfidenceScore), Expires = max(ExpirationDateTime),
    MatchedIndicators = strcat_array(array_sort_asc(make_set(Indicator)), ",")
    by IP;
let hits = matched | project IP;
// their events in the window: firewall records both ways, device connections, sign-ins, logons
union
    (CommonSecurityLog
     | where TimeGenerated between (window_start .. window_end)
     | project Source = "CommonSecurityLog", IP = DestinationIP, Direction = "to the indicator",
         Entity = coalesce(SourceHostName, SourceIP), Action = DeviceAction, TimeGenerated),
    (CommonSecurityLog
     | where TimeGenerated between (window_start .. window_end)
     | project Source = "CommonSecurityLog", IP = SourceIP, Direction = "from the indicator",
         Entity = coalesce(DestinationHostName, DestinationTranslatedAddress, DestinationIP), Action = DeviceAction,
         TimeGenerated),
    (DeviceNetworkEvents
     | where TimeGenerated between (window_start .. window_end)
     | project Source = "DeviceNetworkEvents", IP = RemoteIP,
         Direction = iff(ActionType startswith "Inbound", "from the indicator", "to the indicator"),
         Entity = DeviceName, Action = ActionType, TimeGenerated),
    (SigninLogs
     | where TimeGenerated between (window_start .. window_end)
     | project Source = "SigninLogs", IP = IPAddress, Direction = "sign-in from the indicator",
         Entity = tolower(UserPrincipalName), Action = iff(ResultType == "0", "success", strcat("failure ", ResultType)),
         TimeGenerated),
    (SecurityEvent
     | where TimeGenerated between (window_start .. window_end) and EventID in (4624, 4625)
     | project Source = "SecurityEvent", IP = IpAddress, Direction = "logon from the indicator", Entity = Computer,
         Action = iff(EventID == 4624, "success", "failure"), TimeGenerated)
| where isnotempty(IP) and IP in (hits)
| summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
    by IP, Source, Direction, Entity, Action
| join kind=inner indicators on IP
| project IndicatorIP = IP, ThreatTypes, Providers, Confidence, MatchedIndicators, Source, Direction, Entity, Action,
    Events, FirstSeen, LastSeen, IndicatorExpires = Expires
| order by Confidence desc, IndicatorIP asc, Events desc, Source asc, Direction asc, Entity asc, Action asc
| take limit
| project IndicatorIP, ThreatTypes, Providers, Confidence, MatchedIndicators, Source, Direction, Entity, Action, Events,
    FirstSeen, LastSeen, IndicatorExpires
]],
}
