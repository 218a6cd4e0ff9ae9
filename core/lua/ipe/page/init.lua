-- ipe.page: the IP entity page engine — which insights are panels and where they go, running
-- them concurrently, and the one page record the renderers take (render.page for text and
-- JSON, render.html for HTML). One file per concern; this module puts the page record
-- together and gives the whole engine under one name:
--
--   ipe.page.groups    GROUPS, TITLES (page.GROUPS, page.GROUP_TITLES)
--   ipe.page.panels    describe, collect, select, given, panel_params, check_params (and
--                      PAGE_OPTIONS): which insights are panels, their parameters
--   ipe.page.schedule  cores, parallelism, start_order, run, load_timing/save_timing (the
--                      timing hints in $XDG_STATE_HOME/ipe/page-timing)
--   ipe.page.commands  window_args, hunt_command, action_command (shell-quoted)
--   ipe.page.filter    parse_where, parse_columns, parse_sort, filter (the incidents tables)
--
-- and here:
--   page.assemble(t)     -> the page record: {kind="page", ip=, title=, window=
--       {from=, to=}, generated=, offline=, status=, failed={panel ids}, not_asked={ {panel=,
--       provider=, message=} } (the providers not configured, so not asked), panels={ {id=, group=,
--       title=, order=, hunt=, record=<run record>} }, actions={ {name=, title=, summary=,
--       command=} }, timing={ms=, parallel=}} from t = {ip=, window=, now_text=, offline=,
--       panels=, records=, actions=, ms=, parallel=, window_args=, hunts=}
--   page.status(records) -> "ok" | "partial" | "empty"; page.exit_code(record) -> 0 | 1
--
-- Every function of the submodules is also a field of ipe.page (page.collect, page.run, ...);
-- their settings (DESCRIBE_TIMEOUT, DEFAULT_HINT) are read from the submodule that owns them.
local errors = require "ipe.errors"
local groups = require "ipe.page.groups"
local commands = require "ipe.page.commands"

local M = {}

M.GROUPS = groups.GROUPS
M.GROUP_TITLES = groups.TITLES

local EXPORTS = {
  panels = { "describe", "collect", "select", "given", "panel_params", "check_params", "PAGE_OPTIONS" },
  schedule = { "cores", "parallelism", "start_order", "local_groups", "run", "timing_path", "load_timing", "save_timing" },
  commands = { "window_args", "hunt_command", "action_command" },
  filter = { "parse_where", "parse_columns", "parse_sort", "filter" },
}
for module, names in pairs(EXPORTS) do
  local sub = require("ipe.page." .. module)
  for _, k in ipairs(names) do M[k] = assert(sub[k], k) end
end

function M.status(records)
  local any = false
  for _, r in ipairs(records) do
    if r.status == "error" then return "partial" end
    if r.status == "ok" then any = true end
  end
  return any and "ok" or "empty"
end

function M.exit_code(record)
  if record.status == "partial" then return errors.NO_RESULT end
  return errors.OK
end

function M.assemble(t)
  local panels = {}
  for i, p in ipairs(t.panels) do
    local rec = t.records[i]
    rec.title = rec.title or p.title
    panels[i] = { id = p.id, group = p.group, title = p.title, order = p.order,
                  hunt = commands.hunt_command(p, t.ip, t.window_args, t.hunts), record = rec }
  end
  local actions = {}
  for i, a in ipairs(t.actions or {}) do
    actions[i] = { name = a.name, title = a.title, summary = a.summary, command = commands.action_command(a, t.ip) }
  end
  local failed, not_asked = {}, {}
  for _, p in ipairs(panels) do
    if p.record.status == "error" then failed[#failed + 1] = p.id end
    local provider, how = require("ipe.intel").not_asked(p.record)
    if provider then not_asked[#not_asked + 1] = { panel = p.id, provider = provider, message = how } end
  end
  return {
    kind = "page", ip = t.ip, title = "IP address " .. t.ip,
    window = { from = t.window.from_text, to = t.window.to_text },
    generated = t.now_text, offline = t.offline and true or false,
    status = M.status(t.records), failed = failed, not_asked = not_asked, panels = panels, actions = actions,
    timing = { ms = t.ms, parallel = t.parallel },
  }
end

return M
