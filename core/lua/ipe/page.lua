-- ipe.page: the IP entity page engine — which insights are panels and where they go,
-- running them concurrently, and the one page record the renderers take
-- (render.page for text and JSON, render.html for HTML).
--
--   page.GROUPS                          -> { "overview", "incidents", "observed", "timeline", "insights" }
--   page.GROUP_TITLES                    -> { overview = "Overview", ... }
--   page.describe(entries [, parallel])  -> metadata per entry (as ipe.runner.describe_many; one
--                                           worker for all, one each when that fails)
--   page.collect(index [, parallel])     -> panels, actions, hunts
--       panels: every insight whose script does not say page = false, in page order:
--       { id=, entry=, meta=, group=, order=, title=, broken= } (a broken insight stays, as a
--       failing panel); insights with a required parameter besides ip are left out.
--       actions: { {name=, title=, summary=, params=} } from actions/ (broken ones left out)
--       hunts: { [name] = metadata } (for the panels' hunt commands)
--   page.select(panels, only)            -> the panels of the named groups or panel ids
--   page.given(panel, ip, opts)          -> {name = raw value} for the panel's run (see PAGE_OPTIONS)
--   page.panel_params(list, panels)      -> -p panel.key=value options checked: { [panel] = {k = v} }
--   page.cores()                         -> IPE_JOBS, else the online CPUs, else 2
--   page.check_params(panels, givens)    -> raises the first parameter error (usage, exit 2)
--   page.parallelism(panels, offline)    -> workers: the cores, plus one for the external panels
--                                           (together, I/O bound) when online, at most 16
--   page.run(panels, requests, parallel, offline, hints) -> records in panel order
--                                           (ipe.runner.run_many, started in start_order, the
--                                           external panels together in one worker; a broken
--                                           panel's record is made here)
--   page.start_order(panels, offline, hints) -> panel indexes: external first when online, then
--                                           the slowest last time first
--   page.load_timing([path]) / page.save_timing(records, hints [, path]) -> the timing hints
--                                           ($XDG_STATE_HOME/ipe/page-timing)
--   page.hunt_command(panel, ip, window_args, hunts) -> "ipe-run hunt <h> --ip <ip> ..." or
--                                           "ipe-run insight <name> <ip> --as-hunt ..."
--   page.window_args(window)             -> {"--from", from_text, "--to", to_text}: the page's exact
--                                           window for the hunt commands
--   page.action_command(action, ip)      -> "ipe-run action <name> <ip> [-p key=<key>]"
--   page.assemble(t)                     -> the page record: {kind="page", ip=, title=, window=
--       {from=, to=}, generated=, offline=, status=, failed={panel ids}, not_asked={ {panel=,
--       provider=, message=} } (the providers not configured, so not asked), panels={ {id=, group=,
--       title=, order=, hunt=, record=<run record>} }, actions={ {name=, title=, summary=,
--       command=} }, timing={ms=, parallel=}} from t = {ip=, window=, now_text=, offline=,
--       panels=, records=, actions=, ms=, parallel=, window_args=, hunts=}
--   page.parse_where(list), page.parse_columns(text), page.parse_sort(text) -> filter specs
--   page.filter(record, {where=, columns=, sort=}) -> record with the incidents tables filtered,
--       sorted and cut (in place; notes say what was done)
--   page.status(records) -> "ok" | "partial" | "empty"; page.exit_code(record) -> 0 | 1
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

local M = {}

M.GROUPS = { "overview", "incidents", "observed", "timeline", "insights" }
M.GROUP_TITLES = { overview = "Overview", incidents = "Incidents and alerts", observed = "Observed in organization",
                   timeline = "Timeline", insights = "Insights" }
local GROUP_RANK = {}
for i, g in ipairs(M.GROUPS) do GROUP_RANK[g] = i end

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
  local want, groups = {}, {}
  for _, item in ipairs(only) do
    for word in tostring(item):gmatch("[^,%s]+") do
      local w = word:lower()
      local known = GROUP_RANK[w] ~= nil
      for _, p in ipairs(panels) do known = known or p.id == w end
      if not known then
        local ids = {}
        for _, p in ipairs(panels) do ids[#ids + 1] = p.id end
        errors.usage("--only: unknown section '%s' (sections: %s; or a panel: %s)", word,
          table.concat(M.GROUPS, ", "), table.concat(ids, ", "))
      end
      if GROUP_RANK[w] then groups[w] = true else want[w] = true end
    end
  end
  local out = {}
  for _, p in ipairs(panels) do
    if groups[p.group] or want[p.id] then out[#out + 1] = p end
  end
  return out
end

local function declares(meta, name)
  for _, p in ipairs(meta.params or {}) do if p.name == name then return true end end
  return false
end

-- given(panel, ip, opts): opts.limit (a page option) and opts.panel_params = { [panel id] = {k = v} }.
function M.given(panel, ip, opts)
  local given = { ip = ip }
  for option, group in pairs(M.PAGE_OPTIONS) do
    if opts[option] ~= nil and panel.group == group and declares(panel.meta, option) then
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

local function has_category(meta, c)
  for _, x in ipairs(meta.categories or {}) do if x == c then return true end end
  return false
end

-- The machine's cores: IPE_JOBS, else /sys/devices/system/cpu/online, else 2.
function M.cores()
  local env = tonumber(proc.getenv("IPE_JOBS") or "")
  if env and env >= 1 then return math.floor(env) end
  local text = require("ipe.fs").read("/sys/devices/system/cpu/online", 4096)
  local n = 0
  for part in (text or ""):gmatch("[^,%s]+") do
    local a, b = part:match("^(%d+)%-(%d+)$")
    if a then n = n + tonumber(b) - tonumber(a) + 1 elseif part:match("^%d+$") then n = n + 1 end
  end
  return n > 0 and n or 2
end

function M.parallelism(panels, offline)
  local n = M.cores()
  if not offline then
    for _, p in ipairs(panels) do
      -- the external panels share one worker (see run) that mostly waits on the network
      if not p.broken and has_category(p.meta, "external") then n = n + 1 break end
    end
  end
  return math.max(1, math.min(n, 16, #panels))
end

---------------------------------------------------------------------------
-- Timing hints: how long each panel took the last time ($XDG_STATE_HOME/ipe/page-timing, one
-- "panel milliseconds" line each), so that the slowest start first — longest processing time
-- first keeps every worker busy to the end instead of leaving one slow panel for last.
---------------------------------------------------------------------------
M.DEFAULT_HINT = 50   -- ms assumed for a panel never timed

function M.timing_path()
  local base = proc.getenv("XDG_STATE_HOME")
  if not (base and base:sub(1, 1) == "/") then base = (proc.getenv("HOME") or "/tmp") .. "/.local/state" end
  return base .. "/ipe/page-timing"
end

function M.load_timing(path)
  local hints = {}
  local text = require("ipe.fs").read(path or M.timing_path(), 1048576)
  for id, ms in (text or ""):gmatch("([%w_-]+) ([%d.]+)\n") do hints[id] = tonumber(ms) end
  return hints
end

-- save_timing(records, hints [, path]): the new times merged into the old; failures are ignored
-- (a hint is an optimization, never a reason for the page to fail).
function M.save_timing(records, hints, path)
  path = path or M.timing_path()
  local merged = {}
  for id, ms in pairs(hints or {}) do merged[id] = ms end
  for _, r in ipairs(records) do
    if r.script and r.timing and r.timing.ms then merged[r.script] = r.timing.ms end
  end
  local ids = {}
  for id in pairs(merged) do ids[#ids + 1] = id end
  table.sort(ids)
  local lines = {}
  for i, id in ipairs(ids) do lines[i] = string.format("%s %.1f\n", id, merged[id]) end
  -- a hint needs no fsync: written beside and renamed over the old file
  if not require("ipe.fs").mkdir_p(path:match("^(.*)/[^/]*$"), 448) then return end
  local tmp = path .. ".tmp-" .. proc.pid()
  local f = io.open(tmp, "w")
  if not f then return end
  local ok = f:write(table.concat(lines))
  f:close()
  if not (ok and os.rename(tmp, path)) then os.remove(tmp) end
end

-- The order the panels start in: external panels first when online (they mostly wait on the
-- network), then the slowest last time first; ties keep the page order.
function M.start_order(panels, offline, hints)
  local order = {}
  for i, p in ipairs(panels) do if not p.broken then order[#order + 1] = i end end
  local function key(i)
    local p = panels[i]
    return (not offline and has_category(p.meta, "external")) and 1 or 2, (hints or {})[p.id] or M.DEFAULT_HINT
  end
  table.sort(order, function(a, b)
    local ga, ha = key(a)
    local gb, hb = key(b)
    if ga ~= gb then return ga < gb end
    if ha ~= hb then return ha > hb end
    return a < b
  end)
  return order
end

-- run(panels, requests, parallel, offline, hints) -> records in panel order (see start_order).
-- The external panels run together in one worker (request field together = "external":
-- ipe.runner, ipe.concurrent): their lookups are in flight at the same time, and seven
-- providers cost one process instead of seven.
function M.run(panels, reqs, parallel, offline, hints)
  local order = M.start_order(panels, offline, hints)
  local list = {}
  for k, i in ipairs(order) do
    list[k] = reqs[i]
    if has_category(panels[i].meta, "external") then reqs[i].together = "external" end
  end
  local done = #list > 0 and runner.run_many(list, parallel) or {}
  local records = {}
  for k, i in ipairs(order) do records[i] = done[k] end
  for i, p in ipairs(panels) do
    if p.broken then
      records[i] = { script = p.id, kind = "insight", path = p.entry.path, status = "error", outcome = "broken",
                     message = p.broken, params = {}, sections = {}, queries = {} }
    end
  end
  return records
end

local function quote(arg)
  if arg:match("^[%w%.:/_,=@%-]+$") then return arg end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

local function join(args)
  local out = {}
  for i, a in ipairs(args) do out[i] = quote(a) end
  return table.concat(out, " ")
end

-- window_args(window) -> the options that give a hunt the page's exact window: its resolved
-- bounds ({"--from", from_text, "--to", to_text}), whatever form it was given in (--since,
-- --from/--to relative or not, --now, IPE_NOW, the clock), so a suggested command covers the
-- same rows whenever it is run.
function M.window_args(window)
  return { "--from", window.from_text, "--to", window.to_text }
end

-- hunts: { [name] = meta } of the hunts the panels name.
function M.hunt_command(panel, ip, window_args, hunts)
  local args
  local hunt = panel.hunt and hunts and hunts[panel.hunt]
  if hunt then
    args = { "ipe-run", "hunt", panel.hunt }
    if declares(hunt, "ip") then args[#args + 1] = "--ip"; args[#args + 1] = ip end
  else
    args = { "ipe-run", "insight", panel.id, ip, "--as-hunt" }
  end
  for _, a in ipairs(window_args or {}) do args[#args + 1] = a end
  return join(args)
end

function M.action_command(action, ip)
  local args = { "ipe-run", "action", action.name }
  local first = action.params[1]
  if first and first.name == "ip" then args[#args + 1] = ip
  elseif declares(action, "ip") then args[#args + 1] = "-p"; args[#args + 1] = "ip=" .. ip end
  for _, p in ipairs(action.params) do
    if p.name ~= "ip" and p.required and p.default == nil then
      args[#args + 1] = "-p"; args[#args + 1] = p.name .. "=<" .. p.name .. ">"
    end
  end
  return join(args)
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
                  hunt = M.hunt_command(p, t.ip, t.window_args, t.hunts), record = rec }
  end
  local actions = {}
  for i, a in ipairs(t.actions or {}) do
    actions[i] = { name = a.name, title = a.title, summary = a.summary, command = M.action_command(a, t.ip) }
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

---------------------------------------------------------------------------
-- Filters of the incidents tables: --where, --columns, --sort
---------------------------------------------------------------------------

-- {"severity=High,Medium", "status=New"} -> { {column="severity", values={"High","Medium"}}, ... }
function M.parse_where(list)
  local out = {}
  for _, w in ipairs(list or {}) do
    local col, vals = w:match("^%s*([%w_]+)%s*=(.*)$")
    if not col then errors.usage("--where: expected column=value[,value...], got '%s'", w) end
    local values = {}
    for v in vals:gmatch("[^,]+") do
      v = v:match("^%s*(.-)%s*$")
      if v ~= "" then values[#values + 1] = v end
    end
    if #values == 0 then errors.usage("--where: no value given for '%s'", col) end
    out[#out + 1] = { column = col, values = values }
  end
  return out
end

function M.parse_columns(text)
  if text == nil then return nil end
  local out = {}
  for c in text:gmatch("[^,]+") do
    c = c:match("^%s*(.-)%s*$")
    if c ~= "" then out[#out + 1] = c end
  end
  if #out == 0 then errors.usage("--columns: no column named in '%s'", text) end
  return out
end

-- "LastActivity", "-LastActivity", "LastActivity:desc", "Severity:asc"
function M.parse_sort(text)
  if text == nil then return nil end
  local desc = false
  local col, dir = text:match("^%s*([%w_]+)%s*:%s*(%a+)%s*$")
  if col then
    dir = dir:lower()
    if dir ~= "asc" and dir ~= "desc" then errors.usage("--sort: direction must be asc or desc, got '%s'", dir) end
    desc = dir == "desc"
  else
    local minus
    minus, col = text:match("^%s*(%-?)([%w_]+)%s*$")
    if not col then errors.usage("--sort: expected column[:asc|desc], got '%s'", text) end
    desc = minus == "-"
  end
  return { column = col, desc = desc }
end

local SEVERITY_RANK = { high = 1, medium = 2, low = 3, informational = 4, info = 4 }

local function find_column(sec, name)
  for i, c in ipairs(sec.columns) do
    if c.name:lower() == name:lower() then return i end
  end
end

local function cell_text(v)
  if type(v) == "number" then
    return v == math.floor(v) and string.format("%d", v) or string.format("%.17g", v)
  end
  if type(v) ~= "string" then return nil end
  return v:lower()
end

local function sort_key(v, severity)
  if type(v) == "number" then return 1, v end
  if type(v) == "string" then
    if severity and SEVERITY_RANK[v:lower()] then return 1, SEVERITY_RANK[v:lower()] end
    return 2, v
  end
  return 3, 0   -- NULL last
end

local function apply(sec, f)
  local notes = {}
  local total = #sec.rows
  for _, w in ipairs(f.where or {}) do
    local i = find_column(sec, w.column)
    local set = {}
    for _, v in ipairs(w.values) do set[v:lower()] = true end
    local kept = {}
    for _, row in ipairs(sec.rows) do
      local t = cell_text(row[i])
      if t and set[t] then kept[#kept + 1] = row end
    end
    sec.rows = kept
    notes[#notes + 1] = sec.columns[i].name .. " = " .. table.concat(w.values, " or ")
  end
  local parts = {}
  if #notes > 0 then parts[1] = string.format("%d of %d rows where %s", #sec.rows, total, table.concat(notes, " and ")) end
  if f.sort then
    local i = find_column(sec, f.sort.column)
    local severity = sec.columns[i].name:lower():find("severity", 1, true) ~= nil
    for n, row in ipairs(sec.rows) do row._n = n end
    table.sort(sec.rows, function(a, b)
      local ga, ka = sort_key(a[i], severity)
      local gb, kb = sort_key(b[i], severity)
      if ga ~= gb then return ga < gb end   -- values before NULLs in either direction
      if ka ~= kb then
        if f.sort.desc then return ka > kb end
        return ka < kb
      end
      return a._n < b._n
    end)
    for _, row in ipairs(sec.rows) do row._n = nil end
    parts[#parts + 1] = "sorted by " .. sec.columns[i].name .. (f.sort.desc and " (descending)" or "")
  end
  if f.columns then
    local idx, cols = {}, {}
    for k, name in ipairs(f.columns) do
      idx[k] = find_column(sec, name)
      cols[k] = sec.columns[idx[k]]
    end
    local rows = {}
    for r, row in ipairs(sec.rows) do
      local out = {}
      for k, i in ipairs(idx) do out[k] = row[i] end
      rows[r] = out
    end
    sec.columns, sec.rows = cols, rows
  end
  if #parts > 0 then
    local note = table.concat(parts, "; ")
    sec.note = sec.note and (sec.note .. " — " .. note) or note
  end
end

local function named(f)
  local names = {}
  for _, w in ipairs(f.where or {}) do names[#names + 1] = { "--where", w.column } end
  for _, c in ipairs(f.columns or {}) do names[#names + 1] = { "--columns", c } end
  if f.sort then names[#names + 1] = { "--sort", f.sort.column } end
  return names
end

local function has_all(sec, f)
  for _, n in ipairs(named(f)) do if not find_column(sec, n[2]) then return false, n end end
  return true
end

-- filter(record, f): f = {where=, columns=, sort=}; applies to every table of the incidents
-- group that has all the named columns. A column no incidents table has is a usage error.
function M.filter(record, f)
  if not f or (not f.where or #f.where == 0) and not f.columns and not f.sort then return record end
  local tables, ran = {}, false
  for _, p in ipairs(record.panels) do
    if p.group == "incidents" then
      ran = true
      for _, s in ipairs(p.record.sections or {}) do if s.kind == "table" then tables[#tables + 1] = s end end
    end
  end
  if not ran then
    errors.usage("%s applies to the incidents and alerts section, which is not on this page",
      named(f)[1][1])
  end
  local applied, missing = 0, nil
  for _, s in ipairs(tables) do
    local ok, miss = has_all(s, f)
    if ok then apply(s, f); applied = applied + 1 else missing = missing or { miss, s } end
  end
  if applied == 0 and missing then
    local cols = {}
    for _, c in ipairs(missing[2].columns) do cols[#cols + 1] = c.name end
    errors.usage("%s: the incidents table has no column '%s' (columns: %s)", missing[1][1], missing[1][2],
      table.concat(cols, ", "))
  end
  return record
end

return M
