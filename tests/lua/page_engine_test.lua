-- Tests for ipe.page (panel discovery and order, sections, parameters, filters, commands,
-- status) and ipe.render.page (text in 80 and 200 columns, JSON). Run inside ipe-run test.
local T = require "ipe.testing"
local ok_core = pcall(require, "ipe.proc")
if not ok_core then
  T.skip("page engine", "needs the C core (run with ipe-run test)")
  return T.done()
end
local page = require "ipe.page"
local out = require "ipe.render.page"
local discover = require "ipe.discover"
local escape = require "ipe.render.escape"
local cjson = require "cjson"

local function raises(fn, want)
  local ok, e = pcall(fn)
  T.ok(not ok, "expected an error: " .. want)
  T.eq(type(e) == "table" and e.msg or tostring(e), want)
  T.eq(type(e) == "table" and e.code or nil, 2, "a usage error")
end

local function panel(id, group, order, params, categories)
  return { id = id, group = group, order = order, title = id,
           meta = { params = params or { { name = "ip", type = "ip", required = true, help = "ip" } },
                    categories = categories or { "offline" } } }
end

---------------------------------------------------------------------------
-- Discovery and order
---------------------------------------------------------------------------
local root = os.tmpname()
os.remove(root)
assert(require("ipe.fs").mkdir_p(root .. "/insights"))
assert(require("ipe.fs").mkdir_p(root .. "/actions"))
local function script(path, text)
  local f = assert(io.open(root .. "/" .. path, "w"))
  f:write(text)
  f:close()
end
local function insight(name, extra, params)
  return string.format([[return { name = %q, kind = "insight", title = %q, summary = "s", description = "d",
  categories = { "offline" }, sources = {}, %s
  params = { { name = "ip", type = "ip", required = true, help = "the IP" }%s },
  run = function() return {} end }
]], name, "Title of " .. name, extra or "", params or "")
end
script("insights/zeta-panel.lua", insight("zeta-panel"))
script("insights/alpha-panel.lua", insight("alpha-panel"))
script("insights/first-overview.lua", insight("first-overview", 'page = { group = "overview", order = 5, hunt = "h" },'))
script("insights/ordered-insight.lua", insight("ordered-insight", 'page = { group = "insights", order = 1 },'))
script("insights/hidden-panel.lua", insight("hidden-panel", "page = false,"))
script("insights/needs-user.lua", insight("needs-user", nil, ', { name = "user", type = "string", required = true, help = "u" }'))
script("insights/odd-group.lua", insight("odd-group", 'page = { group = "sidebar", order = 1 },'))
script("insights/broken-panel.lua", "return {")
script("actions/block-it.lua", [[return { name = "block-it", kind = "action", title = "Block it", summary = "Blocks the IP",
  description = "d", categories = { "offline", "response" }, sources = {}, side_effects = { "firewall" },
  params = { { name = "ip", type = "ip", required = true, help = "the IP" },
             { name = "reason", type = "string", required = true, help = "why" } },
  run = function() return {} end }
]])

T.case("collect: page order, page = false, broken, extra required parameters, actions", function()
  local index = discover.scan({ { dir = root, origin = "test" } })
  local panels, actions = page.collect(index, 2)
  local ids, groups = {}, {}
  for i, p in ipairs(panels) do ids[i] = p.id; groups[i] = p.group end
  -- ordered panels first (order, then title), then the others by title, case aside
  T.eq(ids, { "first-overview", "odd-group", "ordered-insight", "broken-panel", "alpha-panel", "zeta-panel" })
  T.eq(groups, { "overview", "insights", "insights", "insights", "insights", "insights" })
  T.eq(panels[1].hunt, "h")
  T.like(panels[4].broken, "broken%-panel%.lua")
  T.eq(#actions, 1)
  T.eq({ actions[1].name, actions[1].title }, { "block-it", "Block it" })
  T.eq(page.action_command(actions[1], "1.2.3.4"), "ipe-run action block-it 1.2.3.4 -p 'reason=<reason>'")
end)

T.case("run: a broken panel fails alone", function()
  local index = discover.scan({ { dir = root, origin = "test" } })
  local panels = page.select(page.collect(index, 2), { "broken-panel" })
  local records = page.run(panels, {}, 1, true)
  T.eq({ records[1].status, records[1].outcome, records[1].script }, { "error", "broken", "broken-panel" })
  T.eq(page.status(records), "partial")
end)

T.case("run: the external panels share one worker; one that never ends or misbehaves fails alone", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(require("ipe.fs").mkdir_p(dir .. "/insights"))
  local function external(name, body)
    local f = assert(io.open(dir .. "/insights/" .. name .. ".lua", "w"))
    f:write(string.format([[return { name = %q, kind = "insight", title = %q, summary = "s", description = "d",
  categories = { "external" }, sources = {},
  params = { { name = "ip", type = "ip", required = true, help = "the IP" } },
  run = function(ctx, p) %s end }
]], name, name, body))
    f:close()
  end
  external("ext-fine", "return {}")
  external("ext-loops", "while true do end")
  external("ext-yields", "coroutine.yield('x') return {}")
  external("ext-fails", "error('vendor exploded', 0)")
  local index = discover.scan({ { dir = dir, origin = "test" } })
  local panels = page.collect(index, 2)
  local reqs = {}
  -- the looping panel has 1 s; the others 5 s, so that a loaded machine never runs them out of time
  for i, p in ipairs(panels) do
    reqs[i] = { entry = p.entry, given = { ip = "8.8.8.8" }, timeout = p.id == "ext-loops" and 1 or 5, offline = true }
  end
  local records = page.run(panels, reqs, 2, false)
  local got = {}
  for i, p in ipairs(panels) do got[p.id] = { records[i].status, records[i].outcome, records[i].message } end
  T.eq(got["ext-fine"], { "empty" })
  T.eq(got["ext-loops"], { "error", "timeout", "ran out of time (budget 1s)" })
  T.eq(got["ext-fails"], { "error", "failed", "vendor exploded" })
  T.eq(got["ext-yields"][1], "error")
  T.like(got["ext-yields"][3], "attempt to yield")
  for _, r in ipairs(reqs) do T.eq(r.together, "external", "external panels are put together") end
  -- (what a failed group costs in time is measured by tests/bench/bench_providers.sh, not here)
  os.execute("rm -rf '" .. dir .. "'")
end)

T.case("run: the local panels share the workers in turn, one group each; one that never ends fails alone", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(require("ipe.fs").mkdir_p(dir .. "/insights"))
  local function localp(name, body)
    local f = assert(io.open(dir .. "/insights/" .. name .. ".lua", "w"))
    f:write(string.format([[return { name = %q, kind = "insight", title = %q, summary = "s", description = "d",
  categories = { "offline" }, sources = {},
  params = { { name = "ip", type = "ip", required = true, help = "the IP" } },
  run = function(ctx, p) %s end }
]], name, name, body))
    f:close()
  end
  local kv = "return require('ipe.result').kv{ id = 'k', title = 'k', items = { { 'ip', p.ip, 'ip' } } }"
  for _, n in ipairs({ "loc-a", "loc-b", "loc-c", "loc-d" }) do localp(n, kv) end
  localp("loc-loops", "while true do end")
  localp("loc-fails", "error('exploded', 0)")
  local index = discover.scan({ { dir = dir, origin = "test" } })
  local panels = page.collect(index, 2)
  -- loops has 1 s; the others 5 s, so that a loaded machine never runs them out of time
  local reqs, hints = {}, { ["loc-a"] = 300, ["loc-b"] = 200, ["loc-c"] = 100, ["loc-d"] = 90 }
  for i, p in ipairs(panels) do
    reqs[i] = { entry = p.entry, given = { ip = "8.8.8.8" }, timeout = p.id == "loc-loops" and 1 or 5, offline = true }
  end
  -- two workers: two groups, the slowest first into the emptier one (a 300 | b 200, then c 100 to b's
  -- group, d 90 to a's on the tie, fails 50 and loops 50 to the less loaded: 1 = a, d; 2 = b, c, fails, loops)
  local order = page.start_order(panels, true, hints)
  local groups = page.local_groups(panels, order, 2, true, hints)
  local of = {}
  for i, p in ipairs(panels) do of[p.id] = groups[i] end
  T.eq({ of["loc-a"], of["loc-b"], of["loc-c"], of["loc-d"], of["loc-fails"], of["loc-loops"] }, { 1, 2, 2, 1, 2, 2 })
  local t0 = require("ipe.proc").monotonic()
  local records = page.run(panels, reqs, 2, true, hints)
  local got = {}
  for i, p in ipairs(panels) do got[p.id] = { records[i].status, records[i].outcome, records[i].message } end
  T.eq(got["loc-loops"], { "error", "timeout", "ran out of time (budget 1s)" })
  T.eq(got["loc-fails"], { "error", "failed", "exploded" })
  for _, n in ipairs({ "loc-a", "loc-b", "loc-c", "loc-d" }) do T.eq(got[n], { "ok" }, n .. " answers") end
  for _, r in ipairs(reqs) do
    T.like(r.together, "^local [12]$", "local panels are put in a worker's group")
    T.eq(r.in_turn, true)
  end
  -- the looping panel's group stopped at that panel's own budget (1 s; the group's is the sum of
  -- its members', 16 s) and was run again one panel per worker: about 2 s, not 16
  T.ok(require("ipe.proc").monotonic() - t0 < 10, "a looping panel costs its own budget, not its group's")
  os.execute("rm -rf '" .. dir .. "'")
end)

---------------------------------------------------------------------------
-- Sections and parameters
---------------------------------------------------------------------------
local PANELS = { panel("security-info", "overview", 10), panel("log-activity", "overview", 30),
                 panel("incidents-and-alerts", "incidents", 10),
                 panel("observed-in-organization", "observed", 10, {
                   { name = "ip", type = "ip", required = true, help = "ip" },
                   { name = "limit", type = "int", default = 100, min = 1, help = "n" } }),
                 panel("remote-connections", "insights", 90, {
                   { name = "ip", type = "ip", required = true, help = "ip" },
                   { name = "limit", type = "int", default = 500, min = 1, help = "n" } }, { "external" }) }

T.case("select: groups, panel names, comma lists, repeated", function()
  local function ids(list) local o = {} for i, p in ipairs(list) do o[i] = p.id end return o end
  T.eq(#page.select(PANELS, nil), 5)
  T.eq(ids(page.select(PANELS, { "overview" })), { "security-info", "log-activity" })
  T.eq(ids(page.select(PANELS, { "observed,remote-connections" })), { "observed-in-organization", "remote-connections" })
  T.eq(ids(page.select(PANELS, { "Incidents", "log-activity" })), { "log-activity", "incidents-and-alerts" })
  raises(function() page.select(PANELS, { "overveiw" }) end,
    "--only: unknown section 'overveiw' (sections: overview, incidents, observed, timeline, insights; or a panel: "
    .. "security-info, log-activity, incidents-and-alerts, observed-in-organization, remote-connections)")
end)

T.case("given: --limit reaches the observed panel only; -p panel.key=value", function()
  local pp = page.panel_params({ "remote-connections.limit=7" }, PANELS)
  T.eq(page.given(PANELS[4], "1.2.3.4", { limit = "20", panel_params = pp }), { ip = "1.2.3.4", limit = "20" })
  T.eq(page.given(PANELS[5], "1.2.3.4", { limit = "20", panel_params = pp }), { ip = "1.2.3.4", limit = "7" })
  T.eq(page.given(PANELS[1], "1.2.3.4", { limit = "20", panel_params = pp }), { ip = "1.2.3.4" })
  raises(function() page.panel_params({ "limit=5" }, PANELS) end,
    "page: -p expects panel.key=value (e.g. -p observed-in-organization.limit=20), got 'limit=5'")
  raises(function() page.panel_params({ "nope.limit=5" }, PANELS) end, "page: -p nope.limit=5: no panel 'nope' on this page")
  raises(function() page.panel_params({ "log-activity.ip=1.1.1.1" }, PANELS) end,
    "page: -p log-activity.ip=1.1.1.1: the IP is the page's argument")
end)

T.case("check_params: a bad value is a usage error before anything runs", function()
  raises(function() page.check_params({ PANELS[4] }, { { ip = "1.2.3.4", limit = "lots" } }) end,
    "page: insight 'observed-in-organization': parameter 'limit': 'lots' is not a whole number")
  raises(function() page.check_params({ PANELS[4] }, { { ip = "1.2.3.4", limit = "0" } }) end,
    "page: insight 'observed-in-organization': parameter 'limit': 0 is below the minimum 1")
  raises(function() page.check_params({ PANELS[1] }, { { ip = "1.2.3.4", top = "3" } }) end,
    "page: insight 'security-info' has no parameter 'top' (parameters: ip)")
  page.check_params({ PANELS[4] }, { { ip = "1.2.3.4", limit = "3" } })
end)

T.case("parallelism: the cores, plus the external panels when online", function()
  local cores = page.cores()
  T.ok(cores >= 1)
  T.eq(page.parallelism(PANELS, true), math.min(cores, 5))
  T.eq(page.parallelism(PANELS, false), math.min(cores + 1, 5))
end)

T.case("start order: external first when online, then the slowest last time, then page order", function()
  local hints = { ["log-activity"] = 120, ["security-info"] = 5, ["observed-in-organization"] = 300 }
  T.eq(page.start_order(PANELS, true, hints), { 4, 2, 3, 5, 1 }, "offline: 300, 120, two unknown (50) in order, 5")
  T.eq(page.start_order(PANELS, false, hints), { 5, 4, 2, 3, 1 }, "online: the external panel first")
  T.eq(page.start_order(PANELS, true, {}), { 1, 2, 3, 4, 5 }, "no hints: page order")
end)

T.case("timing hints: saved merged, read back; a bad place is no error", function()
  local path = os.tmpname()
  os.remove(path)
  page.save_timing({ { script = "log-activity", timing = { ms = 12.345 } }, { script = "broken" } },
    { ["security-info"] = 3 }, path)
  T.eq(page.load_timing(path), { ["log-activity"] = 12.3, ["security-info"] = 3 })
  page.save_timing({ { script = "security-info", timing = { ms = 7 } } }, page.load_timing(path), path)
  T.eq(page.load_timing(path), { ["log-activity"] = 12.3, ["security-info"] = 7 })
  os.remove(path)
  page.save_timing({ { script = "x", timing = { ms = 1 } } }, {}, "/proc/no/such/dir/page-timing")
  T.eq(page.load_timing("/proc/no/such/dir/page-timing"), {})
end)

---------------------------------------------------------------------------
-- Commands
---------------------------------------------------------------------------
T.case("hunt commands: the named hunt when it exists, else the insight as a hunt", function()
  local hunts = { ["hosts-contacting-ip"] = { params = { { name = "ip" }, { name = "limit" } } },
                  ["ti-matches-in-traffic"] = { params = { { name = "min_confidence" } } } }
  local p = panel("observed-in-organization", "observed", 10)
  p.hunt = "hosts-contacting-ip"
  T.eq(page.hunt_command(p, "89.160.20.128", { "--since", "7d" }, hunts),
    "ipe-run hunt hosts-contacting-ip --ip 89.160.20.128 --since 7d")
  p.hunt = "ti-matches-in-traffic"
  T.eq(page.hunt_command(p, "89.160.20.128", { "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02" }, hunts),
    "ipe-run hunt ti-matches-in-traffic --from 2026-11-01T00:00:00Z --to 2026-11-02")
  p.hunt = "missing-hunt"
  T.eq(page.hunt_command(p, "2001:db8::1", { "--since", "12h" }, hunts),
    "ipe-run insight observed-in-organization 2001:db8::1 --as-hunt --since 12h")
end)

---------------------------------------------------------------------------
-- Filters of the incidents table
---------------------------------------------------------------------------
local function incidents_record()
  local function rec(rows)
    return { status = "ok", sections = { { kind = "table", id = "incidents", title = "t",
      columns = { { name = "Kind", type = "text" }, { name = "Id", type = "text" }, { name = "Severity", type = "text" },
                  { name = "Status", type = "text" }, { name = "LastActivity", type = "time" },
                  { name = "Alerts", type = "count" } }, rows = rows } } }
  end
  return { kind = "page", panels = {
    { id = "incidents-and-alerts", group = "incidents", record = rec({
      { "Incident", "1", "Low", "New", "2026-11-20T10:00:00.000Z", 1 },
      { "Incident", "2", "High", "Active", "2026-11-21T10:00:00.000Z", 3 },
      { "Alert", "a", "Medium", "New", cjson.null, 2 },
      { "Alert", "b", "Informational", "Resolved", "2026-11-22T10:00:00.000Z", 10 },
      { "Incident", "3", "Medium", "Closed", "2026-11-19T10:00:00.000Z", cjson.null } }) } } }
end

local function col(r, name)
  local s = r.panels[1].record.sections[1]
  local i
  for k, c in ipairs(s.columns) do if c.name == name then i = k end end
  local o = {}
  for n, row in ipairs(s.rows) do o[n] = row[i] end
  return o
end

T.case("parse: --where, --columns, --sort and their errors", function()
  T.eq(page.parse_where({ "severity=High, Medium", "status=New" }),
    { { column = "severity", values = { "High", "Medium" } }, { column = "status", values = { "New" } } })
  T.eq(page.parse_columns(" Title , Severity "), { "Title", "Severity" })
  T.eq(page.parse_sort("LastActivity"), { column = "LastActivity", desc = false })
  T.eq(page.parse_sort("-LastActivity"), { column = "LastActivity", desc = true })
  T.eq(page.parse_sort("severity:DESC"), { column = "severity", desc = true })
  raises(function() page.parse_where({ "severity" }) end, "--where: expected column=value[,value...], got 'severity'")
  raises(function() page.parse_where({ "severity=," }) end, "--where: no value given for 'severity'")
  raises(function() page.parse_columns(" , ") end, "--columns: no column named in ' , '")
  raises(function() page.parse_sort("severity:up") end, "--sort: direction must be asc or desc, got 'up'")
  raises(function() page.parse_sort("last activity") end, "--sort: expected column[:asc|desc], got 'last activity'")
end)

T.case("filter: where (any case), then sort, then columns; notes say so", function()
  local r = page.filter(incidents_record(), { where = page.parse_where({ "severity=high,MEDIUM", "kind=incident" }) })
  T.eq(col(r, "Id"), { "2", "3" })
  T.eq(r.panels[1].record.sections[1].note, "2 of 5 rows where Severity = high or MEDIUM and Kind = incident")
  r = page.filter(incidents_record(), { where = page.parse_where({ "alerts=10" }) })
  T.eq(col(r, "Id"), { "b" }, "numbers compare as their text")
  r = page.filter(incidents_record(), { sort = page.parse_sort("Severity") })
  T.eq(col(r, "Severity"), { "High", "Medium", "Medium", "Low", "Informational" }, "severity by rank")
  r = page.filter(incidents_record(), { sort = page.parse_sort("-LastActivity") })
  T.eq(col(r, "Id"), { "b", "2", "1", "3", "a" }, "newest first, NULL last")
  r = page.filter(incidents_record(), { sort = page.parse_sort("alerts:desc") })
  T.eq(col(r, "Id"), { "b", "2", "a", "1", "3" })
  r = page.filter(incidents_record(), { columns = { "status", "ID" }, sort = page.parse_sort("id:desc") })
  local s = r.panels[1].record.sections[1]
  T.eq({ s.columns[1].name, s.columns[2].name, #s.columns }, { "Status", "Id", 2 })
  T.eq(s.rows[1], { "Resolved", "b" })
  T.eq(s.note, "sorted by Id (descending)")
end)

T.case("filter: unknown columns and a page without the incidents section", function()
  raises(function() page.filter(incidents_record(), { where = page.parse_where({ "sevrity=High" }) }) end,
    "--where: the incidents table has no column 'sevrity' (columns: Kind, Id, Severity, Status, LastActivity, Alerts)")
  raises(function() page.filter(incidents_record(), { columns = { "Title" } }) end,
    "--columns: the incidents table has no column 'Title' (columns: Kind, Id, Severity, Status, LastActivity, Alerts)")
  raises(function() page.filter(incidents_record(), { sort = { column = "When" } }) end,
    "--sort: the incidents table has no column 'When' (columns: Kind, Id, Severity, Status, LastActivity, Alerts)")
  raises(function() page.filter({ panels = {} }, { sort = { column = "Id" } }) end,
    "--sort applies to the incidents and alerts section, which is not on this page")
  local r = incidents_record()
  T.eq(page.filter(r, { where = {} }), r, "no filter: unchanged")
end)

---------------------------------------------------------------------------
-- Status, assembly, rendering
---------------------------------------------------------------------------
T.case("status: partial when a panel failed, empty when none found anything", function()
  T.eq(page.status({ { status = "ok" }, { status = "error" } }), "partial")
  T.eq(page.status({ { status = "empty" }, { status = "skipped" } }), "empty")
  T.eq(page.status({ { status = "empty" }, { status = "ok" } }), "ok")
  T.eq(page.exit_code({ status = "partial" }), 1)
  T.eq(page.exit_code({ status = "empty" }), 0)
end)

local function sample()
  local ps = { panel("security-info", "overview", 10), panel("incidents-and-alerts", "incidents", 10),
               panel("broken-one", "insights") }
  local long = string.rep("very long value ", 6)
  local recs = {
    { script = "security-info", kind = "insight", title = "Security info", status = "ok", params = {},
      sections = { { kind = "kv", id = "counts", title = "Security info for 1.2.3.4",
        items = { { key = "Open incidents", value = 3, type = "count" }, { key = "Active alerts", value = 12345, type = "count" },
                  { key = "Incidents closed in the window", value = 7, type = "count" },
                  { key = "Alerts resolved in the window", value = 70, type = "count" } } } },
      queries = { { sql = "SELECT 1\nFROM x", params = { { name = "ip", value = "1.2.3.4" } } } }, timing = { ms = 1.5 } },
    { script = "incidents-and-alerts", kind = "insight", title = "Incidents and alerts", status = "ok", params = {},
      sections = { { kind = "table", id = "incidents", title = "Incidents",
        columns = { { name = "Kind", type = "text" }, { name = "Title", type = "text" }, { name = "Severity", type = "text" },
                    { name = "LastActivity", type = "time" }, { name = "ImpactedAssets", type = "text" } },
        rows = { { "Incident", "Communication with a C2 server\27[31m", "High", "2026-11-22T15:00:00.000Z", long } } } },
      queries = {} },
    { script = "broken-one", kind = "insight", status = "error", message = "boom\nsecond line", params = {}, sections = {},
      queries = {} },
  }
  local rec = page.assemble{ ip = "1.2.3.4", window = { from_text = "2026-11-20T00:00:00.000Z", to_text = "2026-11-27T00:00:00.000Z" },
    now_text = "2026-11-27T00:00:00.000Z", offline = true, panels = ps, records = recs, window_args = { "--since", "7d" },
    actions = { { name = "block-it", title = "Block it", summary = "Blocks the IP",
                  params = { { name = "ip" } } } }, ms = 12.5, parallel = 2 }
  return rec
end

T.case("assemble: the page record of the contract", function()
  local rec = sample()
  T.eq({ rec.kind, rec.ip, rec.title, rec.status, rec.offline }, { "page", "1.2.3.4", "IP address 1.2.3.4", "partial", true })
  T.eq(rec.failed, { "broken-one" })
  T.eq(rec.window, { from = "2026-11-20T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z" })
  T.eq(rec.panels[1].hunt, "ipe-run insight security-info 1.2.3.4 --as-hunt --since 7d")
  T.eq(rec.actions[1].command, "ipe-run action block-it 1.2.3.4")
  T.eq(rec.timing, { ms = 12.5, parallel = 2 })
  T.eq(rec.panels[3].record.title, "broken-one", "a panel without a record title takes the panel's")
end)

local function lines_of(s)
  local l = {}
  for line in s:gmatch("([^\n]*)\n") do l[#l + 1] = line end
  return l
end

T.case("text: readable in 80 and in 200 columns, cards, records for wide tables, escaped", function()
  for _, width in ipairs({ 80, 200 }) do
    local text = out.text(sample(), { width = width })
    for _, line in ipairs(lines_of(text)) do
      if not line:match("^hunt: ") and not line:match("^  ipe%-run ") then
        T.ok(escape.display_width(line) <= width, width .. " columns: " .. line)
      end
    end
    T.like(text, "^IP address 1%.2%.3%.4\nwindow 2026%-11%-20 00:00:00 → 2026%-11%-27 00:00:00 UTC · 3 panels"
      .. (width == 80 and "\n" or " ") .. "· partial %(1 failed: broken%-one%)\n", "the heading breaks between its parts")
    T.like(text, "\n━━ Overview ━")
    T.like(text, "\n── Security info ─")
    T.like(text, "│ Open incidents │ │ Active alerts │")
    T.like(text, "│ 12,345")
    T.like(text, "\nerror: boom\\nsecond line\n")
    T.like(text, "\\x1b%[31m", "control characters escaped")
    T.unlike(text, "\27")
    T.like(text, "\n━━ Response actions ━")
    T.like(text, "\nBlock it — Blocks the IP\n  ipe%-run action block%-it 1%.2%.3%.4\n$")
    T.unlike(text, "SELECT 1", "queries only with show_query")
  end
  local narrow = out.text(sample(), { width = 80 })
  T.like(narrow, "\n%[1%] Kind:           Incident\n    Title:          Communication with a C2 server\\x1b%[31m\n")
  T.like(narrow, "\n    ImpactedAssets: very long value very long value")
  local wide = out.text(sample(), { width = 200 })
  T.like(wide, "\nKind      Title ")
  local cards = out.cards(sample().panels[1].record.sections[1], { width = 80 })
  T.eq(#cards, 8, "four cards in two rows of 80 columns")
  T.eq(#out.cards(sample().panels[1].record.sections[1], { width = 200 }), 4, "one row in 200 columns")
end)

T.case("text: --show-query prints each panel's queries with their bound values", function()
  local text = out.text(sample(), { width = 100, show_query = true })
  T.like(text, "\nhunt: ipe%-run insight security%-info 1%.2%.3%.4 %-%-as%-hunt %-%-since 7d\n%-%- query 1 %(ip=1%.2%.3%.4%)\nSELECT 1\nFROM x\n")
end)

T.case("text: an empty page says so", function()
  local rec = sample()
  rec.status, rec.failed = "empty", {}
  for _, p in ipairs(rec.panels) do p.record.status, p.record.message = "empty", nil end
  local text = out.text(rec, { width = 80 })
  T.like(text, "\nNo panel found anything about 1%.2%.3%.4 in this window%.\n")
  T.like(text, "\n── Security info ─[^\n]*\n\nno results\n")
end)

T.case("json: the machine contract, keys in order", function()
  local text = out.json(sample())
  T.like(text, '^{"kind":"page","ip":"1%.2%.3%.4","title":"IP address 1%.2%.3%.4","window":{"from":')
  local v = cjson.decode(text)
  T.eq({ v.status, v.failed[1], #v.panels, v.timing.ms, v.timing.parallel, v.offline }, { "partial", "broken-one", 3, 12.5, 2, true })
  T.eq({ v.panels[1].id, v.panels[1].group, v.panels[1].status, v.panels[1].record.script }, { "security-info", "overview", "ok", "security-info" })
  T.eq(v.panels[1].record.queries[1].params.ip, "1.2.3.4")
  T.eq(v.panels[3].record.message, "boom\nsecond line")
  T.eq(v.actions[1].command, "ipe-run action block-it 1.2.3.4")
end)

os.execute("rm -rf '" .. root .. "'")
T.done()
