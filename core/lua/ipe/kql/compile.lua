-- ipe.kql.compile: the typed plan of a parsed KQL query against the workspace schema, and
-- its SQL. Each tabular operator becomes one common table expression over the one before
-- it; each relation knows its columns and their Kusto types. Every literal of the query
-- becomes a bound parameter (:k1, :k2 ...): the SQL text holds only names and operators.
--
--   compile(prog, opts) -> { sql=, binds={name=value}, params={{name=, value=}, ...},
--                            columns={{name=, type=}, ...} }
--   opts: engine (an ipe.kql.<engine> fragment module), now (epoch seconds),
--         window = {from=, to=} (workspace time text) applied to every table scan when the
--         query has no TimeGenerated filter of its own, lets = {name = Lua value} (values
--         of let bindings given from outside: a hunt's parameters)
local err = require "ipe.kql.err"
local util = require "ipe.kql.util"
local schema = require "ipe.schema"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local M = {}

local C = {}
C.__index = C

local raise = err.raise
local format, concat = string.format, table.concat

local NUMERIC = { long = true, int = true, real = true }
local ORD = "_ipe_ord"

-- ---------------------------------------------------------------- state helpers

function C:bind(v)
  self.n = self.n + 1
  local name = "k" .. self.n
  self.binds[name] = v
  self.params[#self.params + 1] = { name = name, value = v }
  return ":" .. name
end

function C:q(name) return self.f.ident(name) end

function C:cte(sql)
  self.nctes = self.nctes + 1
  local name = "_k" .. self.nctes
  self.ctes[#self.ctes + 1] = self:q(name) .. " AS (" .. sql .. ")"
  return name
end

-- a relation: {name = CTE or table, cols = {{name=, type=}}, ord = column name or nil}
local function find_col(rel, name)
  for i, c in ipairs(rel.cols) do if c.name == name then return c, i end end
end

local function col_names(rel)
  local list = {}
  for i, c in ipairs(rel.cols) do list[i] = c.name end
  return list
end

function C:unknown_column(at, name, rel)
  local s = util.suggest(name, col_names(rel))
  if s then raise(at, "unknown column '%s' (did you mean %s?)", name, s) end
  raise(at, "unknown column '%s'", name)
end

-- the select list of every column of rel (plus its order column)
function C:all_cols(rel, alias, skip)
  local list = {}
  for _, c in ipairs(rel.cols) do
    if not (skip and skip[c.name]) then
      list[#list + 1] = (alias and alias .. "." or "") .. self:q(c.name)
    end
  end
  if rel.ord then list[#list + 1] = (alias and alias .. "." or "") .. self:q(rel.ord) end
  return list
end

local function copy_cols(cols)
  local out = {}
  for i, c in ipairs(cols) do out[i] = { name = c.name, type = c.type } end
  return out
end

-- ---------------------------------------------------------------- typed expressions
-- An expression compiles to {sql=, type=, lit=<constant Lua value or nil>, null=<a null literal>,
-- col=<column name when a plain column>, agg=<holds an aggregation>}

local function E(sql, ty, extra)
  local e = extra or {}
  e.sql, e.type = sql, ty
  return e
end

-- a string expression whose NULL reads as "" (Kusto's strings are never null)
function C:str(e)
  if e.type == "dynamic" then return "coalesce(" .. self.f.json_value(e.sql) .. ", '')" end
  if e.lit ~= nil and e.type == "string" then return e.sql end
  if e.type == "bool" then return "(CASE WHEN " .. e.sql .. " IS NULL THEN '' WHEN " .. e.sql .. " THEN 'true' ELSE 'false' END)" end
  if e.type ~= "string" then return "coalesce(" .. self.f.to_text(e.sql) .. ", '')" end
  return "coalesce(" .. e.sql .. ", '')"
end

-- the scalar value of an expression (a dynamic's JSON scalar unwrapped)
function C:scalar(e)
  if e.type == "dynamic" then return e.scalar or self.f.json_value(e.sql) end
  return e.sql
end

-- the JSON text of an expression, as a dynamic
function C:dyn(e)
  if e.type == "dynamic" then return e.sql end
  if e.type == "bool" then return "(CASE WHEN " .. e.sql .. " THEN 'true' WHEN NOT " .. e.sql .. " THEN 'false' END)" end
  if NUMERIC[e.type] then return "CAST(" .. e.sql .. " AS TEXT)" end
  return self.f.json_quote(e.sql)
end

function C:lit(v, ty, at)
  if v == nil then return E("NULL", ty, { null = true, at = at }) end
  local bound = v
  if ty == "datetime" then
    bound = timeutil.format_time(v)
    if not bound then raise(at, "datetime out of range") end
  elseif ty == "bool" then bound = v and 1 or 0
  elseif ty == "dynamic" then bound = cjson.encode(v)
  end
  return E(self:bind(bound), ty, { lit = v, at = at })
end

local function is_string(e) return e.type == "string" end

-- the Kusto name a column gets from an expression without one, or nil
local NAME_KEEPING = { tostring = true, toint = true, tolong = true, toreal = true, todouble = true,
  todatetime = true, tobool = true, toboolean = true, todynamic = true, parse_json = true, tolower = true,
  toupper = true, trim = true, bin = true, floor = true }
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

-- ---------------------------------------------------------------- environments (let)

local function lookup(env, name)
  while env do
    local v = env.vars[name]
    if v then return v end
    env = env.parent
  end
end

local function child(env) return { vars = {}, parent = env } end

-- ---------------------------------------------------------------- scalar expressions

-- scope: {rel=, alias=, env=, agg=<allow aggregations>, serial=<rel is serialized>}
function C:expr(node, scope)
  local k = node.k
  if k == "lit" then
    if node.type == "long" and node.v and node.v % 1 ~= 0 then return self:lit(node.v, "real", node) end
    return self:lit(node.v, node.type, node)
  elseif k == "name" then
    return self:name_expr(node, scope)
  elseif k == "bin" then
    return self:binary(node, scope)
  elseif k == "neg" then
    local e = self:expr(node.e, scope)
    return E("(-" .. e.sql .. ")", e.type)
  elseif k == "call" then
    return self:call(node, scope)
  elseif k == "member" or k == "index" then
    return self:member(node, scope)
  elseif k == "inlist" then
    return self:inlist(node, scope)
  elseif k == "between" then
    local e, lo, hi = self:expr(node.e, scope), self:expr(node.lo, scope), self:expr(node.hi, scope)
    local x = self:scalar(e)
    if e.type == "datetime" and hi.type == "timespan" then
      hi = E(self.f.from_epoch(self.f.epoch(lo.sql) .. " + " .. hi.sql), "datetime")
    end
    local s = format("(%s BETWEEN %s AND %s)", x, self:scalar(lo), self:scalar(hi))
    if node.neg then s = format("(NOT %s)", s) end
    return E(s, "bool")
  elseif k == "star" then
    raise(node, "'*' is not a value here")
  elseif k == "pipe" or k == "datatable" or k == "union" then
    raise(node, "a tabular expression where a scalar was expected")
  elseif k == "tuple" then
    raise(node, "a list where a scalar was expected")
  end
  raise(node, "unsupported expression")
end

function C:name_expr(node, scope)
  local name = node.v
  local rel = scope.rel
  if rel then
    local c = find_col(rel, name)
    if c then
      return E((scope.alias and scope.alias .. "." or "") .. self:q(name), c.type, { col = name })
    end
  end
  local v = lookup(scope.env, name)
  if v then
    if v.kind == "scalar" then
      if v.compiled then return v.compiled end
      local sub = { rel = scope.rel, alias = scope.alias, env = v.env, agg = scope.agg, serial = scope.serial,
        rowscope = scope.rowscope }
      return self:expr(v.node, sub)
    elseif v.kind == "thunk" then
      return self:expr(v.node, { rel = scope.rel, alias = scope.alias, env = v.env, agg = scope.agg, serial = scope.serial })
    elseif v.kind == "table" then
      raise(node, "'%s' is tabular: a scalar was expected here", name)
    elseif v.kind == "func" then
      raise(node, "'%s' is a function: call it as %s(...)", name, name)
    end
  end
  if name == "$left" or name == "$right" then raise(node, "'%s' is valid only in a join's 'on' clause", name) end
  if rel then self:unknown_column(node, name, rel) end
  raise(node, "unknown name '%s'", name)
end

local CMP_SQL = { ["=="] = "=", ["!="] = "<>", ["<"] = "<", ["<="] = "<=", [">"] = ">", [">="] = ">=" }

local function glob_escape(s)
  return (s:gsub("[%[%*%?]", function(c) return "[" .. c .. "]" end))
end

function C:term_pattern(needle, cs)
  local n = cs and needle or needle:lower()
  local cls = cs and "[^a-zA-Z0-9]" or "[^a-z0-9]"
  local left = n:match("^[%w]") and ("*" .. cls) or "*"
  local right = n:match("[%w]$") and (cls .. "*") or "*"
  return self:bind(left .. glob_escape(n) .. right)
end

-- the positive form of a string operator
function C:string_op(op, l, r)
  local f = self.f
  local x = self:str(l)
  if op == "has" or op == "has_cs" or op == "hasprefix" or op == "hassuffix" then
    local cs = op == "has_cs"
    if r.lit ~= nil and type(r.lit) == "string" then
      if r.lit == "" then return "1" end
      if op == "hasprefix" then
        local n = r.lit:lower()
        return f.glob(x, self:bind((n:match("^%w") and "*[^a-z0-9]" or "*") .. glob_escape(n) .. "*"), false)
      elseif op == "hassuffix" then
        local n = r.lit:lower()
        return f.glob(x, self:bind("*" .. glob_escape(n) .. (n:match("%w$") and "[^a-z0-9]*" or "*")), false)
      end
      return f.glob(x, self:term_pattern(r.lit, cs), cs)
    end
    return f.glob(x, f.glob_term(self:str(r), cs), cs)
  elseif op == "contains" then return f.contains(x, self:str(r))
  elseif op == "contains_cs" then return f.contains_cs(x, self:str(r))
  elseif op == "startswith" then return f.starts(x, self:str(r), false)
  elseif op == "startswith_cs" then return f.starts(x, self:str(r), true)
  elseif op == "endswith" then return f.ends(x, self:str(r), false)
  elseif op == "endswith_cs" then return f.ends(x, self:str(r), true)
  elseif op == "matches" then return f.regex_match(x, self:str(r))
  end
end

local function arith_type(op, a, b, at)
  local ta, tb = a.type, b.type
  if ta == "datetime" and tb == "datetime" and op == "-" then return "timespan" end
  if ta == "datetime" and tb == "timespan" and (op == "+" or op == "-") then return "datetime" end
  if ta == "timespan" and tb == "datetime" and op == "+" then return "datetime" end
  if ta == "timespan" and tb == "timespan" then return op == "/" and "real" or "timespan" end
  if ta == "timespan" and NUMERIC[tb] and (op == "*" or op == "/") then return "timespan" end
  if NUMERIC[ta] and tb == "timespan" and op == "*" then return "timespan" end
  if ta == "dynamic" or tb == "dynamic" then return "real" end
  if NUMERIC[ta] and NUMERIC[tb] then
    if ta == "real" or tb == "real" then return "real" end
    return "long"
  end
  if ta == "bool" and NUMERIC[tb] or tb == "bool" and NUMERIC[ta] then return "long" end
  if a.null or b.null then return NUMERIC[ta] and ta or tb end
  raise(at, "'%s' cannot apply to %s and %s", op, ta, tb)
end

function C:binary(node, scope)
  local op = node.op
  local f = self.f
  if op == "and" or op == "or" then
    local l, r = self:expr(node.l, scope), self:expr(node.r, scope)
    return E(format("(%s %s %s)", l.sql, op:upper(), r.sql), "bool", { agg = l.agg or r.agg })
  end
  local l, r = self:expr(node.l, scope), self:expr(node.r, scope)
  local agg = l.agg or r.agg
  if op == "+" or op == "-" or op == "*" or op == "/" or op == "%" then
    local ty = arith_type(op, l, r, node)
    if ty == "datetime" then
      local t, s = l, r
      if l.type == "timespan" then t, s = r, l end
      return E(f.from_epoch(format("(%s %s %s)", f.epoch(t.sql), op, s.sql)), "datetime", { agg = agg })
    end
    if l.type == "datetime" and r.type == "datetime" then
      return E("round(" .. f.seconds_between(r.sql, l.sql) .. ", 3)", "timespan", { agg = agg })
    end
    local a, b = self:scalar(l), self:scalar(r)
    if op == "/" and ty == "real" and l.type ~= "real" and r.type ~= "real" then a = "CAST(" .. a .. " AS REAL)" end
    return E(format("(%s %s %s)", a, op, b), ty, { agg = agg })
  end
  if CMP_SQL[op] then
    if is_string(l) or is_string(r) then
      local sop = CMP_SQL[op]
      if op == "==" and ((r.lit ~= nil and r.lit ~= "" and is_string(r)) or (l.lit ~= nil and l.lit ~= "" and is_string(l))) then
        return E(format("(%s = %s)", self:scalar(l), self:scalar(r)), "bool", { agg = agg })
      end
      return E(format("(%s %s %s)", self:str(l), sop, self:str(r)), "bool", { agg = agg })
    end
    if l.type == "datetime" and r.type == "string" then r = E(f.to_datetime(r.sql), "datetime") end
    return E(format("(%s %s %s)", self:scalar(l), CMP_SQL[op], self:scalar(r)), "bool", { agg = agg })
  end
  if op == "=~" or op == "!~" then
    local s = f.ci_equal(self:str(l), self:str(r))
    return E(op == "=~" and s or "(NOT " .. s .. ")", "bool", { agg = agg })
  end
  local neg = op:sub(1, 1) == "!"
  local pos = self:string_op(neg and op:sub(2) or op, l, r)
  if not pos then raise(node, "'%s' is not supported", op) end
  if neg then return E(format("(NOT coalesce(%s, 0))", pos), "bool", { agg = agg }) end
  return E(pos, "bool", { agg = agg })
end

-- the values of the right of in / has_any: {sql list} or a subquery text
function C:value_list(node, scope)
  local items, sub = {}, nil
  for _, a in ipairs(node.list) do
    if a.k == "pipe" or (a.k == "name" and not (scope.rel and find_col(scope.rel, a.v)) and self:is_tabular_name(a, scope.env)) then
      local rel = self:tabular(a, scope.env)
      sub = format("SELECT %s FROM %s", self:q(rel.cols[1].name), self:q(rel.name))
    else
      local e = self:expr(a, scope)
      if e.type == "dynamic" then
        sub = "SELECT value FROM json_each(" .. e.sql .. ")"
        if #node.list > 1 then raise(a, "a dynamic array must be the only value of the list") end
      else
        items[#items + 1] = e
      end
    end
  end
  return items, sub
end

function C:inlist(node, scope)
  local f = self.f
  local e = self:expr(node.e, scope)
  local items, sub = self:value_list(node, scope)
  local op = node.op
  if op == "has_any" or op == "has_all" then
    local x = self:str(e)
    if sub then
      local cond = format("(' ' || lower(%s) || ' ') GLOB %s", x, f.glob_term("lower(CAST(v.value AS TEXT))", false))
      if op == "has_any" then
        return E(format("EXISTS (SELECT 1 FROM (%s) v(value) WHERE %s)", sub, cond), "bool")
      end
      return E(format("NOT EXISTS (SELECT 1 FROM (%s) v(value) WHERE NOT (%s))", sub, cond), "bool")
    end
    if #items == 0 then return E(op == "has_any" and "0" or "1", "bool") end
    local parts = {}
    for i, it in ipairs(items) do parts[i] = self:string_op("has", e, it) end
    return E("(" .. concat(parts, op == "has_any" and " OR " or " AND ") .. ")", "bool")
  end
  local ci = op == "in~" or op == "!in~"
  local neg = op:sub(1, 1) == "!"
  local x = is_string(e) and self:str(e) or self:scalar(e)
  if e.type == "dynamic" then x = "coalesce(" .. self:scalar(e) .. ", '')" end
  if ci then x = f.lower(x) end
  local s
  if sub then
    s = format("(%s IN (SELECT %s FROM (%s)))", x, ci and "lower(value)" or "value", (sub:gsub("^SELECT (.-) FROM", "SELECT %1 AS value FROM", 1)))
  else
    local parts = {}
    for i, it in ipairs(items) do
      local v = (is_string(it) or it.type == "dynamic") and self:str(it) or it.sql
      parts[i] = ci and f.lower(v) or v
    end
    if #parts == 0 then s = "0" else s = format("(%s IN (%s))", x, concat(parts, ", ")) end
  end
  if neg then s = format("(NOT coalesce(%s, 0))", s) end
  return E(s, "bool")
end

-- .field / ["field"] / [0] on a dynamic: a JSON path bound as a parameter
function C:member(node, scope)
  local path, base = {}, node
  while base.k == "member" or base.k == "index" do
    table.insert(path, 1, base)
    base = base.e
  end
  local b = self:expr(base, scope)
  if b.type ~= "dynamic" then
    if b.type == "string" then b = E(self.f.parse_json(b.sql), "dynamic")
    else raise(node, "'.%s' needs a dynamic value, found %s", node.field or "[...]", b.type) end
  end
  local parts, dynamic_index = { "$" }, nil
  for _, p in ipairs(path) do
    if p.k == "member" then
      parts[#parts + 1] = '."' .. p.field:gsub('"', '\\"') .. '"'
    else
      local idx = p.idx
      if idx.k == "lit" and type(idx.v) == "string" then
        parts[#parts + 1] = '."' .. idx.v:gsub('"', '\\"') .. '"'
      elseif idx.k == "lit" and type(idx.v) == "number" then
        parts[#parts + 1] = idx.v < 0 and ("[#" .. math.floor(idx.v) .. "]") or ("[" .. math.floor(idx.v) .. "]")
      else
        dynamic_index = true
        local ie = self:expr(idx, scope)
        parts[#parts + 1] = { sql = ie }
      end
    end
  end
  local p
  if dynamic_index then
    local segs = {}
    for _, s in ipairs(parts) do
      if type(s) == "string" then segs[#segs + 1] = self:bind(s)
      elseif NUMERIC[s.sql.type] then segs[#segs + 1] = "'[' || " .. s.sql.sql .. " || ']'"
      else segs[#segs + 1] = "'.\"' || " .. self:str(s.sql) .. " || '\"'" end
    end
    p = "(" .. concat(segs, " || ") .. ")"
  else
    p = self:bind(concat(parts))
  end
  return E(self.f.json_get(b.sql, p), "dynamic", { scalar = self.f.json_scalar(b.sql, p), agg = b.agg })
end

-- ---------------------------------------------------------------- functions

local AGG = {
  count = true, countif = true, dcount = true, dcountif = true, sum = true, sumif = true, min = true,
  max = true, avg = true, avgif = true, minif = true, maxif = true, arg_max = true, arg_min = true,
  make_set = true, makeset = true, make_list = true, makelist = true, make_set_if = true,
  make_list_if = true, take_any = true, any = true, stdev = true, variance = true, percentile = true,
  make_bag = true, count_distinct = true,
}
M.AGG = AGG

function C:args(node, scope, n1, n2)
  local args = node.args
  if #args < n1 or #args > (n2 or n1) then
    if n1 == (n2 or n1) then
      raise(node, "'%s' takes %d argument%s, got %d", node.name, n1, n1 == 1 and "" or "s", #args)
    end
    raise(node, "'%s' takes %d to %d arguments, got %d", node.name, n1, n2, #args)
  end
  local out = {}
  for i, a in ipairs(args) do out[i] = self:expr(a, scope) end
  return out
end

function C:want_type(node, e, types, what)
  for _, t in ipairs(types) do if e.type == t or e.null then return e end end
  raise(node, "'%s' expects %s, got %s", node.name, what, e.type)
end

local function const_span(e) return e.lit ~= nil and e.type == "timespan" and e.lit or nil end

local SCALAR = {}

local function span_literal(node)
  local a = node.args[1]
  if #node.args == 1 and a.k == "lit" and a.type == "timespan" then return a.v end
end

function SCALAR.ago(self, node, scope)
  local lit = span_literal(node)
  if lit then return self:lit(self.now - lit, "datetime", node) end
  local a = self:args(node, scope, 1)[1]
  self:want_type(node, a, { "timespan" }, "a timespan")
  if const_span(a) then return self:lit(self.now - a.lit, "datetime", node) end
  return E(self.f.from_epoch(format("(%s - %s)", self.f.epoch(self:now_sql()), a.sql)), "datetime")
end
function SCALAR.now(self, node, scope)
  local lit = span_literal(node)
  if lit then return self:lit(self.now + lit, "datetime", node) end
  local a = self:args(node, scope, 0, 1)[1]
  if not a then return E(self:now_sql(), "datetime") end
  if const_span(a) then return self:lit(self.now + a.lit, "datetime", node) end
  return E(self.f.from_epoch(format("(%s + %s)", self.f.epoch(self:now_sql()), a.sql)), "datetime")
end
function SCALAR.todatetime(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "datetime" then return a end
  if a.lit ~= nil and type(a.lit) == "string" then
    local t = timeutil.parse_time(a.lit)
    return t and self:lit(t, "datetime", node) or E("NULL", "datetime", { null = true })
  end
  return E(self.f.to_datetime(self:scalar(a)), "datetime")
end
SCALAR.todate = SCALAR.todatetime
function SCALAR.tostring(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "string" then return E(self:str(a), "string") end
  if a.type == "timespan" then
    return E(self:timespan_text(a.sql), "string")
  end
  return E(self:str(a), "string")
end
function SCALAR.toint(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "long" or a.type == "int" then return a end
  if a.type == "bool" then return E(a.sql, "long") end
  return E(self.f.to_long(self:scalar(a)), "long")
end
SCALAR.tolong = SCALAR.toint
function SCALAR.toreal(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "real" then return a end
  return E(self.f.to_real(self:scalar(a)), "real")
end
SCALAR.todouble = SCALAR.toreal
SCALAR.todecimal = SCALAR.toreal
function SCALAR.tobool(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "bool" then return a end
  local x = self:scalar(a)
  return E(format("(CASE WHEN lower(CAST(%s AS TEXT)) IN ('true', '1') THEN 1 WHEN lower(CAST(%s AS TEXT)) IN ('false', '0') THEN 0 END)", x, x), "bool")
end
SCALAR.toboolean = SCALAR.tobool
function SCALAR.tolower(self, node, scope) return E(self.f.lower(self:str(self:args(node, scope, 1)[1])), "string") end
function SCALAR.toupper(self, node, scope) return E(self.f.upper(self:str(self:args(node, scope, 1)[1])), "string") end
function SCALAR.strcat(self, node, scope)
  local args = self:args(node, scope, 1, 64)
  local parts = {}
  for i, a in ipairs(args) do parts[i] = self:str(a) end
  return E(self.f.concat(parts), "string")
end
function SCALAR.strcat_delim(self, node, scope)
  local args = self:args(node, scope, 2, 64)
  local parts = {}
  for i = 2, #args do parts[#parts + 1] = self:str(args[i]); if i < #args then parts[#parts + 1] = self:str(args[1]) end end
  return E(self.f.concat(parts), "string")
end
function SCALAR.strlen(self, node, scope) return E(self.f.strlen(self:str(self:args(node, scope, 1)[1])), "long") end
function SCALAR.substring(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  return E(self.f.substring(self:str(a[1]), a[2].sql, a[3] and a[3].sql), "string")
end
function SCALAR.indexof(self, node, scope)
  local a = self:args(node, scope, 2)
  return E(self.f.indexof(self:str(a[1]), self:str(a[2])), "long")
end
function SCALAR.replace_string(self, node, scope)
  local a = self:args(node, scope, 3)
  return E(format("replace(%s, %s, %s)", self:str(a[1]), self:str(a[2]), self:str(a[3])), "string")
end
function SCALAR.trim_start(self, node, scope) raise(node, "'trim_start' is not supported") end
function SCALAR.split(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local arr = self.f.split(self:str(a[1]), self:str(a[2]))
  if a[3] then
    local el = self.f.json_get(arr, "'$[' || " .. a[3].sql .. " || ']'")
    return E(format("(CASE WHEN %s IS NULL THEN json_array() ELSE json_array(%s) END)", el, self.f.json_scalar(arr, "'$[' || " .. a[3].sql .. " || ']'")), "dynamic")
  end
  return E(arr, "dynamic")
end
function SCALAR.extract(self, node, scope)
  local a = self:args(node, scope, 3, 4)
  local s = self.f.regex_extract(self:str(a[1]), a[2].sql, self:str(a[3]))
  if a[4] then raise(node.args[4], "extract's typeof argument is not supported") end
  return E(s, "string")
end
function SCALAR.iff(self, node, scope)
  local a = self:args(node, scope, 3)
  local ty = a[2].null and a[3].type or a[2].type
  local x, y = a[2].sql, a[3].sql
  if ty == "dynamic" then x, y = self:dyn(a[2]), self:dyn(a[3]) end
  return E(format("(CASE WHEN %s THEN %s ELSE %s END)", a[1].sql, x, y), ty, { agg = a[1].agg or a[2].agg or a[3].agg })
end
SCALAR.iif = SCALAR.iff
function SCALAR.case(self, node, scope)
  local a = self:args(node, scope, 3, 255)
  if #a % 2 == 0 then raise(node, "'case' takes pairs of predicate and value, then the value otherwise") end
  local parts, ty = {}, nil
  for i = 1, #a - 1, 2 do
    parts[#parts + 1] = format("WHEN %s THEN %s", a[i].sql, a[i + 1].sql)
    if not a[i + 1].null then ty = ty or a[i + 1].type end
  end
  return E(format("(CASE %s ELSE %s END)", concat(parts, " "), a[#a].sql), ty or a[#a].type)
end
function SCALAR.coalesce(self, node, scope)
  local a = self:args(node, scope, 1, 64)
  local ty
  for _, e in ipairs(a) do if not e.null then ty = ty or e.type end end
  ty = ty or a[1].type
  local parts = {}
  for i, e in ipairs(a) do parts[i] = ty == "string" and ("nullif(" .. e.sql .. ", '')") or e.sql end
  if #parts == 1 then parts[2] = "NULL" end
  local s = "coalesce(" .. concat(parts, ", ") .. ")"
  if ty == "string" then s = "coalesce(" .. s .. ", '')" end
  return E(s, ty)
end
function SCALAR.isempty(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  local x = self:scalar(a)
  return E(format("(%s IS NULL OR CAST(%s AS TEXT) = '')", x, x), "bool")
end
function SCALAR.isnotempty(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  local x = self:scalar(a)
  return E(format("(%s IS NOT NULL AND CAST(%s AS TEXT) <> '')", x, x), "bool")
end
SCALAR.notempty = SCALAR.isnotempty
function SCALAR.isnull(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "string" then return E("0", "bool") end   -- a string is never null in Kusto
  if a.type == "dynamic" then return E(format("(%s IS NULL OR %s = 'null')", a.sql, a.sql), "bool") end
  return E(format("(%s IS NULL)", a.sql), "bool")
end
function SCALAR.isnotnull(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "string" then return E("1", "bool") end
  if a.type == "dynamic" then return E(format("(%s IS NOT NULL AND %s <> 'null')", a.sql, a.sql), "bool") end
  return E(format("(%s IS NOT NULL)", a.sql), "bool")
end
SCALAR.notnull = SCALAR.isnotnull
function SCALAR.parse_json(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  if a.type == "dynamic" then return a end
  if a.type ~= "string" then return E(self:dyn(a), "dynamic") end
  return E(self.f.parse_json(a.sql), "dynamic")
end
SCALAR.todynamic = SCALAR.parse_json
SCALAR.todynamic = SCALAR.parse_json
function SCALAR.array_length(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E(self.f.array_length(self:dyn(a)), "long")
end
SCALAR.arraylength = SCALAR.array_length
SCALAR.parsejson = SCALAR.parse_json

-- the elements of a JSON array as JSON values, in order, for json_group_array
local function element(alias)
  return format("CASE WHEN %s.type IN ('object', 'array') THEN json(%s.value) WHEN %s.type = 'true' THEN json('true') "
    .. "WHEN %s.type = 'false' THEN json('false') ELSE %s.value END", alias, alias, alias, alias, alias)
end

function SCALAR.array_slice(self, node, scope)
  local a = self:args(node, scope, 3)
  local arr, s, e = self:dyn(a[1]), a[2].sql, a[3].sql
  local len = "json_array_length(" .. arr .. ")"
  return E(format("(CASE WHEN json_valid(%s) AND json_type(%s) = 'array' THEN (SELECT json_group_array(%s) FROM json_each(%s) j "
    .. "WHERE j.key >= (CASE WHEN %s < 0 THEN %s + %s ELSE %s END) AND j.key <= (CASE WHEN %s < 0 THEN %s + %s ELSE %s END)) END)",
    arr, arr, element("j"), arr, s, len, s, s, e, len, e, e), "dynamic")
end

function SCALAR.strcat_array(self, node, scope)
  local a = self:args(node, scope, 2)
  local arr = self:dyn(a[1])
  return E(format("coalesce((CASE WHEN json_valid(%s) THEN (SELECT group_concat(CASE WHEN j.type IN ('object', 'array') THEN j.value "
    .. "WHEN j.type = 'true' THEN 'true' WHEN j.type = 'false' THEN 'false' ELSE coalesce(CAST(j.value AS TEXT), '') END, %s) "
    .. "FROM json_each(%s) j) END), '')", arr, self:str(a[2]), arr), "string")
end

-- range(start, stop, step): the array start, start + step, ... up to stop (at most 100000 values)
function SCALAR.range(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local f = self.f
  local step = a[3] and a[3].sql or (a[1].type == "datetime" and "3600" or "1")
  if a[1].type == "datetime" then
    return E(format("(WITH RECURSIVE r(v, n) AS (SELECT %s, 1 UNION ALL SELECT v + %s, n + 1 FROM r WHERE v + %s <= %s AND n < 100000) "
      .. "SELECT json_group_array(%s) FROM r)", f.epoch(a[1].sql), step, step, f.epoch(a[2].sql), f.from_epoch("v")), "dynamic")
  end
  return E(format("(WITH RECURSIVE r(v, n) AS (SELECT %s, 1 UNION ALL SELECT v + %s, n + 1 FROM r WHERE v + %s <= %s AND n < 100000) "
    .. "SELECT json_group_array(v) FROM r)", a[1].sql, step, step, a[2].sql), "dynamic")
end
function SCALAR.totimespan(self, node, scope)
  local a0 = node.args[1]
  if #node.args == 1 and a0.k == "lit" and type(a0.v) == "string" then
    local d, h, m, sec = a0.v:match("^(%d+)%.(%d+):(%d+):([%d%.]+)$")
    if not d then h, m, sec = a0.v:match("^(%d+):(%d+):([%d%.]+)$"); d = 0 end
    if h then return self:lit(d * 86400 + h * 3600 + m * 60 + tonumber(sec), "timespan", node) end
    local ok, toks = pcall(require("ipe.kql.lexer").lex, a0.v)
    if ok and toks[1].t == "span" and toks[2].t == "eof" then return self:lit(toks[1].v, "timespan", node) end
    return E("NULL", "timespan", { null = true })
  end
  local a = self:args(node, scope, 1)[1]
  if a.type == "timespan" then return a end
  if NUMERIC[a.type] then return E("(" .. a.sql .. " / 10000000.0)", "timespan") end   -- ticks
  raise(node, "'totimespan' of a %s that is not a literal is not supported", a.type)
end
local KTYPES = { string = "string", int = "long", long = "long", real = "real", double = "real", bool = "bool",
  boolean = "bool", datetime = "datetime", dynamic = "dynamic", timespan = "timespan" }
function SCALAR.extract_json(self, node, scope)
  if #node.args < 2 or #node.args > 3 then raise(node, "'%s' takes 2 or 3 arguments, got %d", node.name, #node.args) end
  local ty = "string"
  local t3 = node.args[3]
  if t3 then
    if not (t3.k == "call" and t3.name == "typeof" and t3.args[1] and t3.args[1].k == "name" and KTYPES[t3.args[1].v]) then
      raise(t3, "'%s' takes typeof(TYPE) as its third argument", node.name)
    end
    ty = KTYPES[t3.args[1].v]
  end
  local path, text = self:expr(node.args[1], scope), self:expr(node.args[2], scope)
  local x = self:str(text)
  if ty == "dynamic" then return E(self.f.json_get(x, path.sql), "dynamic") end
  local v = self.f.json_scalar(x, path.sql)
  if ty == "string" then return E("coalesce(" .. v .. ", '')", "string") end
  if ty == "long" then return E(self.f.to_long(v), "long") end
  if ty == "real" then return E(self.f.to_real(v), "real") end
  if ty == "datetime" then return E(self.f.to_datetime(v), "datetime") end
  return E(v, ty)
end
SCALAR.extractjson = SCALAR.extract_json
function SCALAR.column_ifexists(self, node, scope)
  local n = node.args[1]
  if #node.args ~= 2 or n.k ~= "lit" or type(n.v) ~= "string" then
    raise(node, "'column_ifexists' takes a column name (a string literal) and a default")
  end
  if scope.rel and find_col(scope.rel, n.v) then
    return self:name_expr({ k = "name", v = n.v, line = n.line, col = n.col, len = n.len }, scope)
  end
  return self:expr(node.args[2], scope)
end

function SCALAR.bag_keys(self, node, scope)
  return E(self.f.bag_keys(self:dyn(self:args(node, scope, 1)[1])), "dynamic")
end
function SCALAR.pack_array(self, node, scope)
  local a = self:args(node, scope, 0, 64)
  local parts = {}
  for i, e in ipairs(a) do parts[i] = e.type == "dynamic" and "json(" .. e.sql .. ")" or e.sql end
  return E(self.f.json_array(parts), "dynamic")
end
function SCALAR.bag_pack(self, node, scope)
  local a = self:args(node, scope, 0, 128)
  if #a % 2 == 1 then raise(node, "'%s' takes pairs of key and value", node.name) end
  local parts = {}
  for i = 1, #a, 2 do
    parts[#parts + 1] = self:str(a[i])
    parts[#parts + 1] = a[i + 1].type == "dynamic" and "json(" .. a[i + 1].sql .. ")" or a[i + 1].sql
  end
  return E(self.f.json_object(parts), "dynamic")
end
SCALAR.pack = SCALAR.bag_pack
function SCALAR.set_has_element(self, node, scope)
  local a = self:args(node, scope, 2)
  return E(self.f.set_has(self:dyn(a[1]), self:scalar(a[2])), "bool")
end
function SCALAR.not_(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E(format("(NOT coalesce(%s, 0))", a.sql), "bool", { agg = a.agg })
end
SCALAR["not"] = SCALAR.not_
function SCALAR.bin(self, node, scope)
  local a = self:args(node, scope, 2)
  if a[1].type == "datetime" then
    self:want_type(node, a[2], { "timespan" }, "a timespan as its second argument for a datetime")
    return E(self.f.time_bin(a[1].sql, a[2].sql, const_span(a[2])), "datetime")
  end
  if a[1].type == "timespan" then return E(self.f.num_bin(a[1].sql, a[2].sql), "timespan") end
  local ty = a[1].type == "real" and "real" or (a[2].type == "real" and "real" or a[1].type)
  if a[1].type == "dynamic" then ty = "real" end
  return E(self.f.num_bin(self:scalar(a[1]), a[2].sql, ty == "long"), ty)
end
SCALAR.floor = SCALAR.bin
function SCALAR.startofday(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  self:want_type(node, a, { "datetime" }, "a datetime")
  return E(self.f.start_of_day(a.sql), "datetime")
end
function SCALAR.hourofday(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E(format("CAST(substr(%s, 12, 2) AS INTEGER)", a.sql), "long")
end
function SCALAR.dayofweek(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E(format("(CAST(strftime('%%w', %s) AS INTEGER) * 86400.0)", a.sql), "timespan")
end
function SCALAR.getyear(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E(format("CAST(substr(%s, 1, 4) AS INTEGER)", a.sql), "long")
end
function SCALAR.round(self, node, scope)
  local a = self:args(node, scope, 1, 2)
  return E(self.f.round(self:scalar(a[1]), a[2] and a[2].sql), a[2] and "real" or (a[1].type == "long" and "long" or "real"))
end
function SCALAR.abs(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  return E("abs(" .. a.sql .. ")", a.type)
end

-- format_datetime: the Kusto format (a literal) as a strftime pattern
local DT_FORMAT = { { "yyyy", "%Y" }, { "yy", "%y" }, { "MM", "%m" }, { "dd", "%d" }, { "HH", "%H" },
  { "hh", "%I" }, { "mm", "%M" }, { "ss", "%S" }, { "fff", "" }, { "tt", "%p" } }
function SCALAR.format_datetime(self, node, scope)
  local a = self:args(node, scope, 2)
  if a[2].lit == nil then raise(node.args[2], "format_datetime needs a literal format") end
  local fmt, out, i = a[2].lit, {}, 1
  while i <= #fmt do
    local done = false
    for _, p in ipairs(DT_FORMAT) do
      if fmt:sub(i, i + #p[1] - 1) == p[1] then
        if p[1] == "fff" then out[#out + 1] = "%f" else out[#out + 1] = p[2] end
        i = i + #p[1]; done = true; break
      end
    end
    if not done then
      local ch = fmt:sub(i, i)
      if ch:match("%a") then raise(node.args[2], "format_datetime: the format part '%s' is not supported", ch) end
      out[#out + 1] = ch == "%" and "%%" or ch; i = i + 1
    end
  end
  local pat = concat(out)
  -- %f is SS.SSS in SQLite: fff stands after ss: take the milliseconds of it
  if pat:find("%S.%f", 1, true) then pat = pat:gsub("%%S%.%%f", "%%f") end
  return E(self.f.format_time(a[1].sql, self:bind(pat)), "string")
end
local DIFF = { year = 1, quarter = 1, month = 1, week = 604800, day = 86400, hour = 3600, minute = 60,
  second = 1, millisecond = 0.001 }
function SCALAR.datetime_diff(self, node, scope)
  local a = self:args(node, scope, 3)
  local part = a[1].lit
  if type(part) ~= "string" or not DIFF[part:lower()] then
    raise(node.args[1], "datetime_diff: the part must be a literal: year, quarter, month, week, day, hour, minute, second or millisecond")
  end
  part = part:lower()
  local x, y = a[2].sql, a[3].sql
  if part == "year" then
    return E(format("(CAST(substr(%s, 1, 4) AS INTEGER) - CAST(substr(%s, 1, 4) AS INTEGER))", x, y), "long")
  elseif part == "month" or part == "quarter" then
    local m = function(t) return format("(CAST(substr(%s, 1, 4) AS INTEGER) * 12 + CAST(substr(%s, 6, 2) AS INTEGER) - 1)", t, t) end
    if part == "month" then return E(format("(%s - %s)", m(x), m(y)), "long") end
    return E(format("(CAST(%s / 3 AS INTEGER) - CAST(%s / 3 AS INTEGER))", m(x), m(y)), "long")
  end
  local ex, ey = self.f.epoch(x), self.f.epoch(y)
  if part == "week" then   -- weeks start on Sunday: the epoch was a Thursday
    ex, ey = "(" .. ex .. " + 345600)", "(" .. ey .. " + 345600)"
  end
  local u = DIFF[part]
  return E(format("CAST(floor(round(%s, 3) / %s) - floor(round(%s, 3) / %s) AS INTEGER)", ex, u, ey, u), "long")
end

-- IP functions
function SCALAR.ipv4_is_in_range(self, node, scope)
  local a = self:args(node, scope, 2)
  return E(format("coalesce(%s, 0)", self.f.ip_in_cidr(self:str(a[1]), self:str(a[2]))), "bool")
end
SCALAR.ipv4_is_in_any_range = nil
function SCALAR.ipv4_is_private(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  local x = self:str(a)
  local parts = {}
  for _, cidr in ipairs({ "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" }) do
    parts[#parts + 1] = self.f.ip_in_cidr(x, self:bind(cidr))
  end
  return E(format("(%s AND instr(%s, ':') = 0)", "coalesce(" .. concat(parts, " OR ") .. ", 0)", x), "bool")
end
local function ip_keys(self, node, a)
  local x, y = self:str(a[1]), self:str(a[2])
  if a[3] then
    local bits = format("(96 + %s)", a[3].sql)
    if node.name == "ipv6_compare" then bits = a[3].sql end
    return self.f.ip_key(x, bits), self.f.ip_key(y, bits)
  end
  return self.f.cidr_low(x), self.f.cidr_low(y)
end
function SCALAR.ipv4_is_match(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local kx, ky = ip_keys(self, node, a)
  return E(format("(%s = %s)", kx, ky), "bool")
end
function SCALAR.ipv4_compare(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local kx, ky = ip_keys(self, node, a)
  return E(format("(CASE WHEN %s IS NULL OR %s IS NULL THEN NULL WHEN %s < %s THEN -1 WHEN %s > %s THEN 1 ELSE 0 END)",
    kx, ky, kx, ky, kx, ky), "long")
end
SCALAR.ipv6_compare = SCALAR.ipv4_compare
function SCALAR.ipv6_is_match(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local kx, ky = ip_keys(self, node, a)
  return E(format("(%s = %s)", kx, ky), "bool")
end
function SCALAR.parse_ipv4(self, node, scope)
  return E(self.f.parse_ipv4(self:str(self:args(node, scope, 1)[1])), "long")
end
function SCALAR.has_any_ipv4(self, node, scope)
  local a = self:args(node, scope, 2, 64)
  local x = self:str(a[1])
  local parts = {}
  for i = 2, #a do
    if a[i].type == "dynamic" then
      parts[#parts + 1] = format("EXISTS (SELECT 1 FROM json_each(%s) v WHERE %s)", a[i].sql, self.f.text_has_ip(x, "v.value"))
    else
      parts[#parts + 1] = self.f.text_has_ip(x, self:str(a[i]))
    end
  end
  return E("(" .. concat(parts, " OR ") .. ")", "bool")
end
function SCALAR.has_ipv4(self, node, scope)
  local a = self:args(node, scope, 2)
  return E(self.f.text_has_ip(self:str(a[1]), self:str(a[2])), "bool")
end
function SCALAR.toscalar(self, node, scope)
  if #node.args ~= 1 then raise(node, "'toscalar' takes 1 argument") end
  local rel = self:tabular(node.args[1], scope.env)
  local c = rel.cols[1]
  return E(format("(SELECT %s FROM %s%s LIMIT 1)", self:q(c.name), self:q(rel.name),
    rel.ord and " ORDER BY " .. self:q(rel.ord) or ""), c.type)
end
function SCALAR.typeof(self, node) raise(node, "'typeof' is valid only in 'to typeof(...)'") end

-- row functions of a serialized row set
local function need_serial(self, node, scope)
  if not (scope.rel and scope.rel.ord) then
    raise(node, "'%s' needs a serialized row set (use 'serialize' or 'order by' before it)", node.name)
  end
  return self:q(scope.rel.ord)
end
function SCALAR.row_number(self, node, scope)
  local o = need_serial(self, node, scope)
  local a = self:args(node, scope, 0, 1)
  local start = a[1] and a[1].sql or "1"
  return E(format("(row_number() OVER (ORDER BY %s) - 1 + %s)", o, start), "long")
end
local function shift(fn)
  return function(self, node, scope)
    local o = need_serial(self, node, scope)
    local a = self:args(node, scope, 1, 3)
    local off = a[2] and a[2].sql or "1"
    local def = a[3] and (a[1].type == "dynamic" and self:dyn(a[3]) or a[3].sql) or "NULL"
    return E(format("%s(%s, %s, %s) OVER (ORDER BY %s)", fn, a[1].sql, off, def, o), a[1].type)
  end
end
SCALAR.prev = shift("lag")
SCALAR.next = shift("lead")

M.SCALAR = SCALAR

function C:now_sql()
  return self:bind(timeutil.format_time(self.now))
end

function C:timespan_text(x)
  return format("(CASE WHEN %s IS NULL THEN '' ELSE (CASE WHEN %s < 0 THEN '-' ELSE '' END) || "
    .. "(CASE WHEN abs(%s) >= 86400 THEN CAST(CAST(abs(%s) / 86400 AS INTEGER) AS TEXT) || '.' ELSE '' END) || "
    .. "strftime('%%H:%%M:%%S', abs(%s), 'unixepoch') END)", x, x, x, x, x)
end

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
      local var = format("((sum((%s) * (%s)) - sum(%s) * sum(%s) / count(%s)) / nullif(count(%s) - 1, 0))", x, x, x, x, x, x)
      return E(name == "variance" and var or "sqrt(" .. var .. ")", "real"), argname(1, name .. "_")
    end
    local x = self:scalar(a)
    if is_string(a) and (name == "min" or name == "max") then x = format("nullif(%s, '')", a.sql) end
    local s = format("%s(%s)", fn, x)
    if name == "sum" and fn == "sum" then s = format("coalesce(sum(%s), 0)", x) end
    return E(s, ty), argname(1, name .. "_")
  elseif name == "sumif" or name == "avgif" or name == "minif" or name == "maxif" then
    need(2); local a, p = arg(1), arg(2)
    local fn = name:sub(1, -3)
    local ty = fn == "avg" and "real" or a.type
    local s = format("%s(CASE WHEN %s THEN %s END)", fn == "sum" and "total" or fn, p.sql, self:scalar(a))
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
    if is_string(a) then x = format("nullif(%s, '')", a.sql) end
    local set = name:match("set")
    local s = set and self.f.agg_set(x, cond) or self.f.agg_list(x, cond)
    local limit = node.args[is_if and 3 or 2]
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

function C:call(node, scope)
  local name = node.name
  -- a let-bound function
  local v = lookup(scope.env, name)
  if v and v.kind == "func" then return self:call_lambda(v, node, scope, false) end
  if AGG[name] then
    if not scope.agg then raise(node, "'%s' is an aggregation: use it in 'summarize'", name) end
    if scope.in_agg then raise(node, "an aggregation inside an aggregation is not supported") end
    local e, dflt = self:aggregate(node, scope)
    e.agg = true; e.default = dflt
    return e
  end
  local fn = SCALAR[name]
  if not fn then
    if name == "make-series" then raise(node, "'make-series' is not supported") end
    raise(node, "'%s' is not supported", name)
  end
  return fn(self, node, scope)
end

-- bind a lambda's parameters as thunks of the caller's arguments
function C:lambda_env(fn, node, scope_env)
  local env = child(fn.env)
  local params = fn.node.params
  if #node.args > #params then raise(node, "'%s' takes %d argument%s, got %d", node.name, #params, #params == 1 and "" or "s", #node.args) end
  for i, p in ipairs(params) do
    local a = node.args[i]
    if a then
      if p.type == "table" then
        env.vars[p.name] = { kind = "table", node = a, env = scope_env }
      else
        env.vars[p.name] = { kind = "thunk", node = a, env = scope_env }
      end
    elseif p.default then
      env.vars[p.name] = { kind = "thunk", node = p.default, env = fn.env }
    else
      raise(node, "'%s' needs the argument '%s'", node.name, p.name)
    end
  end
  for _, l in ipairs(fn.node.body.lets) do self:declare(l, env) end
  return env
end

function C:call_lambda(fn, node, scope, tabular)
  local env = self:lambda_env(fn, node, scope.env)
  local body = fn.node.body.query
  if not body then raise(node, "'%s' has no value", node.name) end
  if tabular then return self:tabular(body, env) end
  return self:expr(body, { rel = scope.rel, alias = scope.alias, env = env, agg = scope.agg })
end

-- ---------------------------------------------------------------- let

function C:is_tabular_name(node, env)
  local v = lookup(env, node.v)
  if v then return v.kind == "table" end
  return schema.table(node.v) ~= nil
end

local function is_tabular_node(self, node, env)
  if node.k == "pipe" or node.k == "datatable" or node.k == "union" or node.k == "print" then return true end
  if node.k == "name" then return self:is_tabular_name(node, env) end
  if node.k == "call" then
    if node.name == "materialize" or node.name == "view" or node.name == "table" then return true end
    local v = lookup(env, node.name)
    if v and v.kind == "func" then
      local q = v.node.body.query
      return q and is_tabular_node(self, q, child(v.env)) or false
    end
  end
  return false
end

function C:declare(l, env)
  local value = l.value
  if value.k == "lambda" then
    env.vars[l.name] = { kind = "func", node = value, env = env }
  elseif is_tabular_node(self, value, env) then
    env.vars[l.name] = { kind = "table", node = value, env = env }
  elseif self.given and self.given[l.name] ~= nil and env == self.root then
    local v = self.given[l.name]
    local n, np = self.n, #self.params   -- the declared value gives the type only: its parameters go
    local e = self:expr(value, { env = env })
    for i = #self.params, np + 1, -1 do self.binds[self.params[i].name] = nil; self.params[i] = nil end
    self.n = n
    env.vars[l.name] = { kind = "scalar", compiled = self:given_value(v, e.type, l), at = l.at }
  else
    env.vars[l.name] = { kind = "scalar", node = value, env = env }
  end
end

-- a value given from outside for a let (a hunt's parameter), in the let's own type
function C:given_value(v, ty, at)
  if ty == "datetime" and type(v) == "string" then
    local t = timeutil.parse_time(v)
    if not t then raise(at, "'%s' is not a datetime", v) end
    v = t
  elseif ty == "timespan" and type(v) == "string" then
    local s = timeutil.parse_duration(v)
    if not s then raise(at, "'%s' is not a timespan", v) end
    v = s
  elseif (ty == "long" or ty == "real") and type(v) == "string" then
    v = tonumber(v) or raise(at, "'%s' is not a number", v)
  elseif ty == "dynamic" and type(v) == "string" then
    local ok, d = pcall(cjson.decode, v)
    v = ok and d or { v }
  end
  return self:lit(v, ty, at)
end

-- ---------------------------------------------------------------- tabular

function C:table_scan(node, name)
  local t = schema.table(name)
  local cols, list = {}, {}
  for i, c in ipairs(t.columns) do
    local ty = c.type == "int" and "long" or (c.type == "guid" and "string" or c.type)
    cols[i] = { name = c.name, type = ty }
    list[i] = self:q(c.name)
  end
  local where = ""
  if self.window and not self.time_filtered and t.time then
    where = format(" WHERE %s >= :from AND %s <= :to", self:q(t.time), self:q(t.time))
    self.binds.from, self.binds.to = self.window.from, self.window.to
    self.uses_window = true
  end
  local cte = self:cte(format("SELECT %s FROM %s%s", concat(list, ", "), self:q(name), where))
  return { name = cte, cols = cols, table = name }
end

function C:unknown_table(node, name)
  local names = {}
  for _, t in ipairs(schema.tables) do names[#names + 1] = t.name end
  local s = util.suggest(name, names)
  if s then raise(node, "unknown table '%s' (did you mean %s?)", name, s) end
  raise(node, "unknown table '%s'", name)
end

function C:source(node, env)
  local k = node.k
  if k == "name" then
    local v = lookup(env, node.v)
    if v then
      if v.kind == "table" then
        if v.rel then return v.rel end
        local rel = self:tabular(v.node, v.env)
        v.rel = rel
        return rel
      elseif v.kind == "func" then
        return self:call_lambda(v, { name = node.v, args = {}, line = node.line, col = node.col }, { env = env }, true)
      end
      raise(node, "'%s' is a scalar: a table was expected here", node.v)
    end
    if schema.table(node.v) then return self:table_scan(node, node.v) end
    self:unknown_table(node, node.v)
  elseif k == "call" then
    if node.name == "table" then
      local name = #node.args == 1 and self:const_string(node.args[1], env)
      if not name then raise(node, "'table' takes a table name: a string literal or a let of one") end
      return self:source({ k = "name", v = name, line = node.line, col = node.col, len = node.len }, env)
    end
    if node.name == "materialize" then
      if #node.args ~= 1 then raise(node, "'materialize' takes 1 argument") end
      return self:tabular(node.args[1], env)
    end
    local v = lookup(env, node.name)
    if v and v.kind == "func" then return self:call_lambda(v, node, { env = env }, true) end
    if schema.table(node.name) then raise(node, "'%s' is a table, not a function", node.name) end
    if v then raise(node, "'%s' is not a function", node.name) end
    raise(node, "unknown function '%s'", node.name)
  elseif k == "datatable" then
    return self:datatable(node, env)
  elseif k == "union" then
    return self:union(node, env, nil)
  elseif k == "print" then
    local items, cols = {}, {}
    for i, it in ipairs(node.items) do
      local e = self:expr(it.e, { env = env })
      local name = it.name or derived_name(it.e) or ("print_" .. (i - 1))
      items[i] = format("%s AS %s", e.sql, self:q(name))
      cols[i] = { name = name, type = e.type }
    end
    return { name = self:cte("SELECT " .. concat(items, ", ")), cols = cols }
  elseif k == "pipe" then
    return self:tabular(node, env)
  end
  raise(node, "expected a table here")
end

-- the value of a constant string expression (a literal, or a let of one), or nil
function C:const_string(node, env, depth)
  depth = (depth or 0) + 1
  if depth > 50 then return nil end
  if node.k == "lit" and type(node.v) == "string" then return node.v end
  if node.k == "name" then
    local v = lookup(env, node.v)
    if v and v.kind == "scalar" then
      if v.compiled then return type(v.compiled.lit) == "string" and v.compiled.lit or nil end
      return self:const_string(v.node, v.env, depth)
    end
    if v and v.kind == "thunk" then return self:const_string(v.node, v.env, depth) end
  end
end

function C:datatable(node, env)
  local ncol = #node.cols
  local rows = {}
  local cols = {}
  for i, c in ipairs(node.cols) do cols[i] = { name = c.name, type = c.type == "int" and "long" or c.type } end
  for r = 1, #node.vals / ncol do
    local items = {}
    for i = 1, ncol do
      local vnode = node.vals[(r - 1) * ncol + i]
      local e = self:expr(vnode, { env = env })
      local want = cols[i].type
      if e.type ~= want and not e.null and not (NUMERIC[want] and NUMERIC[e.type]) then
        if want == "dynamic" then e = E(self:dyn(e), "dynamic")
        else raise(vnode, "datatable: the column '%s' is %s, the value is %s", cols[i].name, want, e.type) end
      end
      items[i] = format("%s AS %s", e.sql, self:q(cols[i].name))
    end
    rows[r] = "SELECT " .. concat(items, ", ")
  end
  if #rows == 0 then
    local items = {}
    for i, c in ipairs(cols) do items[i] = "NULL AS " .. self:q(c.name) end
    rows[1] = "SELECT " .. concat(items, ", ") .. " WHERE 0"
  end
  return { name = self:cte(concat(rows, " UNION ALL ")), cols = cols }
end

function C:tabular(node, env)
  if node.k ~= "pipe" then return self:source(node, env) end
  local rel = self:source(node.src, env)
  for _, op in ipairs(node.ops) do
    rel = self:operator(op, rel, env)
  end
  return rel
end

-- ---------------------------------------------------------------- operators

local OPS = {}

function C:operator(op, rel, env)
  local fn = OPS[op.k]
  if not fn then raise(op, "'%s' is not supported", op.k) end
  return fn(self, op, rel, env)
end

-- SELECT over rel: items = list of "expr AS name", keeps the order column
function C:select(rel, items, cols, tail)
  local list = {}
  for i, s in ipairs(items) do list[i] = s end
  if rel.ord then list[#list + 1] = self:q(rel.ord) end
  local name = self:cte(format("SELECT %s FROM %s%s", concat(list, ", "), self:q(rel.name), tail or ""))
  return { name = name, cols = cols, ord = rel.ord }
end

function OPS.where(self, op, rel, env)
  local e = self:expr(op.e, { rel = rel, env = env })
  if e.agg then raise(op, "an aggregation in 'where'") end
  if e.type ~= "bool" and not e.null then
    if e.type == "dynamic" then e = E(format("(%s = 'true')", e.sql), "bool")
    else raise(op.e, "'where' needs a bool predicate, found %s", e.type) end
  end
  local list = self:all_cols(rel)
  local name = self:cte(format("SELECT %s FROM %s WHERE %s", concat(list, ", "), self:q(rel.name), e.sql))
  return { name = name, cols = copy_cols(rel.cols), ord = rel.ord }
end

function C:auto_name(cols, node)
  local n = derived_name(node)
  if n and not find_col({ cols = cols }, n) then return n end
  if n then
    local i = 1
    while find_col({ cols = cols }, n .. i) do i = i + 1 end
    return n .. i
  end
  local i = 1
  while find_col({ cols = cols }, "Column" .. i) do i = i + 1 end
  return "Column" .. i
end

function OPS.extend(self, op, rel, env)
  local cols = copy_cols(rel.cols)
  local exprs = {}
  for i, c in ipairs(rel.cols) do exprs[i] = self:q(c.name) end
  for _, it in ipairs(op.items) do
    if it.names then raise(it.at, "a tuple assignment is not supported in 'extend'") end
    local e = self:expr(it.e, { rel = rel, env = env })
    if e.agg then raise(it.e, "an aggregation in 'extend' (use 'summarize')") end
    local name = it.name or self:auto_name(cols, it.e)
    local _, idx = find_col({ cols = cols }, name)
    if idx then
      cols[idx].type = e.type; exprs[idx] = e.sql .. " AS " .. self:q(name)
    else
      cols[#cols + 1] = { name = name, type = e.type }
      exprs[#exprs + 1] = e.sql .. " AS " .. self:q(name)
    end
  end
  return self:select(rel, exprs, cols)
end

function OPS.project(self, op, rel, env)
  local cols, exprs, seen = {}, {}, {}
  for _, it in ipairs(op.items) do
    if it.names then raise(it.at, "a tuple assignment is not supported in 'project'") end
    if not it.name and it.e.k == "name" and it.e.v:find("%*") then raise(it.e, "wildcards in 'project' are not supported") end
    local e = self:expr(it.e, { rel = rel, env = env })
    if e.agg then raise(it.e, "an aggregation in 'project' (use 'summarize')") end
    local name = it.name or (it.e.k == "name" and it.e.v) or self:auto_name(cols, it.e)
    if seen[name] then raise(it.at, "the column '%s' is projected twice", name) end
    seen[name] = true
    cols[#cols + 1] = { name = name, type = e.type }
    exprs[#exprs + 1] = e.sql .. " AS " .. self:q(name)
  end
  return self:select(rel, exprs, cols)
end

local function wildcard(pattern)
  return "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

function C:match_names(rel, list, what)
  local hit = {}
  for _, n in ipairs(list) do
    if n.name:find("*", 1, true) then
      local pat = wildcard(n.name)
      for _, c in ipairs(rel.cols) do if c.name:match(pat) then hit[c.name] = true end end
    else
      if not find_col(rel, n.name) then self:unknown_column(n.at, n.name, rel) end
      hit[n.name] = true
    end
  end
  return hit
end

OPS["project-away"] = function(self, op, rel)
  local away = self:match_names(rel, op.names)
  local cols, exprs = {}, {}
  for _, c in ipairs(rel.cols) do
    if not away[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; exprs[#exprs + 1] = self:q(c.name) end
  end
  return self:select(rel, exprs, cols)
end

OPS["project-keep"] = function(self, op, rel)
  local keep = self:match_names(rel, op.names)
  local cols, exprs = {}, {}
  for _, c in ipairs(rel.cols) do
    if keep[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; exprs[#exprs + 1] = self:q(c.name) end
  end
  return self:select(rel, exprs, cols)
end

OPS["project-reorder"] = function(self, op, rel)
  local cols, exprs, used = {}, {}, {}
  for _, n in ipairs(op.names) do
    local pat = n.name:find("*", 1, true) and wildcard(n.name)
    if not pat and not find_col(rel, n.name) then self:unknown_column(n.at, n.name, rel) end
    for _, c in ipairs(rel.cols) do
      if not used[c.name] and (c.name == n.name or (pat and c.name:match(pat))) then
        used[c.name] = true
        cols[#cols + 1] = { name = c.name, type = c.type }; exprs[#exprs + 1] = self:q(c.name)
      end
    end
  end
  for _, c in ipairs(rel.cols) do
    if not used[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; exprs[#exprs + 1] = self:q(c.name) end
  end
  return self:select(rel, exprs, cols)
end

OPS["project-rename"] = function(self, op, rel)
  local rename = {}
  for _, it in ipairs(op.items) do
    if not find_col(rel, it.old) then self:unknown_column(it.old_at, it.old, rel) end
    rename[it.old] = it.new
  end
  local cols, exprs = {}, {}
  for _, c in ipairs(rel.cols) do
    local n = rename[c.name] or c.name
    cols[#cols + 1] = { name = n, type = c.type }
    exprs[#exprs + 1] = self:q(c.name) .. " AS " .. self:q(n)
  end
  return self:select(rel, exprs, cols)
end

-- order keys as SQL
function C:order_sql(rel, keys, env)
  local parts = {}
  for i, k in ipairs(keys) do
    local e = self:expr(k.e, { rel = rel, env = env })
    local x = e.type == "dynamic" and self:scalar(e) or (is_string(e) and self:str(e)) or e.sql
    parts[i] = x .. (k.desc and " DESC" or " ASC") .. self.f.nulls(k.desc, k.nulls or (k.desc and "last" or "first"))
  end
  return concat(parts, ", ")
end

function OPS.order(self, op, rel, env)
  local by = self:order_sql(rel, op.keys, env)
  local list = {}
  for _, c in ipairs(rel.cols) do list[#list + 1] = self:q(c.name) end
  list[#list + 1] = format("row_number() OVER (ORDER BY %s%s) AS %s", by, rel.ord and ", " .. self:q(rel.ord) or "", self:q(ORD))
  local name = self:cte(format("SELECT %s FROM %s", concat(list, ", "), self:q(rel.name)))
  return { name = name, cols = copy_cols(rel.cols), ord = ORD }
end

function C:count_value(node, env, what)
  local e = self:expr(node, { env = env })
  if not NUMERIC[e.type] then raise(node, "'%s' needs a number of rows", what) end
  return e.sql
end

function OPS.take(self, op, rel, env)
  local n = self:count_value(op.n, env, "take")
  local list = self:all_cols(rel)
  local name = self:cte(format("SELECT %s FROM %s%s LIMIT %s", concat(list, ", "), self:q(rel.name),
    rel.ord and " ORDER BY " .. self:q(rel.ord) or "", n))
  return { name = name, cols = copy_cols(rel.cols), ord = rel.ord }
end

function OPS.top(self, op, rel, env)
  local n = self:count_value(op.n, env, "top")
  local sorted = OPS.order(self, { keys = op.keys }, rel, env)
  return OPS.take(self, { n = { k = "lit" } }, sorted, env, n)
end
-- take with a number already compiled (top's)
local take = OPS.take
OPS.take = function(self, op, rel, env, n_sql)
  if not n_sql then return take(self, op, rel, env) end
  local list = self:all_cols(rel)
  local name = self:cte(format("SELECT %s FROM %s ORDER BY %s LIMIT %s", concat(list, ", "), self:q(rel.name), self:q(rel.ord), n_sql))
  return { name = name, cols = copy_cols(rel.cols), ord = rel.ord }
end

function OPS.count(self, op, rel)
  return { name = self:cte(format('SELECT count(*) AS %s FROM %s', self:q("Count"), self:q(rel.name))),
    cols = { { name = "Count", type = "long" } } }
end

function OPS.distinct(self, op, rel, env)
  local cols, exprs = {}, {}
  if op.all then
    for _, c in ipairs(rel.cols) do
      cols[#cols + 1] = { name = c.name, type = c.type }
      exprs[#exprs + 1] = (c.type == "string" and "coalesce(" .. self:q(c.name) .. ", '')" or self:q(c.name)) .. " AS " .. self:q(c.name)
    end
  else
    for _, it in ipairs(op.items) do
      local e = self:expr(it.e, { rel = rel, env = env })
      local name = it.name or self:auto_name(cols, it.e)
      cols[#cols + 1] = { name = name, type = e.type }
      exprs[#exprs + 1] = (is_string(e) and self:str(e) or e.sql) .. " AS " .. self:q(name)
    end
  end
  return { name = self:cte(format("SELECT DISTINCT %s FROM %s", concat(exprs, ", "), self:q(rel.name))), cols = cols }
end

function OPS.summarize(self, op, rel, env)
  local cols, exprs, groups = {}, {}, {}
  local posts
  local names = {}
  local function add(name, ty, sql, at)
    if names[name] then raise(at, "the column '%s' is produced twice by 'summarize'", name) end
    names[name] = true
    cols[#cols + 1] = { name = name, type = ty }
    exprs[#exprs + 1] = sql .. " AS " .. self:q(name)
  end
  for _, g in ipairs(op.by) do
    local e = self:expr(g.e, { rel = rel, env = env })
    if e.agg then raise(g.e, "an aggregation in 'by'") end
    local name = g.name or derived_name(g.e) or self:auto_name(cols, g.e)
    local sql = is_string(e) and self:str(e) or e.sql
    add(name, e.type, sql, g.at)
    groups[#groups + 1] = tostring(#exprs)
  end
  -- arg_max / arg_min: the row with the extreme value per group
  for _, a in ipairs(op.aggs) do
    if a.e.k == "call" and (a.e.name == "arg_max" or a.e.name == "arg_min") then
      if #op.aggs > 1 then raise(a.e, "'%s' with other aggregations in one 'summarize' is not supported", a.e.name) end
      return self:arg_extreme(a, op, rel, env, cols, exprs)
    end
  end
  if #op.aggs == 0 and #op.by == 0 then raise(op, "'summarize' needs an aggregation") end
  for _, a in ipairs(op.aggs) do
    if a.names then raise(a.at, "a tuple assignment is supported only for arg_max and arg_min") end
    local e = self:expr(a.e, { rel = rel, env = env, agg = true })
    if not e.agg then
      raise(a.e, "'summarize' needs an aggregation (count(), dcount(X), ...), found an expression without one")
    end
    local name = a.name or (a.e.k == "call" and e.default) or self:auto_name(cols, a.e)
    add(name, e.type, e.sql, a.at)
    if e.post then posts = posts or {}; posts[name] = e.post end
  end
  local tail = #groups > 0 and " GROUP BY " .. concat(groups, ", ") or ""
  local out = { name = self:cte(format("SELECT %s FROM %s%s", concat(exprs, ", "), self:q(rel.name), tail)), cols = cols }
  if posts then
    local list = {}
    for i, c in ipairs(cols) do
      list[i] = (posts[c.name] and posts[c.name](self:q(c.name)) or self:q(c.name)) .. " AS " .. self:q(c.name)
    end
    out = { name = self:cte(format("SELECT %s FROM %s", concat(list, ", "), self:q(out.name))), cols = cols }
  end
  return out
end

function C:arg_extreme(a, op, rel, env, cols, exprs)
  local call = a.e
  if #call.args < 1 then raise(call, "'%s' takes an expression and the columns to return", call.name) end
  local scope = { rel = rel, env = env }
  local key = self:expr(call.args[1], scope)
  local keyname = a.name or (a.names and a.names[1]) or derived_name(call.args[1]) or (call.name == "arg_max" and "max_" or "min_") .. (first_column(call.args[1]) or "")
  local group_sql = {}
  for i = 1, #op.by do group_sql[i] = exprs[i]:match("^(.*) AS \"[^\"]*\"$") or exprs[i] end
  local out_cols, out_exprs = copy_cols(cols), {}
  for i = 1, #cols do out_exprs[i] = group_sql[i] .. " AS " .. self:q(cols[i].name) end
  local taken = {}
  for _, c in ipairs(cols) do taken[c.name] = true end
  local function add(name, ty, sql)
    if taken[name] then return end
    taken[name] = true
    out_cols[#out_cols + 1] = { name = name, type = ty }
    out_exprs[#out_exprs + 1] = sql .. " AS " .. self:q(name)
  end
  add(keyname, key.type, key.sql)
  for i = 2, #call.args do
    local x = call.args[i]
    if x.k == "star" then
      for _, c in ipairs(rel.cols) do add(c.name, c.type, self:q(c.name)) end
    else
      local e = self:expr(x, scope)
      local n = (a.names and a.names[i]) or derived_name(x) or self:auto_name(out_cols, x)
      add(n, e.type, e.sql)
    end
  end
  local inner = {}
  for i, s in ipairs(out_exprs) do inner[i] = s end
  local part = #group_sql > 0 and "PARTITION BY " .. concat(group_sql, ", ") .. " " or ""
  inner[#inner + 1] = format("row_number() OVER (%sORDER BY %s %s) AS %s", part, key.sql,
    call.name == "arg_max" and "DESC" or "ASC", self:q("_ipe_rn"))
  local list = {}
  for i, c in ipairs(out_cols) do list[i] = self:q(c.name) end
  local sql = format("SELECT %s FROM (SELECT %s FROM %s WHERE %s IS NOT NULL) WHERE %s = 1", concat(list, ", "),
    concat(inner, ", "), self:q(rel.name), key.sql, self:q("_ipe_rn"))
  return { name = self:cte(sql), cols = out_cols }
end

-- join: kinds innerunique (default), inner, leftouter, rightouter, fullouter, leftanti,
-- leftsemi, rightanti, rightsemi (and their aliases)
local JOIN_KINDS = { innerunique = true, inner = true, leftouter = true, rightouter = true, fullouter = true,
  outer = "leftouter", leftanti = true, anti = "leftanti", leftantisemi = "leftanti", leftsemi = true,
  semi = "leftsemi", rightanti = true, rightantisemi = "rightanti", rightsemi = true }

function C:join_cond(keys, lrel, rrel, la, ra)
  local conds = {}
  for i, k in ipairs(keys) do
    local lc = find_col(lrel, k.left)
    if not lc then self:unknown_column(k.at, k.left, lrel) end
    local rc = find_col(rrel, k.right)
    if not rc then self:unknown_column(k.at, k.right, rrel) end
    local l, r = la .. "." .. self:q(k.left), ra .. "." .. self:q(k.right)
    if lc.type == "string" or rc.type == "string" then l, r = "coalesce(" .. l .. ", '')", "coalesce(" .. r .. ", '')" end
    conds[i] = l .. " = " .. r
  end
  return concat(conds, " AND ")
end

function C:dedup(rel, keys)
  local part = {}
  for i, k in ipairs(keys) do part[i] = self:q(k) end
  local list = self:all_cols(rel)
  return { name = self:cte(format("SELECT %s FROM (SELECT %s, row_number() OVER (PARTITION BY %s) AS %s FROM %s) WHERE %s = 1",
    concat(list, ", "), concat(list, ", "), concat(part, ", "), self:q("_ipe_rn"), self:q(rel.name), self:q("_ipe_rn"))),
    cols = rel.cols }
end

OPS.join = function(self, op, rel, env)
  local kind = op.opts.kind and op.opts.kind.v or "innerunique"
  if op.k == "lookup" then kind = op.opts.kind and op.opts.kind.v or "leftouter" end
  local k = JOIN_KINDS[kind]
  if not k then raise(op.opts.kind.tok, "unknown join kind '%s'", tostring(kind)) end
  if k ~= true then kind = k end
  local right = self:tabular(op.right, env)
  local left = rel
  local lkeys = {}
  for i, key in ipairs(op.keys) do lkeys[i] = key.left end
  -- the keys must exist before any de-duplication
  self:join_cond(op.keys, left, right, "l", "r")
  if kind == "innerunique" then left = self:dedup(left, lkeys); kind = "inner" end
  local cond = self:join_cond(op.keys, left, right, "l", "r")
  local function only(r, alias, other, other_alias, neg)
    local list = self:all_cols({ cols = r.cols }, alias)
    return { name = self:cte(format("SELECT %s FROM %s %s WHERE %sEXISTS (SELECT 1 FROM %s %s WHERE %s)",
      concat(list, ", "), self:q(r.name), alias, neg and "NOT " or "", self:q(other.name), other_alias, cond)),
      cols = copy_cols(r.cols) }
  end
  if kind == "leftsemi" then return only(left, "l", right, "r", false) end
  if kind == "leftanti" then return only(left, "l", right, "r", true) end
  if kind == "rightsemi" then return only(right, "r", left, "l", false) end
  if kind == "rightanti" then return only(right, "r", left, "l", true) end
  -- the columns: the left's, then the right's, a name already taken gets a number
  local cols, exprs, taken = {}, {}, {}
  for _, c in ipairs(left.cols) do
    taken[c.name] = true
    cols[#cols + 1] = { name = c.name, type = c.type }
    exprs[#exprs + 1] = "l." .. self:q(c.name) .. " AS " .. self:q(c.name)
  end
  local lookup_keys = {}
  if op.k == "lookup" then for _, key in ipairs(op.keys) do lookup_keys[key.right] = true end end
  for _, c in ipairs(right.cols) do
    if not lookup_keys[c.name] then
      local name = c.name
      if taken[name] then
        local i = 1
        while taken[c.name .. i] do i = i + 1 end
        name = c.name .. i
      end
      taken[name] = true
      cols[#cols + 1] = { name = name, type = c.type }
      exprs[#exprs + 1] = "r." .. self:q(c.name) .. " AS " .. self:q(name)
    end
  end
  local jk = ({ inner = "JOIN", leftouter = "LEFT JOIN", rightouter = "RIGHT JOIN", fullouter = "FULL JOIN" })[kind]
  return { name = self:cte(format("SELECT %s FROM %s l %s %s r ON %s", concat(exprs, ", "), self:q(left.name), jk,
    self:q(right.name), cond)), cols = cols }
end
OPS.lookup = OPS.join

function C:union(node, env, input)
  local rels = {}
  local fuzzy = node.opts.isfuzzy and node.opts.isfuzzy.v == "true"
  local kind = node.opts.kind and node.opts.kind.v or "outer"
  local withsource = node.opts.withsource and node.opts.withsource.v
  local labels = {}
  for i, t in ipairs(node.tables) do
    if t.k == "input" then
      rels[#rels + 1] = input; labels[#rels] = "union_arg0"
    elseif t.k == "name" and t.wild then
      local pat = wildcard(t.v)
      for _, tab in ipairs(schema.tables) do
        if tab.name:match(pat) then rels[#rels + 1] = self:table_scan(t, tab.name); labels[#rels] = tab.name end
      end
    elseif t.k == "name" and not lookup(env, t.v) and not schema.table(t.v) then
      if not fuzzy then
        local names = {}
        for _, tab in ipairs(schema.tables) do names[#names + 1] = tab.name end
        local s = util.suggest(t.v, names)
        raise(t, "unknown table '%s'%s (union isfuzzy=true skips tables the workspace lacks)", t.v, s and " (did you mean " .. s .. "?)" or "")
      end
    elseif fuzzy then
      -- isfuzzy: a side that names a table the workspace lacks is left out, with what it bound
      local mark = { #self.ctes, self.nctes, self.n, #self.params }
      local ok, rel = pcall(self.tabular, self, t, env)
      if ok then
        rels[#rels + 1] = rel; labels[#rels] = t.k == "name" and t.v or ("union_arg" .. (i - 1))
      elseif err.is(rel) and rel.msg:find("^unknown table") then
        for j = #self.ctes, mark[1] + 1, -1 do self.ctes[j] = nil end
        for j = #self.params, mark[4] + 1, -1 do self.binds[self.params[j].name] = nil; self.params[j] = nil end
        self.nctes, self.n = mark[2], mark[3]
      else
        error(rel, 0)
      end
    else
      rels[#rels + 1] = self:tabular(t, env); labels[#rels] = t.k == "name" and t.v or ("union_arg" .. (i - 1))
    end
  end
  if #rels == 0 then raise(node, "'union': none of its tables is in the workspace") end
  local cols, index = {}, {}
  if withsource then cols[1] = { name = withsource, type = "string" }; index[withsource] = 1 end
  if kind == "inner" then
    for _, c in ipairs(rels[1].cols) do
      local everywhere = true
      for j = 2, #rels do if not find_col(rels[j], c.name) then everywhere = false end end
      if everywhere and not index[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; index[c.name] = #cols end
    end
  else
    for _, r in ipairs(rels) do
      for _, c in ipairs(r.cols) do
        if not index[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; index[c.name] = #cols end
      end
    end
  end
  local parts = {}
  for i, r in ipairs(rels) do
    local list = {}
    for j, c in ipairs(cols) do
      if withsource and j == 1 then list[j] = self:bind(labels[i]) .. " AS " .. self:q(c.name)
      else list[j] = (find_col(r, c.name) and self:q(c.name) or "NULL") .. " AS " .. self:q(c.name) end
    end
    parts[i] = format("SELECT %s FROM %s", concat(list, ", "), self:q(r.name))
  end
  return { name = self:cte(concat(parts, " UNION ALL ")), cols = cols }
end

OPS.union = function(self, op, rel, env) return self:union(op, env, rel) end

OPS["mv-expand"] = function(self, op, rel, env)
  local cols = copy_cols(rel.cols)
  local exprs = {}
  for i, c in ipairs(rel.cols) do exprs[i] = "t." .. self:q(c.name) end
  local from, first = {}, nil
  for n, it in ipairs(op.items) do
    local e = self:expr(it.e, { rel = rel, env = env, alias = "t" })
    local name = it.name or derived_name(it.e) or self:auto_name(cols, it.e)
    local arr = self:dyn(e)
    local value
    local j = "j" .. n
    if n == 1 then
      first = j
      from[#from + 1] = format("json_each(CASE WHEN json_valid(%s) THEN (CASE WHEN json_type(%s) IN ('array', 'object') "
        .. "THEN %s ELSE json_array(json(%s)) END) ELSE json_array(%s) END) %s", arr, arr, arr, arr, arr, j)
      value = format("(CASE WHEN typeof(%s.key) = 'text' THEN json_object(%s.key, CASE WHEN %s.type IN ('object', 'array') THEN json(%s.value) "
        .. "WHEN %s.type = 'true' THEN json('true') WHEN %s.type = 'false' THEN json('false') ELSE %s.value END) "
        .. "WHEN %s.type IN ('object', 'array') THEN %s.value "
        .. "WHEN %s.type = 'true' THEN 'true' WHEN %s.type = 'false' THEN 'false' WHEN %s.type = 'null' THEN NULL ELSE json_quote(%s.value) END)",
        j, j, j, j, j, j, j, j, j, j, j, j, j)
    else
      value = format("(CASE WHEN json_valid(%s) THEN json_extract(%s, '$[' || %s.key || ']') END)", arr, arr, first)
      value = format("(CASE WHEN NOT json_valid(%s) THEN NULL WHEN json_type(%s, '$[' || %s.key || ']') IN ('object', 'array') THEN json(%s) ELSE json_quote(%s) END)", arr, arr, first, value, value)
    end
    local ty = "dynamic"
    if it.to and it.to ~= "dynamic" then
      ty = it.to == "int" and "long" or it.to
      value = self.f.json_value(value)
      if NUMERIC[ty] then value = self.f.to_real(value) .. (ty == "long" and "" or "") end
    end
    local _, idx = find_col({ cols = cols }, name)
    if idx then cols[idx].type = ty; exprs[idx] = value .. " AS " .. self:q(name)
    else cols[#cols + 1] = { name = name, type = ty }; exprs[#exprs + 1] = value .. " AS " .. self:q(name) end
  end
  local widx = op.opts.with_itemindex
  if widx then
    cols[#cols + 1] = { name = widx.v, type = "long" }
    exprs[#exprs + 1] = format("CAST(%s.key AS INTEGER) AS %s", first, self:q(widx.v))
  end
  local ord = nil
  if rel.ord then
    exprs[#exprs + 1] = format("row_number() OVER (ORDER BY t.%s, %s.id) AS %s", self:q(rel.ord), first, self:q(ORD))
    ord = ORD
  end
  local where = ""
  if op.limit then
    local l = self:expr(op.limit, { env = env })
    where = format(" WHERE %s.key < %s", first, l.sql)
  end
  return { name = self:cte(format("SELECT %s FROM %s t, %s%s", concat(exprs, ", "), self:q(rel.name), concat(from, ", "), where)),
    cols = cols, ord = ord }
end
OPS.mvexpand = OPS["mv-expand"]

-- parse: the pattern as a regular expression with one group per column (kind=simple:
-- literals exact, every column but the last matches as little as it can)
local function regex_quote(s) return (s:gsub("[%^%$%(%)%.%[%]%*%+%-%?%{%}%|\\]", "\\%0")) end
OPS.parse = function(self, op, rel, env)
  local kind = op.opts.kind and op.opts.kind.v or "simple"
  if kind == "relaxed" then kind = "simple" end   -- a typed value that does not convert is null either way
  if kind ~= "simple" and kind ~= "regex" then raise(op.opts.kind.tok, "'parse kind=%s' is not supported", kind) end
  local src = self:expr(op.e, { rel = rel, env = env })
  local parts, groups = { "^" }, {}
  local last_col
  for i, p in ipairs(op.pattern) do if p.name then last_col = i end end
  for i, p in ipairs(op.pattern) do
    if p.lit then parts[#parts + 1] = kind == "regex" and p.lit or regex_quote(p.lit)
    elseif p.star then parts[#parts + 1] = ".*?"
    else
      local follows_lit = op.pattern[i + 1] ~= nil
      parts[#parts + 1] = (i == last_col and not follows_lit) and "(.*)" or "(.*?)"
      groups[#groups + 1] = p
    end
  end
  if op.pattern[#op.pattern] and op.pattern[#op.pattern].lit then parts[#parts + 1] = "" end
  local regex = self:bind("(?s)" .. concat(parts))
  local x = self:str(src)
  local cols = copy_cols(rel.cols)
  local exprs = {}
  for i, c in ipairs(rel.cols) do exprs[i] = self:q(c.name) end
  for gi, g in ipairs(groups) do
    local v = self.f.regex_extract(regex, tostring(gi), x)
    local ty = g.type == "int" and "long" or g.type
    if NUMERIC[ty] then v = ty == "real" and self.f.to_real(v) or self.f.to_long(v)
    elseif ty == "datetime" then v = self.f.to_datetime(v)
    elseif ty == "dynamic" then v = self.f.parse_json(v)
    elseif ty == "string" then v = "coalesce(" .. v .. ", '')" end
    local _, idx = find_col({ cols = cols }, g.name)
    if idx then cols[idx].type = ty; exprs[idx] = v .. " AS " .. self:q(g.name)
    else cols[#cols + 1] = { name = g.name, type = ty }; exprs[#exprs + 1] = v .. " AS " .. self:q(g.name) end
  end
  return self:select(rel, exprs, cols)
end

OPS.serialize = function(self, op, rel, env)
  if not rel.ord then
    local list = self:all_cols(rel)
    list[#list + 1] = "row_number() OVER () AS " .. self:q(ORD)
    rel = { name = self:cte(format("SELECT %s FROM %s", concat(list, ", "), self:q(rel.name))), cols = copy_cols(rel.cols), ord = ORD }
  end
  if #op.items > 0 then return OPS.extend(self, op, rel, env) end
  return rel
end

OPS.render = function(_, _, rel) return rel end
OPS.as = function(self, op, rel, env)
  env.vars[op.name] = { kind = "table", rel = rel }
  return rel
end

-- ---------------------------------------------------------------- the query

-- whether a where anywhere in the query filters on TimeGenerated
local function mentions_time(node, inwhere, seen)
  if type(node) ~= "table" or seen[node] then return false end
  seen[node] = true
  if inwhere and node.k == "name" and node.v == "TimeGenerated" then return true end
  local w = inwhere or node.k == "where"
  for key, v in pairs(node) do
    if key ~= "at" and type(v) == "table" and mentions_time(v, w, seen) then return true end
  end
  return false
end
M.mentions_time = mentions_time

function M.compile(prog, opts)
  opts = opts or {}
  local self = setmetatable({ f = opts.engine or require("ipe.kql.sqlite"), n = 0, binds = {}, params = {},
    ctes = {}, nctes = 0, now = opts.now or os.time(), given = opts.lets }, C)
  self.time_filtered = mentions_time(prog, false, {})
  if opts.window then self.window = opts.window end
  local env = { vars = {} }
  self.root = env
  -- values given for names the query does not declare are bound under their names
  if opts.lets then
    local declared = {}
    for _, l in ipairs(prog.lets) do declared[l.name] = true end
    local names = {}
    for k in pairs(opts.lets) do if not declared[k] then names[#names + 1] = k end end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = opts.lets[k]
      local ty = opts.types and opts.types[k] or (type(v) == "number" and "real" or "string")
      if ty == "long" and type(v) == "number" and v % 1 ~= 0 then ty = "real" end
      env.vars[k] = { kind = "scalar", compiled = self:given_value(v, ty, prog.query) }
    end
  end
  for _, l in ipairs(prog.lets) do self:declare(l, env) end
  if not is_tabular_node(self, prog.query, env) then
    -- a scalar query: print it
    prog.query = { k = "print", items = { { e = prog.query } }, line = prog.query.line, col = prog.query.col }
  end
  local rel = self:tabular(prog.query, env)
  local out, cols = {}, {}
  for i, c in ipairs(rel.cols) do
    local q = self:q(c.name)
    out[i] = (c.type == "string" and "coalesce(" .. q .. ", '')" or q) .. " AS " .. q
    cols[i] = { name = c.name, type = c.type }
  end
  local sql = "WITH " .. concat(self.ctes, ",\n") .. "\nSELECT " .. concat(out, ", ") .. " FROM " .. self:q(rel.name)
  if rel.ord then sql = sql .. " ORDER BY " .. self:q(rel.ord) end
  local params = self.params
  if self.uses_window then
    table.insert(params, 1, { name = "to", value = self.window.to })
    table.insert(params, 1, { name = "from", value = self.window.from })
  end
  return { sql = sql, binds = self.binds, params = params, columns = cols, windowed = self.uses_window }
end

return M
