-- ipe.verbs.check: ipe-run check [PATH...] — validate scripts.
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local fs = require "ipe.fs"
local textutil = require "ipe.textutil"
local lint = require "ipe.lint"
local workspace = require "ipe.workspace"

local M = {}

M.summary = "validate scripts (all found, or the given files and folders)"
M.usage = [[
usage: ipe-run check [PATH...]

Loads every script in the sandbox and checks its contract: required fields, name
equal to the file stem, known categories (exactly one of offline/external),
known source tables, typed parameters with help and valid defaults, an ip first
parameter for insights, declared side effects for actions, unique names.
Without running a script, it also compiles (prepares, never runs) the SQL the
script issues whose text is known from the file — literals, their concatenations,
table.concat, :format, ctx.db's helpers with literal arguments, locals assigned
once and one-return local functions — against the workspace's schema (--db, IPE_DB
or the default workspace; a fresh in-memory schema when there is none), and
checks the column types it names. An error names the script's file:line.
Without PATH it checks every script found in the script roots. A PATH may be a
script file or a folder holding insights/, hunts/ or actions/.
Exit code 0 when all pass, 1 when any has a problem, 3 when a PATH does not exist.
]]

local function entries_for(paths)
  if #paths == 0 then return discover.scan().list end
  local roots, files = {}, {}
  for _, p in ipairs(paths) do
    local st = fs.stat(p)
    if not st then errors.not_found("check: %s does not exist", p) end
    if st.type == "dir" then roots[#roots + 1] = { dir = p, origin = "check" }
    else files[#files + 1] = p end
  end
  local index = discover.scan(roots)
  local list = index.list
  for _, f in ipairs(files) do
    local kind = discover.kind_of_path(f)
    local stem = f:match("([^/]+)%.lua$")
    local e = { kind = kind or "insight", name = stem or f, path = f }
    if not stem then e.broken = "not a .lua file"
    elseif not kind then e.broken = "cannot tell the kind: put the script under insights/, hunts/ or actions/"
    elseif not stem:match(discover.NAME) then e.broken = "file name '" .. stem .. ".lua' is not kebab-case (a-z, 0-9, -)" end
    list[#list + 1] = e
  end
  return list
end

-- The schema to compile against: the workspace named by --db or IPE_DB (an error when it
-- cannot be read), else the default workspace when it is usable, else a fresh one in memory.
local function schema_conn(opts)
  local env = require("ipe.proc").getenv("IPE_DB")
  local path = workspace.path(opts.db)
  if opts.db or (env and env ~= "") then return workspace.open_reader(path) end
  local ok, conn = pcall(workspace.open_reader, path)
  if ok then return conn end
  conn = assert(require("ipe.sqlite").open(":memory:", "rwc"))
  require("ipe.schema").migrate(conn)
  conn:readonly_guard() -- scripts read only: a write is an error here as in a run
  return conn
end

function M.run(opts, pos)
  local list = entries_for(pos)
  local metas = runner.describe_many(list, 2)
  local conn
  local bad = 0
  for i, e in ipairs(list) do
    local problem = metas[i].broken
    if not problem then
      conn = conn or schema_conn(opts)
      local text = assert(require("ipe.fs").read(e.path))
      local problems = metas[i].language == "kql" and require("ipe.kql.script").lint(e.path, text, metas[i], conn)
        or lint.check(e.path, text, conn)
      if #problems > 0 then problem = table.concat(problems, "; ") end
    end
    if problem then
      bad = bad + 1
      io.stdout:write("FAIL ", e.kind, " ", e.name, ": ", textutil.visible(problem), "\n")
    else
      io.stdout:write("ok   ", e.kind, " ", e.name, "\n")
    end
  end
  if conn then conn:close() end
  io.stdout:write(string.format("%d script(s) checked, %d with problems\n", #list, bad))
  return bad > 0 and errors.NO_RESULT or errors.OK
end

return M
