-- ipe.page.groups: the page's groups, in page order, and their titles — the one list the
-- engine (ipe.page) and the renderers (ipe.render.page, ipe.render.html) share. No other
-- dependency, so a renderer can require it without loading the engine.
--
--   groups.GROUPS     -> { "overview", "incidents", "observed", "timeline", "insights" }
--   groups.TITLES     -> { overview = "Overview", incidents = "Incidents and alerts", ... }
--   groups.RANK       -> { overview = 1, incidents = 2, ... }
local M = {}

M.GROUPS = { "overview", "incidents", "observed", "timeline", "insights" }
M.TITLES = { overview = "Overview", incidents = "Incidents and alerts", observed = "Observed in organization",
             timeline = "Timeline", insights = "Insights" }
M.RANK = {}
for i, g in ipairs(M.GROUPS) do M.RANK[g] = i end

return M
