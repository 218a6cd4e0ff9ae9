-- Firewall and proxy traffic (CEF) to and from the IP, by port and action (KQL).
return {
  name = "firewall-traffic-for-ip",
  kind = "hunt",
  title = "Firewall traffic to and from the IP",
  summary = "CommonSecurityLog traffic in both directions, allowed and denied, by port",
  description = [[
All firewall and proxy records (CommonSecurityLog, CEF) in the window where the
IP is the destination ("to the IP") or the source ("from the IP"), original or
NAT-translated address (a record from the IP to itself counts once, as
from the IP, as in the network traffic panel), grouped by direction, destination port, protocol and
the device's action (allow, deny, drop, ...), with the number of events, of
distinct peers, the bytes sent and received, and first and last time.
It shows what the perimeter saw: which services the IP reached or was reached
on, whether the firewall let it through, and how much data moved — a denied
scan looks very different from a long allowed session that sends data out.]],
  categories = { "offline", "network" },
  sources = { "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  display = { title = "Firewall traffic of {ip}", columns = { Port = "text", Events = "count", Peers = "count",
    SentBytes = "bytes", ReceivedBytes = "bytes" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let limit = 1000;
union
    (CommonSecurityLog
     | where (DestinationIP == ip or DestinationTranslatedAddress == ip)
         and not(SourceIP == ip or SourceTranslatedAddress == ip)
     | project Direction = "to the IP", Peer = SourceIP, DestinationPort, Protocol, DeviceAction, SentBytes,
         ReceivedBytes, TimeGenerated),
    (CommonSecurityLog
     | where SourceIP == ip or SourceTranslatedAddress == ip
     | project Direction = "from the IP", Peer = DestinationIP, DestinationPort, Protocol, DeviceAction, SentBytes,
         ReceivedBytes, TimeGenerated)
| summarize Events = count(), Peers = dcount(Peer), SentBytes = sum(SentBytes), ReceivedBytes = sum(ReceivedBytes),
    FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
    by Direction, Port = DestinationPort, Protocol, Action = DeviceAction
| order by Events desc, Direction asc, Port asc
| take limit
]],
}
