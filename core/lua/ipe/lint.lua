-- ipe.lint: what `ipe-run check` finds in a script's text without running it.
--
-- The SQL a script can issue, compiled (prepared, never run) against the workspace
-- schema, and the column types it names. Static: the file is read as Lua tokens and
-- the SQL text is rebuilt from what is known before the script runs —
--   * string literals (short and long) and their concatenations (`..`);
--   * table.concat({...}, "sep") of such pieces; s:format(...) / string.format(s, ...);
--   * ctx.db's helpers called with literal arguments (db:window("TimeGenerated"),
--     db:bucket("TimeGenerated", "hour"), db:alerts_naming_ip("ip"), ...), evaluated by
--     the real helpers;
--   * locals assigned once (local SQL = [[...]]) and local functions whose body is
--     `local x = <expression>` statements and one `return <expression>`
--     (local function sql(db) return table.concat{...} end), inlined with the
--     arguments of each call (literals, ctx.db).
-- A statement is compiled where it is used: the first argument of db:query, db:records
-- or db:value (a function's pieces are checked in the statement they end up in). A
-- piece whose value depends on a run (a parameter, a branch, a loop) leaves its
-- statement unchecked.
--
--   lint.tokens(text) -> tokens {t = "name"|"string"|"number"|"op"|"eof", v =, line =, long =, cline =}
--   lint.statements(tokens, handle) -> { {text =, line =, pieces =} ... }
--   lint.dialect(tokens) -> problems {line, msg}: SQL text calling what only one engine has
--   lint.check(path, text, conn) -> problems ("path:line: message"), number of statements compiled
local dbmod = require "ipe.db"
local result = require "ipe.result"

local M = {}

-- This module's code runs a few times per file over short, branchy token lists: the
-- interpreter is ~20 times faster on it than the JIT, whose traces abort and are
-- blacklisted over and over (measured: 0.3 ms vs 7 ms per script).
if jit then jit.off(true, true) end

-- Tokens ------------------------------------------------------------------------------

local function long_bracket(text, i)
  local eq = text:match("^%[(=*)%[", i)
  if not eq then return nil end
  local close = "]" .. eq .. "]"
  local open_len = #eq + 2
  local j = text:find(close, i + open_len, true)
  if not j then return nil end
  return text:sub(i + open_len, j - 1), j + #close
end

local OPS3 = { ["..."] = true }
local OPS2 = { [".."] = true, ["=="] = true, ["~="] = true, ["<="] = true, [">="] = true }

function M.tokens(text)
  local toks, i, line, n = {}, 1, 1, #text
  local function add(t, v, extra)
    local tok = extra or {}
    tok.t, tok.v, tok.line = t, v, tok.line or line
    toks[#toks + 1] = tok
  end
  while i <= n do
    local c = text:sub(i, i)
    if c == "\n" then line = line + 1; i = i + 1
    elseif c:match("%s") then i = i + 1
    elseif text:sub(i, i + 1) == "--" then
      local body, after = long_bracket(text, i + 2)
      if body then
        local _, nl = body:gsub("\n", "")
        line = line + nl
        i = after
      else
        local e = text:find("\n", i, true) or n + 1
        i = e
      end
    elseif c:match("[%a_]") then
      local w = text:match("^[%w_]+", i)
      add("name", w)
      i = i + #w
    elseif c:match("%d") or (c == "." and text:sub(i + 1, i + 1):match("%d")) then
      local num = text:match("^0[xX]%x+", i) or text:match("^%d*%.?%d*[eE][%+%-]?%d+", i) or text:match("^%d*%.?%d*", i)
      add("number", tonumber(num))
      i = i + #num
    elseif c == "'" or c == '"' then
      local j = i + 1
      while j <= n do
        local d = text:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c then break
        elseif d == "\n" then break
        else j = j + 1 end
      end
      local raw = text:sub(i, j)
      local f = loadstring("return " .. raw) -- a complete string literal: a constant, nothing else
      local ok, v = false, nil
      if f and text:sub(j, j) == c then ok, v = pcall(f) end
      add("string", ok and v or "", { cline = line })
      local _, nl = raw:gsub("\\\n", "")
      line = line + nl
      i = j + 1
    elseif c == "[" and text:match("^%[=*%[", i) then
      local body, after = long_bracket(text, i)
      if not body then add("op", "["); i = i + 1
      else
        local start = line
        local content = body:gsub("^\r?\n", "")
        local skipped = #body - #content
        add("string", content, { long = true, cline = start + (skipped > 0 and 1 or 0) })
        local _, nl = body:gsub("\n", "")
        line = line + nl
        i = after
      end
    else
      local three, two = text:sub(i, i + 2), text:sub(i, i + 1)
      if OPS3[three] then add("op", three); i = i + 3
      elseif OPS2[two] then add("op", two); i = i + 2
      else add("op", c); i = i + 1 end
    end
  end
  add("eof", nil)
  return toks
end

-- Values: {text =, pieces = { {from =, to =, line =, long =} }} ------------------------

local function literal(tok)
  return { text = tok.v, pieces = { { from = 1, to = #tok.v, line = tok.cline or tok.line, long = tok.long } } }
end

local function concat(a, b)
  local pieces, off = {}, #a.text
  for _, p in ipairs(a.pieces) do pieces[#pieces + 1] = p end
  for _, p in ipairs(b.pieces) do
    pieces[#pieces + 1] = { from = p.from + off, to = p.to + off, line = p.line, long = p.long, base = (p.base or 0) + off }
  end
  return { text = a.text .. b.text, pieces = pieces }
end

local function flat(text, line) return { text = text, pieces = { { from = 1, to = #text, line = line } } } end

-- line_of(value, offset) -> the source line of the byte at offset (0-based) of value.text
function M.line_of(v, offset)
  local pos = offset + 1
  for _, p in ipairs(v.pieces) do
    if pos >= p.from and pos <= math.max(p.to, p.from) then
      if not p.long then return p.line end
      local _, nl = v.text:sub(p.from, pos - 1):gsub("\n", "")
      return p.line + nl
    end
  end
  return v.pieces[1] and v.pieces[1].line
end

-- The evaluator ----------------------------------------------------------------------

local HELPERS = { window = true, bucket = true, json = true, json_array_has = true, entities_have_ip = true,
  ip_in_list = true, ip_in_cidr = true, text_has_ip = true, alerts_naming_ip = true, rollup_query = true,
  time_text = true, seconds_between = true, string_agg = true, position = true, host_short = true, host_label = true,
  json_has_value = true, json_each = true, entity_mapping_has_ip = true, in_list = true, ip_in_cidr_column = true,
  latest = true, rollup_rows = true, rollup_bucket = true, named_ranges = true, status = true, alert_active = true,
  incident_open = true, connection_inbound = true, connection_listening = true, connection_direction = true,
  connection_port = true, row_names_ip = true, ti_matching_ip = true, ti_matching_ips = true, ti_live = true,
  ti_latest = true, ti_block_match = true, rows_in_ip_hours = true }
-- script portability helpers (branch chscripts)
for _, h in ipairs({ "time_min", "time_max", "at_or_before", "is", "is_not", "text", "distinct_count_text", "backslash" }) do HELPERS[h] = true end
local RUNNERS = { query = true, records = true, value = true }
local HANDLE = {} -- the value of a name bound to ctx.db
local UNKNOWN = {} -- a local whose value depends on the run

local Eval = {}
Eval.__index = Eval

function Eval:tok(i) return self.toks[i] or self.toks[#self.toks] end
function Eval:is(i, v) local t = self:tok(i) return t.t == "op" and t.v == v end
function Eval:kw(i, v) local t = self:tok(i) return t.t == "name" and t.v == v end

-- A name path a.b.c starting at i -> list of names, next index
function Eval:path(i)
  local names = { self:tok(i).v }
  i = i + 1
  while self:is(i, ".") and self:tok(i + 1).t == "name" do
    names[#names + 1] = self:tok(i + 1).v
    i = i + 2
  end
  return names, i
end

-- Arguments between ( and ): each a chain value (or HANDLE); nil when one is unknown.
function Eval:args(i, env, depth)
  if not self:is(i, "(") then return nil end
  i = i + 1
  local out = {}
  if self:is(i, ")") then return out, i + 1 end
  while true do
    local v, j = self:chain(i, env, depth)
    if v == nil then return nil end
    out[#out + 1] = v
    if self:is(j, ",") then i = j + 1
    elseif self:is(j, ")") then return out, j + 1
    else return nil end
  end
end

local function plain(v) if type(v) == "table" and v ~= HANDLE then return v.text end return v end

function Eval:helper(name, args, line)
  local a = {}
  for k, v in ipairs(args) do
    if v == HANDLE then return nil end
    a[k] = v.text
  end
  local ok, out = pcall(self.handle[name], self.handle, unpack(a, 1, #args))
  if ok and type(out) == "string" then return flat(out, line) end
  return nil
end

function Eval:call(fn, args, depth)
  if depth > 6 or #args < #fn.params then return nil end
  local env = {}
  for k, p in ipairs(fn.params) do env[p] = args[k] end
  for _, l in ipairs(fn.locals) do
    local v, j = self:chain(l.at, env, depth + 1)
    env[l.name] = (v ~= nil and j == l.stop) and v or UNKNOWN
  end
  local v, j = self:chain(fn.body, env, depth + 1)
  if v == nil or v == HANDLE or not self:kw(j, "end") then return nil end
  return v
end

-- term(i) -> value | HANDLE | nil (unknown), next index
function Eval:term(i, env, depth)
  local tok = self:tok(i)
  local v, j
  if tok.t == "string" then
    v, j = literal(tok), i + 1
  elseif tok.t == "number" then
    v, j = flat(tostring(tok.v), tok.line), i + 1
  elseif self:is(i, "(") then
    v, j = self:chain(i + 1, env, depth)
    if v == nil or not self:is(j, ")") then return nil end
    j = j + 1
  elseif tok.t == "name" then
    local names, k = self:path(i)
    local head = names[1]
    if head == "table" and names[2] == "concat" and #names == 2 and self:is(k, "(") and self:is(k + 1, "{") then
      return self:table_concat(k + 2, env, depth)
    elseif head == "string" and names[2] == "format" and #names == 2 then
      local args, after = self:args(k, env, depth)
      if not args or not args[1] or args[1] == HANDLE then return nil end
      local texts = {}
      for a = 2, #args do texts[a - 1] = plain(args[a]) end
      local ok, out = pcall(string.format, args[1].text, unpack(texts, 1, #args - 1))
      if not ok then return nil end
      v, j = flat(out, args[1].pieces[1].line), after
    elseif self:is(k, ":") and self:tok(k + 1).t == "name" and HELPERS[self:tok(k + 1).v] then
      local args, after = self:args(k + 2, env, depth)
      if not args then return nil end
      v, j = self:helper(self:tok(k + 1).v, args, tok.line), after
      if not v then return nil end
    elseif #names == 1 and self:is(k, "(") and self.functions[head] and env[head] == nil then
      local args, after = self:args(k, env, depth)
      if not args then return nil end
      v, j = self:call(self.functions[head], args, depth), after
      if not v then return nil end
    elseif #names == 1 and env[head] ~= nil then
      if env[head] == UNKNOWN then return nil end
      v, j = env[head], k
    elseif #names == 1 and self.constants[head] then
      v, j = self.constants[head], k
    elseif (head == "ctx" and names[2] == "db" and #names == 2) or (#names == 1 and head == "db") then
      return HANDLE, k
    else
      return nil
    end
  else
    return nil
  end
  -- s:format(...) on a known string
  while v ~= HANDLE and self:is(j, ":") and self:kw(j + 1, "format") do
    local args, after = self:args(j + 2, env, depth)
    if not args then return nil end
    local texts = {}
    for a, x in ipairs(args) do texts[a] = plain(x) end
    local ok, out = pcall(string.format, v.text, unpack(texts, 1, #args))
    if not ok then return nil end
    v, j = flat(out, v.pieces[1].line), after
  end
  return v, j
end

function Eval:table_concat(i, env, depth)
  local items = {}
  while not self:is(i, "}") do
    local v, j = self:chain(i, env, depth)
    if v == nil or v == HANDLE then return nil end
    items[#items + 1] = v
    if self:is(j, ",") or self:is(j, ";") then i = j + 1
    elseif self:is(j, "}") then i = j
    else return nil end
  end
  i = i + 1
  local sep = flat("", self:tok(i).line)
  if self:is(i, ",") then
    if self:tok(i + 1).t ~= "string" then return nil end
    sep = literal(self:tok(i + 1))
    i = i + 2
  end
  if not self:is(i, ")") then return nil end
  local out = items[1] or flat("", self:tok(i).line)
  for k = 2, #items do out = concat(concat(out, sep), items[k]) end
  return out, i + 1
end

-- chain(i) -> value | HANDLE | nil, next index: term ('..' term)*
function Eval:chain(i, env, depth)
  local v, j = self:term(i, env or {}, depth or 0)
  if v == nil then return nil end
  while self:is(j, "..") do
    if v == HANDLE then return nil end
    local w, k = self:term(j + 1, env or {}, depth or 0)
    if w == nil or w == HANDLE then return nil end
    v, j = concat(v, w), k
  end
  return v, j
end

-- The locals assigned once and the one-return local functions of the file.
local function collect(ev)
  local toks, counts, defs = ev.toks, {}, {}
  for i, t in ipairs(toks) do
    if t.t == "name" and ev:is(i + 1, "=") and not ev:is(i - 1, ".") then
      counts[t.v] = (counts[t.v] or 0) + 1
      if ev:kw(i - 1, "local") then defs[#defs + 1] = { name = t.v, at = i + 2 } end
    end
    if ev:kw(i, "function") and ev:kw(i - 1, "local") and toks[i + 1].t == "name" and ev:is(i + 2, "(") then
      local params, k = {}, i + 3
      while toks[k].t == "name" do
        params[#params + 1] = toks[k].v
        if ev:is(k + 1, ",") then k = k + 2 else k = k + 1 end
      end
      -- the body: `local name = <expression>` statements, then `return <expression> end`
      local locals = {}
      k = k + 1
      while ev:kw(k, "local") and toks[k + 1].t == "name" and ev:is(k + 2, "=") do
        local l = { name = toks[k + 1].v, at = k + 3 }
        local depth, m = 0, k + 3
        while toks[m].t ~= "eof" and not (depth == 0 and (ev:kw(m, "local") or ev:kw(m, "return"))) do
          if ev:is(m, "(") or ev:is(m, "{") or ev:is(m, "[") then depth = depth + 1
          elseif ev:is(m, ")") or ev:is(m, "}") or ev:is(m, "]") then depth = depth - 1 end
          m = m + 1
        end
        l.stop = m
        locals[#locals + 1] = l
        k = m
      end
      if ev:is(i + 2, "(") and ev:kw(k, "return") then
        ev.functions[toks[i + 1].v] = { params = params, locals = locals, body = k + 1 }
      end
    end
  end
  for _, d in ipairs(defs) do
    if counts[d.name] == 1 then
      local v = ev:chain(d.at, {}, 0)
      if v and v ~= HANDLE then ev.constants[d.name] = v end
    end
  end
end

-- statements(tokens, handle) -> the SQL statements the file issues that are known before it runs
function M.statements(toks, handle)
  local ev = setmetatable({ toks = toks, handle = handle, functions = {}, constants = {} }, Eval)
  collect(ev)
  local out, seen = {}, {}
  local function add(v, line)
    local key = v.text
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = { text = v.text, line = line, value = v }
    end
  end
  for i, t in ipairs(toks) do
    if ev:is(i, "(") and ev:is(i - 2, ":") and ev:tok(i - 1).t == "name" and RUNNERS[ev:tok(i - 1).v] then
      local v, j = ev:chain(i + 1, {}, 0)
      if v and v ~= HANDLE and (ev:is(j, ",") or ev:is(j, ")")) then add(v, t.line) end
    end
  end
  return out
end

-- Column types named in result.from_query(rows, cols, {Col = "type"}) and in
-- result.table{columns = { {"Col", "type"} | {name =, type =} }} -> problems {line, msg}.
local TYPE_LIST = "text, ip, time, count, number, bytes, bool or json"

local function type_problem(out, tok)
  if tok.t == "string" and not result.COLUMN_TYPES[tok.v] then
    out[#out + 1] = { line = tok.line, msg = string.format("unknown column type '%s' (use %s)", tok.v, TYPE_LIST) }
  end
end

function M.column_types(toks)
  local ev = setmetatable({ toks = toks }, Eval)
  local alias = {}
  for i = 1, #toks do
    if ev:kw(i, "require") then
      local s = ev:is(i + 1, "(") and toks[i + 2] or toks[i + 1]
      if s.t == "string" and s.v == "ipe.result" and ev:is(i - 1, "=") and toks[i - 2].t == "name" then
        alias[toks[i - 2].v] = true
      end
    end
  end
  local out = {}
  local function close_of(i) -- the index of the bracket closing the one at i
    local depth = 0
    for k = i, #toks do
      local t = toks[k]
      if t.t == "op" and (t.v == "(" or t.v == "{" or t.v == "[") then depth = depth + 1
      elseif t.t == "op" and (t.v == ")" or t.v == "}" or t.v == "]") then
        depth = depth - 1
        if depth == 0 then return k end
      end
    end
    return #toks
  end
  for i = 1, #toks do
    local t = toks[i]
    if t.t == "name" and alias[t.v] and ev:is(i + 1, ".") then
      local fn = toks[i + 2].v
      if fn == "from_query" and ev:is(i + 3, "(") then
        -- the third argument, when it is a table constructor: { Col = "type", ["Col"] = "type" }
        local k, args, stop = i + 4, 1, close_of(i + 3)
        while k < stop and args < 3 do
          if ev:is(k, "(") or ev:is(k, "{") or ev:is(k, "[") then k = close_of(k) + 1
          elseif ev:is(k, ",") then args = args + 1; k = k + 1
          else k = k + 1 end
        end
        if args == 3 and ev:is(k, "{") then
          local e = close_of(k)
          for m = k + 1, e - 1 do
            if ev:is(m, "=") and (toks[m - 1].t == "name" or ev:is(m - 1, "]")) then type_problem(out, toks[m + 1]) end
          end
        end
      elseif fn == "table" and (ev:is(i + 3, "{") or (ev:is(i + 3, "(") and ev:is(i + 4, "{"))) then
        local open = ev:is(i + 3, "{") and i + 3 or i + 4
        local e = close_of(open)
        for m = open + 1, e - 1 do
          if ev:kw(m, "columns") and ev:is(m + 1, "=") and ev:is(m + 2, "{") then
            local ce = close_of(m + 2)
            local k = m + 3
            while k < ce do
              if ev:is(k, "{") then
                local ie = close_of(k)
                if toks[k + 1].t == "string" and ev:is(k + 2, ",") and ie == k + 4 then type_problem(out, toks[k + 3]) end
                for q = k + 1, ie - 1 do
                  if ev:kw(q, "type") and ev:is(q + 1, "=") then type_problem(out, toks[q + 2]) end
                end
                k = ie + 1
              else
                k = k + 1
              end
            end
          end
        end
      end
    end
  end
  return out
end

-- Dialect-specific SQL in a script's string literals: each with the ctx.db helper that says it
-- on both engines (ipe.dialect.sqlite, ipe.dialect.clickhouse). Patterns are matched on the
-- text of every string literal (prose in a description has no "name(" of these).
local SQLITE, CLICKHOUSE = "SQLite", "ClickHouse"
local DIALECT_RULES = {
  { "group_concat%s*%(", "group_concat", SQLITE, "string_agg(col, sep, distinct)" },
  { "json_extract%s*%(", "json_extract", SQLITE, "json(col, path)" },
  { "json_each%s*%(", "json_each", SQLITE, "json_each(col, alias, path) or json_has_value(col, param)" },
  { "json_tree%s*%(", "json_tree", SQLITE, "json_has_value(col, param)" },
  { "json_valid%s*%(", "json_valid", SQLITE, "json(col, path) or json_each(col, alias)" },
  { "json_type%s*%(", "json_type", SQLITE, "json_each(col, alias) (its type column)" },
  { "julianday%s*%(", "julianday", SQLITE, "seconds_between(a, b)" },
  { "strftime%s*%(", "strftime", SQLITE, "bucket(col, unit) or time_text(col)" },
  { "%f[%w_]datetime%s*%(", "datetime", SQLITE, "time_text(col)" },
  { "%f[%w_]instr%s*%(", "instr", SQLITE, "position(col, needle)" },
  { "%f[%w_]GLOB%f[^%w_]", "GLOB", SQLITE, "host_short(col) or LIKE" },
  { "%f[%w_]rowid%f[^%w_%-]", "rowid", SQLITE, "latest(table, alias, keys, where) or ti_block_match(col)" },
  { "ROW_NUMBER%s*%(", "ROW_NUMBER", SQLITE, "latest(table, alias, keys, where)" },
  { "ipe_ip_in_cidr%s*%(", "ipe_ip_in_cidr", SQLITE, "ip_in_cidr(col, param)" },
  { "ipe_text_has_ip%s*%(", "ipe_text_has_ip", SQLITE, "text_has_ip(col, param)" },
  { "sqlite_master", "sqlite_master", SQLITE, "has_named_ranges()" },
  { "substr%s*%(%s*:", "substr(:param", SQLITE, "rollup_rows(name) or bucket(col, unit)" },
  { "[%(%s]%+[%a_][%w_]*%.?[%w_]*%s*[<>=]", "+Col", SQLITE, "window(col)" },
  { "[Ff][Rr][Oo][Mm]%s+_ipe_", "an _ipe_ table", "internal to ipe", "rollup_query(name), rollup_rows(name) or named_ranges()" },
  { "[Jj][Oo][Ii][Nn]%s+_ipe_", "an _ipe_ table", "internal to ipe", "rollup_query(name), rollup_rows(name) or named_ranges()" },
  { "argMax%s*%(", "argMax", CLICKHOUSE, "latest(table, alias, keys, where)" },
  { "LIMIT%s+%d+%s+BY%f[^%w_]", "LIMIT n BY", CLICKHOUSE, "latest(table, alias, keys, where)" },
  { "groupArray%s*%(", "groupArray", CLICKHOUSE, "string_agg(col, sep)" },
  { "groupUniqArray%s*%(", "groupUniqArray", CLICKHOUSE, "string_agg(col, ',', true)" },
  { "arrayStringConcat%s*%(", "arrayStringConcat", CLICKHOUSE, "string_agg(col, sep, distinct)" },
  { "visitParamExtract%a*%s*%(", "visitParamExtract", CLICKHOUSE, "json(col, path)" },
  { "JSONExtract%a*%s*%(", "JSONExtract", CLICKHOUSE, "json(col, path)" },
  { "toStartOf%a+%s*%(", "toStartOf...", CLICKHOUSE, "bucket(col, unit)" },
  { "dateDiff%s*%(", "dateDiff", CLICKHOUSE, "seconds_between(a, b)" },
  { "formatDateTime%s*%(", "formatDateTime", CLICKHOUSE, "time_text(col)" },
  { "IPv[46]StringToNum%s*%(", "IPv4/IPv6StringToNum", CLICKHOUSE, "ip_in_cidr(col, param)" },
  { "positionCaseInsensitive%s*%(", "positionCaseInsensitive", CLICKHOUSE, "position(col, needle)" },
  { "extractAll%s*%(", "extractAll", CLICKHOUSE, "json_has_value(col, param)" },
}

function M.dialect(toks)
  local out = {}
  for _, t in ipairs(toks) do
    if t.t == "string" then
      for _, r in ipairs(DIALECT_RULES) do
        local at = t.v:find(r[1])
        if at then
          local _, nl = t.v:sub(1, at - 1):gsub("\n", "")
          local line = (t.cline or t.line) + (t.long and nl or 0)
          local what = r[3] == "internal to ipe" and (r[2] .. " is internal to ipe")
            or string.format("'%s' is %s-only", r[2], r[3])
          out[#out + 1] = { line = line, msg = string.format("%s; use ctx.db:%s", what, r[4]) }
        end
      end
    end
  end
  return out
end

-- check(path, text, conn) -> problems {"path:line: message"}, statements compiled
function M.check(path, text, conn)
  local toks = M.tokens(text)
  local problems = {}
  for _, p in ipairs(M.column_types(toks)) do problems[#problems + 1] = string.format("%s:%d: %s", path, p.line, p.msg) end
  for _, p in ipairs(M.dialect(toks)) do problems[#problems + 1] = string.format("%s:%d: %s", path, p.line, p.msg) end
  local n = 0
  if conn then
    local handle = dbmod.wrap(conn, {}, path)
    for _, st in ipairs(M.statements(toks, handle)) do
      n = n + 1
      local ok, msg, offset = conn:compile(st.text)
      if not ok then
        local line = offset and M.line_of(st.value, offset) or st.line
        problems[#problems + 1] = string.format("%s:%d: %s", path, line or st.line, msg)
      end
    end
  end
  return problems, n
end

return M
