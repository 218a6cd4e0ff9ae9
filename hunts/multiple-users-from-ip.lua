-- Password spray: one source, many accounts, mostly failures.
local result = require "ipe.result"

local function attempts(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "  SELECT 'SigninLogs' AS Source, lower(UserPrincipalName) AS Account,",
    "         CASE WHEN ResultType = '0' THEN 0 ELSE 1 END AS Failed, " .. db:time_text("TimeGenerated") .. " AS Time",
    "  FROM SigninLogs WHERE IPAddress = :ip AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', lower(COALESCE(TargetAccount, TargetDomainName || " .. db:backslash() .. " || TargetUserName)),",
    "         CASE WHEN EventID = 4625 THEN 1 ELSE 0 END, " .. db:time_text("TimeGenerated"),
    "  FROM SecurityEvent WHERE IpAddress = :ip AND EventID IN (4624, 4625) AND " .. w,
  }, "\n")
end

local function summary_sql(db)
  return table.concat({
    "SELECT Source, COUNT(DISTINCT Account) AS Accounts, COUNT(*) AS Attempts, SUM(Failed) AS Failures,",
    "       COUNT(*) - SUM(Failed) AS Successes, ROUND(100.0 * SUM(Failed) / COUNT(*), 1) AS FailurePct,",
    "       MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen,",
    "       " .. db:string_agg("Succeeded", ",", "distinct") .. " AS SucceededAccounts",
    "FROM (SELECT *, CASE WHEN Failed = 0 THEN Account END AS Succeeded FROM (",
    attempts(db),
    "))",
    "GROUP BY Source",
    "HAVING COUNT(DISTINCT Account) >= :min_accounts AND 100.0 * SUM(Failed) / COUNT(*) >= :min_failure_pct",
    "ORDER BY Accounts DESC, Attempts DESC, Source",
  }, "\n")
end

local function accounts_sql(db)
  return table.concat({
    "SELECT Source, Account, SUM(Failed) AS Failures, COUNT(*) - SUM(Failed) AS Successes,",
    "       MIN(Time) AS FirstSeen, MAX(Time) AS LastSeen",
    "FROM (",
    attempts(db),
    ")",
    "WHERE " .. db:in_list("Source", "sources"),
    "GROUP BY Source, Account",
    "ORDER BY Successes DESC, Failures DESC, Account",
  }, "\n")
end

return {
  name = "multiple-users-from-ip",
  kind = "hunt",
  title = "Many accounts from one IP (password spray)",
  summary = "Password spray: one source trying many accounts, mostly failing",
  description = [[
Tells whether the IP behaves like a password-spray source: within the window,
the accounts it tried to sign in to (Entra ID SigninLogs) or to log on to
(Windows SecurityEvent 4624/4625), counted per source. A source qualifies when
it tried at least min_accounts distinct accounts and at least min_failure_pct
percent of its attempts failed; the summary then lists the accounts that did
succeed, and a second table every account tried.
A spray tries one or two common passwords against many accounts to stay under
per-account lock-out thresholds; the accounts that succeeded at the end are the
ones to reset and investigate first. An office or VPN egress also shows many
accounts, but mostly successes, so it does not qualify.]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs", "SecurityEvent" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the source IP address" },
    { name = "min_accounts", type = "int", default = 10, min = 2, max = 100000,
      help = "at least this many distinct accounts tried" },
    { name = "min_failure_pct", type = "int", default = 80, min = 0, max = 100,
      help = "at least this percentage of attempts failed" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(summary_sql(ctx.db),
      { ip = p.ip, min_accounts = p.min_accounts, min_failure_pct = p.min_failure_pct })
    local types = { Accounts = "count", Attempts = "count", Failures = "count", Successes = "count",
                    FailurePct = "number", FirstSeen = "time", LastSeen = "time" }
    local sections = { result.from_query(rows, cols, types, "Password-spray pattern from " .. p.ip) }
    if #rows > 0 then
      local sources = {}
      for i, r in ipairs(rows) do sources[i] = r[1] end
      local arows, acols = ctx.db:query(accounts_sql(ctx.db), { ip = p.ip, sources = sources })
      sections[2] = result.from_query(arows, acols, types, "Accounts tried from " .. p.ip)
    end
    return sections
  end,
}
