-- IPs first seen in the window across all sources (KQL).
return {
  name = "new-ips-first-seen",
  kind = "hunt",
  title = "IPs first seen in the window",
  summary = "Addresses that appear in the window but nowhere in the history before it",
  description = [[
Collects every address in the IP columns of the activity tables (firewall,
Syslog, Windows logons, sign-ins, Office and Azure activity, UEBA, heartbeats,
device network events and inventory) over the window plus a history of
`history` before it, and keeps those whose first appearance falls inside the
window and that appear in at least min_events rows. One row per address with
first and last time, the number of rows and the tables it appears in. When
named IP ranges are defined (action ip-ranges), the Ranges column names the
ranges each address falls in, and with hide_known=true (the default) addresses
in a Corporate, Administrative, VPN or Cloud provider range are left out.
New infrastructure is where intrusions start: a first-time sign-in source, a
new destination that suddenly gets traffic from several hosts, an admin
address nobody has seen before. Known-good ranges keep the list short.]],
  categories = { "offline", "activity" },
  sources = { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "OfficeActivity", "BehaviorAnalytics",
              "Heartbeat", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "_ipe_ip_ranges" },
  params = {
    { name = "history", type = "duration", default = "30d",
      help = "how far before the window to look for earlier appearances" },
    { name = "min_events", type = "int", default = 5, min = 1, max = 100000000,
      help = "keep addresses seen in at least this many rows" },
    { name = "hide_known", type = "bool", default = true,
      help = "leave out addresses in Corporate, Administrative, VPN or Cloud provider ranges" },
    { name = "limit", type = "int", default = 200, min = 1, max = 100000, help = "at most this many addresses" },
  },
  display = { title = "Addresses first seen since {window_start}", columns = { IP = "ip", Events = "count" } },
  language = "kql",
  query = [[
let history = 30d;
let min_events = 5;
let hide_known = true;
let limit = 200;
// the plain IP columns of the activity tables (not threat intelligence, not alerts: an IP
// listed there was reported, not seen), over the window and the history before it
let seen = union
    (CommonSecurityLog | project IP = SourceIP, TimeGenerated, TableName = "CommonSecurityLog"),
    (CommonSecurityLog | project IP = DestinationIP, TimeGenerated, TableName = "CommonSecurityLog"),
    (CommonSecurityLog | project IP = RemoteIP, TimeGenerated, TableName = "CommonSecurityLog"),
    (CommonSecurityLog | project IP = SourceTranslatedAddress, TimeGenerated, TableName = "CommonSecurityLog"),
    (CommonSecurityLog | project IP = DestinationTranslatedAddress, TimeGenerated, TableName = "CommonSecurityLog"),
    (Syslog | project IP = HostIP, TimeGenerated, TableName = "Syslog"),
    (SecurityEvent | project IP = IpAddress, TimeGenerated, TableName = "SecurityEvent"),
    (SecurityEvent | project IP = ClientIPAddress, TimeGenerated, TableName = "SecurityEvent"),
    (SecurityEvent | project IP = RemoteIpAddress, TimeGenerated, TableName = "SecurityEvent"),
    (SigninLogs | project IP = IPAddress, TimeGenerated, TableName = "SigninLogs"),
    (OfficeActivity | project IP = ClientIP, TimeGenerated, TableName = "OfficeActivity"),
    (OfficeActivity | project IP = ActorIpAddress, TimeGenerated, TableName = "OfficeActivity"),
    (BehaviorAnalytics | project IP = SourceIPAddress, TimeGenerated, TableName = "BehaviorAnalytics"),
    (BehaviorAnalytics | project IP = DestinationIPAddress, TimeGenerated, TableName = "BehaviorAnalytics"),
    (Heartbeat | project IP = ComputerIP, TimeGenerated, TableName = "Heartbeat"),
    (DeviceNetworkEvents | project IP = RemoteIP, TimeGenerated, TableName = "DeviceNetworkEvents"),
    (DeviceNetworkEvents | project IP = LocalIP, TimeGenerated, TableName = "DeviceNetworkEvents"),
    (DeviceInfo | project IP = PublicIP, TimeGenerated, TableName = "DeviceInfo"),
    (AzureActivity | project IP = CallerIpAddress, TimeGenerated, TableName = "AzureActivity")
| where isnotempty(IP) and TimeGenerated >= window_start - history and TimeGenerated <= window_end;
let new_ips = seen
| summarize FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated), Events = count(), Tables = make_set(TableName)
    by IP
| where FirstSeen >= window_start and Events >= min_events
| project IP, FirstSeen, LastSeen, Events, Tables = strcat_array(array_sort_asc(Tables), ",");
// the networks of the known-good named ranges (action ip-ranges)
let known = toscalar(ipe_named_ranges()
    | where Category in ("Corporate", "Administrative", "VPN", "Cloud provider")
    | summarize make_list(Cidr));
new_ips
| where not(hide_known) or not(ipv6_is_in_any_range(IP, known))
| order by Events desc, FirstSeen asc, IP asc
| take limit
// the named ranges each address falls in, "Name (Category)" in order
| extend k = 1
| join kind=leftouter (ipe_named_ranges() | extend k = 1) on k
| summarize Labels = make_list_if(strcat(Name, " (", Category, ")"), ipv6_is_in_range(IP, Cidr))
    by IP, FirstSeen, LastSeen, Events, Tables
| order by Events desc, FirstSeen asc, IP asc
| project IP, FirstSeen, LastSeen, Events, Tables, Ranges = strcat_array(array_sort_asc(Labels), ", ")
]],
}
