-- Prevalence of the IP in the organization (IP entity page, overview chart; overview.md
-- section 2): events and distinct hosts per day, or per hour for windows of two days or less.
local result = require "ipe.result"
local timeutil = require "ipe.timeutil"

-- Hosts count by their short, lower-case name (ctx.db:host_short): wks-007.contoso.com and
-- WKS-007 are one device.
local function sql(db, unit)
  return "SELECT " .. db:rollup_bucket("Hour", unit) .. " AS Bucket, sum(Events) AS Events,\n"
    .. "       count(DISTINCT CASE WHEN Host <> '' THEN " .. db:host_short("Host") .. " END) AS Hosts\n"
    .. "FROM (\n" .. db:rollup_query("activity") .. "\n)\nGROUP BY Bucket ORDER BY Bucket"
end

return {
  name = "ip-prevalence",
  kind = "insight",
  title = "Prevalence in the organization",
  summary = "Events mentioning the IP and distinct hosts that saw it, per day or hour",
  description = [[
How present the IP is in the organization over the window: per day (per hour
when the window is two days or less), how many events of the log tables
mention it and how many distinct hosts they involve — the device of a
DeviceNetworkEvents or DeviceInfo row, the endpoint behind a firewall record,
the computer of a Windows event, Syslog line or heartbeat, the device of a UEBA
record. Host names count once whatever their spelling (wks-007 and
wks-007.contoso.com are one host). Events add up to the Log activity panel's.]],
  categories = { "offline", "activity", "overview" },
  sources = { "Syslog", "SecurityEvent", "AuditLogs", "SigninLogs", "OfficeActivity", "BehaviorAnalytics",
              "Heartbeat", "CommonSecurityLog", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "overview", order = 60, hunt = "ip-everywhere" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local unit = ctx.window.bucket
    local counts = {}
    local total, extra = 0, nil
    for _, r in ipairs(ctx.db:query(sql(ctx.db, unit), { ip = p.ip })) do
      counts[r[1]] = { r[2], r[3] }
      total = total + r[2]
      extra = r[1]
    end
    local labels, events, hosts = {}, {}, {}
    for i, start in ipairs(timeutil.buckets(ctx.window.from_epoch, ctx.window.to_epoch, unit)) do
      labels[i] = timeutil.format_time(start)
    end
    -- an event at the very end of the window falls in the bucket that starts there
    if extra and (#labels == 0 or extra > labels[#labels]) then labels[#labels + 1] = extra end
    for i, label in ipairs(labels) do
      local c = counts[label] or { 0, 0 }
      events[i], hosts[i] = c[1], c[2]
    end
    return result.output{
      status = total > 0 and "ok" or "empty",
      sections = {
        result.chart{ id = "events", chart = "time", title = "Events mentioning " .. p.ip .. " per " .. unit,
                      labels = labels, bucket = unit, unit = "count", series = { { name = "events", values = events } } },
        result.chart{ id = "hosts", chart = "time", title = "Distinct hosts per " .. unit,
                      labels = labels, bucket = unit, unit = "count", series = { { name = "hosts", values = hosts } } },
      },
    }
  end,
}
