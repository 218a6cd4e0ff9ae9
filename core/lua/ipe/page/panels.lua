-- ipe.page.panels: which insights are panels of the page, where they go, and the parameters
-- each one runs with.
--
--   panels.describe(entries [, parallel]) -> metadata per entry (as ipe.runner.describe_many; one
--                                            worker for all, one each when that fails)
--   panels.collect(index [, parallel])    -> panels, actions, hunts
--       panels: every insight whose script does not say page = false, in page order:
--       { id=, entry=, meta=, group=, order=, title=, broken= } (a broken insight stays, as a
--       failing panel); insights with a required parameter besides ip are left out.
--       actions: { {name=, title=, summary=, params=} } from actions/ (broken ones left out)
--       hunts: { [name] = metadata } (for the panels' hunt commands)
--   panels.select(panels, only)           -> the panels of the named groups or panel ids
--   panels.given(panel, ip, opts)         -> {name = raw value} for the panel's run (see PAGE_OPTIONS)
--   panels.panel_params(list, panels)     -> -p panel.key=value options checked: { [panel] = {k = v} }
--   panels.check_params(panels, givens)   -> raises the first parameter error (usage, exit 2)
--   panels.declares(meta, name)           -> whether a script declares the parameter name
--   panels.has_category(meta, category)   -> whether a script lists the category
--
-- A script places itself with its page field: page = { group = "overview" | "incidents" |
-- "observed" | "timeline" | "insights", order = <number>, hunt = "<hunt name>" } (all optional;
-- without it: group insights, ordered by title after the ordered ones; page = false: not on the
-- page; hunt names the hunt its hunt command opens, when that hunt exists).
--
-- Errors a user can trigger are raised as usage errors (ipe.errors, exit 2) with one line
-- naming the input, e.g. "--only: unknown section 'overveiw' (...)".
local errors = require "ipe.errors"
local runner = require "ipe.runner"
local params = require "ipe.params"
local proc = require "ipe.proc"
local groups = require "ipe.page.groups"

local M = {}

local GROUP_RANK = groups.RANK

-- Page options that become a parameter of the panels of one group (when they declare it).
M.PAGE_OPTIONS = { limit = "observed" }

-- Page order: group, then the script's order (scripts without one after those with one),
-- then title, then name.
local function before(a, b)
  if a.group ~= b.group then return GROUP_RANK[a.group] < GROUP_RANK[b.group] end
  if (a.order ~= nil) ~= (b.order ~= nil) then return a.order ~= nil end
  if a.order and a.order ~= b.order then return a.order < b.order end
  local ta, tb = a.title:lower(), b.title:lower()
  if ta ~= tb then return ta < tb end
  return a.id < b.id
end

local function page_field(meta)
  local p = meta.page
  if type(p) ~= "table" then return "insights", nil end
  local group = GROUP_RANK[p.group] and p.group or "insights"
  return group, type(p.order) == "number" and p.order or nil, type(p.hunt) == "string" and p.hunt or nil
end

-- Runs for an IP alone: no required parameter besides ip lacks a default.
local function ip_only(meta)
  for i, p in ipairs(meta.params or {}) do
    if i > 1 and p.required and p.default == nil then return false end
  end
  return true
end

function M.declares(meta, name)
  for _, p in ipairs(meta.params or {}) do if p.name == name then return true end end
  return false
end

function M.has_category(meta, c)
  for _, x in ipairs(meta.categories or {}) do if x == c then return true end end
  return false
end

-- describe(entries, parallel) -> the metadata ipe.runner.describe_many gives, but loaded in one
-- worker: one fork for the whole page instead of one per script (a tenth of the cost). When
-- that worker fails or runs out of time (a script's top level that loops or crashes), every
-- script is described again in a worker of its own, so only the culprit is marked broken.
M.DESCRIBE_TIMEOUT = 3

function M.describe(entries, parallel)
  local serial = require "ipe.serial"
  local job = function()
    local out = {}
    for i, e in ipairs(entries) do
      local s, err = runner.load_checked(e)
      out[i] = s and { title = s.title, summary = s.summary, description = s.description,
        categories = s.categories, sources = s.sources, params = s.params or {},
        side_effects = s.side_effects, page = s.page } or { broken = err }
    end
    return serial.dump(out)
  end
  local res = proc.run_jobs({ job }, { parallel = 1, timeout = M.DESCRIBE_TIMEOUT, memory = runner.DEFAULT_MEMORY })[1]
  local metas = res.ok and serial.undump(res.out)
  if type(metas) == "table" and #metas == #entries then return metas end
  return runner.describe_many(entries, parallel)
end

function M.collect(index, parallel)
  local entries = {}
  for _, e in ipairs(index.list) do
    if index.by_key[e.kind .. "/" .. e.name] == e then entries[#entries + 1] = e end
  end
  local metas = M.describe(entries, parallel or 4)
  local panels, actions, hunts = {}, {}, {}
  for i, e in ipairs(entries) do
    local meta = metas[i]
    if e.kind == "hunt" then
      if not meta.broken then hunts[e.name] = meta end
    elseif e.kind == "action" then
      if not meta.broken then
        actions[#actions + 1] = { name = e.name, title = meta.title, summary = meta.summary, params = meta.params or {} }
      end
    elseif meta.broken then
      panels[#panels + 1] = { id = e.name, entry = e, meta = meta, group = "insights", title = e.name,
                              broken = meta.broken }
    elseif meta.page ~= false and ip_only(meta) then
      local group, order, hunt = page_field(meta)
      panels[#panels + 1] = { id = e.name, entry = e, meta = meta, group = group, order = order, hunt = hunt,
                              title = meta.title or e.name }
    end
  end
  table.sort(panels, before)
  table.sort(actions, function(a, b) return a.name < b.name end)
  return panels, actions, hunts
end

-- only: list of group names and panel ids (each may hold several, comma-separated).
function M.select(panels, only)
  if not only or #only == 0 then return panels end
  local want, wanted_groups = {}, {}
  for _, item in ipairs(only) do
    for word in tostring(item):gmatch("[^,%s]+") do
      local w = word:lower()
      local known = GROUP_RANK[w] ~= nil
      for _, p in ipairs(panels) do known = known or p.id == w end
      if not known then
        local ids = {}
        for _, p in ipairs(panels) do ids[#ids + 1] = p.id end
        errors.usage("--only: unknown section '%s' (sections: %s; or a panel: %s)", word,
          table.concat(groups.GROUPS, ", "), table.concat(ids, ", "))
      end
      if GROUP_RANK[w] then wanted_groups[w] = true else want[w] = true end
    end
  end
  local out = {}
  for _, p in ipairs(panels) do
    if wanted_groups[p.group] or want[p.id] then out[#out + 1] = p end
  end
  return out
end

-- given(panel, ip, opts): opts.limit (a page option) and opts.panel_params = { [panel id] = {k = v} }.
function M.given(panel, ip, opts)
  local given = { ip = ip }
  for option, group in pairs(M.PAGE_OPTIONS) do
    if opts[option] ~= nil and panel.group == group and M.declares(panel.meta, option) then
      given[option] = opts[option]
    end
  end
  for k, v in pairs((opts.panel_params or {})[panel.id] or {}) do given[k] = v end
  return given
end

-- -p panel.key=value (repeatable) -> { [panel] = {key = value} }, checked against the panels.
function M.panel_params(list, panels)
  local out = {}
  local by_id = {}
  for _, p in ipairs(panels) do by_id[p.id] = p end
  for _, kv in ipairs(list or {}) do
    local id, key, value = kv:match("^([%w-]+)%.([%w_]+)=(.*)$")
    if not id then errors.usage("page: -p expects panel.key=value (e.g. -p observed-in-organization.limit=20), got '%s'", kv) end
    if not by_id[id] then errors.usage("page: -p %s: no panel '%s' on this page", kv, id) end
    if key == "ip" then errors.usage("page: -p %s: the IP is the page's argument", kv) end
    out[id] = out[id] or {}
    out[id][key] = value
  end
  return out
end

-- Coerce every panel's parameters here, before any worker starts: a bad --limit or -p is a
-- usage error of the page, not a failed panel.
function M.check_params(panels, givens)
  for i, p in ipairs(panels) do
    if not p.broken then
      local ok, msg = params.coerce(p.meta.params, givens[i], "insight '" .. p.id .. "'")
      if not ok then errors.usage("page: %s", msg) end
    end
  end
end

return M
