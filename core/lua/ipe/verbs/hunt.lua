-- ipe.verbs.hunt: ipe-run hunt <name> [--ip IP] — run a hunting query and show it.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local insight = require "ipe.verbs.insight"
local hunting = require "ipe.hunting"

local M = {}

M.summary = "run a hunting query (its SQL and bound values, then the raw results)"
M.usage = [[
usage: ipe-run hunt <name> [--ip IP] [-p key=value ...] [options]

Runs the hunt <name> and prints each query it ran, with its bound values, as a
header, then the raw results. A hunt in an IPE_PATH folder works exactly like a
built-in one (see 'ipe-run list hunts').

options:
  --ip IP              the IP to hunt for (same as -p ip=IP)
  -p, --param KEY=VALUE  set a hunt parameter (repeatable)
  --since DURATION     window ending now: 7d (default), 12h, 30m, 2w
  --from TIME --to TIME  an explicit window (ISO 8601)
  -f, --format FMT     table (default; also text), box, json, csv, md or html;
                       csv is the data only, json holds the queries in "queries"
  -o, --output FILE    write to FILE (atomically) instead of stdout
  --show-query         print only the queries (with their bound values), not the rows
  --edit               copy the hunt with these parameters as its new defaults into
                       your hunt folder (the first IPE_PATH entry's hunts/, else
                       $XDG_DATA_HOME/ipe/hunts) as <name>-<ip> (or <name>-custom),
                       open $EDITOR (else vi) on the copy, then run it; a hunt already
                       in that folder is edited in place
  --timeout SECONDS    the run's time budget (default 10)
  --width N            fit tables and charts to N columns (default: $COLUMNS,
                       else the terminal's width, else 80)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 results, 1 no results, the hunt failed, or $EDITOR exited non-zero
(the copy is kept and not run), 2 bad arguments, 3 unknown hunt or no workspace
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, {
  { "param", "p", arg = true, multi = true }, { "ip", arg = true }, { "show-query" }, { "edit" },
  { "timeout", arg = true },
} }

function M.run(opts, pos)
  local name = pos[1]
  if not name then errors.usage("hunt: which hunt? usage: ipe-run hunt <name> [--ip IP] (see 'ipe-run list hunts')") end
  if #pos > 1 then
    errors.usage("hunt: unexpected argument '%s' (give the IP with --ip, parameters with -p key=value)", pos[2])
  end
  local given = common.given(opts.param, "hunt")
  if opts.ip then
    if given.ip then errors.usage("hunt: the IP is given twice (--ip and -p ip=)") end
    given.ip = opts.ip
  end
  if opts.edit and opts.show_query then errors.usage("hunt: --edit and --show-query exclude each other") end
  common.format(opts)
  local index = discover.scan()
  local entry = insight.lookup(index, "hunt", name)
  if opts.edit then return (hunting.edit(opts, index, entry, given, "hunt")) end
  return hunting.run_entry(opts, insight.request(opts, index, entry, given))
end

return M
