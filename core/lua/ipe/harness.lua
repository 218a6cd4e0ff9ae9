-- ipe.harness: what a Lua test file uses to exercise scripts end to end —
-- throwaway workspaces built from a fixture or the demo generator, and runs
-- through the real runner (sandbox, worker process, parameter checks).
--
--   local H = require "ipe.harness"
--   local db = H.workspace{ demo = { events = 20000, seed = 1, now = H.time("2026-11-27T00:00:00Z") } }
--   local db2 = H.workspace{ rows = { CommonSecurityLog = { {TimeGenerated = "...", SourceIP = "..."} } } }
--   local rec = H.run("insight", "remote-connections", { ip = "89.160.20.128" }, { db = db, since = "7d", now = ... })
--   local rec = H.run_file("my/insights/foo.lua", { ip = "1.2.3.4" }, { db = db })
--   local page = H.page("89.160.20.128", { db = db, now = ..., offline = true })  -- as `ipe-run page` builds it
--   local path = H.tmpfile(".jsonl", text)   -- a temporary file; H.cleanup() removes them all
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local timeutil = require "ipe.timeutil"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local fs = require "ipe.fs"

local M = {}

local created = {}

function M.time(text)
  local t, err = timeutil.parse_time(text)
  if not t then error(err, 2) end
  return t
end

local function fill(db, tables)
  for tname, rows in pairs(tables) do
    local desc = schema.table(tname)
    if not desc then error("harness: unknown table '" .. tostring(tname) .. "'", 3) end
    for _, row in ipairs(rows) do
      local cols, vals = {}, {}
      for k, v in pairs(row) do cols[#cols + 1] = k; vals[#vals + 1] = v end
      db:prepare(schema.insert_sql(tname, cols)):run(unpack(vals, 1, #cols))
    end
  end
end

-- workspace{demo={events=,seed=,now=}} | workspace{rows={Table={...}}} -> path of a new workspace
function M.workspace(spec)
  spec = spec or {}
  local path = os.tmpname()
  os.remove(path)
  created[#created + 1] = path
  local db = assert(sqlite.open(path, "rwc"))
  schema.migrate(db)
  db:exec("BEGIN")
  if spec.demo then
    local d = spec.demo
    require("ipe.demo").build(db, { events = d.events or 20000, seed = d.seed or 1, now = d.now or M.time("2026-11-27T00:00:00Z") })
  end
  if spec.rows then fill(db, spec.rows) end
  db:exec("COMMIT")
  db:close()
  return path
end

-- tmpfile([suffix [, text]]) -> the path of a new temporary file (text written into it when
-- given; the name os.tmpname() reserved, plus suffix); cleanup() removes it
function M.tmpfile(suffix, text)
  local base = os.tmpname()
  local path = base .. (suffix or "")
  created[#created + 1] = base
  if path ~= base then created[#created + 1] = path end
  if text then
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
  end
  return path
end

function M.cleanup()
  for _, p in ipairs(created) do
    for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(p .. suffix) end
  end
  created = {}
end

local function request(entry, params, opts, index)
  opts = opts or {}
  local now = opts.now or M.time("2026-11-27T00:00:00Z")
  local w = assert(timeutil.window{ since = opts.since, from = opts.from, to = opts.to, now = now })
  return { entry = entry, given = params or {}, index = index, window = w, now = now,
           now_text = timeutil.format_time(now), db_path = opts.db, timeout = opts.timeout,
           offline = opts.offline, verbose = true }
end

-- run(kind, name, params, opts) -> run record (status, sections, queries, message)
function M.run(kind, name, params, opts)
  local index = discover.scan()
  local entry = discover.find(index, kind, name)
  if not entry then error("harness: no " .. kind .. " named '" .. name .. "'", 2) end
  return runner.run(request(entry, params, opts, index))
end

-- run_file(path, params, opts): a script that is not (yet) in a script root.
function M.run_file(path, params, opts)
  local kind = discover.kind_of_path(path)
  if not kind then error("harness: cannot tell the kind of " .. path .. " (put it under insights/, hunts/ or actions/)", 2) end
  if not fs.stat(path) then error("harness: no file " .. path, 2) end
  local entry = { kind = kind, name = path:match("([^/]+)%.lua$"), path = path }
  return runner.run(request(entry, params, opts, discover.scan()))
end

-- page(ip, opts) -> the page record `ipe-run page <ip>` renders, built by the page verb itself.
-- opts: db, now (epoch seconds), since / from / to, offline, only, limit, timeout.
function M.page(ip, opts)
  opts = opts or {}
  local o = { db = opts.db, since = opts.since, from = opts.from, to = opts.to, offline = opts.offline,
              only = opts.only, limit = opts.limit, timeout = opts.timeout,
              now = timeutil.format_time(opts.now or M.time("2026-11-27T00:00:00Z")) }
  return (require("ipe.verbs.page").record(o, { ip }))
end

-- The section of a record with this id (nil when there is none).
function M.section(rec, id)
  for _, s in ipairs(rec.sections or {}) do if s.id == id then return s end end
end

-- A table section's rows as {column = value} maps.
function M.rows_of(s)
  local out = {}
  for r, row in ipairs(s.rows) do
    local m = {}
    for j, c in ipairs(s.columns) do m[c.name] = row[j] end
    out[r] = m
  end
  return out
end

-- A kv section's items as {key = value}.
function M.items_of(s)
  local out = {}
  for _, it in ipairs(s.items) do out[it.key] = it.value end
  return out
end

-- The rows of a record's first table section (or section i) as {column = value} maps.
function M.records(rec, i)
  local n = 0
  for _, s in ipairs(rec.sections or {}) do
    if s.kind == "table" then
      n = n + 1
      if n == (i or 1) then return M.rows_of(s) end
    end
  end
  return {}
end

return M
