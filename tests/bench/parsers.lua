-- tests/bench/parsers.lua (run by tests/bench/bench_parsers through `ipe-run test`):
-- seconds of CPU per MiB of each ingest format's worst case (tests/lib/worst_cases.lua:
-- a value of about 1 MiB shaped to hit what made parsers quadratic), parsed by the
-- format's driver into the real mapper (tests/fuzz/driver.lua, an in-memory
-- workspace), against the baseline measured in the same run: plain reading of the
-- same bytes (ipe.ingest.source's lines, or the whole document). Median of
-- BENCH_ROUNDS (default 5) runs each. Prints one line per format.
local source = require "ipe.ingest.source"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/bench/[^/]*$") or "."
local driver = dofile(here .. "/tests/fuzz/driver.lua")
local cases = dofile(here .. "/tests/lib/worst_cases.lua")()
local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "") or 5
local DOCUMENT = { json = true, stix = true, misp = true }

local function median(fn)
  local t = {}
  for i = 1, rounds do
    collectgarbage()
    local c = os.clock()
    fn()
    t[i] = os.clock() - c
  end
  table.sort(t)
  return rounds % 2 == 1 and t[(rounds + 1) / 2] or (t[rounds / 2] + t[rounds / 2 + 1]) / 2
end

local worst, worst_name = 0, nil
for _, c in ipairs(cases) do
  local mib = #c.bytes / 1048576
  local parse = median(function() driver.run_format(c.format, c.bytes, c.opts) end) / mib
  local read = median(function()
    local src = source.from_string(c.bytes, "bench")
    if DOCUMENT[c.format] then src:read_all() else while src:next_line() ~= nil do end end
  end) / mib
  if parse > worst then worst, worst_name = parse, c.format end
  print(string.format("bench_parsers: %-9s %.3f s/MiB of CPU (%.2f MiB worst case), plain reading %.4f s/MiB: %.0fx",
    c.format, parse, mib, read, parse / math.max(read, 1e-6)))
end
print(string.format("bench_parsers: slowest  %s, %.3f s/MiB", worst_name, worst))
