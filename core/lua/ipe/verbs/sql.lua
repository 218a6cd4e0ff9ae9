-- ipe.verbs.sql: ipe-run sql "SELECT ..." — an ad-hoc read-only query.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local render = require "ipe.render"
local dbmod = require "ipe.db"

local M = {}

M.summary = "run a read-only SQL query on the workspace"
M.usage = [[
usage: ipe-run sql "SELECT ..." [-p name=value ...] [-f FORMAT]

Runs one read-only statement on the workspace (SQLite dialect) and prints the
rows. Writes are refused. Bind values with :name placeholders and -p name=value;
:from, :to and :now are bound from the window (--since, default 7d) and the
current time. Times are text like 2026-11-27T03:52:29.000Z.

options:
  -p, --param NAME=VALUE  bind a value (repeatable)
  --since, --from, --to   the window bound to :from and :to
  -f, --format FMT        table (default), box, json, csv or md
  -o, --output FILE       write to FILE (atomically)
  --width N               fit tables and charts to N columns (default: $COLUMNS,
                          else the terminal's width, else 80)
  --timeout SECONDS       interrupt the query after this long (default 60)
]]

M.options = { common.WINDOW, common.OUTPUT, common.WIDTH, { { "param", "p", arg = true, multi = true }, { "timeout", arg = true } } }

local function column_types(rows, cols)
  local types = {}
  for j, c in ipairs(cols) do
    local t = "number"
    for _, r in ipairs(rows) do
      local v = r[j]
      if type(v) == "string" then t = v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$") and (t == "number" or t == "time") and "time" or "text" end
      if type(v) == "boolean" then t = "bool" end
      if t == "text" then break end
    end
    types[j] = { name = c, type = #rows > 0 and t or "text" }
  end
  return types
end

function M.run(opts, pos)
  local sql = pos[1]
  if not sql or not sql:find("%S") then errors.usage('sql: no statement given; usage: ipe-run sql "SELECT ..."') end
  if #pos > 1 then errors.usage("sql: give the statement as one argument (quote it)") end
  local fmt = common.format(opts)
  local timeout = common.seconds(opts, "timeout", 60, 3600)
  local ropts = common.render_options(opts)
  local now = common.now(opts)
  local w = common.window(opts, now)
  local path = workspace.check(workspace.path(opts.db))
  local conn = workspace.open_reader(path)
  local ok, st = pcall(conn.prepare, conn, sql)
  if not ok then
    local msg = tostring(st):gsub("^sqlite: ", "")
    if msg:find("not authorized", 1, true) then
      errors.usage("sql: refused: the workspace is read-only here and only reads are allowed")
    end
    errors.usage("sql: %s", msg)
  end
  if not st:readonly() then errors.usage("sql: refused: the workspace is read-only here and only reads are allowed") end
  st:finalize()
  local given = common.given(opts.param, "sql")
  local binds = { from = w.from_text, to = w.to_text, now = require("ipe.timeutil").format_time(now) }
  for k, v in pairs(given) do binds[k] = v end
  for _, name in ipairs(dbmod.param_names(sql)) do
    if binds[name] == nil then errors.usage("sql: no value for :%s (use -p %s=VALUE)", name, name) end
  end
  conn:set_deadline(timeout)
  local qok, rows, cols = pcall(conn.query, conn, sql, binds)
  if not qok then errors.failed("sql: %s", tostring(rows):gsub("^sqlite: ", "")) end
  local rec = { script = "sql", kind = "sql", title = "query", params = {}, status = #rows > 0 and "ok" or "empty",
    message = #rows == 0 and "the query returned no rows" or nil,
    sections = { { kind = "table", columns = column_types(rows, cols), rows = rows } },
    queries = { { sql = sql, params = {} } } }
  common.emit(render.run(rec, fmt, ropts), opts)
  return #rows > 0 and 0 or errors.NO_RESULT
end

return M
