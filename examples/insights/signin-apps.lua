-- An example researcher insight (see README, "Writing an insight"): which
-- applications were signed in to from the IP, by whom, and how it went.
local result = require "ipe.result"

local SQL = [[
SELECT AppDisplayName AS App,
       COUNT(DISTINCT UserPrincipalName) AS Users,
       SUM(CASE WHEN ResultType = '0' THEN 1 ELSE 0 END) AS Succeeded,
       SUM(CASE WHEN ResultType <> '0' THEN 1 ELSE 0 END) AS Failed,
       MIN(TimeGenerated) AS FirstSeen,
       MAX(TimeGenerated) AS LastSeen
FROM SigninLogs
WHERE IPAddress = :ip AND %s
GROUP BY AppDisplayName
ORDER BY Failed DESC, Users DESC, App]]

return {
  name = "signin-apps",
  kind = "insight",
  title = "Applications signed in to from the IP",
  summary = "Entra ID sign-ins from the IP per application: users, successes, failures",
  description = [[
Groups the Entra ID sign-ins (SigninLogs) from the IP in the window by
application, with the number of distinct users and of successful and failed
sign-ins. Many users and mostly failures from one address is the shape of a
password spray; a few successes at the end of it are the accounts to reset.]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
    { name = "min_users", type = "int", default = 1, min = 1, help = "only applications with at least this many users" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(SQL:format(ctx.db:window("TimeGenerated")), { ip = p.ip })
    local kept = {}
    for _, r in ipairs(rows) do
      if r[2] >= p.min_users then kept[#kept + 1] = r end
    end
    return result.from_query(kept, cols, {
      Users = "count", Succeeded = "count", Failed = "count", FirstSeen = "time", LastSeen = "time",
    }, "Sign-ins from " .. p.ip .. " by application")
  end,
}
