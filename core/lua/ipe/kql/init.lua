-- ipe.kql: a subset of the Kusto Query Language compiled to the workspace's SQL.
--
--   kql.compile(text, opts) -> plan {sql=, binds=, params=, columns=} (ipe.kql.compile)
--                              or raises an ipe.kql.err error (line, column, message)
--   kql.parse(text)         -> the AST (ipe.kql.parser)
--   kql.engine(name)        -> the fragment module of an engine ("sqlite", "clickhouse")
--   kql.is_error(e), kql.format_error(e, text [, name]) -> the message, the line, a caret
local parser = require "ipe.kql.parser"
local compiler = require "ipe.kql.compile"
local err = require "ipe.kql.err"

local M = {}

function M.engine(name)
  return require("ipe.kql." .. (name or "sqlite"))
end

function M.parse(text) return parser.parse(text) end

function M.compile(text, opts)
  opts = opts or {}
  local prog = parser.parse(text)
  return compiler.compile(prog, { engine = M.engine(opts.engine), now = opts.now, window = opts.window, lets = opts.lets })
end

M.is_error = err.is
M.format_error = err.format

return M
