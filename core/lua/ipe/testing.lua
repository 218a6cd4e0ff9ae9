-- ipe.testing: a small assertion library that prints TAP.
--
-- A test file calls T.case(name, fn) for each case; the case runs at once and
-- prints "ok N - name" or "not ok N - name" with the failure as a TAP comment.
-- `ipe-run test` runs many files in one stream and prints the plan at the end;
-- a pure-Lua module's tests also run under plain luajit (then call T.done()).
local T = {}

local count, failed, skipped = 0, 0, 0
local out = io and io.write or print

local function emit(line) out(line .. "\n") end

local function is_null(v) return type(v) == "userdata" and tostring(v) == "userdata: NULL" end

local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or depth > 3 then return tostring(v) end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.show = show

local function deep_eq(a, b)
  if a == b then return true end
  if is_null(a) and is_null(b) then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
T.deep_eq = deep_eq

local Failure = {}
local Skip = {}
local in_case = false

-- where(): "file:line" of the test code that called the assertion — the first
-- frame outside this file (an assertion may be called from a helper of the test).
local this_file = debug and debug.getinfo(1, "S").source
local function where()
  if not debug then return nil end
  for level = 3, 40 do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    if info.source ~= this_file and info.currentline and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline
    end
  end
end
T.where = where

local function fail(msg)
  local at = where()
  error(setmetatable({ msg = at and at .. ": " .. msg or msg }, Failure), 0)
end

function T.ok(v, msg) if not v then fail((msg or "expected a true value") .. ", got " .. show(v)) end end

function T.eq(got, want, msg)
  if not deep_eq(got, want) then
    fail((msg and msg .. ": " or "") .. "got " .. show(got) .. ", want " .. show(want))
  end
end

function T.ne(got, other, msg)
  if deep_eq(got, other) then fail((msg and msg .. ": " or "") .. "both are " .. show(got)) end
end

function T.like(s, pattern, msg)
  if type(s) ~= "string" or not s:find(pattern) then
    fail((msg and msg .. ": " or "") .. show(s) .. " does not match " .. show(pattern))
  end
end

function T.unlike(s, pattern, msg)
  if type(s) == "string" and s:find(pattern) then
    fail((msg and msg .. ": " or "") .. show(s) .. " matches " .. show(pattern))
  end
end

-- T.raises(fn, pattern): fn must raise an error whose text matches pattern (plain find).
function T.raises(fn, pattern, msg)
  local okk, err = pcall(fn)
  if okk then fail((msg and msg .. ": " or "") .. "expected an error matching " .. show(pattern)) end
  err = type(err) == "table" and (err.msg or show(err)) or tostring(err)
  if pattern and not err:find(pattern, 1, true) then
    fail((msg and msg .. ": " or "") .. "error " .. show(err) .. " does not contain " .. show(pattern))
  end
  return err
end

local function diag(text)
  for line in (tostring(text) .. "\n"):gmatch("(.-)\n") do emit("# " .. line) end
end
T.diag = diag

-- T.case(name, fn): run one case now.
function T.case(name, fn)
  count = count + 1
  local trace
  in_case = true
  local okk, err = xpcall(fn, function(e)
    if getmetatable(e) ~= Failure and getmetatable(e) ~= Skip and debug then trace = debug.traceback("", 2) end
    return e
  end)
  in_case = false
  if not okk and getmetatable(err) == Skip then
    skipped = skipped + 1
    emit(string.format("ok %d - %s # SKIP %s", count, name, err.reason))
  elseif okk then
    emit(string.format("ok %d - %s", count, name))
  else
    failed = failed + 1
    emit(string.format("not ok %d - %s", count, name))
    diag(type(err) == "table" and err.msg or tostring(err))
    if trace then diag(trace) end
  end
end

-- T.skip(name, reason): a case that cannot run here (TAP SKIP directive).
-- Inside a running T.case it ends that case as skipped (one TAP line, not two).
function T.skip(name, reason)
  if in_case then error(setmetatable({ reason = name .. ": " .. tostring(reason) }, Skip), 0) end
  count = count + 1
  skipped = skipped + 1
  emit(string.format("ok %d - %s # SKIP %s", count, name, reason))
end

function T.stats() return count, failed, skipped end

-- T.done(): ends a test file. Under plain luajit it prints the plan; inside
-- `ipe-run test` (T.embedded is set) the runner prints one plan for all files.
function T.done()
  if T.embedded then return failed == 0 end
  emit("1.." .. count)
  return failed == 0
end

return T
