-- Sign-ins (Entra ID) from the IP, per account, application and result.
local result = require "ipe.result"

local RESULT_FILTER = {
  any = "",
  success = " AND ResultType = '0'",
  failure = " AND ResultType <> '0'",
}

local function sql(db, which)
  return table.concat({
    "SELECT lower(UserPrincipalName) AS Account, AppDisplayName AS App, ResultType,",
    "       CASE WHEN ResultType = '0' THEN 'success' ELSE 'failure' END AS Result,",
    "       MAX(ResultDescription) AS Reason, COUNT(*) AS SignIns,",
    "       " .. db:time_min("TimeGenerated") .. " AS FirstSeen, " .. db:time_max("TimeGenerated") .. " AS LastSeen,",
    "       MAX(Location) AS Location, MAX(ClientAppUsed) AS ClientApp, MAX(UserAgent) AS UserAgent",
    "FROM SigninLogs",
    "WHERE IPAddress = :ip AND " .. db:window("TimeGenerated") .. RESULT_FILTER[which],
    "GROUP BY lower(UserPrincipalName), AppDisplayName, ResultType",
    "ORDER BY LastSeen DESC, SignIns DESC",
    "LIMIT :limit",
  }, "\n")
end

return {
  name = "signins-from-ip",
  kind = "hunt",
  title = "Sign-ins from the IP",
  summary = "Entra ID sign-ins from the IP per account, application and result",
  description = [[
Every interactive Entra ID sign-in (SigninLogs) from the IP in the window,
grouped per account, application and result code (ResultType "0" is a
success; 50126 a bad password, 50053 a locked account, 50074 MFA required),
with the number of sign-ins, first and last time, location, client app and
user agent.
Who used this address, to reach what, and did it work? A public IP that many
accounts fail from is a spray source; one account succeeding from an address
it never used is a possible account takeover. Set result=failure or
result=success to keep one side.]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address the sign-ins came from" },
    { name = "result", type = "choice", choices = { "any", "success", "failure" }, default = "any",
      help = "keep only successful or failed sign-ins" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db, p.result), { ip = p.ip, limit = p.limit })
    return result.from_query(rows, cols, { SignIns = "count", FirstSeen = "time", LastSeen = "time" },
      "Sign-ins from " .. p.ip)
  end,
}
