-- ipe.verbs.action: ipe-run action <name> [<target>] [--execute] — a response action.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local render = require "ipe.render"
local insight = require "ipe.verbs.insight"
local hunting = require "ipe.hunting"
local textutil = require "ipe.textutil"

local M = {}

M.summary = "plan or execute a response action (add indicator, IP ranges, activity log, go hunt)"
M.usage = [[
usage: ipe-run action <name> [<target>] [-p key=value ...] [--execute] [options]

Runs the response action <name>. The target (an IP, or for ip-ranges a network)
fills the action's first parameter. Every action declares its side effects
('ipe-run help action <name>'); by default it only prints its plan and changes
nothing. With --execute it acts, through the action service only, and every
change is recorded in the workspace's audit trail ('ipe-run audit').

actions:
  add-indicator <ip>   add the IP to ThreatIntelligenceIndicator (re-adding updates
                       it)
  ip-ranges [<cidr>]   named IP ranges: -p op=list|add|remove -p name=...
                       -p category=...
  activity-log <ip>    every row of every table that mentions the IP, in time order
  go-hunt <ip>         open ip-everywhere (or --hunt NAME) for the IP in $EDITOR,
                       then run it

options:
  -p, --param KEY=VALUE  set an action parameter (repeatable)
  --execute            act (without it: print the plan, change nothing)
  --export FMT         same as -p export=FMT (add-indicator: stix)
  --hunt NAME          same as -p hunt=NAME (go-hunt)
  --run                same as -p run=true (go-hunt: run the hunt at once)
  --since, --from, --to  the window of read-only actions (activity-log; default 7d)
  -f, --format FMT     table (default; also text), box, json, csv, md or html
  -o, --output FILE    write to FILE (atomically): an exported bundle if there is one,
                       else the report
  --timeout SECONDS    the run's time budget (default 10)
  --width N            fit tables and charts to N columns (default: $COLUMNS,
                       else the terminal's width, else 80)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 done (or planned), 1 the action failed (e.g. a read-only workspace:
nothing was changed; $EDITOR exited non-zero) or found nothing, 2 bad arguments or
parameter, 3 unknown action or hunt, or no workspace
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, {
  { "param", "p", arg = true, multi = true }, { "execute" }, { "export", arg = true }, { "hunt", arg = true },
  { "run" }, { "timeout", arg = true },
} }

local SHORTHANDS = { { "export", "export" }, { "hunt", "hunt" }, { "run", "run" } }

-- The action's given parameters: -p, the shorthand options and the positional target.
local function given_params(opts, entry, target)
  local given = common.given(opts.param, "action")
  for _, s in ipairs(SHORTHANDS) do
    local v = opts[s[1]]
    if v ~= nil then
      if given[s[2]] ~= nil then errors.usage("action: '%s' is given twice (--%s and -p %s=)", s[2], s[1], s[2]) end
      given[s[2]] = v == true and "true" or v
    end
  end
  if target ~= nil then
    local meta = runner.describe_many({ entry }, 1)[1]
    if meta.broken then errors.not_found("action '%s' is broken: %s", entry.name, meta.broken) end
    local first = meta.params[1]
    if not first then errors.usage("action: '%s' takes no target (unexpected argument '%s')", entry.name, target) end
    if given[first.name] ~= nil then
      errors.usage("action: the %s is given twice (as an argument and as -p %s=)", first.name, first.name)
    end
    given[first.name] = target
  end
  return given
end

local function hunt_entry(index, name)
  return insight.lookup(index, "hunt", name)
end

-- go-hunt: open the hunt in the editor (then audit) or run it at once.
local function followup(opts, req, rec)
  local f = rec.followup
  local index = req.index
  local entry = hunt_entry(index, f.hunt)
  if f.mode == "run" then
    return hunting.run_entry(opts, insight.request(opts, index, entry, f.given))
  end
  opts.made_by = "ipe-run action go-hunt " .. f.given.ip .. " --hunt " .. f.hunt .. " --execute"
  local ok, code, hrec, path = pcall(hunting.edit, opts, index, entry, f.given, "hunt")
  local row = f.audit
  if ok then
    row.result = string.format("copied to %s; edited; ran: %s", path, hrec.status)
  else
    row.result = errors.is(code) and code.msg or tostring(code)
  end
  require("ipe.actions").record(req.db_path, row)
  if not ok then error(code, 0) end
  return code
end

local function emit_artifact(opts, fmt, rec)
  local a = rec.artifact
  common.emit(a.text, opts)
  local to = opts.output and opts.output ~= "-" and opts.output
  if to then common.emit(render.run(rec, fmt, common.render_options(opts)), {}) end
  io.stderr:write(string.format("ipe-run: action '%s': exported %d indicator(s) as %s%s\n", rec.script, a.count,
    a.format == "stix" and "a STIX 2.1 bundle" or a.format, to and " to " .. textutil.visible(to) or ""))
end

function M.run(opts, pos)
  local name, target = pos[1], pos[2]
  if not name then errors.usage("action: which action? usage: ipe-run action <name> [<target>] (see 'ipe-run list actions')") end
  if #pos > 2 then errors.usage("action: unexpected argument '%s' (set parameters with -p key=value)", pos[3]) end
  local fmt = common.format(opts)
  local index = discover.scan()
  local entry = insight.lookup(index, "action", name)
  local given = given_params(opts, entry, target)
  local req = insight.request(opts, index, entry, given)
  req.execute = opts.execute == true
  local rec = runner.run(req)
  local code = errors.run_code(rec)
  if code == errors.USAGE or code == errors.NOT_FOUND then errors.raise(code, "%s", rec.message) end
  if rec.status == "error" then
    errors.failed("action '%s': %s", rec.script, textutil.visible(rec.message or "failed"))
  end
  if rec.followup then return followup(opts, req, rec) end
  if rec.artifact then emit_artifact(opts, fmt, rec) return code end
  common.emit(render.run(rec, fmt, common.render_options(opts)), opts)
  return code
end

return M
