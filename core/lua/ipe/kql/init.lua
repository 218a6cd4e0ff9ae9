-- ipe.kql: a subset of the Kusto Query Language compiled to the workspace's SQL.
--
-- The modules: lexer (text -> tokens), parser (tokens -> AST), compile (the typed plan: each
-- relation's columns and Kusto types against ipe.schema, let environments, expressions),
-- functions (scalar functions), aggregates (summarize's), operators (the tabular operators),
-- sqlite (the engine's SQL fragments, one function each; those ctx.db shares come from
-- ipe.dialect.sqlite), script (insights and hunts written in KQL), err (positions, carets).
--
--   kql.compile(text, opts) -> plan {sql=, binds=, params=, columns=, batch=} (ipe.kql.compile);
--                              plan.batch: the plans of a batch's statements, in order
--                              or raises an ipe.kql.err error (line, column, message)
--   kql.parse(text)         -> the AST (ipe.kql.parser)
--   kql.engine(name)        -> the fragment module of an engine ("sqlite", "clickhouse")
--   kql.is_error(e), kql.format_error(e, text [, name]) -> the message, the line, a caret
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local parser = require "ipe.kql.parser"
local compiler = require "ipe.kql.compile"
local err = require "ipe.kql.err"

local M = {}

function M.engine(name)
  return require("ipe.kql." .. (name or "sqlite"))
end

function M.parse(text) return parser.parse(text) end

-- a batch (statements separated by ';'): each statement compiled on its own with the lets
-- declared before it; plan.batch lists every statement's plan (plan.batch[1] is plan itself)
function M.compile(text, opts)
  opts = opts or {}
  local prog = parser.parse(text)
  local copts = { engine = M.engine(opts.engine), now = opts.now, window = opts.window, lets = opts.lets,
    types = opts.types, named_ranges = opts.named_ranges }
  local batch = {}
  for i, q in ipairs(prog.queries) do
    local lets = {}
    for j = 1, q.nlets do lets[j] = prog.lets[j] end
    batch[i] = compiler.compile({ lets = lets, query = q.query, all_lets = prog.lets }, copts)
  end
  batch[1].batch = batch
  return batch[1]
end

-- shape(rows, columns): a result's values as Kusto shows them — bools true/false, timespans
-- [d.]hh:mm:ss[.fffffff], dynamics decoded from their JSON text
local cjson = require "cjson"
function M.timespan(s)
  local neg = s < 0
  s = math.abs(s)
  local d = math.floor(s / 86400)
  local rest = s - d * 86400
  local h, m = math.floor(rest / 3600), math.floor(rest % 3600 / 60)
  local sec = rest - h * 3600 - m * 60
  local text = string.format("%02d:%02d:%02d", h, m, math.floor(sec))
  local frac = sec - math.floor(sec)
  if frac > 5e-8 then text = text .. (string.format("%.7f", frac):sub(2):gsub("0+$", "")) end
  if d > 0 then text = d .. "." .. text end
  return (neg and "-" or "") .. text
end

function M.shape(rows, columns)
  for _, r in ipairs(rows) do
    for j, c in ipairs(columns) do
      local v = r[j]
      if v ~= nil and v ~= cjson.null then
        if c.type == "bool" then r[j] = v ~= 0 and v ~= false
        elseif c.type == "timespan" and type(v) == "number" then r[j] = M.timespan(v)
        elseif c.type == "dynamic" and type(v) == "string" then
          local ok, d = pcall(cjson.decode, v)
          if ok then r[j] = d end
        end
      end
    end
  end
  return rows
end

M.is_error = err.is
M.format_error = err.format

return M
