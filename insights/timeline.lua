-- Timeline (IP entity page, "Sentinel events" tab; overview.md section 6): alerts, hunting
-- bookmarks, activity per data source and time bucket, and anomalies in one list.
local result = require "ipe.result"

local function sql(db, unit)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT Time, Kind, Title, Source, Detail, Events FROM (",
    "  SELECT " .. db:time_text("StartTime") .. " AS Time, 'Alert' AS Kind, DisplayName AS Title, ProductName AS Source,",
    "         AlertSeverity || ', ' || " .. db:status() .. " AS Detail, NULL AS Events",
    "  FROM (" .. db:latest("SecurityAlert", "a", "SystemAlertId", w .. " AND " .. db:entities_have_ip("Entities", "ip")) .. ")",
    "  UNION ALL",
    "  SELECT " .. db:time_text("EventTime") .. ", 'Bookmark', BookmarkName, 'HuntingBookmark', Notes, NULL",
    "  FROM (" .. db:latest("HuntingBookmark", "b", "BookmarkId", w .. " AND (" .. db:entities_have_ip("Entities", "ip")
      .. " OR " .. db:entity_mapping_has_ip("QueryResultRow", "ip") .. ")") .. ")",
    "  WHERE COALESCE(SoftDeleted, 0) = 0",
    "  UNION ALL",
    "  SELECT " .. db:time_text("TimeGenerated") .. ", 'Anomaly', AnomalyTemplateName, VendorName, 'score ' || " .. db:text("Score") .. ", NULL",
    "  FROM Anomalies WHERE " .. w .. " AND (SourceIpAddress = :ip OR DestinationIpAddress = :ip OR "
      .. db:entities_have_ip("Entities", "ip") .. ")",
    "  UNION ALL",
    "  SELECT " .. db:rollup_bucket("Hour", unit) .. " AS Bucket, 'Activity', 'Events in ' || Source, Source,",
    "         " .. db:distinct_count_text("Host") .. " || ' host(s)', sum(Events)",
    "  FROM (" .. db:rollup_query("activity") .. ")",
    "  GROUP BY Bucket, Source",
    ")",
    "ORDER BY Time DESC, Kind, Title",
  }, "\n")
end

return {
  name = "timeline",
  kind = "insight",
  title = "Timeline",
  summary = "Alerts, bookmarks, anomalies and activity per source for the IP, newest first",
  description = [[
The entity timeline: the alerts that name the IP (their start time, latest
version), the hunting bookmarks that include it (as an "ip" entity or in the
bookmarked row's entity mapping; deleted ones left out), the UEBA anomalies
that name it, and its activity — the events mentioning it in each data source
per day (per hour for windows of two days or less) — in one list, newest
first. Kind says which of the four a row is. An anomaly's time is its
TimeGenerated (when UEBA raised it — the column the window selects on, and the
time the anomalies panel counts and charts), not the StartTime of the activity
it describes.]],
  categories = { "offline", "activity", "alerts", "anomaly" },
  sources = { "SecurityAlert", "HuntingBookmark", "Anomalies", "Syslog", "SecurityEvent", "AuditLogs", "SigninLogs",
              "OfficeActivity", "BehaviorAnalytics", "Heartbeat", "CommonSecurityLog", "DeviceNetworkEvents",
              "DeviceInfo", "AzureActivity", "_ipe_ip_activity", "_ipe_ip_queries" },
  page = { group = "timeline", order = 10, hunt = "ip-everywhere" },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db, ctx.window.bucket), { ip = p.ip })
    local s = result.from_query(rows, cols, { Time = "time", Events = "count" }, "Timeline of " .. p.ip)
    s.id = "timeline"
    return s
  end,
}
