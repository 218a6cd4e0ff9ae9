-- Every internal host that talked to the IP, with first and last contact (KQL).
return {
  name = "hosts-contacting-ip",
  kind = "hunt",
  title = "Hosts that talked to the IP",
  summary = "Every internal host that talked to the IP: first and last contact, ports, directions",
  description = [[
Every host of the organization that exchanged traffic with the IP in the
window — device network events (Defender for Endpoint; inbound when the
ActionType starts with "Inbound", the port then LocalPort, else outbound to
RemotePort; listening, on LocalPort, for ListeningConnectionCreated), firewall records (the host as source of traffic to the IP, or as
the destination, after NAT, of traffic from it; a record from the IP to itself
counts once, as from it) — or that the IP tried to log on to (Windows
4624/4625, sshd). Ports are the services' (the accepting side's). One row per host (short name) with its address,
the number of contacts, directions, ports, the data sources, and first and
last contact; host=NAME keeps one host (the pivot of a host on the served page).
This is the blast radius: the machines to isolate, triage or re-image when the
IP turns out to be malicious, and the first contact tells when it started.]],
  categories = { "offline", "network", "endpoint" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog", "SecurityEvent", "Syslog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many hosts" },
    { name = "host", type = "string", default = "",
      help = "only this host (its name or short name, any case; empty: every host)" },
  },
  display = { title = "Hosts that talked to {ip}", columns = { HostIP = "ip", Contacts = "count" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let limit = 1000;
let host = "";
// a host's short name too: "ws-01.corp.example" is the "ws-01" of device events (an address stays whole)
let short = iff(indexof(host, ".") > 0 and not(ipv4_is_in_range(host, "0.0.0.0/0")), substring(host, 0, indexof(host, ".")),
    host);
union
    (DeviceNetworkEvents
     | where RemoteIP == ip
     | extend Inbound = ActionType startswith "Inbound", Listening = ActionType == "ListeningConnectionCreated"
     | project Source = "DeviceNetworkEvents", Host = substring(DeviceName, 0, indexof(strcat(DeviceName, "."), ".")),
         HostIP = LocalIP, Direction = case(Inbound, "inbound", Listening, "listening", "outbound"),
         Port = iff(Inbound or Listening, LocalPort, RemotePort), TimeGenerated),
    (CommonSecurityLog
     | where DestinationIP == ip and SourceIP != ip
     | project Source = "CommonSecurityLog", Host = coalesce(SourceHostName, SourceIP), HostIP = SourceIP,
         Direction = "outbound", Port = DestinationPort, TimeGenerated),
    (CommonSecurityLog
     | where SourceIP == ip
     | project Source = "CommonSecurityLog", Host = coalesce(DestinationHostName, DestinationTranslatedAddress, DestinationIP),
         HostIP = coalesce(DestinationTranslatedAddress, DestinationIP), Direction = "inbound", Port = DestinationPort,
         TimeGenerated),
    (SecurityEvent
     | where IpAddress == ip and EventID in (4624, 4625)
     | project Source = "SecurityEvent", Host = substring(Computer, 0, indexof(strcat(Computer, "."), ".")),
         Direction = "logon", TimeGenerated),
    (Syslog
     | where ProcessName == "sshd" and has_ipv4(SyslogMessage, ip)
     | project Source = "Syslog", Host = Computer, HostIP, Direction = "ssh logon", TimeGenerated)
| where isempty(host) or Host =~ host or Host =~ short
| summarize HostIP = max(HostIP), Contacts = count(), Directions = make_set(Direction), Ports = make_set(Port),
    Sources = make_set(Source), FirstContact = min(TimeGenerated), LastContact = max(TimeGenerated) by Host
| extend Directions = strcat_array(array_sort_asc(Directions), ","), Ports = strcat_array(array_sort_asc(Ports), ","),
    Sources = strcat_array(array_sort_asc(Sources), ",")
| order by LastContact desc, Contacts desc
| take limit
]],
}
