-- ipe.kql.aggregates: summarize's aggregation functions. install(C) gives the compiler
-- C:aggregate(node, scope) -> expression, default column name (count_, dcount_X, max_X,
-- set_X ...); an expression may carry post(col), a step applied after the aggregation
-- (SQLite's aggregates take no limit or percentile). AGG names the aggregations.
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local err = require "ipe.kql.err"
local h = require "ipe.kql.common"

local raise = err.raise
local format = string.format
local E, is_string, first_column = h.E, h.is_string, h.first_column

local M = {}

local AGG = {
  count = true, countif = true, dcount = true, dcountif = true, sum = true, sumif = true, min = true,
  max = true, avg = true, avgif = true, minif = true, maxif = true, arg_max = true, arg_min = true,
  make_set = true, makeset = true, make_list = true, makelist = true, make_set_if = true,
  make_list_if = true, take_any = true, any = true, stdev = true, variance = true, percentile = true,
  make_bag = true, count_distinct = true, stdevp = true, variancep = true,
}
M.AGG = AGG

function M.install(C)
-- aggregation calls: {sql=, type=, default name}
function C:aggregate(node, scope)
  local name = node.name
  local base = { rel = scope.rel, env = scope.env }
  local function arg(i) return self:expr(node.args[i], base) end
  local function argname(i, prefix)
    local n = node.args[i] and first_column(node.args[i])
    return prefix .. (n or "")
  end
  local nargs = #node.args
  local function need(lo, hi)
    if nargs < lo or nargs > (hi or lo) then
      if lo == (hi or lo) then raise(node, "'%s' takes %d argument%s, got %d", name, lo, lo == 1 and "" or "s", nargs) end
      raise(node, "'%s' takes %d to %d arguments, got %d", name, lo, hi, nargs)
    end
  end
  if name == "count" then
    need(0, 1)
    if nargs == 1 then local a = arg(1); return E(format("count(%s)", a.sql), "long"), argname(1, "count_") end
    return E("count(*)", "long"), "count_"
  elseif name == "countif" then
    need(1); local p = arg(1)
    return E(format("sum(CASE WHEN %s THEN 1 ELSE 0 END)", p.sql), "long"), "countif_"
  elseif name == "dcount" or name == "count_distinct" then
    need(1, 2); local a = arg(1)
    return E(format("count(DISTINCT %s)", is_string(a) and self:str(a) or self:scalar(a)), "long"), argname(1, "dcount_")
  elseif name == "dcountif" then
    need(2, 3); local a, p = arg(1), arg(2)
    return E(format("count(DISTINCT CASE WHEN %s THEN %s END)", p.sql, is_string(a) and self:str(a) or self:scalar(a)), "long"), argname(1, "dcountif_")
  elseif name == "sum" or name == "min" or name == "max" or name == "avg" or name == "stdev" or name == "variance" then
    need(1); local a = arg(1)
    local ty = a.type
    if name == "avg" or ty == "dynamic" then ty = (ty == "timespan") and ty or "real" end
    if name == "sum" and ty == "bool" then ty = "long" end
    local fn = name == "sum" and "total" or name
    if name == "sum" and (ty == "long") then fn = "sum" end
    if name == "stdev" or name == "variance" then
      local x = self:scalar(a)
      -- (in real arithmetic: integer columns would divide as integers)
      local var = format("((sum((%s) * (%s)) - sum(%s) * 1.0 * sum(%s) / count(%s)) / nullif(count(%s) - 1, 0))", x, x, x, x, x, x)
      return E(name == "variance" and var or "sqrt(" .. var .. ")", "real"), argname(1, name .. "_")
    end
    local x = self:scalar(a)
    if is_string(a) and (name == "min" or name == "max") then x = format("nullif(%s, '')", a.sql) end
    local s = format("%s(%s)", fn, x)
    if fn == "total" and self.f.total then s = self.f.total(x) end
    if name == "sum" and fn == "sum" then s = format("coalesce(sum(%s), 0)", x) end
    return E(s, ty), argname(1, name .. "_")
  elseif name == "stdevp" or name == "variancep" then
    -- the population variance: the mean of the squares less the square of the mean (nulls left
    -- out); stdevp its square root, a rounding below zero read as 0
    need(1); local x = self:scalar(arg(1))
    local var = format("(avg((%s) * (%s)) - avg(%s) * avg(%s))", x, x, x, x)
    if name == "stdevp" then var = format("sqrt(CASE WHEN %s < 0 THEN 0.0 ELSE %s END)", var, var) end
    return E(var, "real"), argname(1, name .. "_")
  elseif name == "sumif" or name == "avgif" or name == "minif" or name == "maxif" then
    need(2); local a, p = arg(1), arg(2)
    local fn = name:sub(1, -3)
    local ty = fn == "avg" and "real" or a.type
    local s = format("%s(CASE WHEN %s THEN %s END)", fn == "sum" and "total" or fn, p.sql, self:scalar(a))
    if fn == "sum" and self.f.total then s = self.f.total(format("CASE WHEN %s THEN %s END", p.sql, self:scalar(a))) end
    if fn == "sum" and ty == "long" then s = format("coalesce(sum(CASE WHEN %s THEN %s END), 0)", p.sql, self:scalar(a)) end
    return E(s, ty), argname(1, name .. "_")
  elseif name == "make_set" or name == "makeset" or name == "make_list" or name == "makelist"
      or name == "make_set_if" or name == "make_list_if" then
    local cond
    local is_if = name:match("_if$")
    if is_if then need(2, 3) else need(1, 2) end
    local a = arg(1)
    if is_if then cond = arg(2).sql end
    local x = a.type == "dynamic" and format("json(%s)", a.sql) or a.sql
    if a.type == "dynamic" and self.f.nested then x = a.sql end   -- its JSON text, an element as it is
    -- Kusto's strings are never null: "" is a value, as dcount() counts it (nulls of the other types are left out)
    if is_string(a) then x = self:str(a) end
    local set = name:match("set")
    local limit = node.args[is_if and 3 or 2]
    local s
    if limit and self.f.nested then
      -- the aggregate takes the limit itself (groupUniqArray(N), groupArray(N)): a literal number
      local l = self:expr(limit, base)
      if type(l.lit) ~= "number" then self:refused(limit, name .. " with a limit that is not a literal number") end
      s = set and self.f.agg_set(x, cond, a.type, l.sql) or self.f.agg_list(x, cond, a.type, l.sql)
      return E(s, "dynamic"), argname(1, set and "set_" or "list_")
    end
    s = set and self.f.agg_set(x, cond, a.type) or self.f.agg_list(x, cond, a.type)
    local post
    if limit then
      local l = self:expr(limit, base)
      -- the first N of the aggregate, cut after the aggregation (SQLite's aggregates take no limit)
      post = function(col) return format("(SELECT json_group_array(json(value)) FROM (SELECT CASE WHEN type IN ('object', 'array') THEN value ELSE json_quote(value) END AS value FROM json_each(%s) LIMIT %s))", col, l.sql) end
    end
    return E(s, "dynamic", { post = post }), argname(1, set and "set_" or "list_")
  elseif name == "take_any" or name == "any" then
    need(1); local a = arg(1)
    return E(format("max(%s)", a.sql), a.type), argname(1, "any_")
  elseif name == "make_bag" then
    need(1, 2); local a = arg(1)
    local x = self:dyn(a)
    -- the bags gathered, merged after the aggregation (the later key wins)
    local post = function(col)
      return format("(SELECT json_group_object(j.key, %s) FROM json_each(%s) b, json_each(CASE WHEN b.type = 'object' "
        .. "THEN b.value ELSE '{}' END) j)", "CASE WHEN j.type IN ('object', 'array') THEN json(j.value) WHEN j.type = 'true' "
        .. "THEN json('true') WHEN j.type = 'false' THEN json('false') ELSE j.value END", col)
    end
    return E(format("json_group_array(json(%s)) FILTER (WHERE json_valid(%s))", x, x), "dynamic", { post = post }),
      "bag_" .. (first_column(node.args[1]) or "")
  elseif name == "percentile" then
    need(2); local a, p = arg(1), arg(2)
    if p.lit == nil then raise(node.args[2], "'percentile' needs a literal percentage") end
    local x = self:scalar(a)
    -- nearest rank over the sorted values (Kusto estimates; this is exact)
    local post = function(col)
      return format("(SELECT value FROM (SELECT value, row_number() OVER (ORDER BY value) AS rn, count(*) OVER () AS n FROM json_each(%s)) "
        .. "WHERE rn = max(1, CAST(ceil(%s / 100.0 * n) AS INTEGER)))", col, p.sql)
    end
    local pct = tostring(p.lit):gsub("%.", "_")
    return E(format("json_group_array(%s) FILTER (WHERE %s IS NOT NULL)", x, x), a.type, { post = post }),
      "percentile_" .. (first_column(node.args[1]) or "") .. "_" .. pct
  end
  raise(node, "'%s' is not supported", name)
end

end

return M
