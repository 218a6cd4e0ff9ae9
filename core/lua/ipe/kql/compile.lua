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
-- The compiler runs once per query over short, branchy code: LuaJIT's trace compiler costs
-- ten times the work here (its traces abort), the interpreter does not (see ipe.lint).
if jit then jit.off(true, true) end
local err = require "ipe.kql.err"
local util = require "ipe.kql.util"
local schema = require "ipe.schema"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local M = {}

local C = {}
C.__index = C

local h = require "ipe.kql.common"
local SCALAR = require "ipe.kql.functions"
local aggregates = require "ipe.kql.aggregates"
local operators = require "ipe.kql.operators"
local WORKSPACE = require("ipe.kql.workspace").FUNCTIONS

local raise = err.raise
local format, concat = string.format, table.concat
local E, NUMERIC, is_string = h.E, h.NUMERIC, h.is_string
local find_col, col_names = h.find_col, h.col_names
local derived_name, lookup, child = h.derived_name, h.lookup, h.child
local AGG = aggregates.AGG
M.SCALAR, M.AGG = SCALAR, AGG


-- ---------------------------------------------------------------- state helpers

function C:bind(v)
  self.n = self.n + 1
  local name = "k" .. self.n
  self.binds[name] = v
  self.params[#self.params + 1] = { name = name, value = v }
  return ":" .. name
end

function C:q(name)
  local sub = self.subs and self.subs[name]
  if sub then return "(" .. sub .. ")" end
  if self.named then self.named[name] = true end
  return self.f.ident(name)
end

-- a construct the engine cannot express: one error at its place
function C:refused(at, what)
  raise(at, "'%s' is not supported on %s", what, self.f.VERSION or self.f.name)
end
function C:check_engine(at, what)
  if self.f.REFUSED and self.f.REFUSED[what] then self:refused(at, what) end
end

-- SELECT list FROM src tail. On a nesting engine (ClickHouse, where an alias shadows the
-- column of the same name everywhere in its SELECT) every "expr AS name" is computed under
-- an internal name in an inner SELECT (with the tail: WHERE, GROUP BY, ORDER BY, LIMIT) and
-- renamed by the outer one.
function C:sel(list, from, tail)
  tail = tail or ""
  if not self.f.nested then return format("SELECT %s FROM %s%s", concat(list, ", "), from, tail) end
  local inner, outer, renamed = {}, {}, false
  for i, item in ipairs(list) do
    local expr, name = item:match('^(.-) AS ("[^"\\]*")$')
    if not expr then expr, name = item:match('^(.*) AS ("[^"]*")$') end
    if expr and expr == name then expr = nil; item = name end
    if expr then
      local tmp = self:q("_ipe_c" .. i)
      inner[i] = expr .. " AS " .. tmp
      outer[i] = tmp .. " AS " .. name
      renamed = true
    else
      inner[i], outer[i] = item, item
    end
  end
  local sql = format("SELECT %s FROM %s%s", concat(inner, ", "), from, tail)
  if not renamed then return sql end
  return format("SELECT %s FROM (%s)", concat(outer, ", "), sql)
end

-- the ORDER BY list of a relation with an order (its hidden column)
function C:order_by(rel)
  if rel.ordlist then
    local parts = {}
    for i, o in ipairs(rel.ordlist) do parts[i] = (o.path:gsub("@", function() return self:q(rel.ord) end)) .. o.dir end
    return concat(parts, ", ")
  end
  return self:q(rel.ord)
end

-- a literal regular expression that does not compile is an error of the query, at its place
-- (PCRE2 through the workspace's own regexp(), on a private in-memory database)
local regex_db
function C:check_regex(e)
  if type(e.lit) ~= "string" then return end
  if regex_db == nil then
    local ok, sqlite = pcall(require, "ipe.sqlite")
    regex_db = ok and sqlite.open(":memory:", "rwc") or false
  end
  if not regex_db then return end
  local ok, msg = pcall(regex_db.query, regex_db, "SELECT regexp(?, '')", { e.lit })
  if not ok then raise(e.at, "%s", (tostring(msg):match("bad regular expression[^\n]*") or "bad regular expression")) end
end

function C:cte(sql)
  self.nctes = self.nctes + 1
  local name = "_k" .. self.nctes
  if self.subs then
    name = "\1" .. name
    self.subs[name] = sql
  end
  -- NOT MATERIALIZED: a CTE read twice (a let used by both sides, a batch's shared scan) is
  -- inlined where it is read, so each read keeps its filters and indexes (SQLite would copy a
  -- whole table scan first); materialize() asks for the copy (C:materialized)
  self.ctes[#self.ctes + 1] = self:q(name) .. (self.f.cte_hint or " AS (") .. sql .. ")"
  self.cte_at = self.cte_at or {}
  self.cte_at[name] = #self.ctes
  return name
end

-- materialize(T): T's CTE computed once
function C:materialized(rel)
  local i = self.cte_at and self.cte_at[rel.name]
  if i and self.f.cte_hint then
    self.ctes[i] = self.ctes[i]:gsub(self.f.cte_hint:gsub("%p", "%%%0"), " AS MATERIALIZED (", 1)
  end
  return rel
end

-- a relation: {name = CTE or table, cols = {{name=, type=}}, ord = column name or nil}


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


-- ---------------------------------------------------------------- typed expressions
-- An expression compiles to {sql=, type=, lit=<constant Lua value or nil>, null=<a null literal>,
-- col=<column name when a plain column>, agg=<holds an aggregation>}


-- a string expression whose NULL reads as "" (Kusto's strings are never null)
function C:str(e)
  if e.type == "dynamic" then return "coalesce(" .. (e.scalar or self.f.json_value(e.sql, e.json)) .. ", '')" end
  if e.lit ~= nil and e.type == "string" then return e.sql end
  if e.type == "bool" then return "(CASE WHEN " .. e.sql .. " IS NULL THEN '' WHEN " .. e.sql .. " THEN 'true' ELSE 'false' END)" end
  if e.type ~= "string" then return "coalesce(" .. self.f.to_text(e.sql) .. ", '')" end
  return "coalesce(" .. e.sql .. ", '')"
end

-- the scalar value of an expression (a dynamic's JSON scalar unwrapped)
function C:scalar(e)
  if e.type == "dynamic" then return e.scalar or self.f.json_value(e.sql, e.json) end
  return e.sql
end

-- the JSON text of an expression, as a dynamic
function C:dyn(e)
  if e.type == "dynamic" then return e.sql end
  if e.type == "bool" then return "(CASE WHEN " .. e.sql .. " THEN 'true' WHEN NOT " .. e.sql .. " THEN 'false' END)" end
  if NUMERIC[e.type] then return self.f.to_text(e.sql) end
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
  local sql = self:bind(bound)
  -- a whole real (100.0) is bound as an integer: typed real, so 100.0 * n / m does not divide whole numbers
  if ty == "real" and type(v) == "number" and v % 1 == 0 then
    sql = self.f.cast_real and self.f.cast_real(sql) or "CAST(" .. sql .. " AS REAL)"
  end
  return E(sql, ty, { lit = v, at = at })
end


-- the Kusto name a column gets from an expression without one, or nil


-- ---------------------------------------------------------------- environments (let)



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
      if self.refs and self.refs.rel == rel then self.refs[#self.refs + 1] = c end   -- (see OPS.where)
      return E((scope.alias and scope.alias .. "." or "") .. self:q(name), c.type, { col = name })
    end
  end
  local v = lookup(scope.env, name)
  if v then
    if v.kind == "scalar" then
      if v.given ~= nil and not v.compiled then v.compiled = self:given_value(v.given, v.type, v.at) end
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
  if self.f.term_regex then return self:bind(self.f.term_regex(n, cs, n:match("^[%w]"), n:match("[%w]$"))) end
  local cls = cs and "[^a-zA-Z0-9]" or "[^a-z0-9]"
  local left = n:match("^[%w]") and ("*" .. cls) or "*"
  local right = n:match("[%w]$") and (cls .. "*") or "*"
  return self:bind(left .. glob_escape(n) .. right)
end

-- text matched literally by a LIKE pattern with ESCAPE '\\' (its %, _ and \\ escaped)
local function like_escape(s)
  return (s:gsub("[\\%%_]", "\\%0"))
end

-- a term match behind a cheap substring test the text must pass first: instr for a term
-- without letters (an IP address, a number: case does not matter) or a case-sensitive one,
-- a case-insensitive LIKE (no lower() copy of the text) for the others
function C:prefiltered(x, term, cs, match)
  local f = self.f
  if cs or not term:find("%a") then return format("(%s AND %s)", f.contains_cs(x, self:bind(term)), match) end
  if not f.like_ci then return match end
  return format("(%s AND %s)", f.like_ci(x, self:bind("%" .. like_escape(term) .. "%")), match)
end

-- the positive form of a string operator
function C:string_op(op, l, r)
  local f = self.f
  local x = self:str(l)
  if op == "has" or op == "has_cs" or op == "hasprefix" or op == "hassuffix" then
    local cs = op == "has_cs"
    if r.lit ~= nil and type(r.lit) == "string" then
      if r.lit == "" then return "1" end
      if self.f.term_regex and (op == "hasprefix" or op == "hassuffix") then
        local n = r.lit:lower()
        return f.glob(x, self:bind(self.f.term_regex(n, false, op == "hasprefix" and n:match("^%w"),
          op == "hassuffix" and n:match("%w$"))), false)
      end
      if op == "hasprefix" then
        local n = r.lit:lower()
        return f.glob(x, self:bind((n:match("^%w") and "*[^a-z0-9]" or "*") .. glob_escape(n) .. "*"), false)
      elseif op == "hassuffix" then
        local n = r.lit:lower()
        return f.glob(x, self:bind("*" .. glob_escape(n) .. (n:match("%w$") and "[^a-z0-9]*" or "*")), false)
      end
      return self:prefiltered(x, r.lit, cs, f.glob(x, self:term_pattern(r.lit, cs), cs))
    end
    local term = f.glob_term(self:str(r), cs)
    if not term then self:refused(r.at or r, op .. " with a term that is not a literal") end
    return f.glob(x, term, cs)
  elseif op == "contains" then return f.contains(x, self:str(r))
  elseif op == "contains_cs" then return f.contains_cs(x, self:str(r))
  elseif op == "startswith" then
    -- a literal prefix as a LIKE pattern where the dialect has one: no lower() copy of each text
    if f.starts_like and type(r.lit) == "string" then return f.starts_like(x, self:bind(like_escape(r.lit) .. "%")) end
    return f.starts(x, self:str(r), false)
  elseif op == "startswith_cs" then return f.starts(x, self:str(r), true)
  elseif op == "endswith" then return f.ends(x, self:str(r), false)
  elseif op == "endswith_cs" then return f.ends(x, self:str(r), true)
  elseif op == "matches" then self:check_regex(r); return f.regex_match(x, self:str(r))
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
    -- a chain a or b or c ... as one flat list (SQLite's parser has a limited depth)
    local terms, stack = {}, { node }
    while #stack > 0 do
      local x = table.remove(stack)
      if x.k == "bin" and x.op == op then stack[#stack + 1] = x.r; stack[#stack + 1] = x.l
      else terms[#terms + 1] = x end
    end
    local parts, agg = {}, false
    for i, t in ipairs(terms) do
      local e = self:expr(t, scope)
      parts[i] = e.sql
      agg = agg or e.agg
    end
    return E("(" .. concat(parts, " " .. op:upper() .. " ") .. ")", "bool", { agg = agg })
  end
  if node.l.k == "star" then return self:any_column(node, scope) end
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
    if op == "/" and ty == "real" and l.type ~= "real" and r.type ~= "real" then
      a = f.cast_real and f.cast_real(a) or "CAST(" .. a .. " AS REAL)"
    end
    return E(format("(%s %s %s)", a, op, b), ty, { agg = agg })
  end
  if CMP_SQL[op] then
    if l.type == "datetime" and r.type == "string" then r = E(f.to_datetime(r.sql), "datetime") end
    if r.type == "datetime" and l.type == "string" then l = E(f.to_datetime(l.sql), "datetime") end
    -- a string compared with a number (ResultType == 0, EventID == "4625", as published queries
    -- write): compared as numbers; a string that is not one matches nothing ('!=' keeps it)
    if not (l.null or r.null) and ((is_string(l) and NUMERIC[r.type]) or (is_string(r) and NUMERIC[l.type])) then
      local a = is_string(l) and f.to_real(l.sql) or l.sql
      local b = is_string(r) and f.to_real(r.sql) or r.sql
      if op == "!=" then return E(format("(NOT coalesce(%s = %s, 0))", a, b), "bool", { agg = agg }) end
      return E(format("(%s %s %s)", a, CMP_SQL[op], b), "bool", { agg = agg })
    end
    if is_string(l) or is_string(r) then
      local sop = CMP_SQL[op]
      if op == "==" and ((r.lit ~= nil and r.lit ~= "" and is_string(r)) or (l.lit ~= nil and l.lit ~= "" and is_string(l))) then
        return E(format("(%s = %s)", self:scalar(l), self:scalar(r)), "bool", { agg = agg })
      end
      return E(format("(%s %s %s)", self:str(l), sop, self:str(r)), "bool", { agg = agg })
    end
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

-- * has "x" (and the other string operators): any text or dynamic column of the row
local ANY_OPS = { has = true, has_cs = true, contains = true, contains_cs = true, startswith = true,
  endswith = true, hasprefix = true, hassuffix = true, matches = true }
function C:any_column(node, scope)
  local op = node.op
  local neg = op:sub(1, 1) == "!"
  local base = neg and op:sub(2) or op
  if not ANY_OPS[base] or not scope.rel then raise(node.l, "'*' is valid only before a string operator (* has \"x\")") end
  local r = self:expr(node.r, scope)
  local parts = {}
  for _, c in ipairs(scope.rel.cols) do
    if c.type == "string" or c.type == "dynamic" then
      local col = E((scope.alias and scope.alias .. "." or "") .. self:q(c.name), c.type)
      parts[#parts + 1] = "coalesce(" .. self:string_op(base, col, r) .. ", 0)"
    end
  end
  local any = #parts > 0 and "(" .. concat(parts, " OR ") .. ")" or "0"
  return E(neg and "(NOT " .. any .. ")" or any, "bool")
end

-- the values of the right of in / has_any: {sql list} or a subquery text
function C:value_list(node, scope)
  local items, sub = {}, nil
  for _, a in ipairs(node.list) do
    if a.k == "pipe" or (a.k == "name" and not (scope.rel and find_col(scope.rel, a.v)) and self:is_tabular_name(a, scope.env)) then
      local rel = self:tabular(a, scope.env)
      if rel.cols[1].type == "dynamic" then
        -- a column of dynamic lists (summarize make_list ...): Kusto compares with their elements
        sub = self.f.list_elements(self:q(rel.cols[1].name), self:q(rel.name))
      else
        sub = format("SELECT %s FROM %s", self:q(rel.cols[1].name), self:q(rel.name))
      end
    else
      local e = self:expr(a, scope)
      if e.type == "dynamic" and self.f.nested then
        sub = format("SELECT %s FROM (SELECT arrayJoin(%s) AS _ipe_v)", self.f.json_value("_ipe_v"), self.f.json_elements_array(e.sql))
        if #node.list > 1 then raise(a, "a dynamic array must be the only value of the list") end
      elseif e.type == "dynamic" then
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
    if sub and self.f.nested then self:refused(node, op .. " of a table or a dynamic array") end
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
  -- a column the where tests with isnotempty() needs no null guard: its index can answer
  if sub and is_string(e) and e.col and scope.nonempty and scope.nonempty[e.col] then x = e.sql end
  if ci then x = f.lower(x) end
  local s
  if sub then
    s = format("(%s IN (SELECT %s FROM (%s)))", x, ci and "lower(value)" or "value", (sub:gsub("^SELECT (.-) FROM", "SELECT %1 AS value FROM", 1)))
  else
    local parts = {}
    -- a string among numbers (or a number among strings) is compared as a number, as '==' does
    local numeric = NUMERIC[e.type] or (e.type == "dynamic" and items[1] and NUMERIC[items[1].type])
    if is_string(e) and items[1] then
      numeric = true
      for _, it in ipairs(items) do if not NUMERIC[it.type] then numeric = false end end
      if numeric then x = f.to_real(e.sql) end
    end
    for i, it in ipairs(items) do
      local v
      if numeric and is_string(it) then v = f.to_real(it.sql)
      elseif numeric then v = it.sql
      else v = (is_string(it) or it.type == "dynamic") and self:str(it) or it.sql end
      parts[i] = ci and not numeric and f.lower(v) or v
    end
    if numeric and e.type == "dynamic" then x = self:scalar(e) end
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
    if b.type == "string" then b = E(self.f.parse_json(b.sql), "dynamic", { json = true, agg = b.agg })
    else raise(node, "'.%s' needs a dynamic value, found %s", node.field or "[...]", b.type) end
  end
  if self.f.json_keys_get then return self:member_keys(node, path, b) end
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
  return E(self.f.json_get(b.sql, p, b.json), "dynamic", { scalar = self.f.json_scalar(b.sql, p, b.json), agg = b.agg,
    json = b.json })
end

-- .a.b on an engine that reads JSON by key names (ClickHouse): each key a bound name
function C:member_keys(node, path, b)
  local get = b.sql
  for _, p in ipairs(path) do
    if p.k == "member" then get = self.f.json_keys_get(get, { self:bind(p.field) })
    elseif p.idx.k == "lit" and type(p.idx.v) == "string" then get = self.f.json_keys_get(get, { self:bind(p.idx.v) })
    elseif p.idx.k == "lit" and type(p.idx.v) == "number" then
      local i = math.floor(p.idx.v)
      get = self.f.json_index(get, self:bind(i >= 0 and i + 1 or i))
    else self:refused(p, "an array index computed in the query") end
  end
  return E(get, "dynamic", { scalar = self.f.json_value(get), agg = b.agg })
end

-- ---------------------------------------------------------------- functions


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



function C:now_sql()
  return self:bind(timeutil.format_time(self.now))
end

function C:timespan_text(x)
  return format("(CASE WHEN %s IS NULL THEN '' ELSE (CASE WHEN %s < 0 THEN '-' ELSE '' END) || "
    .. "(CASE WHEN abs(%s) >= 86400 THEN CAST(CAST(abs(%s) / 86400 AS INTEGER) AS TEXT) || '.' ELSE '' END) || "
    .. "strftime('%%H:%%M:%%S', abs(%s), 'unixepoch') END)", x, x, x, x, x)
end
function C:call(node, scope)
  local name = node.name
  -- a let-bound function
  local v = lookup(scope.env, name)
  if v and v.kind == "func" then return self:call_lambda(v, node, scope, false) end
  if AGG[name] then
    if not scope.agg then raise(node, "'%s' is an aggregation: use it in 'summarize'", name) end
    if scope.in_agg then raise(node, "an aggregation inside an aggregation is not supported") end
    self:check_engine(node, name)
    local e, dflt = self:aggregate(node, scope)
    e.agg = true; e.default = dflt
    return e
  end
  local fn = SCALAR[name]
  if fn then self:check_engine(node, name) end
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
    if WORKSPACE[node.name] and not lookup(env, node.name) then return true end
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

-- the select list of a scan of table t: every column, or (keep) only those keep names
function C:scan_list(t, keep)
  local list = {}
  for _, c in ipairs(t.columns) do
    if not keep or keep[c.name] or c.name == t.time then
      local ty = c.type == "int" and "long" or (c.type == "guid" and "string" or c.type)
      local item = self.f.ident(c.name)
      if ty == "datetime" and self.f.time_column then item = self.f.time_column(c.name) .. " AS " .. self.f.ident(c.name) end
      list[#list + 1] = item
    end
  end
  return list
end

-- On a nesting engine a scan is written last (\2SCANn\2 until then) with only the columns the
-- statement names somewhere (C:q records each name): every use of it repeats its text, and
-- ClickHouse 18.16 analyses every listed column at every level.
function C:scan_sql(id)
  local s = self.scans[tonumber(id)]
  return self:sel(self:scan_list(s.t, self.named), self.f.ident(s.name), s.where)
end

function C:table_scan(node, name)
  local t = schema.table(name)
  local cols = {}
  for i, c in ipairs(t.columns) do
    local ty = c.type == "int" and "long" or (c.type == "guid" and "string" or c.type)
    cols[i] = { name = c.name, type = ty }
  end
  local list = self:scan_list(t)
  local where = ""
  if self.window and not self.time_filtered and t.time then
    where = format(" WHERE %s >= :from AND %s <= :to", self:q(t.time), self:q(t.time))
    if self.f.window then where = " WHERE " .. self.f.window(t.time) end   -- schema names: plain identifiers
    self.binds.from, self.binds.to = self.window.from, self.window.to
    self.uses_window = true
  end
  if self.named then
    self.scans[#self.scans + 1] = { t = t, name = name, where = where }
    return { name = self:cte("\2SCAN" .. #self.scans .. "\2"), cols = cols, table = name, exact = true,
      scan = { id = #self.scans, where = where } }
  end
  local cte = self:cte(self:sel(list, self:q(name), where))
  return { name = cte, cols = cols, table = name, exact = true, scan = { list = list, where = where } }
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
        -- (not kept when made inside an mv-apply subquery: its CTEs are in the subquery's WITH)
        if not (self.in_apply and self.in_apply > 0) then v.rel = rel end
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
      return self:materialized(self:tabular(node.args[1], env))
    end
    local v = lookup(env, node.name)
    if v and v.kind == "func" then return self:call_lambda(v, node, { env = env }, true) end
    if WORKSPACE[node.name] then return WORKSPACE[node.name](self, node, env) end
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
      if v.given ~= nil and not v.compiled then v.compiled = self:given_value(v.given, v.type, v.at) end
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
      -- a whole number in a real column is real (else SQLite divides its sums as integers)
      if want == "real" and e.type ~= "real" and not e.null then e = E(self.f.cast_real and self.f.cast_real(e.sql) or "CAST(" .. e.sql .. " AS REAL)", "real") end
      items[i] = format("%s AS %s", self.f.typed and self.f.typed(e.sql, want) or e.sql, self:q(cols[i].name))
    end
    rows[r] = "SELECT " .. concat(items, ", ")
  end
  if #rows == 0 then
    local items = {}
    for i, c in ipairs(cols) do items[i] = (self.f.typed and self.f.typed("NULL", c.type) or "NULL") .. " AS " .. self:q(c.name) end
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
aggregates.install(C)
operators.install(C)

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
    ctes = {}, nctes = 0, now = opts.now or os.time(), given = opts.lets, named_ranges = opts.named_ranges }, C)
  if self.f.nested then self.subs, self.named, self.scans = {}, {}, {} end
  self.time_filtered = mentions_time(prog, false, {})
  if opts.window then self.window = opts.window end
  local env = { vars = {} }
  self.root = env
  -- values given for names the query does not declare are bound under their names
  if opts.lets then
    local declared = {}
    for _, l in ipairs(prog.all_lets or prog.lets) do declared[l.name] = true end   -- a batch's later lets too
    local names = {}
    for k in pairs(opts.lets) do if not declared[k] then names[#names + 1] = k end end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = opts.lets[k]
      local ty = opts.types and opts.types[k] or (type(v) == "number" and "real" or "string")
      if ty == "long" and type(v) == "number" and v % 1 ~= 0 then ty = "real" end
      env.vars[k] = { kind = "scalar", given = v, type = ty, at = prog.query }   -- bound when read (C:name_expr)
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
  local sql
  if self.subs then
    sql = self:sel(out, self:q(rel.name), rel.ord and " ORDER BY " .. self:order_by(rel) or "")
    -- a scan's WHERE may hold another scan (x in (T) folded into it): until none is left
    local n
    repeat sql, n = sql:gsub("\2SCAN(%d+)\2", function(id) return self:scan_sql(id) end) until n == 0
  else
    sql = "WITH " .. concat(self.ctes, ",\n") .. "\nSELECT " .. concat(out, ", ") .. " FROM " .. self:q(rel.name)
    if rel.ord then sql = sql .. " ORDER BY " .. self:q(rel.ord) end
  end
  local params = self.params
  if self.uses_window then
    table.insert(params, 1, { name = "to", value = self.window.to })
    table.insert(params, 1, { name = "from", value = self.window.from })
  end
  -- the name '| as Name' gives the result (a batch's table title)
  local q, name = prog.query, nil
  if q.k == "pipe" and q.ops[#q.ops] and q.ops[#q.ops].k == "as" then name = q.ops[#q.ops].name end
  return { sql = sql, binds = self.binds, params = params, columns = cols, windowed = self.uses_window, name = name }
end

return M
