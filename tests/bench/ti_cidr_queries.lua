-- In-process query medians for bench_ti_cidr (run by it through `ipe-run test`, which gives
-- this file the runtime's modules): the single-IP match of ctx.db:ti_matching_ip against the
-- exact-IP-only query and a naive scan of every block, on the workspace and address given in
-- BENCH_TI_DB and BENCH_TI_IP. Prints one line; no TAP cases.
local dbmod = require "ipe.db"
local workspace = require "ipe.workspace"

local path, ip = os.getenv("BENCH_TI_DB"), os.getenv("BENCH_TI_IP")
if not path or not ip then return end
local conn = workspace.open_reader(path)
local h = dbmod.wrap(conn, { from = "2026-11-20T12:00:00.000Z", to = "2026-11-27T12:00:00.000Z",
                             now = "2026-11-27T12:00:00.000Z" })
local QUERIES = {
  { "cidr-aware", h:ti_matching_ip("ip") .. "\nSELECT IndicatorId, MatchedIndicator, Live FROM ti" },
  { "exact-only", [[
SELECT IndicatorId FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS Version
  FROM ThreatIntelligenceIndicator
  WHERE rowid IN (SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkSourceIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE NetworkDestinationIP = :ip
                  UNION ALL SELECT rowid FROM ThreatIntelligenceIndicator WHERE EmailSourceIpAddress = :ip)
    AND +TimeGenerated <= :to) WHERE Version = 1]] },
  { "naive", "SELECT IndicatorId FROM ThreatIntelligenceIndicator WHERE ipe_ip_in_cidr(:ip, NetworkCidrBlock) "
    .. "OR ipe_ip_in_cidr(:ip, NetworkSourceCidrBlock) OR ipe_ip_in_cidr(:ip, NetworkDestinationCidrBlock)" },
}
local out = {}
for _, q in ipairs(QUERIES) do
  local runs = q[1] == "naive" and 15 or 201
  local t = {}
  for i = 1, runs do
    local t0 = os.clock()
    h:query(q[2], { ip = ip })
    t[i] = (os.clock() - t0) * 1000
  end
  table.sort(t)
  out[#out + 1] = string.format("%s %.3f ms", q[1], t[(runs + 1) / 2])
end
print("# in-process query medians (CPU time) for " .. ip .. ": " .. table.concat(out, ", "))
conn:close()
