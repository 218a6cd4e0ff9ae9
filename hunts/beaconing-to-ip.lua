-- Hosts connecting to the IP at regular intervals (low jitter): beaconing (KQL).
return {
  name = "beaconing-to-ip",
  kind = "hunt",
  title = "Beaconing to the IP",
  summary = "Hosts connecting to the IP at regular intervals (low jitter of the time between connections)",
  description = [[
For every host that connected to the IP in the window (device network events
and firewall records, each source on its own), the time between consecutive
connections: its mean, its standard deviation and the jitter (standard
deviation as a percentage of the mean). A host qualifies with at least
min_connections connections and a jitter of at most max_jitter_pct percent.
Implants call home on a timer ("sleep 300, jitter 1%"); people and ordinary
software do not. Hundreds of connections at a near-constant interval to one
address are a strong sign of command and control, even when the traffic is
encrypted and the address has no reputation yet.]],
  categories = { "offline", "network", "endpoint" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address connected to" },
    { name = "min_connections", type = "int", default = 20, min = 3, max = 10000000,
      help = "at least this many connections from one host" },
    { name = "max_jitter_pct", type = "int", default = 10, min = 0, max = 100,
      help = "at most this standard deviation of the interval, as a % of its mean" },
  },
  display = {
    title = "Hosts beaconing to {ip}",
    note = "interval = seconds between consecutive connections of a host; jitter = its standard deviation / mean",
    columns = { Connections = "count" },
  },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let min_connections = 20;
let max_jitter_pct = 10;
union
    (DeviceNetworkEvents
     | where RemoteIP == ip and not(ActionType startswith "Inbound")
     | project Source = "DeviceNetworkEvents", Host = DeviceName, TimeGenerated),
    (CommonSecurityLog
     | where DestinationIP == ip
     | project Source = "CommonSecurityLog", Host = coalesce(SourceHostName, SourceIP), TimeGenerated)
| sort by Source asc, Host asc, TimeGenerated asc
| extend Gap = iff(prev(Source) == Source and prev(Host) == Host, (TimeGenerated - prev(TimeGenerated)) / 1s, real(null))
| summarize Connections = count(), MeanGap = avg(Gap), GapVariance = variancep(Gap), StdDev = stdevp(Gap),
    FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated) by Source, Host
| where Connections >= min_connections and MeanGap > 0
    and GapVariance <= (max_jitter_pct * MeanGap / 100.0) * (max_jitter_pct * MeanGap / 100.0)
| order by GapVariance / (MeanGap * MeanGap) asc, Connections desc
| project Source, Host, Connections, IntervalSec = round(MeanGap, 1), StdDevSec = round(StdDev, 2),
    JitterPct = round(100 * StdDev / MeanGap, 2), FirstSeen, LastSeen
]],
}
