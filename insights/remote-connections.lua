-- IP address remote connections (Sentinel entity insight, insights.md 2.9):
-- which of our hosts talked to the IP, or were logged on to from it.
local result = require "ipe.result"
local timeutil = require "ipe.timeutil"

-- A firewall row of the peers rollup's exact window statement (ctx.db:rollup_query("peers"): per
-- hour, direction, peer, peer host, reporting device, port, protocol and action) seen from the
-- host's side: host (the peer's host name, else the device that logged it), host address,
-- direction, port, protocol, action.
local CSL_GROUP = {
  "COALESCE(NULLIF(PeerHost, ''), NULLIF(Reporter, ''))", "NULLIF(Peer, '')",
  "CASE Direction WHEN 'to the IP' THEN 'outbound' ELSE 'inbound' END", "NULLIF(CAST(Port AS TEXT), '-1')",
  "NULLIF(Protocol, '')", "NULLIF(Action, '')",
}

-- The firewall branch: the groups of the window's peer rows; with `recent`, only the groups seen
-- at or after :recent (see recent_from). Their peers are among those of the rollup's hours from
-- :recent's to :to's, so the other peers' rows are left out before grouping.
local function csl_branch(db, peers, recent)
  local keys = table.concat(CSL_GROUP, ", ")
  local only_peers, only_groups = "", ""
  if recent then
    only_peers = "\n  WHERE Peer IN (SELECT Peer FROM " .. db:rollup_rows("peers", "recent", "to", "ip") .. ")"
    only_groups = "\n  HAVING max(LastSeen) >= :recent"
  end
  return "  SELECT 'CommonSecurityLog', " .. keys .. ", sum(Events), min(FirstSeen), max(LastSeen)\n"
    .. "  FROM (" .. peers .. ")" .. only_peers .. "\n  GROUP BY " .. keys .. only_groups
end

-- Every branch yields (Source, Host, HostIP, Direction, Port, Protocol, Action, Events, FirstSeen,
-- LastSeen): the raw branches one row per event, the firewall branch its groups read from the
-- rollup, so a scanned address costs its flows, not its records.
local function sql(db, peers, recent)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT Host, HostIP, Direction, Port, Protocol, Action,",
    "       sum(Events) AS Events, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen, Source",
    "FROM (",
    "  SELECT 'DeviceNetworkEvents' AS Source, DeviceName AS Host, LocalIP AS HostIP,",
    "         " .. db:connection_direction() .. " AS Direction, CAST(" .. db:connection_port() .. " AS TEXT) AS Port, Protocol,",
    "         ActionType AS Action, 1 AS Events, " .. db:time_text("TimeGenerated") .. " AS FirstSeen, "
      .. db:time_text("TimeGenerated") .. " AS LastSeen",
    "  FROM DeviceNetworkEvents WHERE RemoteIP = :ip AND " .. w,
    "  UNION ALL",
    -- the IP is the device's own address: the host is the other end (its name when the event has
    -- it), whose direction is the reverse
    "  SELECT 'DeviceNetworkEvents', NULLIF(RemoteUrl, ''), RemoteIP,",
    "         CASE WHEN " .. db:connection_inbound() .. " THEN 'outbound' ELSE 'inbound' END, CAST(" .. db:connection_port() .. " AS TEXT),",
    "         Protocol, ActionType, 1, " .. db:time_text("TimeGenerated") .. ", " .. db:time_text("TimeGenerated"),
    "  FROM DeviceNetworkEvents WHERE LocalIP = :ip AND RemoteIP <> :ip AND NOT " .. db:connection_listening() .. " AND " .. w,
    "  UNION ALL",
    csl_branch(db, peers, recent),
    "  UNION ALL",
    "  SELECT 'SecurityEvent', Computer, NULL, 'logon', NULL, LogonTypeName,",
    "         CASE EventID WHEN 4624 THEN 'logon success' ELSE 'logon failure' END, 1, " .. db:time_text("TimeGenerated") .. ", " .. db:time_text("TimeGenerated"),
    "  FROM SecurityEvent WHERE IpAddress = :ip AND EventID IN (4624, 4625) AND " .. w,
    "  UNION ALL",
    "  SELECT 'Syslog', Computer, HostIP, 'logon', ProcessName, NULL,",
    "         CASE WHEN SyslogMessage LIKE 'Accepted %' THEN 'logon success' ELSE 'logon failure' END, 1,",
    "         " .. db:time_text("TimeGenerated") .. ", " .. db:time_text("TimeGenerated"),
    -- only the hours in which the rollup saw the IP in Syslog are read from the raw rows
    "  FROM " .. db:rows_in_ip_hours("Syslog"),
    "  WHERE ProcessName = 'sshd' AND " .. w .. " AND " .. db:text_has_ip("SyslogMessage", "ip"),
    ")",
    "GROUP BY Source, Host, HostIP, Direction, Port, Protocol, Action",
    "ORDER BY LastSeen DESC, Events DESC",
    "LIMIT :limit",
  }, "\n")
end

-- An address scanned from tens of thousands of sources has that many firewall groups, of which
-- only the `limit` last seen are listed. Every group seen in the window's last hours was seen
-- later than any other: when those of [recent, to] number at least `limit`, the list is made of
-- them and the other sources' groups, and only their rows need summing. recent_from tries the
-- last hour, then four times as much, up to a quarter of the window; nil: the whole window.
local function recent_from(ctx, p, peers)
  local w = ctx.window
  -- fewer rollup rows than `limit` in the window's hours: fewer groups too
  local rows = "SELECT count(*) FROM (SELECT 1 FROM " .. ctx.db:rollup_rows("peers", "from", "to", "ip") .. " LIMIT :limit)"
  if ctx.db:value(rows, { ip = p.ip, limit = p.limit }) < p.limit then return nil end
  local count = "SELECT count(*) FROM (SELECT 1 FROM (" .. peers .. ") GROUP BY " .. table.concat(CSL_GROUP, ", ") .. ")"
  local span = 3600
  while span * 4 <= w.to_epoch - w.from_epoch do
    local recent = timeutil.format_time(w.to_epoch - span)
    if ctx.db:value(count, { ip = p.ip, from = recent }) >= p.limit then return recent end
    span = span * 4
  end
end

return {
  name = "remote-connections",
  kind = "insight",
  title = "IP address remote connections",
  summary = "Hosts that connected to or from the IP, or were logged on to from it",
  description = [[
Every connection between the IP and a host of the organization — device
network events (Defender for Endpoint), firewall and proxy traffic
(CommonSecurityLog) — and every logon from the IP (Windows 4624/4625, sshd),
grouped per host, host address, direction, port, protocol and action, with the
number of events and when they were first and last seen in the window.
Direction is the host's: outbound when the host connected to the IP, inbound
when the IP connected to the host; the port is the service's, the accepting
side's. A device network event is inbound when its ActionType starts with
"Inbound" (InboundConnectionAccepted: RemoteIP to LocalIP:LocalPort), else
outbound (ConnectionSuccess, ConnectionAttempt, ...: to RemoteIP:RemotePort);
a listening socket (ListeningConnectionCreated) is no connection and not listed;
when the IP is the device's own address (LocalIP), the host is the other end
(RemoteIP, named by RemoteUrl when the event has it) and the direction
reverses. A firewall record goes from its source to its
destination's port.
A firewall record's host is the endpoint's host name, else the device that
logged it; protocols compare without case; a record from the IP to itself
counts once, as inbound. The firewall rows are read from the per-IP hourly
peer rollup the workspace keeps on write (the hours the window's edges cut
through recounted from the raw records).
Use it to scope an incident: which machines touched this address, and how.]],
  categories = { "offline", "network", "endpoint", "identity" },
  sources = { "DeviceNetworkEvents", "CommonSecurityLog", "SecurityEvent", "Syslog", "_ipe_ip_activity",
              "_ipe_ip_peers", "_ipe_ip_queries" },
  page = { group = "insights", order = 90, hunt = "hosts-contacting-ip" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
    { name = "limit", type = "int", default = 500, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local peers = ctx.db:rollup_query("peers")
    local recent = recent_from(ctx, p, peers)
    local rows, cols = ctx.db:query(sql(ctx.db, peers, recent), { ip = p.ip, limit = p.limit, recent = recent })
    -- Service is "port/protocol" (the port alone without a protocol, NULL without a port), put
    -- together here: a concatenation of nullable columns is no portable SQL
    for _, r in ipairs(rows) do
      local port, proto = r[4], r[5]
      r[4] = port ~= result.null and port .. (proto ~= result.null and "/" .. proto:lower() or "") or result.null
      table.remove(r, 5)
    end
    cols[4] = "Service"
    table.remove(cols, 5)
    return result.from_query(rows, cols, {
      HostIP = "ip", Events = "count", FirstSeen = "time", LastSeen = "time",
    }, "Remote connections of " .. p.ip)
  end,
}
