-- ipe.verbs.audit: ipe-run audit — the executed response actions, newest first.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local render = require "ipe.render"
local response = require "ipe.migrations.response"

local M = {}

M.summary = "the executed response actions: when, who, what, parameters, result"
M.usage = [[
usage: ipe-run audit [--action NAME] [--since DURATION | --from TIME --to TIME]

Lists the audit trail of the workspace: one row per change an action made with
--execute — when, who (the OS user), the action and its operation, the target,
the parameters and the result — newest first. Without a window option it lists
everything.

options:
  --since DURATION     only entries in the window ending now (e.g. 7d, 12h)
  --from TIME --to TIME  an explicit window (ISO 8601)
  --action NAME        only this action's entries
  --limit N            at most N entries (default 1000, at most 1000000)
  -f, --format FMT     table (default; also text), box, json, csv, md or html
  -o, --output FILE    write to FILE (atomically) instead of stdout
  --width N            fit tables and charts to N columns (default: $COLUMNS,
                       else the terminal's width, else 80)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 entries listed, 1 none (in the window), 2 bad arguments, 3 no workspace
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, { { "action", arg = true }, { "limit", arg = true } } }

M.MAX_LIMIT = 1000000

local COLUMNS = {
  { name = "Time", type = "time" }, { name = "User", type = "text" }, { name = "Action", type = "text" },
  { name = "Operation", type = "text" }, { name = "Target", type = "text" }, { name = "Result", type = "text" },
  { name = "Parameters", type = "json" },
}

function M.run(opts, pos)
  if #pos > 0 then errors.usage("audit: unexpected argument '%s'", pos[1]) end
  local fmt = common.format(opts)
  local limit = 1000
  if opts.limit then
    limit = tonumber(opts.limit)
    if not limit or limit < 1 or limit > M.MAX_LIMIT or not tostring(opts.limit):match("^%d+$") then
      errors.usage("audit: --limit must be a whole number from 1 to %d, got '%s'", M.MAX_LIMIT, opts.limit)
    end
  end
  local now = common.now(opts)
  local windowed = opts.since or opts.from or opts.to
  local w = windowed and common.window(opts, now)
  local path = workspace.check(workspace.path(opts.db))
  local conn = workspace.open_reader(path)
  -- (a ClickHouse workspace always has it: migrate makes it)
  local exists = conn.dialect == "clickhouse" and { { 1 } }
    or conn:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", { response.AUDIT })
  local rows = {}
  local where, binds = {}, { limit = limit }
  if w then
    where[#where + 1] = "TimeGenerated >= :from AND TimeGenerated <= :to"
    binds.from, binds.to = w.from_text, w.to_text
  end
  if opts.action then where[#where + 1] = "Action = :action"; binds.action = opts.action end
  local sql = "SELECT TimeGenerated, User, Action, Operation, Target, Result, Parameters FROM " .. response.AUDIT
    .. (#where > 0 and " WHERE " .. table.concat(where, " AND ") or "") .. " ORDER BY TimeGenerated DESC, Id DESC LIMIT :limit"
  if exists[1][1] > 0 then rows = conn:query(sql, binds) end
  conn:close()
  local rec = { script = "audit", kind = "audit", title = "executed response actions", params = {},
    window = w and { from = w.from_text, to = w.to_text } or nil,
    status = #rows > 0 and "ok" or "empty",
    message = #rows == 0 and "no executed actions recorded" .. (w and " in the window" or "") or nil,
    sections = { { kind = "table", columns = COLUMNS, rows = rows } },
    queries = { { sql = sql, params = {} } } }
  common.emit(render.run(rec, fmt, common.render_options(opts)), opts)
  return #rows > 0 and errors.OK or errors.NO_RESULT
end

return M
