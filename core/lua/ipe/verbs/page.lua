-- ipe.verbs.page: ipe-run page <ip> — the IP entity page: every page insight, run
-- concurrently, as one page in the terminal, as JSON or as an HTML file.
local common = require "ipe.verbs.common"
local insight = require "ipe.verbs.insight"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local ipaddr = require "ipe.ipaddr"
local proc = require "ipe.proc"
local page = require "ipe.page"
local textutil = require "ipe.textutil"

local M = {}

M.summary = "the IP entity page: overview, incidents, devices, timeline and every insight"
M.usage = [[
usage: ipe-run page <ip> [options]

Runs every page insight for <ip> concurrently and shows them as one page, like
the Sentinel / Defender IP entity page: the overview (security info, IP
details, log activity, logged hosts, incident and alert counts by severity,
prevalence chart), the incidents and alerts, the devices that talked to the IP
(observed in organization), the timeline, every insight, and the response
actions with their commands. A panel that fails or runs out of time shows its
error; the others still render. Each panel comes with its queries (--show-query)
and a ready 'ipe-run hunt' command.

options:
  --since DURATION     window ending now: 7d (default), 12h, 30m, 2w
  --from TIME --to TIME  an explicit window (ISO 8601)
  -f, --format FMT     table (default; also text), box, json or html (one
                       self-contained file)
  -o, --output FILE    write to FILE (atomically) instead of stdout
  --offline            external panels answer from the cache and local data only
  --only SECTION       only these sections: overview, incidents, observed, timeline,
                       insights or a panel's name (repeatable, or comma-separated)
  --where COL=V1,V2    incidents and alerts: keep rows whose COL is one of the values
                       (case-insensitive; repeatable, all must hold)
  --columns C1,C2      incidents and alerts: show only these columns, in this order
  --sort COL[:asc|desc]  incidents and alerts: sort by COL (also -COL for descending)
  --limit N            observed in organization: at most N devices (default 100)
  -p, --param PANEL.KEY=VALUE  set a parameter of one panel (repeatable)
  --show-query         print each panel's queries with their bound values
  --timeout SECONDS    each panel's time budget (default 10)
  --width N            fit tables and charts to N columns (default: $COLUMNS,
                       else the terminal's width, else 80)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 the page (also when the IP has no data), 1 some panel failed,
2 bad arguments, 3 no workspace
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, {
  { "param", "p", arg = true, multi = true }, { "show-query" }, { "timeout", arg = true }, { "offline" },
  { "only", arg = true, multi = true }, { "where", arg = true, multi = true }, { "columns", arg = true },
  { "sort", arg = true }, { "limit", arg = true },
} }

-- the -f names the page writes (ipe.verbs.common.FORMATS; "text" is "table")
M.FORMATS = { "table", "box", "json", "html" }

local function render(rec, fmt, opts)
  if fmt == "html" then
    local ok, html = pcall(require, "ipe.render.html")
    if not ok then errors.failed("page: --format html is not available in this build (%s)", tostring(html):match("[^\n]*")) end
    return html.page(rec, { show_query = opts.show_query })
  end
  local out = require "ipe.render.page"
  local ro = common.render_options(opts)
  if fmt == "json" then return out.json(rec, ro) end
  return out.text(rec, ro, fmt == "box")
end

-- record(opts, pos) -> the page record and its format: everything run does but the output
-- (ipe.harness.page builds the page of a test workspace with it).
function M.record(opts, pos)
  local started = proc.monotonic()
  local text = pos[1]
  if not text then errors.usage("page: no IP given; usage: ipe-run page <ip> [options]") end
  if #pos > 1 then errors.usage("page: unexpected argument '%s' (one IP per page)", pos[2]) end
  local ip, err = ipaddr.normalize(text)
  if not ip then errors.usage("page: %s", err) end
  local fmt = common.format(opts, M.FORMATS)
  local filters = { where = page.parse_where(opts.where), columns = page.parse_columns(opts.columns),
                    sort = page.parse_sort(opts.sort) }
  local index = discover.scan()
  local base = insight.request(opts, index, nil, nil)
  -- one clear error instead of every panel failing alike (a single insight may run without one)
  -- (a SQLite file that is not an ipe workspace too: the schema check, as sql and audit do)
  require("ipe.workspace").open_reader(base.db_path):close()
  local panels, actions, hunts = page.collect(index, page.cores() * 2)
  panels = page.select(panels, opts.only)
  if #panels == 0 then errors.not_found("page: no insight to show (see 'ipe-run list insights')") end
  local shared = { limit = opts.limit, panel_params = page.panel_params(opts.param, panels) }
  local givens, reqs = {}, {}
  for i, p in ipairs(panels) do
    givens[i] = page.given(p, ip, shared)
    local req = {}
    for k, v in pairs(base) do req[k] = v end
    req.entry, req.given = p.entry, givens[i]
    reqs[i] = req
  end
  if opts.limit then
    local used = false
    for _, g in ipairs(givens) do used = used or g.limit ~= nil end
    if not used then errors.usage("--limit applies to the observed in organization section, which is not on this page") end
  end
  page.check_params(panels, givens)
  local parallel = page.parallelism(panels, opts.offline)
  local hints = page.load_timing()
  local records = page.run(panels, reqs, parallel, opts.offline, hints)
  page.save_timing(records, hints)
  local rec = page.assemble{
    ip = ip, window = base.window, now_text = base.now_text, offline = opts.offline, panels = panels,
    records = records, actions = actions, hunts = hunts, window_args = page.window_args(base.window), parallel = parallel,
    ms = 0,
  }
  page.filter(rec, filters)
  rec.timing.ms = (proc.monotonic() - started) * 1000
  return rec, fmt
end

function M.run(opts, pos)
  local rec, fmt = M.record(opts, pos)
  for _, p in ipairs(rec.panels) do
    if p.record.status == "error" then
      io.stderr:write("ipe-run: page: panel '", p.id, "' failed: ", textutil.visible(p.record.message or "failed"), "\n")
    end
  end
  common.emit(render(rec, fmt, opts), opts)
  return page.exit_code(rec)
end

return M
