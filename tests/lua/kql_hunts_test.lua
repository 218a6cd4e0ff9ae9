-- The built-in hunts written in KQL give exactly the rows of their SQL originals
-- (tests/fixtures/hunts-sql/hunts/<name>-sql.lua, the Lua/SQL hunt as it was before the port)
-- on the demo workspace, for the demo's story IPs and each parameter choice; at least one case
-- of each hunt has rows. Kusto strings are never null: a NULL of the SQL original is compared
-- as "" (the only difference the port keeps).
local T = require "ipe.testing"
local has_sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql hunts", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local fs = require "ipe.fs"

local here = fs.realpath(debug.getinfo(1, "S").source:sub(2))
local ORIGINALS = here:match("^(.*)/tests/lua/[^/]*$") .. "/tests/fixtures/hunts-sql/hunts"
local NOW = H.time("2026-11-27T12:00:00Z")
local db = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }

-- The hunts ported to KQL and the parameter sets each is compared on.
local CASES = {
  ["signins-from-ip"] = {
    { ip = "216.160.83.56" }, { ip = "216.160.83.56", result = "failure" }, { ip = "216.160.83.56", result = "success" },
    { ip = "131.107.0.89" }, { ip = "131.107.0.89", limit = "3" }, { ip = "203.0.113.254" },
  },
  ["firewall-traffic-for-ip"] = {
    { ip = "89.160.20.128" }, { ip = "151.101.1.140" }, { ip = "45.33.32.156" }, { ip = "10.0.1.20" },
    { ip = "89.160.20.128", limit = "2" }, { ip = "203.0.113.254" },
  },
}

local function cell(v)
  if v == nil or v == "" then return "" end
  return tostring(v)
end

local function table_of(rec)
  T.eq(rec.status == "ok" or rec.status == "empty", true, "the run: " .. tostring(rec.message))
  local s = rec.sections and rec.sections[1]
  if not s then return {}, {} end
  local cols, rows = {}, {}
  for i, c in ipairs(s.columns or {}) do cols[i] = c.name end
  for r, row in ipairs(s.rows or {}) do
    local out = {}
    for j = 1, #cols do out[j] = cell(row[j]) end
    rows[r] = table.concat(out, "\t")
  end
  return cols, rows
end

local names = {}
for name in pairs(CASES) do names[#names + 1] = name end
table.sort(names)

for _, name in ipairs(names) do
  T.case(name .. ": the KQL hunt gives the rows of its SQL original on the demo", function()
    local original = ORIGINALS .. "/" .. name .. "-sql.lua"
    local with_rows = 0
    for _, params in ipairs(CASES[name]) do
      local label = name
      for k, v in pairs(params) do label = label .. " " .. k .. "=" .. v end
      local opts = { db = db, since = "14d", now = NOW }
      local kcols, krows = table_of(H.run("hunt", name, params, opts))
      local scols, srows = table_of(H.run_file(original, params, opts))
      T.eq(kcols, scols, label .. ": columns")
      T.eq(krows, srows, label .. ": rows, in order")
      if #srows > 0 then with_rows = with_rows + 1 end
    end
    T.ok(with_rows > 0, name .. ": some case has rows")
  end)
end

T.case("the built-in hunts that are KQL now are exactly the ones compared here", function()
  local kql = {}
  for _, name in ipairs(names) do kql[name] = true end
  local index = require("ipe.discover").scan()
  for _, e in ipairs(index.list) do
    if e.kind == "hunt" and e.path and e.path:match("/hunts/[^/]+%.lua$") and not e.path:match("/tests/") then
      local f = assert(io.open(e.path))
      local text = f:read("*a")
      f:close()
      local is_kql = text:match('\n  language = "kql"') ~= nil
      T.eq(is_kql, kql[e.name] == true, e.name .. (is_kql and " is KQL" or " is SQL"))
    end
  end
end)

H.cleanup()
T.done()
