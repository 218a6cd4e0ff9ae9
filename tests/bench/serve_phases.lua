-- tests/bench/serve_phases.lua (run by tests/bench/bench_serve through `ipe-run test`): where an
-- IP page of `ipe-run serve` spends its time. The page's handler runs each panel in a worker
-- forked for it (page.run -> runner.run_many), and each worker loads and checks its script
-- (runner.load_checked: read, compile, run the top level in the sandbox, check the contract, a
-- KQL script's query compiled), opens the workspace (the schema read) and runs the script's
-- queries. Measured here, each the median of BENCH_ROUNDS (default 15) after a warm-up, on
-- BENCH_DB for BENCH_IP, offline, the window 2026-11-20T12 .. 2026-11-27T12:
--   scan      discover.scan(): finding the scripts (the server does it once, at start)
--   page      page.run of every panel: the handler's whole panel phase (wall time)
--   fork      the page's workers (a group of local panels each, one for the external panels)
--             forked and reaped, each doing nothing
--   load      runner.load_checked of every panel's script, one after another
--   open      workspace.open_reader + close, once per worker
--   run       the panels' own run times (rec.timing.ms: their queries and code), summed
-- load, open and run are sums over the panels (CPU work the workers share over `parallel`
-- processes); page and fork are wall times.
local discover = require "ipe.discover"
local page = require "ipe.page"
local runner = require "ipe.runner"
local proc = require "ipe.proc"
local workspace = require "ipe.workspace"
local insight = require "ipe.verbs.insight"

local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "") or 15
local db = assert(os.getenv("BENCH_DB"), "BENCH_DB: the workspace")
local ip = os.getenv("BENCH_IP") or "89.160.20.128"
local opts = { db = db, now = "2026-11-27T12:00:00Z", from = "2026-11-20T12:00:00.000Z",
               to = "2026-11-27T12:00:00.000Z", offline = true, timeout = "120" }

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local function timed(f)
  f()   -- warm-up
  local t = {}
  for i = 1, rounds do
    local t0 = proc.monotonic()
    f()
    t[i] = (proc.monotonic() - t0) * 1000
  end
  return median(t)
end

local index = discover.scan()
local panels = page.collect(index, page.cores() * 2)
local base = insight.request(opts, index, nil, nil)
local function requests()
  local reqs = {}
  for i, p in ipairs(panels) do
    local r = {}
    for k, v in pairs(base) do r[k] = v end
    r.entry, r.given = p.entry, page.given(p, ip, { panel_params = {} })
    reqs[i] = r
  end
  return reqs
end
local parallel = page.parallelism(panels, true)
-- the page's workers: one per group of local panels (page.local_groups), one for the external ones
local workers = 0
do
  local seen, external = {}, 0
  for _, g in pairs(page.local_groups(panels, page.start_order(panels, true, {}), parallel, true, {})) do
    if not seen[g] then seen[g], workers = true, workers + 1 end
  end
  for _, p in ipairs(panels) do if require("ipe.page.panels").has_category(p.meta, "external") then external = 1 end end
  workers = workers + external
end

local run_ms = {}
local ms = {
  scan = timed(function() discover.scan() end),
  page = timed(function()
    local recs = page.run(panels, requests(), parallel, true, {}, nil)
    local sum = 0
    for _, r in ipairs(recs) do sum = sum + (r.timing and r.timing.ms or 0) end
    run_ms[#run_ms + 1] = sum
  end),
  fork = timed(function()
    local jobs = {}
    for i = 1, workers do jobs[i] = function() return "" end end
    proc.run_jobs(jobs, { parallel = parallel, timeout = 10 })
  end),
  load = timed(function()
    for _, p in ipairs(panels) do assert(runner.load_checked(p.entry)) end
  end),
  open = timed(function()
    for _ = 1, workers do workspace.open_reader(db):close() end
  end),
}
ms.run = median(run_ms)
print(string.format("serve_phases: %s, %d panels in %d workers, %d at once: page %.1f ms (wall); fork %.1f ms (wall, "
  .. "empty workers); load %.1f ms, open %.1f ms, run %.1f ms (sums over the panels, open over the workers); "
  .. "scan %.1f ms (once at start)", ip, #panels, workers, parallel, ms.page, ms.fork, ms.load, ms.open, ms.run, ms.scan))
print(string.format("serve_phases: per page, script loading is %.0f%% of the panels' CPU work (load / (load + open + run)), "
  .. "forking %.0f%% of the page's wall time", 100 * ms.load / (ms.load + ms.open + ms.run), 100 * ms.fork / ms.page))
