-- Every internal host that talked to the IP, with first and last contact.
local result = require "ipe.result"
local ipaddr = require "ipe.ipaddr"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT Host, MAX(HostIP) AS HostIP, COUNT(*) AS Contacts, " .. db:string_agg("Direction", ",", "distinct") .. " AS Directions,",
    "       " .. db:string_agg("Port", ",", "distinct") .. " AS Ports, " .. db:string_agg("Source", ",", "distinct") .. " AS Sources,",
    "       MIN(Time) AS FirstContact, MAX(Time) AS LastContact",
    "FROM (",
    "  SELECT 'DeviceNetworkEvents' AS Source, " .. db:host_label("DeviceName") .. " AS Host,",
    "         LocalIP AS HostIP, " .. db:connection_direction() .. " AS Direction,",
    "         " .. db:connection_port() .. " AS Port, " .. db:time_text("TimeGenerated") .. " AS Time",
    "  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', COALESCE(SourceHostName, SourceIP), SourceIP, 'outbound', DestinationPort, " .. db:time_text("TimeGenerated"),
    "  FROM CommonSecurityLog WHERE DestinationIP = :ip AND " .. db:is_not("SourceIP", "ip") .. " AND " .. w,
    "  UNION ALL",
    "  SELECT 'CommonSecurityLog', COALESCE(DestinationHostName, DestinationTranslatedAddress, DestinationIP),",
    "         COALESCE(DestinationTranslatedAddress, DestinationIP), 'inbound', DestinationPort, " .. db:time_text("TimeGenerated"),
    "  FROM CommonSecurityLog WHERE SourceIP = :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', " .. db:host_label("Computer") .. ", NULL, 'logon', NULL, " .. db:time_text("TimeGenerated"),
    "  FROM SecurityEvent WHERE IpAddress = :ip AND EventID IN (4624, 4625) AND " .. w,
    "  UNION ALL",
    "  SELECT 'Syslog', Computer, HostIP, 'ssh logon', NULL, " .. db:time_text("TimeGenerated"),
    "  FROM Syslog WHERE ProcessName = 'sshd' AND " .. w .. " AND " .. db:text_has_ip("SyslogMessage", "ip"),
    ")",
    "WHERE :host = '' OR lower(Host) = lower(:host) OR lower(Host) = lower(:short)",
    "GROUP BY Host",
    "ORDER BY LastContact DESC, Contacts DESC",
    "LIMIT :limit",
  }, "\n")
end

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
  run = function(ctx, p)
    -- a host's short name too: "ws-01.corp.example" is the "ws-01" of device events
    local short = p.host:match("^([^.]+)%.") and not ipaddr.normalize(p.host) and p.host:match("^([^.]+)%.") or p.host
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, limit = p.limit, host = p.host, short = short })
    return result.from_query(rows, cols, { HostIP = "ip", Contacts = "count", FirstContact = "time",
      LastContact = "time" }, "Hosts that talked to " .. p.ip)
  end,
}
