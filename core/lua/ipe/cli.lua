-- ipe.cli: the ipe-run command line — global options, verb dispatch, exit codes.
--
-- Each verb is a module ipe.verbs.<verb> with {summary=, usage=, options=, run=}.
-- Data goes to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 no result or
-- script failure, 2 usage or bad parameter, 3 not found, 4 internal error.
local errors = require "ipe.errors"
local textutil = require "ipe.textutil"

local M = {}

M.VERBS = { "insight", "page", "hunt", "action", "list", "help", "check", "sql", "kql", "test", "demo",
            "enrich", "geo", "ingest", "audit", "migrate", "serve" }

local function verb_module(name)
  for _, v in ipairs(M.VERBS) do
    if v == name then
      local ok, mod = pcall(require, "ipe.verbs." .. name)
      if ok then return mod end
      if not tostring(mod):find("no bundled module", 1, true) then error(mod, 0) end
      return nil
    end
  end
end

function M.available_verbs()
  local list = {}
  for _, v in ipairs(M.VERBS) do
    local mod = verb_module(v)
    if mod then list[#list + 1] = { v, mod.summary } end
  end
  return list
end

-- The options every verb takes and the environment, as {term, description}: the source of
-- 'ipe-run --help' and of the manual page (ipe.manual), so the two cannot drift.
M.GLOBAL_OPTIONS = {
  { "--db PATH", "the workspace (default: $IPE_DB, else [workspace] db in the config file, else "
    .. "$XDG_DATA_HOME/ipe/workspace.db); clickhouse://[user@]host[:port]/database for ClickHouse" },
  { "--now TIME", "pin the current time (ISO 8601; also $IPE_NOW), for reproducible runs" },
  { "-v, --verbose", "tracebacks and more detail on errors" },
  { "-h, --help", "help for a verb: ipe-run <verb> --help" },
}

M.ENVIRONMENT = {
  { "IPE_DB", "the workspace file or clickhouse:// URL (as --db)" },
  { "IPE_CLICKHOUSE_PASSWORD", "the password of a clickhouse:// workspace's user (never printed)" },
  { "IPE_NOW", "the current time (as --now)" },
  { "IPE_PATH", "colon-separated folders holding your own insights/, hunts/ and actions/" },
  { "IPE_HOME", "the folder of the built-in insights, hunts and actions" },
  { "IPE_FORMAT", "the default output format" },
  { "IPE_TIMEOUT", "the default time budget of a script run, in seconds" },
  { "IPE_JOBS", "how many panels 'page' runs at once (default: the CPUs)" },
  { "IPE_GEOIP", "colon-separated MaxMind .mmdb files for geolocation (ip-details)" },
  { "IPE_CONFIG", "the configuration file (default $XDG_CONFIG_HOME/ipe/config; not readable by others)" },
  { "COLUMNS", "the width text output is fitted to (--width overrides it)" },
  { "NO_COLOR", "never use colour" },
  { "EDITOR", "the editor of 'hunt --edit', 'insight --as-hunt' and 'action go-hunt'" },
}

M.EXIT_CODES = "0 ok, 1 no result or script failure, 2 usage or bad parameter, "
  .. "3 not found (script or workspace), 4 internal error"

-- "  term  description", the descriptions wrapped between words to 80 columns under themselves.
local function term_lines(lines, list)
  local w = 0
  for _, t in ipairs(list) do w = math.max(w, #t[1]) end
  local indent = string.rep(" ", w + 4)
  for _, t in ipairs(list) do
    local line = string.format("  %-" .. w .. "s ", t[1])
    for word in t[2]:gmatch("%S+") do
      if #line + 1 + #word > 80 and #line > #indent then lines[#lines + 1] = line; line = indent:sub(2) end
      line = line .. " " .. word
    end
    lines[#lines + 1] = line
  end
end

function M.usage()
  local lines = {
    "usage: ipe-run <verb> [options] [arguments]",
    "",
    "ipe investigates an IP address locally: who it is, what your logs say about it,",
    "what threat intelligence says, and what you can do about it.",
    "",
    "verbs:",
  }
  term_lines(lines, M.available_verbs())
  lines[#lines + 1] = ""
  lines[#lines + 1] = "options for every verb:"
  term_lines(lines, M.GLOBAL_OPTIONS)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "environment:"
  term_lines(lines, M.ENVIRONMENT)
  lines[#lines + 1] = ""
  local line = "exit codes:"
  for code in (M.EXIT_CODES .. ", "):gmatch("(.-), ") do   -- broken between codes only
    if #line + #code + 2 > 80 then lines[#lines + 1] = line; line = "           " end
    line = line .. " " .. code .. ","
  end
  lines[#lines + 1] = line:sub(1, -2)
  lines[#lines + 1] = "See ipe-run(1) (also 'ipe-run help --man | man -l -') and 'ipe-run help <name>'."
  return table.concat(lines, "\n") .. "\n"
end

local function report(e, verbose)
  if errors.is(e) then
    io.stderr:write("ipe-run: ", textutil.visible(e.msg), "\n")
    return e.code
  end
  local msg = type(e) == "string" and e or tostring(e)
  io.stderr:write("ipe-run: internal error: ", textutil.visible(verbose and msg or msg:match("[^\n]*")), "\n")
  if not verbose then io.stderr:write("ipe-run: run again with -v for details\n") end
  return errors.INTERNAL
end

local function dispatch(argv)
  local args = {}
  for i = 1, #argv do args[i] = argv[i] end
  local verb = table.remove(args, 1)
  if verb == nil then
    io.stderr:write(M.usage())
    return errors.USAGE
  end
  if verb == "-h" or verb == "--help" then
    io.stdout:write(M.usage())
    return 0
  end
  if verb == "--version" or verb == "version" then
    io.stdout:write("ipe-run ", require("ipe.version"), "\n")
    return 0
  end
  local mod = verb_module(verb)
  if not mod then errors.usage("unknown verb '%s' (see 'ipe-run --help')", textutil.visible(verb)) end
  return require("ipe.verbs.common").invoke(verb, mod, args)
end

function M.main(argv)
  local verbose = false
  for i = 1, #argv do if argv[i] == "-v" or argv[i] == "--verbose" then verbose = true end end
  local ok, rc = xpcall(dispatch, function(e)
    if errors.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, argv)
  io.stdout:flush()
  if ok then return rc or 0 end
  return report(rc, verbose)
end

return M
