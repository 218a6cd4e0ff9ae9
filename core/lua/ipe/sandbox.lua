-- ipe.sandbox: loads an insight, hunt or action script into an allow-listed
-- environment.
--
-- Scripts are text only (bytecode is refused) and see: the safe base functions,
-- copies of string (without dump), table, math, bit and coroutine, os.time/date/
-- clock/difftime, and a require that hands out deep copies of a few pure modules.
-- Reading or writing an undeclared global is an error. No io, os.execute,
-- package, debug, jit, ffi, load*, dofile, getfenv/setfenv, rawset or print.
-- Time and memory budgets are not enforced here but by the worker process that
-- runs the script (ipe.runner): no hook can stop a JIT-compiled loop or a C call.
local fs = require "ipe.fs"

local M = {}

-- Harden the shared runtime once: strings index the real string table, so
-- neither dump nor a writable string metatable may be reachable from scripts.
string.dump = nil
getmetatable("").__metatable = false

local function copy(t, except)
  local c = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then c[k] = v end
  end
  return c
end

-- deep_copy(t): a copy of t and of every table it reaches (cycles and shared
-- tables kept as such; functions and other values shared, metatables not copied:
-- the requirable modules have none). A script gets a module of its own: changing
-- result.STATUSES or ipaddr.ranges[3] changes nothing the runtime or another script
-- in the same worker sees (ipaddr's classification tables hold the very entries of
-- ipaddr.ranges). Read-only proxies would break pairs, ipairs and # under LuaJIT.
local function deep_copy(t, seen)
  local c = seen[t]
  if c then return c end
  c = {}
  seen[t] = c
  for k, v in pairs(t) do
    if type(k) == "table" then k = deep_copy(k, seen) end
    if type(v) == "table" then v = deep_copy(v, seen) end
    c[k] = v
  end
  return c
end
M.deep_copy = function(t) return deep_copy(t, {}) end

local REQUIRABLE = {
  ["ipe.result"] = true, ["ipe.ipaddr"] = true, ["ipe.timeutil"] = true,
}

local HINTS = {
  print = "use ctx.log for diagnostics; return data from run()",
  io = "scripts cannot touch files", os = "only os.time, os.date, os.clock and os.difftime exist",
  load = "scripts cannot load code", loadstring = "scripts cannot load code",
  loadfile = "scripts cannot load code", dofile = "scripts cannot load code",
  getfenv = "environments are not reachable", setfenv = "environments are not reachable",
  debug = "the debug library is not available", jit = "the jit library is not available",
  package = "use require for ipe.result, ipe.ipaddr, ipe.timeutil, cjson",
  rawset = "globals cannot be created",
}

local function sandbox_require(name)
  if type(name) ~= "string" then error("require expects a module name", 2) end
  if name == "cjson" or name == "cjson.safe" then return require(name).new() end
  if not REQUIRABLE[name] then
    error("module '" .. name .. "' is not available to scripts (allowed: ipe.result, ipe.ipaddr, "
      .. "ipe.timeutil, cjson, cjson.safe)", 2)
  end
  return deep_copy(require(name), {})
end

local function strict(env)
  return setmetatable(env, {
    __index = function(_, k)
      local hint = HINTS[k]
      error("undeclared global '" .. tostring(k) .. "'" .. (hint and " (" .. hint .. ")" or ""), 2)
    end,
    __newindex = function(_, k)
      error("assignment to undeclared global '" .. tostring(k) .. "' (use local)", 2)
    end,
    __metatable = false,
  })
end

function M.env()
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    xpcall = xpcall, setmetatable = setmetatable, getmetatable = getmetatable,
    rawequal = rawequal, rawget = rawget, _VERSION = _VERSION,
    string = copy(string, { dump = true }), table = copy(table), math = copy(math),
    bit = copy(bit), coroutine = copy(coroutine),
    os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime },
    require = sandbox_require,
  }
  return strict(env)
end

-- load(path) -> the value the chunk returns | nil, message ("path:line: ..." for syntax errors)
function M.load(path)
  local text, err = fs.read(path, 4 * 1024 * 1024)
  if not text then return nil, err end
  if text:byte(1) == 27 then return nil, path .. ": bytecode is refused: scripts load as text only" end
  local chunk, lerr = load(text, "@" .. path, "t", M.env())
  if not chunk then return nil, lerr end
  local ok, value = pcall(chunk)
  if not ok then return nil, tostring(value) end
  return value
end

return M
