-- ipe.serial: exact transport of plain Lua data between a worker process and
-- the runtime (tables, strings, numbers, booleans and cjson.null).
--
-- dump(v) -> Lua source text; undump(text) -> v. Integers stay exact (unlike
-- JSON through lua-cjson, which keeps 14 digits). undump evaluates the text with
-- an empty environment and text mode only: it can build tables, nothing else.
local null = require("cjson").null

local M = {}

local fmt, concat = string.format, table.concat

local function number(n)
  if n ~= n then return "0/0" end
  if n == math.huge then return "1/0" end
  if n == -math.huge then return "-1/0" end
  if n % 1 == 0 and n > -2^53 and n < 2^53 then return fmt("%d", n) end
  return fmt("%.17g", n)
end

local dump

local function dump_table(t, out, seen)
  if seen[t] then error("serial: a table refers to itself", 0) end
  seen[t] = true
  out[#out + 1] = "{"
  local n = #t
  for i = 1, n do
    dump(t[i], out, seen)
    out[#out + 1] = ","
  end
  for k, v in pairs(t) do
    local tk = type(k)
    if not (tk == "number" and k >= 1 and k <= n and k % 1 == 0) then
      if tk ~= "string" and tk ~= "number" then error("serial: a table key of type " .. tk, 0) end
      out[#out + 1] = "["
      dump(k, out, seen)
      out[#out + 1] = "]="
      dump(v, out, seen)
      out[#out + 1] = ","
    end
  end
  out[#out + 1] = "}"
  seen[t] = nil
end

dump = function(v, out, seen)
  local t = type(v)
  if t == "string" then out[#out + 1] = fmt("%q", v)
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "boolean" or t == "nil" then out[#out + 1] = tostring(v)
  elseif v == null then out[#out + 1] = "N"
  elseif t == "table" then dump_table(v, out, seen)
  else error("serial: cannot carry a value of type " .. t, 0) end
end

function M.dump(v)
  local out = { "return " }
  dump(v, out, {})
  return concat(out)
end

function M.undump(text)
  local fn, err = load(text, "=worker result", "t", { N = null })
  if not fn then return nil, err end
  local ok, v = pcall(fn)
  if not ok then return nil, v end
  return v
end

return M
