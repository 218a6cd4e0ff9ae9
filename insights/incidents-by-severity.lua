-- Incidents and alerts by severity (IP entity page, overview cards; overview.md section 2):
-- how many distinct incidents and alerts name the IP, per severity.
local result = require "ipe.result"

local SEVERITIES = { "High", "Medium", "Low", "Informational" }

local function sql(db)
  return table.concat({
    db:alerts_naming_ip("ip"),
    "SELECT Severity, sum(Incidents) AS Incidents, sum(Alerts) AS Alerts FROM (",
    "  SELECT Severity, 1 AS Incidents, 0 AS Alerts FROM incidents",
    "  UNION ALL SELECT AlertSeverity, 0, 1 FROM alerts",
    ") GROUP BY Severity",
  }, "\n")
end

return {
  name = "incidents-by-severity",
  kind = "insight",
  title = "Incidents and alerts by severity",
  summary = "Counts of the incidents and alerts that name the IP, per severity",
  description = [[
The cards of the entity page: how many distinct incidents and alerts name the
IP in the window, for each severity (High, Medium, Low, Informational; any
other severity a source writes is listed after them). An alert names the IP
through an "ip" entity of its Entities; an incident through its alerts. Each
is counted once, with the severity of its latest version in the window.]],
  categories = { "offline", "alerts", "overview" },
  sources = { "SecurityAlert", "SecurityIncident" },
  page = { group = "overview", order = 50 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local found = {}
    local extra = {}
    for _, r in ipairs(ctx.db:query(sql(ctx.db), { ip = p.ip })) do
      local sev = r[1] == result.null and "(none)" or r[1]
      found[sev] = { r[2], r[3] }
      local known = false
      for _, s in ipairs(SEVERITIES) do known = known or s == sev end
      if not known then extra[#extra + 1] = sev end
    end
    table.sort(extra)
    local rows, labels, inc, al = {}, {}, {}, {}
    local total, order = 0, {}
    for _, s in ipairs(SEVERITIES) do order[#order + 1] = s end
    for _, s in ipairs(extra) do order[#order + 1] = s end
    for i, sev in ipairs(order) do
      local c = found[sev] or { 0, 0 }
      rows[i] = { sev, c[1], c[2] }
      labels[i], inc[i], al[i] = sev, c[1], c[2]
      total = total + c[1] + c[2]
    end
    return result.output{
      status = total > 0 and "ok" or "empty",
      sections = {
        result.table{ id = "severity", title = "Incidents and alerts naming " .. p.ip .. " by severity",
          columns = { { "Severity", "text" }, { "Incidents", "count" }, { "Alerts", "count" } }, rows = rows },
        result.chart{ id = "severity-chart", chart = "bar", title = "By severity", labels = labels, unit = "count",
          series = { { name = "incidents", values = inc }, { name = "alerts", values = al } } },
      },
    }
  end,
}
