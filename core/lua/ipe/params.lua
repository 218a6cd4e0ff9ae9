-- ipe.params: typed script parameters.
--
-- A spec is {name=, type=, help=, default=, required=, choices=, min=, max=}.
-- Values arrive as text (from the command line) or as Lua values (ctx.run);
-- coerce() turns them into typed values or returns nil and one clear line.
local ipaddr = require "ipe.ipaddr"
local timeutil = require "ipe.timeutil"

local M = {}

local function as_text(v) return type(v) == "string" and v or tostring(v) end

-- Whole numbers are exact below 2^53 (LuaJIT numbers are doubles); messages show the value as
-- typed, never a rounded or wrapped-around double.
local EXACT = 2 ^ 53

local function bound(n)
  return n % 1 == 0 and string.format("%d", n) or tostring(n)
end

local function int(v, spec)
  local typed = type(v) == "string" and v:match("^%s*(.-)%s*$") or as_text(v)
  local n = tonumber(v)
  if not n or n ~= n or n % 1 ~= 0 or (type(v) == "string" and not typed:match("^[-+]?%d+$")) then
    return nil, "'" .. typed .. "' is not a whole number"
  end
  if spec.min and n < spec.min then return nil, typed .. " is below the minimum " .. bound(spec.min) end
  if spec.max and n > spec.max then return nil, typed .. " is above the maximum " .. bound(spec.max) end
  if n >= EXACT or n <= -EXACT then
    return nil, typed .. " is out of range (whole numbers between -2^53 and 2^53)"
  end
  return n
end

local BOOLS = { ["true"] = true, yes = true, on = true, ["1"] = true,
                ["false"] = false, no = false, off = false, ["0"] = false }

local function ip_list(v)
  local items = v
  if type(v) == "string" then
    items = {}
    for part in v:gmatch("[^,%s]+") do items[#items + 1] = part end
  end
  if type(items) ~= "table" or #items == 0 then return nil, "an empty IP list" end
  local out, seen = {}, {}
  for _, item in ipairs(items) do
    local ip, err = ipaddr.normalize(item)
    if not ip then return nil, err end
    if not seen[ip] then seen[ip] = true; out[#out + 1] = ip end
  end
  return out
end

M.TYPES = {
  ip = function(v) return ipaddr.normalize(as_text(v)) end,
  cidr = function(v)
    local c, err = ipaddr.parse_cidr(as_text(v))
    return c and c.text, err
  end,
  ip_list = ip_list,
  string = function(v)
    if type(v) ~= "string" and type(v) ~= "number" then return nil, "expected text" end
    return as_text(v)
  end,
  int = int,
  bool = function(v)
    if type(v) == "boolean" then return v end
    local b = BOOLS[as_text(v):lower()]
    if b == nil then return nil, "'" .. as_text(v) .. "' is not a boolean (use true or false)" end
    return b
  end,
  choice = function(v, spec)
    for _, c in ipairs(spec.choices or {}) do if c == v then return v end end
    return nil, "'" .. as_text(v) .. "' is not one of: " .. table.concat(spec.choices or {}, ", ")
  end,
  duration = function(v)
    if type(v) == "number" and v > 0 then return v end
    return timeutil.parse_duration(as_text(v))
  end,
  timestamp = function(v)
    local t, err = timeutil.parse_time(as_text(v))
    if not t then return nil, err end
    return timeutil.format_time(t)
  end,
}

local NAME = "^[a-z][a-z0-9_]*$"

local function check_spec(p, i, problems, seen)
  local where = "parameter " .. (type(p.name) == "string" and "'" .. p.name .. "'" or "#" .. i)
  if type(p.name) ~= "string" or not p.name:match(NAME) then
    problems[#problems + 1] = where .. ": name must match [a-z][a-z0-9_]*"
  elseif seen[p.name] then
    problems[#problems + 1] = where .. " is declared twice"
  end
  seen[p.name or i] = true
  if not M.TYPES[p.type] then
    problems[#problems + 1] = where .. ": unknown type '" .. tostring(p.type) .. "'"
    return
  end
  if type(p.help) ~= "string" or p.help == "" then problems[#problems + 1] = where .. ": 'help' is missing" end
  if p.type == "choice" and (type(p.choices) ~= "table" or #p.choices == 0) then
    problems[#problems + 1] = where .. ": a choice needs 'choices'"
  end
  if p.default ~= nil then
    local _, err = M.TYPES[p.type](p.default, p)
    if err then problems[#problems + 1] = where .. ": default " .. err end
  elseif not p.required then
    problems[#problems + 1] = where .. ": give a default or mark it required"
  end
end

function M.check_specs(specs)
  local problems, seen = {}, {}
  if specs == nil then return problems end
  if type(specs) ~= "table" then return { "field 'params' must be a list" } end
  for i, p in ipairs(specs) do
    if type(p) ~= "table" then problems[#problems + 1] = "parameter #" .. i .. " must be a table"
    else check_spec(p, i, problems, seen) end
  end
  return problems
end

local function names(specs)
  local n = {}
  for _, p in ipairs(specs) do n[#n + 1] = p.name end
  return #n > 0 and table.concat(n, ", ") or "none"
end

-- coerce(specs, given, label) -> values (by name), ordered list {name,type,value} | nil, message
-- given: map name -> raw value. label: "insight 'x'" for messages.
function M.coerce(specs, given, label)
  specs = specs or {}
  local byname = {}
  for _, p in ipairs(specs) do byname[p.name] = p end
  for k in pairs(given) do
    if not byname[k] then
      return nil, string.format("%s has no parameter '%s' (parameters: %s)", label, tostring(k), names(specs))
    end
  end
  local values, ordered = {}, {}
  for _, p in ipairs(specs) do
    local raw = given[p.name]
    if raw == nil then raw = p.default end
    if raw == nil then return nil, string.format("%s: parameter '%s' is required (%s)", label, p.name, p.help) end
    local v, err = M.TYPES[p.type](raw, p)
    if v == nil then return nil, string.format("%s: parameter '%s': %s", label, p.name, err) end
    values[p.name] = v
    ordered[#ordered + 1] = { name = p.name, type = p.type, value = v }
  end
  return values, ordered
end

return M
