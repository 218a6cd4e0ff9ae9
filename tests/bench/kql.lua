-- tests/bench/kql.lua (run by tests/bench/bench_kql through `ipe-run test`): the time to
-- compile a KQL query (lex, parse, plan, SQL) for hunting queries of several shapes, median
-- of BENCH_ROUNDS (default 200) compilations each, against the baseline measured in the same
-- run: SQLite preparing the SQL that query compiles to (on an empty workspace). Goal: a
-- median of at most 2 ms per query. Prints one line per query and a summary line.
local kql = require "ipe.kql"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local proc = require "ipe.proc"

local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "") or 200
local NOW = 1795000000

local QUERIES = {
  simple = [[SigninLogs | where IPAddress == "1.2.3.4" | summarize count() by AppDisplayName]],
  lets_join = [[let ip = "1.2.3.4";
let Signins = SigninLogs | where TimeGenerated > ago(7d) | where IPAddress == ip
  | summarize Attempts = count(), Failures = countif(ResultType != "0"), Users = make_set(UserPrincipalName) by AppDisplayName;
let Audits = AuditLogs | where tostring(InitiatedBy.user.ipAddress) == ip | summarize Ops = dcount(OperationName) by Identity;
Signins | join kind=leftouter (Audits) on $left.AppDisplayName == $right.Identity | order by Attempts desc | take 20]],
  union_fuzzy = [[let ip = "1.2.3.4";
union isfuzzy=true
  (SigninLogs | where IPAddress == ip | project TimeGenerated, Source = "SigninLogs", Account = UserPrincipalName),
  (CommonSecurityLog | where SourceIP == ip or DestinationIP == ip | project TimeGenerated, Source = "CEF", Account = SourceUserName),
  (SecurityEvent | where IpAddress == ip | project TimeGenerated, Source = "SecurityEvent", Account),
  (MissingTable | project TimeGenerated)
| summarize Events = count(), First = min(TimeGenerated), Last = max(TimeGenerated) by Source, bin(TimeGenerated, 1h)]],
  parse_mv = [[Syslog | where SyslogMessage has "Failed password"
| parse SyslogMessage with * "Failed password for " User " from " SrcIP " port " Port:long *
| extend Ports = pack_array(Port, Port + 1) | mv-expand Ports to typeof(long)
| where ipv4_is_private(SrcIP) == false and not(SrcIP in ("10.0.0.1", "10.0.0.2"))
| summarize arg_max(TimeGenerated, *) by SrcIP]],
}

local function median(fn)
  local t = {}
  for i = 1, rounds do
    local c = proc.monotonic()
    fn()
    t[i] = proc.monotonic() - c
  end
  table.sort(t)
  return rounds % 2 == 1 and t[(rounds + 1) / 2] or (t[rounds / 2] + t[rounds / 2 + 1]) / 2
end

local db = assert(sqlite.open(":memory:", "rwc"))
schema.migrate(db)
local names = {}
for k in pairs(QUERIES) do names[#names + 1] = k end
table.sort(names)
local worst = 0
for _, name in ipairs(names) do
  local q = QUERIES[name]
  local opts = { now = NOW, window = { from = "2026-11-20T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z" } }
  local plan = kql.compile(q, opts)
  local c = median(function() kql.compile(q, opts) end) * 1000
  local p = median(function() db:prepare(plan.sql):finalize() end) * 1000
  worst = math.max(worst, c)
  print(string.format("bench_kql: %-12s compile median %.3f ms; SQLite prepare of its SQL %.3f ms; ratio %.2f (%d rounds)",
    name, c, p, c / p, rounds))
end
print(string.format("bench_kql: worst compile median %.3f ms (goal <= 2 ms): %s", worst, worst <= 2 and "met" or "NOT met"))
db:close()
