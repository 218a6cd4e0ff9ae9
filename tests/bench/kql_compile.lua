-- tests/bench/kql_compile.lua (run by tests/bench/bench_kql through `ipe-run test`): the
-- wall time of ipe.kql.compile (parse + compile to SQL, no run) of each query of the KQL
-- corpus (tests/fixtures/kql-corpus), median of BENCH_ROUNDS (default 21) compiles each after
-- a warm-up; a query that does not compile is timed to its error. Prints one line per query
-- ("kql_compile: ms file ok|error") and the medians over the corpus.
local kql = require "ipe.kql"
local proc = require "ipe.proc"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/bench/[^/]*$") or "."
local dir = here .. "/tests/fixtures/kql-corpus"
local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "") or 21
local now = 1795780800    -- 2026-11-27T12:00:00Z
local opts = { now = now, window = { from = now - 7 * 86400, to = now } }

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local all, compiled = {}, {}
for line in read(dir .. "/sources.tsv"):gmatch("[^\n]+") do
  local file = line:match("^([^\t]+)")
  local text = read(dir .. "/" .. file)
  local ok = pcall(kql.compile, text, opts)
  local t = {}
  for i = 1, rounds do
    local t0 = proc.monotonic()
    pcall(kql.compile, text, opts)
    t[i] = (proc.monotonic() - t0) * 1000
  end
  local m = median(t)
  all[#all + 1] = m
  if ok then compiled[#compiled + 1] = m end
  print(string.format("kql_compile: %8.3f ms %s %s", m, file, ok and "ok" or "error"))
end
print(string.format("kql_compile: median compile time %.3f ms over the %d queries that compile (goal <= 2 ms), "
  .. "%.3f ms over all %d (a failing one timed to its error), slowest compiled %.3f ms",
  median(compiled), #compiled, median(all), #all, compiled[#compiled] or 0))
