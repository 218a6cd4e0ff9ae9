-- ipe.getopt: getopt_long-style parsing of a verb's arguments.
--
-- spec = { {"since", arg=true}, {"format", "f", arg=true}, {"param", "p", arg=true, multi=true},
--          {"verbose", "v"}, {"help", "h"} }
-- parse(args, spec, verb) -> opts, positionals. Accepts --name value, --name=value,
-- -x value, -xvalue, bundled short flags (-vh), "--" to end options, and options
-- after positionals (GNU permutation). Errors raise a usage error (exit 2).
local errors = require "ipe.errors"

local M = {}

local function index(spec)
  local long, short = {}, {}
  for _, o in ipairs(spec) do
    long[o[1]] = o
    if o[2] then short[o[2]] = o end
  end
  return long, short
end

local function store(opts, o, value)
  local key = o[1]:gsub("-", "_")
  if o.multi then
    opts[key] = opts[key] or {}
    table.insert(opts[key], value)
  elseif o.arg then
    opts[key] = value
  else
    opts[key] = true
  end
end

local function take_value(args, i, o, verb, shown)
  local v = args[i + 1]
  if v == nil then errors.usage("%s: option %s needs a value", verb, shown) end
  return v, i + 1
end

local function parse_long(args, i, long, opts, verb)
  local a = args[i]
  local name, value = a:match("^%-%-([^=]+)=(.*)$")
  name = name or a:sub(3)
  local o = long[name]
  if not o then errors.usage("%s: unknown option --%s (see 'ipe-run %s --help')", verb, name, verb) end
  if o.arg and value == nil then value, i = take_value(args, i, o, verb, "--" .. name) end
  if not o.arg and value ~= nil then errors.usage("%s: option --%s takes no value", verb, name) end
  store(opts, o, value)
  return i
end

local function parse_short(args, i, short, opts, verb)
  local a = args[i]
  local j = 2
  while j <= #a do
    local c = a:sub(j, j)
    local o = short[c]
    if not o then errors.usage("%s: unknown option -%s (see 'ipe-run %s --help')", verb, c, verb) end
    if o.arg then
      local value = a:sub(j + 1)
      if value == "" then value, i = take_value(args, i, o, verb, "-" .. c) end
      store(opts, o, value)
      return i
    end
    store(opts, o)
    j = j + 1
  end
  return i
end

function M.parse(args, spec, verb)
  local long, short = index(spec)
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for k = i + 1, #args do pos[#pos + 1] = args[k] end
      break
    elseif a:sub(1, 2) == "--" then
      i = parse_long(args, i, long, opts, verb)
    elseif a:sub(1, 1) == "-" and #a > 1 then
      i = parse_short(args, i, short, opts, verb)
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

return M
