-- ipe.verbs.kql: ipe-run kql 'SigninLogs | where ...' — a KQL query compiled to the
-- workspace's SQL (ipe.kql) and run read-only, or shown with --explain.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local render = require "ipe.render"
local runner = require "ipe.runner"
local serial = require "ipe.serial"
local sqlite = require "ipe.sqlite"
local kql = require "ipe.kql"
local cjson = require "cjson"
local textutil = require "ipe.textutil"

local M = {}

M.summary = "run a KQL (Kusto) query on the workspace"
M.usage = [[
usage: ipe-run kql 'QUERY' [options]
       ipe-run kql -f FILE [options]   (FILE or QUERY - reads standard input)

Compiles a query in the Kusto Query Language subset (see the README's KQL section)
to the workspace's SQL and runs it read-only. Several statements separated by ';'
(a batch) print one table each, titled by '| as Name' (else Table_0, Table_1 ...). Every literal of the query is a bound
parameter. A query without a TimeGenerated filter of its own reads each table
within the window (--since, default 7d; --from/--to). Kusto's semantics hold:
has is a whole-term, case-insensitive match, == on strings is case-sensitive,
between is inclusive, summarize names columns count_, dcount_X, max_X ...

options:
  -f, --file FILE         read the query from FILE (- for standard input)
  -p, --param NAME=VALUE  give a let binding of the query this value (repeatable)
  --explain               print the compiled SQL and its bound values; run nothing
  --since, --from, --to   the window of tables the query does not filter on time
  --format FMT            table (default; also text), box, json, csv, md or html
  -o, --output FILE       write to FILE (atomically)
  --width N               fit tables to N columns (default: $COLUMNS, else the
                          terminal's width, else 80)
  --timeout SECONDS       the query's time budget (default 10; IPE_TIMEOUT)
  --memory MB             the query's memory budget (default 256)

An error in the query is one line naming its line and column, then the query's
line with a caret under the token; an operator or function outside the subset
names itself ("'make-series' is not supported").

exit codes: 0 rows, 1 no rows or the query failed or ran out of its budget,
2 usage or an error in the query, 3 no workspace.
]]

M.options = { common.WINDOW, common.WIDTH, { { "file", "f", arg = true }, { "format", arg = true },
  { "output", "o", arg = true }, { "param", "p", arg = true, multi = true }, { "explain" },
  { "timeout", arg = true }, { "memory", arg = true } } }

local RENDER_TYPE = { string = "text", long = "number", int = "number", real = "number", datetime = "time",
  bool = "bool", dynamic = "json", timespan = "text" }

-- the query text: the argument, -f FILE, or standard input for '-'
local function query_text(opts, pos)
  if opts.file and pos[1] then errors.usage("kql: give the query as an argument or with -f FILE, not both") end
  if #pos > 1 then errors.usage("kql: give the query as one argument (quote it)") end
  local src = opts.file or (pos[1] == "-" and "-")
  local text, name = pos[1], "kql"
  if src == "-" then
    text, name = io.stdin:read("*a") or "", "<stdin>"
  elseif src then
    local f, e = io.open(src, "rb")
    if not f then errors.not_found("kql: cannot read %s", (tostring(e):gsub("^" .. src:gsub("%p", "%%%0") .. ": ", src .. ": "))) end
    text = f:read("*a") or ""
    f:close()
    name = src
  end
  if not text or not text:find("%S") then errors.usage("kql: no query given; usage: ipe-run kql 'QUERY'") end
  return text, name
end

-- SQL literal text of a bound value, for --explain (on ClickHouse, as its dialect binds it)
local function shown(v, engine)
  if engine == "clickhouse" then return require("ipe.dialect.clickhouse").literal(v) end
  if v == nil or v == cjson.null then return "NULL" end
  if type(v) == "number" then return v % 1 == 0 and string.format("%d", v) or string.format("%.17g", v) end
  return "'" .. tostring(v):gsub("'", "''") .. "'"
end

-- the SQL of each statement of a batch, a blank line between them
function M.explain(plan, engine)
  local lines = {}
  for i, one in ipairs(plan.batch or { plan }) do
    if i > 1 then lines[#lines + 1] = "" end
    lines[#lines + 1] = one.sql .. ";"
    for _, p in ipairs(one.params) do lines[#lines + 1] = "-- :" .. p.name .. " = " .. shown(p.value, engine) end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- compile(text, name, opts) -> plan, or nil and the error's text: "name:LINE:COL: message",
-- the query's line, a caret under the token
function M.compile(text, name, copts)
  local ok, plan = pcall(kql.compile, text, copts)
  if ok then return plan end
  if kql.is_error(plan) then return nil, kql.format_error(plan, text, name) end
  error(plan, 0)
end

local function report(msg)
  local first = true
  for line in (msg .. "\n"):gmatch("([^\n]*)\n") do
    io.stderr:write(first and "ipe-run: " or "", textutil.visible(line), "\n")
    first = false
  end
  return errors.USAGE
end

M.shape = kql.shape
M.timespan = kql.timespan

-- job(plan, path, engine, timeout, memory, render) -> the worker's function (for
-- common.run_query_job / query_job): runs the compiled plan read-only on the workspace at path
-- within the budgets and returns serial.dump{text = render(record), rows = n} (record: the run
-- record: a table per statement of a batch), or {err = message}. ipe-run kql and ipe-run serve's KQL page share it.
function M.job(plan, path, engine, timeout, memory, render_record)
  return function()
    sqlite.hard_heap_limit(memory)
    local c = workspace.open_reader(path)
    c:set_deadline(timeout)
    if engine == "clickhouse" then c:set_memory(memory) end
    -- a batch: one table per statement, in order
    local sections, queries, n, batch = {}, {}, 0, plan.batch or { plan }
    for i, one in ipairs(batch) do
      local qok, rows = pcall(c.query, c, one.sql, one.binds)
      if not qok then return serial.dump({ err = tostring(rows) }) end
      M.shape(rows, one.columns)
      local cols = {}
      for j, col in ipairs(one.columns) do cols[j] = { name = col.name, type = RENDER_TYPE[col.type] or "text" } end
      sections[i] = { kind = "table", columns = cols, rows = rows, title = one.name or (#batch > 1 and "Table_" .. (i - 1) or nil) }
      queries[i] = { sql = one.sql, params = one.params }
      n = n + #rows
    end
    c:close()
    local rec = { script = "kql", kind = "kql", title = "query", params = {}, status = n > 0 and "ok" or "empty",
      message = n == 0 and "the query returned no rows" or nil, sections = sections, queries = queries }
    return serial.dump({ text = render_record(rec), rows = n })
  end
end

function M.run(opts, pos)
  local text, name = query_text(opts, pos)
  local fmt = common.format(opts)
  local now = common.now(opts)
  local w = common.window(opts, now)
  local dbpath = workspace.path(opts.db)
  local engine = require("ipe.clickhouse").is_url(dbpath) and "clickhouse" or "sqlite"
  local plan, problem = M.compile(text, name, { now = now, window = { from = w.from_text, to = w.to_text },
    lets = common.given(opts.param, "kql"), engine = engine })
  if not plan then return report(problem) end
  if opts.explain then
    common.emit(M.explain(plan, engine), opts)
    return 0
  end
  local timeout = common.seconds(opts, "timeout", runner.DEFAULT_TIMEOUT, 3600)
  local memory = (common.whole(opts, "memory", 16, 65536, "megabytes") or runner.DEFAULT_MEMORY / 1048576) * 1048576
  local ropts = common.render_options(opts)
  local path = workspace.check(dbpath)
  -- the workspace and its schema version checked here, so that an old or foreign one is its one
  -- line and exit code (raised in the worker it would only be the worker's failure)
  workspace.open_reader(path):close()
  local job = M.job(plan, path, engine, timeout, memory, function(rec) return render.run(rec, fmt, ropts) end)
  return common.run_query_job("kql", job, timeout, memory, opts)
end

return M
