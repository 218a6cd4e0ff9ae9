-- ipe.runner: runs scripts — load, check, coerce parameters, run — inside
-- worker processes with time and memory budgets, and turns whatever happened
-- into a run record (the renderers' input).
--
-- A request is {entry=, given={name=raw}, window=, db_path=, now=, verbose=,
-- timeout=, memory=, offline=, together=, in_turn=}. Everything that touches the script happens in
-- the worker: a script's top level is code too. With offline set, the services
-- (ctx.http, ctx.intel) answer from the cache and local data only.
local proc = require "ipe.proc"
local serial = require "ipe.serial"
local sandbox = require "ipe.sandbox"
local contract = require "ipe.contract"
local params = require "ipe.params"
local result = require "ipe.result"
local dbmod = require "ipe.db"
local workspace = require "ipe.workspace"
local textutil = require "ipe.textutil"

local M = {}

M.DEFAULT_TIMEOUT = tonumber(proc.getenv("IPE_TIMEOUT") or "") or 10
M.DEFAULT_MEMORY = 256 * 1024 * 1024
local MAX_DEPTH = 4

local function label(entry) return entry.kind .. " '" .. entry.name .. "'" end

-- load_checked(entry) -> script | nil, problem
function M.load_checked(entry)
  if entry.broken then return nil, entry.broken end
  local script, err = sandbox.load(entry.path)
  if script == nil then return nil, err or "the script returned nothing" end
  local problems = contract.check(script, { kind = entry.kind, name = entry.name })
  if #problems > 0 then return nil, entry.path .. ": " .. table.concat(problems, "; ") end
  if script.language == "kql" then script.run = require("ipe.kql.script").run(script, entry.path) end
  return script
end

local function window_view(w)
  if not w then return nil end
  return { from = w.from_text, to = w.to_text, from_epoch = w.from, to_epoch = w.to, span = w.span,
           bucket = w.span <= 2 * 86400 and "hour" or "day" }
end

local function trace_handler(verbose)
  return function(e)
    local msg = type(e) == "string" and e or tostring(e)
    if msg:find("not enough memory", 1, true) then return { memory = true, msg = msg } end
    if verbose then msg = debug.traceback(msg, 2) end
    return { msg = msg }
  end
end

local make_ctx

-- A script's own `timeout` (seconds) lowers its budget, never raises it: the database
-- deadline and the services (ctx.http, ctx.intel) use it, and a script running alone in
-- its worker (`alone`) is stopped by the worker's alarm with a record saying so; scripts
-- sharing a worker (the external panels) keep the group's hard limit.
local function own_budget(req, script)
  local budget = req.timeout or M.DEFAULT_TIMEOUT
  if type(script.timeout) ~= "number" or script.timeout >= budget then return req, nil end
  return setmetatable({ timeout = script.timeout }, { __index = req }), script.timeout
end

local function arm_alarm(rec, seconds)
  local late = {}
  for k, v in pairs(rec) do late[k] = v end
  late.outcome, late.status = "timeout", "error"
  late.message = string.format("ran out of time (budget %gs, the script's timeout)", seconds)
  proc.alarm(seconds, serial.dump(late))
end

-- execute(request, depth, alone) -> record (never raises). Runs in the worker.
local function execute(req, depth, alone)
  local entry = req.entry
  local rec = { script = entry.name, kind = entry.kind, path = entry.path, params = {},
                window = req.window and { from = req.window.from_text, to = req.window.to_text },
                sections = {}, queries = {} }
  local script, err = M.load_checked(entry)
  if not script then rec.outcome, rec.status, rec.message = "broken", "error", err return rec end
  rec.title = script.title
  rec.categories = script.categories
  local values, ordered = params.coerce(script.params, req.given or {}, label(entry))
  if not values then rec.outcome, rec.status, rec.message = "param", "error", ordered return rec end
  rec.params = ordered
  local own
  req, own = own_budget(req, script)
  local started = proc.monotonic()
  if own and alone then arm_alarm(rec, own) end
  local ctx = make_ctx(req, rec, depth)
  local ok, applies = true, true
  if script.applies then ok, applies = xpcall(script.applies, trace_handler(req.verbose), values) end
  local ret
  if ok and not applies then
    rec.status, rec.message = "skipped", "does not apply to these parameters"
  elseif ok then
    ok, ret = xpcall(script.run, trace_handler(req.verbose), ctx, values)
  end
  if own and alone then proc.alarm(nil) end
  rec.timing = { ms = (proc.monotonic() - started) * 1000 }
  if not ok then
    -- A memory error skips the handler (its object is the bare message); free
    -- what the script left behind before building the record.
    ret = type(ret) == "table" and ret or { memory = tostring(ret):find("not enough memory", 1, true) ~= nil,
                                            msg = tostring(ret) }
    collectgarbage("collect")
  end
  rec.queries = ctx._queries()
  if not ok then
    rec.outcome, rec.status = rec.outcome or "failed", "error"
    rec.message = ret.memory and string.format("exceeded its memory budget (%d MB)", (req.memory or M.DEFAULT_MEMORY) / 1048576)
      or ret.msg
    return rec
  end
  if rec.status == "skipped" then return rec end
  local okn, norm, problem, where = pcall(result.normalize, ret)
  if not okn then norm, problem = nil, tostring(norm) end
  if not norm then
    rec.outcome, rec.status = "failed", "error"
    -- where the section was built; else (a tail call leaves no frame) where run() begins
    where = where or entry.path .. ":" .. debug.getinfo(script.run, "S").linedefined
    rec.message = where .. ": bad result: " .. problem
    return rec
  end
  rec.status, rec.message, rec.sections = norm.status, norm.message, norm.sections
  return rec
end

-- One read-only workspace connection per path and process: the scripts a worker runs
-- together share it (opening one parses the workspace schema, a few milliseconds each).
-- Keyed by pid too, so a connection never crosses a fork.
local readers = {}
local function reader(path)
  local key = proc.pid() .. "\0" .. path
  local conn = readers[key]
  if not conn then
    conn = workspace.open_reader(path)
    readers[key] = conn
  end
  return conn
end

make_ctx = function(req, rec, depth)
  local handle, conn
  local ctx = {
    window = window_view(req.window), now = req.now, offline = req.offline or false,
    kind = req.entry.kind, name = req.entry.name,
  }
  local function db()
    if not handle then
      if not req.db_path then error("this run has no workspace (ctx.db)", 0) end
      local ok, c = pcall(reader, req.db_path)
      if not ok then
        rec.outcome = "workspace"
        error(require("ipe.errors").is(c) and c.msg or c, 0)
      end
      conn = c
      -- a ClickHouse connection per script: its name in errors, its budgets as server settings
      if conn.for_script then conn = conn:for_script(ctx.kind .. " '" .. ctx.name .. "'", req.memory or M.DEFAULT_MEMORY) end
      conn:set_deadline(req.timeout or M.DEFAULT_TIMEOUT)
      handle = dbmod.wrap(conn, { from = req.window and req.window.from_text, to = req.window and req.window.to_text,
                                  now = req.now_text }, req.entry.path)
    end
    return handle
  end
  function ctx.log(fmt, ...)
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)
    io.stderr:write("ipe-run: ", req.entry.kind, " ", req.entry.name, ": ", textutil.visible(msg), "\n")
  end
  function ctx.run(kind, name, given)
    if depth >= MAX_DEPTH then error("ctx.run: scripts nest deeper than " .. MAX_DEPTH, 2) end
    local entry = req.index and req.index.by_key[tostring(kind) .. "/" .. tostring(name)]
    if not entry then error("ctx.run: no " .. tostring(kind) .. " named '" .. tostring(name) .. "'", 2) end
    local sub = setmetatable({ entry = entry, given = given or {} }, { __index = req })
    return execute(sub, depth + 1)
  end
  function ctx._queries() return handle and handle.queries or {} end
  local services = {}
  return setmetatable(ctx, {
    __index = function(_, k)
      if k == "db" then return db() end
      local module = M.SERVICES[k]
      if not module then return nil end
      if services[k] == nil then
        local ok, mod = pcall(require, module)
        if not ok then error("ctx." .. k .. " is not available in this build", 2) end
        services[k] = mod.service(req, ctx, rec)
      end
      return services[k]
    end,
    __metatable = false,
  })
end

-- Services beside ctx.db, created on first use: each module exports
-- service(request, ctx, record) -> the object scripts see as ctx.<name>.
M.SERVICES = { geo = "ipe.geo", http = "ipe.http", intel = "ipe.intel", actions = "ipe.actions" }

M.execute = execute

local function failure(req, why, out)
  local budget = req.timeout or M.DEFAULT_TIMEOUT
  local msg
  if why == "timeout" then msg = string.format("ran out of time (budget %gs)", budget)
  elseif why == "cpu" then msg = string.format("used up its CPU budget (%gs)", budget)
  elseif why == "error" and tostring(out):find("not enough memory", 1, true) then
    msg = string.format("exceeded its memory budget (%d MB)", (req.memory or M.DEFAULT_MEMORY) / 1048576)
  else
    -- one line: the traceback only with -v
    local text = tostring(out)
    if not req.verbose then text = text:match("^[^\n]*") end
    msg = "the worker process failed (" .. tostring(why) .. "): " .. text
  end
  return { script = req.entry.name, kind = req.entry.kind, path = req.entry.path, status = "error",
           outcome = why == "timeout" and "timeout" or "failed", message = msg, params = {},
           sections = {}, queries = {} }
end

-- execute_together(requests) -> records: the requests' scripts run as coroutines of one
-- worker (ipe.concurrent), so that their network waits overlap.
function M.execute_together(reqs)
  local fns = {}
  for i, req in ipairs(reqs) do fns[i] = function() return execute(req, 1) end end
  local records, errs = require("ipe.concurrent").run(fns)
  for i, req in ipairs(reqs) do
    if not records[i] then
      local rec = failure(req, "error", errs[i])
      rec.message = errs[i]
      records[i] = rec
    end
  end
  return records
end

-- execute_in_turn(requests) -> records: the requests' scripts one after the other in one worker
-- (one workspace connection and page cache for all). Each has its own budget as an alarm:
-- when one runs out of it, the worker's output is an empty list, and ipe.runner.run_many runs
-- the group again one script per worker (so the one that loops gets its own timeout record).
function M.execute_in_turn(reqs)
  local records, none = {}, serial.dump({})
  for i, req in ipairs(reqs) do
    proc.alarm(req.timeout or M.DEFAULT_TIMEOUT, none)
    records[i] = execute(req, 1)
    proc.alarm(nil)
  end
  return records
end

-- jobs_of(requests) -> slots: one list of request indexes per worker job; the requests
-- with the same `together` key share one job, placed where the first of them is.
local function jobs_of(reqs)
  local slots, at = {}, {}
  for i, req in ipairs(reqs) do
    local key = req.together
    if key and at[key] then
      local list = slots[at[key]]
      list[#list + 1] = i
    else
      slots[#slots + 1] = { i }
      if key then at[key] = #slots end
    end
  end
  return slots
end

-- run_many(requests, parallel [, on_record]) -> records in request order. Each request runs in
-- its own worker, except that requests with the same `together` key run in one worker together
-- (execute_together; with `in_turn` set, one after the other: execute_in_turn, the worker's
-- budget their sum); when that worker fails as a whole (time, memory, a crash), its
-- requests run again one per worker, so one bad script never costs the others their answer.
-- on_record(i, record), when given, is called as each record is in (ipe-run serve streams them).
function M.run_many(reqs, parallel, on_record)
  local slots, jobs = jobs_of(reqs), {}
  for j, list in ipairs(slots) do
    local group = {}
    for k, i in ipairs(list) do group[k] = reqs[i] end
    if #group == 1 then
      jobs[j] = function() return serial.dump(execute(group[1], 1, true)) end
    elseif group[1].in_turn then
      jobs[j] = function() return serial.dump(M.execute_in_turn(group)) end
    else
      jobs[j] = function() return serial.dump(M.execute_together(group)) end
    end
  end
  -- each job's wall-clock budget: its script's, a group's longest (its members wait together)
  -- or, for a group whose members run in turn (request field in_turn), their sum
  local maxt, budgets = 0, {}
  for j, list in ipairs(slots) do
    local t, in_turn = 0, reqs[list[1]].in_turn
    for _, i in ipairs(list) do
      local own = reqs[i].timeout or M.DEFAULT_TIMEOUT
      t = in_turn and t + own or math.max(t, own)
    end
    budgets[j], maxt = t, math.max(maxt, t)
  end
  local records, again = {}, {}
  local function settle(j, res)
    local list = slots[j]
    local out = res.ok and serial.undump(res.out)
    if #list == 1 then
      records[list[1]] = out or failure(reqs[list[1]], res.why or "bad result", res.out)
    elseif type(out) == "table" and #out == #list then
      for k, i in ipairs(list) do records[i] = out[k] end
    else
      for _, i in ipairs(list) do again[#again + 1] = i end
      return
    end
    if on_record then for _, i in ipairs(list) do on_record(i, records[i]) end end
  end
  proc.run_jobs(jobs, { parallel = parallel or 1, timeout = maxt, timeouts = budgets,
    cpu = math.ceil(maxt) + 1, memory = reqs[1] and reqs[1].memory or M.DEFAULT_MEMORY, on_result = settle })
  if #again > 0 then
    local alone = {}
    for k, i in ipairs(again) do alone[k] = setmetatable({ together = false }, { __index = reqs[i] }) end
    local back = on_record and function(k, rec) on_record(again[k], rec) end
    for k, rec in ipairs(M.run_many(alone, parallel, back)) do records[again[k]] = rec end
  end
  return records
end

function M.run(req) return M.run_many({ req }, 1)[1] end

-- Load the scripts' metadata in workers (a script's top level may misbehave).
function M.describe_many(entries, parallel)
  local jobs = {}
  for i, e in ipairs(entries) do
    jobs[i] = function()
      local s, err = M.load_checked(e)
      if not s then return serial.dump({ broken = err }) end
      return serial.dump({ title = s.title, summary = s.summary, description = s.description,
        categories = s.categories, sources = s.sources, params = s.params or {},
        side_effects = s.side_effects, page = s.page, language = s.language, query = s.query })
    end
  end
  local results = proc.run_jobs(jobs, { parallel = parallel or 2, timeout = M.DEFAULT_TIMEOUT,
                                        memory = M.DEFAULT_MEMORY })
  local out = {}
  for i, res in ipairs(results) do
    local meta = res.ok and serial.undump(res.out)
    if not meta then
      meta = { broken = res.why == "timeout" and "loading ran out of time (budget " .. M.DEFAULT_TIMEOUT .. "s)"
               or "loading failed: " .. tostring(res.out) }
    end
    out[i] = meta
  end
  return out
end

return M
