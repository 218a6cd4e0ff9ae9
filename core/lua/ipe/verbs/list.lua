-- ipe.verbs.list: ipe-run list [insights|hunts|actions] [--category C]
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local contract = require "ipe.contract"
local render = require "ipe.render"

local M = {}

M.summary = "list the insights, hunts and actions (broken ones too)"
M.usage = [[
usage: ipe-run list [insights|hunts|actions] [--category C] [-f FORMAT]

Lists every script found in the script roots (beside the binary, then each
folder of IPE_PATH). A script that fails to load or to pass its checks is
listed as BROKEN with the reason.

options:
  -c, --category C  only scripts in category C (e.g. offline, external, network)
  -f, --format FMT  table (default; also text), box, json, csv, md or html
  --width N         fit the table to N columns (default: $COLUMNS, else the
                    terminal's width, else 80)
]]

M.options = { { { "category", "c", arg = true }, { "format", "f", arg = true }, { "width", arg = true } } }

local PLURAL = { insights = "insight", hunts = "hunt", actions = "action",
                 insight = "insight", hunt = "hunt", action = "action" }

function M.run(opts, pos)
  local kind = pos[1] and PLURAL[pos[1]]
  if pos[1] and not kind then errors.usage("list: '%s' is not insights, hunts or actions", pos[1]) end
  if opts.category and not contract.CATEGORIES[opts.category] then
    local names = {}
    for c in pairs(contract.CATEGORIES) do names[#names + 1] = c end
    table.sort(names)
    errors.usage("list: unknown category '%s' (categories: %s)", opts.category, table.concat(names, ", "))
  end
  local fmt = common.format(opts)
  local index = discover.scan()
  local entries = {}
  for _, e in ipairs(index.list) do
    if not kind or e.kind == kind then entries[#entries + 1] = e end
  end
  local metas = runner.describe_many(entries, 2)
  local rows, broken = {}, 0
  for i, e in ipairs(entries) do
    local m = metas[i]
    if m.broken then
      broken = broken + 1
      if not opts.category then rows[#rows + 1] = { e.kind, e.name, "BROKEN", m.broken, e.path } end
    elseif not opts.category or contract.has_category(m, opts.category) then
      rows[#rows + 1] = { e.kind, e.name, table.concat(m.categories, ","), m.summary, e.path }
    end
  end
  local rec = { script = "list", kind = "list", title = "scripts", status = #rows > 0 and "ok" or "empty",
    message = #rows == 0 and "no scripts match" or nil, params = {},
    sections = { { kind = "table", columns = {
      { name = "kind", type = "text" }, { name = "name", type = "text" }, { name = "categories", type = "text" },
      { name = "summary", type = "text" }, { name = "file", type = "text" } }, rows = rows } } }
  common.emit(render.run(rec, fmt, common.render_options(opts)), opts)
  if broken > 0 then io.stderr:write(string.format("ipe-run: %d broken script(s); see 'ipe-run check'\n", broken)) end
  return broken > 0 and errors.NO_RESULT or errors.OK
end

return M
