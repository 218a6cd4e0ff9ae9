-- Network traffic inspection (Sentinel entity insight, insights.md 2.7): the firewall and
-- proxy traffic of the IP — direction, allow/deny, peers, ports and protocols, bytes.
local result = require "ipe.result"

-- The rollups' exact window statements for the IP's firewall traffic (ctx.db:rollup_query), stored
-- by their migration: "traffic" rows (Direction, Port, Protocol, Action, Events, BytesFromIP,
-- BytesToIP, FirstSeen, LastSeen) and "peers" rows (Peer, PeerHost, Direction, Port, Protocol,
-- Action, Reporter, Events, Allowed, Blocked, BytesFromIP, BytesToIP, FirstSeen, LastSeen). The
-- panel's breakdowns are sums over them.

local ALLOWED = "lower(Action) IN ('allow', 'allowed', 'accept', 'accepted', 'permit', 'pass')"

-- By direction, action, port and protocol: few groups, from which the flows and ports tables
-- are both summed.
local function groups_sql(traffic)
  return "SELECT Direction, Action, CASE WHEN Port < 0 THEN '' ELSE CAST(Port AS TEXT) END || "
    .. "CASE WHEN Protocol <> '' THEN '/' || Protocol ELSE '' END AS Port,\n"
    .. "       sum(Events) AS Events, sum(BytesFromIP) AS BytesFromIP, sum(BytesToIP) AS BytesToIP,\n"
    .. "       min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen, " .. ALLOWED .. " AS Allowed\n"
    .. "FROM (\n" .. traffic .. "\n)\nGROUP BY Direction, Action, Port, Protocol"
end

-- The peers in two steps, so that an address with tens of thousands of peers sorts narrow
-- rows: the top peers by events with how many peers there are (one grouping of the peer rows,
-- read twice), then their details. The top peers are bound one parameter each (:peer1, ...):
-- a plain IN list is applied inside the rollup statement, before its rows are handed on. The
-- count is a subquery (no window function: ClickHouse 18.16 has none).
local function top_peers_sql(peers)
  return "WITH g AS (\nSELECT Peer, sum(Events) AS Events\nFROM (\n" .. peers .. "\n)\nGROUP BY Peer\n)\n"
    .. "SELECT Peer, Events, (SELECT count(*) FROM g) AS Peers FROM g ORDER BY Events DESC, Peer LIMIT :top"
end

-- peer_details_sql(peers, top) -> SQL and its binds (peer1 = top[1], ...)
local function peer_details_sql(peers, top)
  local names, binds = {}, {}
  for i, peer in ipairs(top) do
    names[i], binds["peer" .. i] = ":peer" .. i, peer
  end
  return "SELECT Peer, max(NULLIF(PeerHost, '')) AS PeerHost, sum(Events) AS Events, sum(Allowed) AS Allowed,\n"
    .. "       sum(Blocked) AS Blocked, sum(BytesFromIP) AS BytesFromIP, sum(BytesToIP) AS BytesToIP,\n"
    .. "       min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen\n"
    .. "FROM (\n" .. peers .. "\n)\nWHERE Peer IN (" .. table.concat(names, ", ") .. ")\nGROUP BY Peer", binds
end

-- sum(map, key, init, r): add the group row r (see groups_sql) into map[key].
local function sum(map, key, init, r)
  local e = map[key]
  if not e then
    e = init
    e.events, e.from_ip, e.to_ip, e.allowed, e.blocked = 0, 0, 0, 0, 0
    map[key] = e
  end
  e.events, e.from_ip, e.to_ip = e.events + r[4], e.from_ip + r[5], e.to_ip + r[6]
  if r[9] == 1 then e.allowed = e.allowed + r[4] else e.blocked = e.blocked + r[4] end
  if not e.first or r[7] < e.first then e.first = r[7] end
  if not e.last or r[8] > e.last then e.last = r[8] end
end

-- sorted(map, n, key) -> at most n entries, most events first (ties by key)
local function sorted(map, n, key)
  local list = {}
  for _, v in pairs(map) do list[#list + 1] = v end
  table.sort(list, function(a, b)
    if a.events ~= b.events then return a.events > b.events end
    return a[key] < b[key]
  end)
  local out = {}
  for i = 1, math.min(n, #list) do out[i] = list[i] end
  return out
end

return {
  name = "network-traffic-inspection",
  kind = "insight",
  title = "Network traffic inspection",
  summary = "Firewall traffic of the IP: direction, allow/deny, peers, ports, bytes",
  description = [[
The firewall and proxy records (CommonSecurityLog) with the IP as source or
destination in the window: how many went each way and how many were allowed
or denied, the bytes sent from and to the IP (SentBytes and ReceivedBytes read
from the IP's side), when it was first and last seen, the peers it talked to
most, and the destination ports and protocols involved, with a chart of the
busiest ports. Actions other than allow/accept/permit/pass count as blocked.
Read from the per-IP hourly flow and peer rollups the workspace keeps on write
(the two hours the window's edges cut through recounted from the raw records),
so a busy address costs what its distinct flows cost, not its records.]],
  categories = { "offline", "network" },
  sources = { "CommonSecurityLog", "_ipe_ip_traffic", "_ipe_ip_peers", "_ipe_ip_queries" },
  page = { group = "insights", order = 70, hunt = "firewall-traffic-for-ip" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
    { name = "top", type = "int", default = 10, min = 1, max = 1000, help = "how many peers and ports to list" },
  },
  run = function(ctx, p)
    local flow_map, port_map = {}, {}
    for _, r in ipairs(ctx.db:query(groups_sql(ctx.db:rollup_query("traffic")), { ip = p.ip })) do
      sum(flow_map, r[1] .. "\0" .. r[2], { direction = r[1], action = r[2] }, r)
      sum(port_map, r[3], { port = r[3] }, r)
    end
    local t = { events = 0, from_ip = 0, to_ip = 0, source = 0, destination = 0, allowed = 0, blocked = 0 }
    local flows = {}
    for i, f in ipairs(sorted(flow_map, math.huge, "action")) do
      flows[i] = { f.direction, f.action, f.events, f.from_ip, f.to_ip, f.first, f.last }
      t.events, t.from_ip, t.to_ip = t.events + f.events, t.from_ip + f.from_ip, t.to_ip + f.to_ip
      t.allowed, t.blocked = t.allowed + f.allowed, t.blocked + f.blocked
      if f.direction == "from the IP" then t.source = t.source + f.events else t.destination = t.destination + f.events end
      if not t.first or f.first < t.first then t.first = f.first end
      if not t.last or f.last > t.last then t.last = f.last end
    end
    local ports, labels, values = {}, {}, {}
    for i, e in ipairs(sorted(port_map, p.top, "port")) do
      ports[i] = { e.port, e.events, e.allowed, e.blocked, e.from_ip, e.to_ip }
      labels[i], values[i] = e.port, e.events
    end
    local peers_stmt = ctx.db:rollup_query("peers")
    local top, count = {}, 0
    for i, r in ipairs(ctx.db:query(top_peers_sql(peers_stmt), { ip = p.ip, top = p.top })) do
      top[i], count = r[1], r[3]
    end
    local details = {}
    if #top > 0 then
      local details_sql, binds = peer_details_sql(peers_stmt, top)
      binds.ip = p.ip
      for _, r in ipairs(ctx.db:query(details_sql, binds)) do
        details[r[1]] = r
      end
    end
    local peers = {}
    for i, peer in ipairs(top) do
      local r = details[peer]
      peers[i] = { peer ~= "" and peer or result.null, r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9] }
    end
    return result.output{
      status = t.events > 0 and "ok" or "empty",
      sections = {
        result.kv{ id = "summary", title = "Traffic of " .. p.ip, items = {
          { "Events", t.events, "count" }, { "First seen", t.first, "time" }, { "Last seen", t.last, "time" },
          { "As source", t.source, "count" }, { "As destination", t.destination, "count" },
          { "Allowed", t.allowed, "count" }, { "Blocked", t.blocked, "count" },
          { "Bytes from the IP", t.from_ip, "bytes" }, { "Bytes to the IP", t.to_ip, "bytes" },
          { "Peers", count, "count" } } },
        result.table{ id = "flows", title = "By direction and action",
          columns = { { "Direction", "text" }, { "Action", "text" }, { "Events", "count" }, { "BytesFromIP", "bytes" },
                      { "BytesToIP", "bytes" }, { "FirstSeen", "time" }, { "LastSeen", "time" } }, rows = flows },
        result.table{ id = "peers", title = "Top peers",
          columns = { { "Peer", "ip" }, { "PeerHost", "text" }, { "Events", "count" }, { "Allowed", "count" },
                      { "Blocked", "count" }, { "BytesFromIP", "bytes" }, { "BytesToIP", "bytes" },
                      { "FirstSeen", "time" }, { "LastSeen", "time" } }, rows = peers },
        result.table{ id = "ports", title = "Top destination ports and protocols",
          columns = { { "Port", "text" }, { "Events", "count" }, { "Allowed", "count" }, { "Blocked", "count" },
                      { "BytesFromIP", "bytes" }, { "BytesToIP", "bytes" } }, rows = ports },
        result.chart{ id = "ports-chart", chart = "bar", title = "Events per destination port", labels = labels,
                      unit = "count", series = { { name = "events", values = values } } },
      },
    }
  end,
}
