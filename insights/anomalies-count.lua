-- Anomalies count by IP address (Sentinel entity insight, insights.md 2.6):
-- UEBA anomalies that name the IP, by anomaly template and over time.
local result = require "ipe.result"
local timeutil = require "ipe.timeutil"

local function ip_match(db)
  return "(SourceIpAddress = :ip OR DestinationIpAddress = :ip OR " .. db:entities_have_ip("Entities", "ip") .. ")"
end

local function by_template(db)
  return table.concat({
    "SELECT AnomalyTemplateName AS Template, COUNT(*) AS Anomalies, MAX(Score) AS MaxScore,",
    "       " .. db:time_min("TimeGenerated") .. " AS FirstSeen, " .. db:time_max("TimeGenerated") .. " AS LastSeen",
    "FROM Anomalies",
    "WHERE " .. db:window("TimeGenerated") .. " AND " .. ip_match(db),
    "GROUP BY AnomalyTemplateName",
    "ORDER BY Anomalies DESC, Template",
  }, "\n")
end

local function by_bucket(db, unit)
  return table.concat({
    "SELECT " .. db:bucket("TimeGenerated", unit) .. " AS Bucket, COUNT(*) AS Anomalies",
    "FROM Anomalies",
    "WHERE " .. db:window("TimeGenerated") .. " AND " .. ip_match(db),
    "GROUP BY Bucket ORDER BY Bucket",
  }, "\n")
end

-- Every bucket of the window, with zero where nothing happened.
local function series(rows, window, unit)
  local counts = {}
  for _, r in ipairs(rows) do counts[r[1]] = r[2] end
  local labels, values = {}, {}
  for i, start in ipairs(timeutil.buckets(window.from_epoch, window.to_epoch, unit)) do
    labels[i] = timeutil.format_time(start)
    values[i] = counts[labels[i]] or 0
  end
  return labels, values
end

return {
  name = "anomalies-count",
  kind = "insight",
  title = "Anomalies count by IP address",
  summary = "UEBA anomalies naming the IP, by anomaly template and per day or hour",
  description = [[
Counts the anomalies (Anomalies table) in the window whose source or
destination address is the IP, or whose entity list names it as an "ip"
entity, grouped by anomaly template with the highest score and first and
last time seen, and charts them per day (per hour for windows of two days or
less). An anomaly's time is its TimeGenerated (when UEBA raised it — the
column the window selects on, and the time the timeline shows), not the
StartTime of the activity it describes. Anomalies alone are weak signals; several templates firing for one IP
are worth a closer look.]],
  categories = { "offline", "anomaly" },
  sources = { "Anomalies" },
  page = { group = "insights", order = 60 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local unit = ctx.window.bucket
    local rows, cols = ctx.db:query(by_template(ctx.db), { ip = p.ip })
    local table_section = result.from_query(rows, cols, {
      Anomalies = "count", MaxScore = "number", FirstSeen = "time", LastSeen = "time",
    }, "Anomalies by template")
    if #rows == 0 then return table_section end
    local labels, values = series(ctx.db:query(by_bucket(ctx.db, unit), { ip = p.ip }), ctx.window, unit)
    return {
      table_section,
      result.chart{ chart = "time", title = "Anomalies per " .. unit, labels = labels, bucket = unit,
                    series = { { name = "anomalies", values = values } }, unit = "count" },
    }
  end,
}
