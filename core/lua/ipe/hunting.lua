-- ipe.hunting: what hunts need beside the runner — printing a hunt run (its
-- queries with their bound values as a header, then the raw results), the
-- "modify the query" step (--edit: a copy of a hunt, or of an insight with
-- --as-hunt, with the given parameters as its new defaults, opened in $EDITOR
-- and run), and the IP-bearing places of the workspace derived from ipe.schema.
--
--   hunting.ip_sources()                 -> { {table=, column=, how=, path=}, ... }
--       how: equals | with_port | json | text | array | entities | entity_mapping
--   hunting.ip_predicate(db, src, param) -> SQL "this row's place mentions :param"
--   hunting.user_dir()                   -> the folder copies go to (…/hunts)
--   hunting.copy_name(index, base, given, dir) -> a free script name
--   hunting.rewrite(source, change)      -> text | nil, why   (pure; see below)
--   hunting.wrapper(source, change)      -> text              (fallback form of a copy)
--   hunting.literal(v)                   -> Lua source of a plain value
--   hunting.emit(rec, fmt, opts)         -> prints a hunt run; returns the exit code
--   hunting.run_entry(opts, req)         -> runs req (a hunt request) and prints it
--   hunting.edit(opts, index, entry, given [, how]) -> exit code
--   hunting.as_hunt(opts, index, entry, given)       -> exit code (insight --as-hunt)
--
-- Copies. A copy gets a new name — two scripts with one name are an error —
-- "<name>-<ip>" when an IP is given (dots and colons become "-"), else
-- "<name>-custom"; "-2", "-3", ... when that name is taken. A hunt that already
-- lives in the user's folder is edited in place (its defaults updated, same
-- name). The folder is the first IPE_PATH entry's hunts/, else
-- $XDG_DATA_HOME/ipe/hunts (~/.local/share/ipe/hunts). The editor is $EDITOR
-- (run through sh, so "code -w" works), else vi. When it exits non-zero the
-- copy is kept and not run: exit 1.
--
-- Errors a user can trigger are raised as ipe.errors values (one line, exit code).
local errors = require "ipe.errors"
local textutil = require "ipe.textutil"

local M = {}

---------------------------------------------------------------------------
-- Where IPs live
---------------------------------------------------------------------------

-- Places the schema does not list as IP columns but that hold IPs exactly.
M.EXTRA_IP_SOURCES = {
  { table = "Watchlist", column = "SearchKey", how = "equals" },  -- the item key of IP-keyed watchlists
}

function M.ip_sources()
  local schema = require "ipe.schema"
  local out = {}
  for _, t in ipairs(schema.tables) do
    local port = {}
    for _, c in ipairs(t.ip_with_port) do port[c] = true end
    for _, c in ipairs(t.ip_columns) do
      out[#out + 1] = { table = t.name, column = c, how = port[c] and "with_port" or "equals" }
    end
    for _, j in ipairs(t.ip_json) do out[#out + 1] = { table = t.name, column = j.column, how = "json", path = j.path } end
    for _, c in ipairs(t.ip_text) do out[#out + 1] = { table = t.name, column = c, how = "text" } end
    for _, l in ipairs(t.ip_lists) do out[#out + 1] = { table = t.name, column = l.column, how = l.shape } end
  end
  for _, x in ipairs(M.EXTRA_IP_SOURCES) do out[#out + 1] = x end
  return out
end

-- ip_predicate(db, src, p): SQL that is true when src's place mentions the IP bound to :p.
function M.ip_predicate(db, src, p)
  local c = src.column
  if src.how == "equals" then return string.format("%s = :%s", c, p) end
  if src.how == "with_port" then return db:ip_with_port(c, p) end   -- OfficeActivity.ClientIP: "1.2.3.4:51234"
  if src.how == "json" then return db:json(c, (src.path:gsub("^%$%.", ""))) .. " = :" .. p end
  if src.how == "text" then return db:text_has_ip(c, p) end
  if src.how == "array" then return db:json_array_has(c, p) end
  if src.how == "entities" then return db:entities_have_ip(c, p) end
  if src.how == "entity_mapping" then return db:entity_mapping_has_ip(c, p) end
  error("hunting.ip_predicate: unknown kind of place '" .. tostring(src.how) .. "'", 2)
end

---------------------------------------------------------------------------
-- Printing a hunt run
---------------------------------------------------------------------------

local function query_lines(rec)
  local text = require "ipe.render.text"
  local lines = {}
  for i, q in ipairs(rec.queries or {}) do
    if i > 1 then lines[#lines + 1] = "" end
    if q.kql then
      lines[#lines + 1] = "-- " .. rec.kind .. " " .. textutil.visible(rec.script) .. ": KQL"
      for _, l in ipairs(textutil.lines((tostring(q.kql):gsub("%s+$", "")))) do lines[#lines + 1] = "-- | " .. l end
    end
    lines[#lines + 1] = "-- " .. rec.kind .. " " .. textutil.visible(rec.script) .. ": " .. text.query_label(i, q)
    for _, l in ipairs(textutil.lines(tostring(q.sql or ""))) do lines[#lines + 1] = l end
  end
  if #lines == 0 then lines[1] = "-- " .. rec.kind .. " " .. textutil.visible(rec.script) .. ": ran no query" end
  return lines
end

-- The queries alone (--show-query), in the format asked for.
function M.queries_text(rec, fmt)
  if fmt == "json" then
    local json = require "ipe.render.json"
    local list = {}
    for i, q in ipairs(rec.queries or {}) do
      local params = {}
      for j, p in ipairs(q.params or {}) do params[j] = { p.name, p.value } end
      list[i] = json.object({ { "kql", q.kql }, { "sql", q.sql }, { "params", json.object(params) } })
    end
    return json.encode(json.object({ { "script", rec.script }, { "kind", rec.kind },
      { "queries", json.array(list) } }), { pretty = true }) .. "\n"
  end
  local lines = query_lines(rec)
  if fmt == "md" then return "```sql\n" .. table.concat(lines, "\n") .. "\n```\n" end
  return table.concat(lines, "\n") .. "\n"
end

local function diagnose(rec)
  if rec.status == "error" then
    io.stderr:write("ipe-run: ", rec.kind, " '", rec.script, "': ", textutil.visible(rec.message or "failed"), "\n")
  end
end

-- emit(rec, fmt, opts): print a hunt run — the queries as a header, then the
-- results (json: the record, which holds the queries; csv: the data only).
function M.emit(rec, fmt, opts)
  local common = require "ipe.verbs.common"
  local render = require "ipe.render"
  if rec.outcome == "param" or rec.outcome == "broken" or rec.outcome == "workspace" then
    errors.raise(errors.run_code(rec), "%s", rec.message)
  end
  diagnose(rec)
  if opts.show_query then
    common.emit(M.queries_text(rec, fmt), opts)
    return rec.status == "error" and #(rec.queries or {}) == 0 and errors.NO_RESULT or errors.OK
  end
  local ropts = common.render_options(opts)
  ropts.show_query = false
  local body = render.run(rec, fmt, ropts)
  local head = ""
  if fmt == "table" or fmt == "box" or fmt == "md" then head = M.queries_text(rec, fmt) .. "\n" end
  common.emit(head .. body, opts)
  return errors.run_code(rec)
end

function M.run_entry(opts, req)
  local fmt = require("ipe.verbs.common").format(opts)
  return M.emit(require("ipe.runner").run(req), fmt, opts)
end

---------------------------------------------------------------------------
-- Copies: names and folders
---------------------------------------------------------------------------

function M.user_dir(override)
  if override then return override end
  local proc = require "ipe.proc"
  local first = (proc.getenv("IPE_PATH") or ""):match("[^:]+")
  if first then return first .. "/hunts" end
  return require("ipe.workspace").data_dir() .. "/hunts"
end

local function slug(s) return (tostring(s):lower():gsub("[^a-z0-9]", "-")) end

function M.copy_name(index, base, given, dir)
  local stem = base .. "-" .. (given.ip and slug(given.ip) or "custom")
  local fs = require "ipe.fs"
  local name, n = stem, 1
  while index.by_key["hunt/" .. name] or fs.stat(dir .. "/" .. name .. ".lua") do
    n = n + 1
    name = stem .. "-" .. n
  end
  return name
end

---------------------------------------------------------------------------
-- Rewriting a script's source (pure)
---------------------------------------------------------------------------

local function long_bracket(src, i)   -- src:sub(i) starts with "[" : level or nil
  local eq = src:match("^%[(=*)%[", i)
  return eq
end

-- skip(src, i): i is at a string or comment start -> position after it; else nil
local function skip(src, i)
  local c = src:sub(i, i)
  if c == '"' or c == "'" then
    local j = i + 1
    while j <= #src do
      local d = src:sub(j, j)
      if d == "\\" then j = j + 2
      elseif d == c then return j + 1
      else j = j + 1 end
    end
    return #src + 1
  end
  if c == "[" then
    local eq = long_bracket(src, i)
    if eq then
      local _, e = src:find("]" .. eq .. "]", i + #eq + 2, true)
      return (e or #src) + 1
    end
    return nil
  end
  if src:sub(i, i + 1) == "--" then
    local eq = long_bracket(src, i + 2)
    if eq then
      local _, e = src:find("]" .. eq .. "]", i + #eq + 4, true)
      return (e or #src) + 1
    end
    local e = src:find("\n", i, true)
    return (e or #src) + 1
  end
  return nil
end

-- close_of(src, open): the position of the brace closing the one at `open`.
local function close_of(src, open)
  local depth, i = 0, open
  while i <= #src do
    local after = skip(src, i)
    if after then i = after
    else
      local c = src:sub(i, i)
      if c == "{" or c == "(" then depth = depth + 1
      elseif c == "}" or c == ")" then
        depth = depth - 1
        if depth == 0 then return i end
      end
      i = i + 1
    end
  end
end

-- code_span(src, a, b): the first and last positions in [a, b) that are code
-- (not white space, not comments); nil when there is none.
local function code_span(src, a, b)
  local first, last, p = nil, nil, a
  while p < b do
    local after = skip(src, p)
    if after and src:sub(p, p + 1) == "--" then p = after
    elseif after then first = first or p; last = math.min(after, b) - 1; p = after
    elseif src:sub(p, p):match("%s") then p = p + 1
    else first = first or p; last = p; p = p + 1 end
  end
  return first, last
end

-- fields(src, open, close): the top-level entries of a table constructor:
-- { {key=, at=, value_at=, value_end=, open=, close=(when the value is a table)} }
local function fields(src, open, close)
  local out, i = {}, open + 1
  local start = i
  local function finish(stop)
    local first, last = code_span(src, start, stop)
    if not first then return end
    local entry = { at = first, value_at = first, value_end = last }
    local key, eq = src:match("^([%a_][%w_]*)%s*=()", first)
    if key and src:sub(eq, eq) ~= "=" then
      entry.key = key
      entry.value_at = code_span(src, eq, stop) or eq
    end
    if src:sub(entry.value_at, entry.value_at) == "{" then entry.open, entry.close = entry.value_at, close_of(src, entry.value_at) end
    if entry.value_end >= entry.value_at then out[#out + 1] = entry end
  end
  while i < close do
    local after = skip(src, i)
    if after then i = after
    else
      local c = src:sub(i, i)
      if c == "{" or c == "(" then i = close_of(src, i) + 1
      elseif c == "," or c == ";" then finish(i); i = i + 1; start = i
      else i = i + 1 end
    end
  end
  finish(close)
  return out
end

local function find_code(src, pattern, from)
  local i = from or 1
  while i <= #src do
    local after = skip(src, i)
    if after then i = after
    else
      local s, e = src:find("^" .. pattern, i)
      if s then return s, e end
      i = i + 1
    end
  end
end

-- only white space, comments and ";" from i to the end?
local function rest_is_empty(src, i)
  while i <= #src do
    local after = skip(src, i)
    if after and src:sub(i, i) ~= '"' and src:sub(i, i) ~= "'" and src:sub(i, i) ~= "[" then i = after
    elseif src:sub(i, i):match("[%s;]") then i = i + 1
    else return false end
  end
  return true
end

-- The returned script table: the "return {" whose table ends the chunk.
local function script_table(src)
  local pos = 1
  while true do
    local s, e = find_code(src, "return%s*{", pos)
    if not s then return nil end
    local close = close_of(src, e)
    local word_before = s > 1 and src:sub(s - 1, s - 1):match("[%w_]")
    if close and not word_before and rest_is_empty(src, close + 1) then return e, close end
    pos = e + 1
  end
end

local function field(list, key)
  for _, f in ipairs(list) do if f.key == key then return f end end
end

local function string_value(src, f)
  if not f then return nil end
  local v = src:sub(f.value_at, f.value_end)
  return v:match('^"(.*)"$') or v:match("^'(.*)'$")
end

-- rewrite(source, change) -> new source | nil, why
-- change = { name = new name, kind = new kind (or nil), defaults = { param = Lua literal text } }
-- Edits are textual and minimal: the name and kind fields of the returned table,
-- and in params the default of each named parameter (replacing the default,
-- or `required = true`, or adding one).
function M.rewrite(src, change)
  local open, close = script_table(src)
  if not open or not close then return nil, "no 'return { ... }' table found" end
  local top = fields(src, open, close)
  local edits = {}
  local function replace(a, b, text) edits[#edits + 1] = { a, b, text } end
  for _, key in ipairs({ "name", "kind" }) do
    if change[key] then
      local f = field(top, key)
      if not string_value(src, f) then return nil, "field '" .. key .. "' is not a plain string" end
      replace(f.value_at, f.value_end, string.format("%q", change[key]))
    end
  end
  local pending = {}
  for k, v in pairs(change.defaults or {}) do pending[k] = v end
  if next(pending) then
    local pf = field(top, "params")
    if not (pf and pf.open) then return nil, "field 'params' is not a table constructor" end
    for _, spec in ipairs(fields(src, pf.open, pf.close)) do
      if spec.open then
        local sf = fields(src, spec.open, spec.close)
        local pname = string_value(src, field(sf, "name"))
        local lit = pname and pending[pname]
        if lit then
          pending[pname] = nil
          local d, r = field(sf, "default"), field(sf, "required")
          if d then replace(d.value_at, d.value_end, lit)
          elseif r then replace(r.at, r.value_end, "default = " .. lit)
          else replace(spec.open + 1, spec.open, " default = " .. lit .. ",") end
        end
      end
    end
    local left = next(pending)
    if left then return nil, "parameter '" .. left .. "' not found in params" end
  end
  table.sort(edits, function(a, b) return a[1] > b[1] end)
  for _, e in ipairs(edits) do src = src:sub(1, e[1] - 1) .. e[3] .. src:sub(e[2] + 1) end
  return src
end

-- wrapper(source, change): the copy as a wrapper around the original chunk,
-- for sources rewrite() cannot edit in place.
function M.wrapper(src, change)
  local defs = {}
  local names = {}
  for k in pairs(change.defaults or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do defs[#defs + 1] = string.format("  %s = %s,", k, change.defaults[k]) end
  local lines = { "local script = (function()", src, "end)()" }
  if change.name then lines[#lines + 1] = string.format("script.name = %q", change.name) end
  if change.kind then lines[#lines + 1] = string.format("script.kind = %q", change.kind) end
  lines[#lines + 1] = "local defaults = {"
  for _, d in ipairs(defs) do lines[#lines + 1] = d end
  for _, l in ipairs({ "}", "for _, p in ipairs(script.params or {}) do",
                       "  if defaults[p.name] ~= nil then p.default, p.required = defaults[p.name], nil end",
                       "end", "return script" }) do lines[#lines + 1] = l end
  return table.concat(lines, "\n") .. "\n"
end

function M.literal(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then
    if v % 1 == 0 and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if t == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.literal(x) end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  error("hunting.literal: cannot write a " .. t, 2)
end

---------------------------------------------------------------------------
-- --edit and --as-hunt
---------------------------------------------------------------------------

-- The new defaults as Lua literals: the coerced values (an IP normalized), but
-- durations and timestamps as given ("3d" stays readable).
local function defaults_for(meta_params, given, label)
  local params = require "ipe.params"
  local values, ordered = params.coerce(meta_params, given, label)
  if not values then errors.usage("%s", ordered) end
  local out, shown = {}, {}
  for _, p in ipairs(meta_params) do
    if given[p.name] ~= nil then
      local v = values[p.name]
      if p.type == "duration" or p.type == "timestamp" then v = given[p.name] end
      out[p.name] = M.literal(v)
      shown[#shown + 1] = p.name .. "=" .. (type(v) == "table" and table.concat(v, ",") or tostring(v))
    end
  end
  return out, shown
end

local function header(entry, how, name, shown, now_text, made_by)
  local cmd = made_by or (how == "insight" and ("ipe-run insight " .. entry.name .. " --as-hunt")
    or ("ipe-run hunt " .. entry.name .. " --edit"))
  return table.concat({
    "-- Copy of " .. entry.path,
    "-- made by '" .. cmd .. "' at " .. now_text .. (#shown > 0 and "," or "."),
    #shown > 0 and ("-- with new defaults: " .. table.concat(shown, ", ") .. ".") or nil,
    "-- Edit the query and save; ipe-run then runs this copy. Later: ipe-run hunt " .. name,
    "-- (with this folder's parent in IPE_PATH).",
  }, "\n") .. "\n"
end

local function check_copy(path, name, wanted)
  local runner = require "ipe.runner"
  local meta = runner.describe_many({ { kind = "hunt", name = name, path = path } }, 1)[1]
  if meta.broken then return false end
  for _, p in ipairs(meta.params or {}) do
    if wanted[p.name] and M.literal(p.default) ~= wanted[p.name] then return false end
  end
  return true
end

-- make_copy(index, entry, given, how, now_text [, place]) -> path, name, shown
-- place = {dir = folder for the copy (default user_dir()), made_by = the command named in its header}
function M.make_copy(index, entry, given, how, now_text, place)
  place = place or {}
  local fs = require "ipe.fs"
  local runner = require "ipe.runner"
  local meta = runner.describe_many({ entry }, 1)[1]
  if meta.broken then errors.not_found("%s '%s' is broken: %s", entry.kind, entry.name, meta.broken) end
  local label = entry.kind .. " '" .. entry.name .. "'"
  local defaults, shown = defaults_for(meta.params, given, label)
  local dir = M.user_dir(place.dir)
  local in_place = how == "hunt" and entry.path:sub(1, #dir + 1) == dir .. "/"
  local name = in_place and entry.name or M.copy_name(index, entry.name, given, dir)
  local src, err = fs.read(entry.path, 4 * 1024 * 1024)
  if not src then errors.failed("cannot read %s", err) end
  local change = { name = (not in_place) and name or nil, kind = how == "insight" and "hunt" or nil, defaults = defaults }
  local ok, mk = fs.mkdir_p(dir)
  if not ok then errors.failed("cannot create the hunt folder %s", mk) end
  local path = in_place and entry.path or (dir .. "/" .. name .. ".lua")
  local text = M.rewrite(src, change)
  local head = in_place and "" or header(entry, how, name, shown, now_text, place.made_by)
  local wok, werr = fs.write_atomic(path, head .. (text or M.wrapper(src, change)), 420)
  if not wok then errors.failed("cannot write the copy %s", werr) end
  if text and not check_copy(path, name, defaults) then
    wok, werr = fs.write_atomic(path, head .. M.wrapper(src, change), 420)
    if not wok then errors.failed("cannot write the copy %s", werr) end
  end
  return path, name, shown
end

function M.editor()
  local e = require("ipe.proc").getenv("EDITOR")
  if e and e:find("%S") then return e end
  return "vi"
end

-- open_editor(path) -> exit status of $EDITOR (run through sh: "code -w" works)
function M.open_editor(path, editor)
  local proc = require "ipe.proc"
  editor = editor or M.editor()
  local rc, err = proc.run({ "sh", "-c", editor .. ' "$1"', "sh", path })
  if not rc then errors.failed("cannot start the editor '%s': %s", editor, err) end
  return rc
end

-- edit(opts, index, entry, given [, how]) -> exit code; how = "hunt" (default) or "insight".
-- opts are the verb's options (window, format, output, --db ...); opts.editor
-- overrides $EDITOR, opts.hunt_dir the folder, opts.made_by the command named
-- in the copy's header. The request is built (and the workspace checked)
-- before anything is copied.
function M.edit(opts, index, entry, given, how)
  how = how or "hunt"
  local insight = require "ipe.verbs.insight"
  local common = require "ipe.verbs.common"
  local fmt = common.format(opts)
  local req = insight.request(opts, index, entry, {})
  local path, name = M.make_copy(index, entry, given, how, req.now_text,
    { dir = opts.hunt_dir, made_by = opts.made_by })
  io.stderr:write("ipe-run: ", how == "insight" and "insight '" .. entry.name .. "' copied as hunt '" or "hunt '",
    name, "' saved as ", textutil.visible(path), "\n")
  local editor = opts.editor or M.editor()
  local rc = M.open_editor(path, editor)
  if rc ~= 0 then
    errors.failed("the editor '%s' exited with status %d; the copy %s is kept and was not run", editor, rc, path)
  end
  local fresh = require("ipe.discover").scan()
  local copy = fresh.by_key["hunt/" .. name]
  if not (copy and copy.path == path) then copy = { kind = "hunt", name = name, path = path } end
  req.entry, req.index = copy, fresh
  local rec = require("ipe.runner").run(req)
  local code = M.emit(rec, fmt, opts)
  return code, rec, path
end

function M.as_hunt(opts, index, entry, given)
  return M.edit(opts, index, entry, given, "insight")
end

return M
