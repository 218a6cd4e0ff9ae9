-- The hunts written in KQL give exactly the rows of their SQL originals on the demo workspace,
-- for the demo's story IPs and each parameter choice; at least one case of each hunt has rows.
-- A built-in hunt that is KQL now has its SQL original in tests/fixtures/hunts-sql/hunts/
-- <name>-sql.lua (the hunt as it was before the port); a port that is not the built-in yet
-- (its rows are exact, its presentation is not: see the README) is
-- tests/fixtures/hunts-kql/hunts/<name>-kql.lua, compared with the built-in SQL hunt.
-- Kusto strings are never null: a NULL of the SQL original is compared as "".
local T = require "ipe.testing"
local has_sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql hunts", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local fs = require "ipe.fs"

local here = fs.realpath(debug.getinfo(1, "S").source:sub(2))
local FIXTURES = here:match("^(.*)/tests/lua/[^/]*$") .. "/tests/fixtures"
local NOW = H.time("2026-11-27T12:00:00Z")
local db = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }

-- The hunts ported to KQL and the parameter sets each is compared on; BUILTIN = the KQL
-- version is the built-in one.
local BUILTIN = { ["signins-from-ip"] = true, ["failed-logons-from-ip"] = true, ["firewall-traffic-for-ip"] = true }
local CASES = {
  ["signins-from-ip"] = {
    { ip = "216.160.83.56" }, { ip = "216.160.83.56", result = "failure" }, { ip = "216.160.83.56", result = "success" },
    { ip = "131.107.0.89" }, { ip = "131.107.0.89", limit = "3" }, { ip = "203.0.113.254" },
  },
  ["failed-logons-from-ip"] = {
    { ip = "216.160.83.56" }, { ip = "45.33.32.156" }, { ip = "131.107.0.89" }, { ip = "216.160.83.56", limit = "2" },
    { ip = "203.0.113.254" },
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
  for i, c in ipairs(s.columns or {}) do cols[i] = c.name .. ":" .. c.type end
  cols.title = s.title
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
    local function kql(params, opts)
      if BUILTIN[name] then return H.run("hunt", name, params, opts) end
      return H.run_file(FIXTURES .. "/hunts-kql/hunts/" .. name .. "-kql.lua", params, opts)
    end
    local function sql(params, opts)
      if BUILTIN[name] then return H.run_file(FIXTURES .. "/hunts-sql/hunts/" .. name .. "-sql.lua", params, opts) end
      return H.run("hunt", name, params, opts)
    end
    local with_rows = 0
    for _, params in ipairs(CASES[name]) do
      local label = name
      for k, v in pairs(params) do label = label .. " " .. k .. "=" .. v end
      local opts = { db = db, since = "14d", now = NOW }
      local kcols, krows = table_of(kql(params, opts))
      local scols, srows = table_of(sql(params, opts))
      T.eq(kcols, scols, label .. ": title, columns and their display types")
      T.eq(krows, srows, label .. ": rows, in order")
      if #srows > 0 then with_rows = with_rows + 1 end
    end
    T.ok(with_rows > 0, name .. ": some case has rows")
  end)
end

T.case("the built-in hunts that are KQL now are exactly the ones compared here", function()
  local kql = BUILTIN
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
