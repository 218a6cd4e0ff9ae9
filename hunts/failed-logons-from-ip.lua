-- Failed logons from the IP: Entra ID sign-in failures, Windows 4625, sshd.
local result = require "ipe.result"

local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "WITH ssh AS (",
    "  SELECT TimeGenerated, Computer,",
    "         substr(SyslogMessage, " .. db:position("SyslogMessage", " for ") .. " + 5) AS Rest",
    "  FROM Syslog",
    "  WHERE ProcessName = 'sshd' AND SyslogMessage LIKE 'Failed %' AND " .. w,
    "    AND " .. db:text_has_ip("SyslogMessage", "ip"),
    "), ssh_user AS (",
    "  SELECT TimeGenerated, Computer,",
    "         CASE WHEN Rest LIKE 'invalid user %' THEN substr(Rest, 14) ELSE Rest END AS Rest,",
    "         CASE WHEN Rest LIKE 'invalid user %' THEN 'invalid user' ELSE 'bad password' END AS Reason",
    "  FROM ssh",
    ")",
    "SELECT Source, Account, Target, Code, Reason, COUNT(*) AS Attempts,",
    "       MIN(TimeGenerated) AS FirstSeen, MAX(TimeGenerated) AS LastSeen",
    "FROM (",
    "  SELECT 'SigninLogs' AS Source, lower(UserPrincipalName) AS Account, AppDisplayName AS Target,",
    "         ResultType AS Code, ResultDescription AS Reason, TimeGenerated",
    "  FROM SigninLogs WHERE IPAddress = :ip AND ResultType <> '0' AND " .. w,
    "  UNION ALL",
    "  SELECT 'SecurityEvent', COALESCE(TargetAccount, TargetDomainName || '\\' || TargetUserName), Computer,",
    "         COALESCE(SubStatus, Status),",
    "         CASE lower(COALESCE(SubStatus, Status))",
    "           WHEN '0xc000006a' THEN 'bad password' WHEN '0xc0000064' THEN 'no such user'",
    "           WHEN '0xc0000234' THEN 'account locked out' WHEN '0xc0000072' THEN 'account disabled'",
    "           WHEN '0xc0000071' THEN 'password expired' WHEN '0xc000006f' THEN 'outside logon hours'",
    "           WHEN '0xc0000070' THEN 'workstation not allowed' WHEN '0xc0000193' THEN 'account expired'",
    "           ELSE COALESCE(FailureReason, 'logon failure') END, TimeGenerated",
    "  FROM SecurityEvent WHERE IpAddress = :ip AND EventID = 4625 AND " .. w,
    "  UNION ALL",
    "  SELECT 'Syslog', substr(Rest, 1, " .. db:position("Rest", " from ") .. " - 1), Computer, 'sshd', Reason, TimeGenerated",
    "  FROM ssh_user",
    ")",
    "GROUP BY Source, Account, Target, Code",
    "ORDER BY Attempts DESC, LastSeen DESC",
    "LIMIT :limit",
  }, "\n")
end

return {
  name = "failed-logons-from-ip",
  kind = "hunt",
  title = "Failed logons from the IP",
  summary = "Failed sign-ins (Entra ID), Windows logons (4625) and sshd logins from the IP",
  description = [[
Every failed authentication from the IP in the window: Entra ID sign-ins with a
non-zero ResultType (SigninLogs), Windows failed logons (SecurityEvent 4625,
IpAddress = the IP, with the SubStatus explained: bad password, no such user,
locked out, ...) and sshd "Failed password" lines in Syslog that name the IP.
One row per source, account, target (application or computer) and code, with
the number of attempts and first and last time.
Failures are the trace of guessing: many accounts from one address is a spray,
many attempts on one account is brute force, "invalid user" on sshd is a
scanner trying default accounts.]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs", "SecurityEvent", "Syslog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address the logons came from" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip, limit = p.limit })
    return result.from_query(rows, cols, { Attempts = "count", FirstSeen = "time", LastSeen = "time" },
      "Failed logons from " .. p.ip)
  end,
}
