-- Password spray: one source, many accounts, mostly failures (KQL: a batch of two tables).
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
accounts, but mostly successes, so it does not qualify.
Set account=NAME to follow one account: the sources qualify on every account
as above, but only those that tried this one are kept, and the second table
has only its row (its UserPrincipalName or DOMAIN\user as logged, any case; a
DOMAIN\user or a user also finds that user's user@... sign-ins).]],
  categories = { "offline", "identity" },
  sources = { "SigninLogs", "SecurityEvent" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the source IP address" },
    { name = "min_accounts", type = "int", default = 10, min = 2, max = 100000,
      help = "at least this many distinct accounts tried" },
    { name = "min_failure_pct", type = "int", default = 80, min = 0, max = 100,
      help = "at least this percentage of attempts failed" },
    { name = "account", type = "string", default = "",
      help = "only the sources that tried this account, and its row: as logged, or DOMAIN\\user / user for user@... (any case; empty: every account)" },
  },
  display = {
    { title = "Password-spray pattern from {ip}", columns = { Accounts = "count", Attempts = "count", Failures = "count",
      Successes = "count" } },
    { title = "Accounts tried from {ip}", columns = { Failures = "count", Successes = "count" }, hide_empty = true },
  },
  language = "kql",
  query = [[
let ip = "0.0.0.0";
let min_accounts = 10;
let min_failure_pct = 80;
let account = "";
let attempts = union
    (SigninLogs
     | where IPAddress == ip
     | project Source = "SigninLogs", Account = tolower(UserPrincipalName), Failed = iff(ResultType == "0", 0, 1),
         Time = TimeGenerated),
    (SecurityEvent
     | where IpAddress == ip and EventID in (4624, 4625)
     | project Source = "SecurityEvent",
         Account = tolower(coalesce(TargetAccount, strcat(TargetDomainName, "\\", TargetUserName))),
         Failed = iff(EventID == 4625, 1, 0), Time = TimeGenerated);
let sprays = attempts
| summarize Accounts = dcount(Account), Attempts = count(), Failures = sum(Failed),
    Succeeded = make_set_if(Account, Failed == 0), FirstSeen = min(Time), LastSeen = max(Time) by Source
| where Accounts >= min_accounts and 100.0 * Failures / Attempts >= min_failure_pct;
let followed = attempts
| where account == "" or Account == tolower(account)
    or Account startswith strcat(tolower(extract(@"([^\\@]+)$", 1, account)), "@");
sprays
| where Source in (followed | project Source)
| project Source, Accounts, Attempts, Failures, Successes = Attempts - Failures,
    FailurePct = round(100.0 * Failures / Attempts, 1), FirstSeen, LastSeen,
    SucceededAccounts = strcat_array(array_sort_asc(Succeeded), ",")
| order by Accounts desc, Attempts desc, Source asc;
followed
| where Source in (sprays | project Source)
| summarize Failures = sum(Failed), Successes = countif(Failed == 0), FirstSeen = min(Time), LastSeen = max(Time)
    by Source, Account
| order by Successes desc, Failures desc, Account asc
]],
}
