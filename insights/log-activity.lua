-- Log activity (IP entity page, overview; overview.md section 2): when the IP was first
-- and last seen in each data source, and how many events mention it.
local result = require "ipe.result"

return {
  name = "log-activity",
  kind = "insight",
  title = "Log activity",
  summary = "First seen, last seen and event count of the IP per data source",
  description = [[
For each log table that mentions the IP in the window — Syslog, SecurityEvent,
AuditLogs, SigninLogs, OfficeActivity, BehaviorAnalytics, Heartbeat,
CommonSecurityLog, DeviceNetworkEvents, DeviceInfo and AzureActivity — when it
was first and last seen and in how many events. "Mentions" covers every
IP-bearing place of a row: IP columns, OfficeActivity's ClientIP with a port,
AuditLogs' InitiatedBy.user.ipAddress, Heartbeat's ComputerPrivateIPs and IPs
written in free text (SyslogMessage, Message); a row counts once. Read from the
per-IP hourly rollup the workspace keeps on write, recounting from the raw
rows the two hours the window's edges cut through, so it is exact for any
window and costs the same for a quiet IP and one in millions of events.]],
  categories = { "offline", "activity", "overview" },
  sources = { "Syslog", "SecurityEvent", "AuditLogs", "SigninLogs", "OfficeActivity", "BehaviorAnalytics",
              "Heartbeat", "CommonSecurityLog", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "overview", order = 30, hunt = "ip-everywhere" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local sql = "SELECT Source AS DataSource, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen, "
      .. "sum(Events) AS Events\nFROM (\n" .. ctx.db:rollup_query("activity") .. "\n)\nGROUP BY Source\n"
      .. "ORDER BY LastSeen DESC, DataSource"
    local rows, cols = ctx.db:query(sql, { ip = p.ip })
    local s = result.from_query(rows, cols, { FirstSeen = "time", LastSeen = "time", Events = "count" },
      "Log activity of " .. p.ip)
    s.id = "log-activity"
    return s
  end,
}
