-- ipe.rollup: the per-IP rollups, one implementation per engine — runtime code that
-- scripts reach through ctx.db:rollup_query(name) and that writers (ingest, demo)
-- and migrations drive.
--
--   ipe.rollup.sqlite      the tables, AFTER INSERT triggers, bulk rebuild and the
--                          window statements stored in a SQLite workspace's _ipe_ip_queries
--   ipe.rollup.clickhouse  AggregatingMergeTree tables kept by materialized views at
--                          insert time, and the window statements over them
--
--   rollup.NAMES                 the window statements: "activity", "traffic", "peers"
--   rollup.engine(dialect)       -> the module of the engine ("sqlite" | "clickhouse")
--   rollup.statement(h, name)    -> the window statement `name` (binds :ip, :from, :to) of
--                                   the workspace behind the ctx.db handle h, or nil when
--                                   there is no statement of that name. SQLite: the one the
--                                   workspace stores (its migrations keep it current);
--                                   ClickHouse: the module's for the workspace's time type.
-- The model both engines implement (what counts, read by ipe.rollup.sqlite and
-- ipe.rollup.clickhouse):
--   rollup.TABLE, TRAFFIC, PEERS     the rollup tables (_ipe_ip_activity, _ipe_ip_traffic, _ipe_ip_peers)
--   rollup.SEPARATORS, TRIMMED       a text's token breaks (besides space), the characters
--                                    trimmed from both ends of a token or a column's value
--   rollup.HOSTS[table]              the columns whose first non-empty value is a row's Host
--                                    (else the table's ipe.schema `host`)
--   rollup.SIDES                     the two sides of a firewall record (ip, dir, peer, host,
--                                    from_ip, to_ip; not_same: only when ip differs from peer)
--   rollup.ALLOWED_ACTIONS           DeviceAction values (lower case) counted as Allowed
--   rollup.CSL_ROLLUPS               {table=, name=, keys={...}, sums={...}} of traffic and peers
-- Loads no migration code.
local M = {}

M.TABLE, M.TRAFFIC, M.PEERS = "_ipe_ip_activity", "_ipe_ip_traffic", "_ipe_ip_peers"
M.SEPARATORS = { "\\", '"', "\t", "\n", "\r", ",", ";", "(", ")", "[", "]", "=", "@", "/" }
M.TRIMMED = "<>'|{}-"
-- CommonSecurityLog's Computer is the firewall that logged the traffic; the device is the endpoint
M.HOSTS = { CommonSecurityLog = { "SourceHostName", "DestinationHostName" } }
M.SIDES = {
  { ip = "SourceIP", dir = "from the IP", peer = "DestinationIP", host = "DestinationHostName",
    from_ip = "SentBytes", to_ip = "ReceivedBytes" },
  { ip = "DestinationIP", dir = "to the IP", peer = "SourceIP", host = "SourceHostName",
    from_ip = "ReceivedBytes", to_ip = "SentBytes", not_same = true },
}
M.ALLOWED_ACTIONS = { "allow", "allowed", "accept", "accepted", "permit", "pass" }
M.CSL_ROLLUPS = {
  { table = M.TRAFFIC, name = "traffic", keys = { "Direction", "Port", "Protocol", "Action" },
    sums = { "Events", "BytesFromIP", "BytesToIP" } },
  { table = M.PEERS, name = "peers", keys = { "Peer", "PeerHost", "Direction", "Port", "Protocol", "Action", "Reporter" },
    sums = { "Events", "Allowed", "Blocked", "BytesFromIP", "BytesToIP" } },
}

M.NAMES = { "activity", "traffic", "peers" }
local known = { activity = true, traffic = true, peers = true }

function M.engine(dialect)
  if dialect == "clickhouse" then return require "ipe.rollup.clickhouse" end
  return require "ipe.rollup.sqlite"
end

function M.statement(h, name)
  if not known[name] then return nil end
  if h.dialect == "clickhouse" then
    -- the time type the workspace check found (one round trip less per statement), else asked
    local tt = h._sql.time_type or h:value("SELECT argMax(value, Version) FROM _ipe_meta WHERE key = 'time_type'")
    return require("ipe.rollup.clickhouse").statement(name, tt, h._sql.cluster)
  end
  return h:value("SELECT Sql FROM _ipe_ip_queries WHERE Name = :name", { name = name })
end

return M
