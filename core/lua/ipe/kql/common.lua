-- ipe.kql.common: what the KQL compiler's modules share — typed expression values, the
-- columns of a relation, the names Kusto derives for columns, let environments.
--
--   E(sql, type [, extra]) -> an expression {sql=, type=, lit=, null=, col=, agg=, ...}
--   NUMERIC[type], ORD (the hidden order column of a serialized row set)
--   find_col(rel, name) -> column, index; col_names(rel); copy_cols(cols)
--   is_string(e); const_span(e) -> a literal timespan's seconds or nil
--   derived_name(node) -> the name Kusto gives an unnamed column (Col, Col_field), or nil
--   first_column(node) -> the first column an expression names (aggregates' default names)
--   lookup(env, name), child(env): let environments
--   wildcard(pattern) -> a Lua pattern of a column wildcard (Col*)
local M = {}

local NUMERIC = { long = true, int = true, real = true }

local ORD = "_ipe_ord"

local function is_string(e) return e.type == "string" end

local function child(env) return { vars = {}, parent = env } end

local function const_span(e) return e.lit ~= nil and e.type == "timespan" and e.lit or nil end

local NAME_KEEPING = { tostring = true, toint = true, tolong = true, toreal = true, todouble = true,
  todatetime = true, tobool = true, toboolean = true, todynamic = true, parse_json = true, tolower = true,
  toupper = true, trim = true, bin = true, floor = true }

local function find_col(rel, name)
  for i, c in ipairs(rel.cols) do if c.name == name then return c, i end end
end

local function col_names(rel)
  local list = {}
  for i, c in ipairs(rel.cols) do list[i] = c.name end
  return list
end

local function copy_cols(cols)
  local out = {}
  for i, c in ipairs(cols) do out[i] = { name = c.name, type = c.type } end
  return out
end

local function E(sql, ty, extra)
  local e = extra or {}
  e.sql, e.type = sql, ty
  return e
end

local function derived_name(node)
  if node.k == "name" then return node.v end
  if node.k == "member" then
    local base = derived_name(node.e)
    return base and base .. "_" .. node.field
  end
  if node.k == "index" and node.idx.k == "lit" then
    local base = derived_name(node.e)
    return base and base .. "_" .. tostring(node.idx.v)
  end
  if node.k == "call" and NAME_KEEPING[node.name] and node.args[1] then return derived_name(node.args[1]) end
end

local function first_column(node)
  if type(node) ~= "table" then return nil end
  if node.k == "name" then return node.v end
  if node.k == "member" then return derived_name(node) end
  for _, key in ipairs({ "e", "l", "r", "args" }) do
    local v = node[key]
    if v then
      if v.k then
        local n = first_column(v)
        if n then return n end
      else
        for _, a in ipairs(v) do local n = first_column(a) if n then return n end end
      end
    end
  end
end

local function lookup(env, name)
  while env do
    local v = env.vars[name]
    if v then return v end
    env = env.parent
  end
end

local function wildcard(pattern)
  return "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

M.NUMERIC, M.ORD, M.E, M.is_string, M.const_span = NUMERIC, ORD, E, is_string, const_span
M.find_col, M.col_names, M.copy_cols = find_col, col_names, copy_cols
M.derived_name, M.first_column, M.lookup, M.child, M.wildcard = derived_name, first_column, lookup, child, wildcard

return M
