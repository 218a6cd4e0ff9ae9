-- ipe.kql.functions: KQL's scalar functions, each compiled to SQL through the engine's
-- fragments (self.f): SCALAR[name](compiler, node, scope) -> an expression (ipe.kql.common.E).
-- Literal arguments are bound parameters like every other literal.
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local err = require "ipe.kql.err"
local h = require "ipe.kql.common"
local timeutil = require "ipe.timeutil"

local raise = err.raise
local format, concat = string.format, table.concat
local E, NUMERIC, is_string, const_span, find_col = h.E, h.NUMERIC, h.is_string, h.const_span, h.find_col
local ORD = h.ORD

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
    if self.f.nested then self:refused(node, "tostring of a timespan") end
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
  local t = self.f.to_text(x)
  return E(format("(CASE WHEN lower(%s) IN ('true', '1') THEN 1 WHEN lower(%s) IN ('false', '0') THEN 0 END)", t, t), "bool")
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
-- hash(x [, mod]): xxhash64 as Kusto's; of a string it is Kusto's value, of another type the
-- hash of its text (Kusto hashes that type's binary form: a different number)
function SCALAR.hash(self, node, scope)
  local a = self:args(node, scope, 1, 2)
  if a[2] and not NUMERIC[a[2].type] then raise(node.args[2], "'hash' takes a number as its modulo, got %s", a[2].type) end
  return E(self.f.hash(self:str(a[1]), a[2] and a[2].sql), "long")
end
SCALAR.hash_xxhash64 = SCALAR.hash
function SCALAR.split(self, node, scope)
  local a = self:args(node, scope, 2, 3)
  local arr = self.f.split(self:str(a[1]), self:str(a[2]))
  -- ClickHouse takes the part from splitByString's array (no JSON array read back)
  if a[3] and self.f.split_part then return E(self.f.split_part(self:str(a[1]), self:str(a[2]), a[3].sql), "dynamic") end
  if a[3] then return E(self.f.json_pick(arr, a[3].sql), "dynamic", { json = true }) end
  return E(arr, "dynamic", { json = true })
end
function SCALAR.extract(self, node, scope)
  local a = self:args(node, scope, 3, 4)
  self:check_regex(a[1])
  local s = self.f.regex_extract(self:str(a[1]), a[2].sql, self:str(a[3]), a[2].lit)
  if not s then self:refused(node.args[2], "extract of a group other than 1") end
  if a[4] then raise(node.args[4], "extract's typeof argument is not supported") end
  return E(s, "string")
end
-- iff(prev(K1) == K1 and ... and prev(Km) == Km, then, else) right after `order by K1, ..., Km,
-- more keys` (K1..Km plain string columns, ascending, nulls first): "the previous row is of the
-- same group", the idiom of a per-group difference (the gap since the group's previous row).
-- The test and the then-branch's prev(x) read the group's window (PARTITION BY K1..Km ORDER BY
-- the other keys): one lag per prev(x) of the branch, none per key compared. The test is the
-- same: a row not first in its group, or the very first row when its keys are all empty (its
-- prev() is null, which reads as "" for a string). -> {cond = SQL, over = window} or nil
local function same_group(self, cond, scope)
  local rel = scope.rel
  local keys = rel and rel.over_keys
  -- only where row functions may be (need_serial's rules; else the ordinary path says why not)
  local plan = self.rowfns
  if not keys or self.f.nested or not (plan and plan.rel == rel and not plan.inside) then return nil end
  local names, n = {}, 0
  local function term(t)
    if t.k == "bin" and t.op == "and" then return term(t.l) and term(t.r) end
    if t.k ~= "bin" or t.op ~= "==" then return false end
    local p, c = t.l, t.r
    if c.k == "call" then p, c = c, p end
    if not (p.k == "call" and p.name == "prev" and #p.args == 1 and p.args[1].k == "name" and c.k == "name"
      and p.args[1].v == c.v and not names[c.v]) then return false end
    names[c.v], n = true, n + 1
    return true
  end
  if not term(cond) or n >= #keys then return nil end
  local part, rest, empty = {}, {}, {}
  for i, k in ipairs(keys) do
    if i <= n then
      if not (k.node.k == "name" and names[k.node.v] and k.asc and k.string) then return nil end
      part[i], empty[i] = k.sql, k.sql .. " = ''"
    else
      rest[#rest + 1] = k.by
    end
  end
  if rel.over_tail then rest[#rest + 1] = rel.over_tail end
  local over = format("PARTITION BY %s ORDER BY %s", concat(part, ", "), concat(rest, ", "))
  return { over = over, cond = format("(lag(1) OVER (%s) IS NOT NULL OR (%s AND row_number() OVER (ORDER BY %s) = 1))",
    over, concat(empty, " AND "), rel.over_by) }
end

function SCALAR.iff(self, node, scope)
  local same = #node.args == 3 and same_group(self, node.args[1], scope)
  local a
  if same then
    local inner = setmetatable({ prev_over = same.over, prev_rel = scope.rel }, { __index = scope })
    a = { E(same.cond, "bool"), self:expr(node.args[2], inner), self:expr(node.args[3], scope) }
  else
    a = self:args(node, scope, 3)
  end
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
  return E(format("(%s IS NULL OR %s = '')", x, self.f.to_text(x)), "bool")
end
function SCALAR.isnotempty(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  local x = self:scalar(a)
  return E(format("(%s IS NOT NULL AND %s <> '')", x, self.f.to_text(x)), "bool")
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
  return E(self.f.parse_json(a.sql), "dynamic", { json = true })
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

-- fn(x) of an array argument; over an aggregation (strcat_array(make_set(X), ",") in summarize)
-- a step applied to the aggregation's column after it (SQL cannot read an aggregate inside a
-- subquery of the same SELECT)
local function after_agg(e, x, ty, fn)
  if not e.agg then return E(fn(x), ty) end
  local post = e.post
  return E(e.sql, ty, { agg = true, post = function(col) return fn(post and post(col) or col) end })
end

function SCALAR.strcat_array(self, node, scope)
  local a = self:args(node, scope, 2)
  local arr = self:dyn(a[1])
  if a[1].agg then   -- over an aggregation in summarize: joined after it
    local sep = self:str(a[2])
    return after_agg(a[1], arr, "string", function(x)
      if self.f.strcat_array then return self.f.strcat_array(x, sep) end
      return format("coalesce((CASE WHEN json_valid(%s) THEN (SELECT group_concat(CASE WHEN j.type IN ('object', 'array') "
        .. "THEN j.value WHEN j.type = 'true' THEN 'true' WHEN j.type = 'false' THEN 'false' ELSE coalesce(CAST(j.value AS TEXT), "
        .. "'') END, %s) FROM json_each(%s) j) END), '')", x, sep, x)
    end)
  end
  if self.f.strcat_array then return E(self.f.strcat_array(arr, self:str(a[2])), "string") end
  local sorted = a[1].sorted   -- strcat_array(array_sort_asc(x), sep): sorted and joined in one pass
  if sorted and self.f.strcat_sorted then return E(self.f.strcat_sorted(sorted.arr, sorted.nulls_last, self:str(a[2])), "string") end
  local joined = format("(SELECT group_concat(CASE WHEN j.type IN ('object', 'array') THEN j.value "
    .. "WHEN j.type = 'true' THEN 'true' WHEN j.type = 'false' THEN 'false' ELSE coalesce(CAST(j.value AS TEXT), '') END, %s) "
    .. "FROM json_each(%s) j)", self:str(a[2]), arr)
  -- an array known to be well-formed JSON (or NULL: no elements) is read once, without the guard
  if a[1].json then return E(format("coalesce(%s, '')", joined), "string") end
  return E(format("coalesce((CASE WHEN json_valid(%s) THEN %s END), '')", arr, joined), "string")
end

-- array_sort_asc(arr [, nulls_last]): the elements in ascending order — numbers (by value), then
-- strings (ordinal), then the others (true/false, objects, arrays: by their JSON text); nulls last unless
-- nulls_last is false; null when arr is no array. Kusto's form with several arrays (the
-- others reordered alike, one column each) is refused.
function SCALAR.array_sort_asc(self, node, scope)
  local a = self:args(node, scope, 1, 2)
  if a[2] and a[2].type == "dynamic" then raise(node.args[2], "'array_sort_asc' of several arrays is not supported") end
  if a[2] then self:want_type(node, a[2], { "bool" }, "a bool (nulls_last) as its second argument") end
  local arr, nulls_last = self:dyn(a[1]), a[2] and format("coalesce(%s, 1)", a[2].sql) or "1"
  if a[1].agg then return after_agg(a[1], arr, "dynamic", function(x) return self.f.array_sort(x, nulls_last) end) end
  return E(self.f.array_sort(arr, nulls_last), "dynamic", { json = true, agg = a[1].agg, sorted = { arr = arr, nulls_last = nulls_last } })
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
  if self.f.json_array_typed then
    local items = {}
    for i, e in ipairs(a) do items[i] = { sql = e.sql, type = e.null and "null" or e.type } end
    return E(self.f.json_array_typed(items), "dynamic")
  end
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
  if self.f.nested and not is_string(a[2]) then self:refused(node.args[2], "set_has_element of a value that is not a string") end
  return E(self.f.set_has(self:dyn(a[1]), self:scalar(a[2])), "bool")
end

-- ipe's own scalar functions over Sentinel's JSON columns (the ctx.db helpers of the same
-- names, ipe.dialect): an entity list (SecurityAlert, Anomalies, HuntingBookmark Entities)
-- names the IP as an "ip" entity's Address; a bookmark's QueryResultRow maps the IP as an
-- IP entity (its __entityMapping)
local function json_ip_test(helper)
  return function(self, node, scope)
    local a = self:args(node, scope, 2)
    if not (is_string(a[1]) or a[1].type == "dynamic") then
      raise(node.args[1], "'%s' takes a JSON text (a string or dynamic column) and an IP", node.name)
    end
    if not is_string(a[2]) then raise(node.args[2], "'%s' takes a JSON text (a string or dynamic column) and an IP", node.name) end
    local col = (a[1].col or a[1].type == "dynamic") and a[1].sql or self:str(a[1])
    return E(format("coalesce(%s, 0)", self.f[helper](col, self:str(a[2]))), "bool")
  end
end
SCALAR.ipe_entities_have_ip = json_ip_test("entities_have_ip")
SCALAR.ipe_entity_mapping_has_ip = json_ip_test("entity_mapping_has_ip")
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
-- round(x [, digits]): half away from zero at digits decimals (negative: tens, hundreds ...),
-- x scaled, rounded, scaled back as .NET's Math.Round(x, d, AwayFromZero) does — the same
-- doubles on both engines (their own round() differ: SQLite rounds the decimal text)
function SCALAR.round(self, node, scope)
  local a = self:args(node, scope, 1, 2)
  local x, d = self:scalar(a[1]), a[2]
  local ty = d and "real" or (a[1].type == "long" and "long" or "real")
  if not d and a[1].type == "long" then return E(x, "long", { agg = a[1].agg }) end
  local scale, back
  if d and type(d.lit) == "number" and d.lit % 1 == 0 then
    local m = self:bind(10.0 ^ math.abs(d.lit))
    if d.lit >= 0 then scale, back = "* " .. m, "/ " .. m else scale, back = "/ " .. m, "* " .. m end
  elseif d then
    local m = self.f.pow10(d.sql)
    scale, back = "* " .. m, "/ " .. m
  else
    scale, back = "", ""
  end
  return E(format("(CASE WHEN %s < 0 THEN -floor(-(%s) %s + 0.5) ELSE floor((%s) %s + 0.5) END %s)", x, x, scale, x, scale, back), ty,
    { agg = a[1].agg or (d and d.agg) })
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
  local sql = self.f.format_time(a[1].sql, self:bind(pat), pat)
  if not sql then self:refused(node.args[2], "format_datetime with fractions of a second") end
  return E(sql, "string")
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
-- An IPv4 block written out ("10.0.0.0/8", "192.0.2.1"): its network and mask as numbers, for an
-- engine with a shorter test of an address in a block (ip4_in_block: ClickHouse, where the general
-- test costs seconds of query analysis when repeated); nil for anything else.
local function ipv4_block(text)
  if type(text) ~= "string" then return nil end
  local addr, bits = text:match("^([%d.]+)/(%d%d?)$")
  if not addr then addr, bits = text, "32" end
  local ipaddr = require "ipe.ipaddr"
  local n = ipaddr.to_int(addr)
  if not n or ipaddr.from_int(n) ~= addr or tonumber(bits) > 32 or tostring(tonumber(bits)) ~= bits then return nil end
  local size = 2 ^ (32 - tonumber(bits))
  return n - n % size, 4294967296 - size
end
local function in_ipv4_block(self, x, cidr_text, cidr_sql)
  local net, mask = ipv4_block(cidr_text)
  if net and self.f.ip4_in_block then return self.f.ip4_in_block(x, self:bind(net), self:bind(mask)) end
  return self.f.ip_in_cidr(x, cidr_sql or self:bind(cidr_text))
end
function SCALAR.ipv4_is_in_range(self, node, scope)
  local a = self:args(node, scope, 2)
  return E(format("coalesce(%s, 0)", in_ipv4_block(self, self:str(a[1]), a[2].lit, self:str(a[2]))), "bool")
end
-- an IPv6 (or IPv4) address in an IPv6 (or IPv4) network: the workspace's IP-in-CIDR
SCALAR.ipv6_is_in_range = SCALAR.ipv4_is_in_range
-- ipv4_is_in_any_range(ip, range, ...): in any of the ranges, each a string or a dynamic array of them
function SCALAR.ipv4_is_in_any_range(self, node, scope)
  local a = self:args(node, scope, 2, 64)
  local ip, parts = self:str(a[1]), {}
  for i = 2, #a do
    if a[i].type == "dynamic" then
      parts[#parts + 1] = self.f.ip_in_any_cidr(ip, a[i].sql)
    else
      parts[#parts + 1] = format("coalesce(%s, 0)", self.f.ip_in_cidr(ip, self:str(a[i])))
    end
  end
  return E("(" .. concat(parts, " OR ") .. ")", "bool", { agg = a[1].agg })
end
SCALAR.ipv6_is_in_any_range = SCALAR.ipv4_is_in_any_range
function SCALAR.ipv4_is_private(self, node, scope)
  local a = self:args(node, scope, 1)[1]
  local x = self:str(a)
  local parts = {}
  for _, cidr in ipairs({ "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" }) do
    parts[#parts + 1] = in_ipv4_block(self, x, cidr)
  end
  if self.f.nested then return E(format("(%s AND position(%s, ':') = 0)", "coalesce(" .. concat(parts, " OR ") .. ", 0)", x), "bool") end
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
    rel.ord and " ORDER BY " .. self:order_by(rel) or ""), c.type)
end
function SCALAR.typeof(self, node) raise(node, "'typeof' is valid only in 'to typeof(...)'") end

-- row functions of a serialized row set: in the items of 'extend', 'project' or 'serialize'
-- (C:row_functions gives them their plan), not inside another one's arguments
local function need_serial(self, node, scope)
  if not (scope.rel and scope.rel.ord) then
    raise(node, "'%s' needs a serialized row set (use 'serialize' or 'order by' before it)", node.name)
  end
  local plan = self.rowfns
  if not (plan and plan.rel == scope.rel) then
    raise(node, "'%s' is valid only in 'extend', 'project' or 'serialize'", node.name)
  end
  if plan.inside then raise(node, "'%s' inside the arguments of '%s'", node.name, plan.inside) end
  plan.used = true
  return plan, scope.rel.over_by or self:q(scope.rel.ord)   -- right after 'order': its own window (OPS.extend)
end
-- the arguments of a row function (none of them one itself)
local function row_args(self, node, scope, plan, n1, n2)
  plan.inside = node.name
  local a = self:args(node, scope, n1, n2)
  plan.inside = nil
  return a
end
function SCALAR.row_number(self, node, scope)
  local plan, o = need_serial(self, node, scope)
  local a = row_args(self, node, scope, plan, 0, 1)
  local start = a[1] and a[1].sql or "1"
  -- a nesting engine: the row's number is its order column (C:row_functions numbers the rows)
  if self.f.nested then return E(format("(%s - 1 + %s)", self:q(ORD), start), "long") end
  return E(format("(row_number() OVER (ORDER BY %s) - 1 + %s)", o, start), "long")
end
-- prev(x [, offset [, default]]), next(...): x of the row offset rows before / after
local function shift(fn)
  return function(self, node, scope)
    local plan, o = need_serial(self, node, scope)
    local a = row_args(self, node, scope, plan, 1, 3)
    local def = a[3] and (a[1].type == "dynamic" and self:dyn(a[3]) or a[3].sql)
    -- a constant offset k: rows back (k < 0: -k rows the other way, as SQLite's lag does not)
    local k = 1
    if a[2] then k = a[2].lit end
    local whole = type(k) == "number" and k % 1 == 0
    local back = (fn == "lag") == (not whole or k >= 0)
    local rows = not a[2] and "1" or whole and self:bind(math.abs(k)) or a[2].sql
    if not self.f.nested then
      return E(format("%s(%s, %s, %s) OVER (ORDER BY %s)", back and "lag" or "lead", a[1].sql, rows, def or "NULL", o), a[1].type)
    end
    -- a nesting engine: a column C:row_functions adds beside each row
    if not whole then self:refused(node.args[2], node.name .. " with an offset that is not a whole constant") end
    local name = "_ipe_s" .. (#plan.shifts + 1)
    plan.shifts[#plan.shifts + 1] = { name = self:q(name), sql = a[1].sql, type = a[1].type, def = def, back = back, rows = rows }
    return E(self:q(name), a[1].type)
  end
end
function SCALAR.prev(self, node, scope)
  -- in the then-branch of a same-group iff (see same_group): the group's window
  if scope.prev_over and scope.prev_rel == scope.rel and #node.args == 1 then
    local plan = need_serial(self, node, scope)
    local x = row_args(self, node, scope, plan, 1, 1)[1]
    return E(format("lag(%s, 1, NULL) OVER (%s)", x.sql, scope.prev_over), x.type)
  end
  return shift("lag")(self, node, scope)
end
SCALAR.next = shift("lead")


return SCALAR
