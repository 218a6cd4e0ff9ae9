-- Destination ports used to reach the IP that the organization seldom uses (KQL).
return {
  name = "rare-ports-to-ip",
  kind = "hunt",
  title = "Rare ports to the IP",
  summary = "Destination ports used to reach the IP that few hosts of the organization use at all",
  description = [[
Takes every destination port the organization's hosts used to reach the IP in
the window (device network events, firewall records) and counts, across the
whole organization and the same window, how many distinct internal hosts used
that destination port with any address (firewall sources in 10/8, 172.16/12,
192.168/16, and every device). A port is rare when at most max_hosts hosts used
it; one row per rare port with the connections to the IP, the hosts that made
them, the organization-wide use, and first and last time.
Reverse shells and implants often listen on ports nothing else uses (4444,
8443, 1337); legitimate services to the same address ride on 443 along with
everyone else. A rare port to a public IP is worth a look at the process
behind it.]],
  categories = { "offline", "network" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address connected to" },
    { name = "max_hosts", type = "int", default = 3, min = 1, max = 100000,
      help = "a port is rare when at most this many internal hosts used it" },
  },
  display = { title = "Rare destination ports to {ip}", columns = { Port = "text", ConnectionsToIP = "count",
    OrgConnections = "count", OrgHosts = "count" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let max_hosts = 3;
// the connections of the organization's hosts to the IP (a device's: all but inbound ones)
let to_ip = () {
  union
    (DeviceNetworkEvents
     | where RemoteIP == ip and not(ActionType startswith "Inbound") and isnotnull(RemotePort)
     | project Port = RemotePort, Host = substring(DeviceName, 0, indexof(strcat(DeviceName, "."), ".")), TimeGenerated),
    (CommonSecurityLog
     | where DestinationIP == ip and isnotnull(DestinationPort)
     | project Port = DestinationPort, Host = coalesce(SourceHostName, SourceIP), TimeGenerated)
};
// the same destination ports used by the organization's hosts with any address
let org = union
    (DeviceNetworkEvents
     | where RemotePort in ((to_ip() | project Port)) and not(ActionType startswith "Inbound")
     | project Port = RemotePort, Host = substring(DeviceName, 0, indexof(strcat(DeviceName, "."), "."))),
    (CommonSecurityLog
     | where DestinationPort in ((to_ip() | project Port))
         and (ipv4_is_in_range(SourceIP, "10.0.0.0/8") or ipv4_is_in_range(SourceIP, "172.16.0.0/12")
           or ipv4_is_in_range(SourceIP, "192.168.0.0/16"))
     | project Port = DestinationPort, Host = coalesce(SourceHostName, SourceIP))
  | summarize OrgConnections = countif(isnotempty(Host)), OrgHosts = dcountif(Host, isnotempty(Host)) by Port;
to_ip()
| summarize ConnectionsToIP = count(), Hosts = make_set_if(Host, isnotempty(Host)), FirstSeen = min(TimeGenerated),
    LastSeen = max(TimeGenerated) by Port
| join kind=leftouter (org) on Port
| where coalesce(OrgHosts, 0) <= max_hosts
| project Port, ConnectionsToIP, Hosts = strcat_array(array_sort_asc(Hosts), ","),
    OrgConnections = coalesce(OrgConnections, 0), OrgHosts = coalesce(OrgHosts, 0), FirstSeen, LastSeen
| order by OrgHosts asc, OrgConnections asc, Port asc
]],
}
