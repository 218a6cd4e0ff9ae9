-- ipe.kql.operators: the tabular operators after '|'. install(C) gives the compiler its
-- operator methods and returns OPS: OPS[kind](compiler, op, rel, env) -> a new relation,
-- one common table expression over rel ({name=, cols={{name=, type=}}, ord=}).
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local err = require "ipe.kql.err"
local h = require "ipe.kql.common"
local schema = require "ipe.schema"
local util = require "ipe.kql.util"

local raise = err.raise
local format, concat = string.format, table.concat
local E, NUMERIC, ORD, is_string = h.E, h.NUMERIC, h.ORD, h.is_string
local find_col, copy_cols, derived_name, lookup, wildcard = h.find_col, h.copy_cols, h.derived_name, h.lookup, h.wildcard
local first_column = h.first_column

local M = {}

-- unique_name(taken, name) -> name, or Kusto's name1, name2 … for a right-side column of a
-- join whose name the left side already has; marks the result taken
local function unique_name(taken, name)
  local out, i = name, 1
  while taken[out] do out = name .. i; i = i + 1 end
  taken[out] = true
  return out
end

function M.install(C)
-- ---------------------------------------------------------------- operators

local OPS = {}

function C:operator(op, rel, env)
  local fn = OPS[op.k]
  if not fn then raise(op, "'%s' is not supported", op.k) end
  self:check_engine(op, op.k)
  return fn(self, op, rel, env)
end

-- SELECT over rel: items = list of "expr AS name", keeps the order column
function C:select(rel, items, cols, tail)
  local list = {}
  for i, s in ipairs(items) do list[i] = s end
  if rel.ord then list[#list + 1] = self:q(rel.ord) end
  local name = self:cte(self:sel(list, self:q(rel.name), tail))
  return { name = name, cols = cols, ord = rel.ord, ordlist = rel.ordlist, exact = true }
end

-- the select list of every column of rel: "*" when rel's CTE has exactly rel's columns
-- (keeps the generated SQL proportional to the query, not to the width of the tables)
function C:keep_cols(rel)
  if rel.exact then return { "*" } end
  return self:all_cols(rel)
end

-- the columns a where's top-level `and` tests with isnotempty(Col): known non-empty in its
-- other terms (`Col in (T)` then compiles to an IN the column's index can answer)
local function nonempty_guards(node, out)
  if node.k == "bin" and node.op == "and" then
    nonempty_guards(node.l, out); nonempty_guards(node.r, out)
  elseif node.k == "call" and (node.name == "isnotempty" or node.name == "notempty") and #node.args == 1
      and node.args[1].k == "name" then
    out[node.args[1].v] = true
  end
  return out
end

function OPS.where(self, op, rel, env)
  local outer = self.refs
  self.refs = { rel = rel }   -- the columns of rel the predicate names
  local e = self:expr(op.e, { rel = rel, env = env, nonempty = nonempty_guards(op.e, {}) })
  local refs = self.refs
  self.refs = outer
  if e.agg then raise(op, "an aggregation in 'where'") end
  if e.type ~= "bool" and not e.null then
    if e.type == "dynamic" then e = E(format("(%s = 'true')", e.sql), "bool")
    else raise(op.e, "'where' needs a bool predicate, found %s", e.type) end
  end
  if rel.arms then
    -- over a union: the filter in each branch, where each table's indexes can answer it (SQLite
    -- pushes no term holding a subquery, `x in (T)`, into a union it cannot flatten)
    local arms = {}
    for i, arm in ipairs(rel.arms) do arms[i] = format("SELECT * FROM (%s) WHERE %s", arm, e.sql) end
    return { name = self:cte(concat(arms, " UNION ALL ")), cols = copy_cols(rel.cols), arms = arms }
  end
  local folded = self:fold_into_scan(rel, e, refs)
  if folded then return folded end
  local list = self:keep_cols(rel)
  local name = self:cte(format("SELECT %s FROM %s WHERE %s", concat(list, ", "), self:q(rel.name), e.sql))
  return { name = name, cols = copy_cols(rel.cols), ord = rel.ord, ordlist = rel.ordlist, exact = rel.exact }
end

-- A nesting engine (ClickHouse) does not push a filter down into the subquery below it: there,
-- a `where` straight after a table scan joins the scan's own WHERE, so only the matching rows are
-- read and have their times rendered. Not when the predicate names a time column: the scan reads
-- the stored time and renders it as text, and the predicate means the text.
function C:fold_into_scan(rel, e, refs)
  local scan = rel.scan
  if not (self.f.nested and scan) then return nil end
  for _, c in ipairs(refs) do
    if c.type == "datetime" then return nil end
  end
  local where = (scan.where == "" and " WHERE " or scan.where .. " AND ") .. e.sql
  if scan.id then   -- a scan written last, with only the columns the statement names (C:scan_sql)
    self.scans[#self.scans + 1] = { t = self.scans[scan.id].t, name = rel.table, where = where }
    return { name = self:cte("\2SCAN" .. #self.scans .. "\2"), cols = copy_cols(rel.cols), table = rel.table, exact = true,
      scan = { id = #self.scans, where = where } }
  end
  local name = self:cte(self:sel(scan.list, self:q(rel.table), where))
  return { name = name, cols = copy_cols(rel.cols), table = rel.table, exact = true, scan = { list = scan.list, where = where } }
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

-- the rows of rel numbered in their order (1, 2 ...: the order column) on a nesting engine,
-- with the columns a row-function plan's prev() / next() read beside them (ipe.kql.clickhouse's
-- numbered); ordered by that number, so a later sort keeps it as its last key
function C:numbered(rel, plan)
  local cols = {}
  for i, c in ipairs(rel.cols) do cols[i] = self:q(c.name) end
  local sql = self.f.numbered(self:q(rel.name), rel.ord and self:order_by(rel), cols, self:q(ORD), plan.shifts)
  return { name = self:cte(sql), cols = copy_cols(rel.cols), ord = ORD, ordlist = { { path = "@", dir = " ASC" } } }
end

-- compile(rel) compiles the items of an extend, project or serialize over rel: the row
-- functions (prev, next, row_number) in them are valid there (see ipe.kql.functions). On a
-- nesting engine (no window functions) they read columns of rel numbered (C:numbered).
-- Returns the relation to select the items' SQL from.
function C:row_functions(rel, compile)
  local outer = self.rowfns
  local plan = { rel = rel, shifts = {} }
  self.rowfns = plan
  compile()
  self.rowfns = outer
  if plan.used and self.f.nested then return self:numbered(rel, plan) end
  return rel
end

function OPS.extend(self, op, rel, env)
  local cols = copy_cols(rel.cols)
  local exprs, replaced = {}, false
  for i, c in ipairs(rel.cols) do exprs[i] = self:q(c.name) end
  local numbered = self:row_functions(rel, function()
    for _, it in ipairs(op.items) do
      if it.names then raise(it.at, "a tuple assignment is not supported in 'extend'") end
      local e = self:expr(it.e, { rel = rel, env = env })
      if e.agg then raise(it.e, "an aggregation in 'extend' (use 'summarize')") end
      local name = it.name or self:auto_name(cols, it.e)
      local _, idx = find_col({ cols = cols }, name)
      if idx then
        cols[idx].type = e.type; exprs[idx] = e.sql .. " AS " .. self:q(name)
        if idx <= #rel.cols then replaced = true end
      else
        cols[#cols + 1] = { name = name, type = e.type }
        exprs[#exprs + 1] = e.sql .. " AS " .. self:q(name)
      end
    end
  end)
  if numbered ~= rel then return self:select(numbered, exprs, cols) end
  if rel.over_src then
    -- right after 'order': the new columns and the order's row number computed over its input,
    -- their windows the order's own (one sort)
    exprs[#exprs + 1] = format("row_number() OVER (ORDER BY %s) AS %s", rel.over_by, self:q(ORD))
    return { name = self:cte(format("SELECT %s FROM %s", concat(exprs, ", "), self:q(rel.over_src))), cols = cols, ord = ORD }
  end
  if rel.exact and not replaced and not self.f.nested then
    -- only new columns (none replaced): the prior CTE's columns as "*" (not on a nesting
    -- engine: its renaming subquery would let "*" carry the internal names out)
    local added = { "*" }
    for i = #rel.cols + 1, #exprs do added[#added + 1] = exprs[i] end
    local name = self:cte(format("SELECT %s FROM %s", concat(added, ", "), self:q(rel.name)))
    return { name = name, cols = cols, ord = rel.ord, ordlist = rel.ordlist, exact = true }
  end
  return self:select(rel, exprs, cols)
end

function OPS.project(self, op, rel, env)
  local cols, exprs, seen = {}, {}, {}
  local numbered = self:row_functions(rel, function()
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
  end)
  return self:select(numbered, exprs, cols)
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

-- order keys as SQL, and each key's {sql = its value, by = its ORDER BY term, string = is a string}
function C:order_sql(rel, keys, env)
  local parts, each = {}, {}
  for i, k in ipairs(keys) do
    local e = self:expr(k.e, { rel = rel, env = env })
    local x = e.type == "dynamic" and self:scalar(e) or (is_string(e) and self:str(e)) or e.sql
    parts[i] = x .. (k.desc and " DESC" or " ASC") .. self.f.nulls(k.desc, k.nulls or (k.desc and "last" or "first"))
    each[i] = { sql = x, by = parts[i], string = is_string(e) }
  end
  return concat(parts, ", "), each
end

-- on a nesting engine (no window functions): the keys kept as a hidden tuple, ordered by its
-- elements (then by the order the relation had)
function C:order_tuple(rel, keys, env)
  local items, ordlist = {}, {}
  for i, k in ipairs(keys) do
    local e = self:expr(k.e, { rel = rel, env = env })
    items[i] = e.type == "dynamic" and self:scalar(e) or (is_string(e) and self:str(e)) or e.sql
    ordlist[i] = { path = "tupleElement(@, " .. i .. ")",
      dir = (k.desc and " DESC" or " ASC") .. self.f.nulls(k.desc, k.nulls or (k.desc and "last" or "first")) }
  end
  if rel.ordlist then
    local n = #items + 1
    items[n] = self:q(rel.ord)
    for _, o in ipairs(rel.ordlist) do
      ordlist[#ordlist + 1] = { path = (o.path:gsub("@", function() return "tupleElement(@, " .. n .. ")" end)), dir = o.dir }
    end
  end
  local list = {}
  for _, c in ipairs(rel.cols) do list[#list + 1] = self:q(c.name) end
  list[#list + 1] = format("tuple(%s) AS %s", concat(items, ", "), self:q(ORD))
  local name = self:cte(self:sel(list, self:q(rel.name)))
  return { name = name, cols = copy_cols(rel.cols), ord = ORD, ordlist = ordlist }
end

function OPS.order(self, op, rel, env)
  if self.f.nested then return self:order_tuple(rel, op.keys, env) end
  local by, each = self:order_sql(rel, op.keys, env)
  local list = {}
  for _, c in ipairs(rel.cols) do list[#list + 1] = self:q(c.name) end
  local tail = rel.ord and self:q(rel.ord) or nil
  by = by .. (tail and ", " .. tail or "")
  list[#list + 1] = format("row_number() OVER (ORDER BY %s) AS %s", by, self:q(ORD))
  local name = self:cte(format("SELECT %s FROM %s", concat(list, ", "), self:q(rel.name)))
  -- over_src/over_by: an extend right after (prev(), next(), row_number()) is computed over
  -- rel with this same window, one sort for both (see OPS.extend); over_keys: the keys, for
  -- a test of "the previous row is in the same group" (ipe.kql.functions' iff)
  local keys = {}
  for i, k in ipairs(op.keys) do
    keys[i] = { node = k.e, asc = not k.desc and (k.nulls or "first") == "first", sql = each[i].sql,
      by = each[i].by, string = each[i].string }
  end
  return { name = name, cols = copy_cols(rel.cols), ord = ORD, over_src = rel.name, over_by = by,
    over_keys = keys, over_tail = tail }
end

function C:count_value(node, env, what)
  local e = self:expr(node, { env = env })
  if not NUMERIC[e.type] then raise(node, "'%s' needs a number of rows", what) end
  return e.sql
end

-- the first n_sql rows of rel (in its order when it has one)
function C:limit(rel, n_sql)
  local list = self:keep_cols(rel)
  local name = self:cte(format("SELECT %s FROM %s%s LIMIT %s", concat(list, ", "), self:q(rel.name),
    rel.ord and " ORDER BY " .. self:order_by(rel) or "", n_sql))
  return { name = name, cols = copy_cols(rel.cols), ord = rel.ord, ordlist = rel.ordlist, exact = rel.exact }
end

function OPS.take(self, op, rel, env)
  return self:limit(rel, self:count_value(op.n, env, "take"))
end

function OPS.top(self, op, rel, env)
  local n = self:count_value(op.n, env, "top")
  return self:limit(OPS.order(self, { keys = op.keys }, rel, env), n)
end

function OPS.count(self, op, rel)
  return { name = self:cte(self:sel({ "count(*) AS " .. self:q("Count") }, self:q(rel.name))),
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
  if self.f.nested then
    -- DISTINCT over the renamed columns (an inner alias would shadow a column)
    return { name = self:cte(format("SELECT DISTINCT * FROM (%s)", self:sel(exprs, self:q(rel.name)))), cols = cols }
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
    groups[#groups + 1] = self.f.nested and sql or tostring(#exprs)
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
  local out = { name = self:cte(self:sel(exprs, self:q(rel.name), tail)), cols = cols }
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
  if self.f.nested then
    -- argMax / argMin of each column by the key, per group
    local fn = call.name == "arg_max" and "argMax" or "argMin"
    local items = {}
    for i, s in ipairs(out_exprs) do
      local x, name = s:match('^(.*) AS ("[^"]*")$')
      items[i] = i <= #group_sql and s or format("%s(%s, %s) AS %s", fn, x, key.sql, name)
    end
    local tail = format(" WHERE %s IS NOT NULL", key.sql) .. (#group_sql > 0 and " GROUP BY " .. concat(group_sql, ", ") or "")
    return { name = self:cte(self:sel(items, self:q(rel.name), tail)), cols = out_cols }
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
  for i, k in ipairs(keys) do
    local c = find_col(rel, k)
    part[i] = c and c.type == "string" and "coalesce(" .. self:q(k) .. ", '')" or self:q(k)   -- "" and a missing string are one key
  end
  local list = self:all_cols(rel)
  if self.f.nested then
    return { name = self:cte(format("SELECT %s FROM %s LIMIT 1 BY %s", concat(list, ", "), self:q(rel.name), concat(part, ", "))),
      cols = rel.cols }
  end
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
  if self.f.nested then return self:join_nested(op, kind, left, right) end
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
      local name = unique_name(taken, c.name)
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
  -- a column of different types in the tables (RemotePort long here, string there): text on an
  -- engine whose UNION ALL needs one type per column
  local mixed = {}
  if self.f.nested then
    for _, c in ipairs(cols) do
      for _, r in ipairs(rels) do
        local rc = find_col(r, c.name)
        if rc and rc.type ~= c.type then mixed[c.name] = true end
      end
      if mixed[c.name] then c.type = "string" end
    end
  end
  local parts = {}
  for i, r in ipairs(rels) do
    local list = {}
    for j, c in ipairs(cols) do
      if withsource and j == 1 then list[j] = self:bind(labels[i]) .. " AS " .. self:q(c.name)
      else
        local null = self.f.typed and self.f.typed("NULL", c.type) or "NULL"
        local v = find_col(r, c.name) and self:q(c.name) or null
        if mixed[c.name] and v ~= null then v = self.f.to_text(v) end
        list[j] = v .. " AS " .. self:q(c.name)
      end
    end
    parts[i] = self:sel(list, self:q(r.name))
  end
  return { name = self:cte(concat(parts, " UNION ALL ")), cols = cols, arms = not self.f.nested and parts or nil }
end

OPS.union = function(self, op, rel, env) return self:union(op, env, rel) end

-- the values mv-expand and mv-apply expand for one row of rel (alias t): the FROM items (a
-- json_each of the first array, the others read at its index), the first one's alias, and
-- each item's {name=, type=, sql=}; names the items take are added to cols (for auto_name)
function C:expand_values(items, rel, env, cols)
  local from, first, out = {}, nil, {}
  for n, it in ipairs(items) do
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
      if NUMERIC[ty] then value = self.f.to_real(value) end
    end
    if not find_col({ cols = cols }, name) then cols[#cols + 1] = { name = name, type = ty } end
    out[n] = { name = name, type = ty, sql = value }
  end
  return out, from, first
end

OPS["mv-expand"] = function(self, op, rel, env)
  if self.f.nested then return self:mv_expand_nested(op, rel, env) end
  local cols = copy_cols(rel.cols)
  local exprs = {}
  for i, c in ipairs(rel.cols) do exprs[i] = "t." .. self:q(c.name) end
  local vals, from, first = self:expand_values(op.items, rel, env, copy_cols(rel.cols))
  for _, v in ipairs(vals) do
    local _, idx = find_col({ cols = cols }, v.name)
    if idx then cols[idx].type = v.type; exprs[idx] = v.sql .. " AS " .. self:q(v.name)
    else cols[#cols + 1] = { name = v.name, type = v.type }; exprs[#exprs + 1] = v.sql .. " AS " .. self:q(v.name) end
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

-- mv-apply: for each row t of rel, the subquery's operators run over the subtable of t's
-- expanded values (only those columns, and the item index), as a correlated subquery with a
-- WITH of its own that packs its rows into one JSON array of arrays; the row's other columns
-- then stand beside each of its rows (json_each of that array), in the subquery's order.

-- the subtable's SELECT list and columns: the expanded values, then the item index
function C:apply_subtable(op, rel, env)
  local vals, from, first = self:expand_values(op.items, rel, env, copy_cols(rel.cols))
  local sub_cols, list, expanded = {}, {}, {}
  for i, v in ipairs(vals) do
    if expanded[v.name] then raise(op.items[i].at, "'mv-apply' expands two columns named '%s'", v.name) end
    expanded[v.name] = true
    sub_cols[i] = { name = v.name, type = v.type }
    list[i] = v.sql .. " AS " .. self:q(v.name)
  end
  local widx = op.opts.with_itemindex
  if widx then
    if expanded[widx.v] then raise(widx.tok, "'mv-apply' expands two columns named '%s'", widx.v) end
    sub_cols[#sub_cols + 1] = { name = widx.v, type = "long" }
    list[#list + 1] = format("CAST(%s.key AS INTEGER) AS %s", first, self:q(widx.v))
  end
  local where = ""
  if op.limit then where = format(" WHERE %s.key < %s", first, self:count_value(op.limit, env, "mv-apply limit")) end
  return format("SELECT %s FROM %s%s", concat(list, ", "), concat(from, ", "), where), sub_cols, expanded
end

-- the subquery's relation and the CTEs of its own WITH (they read t). A let table it compiles
-- is not kept for the outer query (its CTEs would not be there).
function C:apply_subquery(op, env, sql, sub_cols)
  local outer_ctes = self.ctes
  self.ctes = {}
  self.in_apply = (self.in_apply or 0) + 1
  local ok, sub = pcall(function()
    local r = { name = self:cte(sql), cols = sub_cols, exact = true }
    local senv = h.child(env)
    for _, o in ipairs(op.ops) do r = self:operator(o, r, senv) end
    return r
  end)
  local inner = self.ctes
  self.ctes, self.in_apply = outer_ctes, self.in_apply - 1
  if not ok then error(sub, 0) end
  return sub, inner
end

-- column c of the subquery, element i of each packed row: what packs it, what reads it back
function C:apply_value(c, i)
  local x = self:q(c.name)
  local path = "'$[" .. (i - 1) .. "]'"
  if c.type == "dynamic" then
    return self.f.parse_json(x), format("(CASE WHEN json_type(r.value, %s) <> 'null' THEN r.value -> %s END)", path, path)
  elseif NUMERIC[c.type] or c.type == "timespan" then
    -- a real travels as 17 digits of text (JSON keeps 15)
    return format("(CASE WHEN typeof(%s) = 'real' THEN printf('%%!.17g', %s) ELSE %s END)", x, x, x),
      format("(CASE WHEN json_type(r.value, %s) = 'text' THEN CAST(r.value ->> %s AS REAL) ELSE r.value ->> %s END)",
        path, path, path)
  end
  return x, format("(r.value ->> %s)", path)
end

OPS["mv-apply"] = function(self, op, rel, env)
  local sql, sub_cols, expanded = self:apply_subtable(op, rel, env)
  local sub, inner = self:apply_subquery(op, env, sql, sub_cols)
  -- the input's columns that were not expanded, then the subquery's
  local cols, exprs, packed = {}, {}, {}
  for _, c in ipairs(rel.cols) do
    if not expanded[c.name] then cols[#cols + 1] = { name = c.name, type = c.type }; exprs[#exprs + 1] = "t." .. self:q(c.name) end
  end
  for i, c in ipairs(sub.cols) do
    if find_col({ cols = cols }, c.name) then
      raise(op, "'mv-apply': its subquery's column '%s' is also a column of its input", c.name)
    end
    local pack, read = self:apply_value(c, i)
    packed[i] = pack
    cols[#cols + 1] = { name = c.name, type = c.type }
    exprs[#exprs + 1] = read .. " AS " .. self:q(c.name)
  end
  local rows = format("(WITH %s SELECT json_group_array(json_array(%s)) FROM (SELECT * FROM %s%s))", concat(inner, ", "),
    concat(packed, ", "), self:q(sub.name), sub.ord and " ORDER BY " .. self:order_by(sub) or "")
  local ord = nil
  if rel.ord then
    exprs[#exprs + 1] = format("row_number() OVER (ORDER BY t.%s, r.key) AS %s", self:q(rel.ord), self:q(ORD))
    ord = ORD
  end
  return { name = self:cte(format("SELECT %s FROM %s t, json_each(%s) r", concat(exprs, ", "), self:q(rel.name), rows)),
    cols = cols, ord = ord }
end

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
  if not rel.ord and self.f.nested then
    rel = self:numbered(rel, { shifts = {} })
  elseif not rel.ord then
    local list = self:all_cols(rel)
    list[#list + 1] = "row_number() OVER () AS " .. self:q(ORD)
    rel = { name = self:cte(format("SELECT %s FROM %s", concat(list, ", "), self:q(rel.name))), cols = copy_cols(rel.cols), ord = ORD }
  end
  if #op.items > 0 then return OPS.extend(self, op, rel, env) end
  return rel
end


-- join on a nesting engine (ClickHouse 18.16: no correlated subqueries, JOIN ... USING):
-- the keys computed on both sides as _ipe_jN, the right's columns renamed _ipe_rN (nullable,
-- so a leftouter row without a match reads NULL); semi and anti joins as (keys) IN (...)
function C:join_nested(op, kind, left, right)
  local lk, rk = {}, {}
  for i, k in ipairs(op.keys) do
    local lc, rc = find_col(left, k.left), find_col(right, k.right)
    local l, r = self:q(k.left), self:q(k.right)
    if lc.type == "string" or rc.type == "string" then l, r = "coalesce(" .. l .. ", '')", "coalesce(" .. r .. ", '')" end
    lk[i], rk[i] = l, r
  end
  local function tuple(list) return #list == 1 and list[1] or "(" .. concat(list, ", ") .. ")" end
  local function only(r, keys, other, okeys, neg)
    return { name = self:cte(format("SELECT %s FROM %s WHERE %s %sIN (SELECT %s FROM %s)", concat(self:all_cols({ cols = r.cols }), ", "),
      self:q(r.name), tuple(keys), neg and "NOT " or "", concat(okeys, ", "), self:q(other.name))), cols = copy_cols(r.cols) }
  end
  if kind == "leftsemi" then return only(left, lk, right, rk, false) end
  if kind == "leftanti" then return only(left, lk, right, rk, true) end
  if kind == "rightsemi" then return only(right, rk, left, lk, false) end
  if kind == "rightanti" then return only(right, rk, left, lk, true) end
  local litems, ritems, using = {}, {}, {}
  for _, c in ipairs(left.cols) do litems[#litems + 1] = self:q(c.name) end
  for i, x in ipairs(lk) do
    local j = self:q("_ipe_j" .. i)
    litems[#litems + 1] = x .. " AS " .. j
    ritems[#ritems + 1] = rk[i] .. " AS " .. j
    using[i] = j
  end
  local cols, exprs, taken = {}, {}, {}
  for _, c in ipairs(left.cols) do
    taken[c.name] = true
    cols[#cols + 1] = { name = c.name, type = c.type }
    exprs[#exprs + 1] = self:q(c.name)
  end
  local lookup_keys = {}
  if op.k == "lookup" then for _, key in ipairs(op.keys) do lookup_keys[key.right] = true end end
  for n, c in ipairs(right.cols) do
    if not lookup_keys[c.name] then
      local name = unique_name(taken, c.name)
      local tmp = self:q("_ipe_r" .. n)
      ritems[#ritems + 1] = "toNullable(" .. self:q(c.name) .. ") AS " .. tmp
      cols[#cols + 1] = { name = name, type = c.type }
      exprs[#exprs + 1] = tmp .. " AS " .. self:q(name)
    end
  end
  local jk = ({ inner = "ALL INNER JOIN", leftouter = "ALL LEFT JOIN", rightouter = "ALL RIGHT JOIN", fullouter = "ALL FULL JOIN" })[kind]
  local from = format("(%s) %s (%s) USING %s", self:sel(litems, self:q(left.name)), jk, self:sel(ritems, self:q(right.name)),
    concat(using, ", "))
  return { name = self:cte(self:sel(exprs, from)), cols = cols }
end

-- evaluate ipv4_lookup(LookupTable, SourceKey, LookupKey [, return_unmatched]) and ipv6_lookup:
-- each input row with each lookup row whose block (a CIDR, or an address as its /32 or /128)
-- holds the input's address; the columns are the input's, then the lookup table's (a name the
-- input has gets a number, as in join). ipv4_lookup reads IPv4 texts only (on both sides);
-- ipv6_lookup both families, an IPv4 address as its IPv4-mapped IPv6 form (as Kusto's ipv6_
-- functions). The match is a key probe per prefix length the lookup table uses (the
-- address's first bits against each block's), never a test of every block.
local EVALUATE = {}

function EVALUATE.ip_lookup(self, op, rel, env)
  local a = op.args
  local fam4 = op.plugin == "ipv4_lookup"
  if #a < 3 then raise(op.at, "'%s' takes a lookup table, the input's key column and the lookup table's key column", op.plugin) end
  local unmatched = false
  if #a >= 4 then
    local last = a[#a]
    if #a > 4 or not (last.k == "lit" and last.type == "bool") then
      raise(a[4], "'%s': extra key columns are not supported (only return_unmatched: true or false)", op.plugin)
    end
    unmatched = last.v
  end
  local right = self:tabular(a[1], env)
  local function key(arg, r, what)
    if arg.k ~= "name" then raise(arg, "'%s': the %s must be a column name", op.plugin, what) end
    local c = find_col(r, arg.v)
    if not c then self:unknown_column(arg, arg.v, r) end
    if c.type ~= "string" then raise(arg, "'%s': the %s '%s' is %s, not a string", op.plugin, what, arg.v, c.type) end
    return self:q(arg.v)
  end
  local src, blk = key(a[2], rel, "input's key column"), key(a[3], right, "lookup table's key column")
  if unmatched and self.f.nested then self:refused(a[4], op.plugin .. " with return_unmatched") end
  -- the columns: the input's, then the lookup table's
  local cols, lexprs, rexprs, taken = {}, {}, {}, {}
  for _, c in ipairs(rel.cols) do
    taken[c.name] = true
    cols[#cols + 1] = { name = c.name, type = c.type }
    lexprs[#lexprs + 1] = self:q(c.name)
  end
  local rnames = {}
  for n, c in ipairs(right.cols) do
    local name = unique_name(taken, c.name)
    cols[#cols + 1] = { name = name, type = c.type }
    rnames[n] = name
  end
  if self.f.nested then
    -- one hash join on a key text: each input row's address at each prefix length its family
    -- has (arrayJoin; an IPv4 text 96..128) against each block's own
    local _, bkey, ok = self.f.block(blk, fam4)
    local litems = { unpack(lexprs) }
    litems[#litems + 1] = format("arrayJoin(arrayFilter(k -> k <> '', arrayMap(b -> %s, %s))) AS %s",
      self.f.address_key(src, "b", fam4), self.f.prefix_lengths(src), self:q("_ipe_j1"))
    local ritems, exprs = { bkey .. " AS " .. self:q("_ipe_j1") }, { unpack(lexprs) }
    for n, c in ipairs(right.cols) do
      local tmp = self:q("_ipe_r" .. n)
      ritems[#ritems + 1] = self:q(c.name) .. " AS " .. tmp
      exprs[#exprs + 1] = tmp .. " AS " .. self:q(rnames[n])
    end
    local from = format("(%s) ALL INNER JOIN (%s) USING %s", self:sel(litems, self:q(rel.name)),
      self:sel(ritems, self:q(right.name), " WHERE " .. ok), self:q("_ipe_j1"))
    return { name = self:cte(self:sel(exprs, from)), cols = cols }
  end
  -- the lookup rows with a block, its prefix length and first address; the lengths in use
  local bits, start = self.f.block("r." .. blk, fam4)
  local blocks = self:cte(format("SELECT r.*, %s AS %s, %s AS %s FROM %s r WHERE %s IS NOT NULL", bits, self:q("_ipe_b"),
    start, self:q("_ipe_s"), self:q(right.name), bits))
  local lens = self:cte(format("SELECT DISTINCT %s FROM %s", self:q("_ipe_b"), self:q(blocks)))
  -- computed once each (the probes read them per input row): the blocks get an index
  self:materialized({ name = blocks }); self:materialized({ name = lens })
  local la, ra = {}, {}
  for i, x in ipairs(lexprs) do la[i] = "l." .. x .. " AS " .. x end
  for n, c in ipairs(right.cols) do ra[n] = "r." .. self:q(c.name) .. " AS " .. self:q(rnames[n]) end
  local addr = self.f.address_key("l." .. src, "b." .. self:q("_ipe_b"), fam4)
  -- CROSS JOIN fixes the loop order: per input row and prefix length, one probe
  local probe = format("%s l CROSS JOIN %s b CROSS JOIN %s r ON r.%s = b.%s AND r.%s = %s", self:q(rel.name),
    self:q(lens), self:q(blocks), self:q("_ipe_b"), self:q("_ipe_b"), self:q("_ipe_s"), addr)
  local sql = format("SELECT %s, %s FROM %s", concat(la, ", "), concat(ra, ", "), probe)
  if unmatched then
    local nulls = {}
    for n in ipairs(right.cols) do nulls[n] = "NULL AS " .. self:q(rnames[n]) end
    sql = sql .. format(" UNION ALL SELECT %s, %s FROM %s l WHERE NOT EXISTS (SELECT 1 FROM %s b JOIN %s r ON r.%s = b.%s "
      .. "AND r.%s = %s)", concat(la, ", "), concat(nulls, ", "), self:q(rel.name), self:q(lens), self:q(blocks),
      self:q("_ipe_b"), self:q("_ipe_b"), self:q("_ipe_s"), addr)
  end
  return { name = self:cte(sql), cols = cols }
end

function OPS.evaluate(self, op, rel, env)
  return EVALUATE.ip_lookup(self, op, rel, env)
end

-- mv-expand on a nesting engine: one column, its flat JSON array's elements by arrayJoin
function C:mv_expand_nested(op, rel, env)
  if #op.items > 1 then self:refused(op.items[2].e, "mv-expand of several columns") end
  if op.opts.with_itemindex then self:refused(op, "mv-expand with_itemindex") end
  if op.limit then self:refused(op, "mv-expand limit") end
  local it = op.items[1]
  local e = self:expr(it.e, { rel = rel, env = env })
  local name = it.name or derived_name(it.e) or self:auto_name(rel.cols, it.e)
  local value = format("nullIf(arrayJoin(%s), 'null')", self.f.json_elements_array(self:dyn(e)))
  local ty = "dynamic"
  if it.to and it.to ~= "dynamic" then
    ty = it.to == "int" and "long" or it.to
    value = self.f.json_value(value)
    if NUMERIC[ty] then value = self.f.to_real(value) end
  end
  local cols, exprs = copy_cols(rel.cols), {}
  for i, c in ipairs(rel.cols) do exprs[i] = self:q(c.name) end
  local _, idx = find_col({ cols = cols }, name)
  if idx then cols[idx].type = ty; exprs[idx] = value .. " AS " .. self:q(name)
  else cols[#cols + 1] = { name = name, type = ty }; exprs[#exprs + 1] = value .. " AS " .. self:q(name) end
  return self:select(rel, exprs, cols)
end

OPS.render = function(_, _, rel) return rel end
OPS.as = function(self, op, rel, env)
  env.vars[op.name] = { kind = "table", rel = rel }
  return rel
end

return OPS
end

return M
