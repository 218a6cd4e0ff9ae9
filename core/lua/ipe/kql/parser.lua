-- ipe.kql.parser: tokens -> AST, by recursive descent (one token of look-ahead, a
-- second for the few places KQL needs it; linear in the input).
--
--   parse(text) -> { lets = { {name=, value=node, at=tok}, ... }, query = node (the first),
--                    queries = { {query=node, nlets=how many lets precede it}, ... } }
--   several tabular statements separated by ';' are a batch: one result table each
--
-- Nodes are tables with k (kind) and the position of their first token (line, col, len).
-- Tabular: pipe {src=, ops={...}}, source kinds name / call / datatable / union / print.
-- Scalar: lit {type=, v=}, name {v=}, call {name=, args=}, bin {op=, l=, r=}, neg {e=},
-- not-free operators as bin with op "has", "!in"...; member {e=, field=}, index {e=, idx=},
-- inlist {op=, e=, list=}, between {neg=, e=, lo=, hi=}, star, lambda {params=, body=}.
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local lexer = require "ipe.kql.lexer"
local err = require "ipe.kql.err"
local timeutil = require "ipe.timeutil"

local M = {}

-- operators after '|' that the compiler knows; others are named as not supported
M.OPERATORS = {
  where = true, filter = true, extend = true, project = true, ["project-away"] = true,
  ["project-rename"] = true, ["project-reorder"] = true, ["project-keep"] = true, summarize = true,
  order = true, sort = true, top = true, take = true, limit = true, distinct = true, count = true,
  join = true, union = true, ["mv-expand"] = true, mvexpand = true, ["mv-apply"] = true, parse = true,
  serialize = true, evaluate = true, render = true, lookup = true, as = true,
}

local STRING_OPS = {
  has = true, ["!has"] = true, has_cs = true, ["!has_cs"] = true, contains = true, ["!contains"] = true,
  contains_cs = true, ["!contains_cs"] = true, startswith = true, ["!startswith"] = true,
  startswith_cs = true, ["!startswith_cs"] = true, endswith = true, ["!endswith"] = true,
  endswith_cs = true, ["!endswith_cs"] = true, hasprefix = true, ["!hasprefix"] = true,
  hassuffix = true, ["!hassuffix"] = true, has_any = true, has_all = true, matches = true,
  ["in"] = true, ["!in"] = true, ["in~"] = true, ["!in~"] = true, between = true, ["!between"] = true,
  like = false,
}
M.STRING_OPS = STRING_OPS

local P = {}
P.__index = P

-- how deep an expression may nest: the compiler walks it recursively
M.MAX_DEPTH = 1000

local function depth_of(x) return type(x) == "table" and x.depth or 0 end

local function node(k, tok, t)
  t = t or {}
  t.k, t.line, t.col, t.len = k, tok.line, tok.col, tok.len
  local d = math.max(depth_of(t.l), depth_of(t.r), depth_of(t.e), depth_of(t.lo), depth_of(t.hi), depth_of(t.idx))
  if t.args then for _, a in ipairs(t.args) do d = math.max(d, depth_of(a)) end end
  if t.list then for _, a in ipairs(t.list) do d = math.max(d, depth_of(a)) end end
  t.depth = d + 1
  if t.depth > M.MAX_DEPTH then err.raise(tok, "the expression nests too deeply (more than %d levels)", M.MAX_DEPTH) end
  return t
end
M.node = node

function P:peek(n) return self.toks[self.i + (n or 0)] end
function P:next() local t = self.toks[self.i]; self.i = self.i + 1; return t end
function P:is(v, n)
  local t = self.toks[self.i + (n or 0)]
  return (t.t == "op" or t.t == "id") and t.v == v
end
function P:accept(v) if self:is(v) then return self:next() end end
function P:expect(v, what)
  if self:is(v) then return self:next() end
  local t = self:peek()
  err.raise(t, "expected %s, found %s", what or ("'" .. v .. "'"), M.describe(t))
end

function M.describe(t)
  if t.t == "eof" then return "the end of the query" end
  if t.t == "str" then return "a string" end
  return "'" .. tostring(t.v) .. "'"
end

-- a name: an identifier, or ['name'] / ["name"]
function P:name(what)
  local t = self:peek()
  if t.t == "id" and t.v:sub(1, 1) ~= "!" then self:next(); return t.v, t end
  if self:is("[") and self:peek(1).t == "str" and self:is("]", 2) then
    self:next(); local s = self:next(); self:next(); return s.v, s
  end
  err.raise(t, "expected %s, found %s", what or "a name", M.describe(t))
end

function P:is_name()
  local t = self:peek()
  return (t.t == "id" and t.v:sub(1, 1) ~= "!") or (self:is("[") and self:peek(1).t == "str" and self:is("]", 2))
end

-- ---------------------------------------------------------------- expressions

function P:expr()
  self.nesting = self.nesting + 1
  if self.nesting > M.MAX_DEPTH then
    err.raise(self:peek(), "the expression nests too deeply (more than %d levels)", M.MAX_DEPTH)
  end
  local l = self:or_expr()
  self.nesting = self.nesting - 1
  return l
end

function P:or_expr()
  local l = self:and_expr()
  while self:is("or") do
    local t = self:next()
    l = node("bin", t, { op = "or", l = l, r = self:and_expr() })
  end
  return l
end

function P:and_expr()
  local l = self:cmp()
  while self:is("and") do
    local t = self:next()
    l = node("bin", t, { op = "and", l = l, r = self:cmp() })
  end
  return l
end

local CMP = { ["=="] = true, ["!="] = true, ["<>"] = true, ["<"] = true, ["<="] = true, [">"] = true,
  [">="] = true, ["=~"] = true, ["!~"] = true }

function P:list_args()
  self:expect("(")
  local list = {}
  if not self:is(")") then
    repeat list[#list + 1] = self:pipe_expr() until not self:accept(",")
  end
  self:expect(")")
  return list
end

function P:cmp()
  local l = self:add()
  while true do
    local t = self:peek()
    if t.t == "op" and CMP[t.v] then
      self:next()
      l = node("bin", t, { op = t.v == "<>" and "!=" or t.v, l = l, r = self:add() })
    elseif t.t == "id" and STRING_OPS[t.v] then
      self:next()
      local op = t.v
      if op == "in" or op == "!in" or op == "in~" or op == "!in~" or op == "has_any" or op == "has_all" then
        l = node("inlist", t, { op = op, e = l, list = self:list_args() })
      elseif op == "between" or op == "!between" then
        self:expect("(")
        local lo = self:add()
        self:expect("..")
        local hi = self:add()
        self:expect(")")
        l = node("between", t, { neg = op == "!between", e = l, lo = lo, hi = hi })
      elseif op == "matches" then
        self:expect("regex", "'regex' after 'matches'")
        l = node("bin", t, { op = "matches", l = l, r = self:add() })
      else
        l = node("bin", t, { op = op, l = l, r = self:add() })
      end
    elseif t.t == "id" and t.v:match("^!") and not STRING_OPS[t.v] then
      err.raise(t, "'%s' is not supported", t.v)
    else
      return l
    end
  end
end

function P:add()
  local l = self:mul()
  while self:is("+") or self:is("-") do
    local t = self:next()
    l = node("bin", t, { op = t.v, l = l, r = self:mul() })
  end
  return l
end

function P:mul()
  local l = self:unary()
  while self:is("*") or self:is("/") or self:is("%") do
    local t = self:next()
    l = node("bin", t, { op = t.v, l = l, r = self:unary() })
  end
  return l
end

function P:unary()
  if self:is("-") then
    local t = self:next()
    self.nesting = self.nesting + 1
    if self.nesting > M.MAX_DEPTH then err.raise(t, "the expression nests too deeply (more than %d levels)", M.MAX_DEPTH) end
    local e = self:unary()
    self.nesting = self.nesting - 1
    if e.k == "lit" and (e.type == "long" or e.type == "real" or e.type == "timespan") then
      e.v = -e.v; e.line, e.col = t.line, t.col
      return e
    end
    return node("neg", t, { e = e })
  end
  if self:is("+") then self:next() end
  return self:postfix()
end

function P:postfix()
  local e = self:primary()
  while true do
    if self:is(".") and self:peek(1).t == "id" then
      self:next()
      local f = self:next()
      e = node("member", f, { e = e, field = f.v })
    elseif self:is("[") then
      local t = self:next()
      local idx = self:expr()
      self:expect("]")
      e = node("index", t, { e = e, idx = idx })
    else
      return e
    end
  end
end

-- a JSON-like value of dynamic(...): returns a Lua value (cjson.null for null)
function P:dynamic_value()
  local cjson = require "cjson"
  local t = self:peek()
  self.nesting = self.nesting + 1
  if self.nesting > M.MAX_DEPTH then err.raise(t, "the dynamic value nests too deeply (more than %d levels)", M.MAX_DEPTH) end
  local v = self:dynamic_inner(cjson, t)
  self.nesting = self.nesting - 1
  return v
end

function P:dynamic_inner(cjson, t)
  if self:accept("[") then
    local arr = {}
    if not self:is("]") then repeat arr[#arr + 1] = self:dynamic_value() until not self:accept(",") end
    self:expect("]")
    return setmetatable(arr, cjson.array_mt)
  elseif self:accept("{") then
    local obj = {}
    if not self:is("}") then
      repeat
        local k = self:next()
        if k.t ~= "str" and k.t ~= "id" then err.raise(k, "expected a property name, found %s", M.describe(k)) end
        self:expect(":")
        obj[k.v] = self:dynamic_value()
      until not self:accept(",")
    end
    self:expect("}")
    return obj
  elseif t.t == "str" or t.t == "int" or t.t == "real" then
    self:next(); return t.v
  elseif self:is("-") then
    self:next(); local v = self:next()
    if v.t ~= "int" and v.t ~= "real" then err.raise(v, "expected a number") end
    return -v.v
  elseif t.t == "id" and (t.v == "true" or t.v == "false") then
    self:next(); return t.v == "true"
  elseif t.t == "id" and t.v == "null" then
    self:next(); return cjson.null
  elseif t.t == "id" and self:is("(", 1) then
    local e = self:primary()
    if e.k == "lit" then return e.v end
    err.raise(t, "a dynamic literal holds constants only")
  end
  err.raise(t, "expected a value in dynamic(...), found %s", M.describe(t))
end

local TYPED_LIT = { datetime = "datetime", date = "datetime", timespan = "timespan", time = "timespan",
  bool = "bool", boolean = "bool", int = "int", long = "long", real = "real", double = "real",
  decimal = "real", string = "string", guid = "string" }

function P:typed_literal(t, ty)
  -- datetime(2026-01-01 10:00), timespan(1h), long(null) ...: the text up to ')' raw
  self:expect("(")
  local start = self:peek()
  local depth = 0
  while not (depth == 0 and self:is(")")) do
    local x = self:next()
    if x.t == "eof" then err.raise(t, "unterminated %s(...) literal", t.v) end
    if x.t == "op" and x.v == "(" then depth = depth + 1 elseif x.t == "op" and x.v == ")" then depth = depth - 1 end
  end
  local stop = self:next()
  local raw = self.text:sub(start.pos, stop.pos - 1):match("^%s*(.-)%s*$")
  if raw == "null" then return node("lit", t, { type = ty, v = nil, null = true }) end
  if ty == "datetime" then
    local ts = timeutil.parse_time((raw:gsub("^([%d%-]+) (%d)", "%1T%2")))
    if not ts and start.t == "str" then ts = timeutil.parse_time(start.v) end
    if not ts and raw:match("^%d%d%d%d%-%d%d%-%d%d$") then ts = timeutil.parse_time(raw .. "T00:00:00Z") end
    if not ts then err.raise(start, "bad datetime literal '%s'", raw) end
    return node("lit", t, { type = "datetime", v = ts })
  elseif ty == "timespan" then
    if start.t == "span" and start == self.toks[self.i - 2] then return node("lit", t, { type = "timespan", v = start.v }) end
    local d, h, m, s = raw:match("^(%d+)%.(%d+):(%d+):([%d%.]+)$")
    if not d then h, m, s = raw:match("^(%d+):(%d+):([%d%.]+)$"); d = 0 end
    if h then return node("lit", t, { type = "timespan", v = d * 86400 + h * 3600 + m * 60 + tonumber(s) }) end
    local n = tonumber(raw)
    if n then return node("lit", t, { type = "timespan", v = n * 86400 }) end
    err.raise(start, "bad timespan literal '%s'", raw)
  elseif ty == "bool" then
    if raw == "true" or raw == "1" then return node("lit", t, { type = "bool", v = true }) end
    if raw == "false" or raw == "0" then return node("lit", t, { type = "bool", v = false }) end
    err.raise(start, "bad bool literal '%s'", raw)
  elseif ty == "string" then
    if start.t == "str" then return node("lit", t, { type = "string", v = start.v }) end
    return node("lit", t, { type = "string", v = raw })
  else
    local n = tonumber(raw)
    if not n then err.raise(start, "bad %s literal '%s'", t.v, raw) end
    return node("lit", t, { type = ty == "int" and "long" or ty, v = n })
  end
end

function P:primary()
  local t = self:peek()
  if t.t == "str" then
    self:next()
    local v = t.v
    while self:peek().t == "str" do v = v .. self:next().v end   -- "a" "b" is "ab"
    return node("lit", t, { type = "string", v = v })
  end
  if t.t == "int" then self:next(); return node("lit", t, { type = "long", v = t.v }) end
  if t.t == "real" then self:next(); return node("lit", t, { type = "real", v = t.v }) end
  if t.t == "span" then self:next(); return node("lit", t, { type = "timespan", v = t.v }) end
  if self:is("(") then
    self:next()
    local e = self:pipe_expr()
    if self:is(",") then   -- (a, b) — a list, as the right of in
      local list = { e }
      while self:accept(",") do list[#list + 1] = self:expr() end
      self:expect(")")
      return node("tuple", t, { list = list })
    end
    self:expect(")")
    return e
  end
  if self:is("*") then self:next(); return node("star", t) end
  if self:is("[") and self:peek(1).t == "str" and self:is("]", 2) then
    local _, nt = self:name()
    return node("name", nt, { v = nt.v })
  end
  if t.t == "id" then
    local v = t.v
    if v == "true" or v == "false" then self:next(); return node("lit", t, { type = "bool", v = v == "true" }) end
    if v == "null" then self:next(); return node("lit", t, { type = "dynamic", v = nil, null = true }) end
    if v == "dynamic" and self:is("(", 1) then
      self:next(); self:expect("(")
      local val = self:dynamic_value()
      self:expect(")")
      return node("lit", t, { type = "dynamic", v = val })
    end
    if TYPED_LIT[v] and self:is("(", 1) then
      self:next()
      return self:typed_literal(t, TYPED_LIT[v])
    end
    if v == "datatable" then return self:datatable() end
    if v == "union" then self:next(); return self:union_source(t) end
    if v == "externaldata" then err.raise(t, "'externaldata' is not supported: ipe reads only the local workspace") end
    if v == "print" then return self:print_source() end
    if v == "range" and self:peek(1).t == "id" then err.raise(t, "the 'range' operator is not supported") end
    self:next()
    if self:is("(") then
      local args = self:list_args()
      return node("call", t, { name = v, args = args })
    end
    return node("name", t, { v = v })
  end
  err.raise(t, "expected an expression, found %s", M.describe(t))
end

-- an expression that may continue as a tabular pipe: T | where ...
function P:pipe_expr()
  local e = self:expr()
  if self:is("|") then
    return self:pipe_rest(e)
  end
  return e
end

function P:pipe_rest(src)
  local ops = {}
  while self:accept("|") do ops[#ops + 1] = self:operator() end
  return node("pipe", src, { src = src, ops = ops })
end

-- ---------------------------------------------------------------- sources

function P:datatable()
  local t = self:next()
  self:expect("(")
  local cols = {}
  repeat
    local n = self:name("a column name")
    self:expect(":")
    local ty = self:name("a type")
    cols[#cols + 1] = { name = n, type = TYPED_LIT[ty] or (ty == "dynamic" and "dynamic") or
      err.raise(self:peek(-1), "unknown type '%s'", ty) }
  until not self:accept(",")
  self:expect(")")
  self:expect("[")
  local vals = {}
  if not self:is("]") then
    repeat
      if self:is("]") then break end
      vals[#vals + 1] = self:expr()
    until not self:accept(",")
  end
  self:expect("]")
  if #vals % #cols ~= 0 then
    err.raise(t, "datatable: %d values do not fill rows of %d columns", #vals, #cols)
  end
  return node("datatable", t, { cols = cols, vals = vals })
end

function P:print_source()
  local t = self:next()
  local items = self:assignments()
  return node("print", t, { items = items })
end

-- name=value options before an operator's arguments (kind=inner, hint.strategy=shuffle ...)
function P:options(allowed)
  local opts = {}
  while self:peek().t == "id" and (self:is("=", 1) or (self:is(".", 1) and self:peek(2).t == "id")) do
    local start = self:peek()
    local key = start.v
    if self:is(".", 1) then
      if key ~= "hint" then break end
      self:next(); self:next(); key = "hint." .. self:next().v
    else
      if not allowed[key] then break end
      self:next()
    end
    self:expect("=")
    local v = self:next()
    if v.t == "eof" then err.raise(v, "expected a value for %s", key) end
    opts[key] = { v = v.v, tok = v, at = start }
  end
  return opts
end

function P:union_source(t, input)
  local opts = self:options({ kind = true, withsource = true, isfuzzy = true })
  local tables = {}
  if input then tables[1] = input end
  repeat
    if self:is("(") then
      local pt = self:next()
      local e = self:pipe_expr()
      self:expect(")")
      e.line, e.col = pt.line, pt.col
      tables[#tables + 1] = e
    else
      local nt = self:peek()
      local n = self:name("a table")
      local wild = false
      while self:is("*") do self:next(); n = n .. "*"; wild = true
        if self:peek().t == "id" and self:peek().pos == self:peek(-1).pos + 1 then n = n .. self:next().v end
      end
      if self:is("(") and not wild then
        tables[#tables + 1] = node("call", nt, { name = n, args = self:list_args() })
      else
        tables[#tables + 1] = node("name", nt, { v = n, wild = wild })
      end
    end
  until not self:accept(",")
  return node("union", t, { opts = opts, tables = tables })
end

-- ---------------------------------------------------------------- operators

-- [Name =] expr, ...
function P:assignments(stop)
  local items = {}
  repeat
    local at = self:peek()
    local name
    if self:is_name() and (self:is("=", 1) or (self:is("[") and self:is("=", 3))) then
      name = self:name(); self:expect("=")
    elseif self:is("(") then
      -- (a, b) = f(...): a tuple assignment
      local save = self.i
      self:next()
      local names = {}
      local ok = true
      repeat
        if not self:is_name() then ok = false break end
        names[#names + 1] = self:name()
      until not self:accept(",")
      if ok and self:accept(")") and self:accept("=") then
        items[#items + 1] = { names = names, e = self:expr(), at = at }
        goto continue
      end
      self.i = save
    end
    items[#items + 1] = { name = name, e = self:expr(), at = at }
    ::continue::
  until not self:accept(",") or (stop and self:is(stop))
  return items
end

function P:name_list()
  local list = {}
  repeat
    local t = self:peek()
    local n
    if self:is("*") then n = "" else n = self:name("a column name") end
    while self:is("*") do self:next(); n = n .. "*"
      if self:peek().t == "id" and self:peek().pos == self:peek(-1).pos + 1 then n = n .. self:next().v end
    end
    list[#list + 1] = { name = n, at = t }
    if self:is("asc") or self:is("desc") or self:is("granny-asc") then self:next() end
  until not self:accept(",")
  return list
end

function P:sort_keys()
  local keys = {}
  repeat
    local e = self:expr()
    local key = { e = e, desc = true }
    if self:accept("asc") then key.desc = false elseif self:accept("desc") then key.desc = true end
    if self:accept("nulls") then
      local w = self:next()
      if w.v ~= "first" and w.v ~= "last" then err.raise(w, "expected 'first' or 'last' after 'nulls'") end
      key.nulls = w.v
    end
    keys[#keys + 1] = key
  until not self:accept(",")
  return keys
end

function P:join_keys()
  local keys = {}
  local pending = {}
  repeat
    local t = self:peek()
    local whole = self:expr()
    -- a == b and c == d: each comparison is a key
    local flat = {}
    local function walk(x)
      if x.k == "bin" and x.op == "and" then walk(x.l); walk(x.r) else flat[#flat + 1] = x end
    end
    walk(whole)
    for i = 2, #flat do pending[#pending + 1] = flat[i] end
    local l = flat[1]
    ::again::
    if l.k == "bin" and l.op == "==" then
      local a, b = l.l, l.r
      local function side(x)
        if x.k == "member" and x.e.k == "name" and (x.e.v == "$left" or x.e.v == "$right") then
          return x.e.v, x.field
        end
        err.raise(x, "a join condition compares $left.Column with $right.Column")
      end
      local sa, ca = side(a)
      local sb, cb = side(b)
      if sa == sb then err.raise(t, "a join condition compares $left.Column with $right.Column") end
      if sa == "$right" then ca, cb = cb, ca end
      keys[#keys + 1] = { left = ca, right = cb, at = t }
    elseif l.k == "name" then
      keys[#keys + 1] = { left = l.v, right = l.v, at = t }
    else
      err.raise(l, "expected a join key: a column, or $left.Column == $right.Column")
    end
    if #pending > 0 then
      l = table.remove(pending, 1); t = l
      goto again
    end
  until not self:accept(",")
  return keys
end

-- [Name =] expr [to typeof(T)], ...: the columns mv-expand and mv-apply expand
function P:expand_items()
  local items = {}
  repeat
    local at = self:peek()
    local name
    if self:is_name() and self:is("=", 1) then name = self:name(); self:expect("=") end
    local e = self:expr()
    local to
    if self:accept("to") then
      self:expect("typeof")
      self:expect("(")
      local ty = self:next()
      to = TYPED_LIT[ty.v] or (ty.v == "dynamic" and "dynamic") or err.raise(ty, "unknown type '%s'", tostring(ty.v))
      self:expect(")")
    end
    items[#items + 1] = { name = name, e = e, to = to, at = at }
  until not self:accept(",")
  return items
end

local UNSUPPORTED_HINT = {
  ["make-series"] = true, ["parse-where"] = true, ["parse-kv"] = true,
  ["top-nested"] = true, ["top-hitters"] = true, sample = true, ["sample-distinct"] = true,
  invoke = true, getschema = true, scan = true, fork = true, facet = true, find = true, search = true,
  reduce = true, partition = true, externaldata = true, consume = true, ["project-smart"] = true,
}

function P:operator()
  local t = self:peek()
  if t.t ~= "id" then err.raise(t, "expected an operator after '|', found %s", M.describe(t)) end
  local v = t.v
  if not M.OPERATORS[v] then
    if UNSUPPORTED_HINT[v] then err.raise(t, "'%s' is not supported", v) end
    err.raise(t, "unknown operator '%s'", v)
  end
  self:next()
  if v == "where" or v == "filter" then
    return node("where", t, { e = self:expr() })
  elseif v == "extend" then
    return node("extend", t, { items = self:assignments() })
  elseif v == "project" then
    return node("project", t, { items = self:assignments() })
  elseif v == "project-away" or v == "project-keep" then
    return node(v, t, { names = self:name_list() })
  elseif v == "project-reorder" then
    return node(v, t, { names = self:name_list() })
  elseif v == "project-rename" then
    local items = {}
    repeat
      local at = self:peek()
      local new = self:name("a new column name")
      self:expect("=")
      local ot = self:peek()
      local old = self:name("a column name")
      items[#items + 1] = { new = new, old = old, at = at, old_at = ot }
    until not self:accept(",")
    return node(v, t, { items = items })
  elseif v == "summarize" then
    self:options({})
    local aggs = {}
    local t2 = self:peek()
    if not (self:is("by") or self:is("|") or self:is(")") or self:is(";") or t2.t == "eof") then aggs = self:assignments("by") end
    local by = {}
    if self:accept("by") then by = self:assignments() end
    if #aggs == 0 and #by == 0 then err.raise(t, "'summarize' needs an aggregation") end
    return node("summarize", t, { aggs = aggs, by = by })
  elseif v == "order" or v == "sort" then
    self:expect("by", "'by' after '" .. v .. "'")
    return node("order", t, { keys = self:sort_keys() })
  elseif v == "top" then
    local n = self:expr()
    self:expect("by", "'by' after 'top N'")
    return node("top", t, { n = n, keys = self:sort_keys() })
  elseif v == "take" or v == "limit" then
    return node("take", t, { n = self:expr() })
  elseif v == "distinct" then
    if self:accept("*") then return node("distinct", t, { all = true }) end
    return node("distinct", t, { items = self:assignments() })
  elseif v == "count" then
    return node("count", t)
  elseif v == "join" or v == "lookup" then
    local opts = self:options({ kind = true })
    local right
    if self:is("(") then
      self:next(); right = self:pipe_expr(); self:expect(")")
    else
      local rt = self:peek()
      local n = self:name("the right side of the join")
      right = self:is("(") and node("call", rt, { name = n, args = self:list_args() }) or node("name", rt, { v = n })
    end
    self:expect("on", "'on' and the join keys")
    return node(v, t, { opts = opts, right = right, keys = self:join_keys() })
  elseif v == "union" then
    return self:union_source(t, node("input", t))
  elseif v == "mv-expand" or v == "mvexpand" then
    local opts = self:options({ bagexpansion = true, kind = true, with_itemindex = true })
    local items = self:expand_items()
    local limit
    if self:accept("limit") then limit = self:expr() end
    return node("mv-expand", t, { opts = opts, items = items, limit = limit })
  elseif v == "mv-apply" then
    -- mv-apply [with_itemindex=I] [Name =] Array [to typeof(T)], ... [limit N] on ( SubQuery )
    local opts = self:options({ with_itemindex = true })
    local items = self:expand_items()
    local limit
    if self:accept("limit") then limit = self:expr() end
    self:expect("on", "'on' and the subquery")
    self:expect("(", "'(' and the subquery")
    -- the subquery: operators over the expanded rows, with no source of its own
    local ops = {}
    repeat ops[#ops + 1] = self:operator() until not self:accept("|")
    self:expect(")", "')' after the subquery")
    return node("mv-apply", t, { opts = opts, items = items, limit = limit, ops = ops })
  elseif v == "parse" then
    local opts = self:options({ kind = true, flags = true })
    local e = self:expr()
    self:expect("with", "'with' and a pattern")
    local pat = {}
    while not (self:is("|") or self:peek().t == "eof" or self:is(")") or self:is(";")) do
      local pt = self:peek()
      if pt.t == "str" then
        self:next(); pat[#pat + 1] = { lit = pt.v, at = pt }
      elseif self:is("*") then
        self:next(); pat[#pat + 1] = { star = true, at = pt }
      else
        local n = self:name("a column name, a string or '*' in the pattern")
        local ty = "string"
        if self:accept(":") then
          local tt = self:next()
          ty = TYPED_LIT[tt.v] or (tt.v == "dynamic" and "dynamic") or err.raise(tt, "unknown type '%s'", tostring(tt.v))
        end
        pat[#pat + 1] = { name = n, type = ty, at = pt }
      end
    end
    return node("parse", t, { opts = opts, e = e, pattern = pat })
  elseif v == "serialize" then
    local items = {}
    if self:is_name() and self:is("=", 1) then items = self:assignments() end
    return node("serialize", t, { items = items })
  elseif v == "evaluate" then
    local pt = self:peek()
    err.raise(pt, "'evaluate %s' is not supported", tostring(pt.v))
  elseif v == "render" then
    -- a chart hint for a UI: the rows are the result; skip its arguments
    while not (self:is("|") or self:peek().t == "eof" or self:is(")") or self:is(";")) do self:next() end
    return node("render", t)
  elseif v == "as" then
    self:options({ hint = true })
    local n = self:name("a name")
    return node("as", t, { name = n })
  end
end

-- ---------------------------------------------------------------- statements

function P:lambda(t)
  -- (a:string, b:long = 5) { body }
  self:expect("(")
  local params = {}
  if not self:is(")") then
    repeat
      local pt = self:peek()
      local n = self:name("a parameter name")
      self:expect(":")
      local ty
      if self:is("(") then
        self:next()
        while not self:is(")") do if self:next().t == "eof" then err.raise(pt, "unterminated parameter type") end end
        self:next()
        ty = "table"
      else
        local tt = self:next()
        ty = TYPED_LIT[tt.v] or (tt.v == "dynamic" and "dynamic") or err.raise(tt, "unknown type '%s'", tostring(tt.v))
      end
      local default
      if self:accept("=") then default = self:expr() end
      params[#params + 1] = { name = n, type = ty, default = default, at = pt }
    until not self:accept(",")
  end
  self:expect(")")
  self:expect("{")
  self.nesting = self.nesting + 1
  if self.nesting > M.MAX_DEPTH then err.raise(t, "the functions nest too deeply (more than %d levels)", M.MAX_DEPTH) end
  local body = self:statements("}")
  self.nesting = self.nesting - 1
  self:expect("}")
  return node("lambda", t, { params = params, body = body })
end

function P:statements(close)
  local lets, queries = {}, {}
  local query
  while true do
    while self:accept(";") do end
    if self:peek().t == "eof" or (close and self:is(close)) then break end
    if self:is("let") then
      local lt = self:next()
      local nt = self:peek()
      local n = self:name("a name after 'let'")
      self:expect("=")
      local value
      if self:is("view") and self:is("(", 1) then self:next() end
      if self:is("(") and self:lambda_ahead() then
        value = self:lambda(self:peek())
      else
        value = self:pipe_expr()
      end
      lets[#lets + 1] = { name = n, value = value, at = nt, let = lt }
      if not self:accept(";") and not (self:peek().t == "eof" or (close and self:is(close))) then
        err.raise(self:peek(), "expected ';' after the let statement, found %s", M.describe(self:peek()))
      end
    elseif self:is("set") then
      err.raise(self:peek(), "'set' is not supported")
    else
      -- a batch (Kusto: several tabular expression statements, each a result table, each seeing
      -- the lets before it) only at the top level; a function's body has one query
      if query and close then err.raise(self:peek(), "only one query may follow the let statements") end
      local q = self:pipe_expr()
      query = query or q
      queries[#queries + 1] = { query = q, nlets = #lets }
      if not self:accept(";") and not (self:peek().t == "eof" or (close and self:is(close))) then
        err.raise(self:peek(), "expected '|' or the end of the query, found %s", M.describe(self:peek()))
      end
    end
  end
  return { lets = lets, query = query, queries = queries }
end

-- whether '(' starts a lambda's parameter list: () { or (name: ...
function P:lambda_ahead()
  if self:is(")", 1) and self:is("{", 2) then return true end
  return self:peek(1).t == "id" and self:is(":", 2)
end

function M.parse(text)
  local p = setmetatable({ toks = lexer.lex(text), i = 1, text = text, nesting = 0 }, P)
  local prog = p:statements(nil)
  if not prog.query then err.raise(p:peek(), "no query: the text has only let statements") end
  return prog
end

return M
