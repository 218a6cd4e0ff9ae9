-- Every place in the workspace that mentions the IP: the Go hunt default (KQL).
--
-- Where IPs live: every IP column, JSON field, free-text column and IP list of the workspace's
-- tables (ipe.schema's descriptors; tests check this list against them), one union branch each:
-- equals (==), a ClientIP that may carry a port or brackets, a field of a JSON column, free text
-- (has_ipv4: the IP as a whole token), a JSON array of IPs (set_has_element), alert and
-- bookmark entities and a bookmark's entity mapping (ipe's ipe_entities_have_ip and
-- ipe_entity_mapping_has_ip), and the threat-intelligence CIDR blocks holding the IP
-- (evaluate ipv6_lookup: IPv4 and IPv6 blocks; MatchedBy then names the blocks).
return {
  name = "ip-everywhere",
  kind = "hunt",
  title = "Everywhere the IP appears",
  summary = "Every table and column that mentions the IP: counts, first and last seen (the Go hunt default)",
  description = [[
Searches every IP-bearing place of the workspace for the IP: each IP column of
every table (firewall and device network events, sign-ins, Windows and Linux
logons, Office and Azure activity, UEBA, heartbeats, alerts' entities, threat
intelligence, bookmarks, anomalies, watchlist keys) and the threat-intelligence
CIDR blocks that hold it (MatchedBy names them), the IP fields inside JSON
columns (AuditLogs InitiatedBy.user.ipAddress), IP lists (Heartbeat
ComputerPrivateIPs) and, unless include_text=false, free text (CommonSecurityLog
Message, SyslogMessage) where the IP must stand as a whole token. One row per
table and column that matched, with the number of rows and when the IP was first
and last seen there in the window.
It is the first question of every investigation — where has this address been? —
and the starting point to pivot: each row names the table and column to query
next. It is the default of the entity page's "Go hunt".]],
  categories = { "offline", "activity" },
  sources = { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "AuditLogs", "OfficeActivity",
              "BehaviorAnalytics", "Heartbeat", "SecurityAlert", "ThreatIntelligenceIndicator", "HuntingBookmark",
              "Anomalies", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "Watchlist", "_ipe_ti_ranges" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to look for" },
    { name = "include_text", type = "bool", default = true,
      help = "also search free-text columns (Message, SyslogMessage; slower)" },
  },
  display = { title = "Where {ip} appears", columns = { Events = "count", FirstSeen = "time", LastSeen = "time" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let include_text = true;
union
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and SourceIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "SourceIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and DestinationIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "DestinationIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and RemoteIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "RemoteIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and SourceTranslatedAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "SourceTranslatedAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and DestinationTranslatedAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "DestinationTranslatedAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and MaliciousIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "MaliciousIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (CommonSecurityLog | where TimeGenerated between (window_start .. window_end) and include_text and has_ipv4(Message, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "CommonSecurityLog", ColumnName = "Message", MatchedBy = "text", Events, FirstSeen, LastSeen),
    (Syslog | where TimeGenerated between (window_start .. window_end) and HostIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Syslog", ColumnName = "HostIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Syslog | where TimeGenerated between (window_start .. window_end) and include_text and has_ipv4(SyslogMessage, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Syslog", ColumnName = "SyslogMessage", MatchedBy = "text", Events, FirstSeen, LastSeen),
    (SecurityEvent | where TimeGenerated between (window_start .. window_end) and IpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "SecurityEvent", ColumnName = "IpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (SecurityEvent | where TimeGenerated between (window_start .. window_end) and ClientIPAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "SecurityEvent", ColumnName = "ClientIPAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (SecurityEvent | where TimeGenerated between (window_start .. window_end) and RemoteIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "SecurityEvent", ColumnName = "RemoteIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (SigninLogs | where TimeGenerated between (window_start .. window_end) and IPAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "SigninLogs", ColumnName = "IPAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (AuditLogs | where TimeGenerated between (window_start .. window_end) and tostring(parse_json(InitiatedBy).user.ipAddress) == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "AuditLogs", ColumnName = "InitiatedBy", MatchedBy = "json", Events, FirstSeen, LastSeen),
    (OfficeActivity | where TimeGenerated between (window_start .. window_end) and (ClientIP == ip or ClientIP startswith strcat("[", ip, "]") or (ip !contains ":" and ClientIP startswith strcat(ip, ":")))
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "OfficeActivity", ColumnName = "ClientIP", MatchedBy = "with_port", Events, FirstSeen, LastSeen),
    (OfficeActivity | where TimeGenerated between (window_start .. window_end) and ActorIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "OfficeActivity", ColumnName = "ActorIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (BehaviorAnalytics | where TimeGenerated between (window_start .. window_end) and SourceIPAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "BehaviorAnalytics", ColumnName = "SourceIPAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (BehaviorAnalytics | where TimeGenerated between (window_start .. window_end) and DestinationIPAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "BehaviorAnalytics", ColumnName = "DestinationIPAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Heartbeat | where TimeGenerated between (window_start .. window_end) and ComputerIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Heartbeat", ColumnName = "ComputerIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Heartbeat | where TimeGenerated between (window_start .. window_end) and set_has_element(parse_json(ComputerPrivateIPs), ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Heartbeat", ColumnName = "ComputerPrivateIPs", MatchedBy = "array", Events, FirstSeen, LastSeen),
    (SecurityAlert | where TimeGenerated between (window_start .. window_end) and ipe_entities_have_ip(Entities, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "SecurityAlert", ColumnName = "Entities", MatchedBy = "entities", Events, FirstSeen, LastSeen),
    (ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and NetworkIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and NetworkSourceIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkSourceIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and NetworkDestinationIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkDestinationIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and EmailSourceIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "EmailSourceIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (print IP = ip
     | evaluate ipv6_lookup(ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and isnotempty(NetworkCidrBlock), IP, NetworkCidrBlock)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated),
         Blocks = strcat_array(array_sort_asc(make_set(NetworkCidrBlock)), ",")
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkCidrBlock", MatchedBy = strcat("cidr ", Blocks), Events, FirstSeen, LastSeen),
    (print IP = ip
     | evaluate ipv6_lookup(ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and isnotempty(NetworkSourceCidrBlock), IP, NetworkSourceCidrBlock)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated),
         Blocks = strcat_array(array_sort_asc(make_set(NetworkSourceCidrBlock)), ",")
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkSourceCidrBlock", MatchedBy = strcat("cidr ", Blocks), Events, FirstSeen, LastSeen),
    (print IP = ip
     | evaluate ipv6_lookup(ThreatIntelligenceIndicator | where TimeGenerated between (window_start .. window_end) and isnotempty(NetworkDestinationCidrBlock), IP, NetworkDestinationCidrBlock)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated),
         Blocks = strcat_array(array_sort_asc(make_set(NetworkDestinationCidrBlock)), ",")
     | project TableName = "ThreatIntelligenceIndicator", ColumnName = "NetworkDestinationCidrBlock", MatchedBy = strcat("cidr ", Blocks), Events, FirstSeen, LastSeen),
    (HuntingBookmark | where TimeGenerated between (window_start .. window_end) and ipe_entity_mapping_has_ip(QueryResultRow, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "HuntingBookmark", ColumnName = "QueryResultRow", MatchedBy = "entity_mapping", Events, FirstSeen, LastSeen),
    (HuntingBookmark | where TimeGenerated between (window_start .. window_end) and ipe_entities_have_ip(Entities, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "HuntingBookmark", ColumnName = "Entities", MatchedBy = "entities", Events, FirstSeen, LastSeen),
    (Anomalies | where TimeGenerated between (window_start .. window_end) and SourceIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Anomalies", ColumnName = "SourceIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Anomalies | where TimeGenerated between (window_start .. window_end) and DestinationIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Anomalies", ColumnName = "DestinationIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Anomalies | where TimeGenerated between (window_start .. window_end) and ipe_entities_have_ip(Entities, ip)
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Anomalies", ColumnName = "Entities", MatchedBy = "entities", Events, FirstSeen, LastSeen),
    (DeviceNetworkEvents | where TimeGenerated between (window_start .. window_end) and RemoteIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "DeviceNetworkEvents", ColumnName = "RemoteIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (DeviceNetworkEvents | where TimeGenerated between (window_start .. window_end) and LocalIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "DeviceNetworkEvents", ColumnName = "LocalIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (DeviceInfo | where TimeGenerated between (window_start .. window_end) and PublicIP == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "DeviceInfo", ColumnName = "PublicIP", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (AzureActivity | where TimeGenerated between (window_start .. window_end) and CallerIpAddress == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "AzureActivity", ColumnName = "CallerIpAddress", MatchedBy = "equals", Events, FirstSeen, LastSeen),
    (Watchlist | where TimeGenerated between (window_start .. window_end) and SearchKey == ip
     | summarize Events = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
     | project TableName = "Watchlist", ColumnName = "SearchKey", MatchedBy = "equals", Events, FirstSeen, LastSeen)
| where Events > 0
| order by LastSeen desc, TableName asc, ColumnName asc
]],
}
