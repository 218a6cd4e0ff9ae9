-- Failed logons from the IP: Entra ID sign-in failures, Windows 4625, sshd (KQL).
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
scanner trying default accounts. Set account=NAME to follow one account (the
pivot of a Windows or Linux account on the served page): its
UserPrincipalName, DOMAIN\user or user as logged, any case; a DOMAIN\user or a
user also finds that user's user@... sign-ins.]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs", "SecurityEvent", "Syslog" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address the logons came from" },
    { name = "account", type = "string", default = "",
      help = "only this account's failures: as logged, or DOMAIN\\user / user for user@... (any case; empty: every account)" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many rows" },
  },
  display = { title = "Failed logons from {ip}", columns = { Attempts = "count" } },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let account = "";
let limit = 1000;
union
    (SigninLogs
     | where IPAddress == ip and ResultType != "0"
     | project Source = "SigninLogs", Account = tolower(UserPrincipalName), Target = AppDisplayName,
         Code = ResultType, Reason = ResultDescription, TimeGenerated),
    (SecurityEvent
     | where IpAddress == ip and EventID == 4625
     | extend Code = coalesce(SubStatus, Status)
     | project Source = "SecurityEvent", Account = coalesce(TargetAccount, strcat(TargetDomainName, @"\", TargetUserName)),
         Target = Computer, Code,
         Reason = case(tolower(Code) == "0xc000006a", "bad password", tolower(Code) == "0xc0000064", "no such user",
           tolower(Code) == "0xc0000234", "account locked out", tolower(Code) == "0xc0000072", "account disabled",
           tolower(Code) == "0xc0000071", "password expired", tolower(Code) == "0xc000006f", "outside logon hours",
           tolower(Code) == "0xc0000070", "workstation not allowed", tolower(Code) == "0xc0000193", "account expired",
           coalesce(FailureReason, "logon failure")),
         TimeGenerated),
    (Syslog
     | where ProcessName == "sshd" and SyslogMessage startswith "Failed " and SyslogMessage has ip
     | extend Rest = extract(@" for (.*)$", 1, SyslogMessage)
     | extend Invalid = Rest startswith "invalid user "
     | extend Rest = iff(Invalid, substring(Rest, 13), Rest)
     | project Source = "Syslog", Account = extract(@"^(.*?) from ", 1, Rest), Target = Computer, Code = "sshd",
         Reason = iff(Invalid, "invalid user", "bad password"), TimeGenerated)
| where account == "" or tolower(Account) == tolower(account)
    or tolower(Account) startswith strcat(tolower(extract(@"([^\\@]+)$", 1, account)), "@")
| summarize Reason = take_any(Reason), Attempts = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated)
    by Source, Account, Target, Code
| project Source, Account, Target, Code, Reason, Attempts, FirstSeen, LastSeen
| order by Attempts desc, LastSeen desc
| take limit
]],
}
