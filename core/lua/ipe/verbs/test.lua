-- ipe.verbs.test: ipe-run test [FILE|DIR...] — run Lua test files inside the
-- runtime and print TAP (the bundled modules' tests and a researcher's own).
local errors = require "ipe.errors"
local fs = require "ipe.fs"
local discover = require "ipe.discover"
local T = require "ipe.testing"

local M = {}

M.summary = "run Lua test files (*_test.lua) and print TAP"
M.usage = [[
usage: ipe-run test [FILE|DIR...]

Runs each *_test.lua file (folders are searched recursively) with the assertion
library ipe.testing and the script harness ipe.harness (throwaway workspaces
from a fixture or the demo generator, runs through the real sandbox), and prints
one TAP stream. Without arguments: tests/lua beside the binary and the tests/
folder of every IPE_PATH root. Exit code 0 when every case passes, 1 otherwise.
]]

local function collect(path, out)
  local st = fs.stat(path)
  if not st then errors.not_found("test: %s does not exist", path) end
  if st.type == "file" then out[#out + 1] = path return end
  local names = fs.list(path) or {}
  table.sort(names)
  for _, n in ipairs(names) do
    local p = path .. "/" .. n
    local s = fs.stat(p)
    if s and s.type == "dir" and not n:match("^%.") then collect(p, out)
    elseif n:match("_test%.lua$") then out[#out + 1] = p end
  end
end

local function default_paths()
  local paths = {}
  for _, root in ipairs(discover.roots()) do
    for _, d in ipairs({ root.dir .. "/tests/lua", root.dir .. "/tests" }) do
      local st = fs.stat(d)
      if st and st.type == "dir" then paths[#paths + 1] = d break end
    end
  end
  return paths
end

local function run_file(path)
  local chunk, err = loadfile(path, "t")
  if chunk then
    setfenv(chunk, setmetatable({}, { __index = _G }))
    local ok, e = xpcall(chunk, function(x) return debug.traceback(tostring(x), 2) end)
    if ok then return end
    err = e
  end
  T.case(path .. " (the file itself)", function() error(err, 0) end)
end

function M.run(_, pos)
  local files = {}
  local paths = #pos > 0 and pos or default_paths()
  if #paths == 0 then errors.not_found("test: no tests/ folder found; name test files or folders") end
  for _, p in ipairs(paths) do collect(p, files) end
  if #files == 0 then errors.not_found("test: no *_test.lua files under %s", table.concat(paths, ", ")) end
  T.embedded = true
  for _, f in ipairs(files) do
    io.stdout:write("# ", f, "\n")
    run_file(f)
  end
  require("ipe.harness").cleanup()
  local count, failed = T.stats()
  io.stdout:write("1..", count, "\n")
  return failed == 0 and 0 or errors.NO_RESULT
end

return M
