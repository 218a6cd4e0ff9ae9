-- ipe.verbs.common: what every verb shares — option parsing with the global
-- options, the current time, the time window, output options and writing.
local getopt = require "ipe.getopt"
local errors = require "ipe.errors"
local proc = require "ipe.proc"
local timeutil = require "ipe.timeutil"
local render = require "ipe.render"
local textutil = require "ipe.textutil"

local M = {}

M.GLOBAL = { { "db", arg = true }, { "now", arg = true }, { "verbose", "v" }, { "help", "h" } }
M.WINDOW = { { "since", arg = true }, { "from", arg = true }, { "to", arg = true } }
M.OUTPUT = { { "format", "f", arg = true }, { "output", "o", arg = true } }
-- the verbs that draw tables and charts as text take --width
M.WIDTH = { { "width", arg = true } }

function M.spec(...)
  local spec = {}
  for _, list in ipairs({ M.GLOBAL, ... }) do
    for _, o in ipairs(list) do spec[#spec + 1] = o end
  end
  return spec
end

function M.invoke(verb, mod, args)
  local opts, pos = getopt.parse(args, M.spec(unpack(mod.options or {})), verb)
  if opts.help then
    io.stdout:write(require("ipe.manual").help_text(mod.usage))
    return 0
  end
  opts.verb = verb
  return mod.run(opts, pos)
end

-- The current time: --now, else IPE_NOW, else the clock.
function M.now(opts)
  local text = opts.now or proc.getenv("IPE_NOW")
  if not text or text == "" then return proc.now() end
  local t, err = timeutil.parse_time(text)
  if not t then errors.usage("--now: %s", err) end
  return t
end

function M.window(opts, now)
  if opts.since then
    local span, err = timeutil.parse_duration(opts.since)
    if err then errors.usage("--since: %s", err) end
    if not timeutil.format_time(now - span) then
      errors.usage("--since: '%s' is out of range (the window would start before the year 0000)", opts.since)
    end
  end
  for _, k in ipairs({ "from", "to" }) do
    if opts[k] then
      local _, err = timeutil.parse_time(opts[k], now)
      if err then errors.usage("--%s: %s", k, err) end
    end
  end
  local w, err = timeutil.window{ since = opts.since, from = opts.from, to = opts.to, now = now }
  if not w then errors.usage("%s", err) end
  return w
end

-- seconds(opts, name, default, most) -> the number of seconds of option --name (more than 0,
-- at most `most`), else default. Messages name the option and the value as typed.
function M.seconds(opts, name, default, most)
  local typed = opts[name:gsub("-", "_")]
  if typed == nil then return default end
  local n = typed:match("^%s*%d+%.?%d*%s*$") and tonumber(typed) or typed:match("^%s*%.%d+%s*$") and tonumber(typed)
  if not n then errors.usage("--%s: '%s' is not a number of seconds", name, typed) end
  if n <= 0 then errors.usage("--%s: '%s' must be more than 0 seconds", name, typed) end
  if n > most then errors.usage("--%s: '%s' is above the maximum of %d seconds", name, typed, most) end
  return n
end

-- whole(opts, name, least, most) -> option --name as a whole number in [least, most], or nil.
function M.whole(opts, name, least, most, what)
  local typed = opts[name:gsub("-", "_")]
  if typed == nil then return nil end
  local n = typed:match("^%s*%d+%s*$") and tonumber(typed)
  if not n then errors.usage("--%s: '%s' is not a whole number%s", name, typed, what and " of " .. what or "") end
  if n < least then errors.usage("--%s: '%s' is below the minimum %d", name, typed, least) end
  if n > most then errors.usage("--%s: '%s' is above the maximum %d", name, typed, most) end
  return n
end

-- -p key=value (repeatable) -> {key = value}
function M.given(list, verb)
  local given = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then errors.usage("%s: -p expects key=value, got '%s'", verb, kv) end
    given[k] = v
  end
  return given
end

-- The -f vocabulary, one for every verb: table (the terminal rendering; "text" is the same),
-- box, json, jsonl, csv, md, html. Each verb writes some of them (the list it passes to format;
-- the first is its default): a run record every format of ipe.render, the page table, box,
-- json or html, enrich jsonl or csv.
M.FORMATS = { "table", "box", "json", "jsonl", "csv", "md", "html" }
M.FORMAT_ALIASES = { text = "table" }

local function one_of(list)
  if #list == 1 then return list[1] end
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

-- format(opts [, writes]) -> the canonical format name: -f, else IPE_FORMAT when the verb
-- writes it, else the verb's default (writes[1]; writes defaults to ipe.render's formats).
-- Errors name the verb (opts.verb): "<verb>: unknown format 'x' (use ...)" for a name not in
-- the vocabulary, "<verb>: cannot write format 'x' (use ...)" for one the verb does not write.
function M.format(opts, writes)
  writes = writes or render.formats
  local verb = opts.verb or "ipe-run"
  local function canonical(name, where)
    local f = M.FORMAT_ALIASES[name] or name
    for _, x in ipairs(M.FORMATS) do if x == f then return f end end
    errors.usage("%s: %sunknown format '%s' (use %s)", verb, where, textutil.visible(name), one_of(writes))
  end
  local function written(f)
    for _, x in ipairs(writes) do if x == f then return true end end
    return false
  end
  if opts.format then
    local f = canonical(opts.format, "")
    if not written(f) then errors.usage("%s: cannot write format '%s' (use %s)", verb, f, one_of(writes)) end
    return f
  end
  local env = proc.getenv("IPE_FORMAT")
  if env and env ~= "" then
    local f = canonical(env, "IPE_FORMAT: ")
    if written(f) then return f end
  end
  return writes[1]
end

function M.color()
  local no = proc.getenv("NO_COLOR")
  return proc.isatty(1) and not (no and no ~= "") and proc.getenv("TERM") ~= "dumb"
end

M.MIN_WIDTH, M.MAX_WIDTH = 20, 1000

-- width(opts) -> the columns text output is fitted to: --width, else COLUMNS, else the
-- terminal's width, else (a pipe, a file) 80.
function M.width(opts)
  local given = M.whole(opts or {}, "width", M.MIN_WIDTH, M.MAX_WIDTH, "columns")
  if given then return given end
  local cols = tonumber((proc.getenv("COLUMNS") or ""):match("^%s*(%d+)%s*$") or "")
  if cols and cols >= M.MIN_WIDTH then return math.min(cols, M.MAX_WIDTH) end
  return proc.term_width() or 80
end

function M.render_options(opts)
  return { width = M.width(opts), color = M.color(), show_query = opts.show_query }
end

-- Write data to stdout, or atomically to -o FILE (never a half-written file).
function M.emit(text, opts)
  if opts.output and opts.output ~= "-" then
    local ok, err = require("ipe.fs").write_atomic(opts.output, text)
    if not ok then errors.raise(errors.NO_RESULT, "cannot write %s", err) end
    return
  end
  io.stdout:write(text)
end

-- run_query_job(verb, job, timeout, memory, opts) -> exit code: runs one query job (a
-- function returning serial.dump{text=, rows=} or {err=}) in a sandboxed worker with the
-- budgets, prints its rendering, and turns its failure into the verb's one line (out of
-- time / out of memory name the option that raises the budget). sql and kql share it.
function M.run_query_job(verb, job, timeout, memory, opts)
  local out = M.query_job(verb, job, timeout, memory)
  M.emit(out.text, opts)
  return out.rows > 0 and 0 or errors.NO_RESULT
end

-- query_job(verb, job, timeout, memory) -> {text=, rows=}: the job's answer, or raises the
-- verb's one line (errors.failed) as run_query_job says
function M.query_job(verb, job, timeout, memory)
  local serial = require "ipe.serial"
  local res = proc.run_jobs({ job }, { parallel = 1, timeout = timeout, cpu = math.ceil(timeout) + 1,
    memory = memory })[1]
  local out = res.ok and serial.undump(res.out)
  local why = type(out) == "table" and out.err or (not out and (res.why == "error" and tostring(res.out) or res.why))
  if why then
    why = tostring(why):gsub("^sqlite: ", "")
    if why == "timeout" or why == "cpu" or why:find("interrupted", 1, true) then
      errors.failed("%s: the query ran out of time (budget %gs; --timeout raises it)", verb, timeout)
    end
    if why:find("out of memory", 1, true) or why:find("not enough memory", 1, true) then
      errors.failed("%s: the query ran out of memory (budget %d MB; --memory raises it)", verb, memory / 1048576)
    end
    errors.failed("%s: %s", verb, why:match("[^\n]*"))
  end
  return out
end

return M
