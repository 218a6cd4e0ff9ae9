-- ipe.verbs.insight: ipe-run insight <name> <ip> — run one entity insight.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local workspace = require "ipe.workspace"
local render = require "ipe.render"
local timeutil = require "ipe.timeutil"

local M = {}

M.summary = "run one entity insight for an IP"
M.usage = [[
usage: ipe-run insight <name> <ip> [options]

Runs the insight <name> for <ip> over the time window and prints its tables
and charts. The IP may be defanged (1[.]2[.]3[.]4) and in any IPv6 spelling.

options:
  --since DURATION     window ending now: 7d (default), 12h, 30m, 2w
  --from TIME --to TIME  an explicit window (ISO 8601)
  -p, --param KEY=VALUE  set a script parameter (repeatable)
  -f, --format FMT     table (default; also text), box, json, csv, md or html
  -o, --output FILE    write to FILE (atomically) instead of stdout
  --show-query         also print the queries the insight ran, with their bound values
  --as-hunt            copy the insight as a hunt with these parameters as its defaults
                       into your hunt folder (see 'ipe-run hunt --help', --edit), open
                       $EDITOR on the copy, then run it as a hunt
  --timeout SECONDS    the run's time budget (default 10)
  --offline            never contact external services: answer from the cache and local data
  --refresh            ask threat-intel services again instead of using cached answers
  --width N            fit tables and charts to N columns (default: $COLUMNS,
                       else the terminal's width, else 80)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 results, 1 no results or the insight failed, 2 bad arguments,
3 unknown insight or no workspace
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, {
  { "param", "p", arg = true, multi = true }, { "show-query" }, { "timeout", arg = true }, { "offline" },
  { "refresh" }, { "as-hunt" },
} }

-- Find a script or fail with suggestions.
function M.lookup(index, kind, name)
  local entry = discover.find(index, kind, name)
  if entry then return entry end
  local near = discover.suggest(index, kind, name)
  errors.not_found("no %s named '%s'%s", kind, name,
    #near > 0 and " (did you mean: " .. table.concat(near, ", ") .. "?)" or " (see 'ipe-run list " .. kind .. "s')")
end

function M.timeout(opts)
  return common.seconds(opts, "timeout", runner.DEFAULT_TIMEOUT, 3600)
end

-- Build the request shared by insight, hunt and page.
function M.request(opts, index, entry, given)
  local now = common.now(opts)
  -- checked by the worker on first use of ctx.db: a script that reads no table
  -- (ip-details) runs without a workspace
  local db_path = workspace.path(opts.db)
  return {
    entry = entry, given = given, index = index, window = common.window(opts, now), now = now,
    now_text = timeutil.format_time(now), db_path = db_path, verbose = opts.verbose,
    timeout = M.timeout(opts), offline = opts.offline, refresh = opts.refresh,
  }
end

-- Print a failed run's diagnostic line on stderr (the data still goes to stdout).
function M.diagnose(rec)
  if rec.status == "error" then
    io.stderr:write("ipe-run: ", rec.kind, " '", rec.script, "': ",
      require("ipe.textutil").visible(rec.message or "failed"), "\n")
  end
end

function M.run(opts, pos)
  local name, ip = pos[1], pos[2]
  if not name then errors.usage("insight: which insight? usage: ipe-run insight <name> <ip> (see 'ipe-run list insights')") end
  if not ip then errors.usage("insight: no IP given; usage: ipe-run insight %s <ip>", name) end
  if #pos > 2 then errors.usage("insight: unexpected argument '%s' (set parameters with -p key=value)", pos[3]) end
  local fmt = common.format(opts)
  local index = discover.scan()
  local entry = M.lookup(index, "insight", name)
  local given = common.given(opts.param, "insight")
  if given.ip then errors.usage("insight: give the IP as an argument, not as -p ip=") end
  given.ip = ip
  if opts.as_hunt then return (require("ipe.hunting").as_hunt(opts, index, entry, given)) end
  local rec = runner.run(M.request(opts, index, entry, given))
  if rec.outcome == "param" or rec.outcome == "broken" or rec.outcome == "workspace" then
    errors.raise(errors.run_code(rec), "%s", rec.message)
  end
  M.diagnose(rec)
  common.emit(render.run(rec, fmt, common.render_options(opts)), opts)
  return errors.run_code(rec)
end

return M
