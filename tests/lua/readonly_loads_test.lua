-- A run that only reads a workspace loads no migration code (issue 12, item 3): `ipe-run page`
-- and `ipe-run insight` on a demo workspace, each in a process of its own (this binary) with a
-- module searcher in front that writes down every ipe.* module the process and its workers
-- (forked: they keep the searcher) load. ipe.schema no longer loads ipe.migrations.* itself;
-- the rollups' runtime code is ipe.rollup.*.
local T = require "ipe.testing"
local has_sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("read-only runs", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local proc = require "ipe.proc"
local fs = require "ipe.fs"

local IP = "89.160.20.128"   -- the demo's C2 address
local db = H.workspace{ demo = { events = 12000, seed = 1 } }
local exe = assert(proc.exe_path())

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- loaded(argv) -> the ipe.* modules the run loaded (a set), its exit code
local function loaded(argv)
  local log = os.tmpname()
  local child = os.tmpname() .. "_test.lua"
  assert(fs.write_atomic(child, string.format([[
local log = %q
table.insert(package.loaders, 1, function(name)
  if name:match("^ipe%%.") then
    local f = io.open(log, "a"); f:write(name, "\n"); f:close()
  end
  return nil
end)
local rc = require("ipe.cli").main(%s)
local f = io.open(log, "a"); f:write("rc=", rc, "\n"); f:close()
]], log, "{" .. table.concat((function()
    local q = {}
    for i, a in ipairs(argv) do q[i] = string.format("%q", a) end
    return q
  end)(), ", ") .. "}")))
  local ok = os.execute("IPE_NOW=2026-11-27T00:00:00Z " .. sh(exe) .. " test " .. sh(child) .. " >/dev/null 2>&1")
  local text = fs.read(log) or ""
  os.remove(log)
  os.remove(child)
  local set, rc = {}, nil
  for line in text:gmatch("[^\n]+") do
    local n = line:match("^rc=(%d+)$")
    if n then rc = tonumber(n) else set[line] = true end
  end
  return set, rc, ok
end

local function migrations_in(set)
  local out = {}
  for name in pairs(set) do if name:match("^ipe%.migrations") then out[#out + 1] = name end end
  table.sort(out)
  return out
end

T.case("ipe-run page on a demo workspace loads no ipe.migrations module", function()
  local set, rc = loaded({ "page", IP, "--db", db, "--offline" })
  T.eq(rc, 0)
  T.ok(set["ipe.schema"] and set["ipe.rollup"] and set["ipe.rollup.sqlite"], "the page ran its rollup reads")
  T.eq(migrations_in(set), {})
end)

T.case("ipe-run insight log-activity (a rollup read) loads no ipe.migrations module", function()
  local set, rc = loaded({ "insight", "log-activity", IP, "--db", db })
  T.eq(rc, 0)
  T.ok(set["ipe.rollup"], "the insight read the rollup statement")
  T.eq(migrations_in(set), {})
end)

T.case("the searcher sees migration code where a run does load it (ingest into a new workspace)", function()
  local fresh = os.tmpname()
  os.remove(fresh)
  local rows = os.tmpname() .. ".jsonl"
  assert(fs.write_atomic(rows, '{"TimeGenerated":"2026-11-26T00:00:00Z","HostName":"h","Type":"Syslog"}\n'))
  local set, rc = loaded({ "ingest", "--db", fresh, rows })
  for _, s in ipairs({ "", "-wal", "-shm" }) do os.remove(fresh .. s) end
  os.remove(rows)
  T.eq(rc, 0)
  T.ok(set["ipe.migrations.rollup"], "creating a workspace loads ipe.migrations.rollup")
end)

H.cleanup()
T.done()
