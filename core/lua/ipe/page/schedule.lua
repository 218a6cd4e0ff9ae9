-- ipe.page.schedule: how many workers the page gets, the order its panels start in, the run,
-- and the timing hints that order comes from.
--
--   schedule.cores()                      -> IPE_JOBS, else the online CPUs, else 2
--   schedule.parallelism(panels, offline) -> workers: the cores, plus one for the external panels
--                                            (together, I/O bound) when online, at most 16
--   schedule.start_order(panels, offline, hints) -> panel indexes: external first when online,
--                                            then the slowest last time first
--   schedule.local_groups(panels, order, parallel, offline, hints) -> the local panels' worker groups
--   schedule.run(panels, requests, parallel, offline, hints [, on_record]) -> records in panel
--                                            order (ipe.runner.run_many, started in start_order, the
--                                            external panels together in one worker, the local ones
--                                            in turn in one group per other worker; a broken
--                                            panel's record is made here); on_record(i, record) as
--                                            each panel is done (broken ones first)
--   schedule.timing_path()                -> $XDG_STATE_HOME/ipe/page-timing
--   schedule.load_timing([path]) / schedule.save_timing(records, hints [, path]) -> the hints
local runner = require "ipe.runner"
local proc = require "ipe.proc"
local fs = require "ipe.fs"
local has_category = require("ipe.page.panels").has_category

local M = {}

-- The machine's cores: IPE_JOBS, else /sys/devices/system/cpu/online, else 2.
function M.cores()
  local env = tonumber(proc.getenv("IPE_JOBS") or "")
  if env and env >= 1 then return math.floor(env) end
  local text = fs.read("/sys/devices/system/cpu/online", 4096)
  local n = 0
  for part in (text or ""):gmatch("[^,%s]+") do
    local a, b = part:match("^(%d+)%-(%d+)$")
    if a then n = n + tonumber(b) - tonumber(a) + 1 elseif part:match("^%d+$") then n = n + 1 end
  end
  return n > 0 and n or 2
end

function M.parallelism(panels, offline)
  local n = M.cores()
  if not offline then
    for _, p in ipairs(panels) do
      -- the external panels share one worker (see run) that mostly waits on the network
      if not p.broken and has_category(p.meta, "external") then n = n + 1 break end
    end
  end
  return math.max(1, math.min(n, 16, #panels))
end

---------------------------------------------------------------------------
-- Timing hints: how long each panel took the last time ($XDG_STATE_HOME/ipe/page-timing, one
-- "panel milliseconds" line each), so that the slowest start first — longest processing time
-- first keeps every worker busy to the end instead of leaving one slow panel for last.
---------------------------------------------------------------------------
M.DEFAULT_HINT = 50   -- ms assumed for a panel never timed

function M.timing_path()
  return require("ipe.xdg").dir("state") .. "/page-timing"
end

function M.load_timing(path)
  local hints = {}
  local text = fs.read(path or M.timing_path(), 1048576)
  for id, ms in (text or ""):gmatch("([%w_-]+) ([%d.]+)\n") do hints[id] = tonumber(ms) end
  return hints
end

-- save_timing(records, hints [, path]): the new times merged into the old, written atomically
-- (ipe.fs.write_atomic); failures are ignored (a hint is an optimization, never a reason for
-- the page to fail).
function M.save_timing(records, hints, path)
  path = path or M.timing_path()
  local merged = {}
  for id, ms in pairs(hints or {}) do merged[id] = ms end
  for _, r in ipairs(records) do
    if r.script and r.timing and r.timing.ms then merged[r.script] = r.timing.ms end
  end
  local ids = {}
  for id in pairs(merged) do ids[#ids + 1] = id end
  table.sort(ids)
  local lines = {}
  for i, id in ipairs(ids) do lines[i] = string.format("%s %.1f\n", id, merged[id]) end
  if fs.mkdir_p(path:match("^(.*)/[^/]*$"), 448) then fs.write_atomic(path, table.concat(lines)) end
end

-- The order the panels start in: external panels first when online (they mostly wait on the
-- network), then the slowest last time first; ties keep the page order.
function M.start_order(panels, offline, hints)
  local order = {}
  for i, p in ipairs(panels) do if not p.broken then order[#order + 1] = i end end
  local function key(i)
    local p = panels[i]
    return (not offline and has_category(p.meta, "external")) and 1 or 2, (hints or {})[p.id] or M.DEFAULT_HINT
  end
  table.sort(order, function(a, b)
    local ga, ha = key(a)
    local gb, hb = key(b)
    if ga ~= gb then return ga < gb end
    if ha ~= hb then return ha > hb end
    return a < b
  end)
  return order
end

-- local_groups(panels, order, parallel, offline, hints) -> { [panel index] = group number }: the
-- local (not external) panels in one group per worker that runs them — parallel, less the
-- external panels' worker when online — each panel, slowest first (order), into the group with
-- the least work so far (the hints; longest processing time first).
function M.local_groups(panels, order, parallel, offline, hints)
  local locals, external = {}, false
  for _, i in ipairs(order) do
    if has_category(panels[i].meta, "external") then external = true else locals[#locals + 1] = i end
  end
  local n = math.max(1, math.min(#locals, parallel - ((external and not offline) and 1 or 0)))
  local load, out = {}, {}
  for g = 1, n do load[g] = 0 end
  for _, i in ipairs(locals) do
    local best = 1
    for g = 2, n do if load[g] < load[best] then best = g end end
    out[i] = best
    load[best] = load[best] + ((hints or {})[panels[i].id] or M.DEFAULT_HINT)
  end
  return out
end

-- run(panels, requests, parallel, offline, hints) -> records in panel order (see start_order).
-- The external panels run together in one worker (request field together = "external":
-- ipe.runner, ipe.concurrent): their lookups are in flight at the same time, and seven
-- providers cost one process instead of seven. The local panels share the other workers, in
-- turn (local_groups; together = "local <n>", in_turn): a worker opens the workspace once and
-- the pages its first panels read (alerts, the rollups) are in its cache for the next ones —
-- on the 10M-event demo a fresh worker per panel cost more than the panels' own queries. A
-- group that fails as a whole (time, memory, a crash) is run again one panel per worker
-- (ipe.runner.run_many), so one bad panel never costs the others their answer.
function M.run(panels, reqs, parallel, offline, hints, on_record)
  local order = M.start_order(panels, offline, hints)
  local records = {}
  for i, p in ipairs(panels) do
    if p.broken then
      records[i] = { script = p.id, kind = "insight", path = p.entry.path, status = "error", outcome = "broken",
                     message = p.broken, params = {}, sections = {}, queries = {} }
      if on_record then on_record(i, records[i]) end
    end
  end
  local list = {}
  local groups = M.local_groups(panels, order, parallel, offline, hints)
  for k, i in ipairs(order) do
    list[k] = reqs[i]
    if has_category(panels[i].meta, "external") then reqs[i].together = "external"
    elseif groups[i] then reqs[i].together, reqs[i].in_turn = "local " .. groups[i], true end
  end
  local back = on_record and function(k, rec) on_record(order[k], rec) end
  local done = #list > 0 and runner.run_many(list, parallel, back) or {}
  for k, i in ipairs(order) do records[i] = done[k] end
  return records
end

return M
