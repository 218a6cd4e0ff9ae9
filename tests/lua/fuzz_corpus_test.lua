-- The fuzz corpus as a regression test: every input kept in tests/fuzz/corpus/<target>
-- (seeds, and what fuzzing found) through its target of tests/fuzz/driver.lua, as
-- the libFuzzer harnesses run it (`make fuzz-regress` runs the same inputs under
-- ASan/UBSan). A target raises on an internal error; a clean "bad record" is fine.
local T = require "ipe.testing"
local fs = require "ipe.fs"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local driver = dofile(here .. "/tests/fuzz/driver.lua")

for _, target in ipairs(driver.NAMES) do
  T.case("fuzz corpus " .. target .. ": every input gives a result or a clean reason", function()
    local dir = here .. "/tests/fuzz/corpus/" .. target
    local names = assert(fs.list(dir))
    table.sort(names)
    T.ok(#names > 0, "the corpus of " .. target .. " is not empty")
    for _, name in ipairs(names) do
      local f = assert(io.open(dir .. "/" .. name, "rb"))
      local bytes = f:read("*a")
      f:close()
      local ok, err = pcall(driver[target], bytes)
      T.ok(ok, target .. "/" .. name .. ": " .. tostring(err))
    end
  end)
end
