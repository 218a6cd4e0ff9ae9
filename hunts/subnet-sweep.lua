-- One source touching many hosts of a network: a sweep or scan (KQL).
return {
  name = "subnet-sweep",
  kind = "hunt",
  title = "Sweep of a network",
  summary = "One source touching many hosts of a CIDR: host discovery, port sweeps, worm spread",
  description = [[
For the network cidr, every source that connected (or tried to) to at least
min_hosts distinct addresses of it in the window, per data source (firewall
records and device network events): how many targets, connections, how many
were allowed or blocked, the destination ports, first and last time and the
duration in minutes.
Ordinary clients talk to a handful of servers; a host that touches hundreds of
addresses of a server network in minutes is scanning it — an attacker's
discovery step, a worm, or a misconfigured tool — and the allowed connections
are the ones that reached something.]],
  categories = { "offline", "network" },
  sources = { "CommonSecurityLog", "DeviceNetworkEvents" },
  params = {
    { name = "cidr", type = "cidr", required = true, help = "the network swept, e.g. 10.0.1.0/24" },
    { name = "min_hosts", type = "int", default = 50, min = 2, max = 10000000,
      help = "at least this many distinct addresses of the network touched" },
    { name = "limit", type = "int", default = 100, min = 1, max = 100000, help = "at most this many sources" },
  },
  display = { title = "Sources sweeping {cidr}", columns = { Scanner = "ip", Targets = "count", Connections = "count",
    Allowed = "count", Blocked = "count" } },
  language = "kql",
  query = [[
let cidr = "10.0.1.0/24";
let min_hosts = 50;
let limit = 100;
union
    (CommonSecurityLog
     | where ipv4_is_in_range(DestinationIP, cidr)
     | project Source = "CommonSecurityLog", Scanner = SourceIP, ScannerHost = SourceHostName, Target = DestinationIP,
         Port = DestinationPort, IsAllowed = iff(DeviceAction in~ ("allow", "accept", "permit", "allowed"), 1, 0),
         TimeGenerated),
    (DeviceNetworkEvents
     | where ipv4_is_in_range(RemoteIP, cidr) and not(ActionType startswith "Inbound")
     | project Source = "DeviceNetworkEvents", Scanner = LocalIP, ScannerHost = DeviceName, Target = RemoteIP,
         Port = RemotePort, IsAllowed = iff(ActionType == "ConnectionSuccess", 1, 0), TimeGenerated)
| summarize ScannerHost = max(ScannerHost), Targets = dcount(Target), Connections = count(), Allowed = sum(IsAllowed),
    Ports = make_set(Port), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated) by Source, Scanner
| where Targets >= min_hosts
| order by Targets desc, Connections desc
| take limit
| project Source, Scanner, ScannerHost, Targets, Connections, Allowed, Blocked = Connections - Allowed,
    Ports = strcat_array(array_sort_asc(Ports), ","), FirstSeen, LastSeen, Minutes = round((LastSeen - FirstSeen) / 1m, 1)
]],
}
