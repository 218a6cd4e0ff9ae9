-- Sign-ins (Entra ID) from the IP, per account, application and result (KQL).
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
result=success to keep one side, account=NAME to follow one account (the
pivot of an account on the served page).]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address the sign-ins came from" },
    { name = "result", type = "choice", choices = { "any", "success", "failure" }, default = "any",
      help = "keep only successful or failed sign-ins" },
    { name = "account", type = "string", default = "",
      help = "only this account's sign-ins: its UserPrincipalName, or DOMAIN\\user / user for user@... (any case; empty: every account)" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  display = { title = "Sign-ins from {ip}", columns = { SignIns = "count" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let result = "any";
let account = "";
let limit = 1000;
SigninLogs
| where IPAddress == ip
| where account == "" or tolower(UserPrincipalName) == tolower(account)
    or tolower(UserPrincipalName) startswith strcat(tolower(extract(@"([^\\@]+)$", 1, account)), "@")
| where result == "any" or (result == "success" and ResultType == "0") or (result == "failure" and ResultType != "0")
| summarize Reason = max(ResultDescription), SignIns = count(), FirstSeen = min(TimeGenerated),
    LastSeen = max(TimeGenerated), Location = max(Location), ClientApp = max(ClientAppUsed), UserAgent = max(UserAgent)
    by Account = tolower(UserPrincipalName), App = AppDisplayName, ResultType
| extend Result = iff(ResultType == "0", "success", "failure")
| project Account, App, ResultType, Result, Reason, SignIns, FirstSeen, LastSeen, Location, ClientApp, UserAgent
| order by LastSeen desc, SignIns desc
| take limit
]],
}
