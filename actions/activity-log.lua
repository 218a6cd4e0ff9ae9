-- "Investigate in activity log": every row that mentions the IP, in time order.
local result = require "ipe.result"

return {
  name = "activity-log",
  kind = "action",
  title = "Investigate in activity log",
  summary = "Every workspace table's rows that mention the IP, merged in time order (read-only)",
  description = [[
The entity page's "Investigate in activity log", for the whole workspace: every
row of every table that mentions the IP in the window — in any of its IP
columns, JSON fields, IP lists, alert entities or free text — merged into one
time line with the table, the time, who acted (account, host or provider),
the operation and its result. Also the actions taken on the IP with ipe-run
(the audit trail). The latest `limit` rows are shown, oldest first.
One time line across firewall, sign-in, endpoint, Office, Azure, TI and alert
data is how a story is read: what the address did first, what came next, and
where it stopped. This action only reads; --execute changes nothing.]],
  categories = { "offline", "response", "activity" },
  sources = { "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "AuditLogs", "OfficeActivity",
              "BehaviorAnalytics", "Heartbeat", "SecurityAlert", "ThreatIntelligenceIndicator", "HuntingBookmark",
              "Anomalies", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "Watchlist", "_ipe_audit" },
  side_effects = { "none: reads the workspace only" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address" },
    { name = "limit", type = "int", default = 1000, min = 1, max = 100000, help = "at most this many (latest) rows" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.actions.activity_log{ ip = p.ip, limit = p.limit }
    local out = result.from_query(rows, cols, { TimeGenerated = "time" }, "Activity of " .. p.ip)
    out.note = "latest " .. p.limit .. " rows at most, oldest first"
    return out
  end,
}
