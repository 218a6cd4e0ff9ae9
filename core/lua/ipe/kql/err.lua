-- ipe.kql.err: a KQL error at a position of the query text.
--
--   raise(at, fmt, ...)  at = a token or node ({line=, col=, len=}); raises {kql=true, msg=,
--                        line=, col=, len=} (with error(..., 0))
--   is(e)               -> whether e is such an error
--   format(e, text [, name]) -> "name:LINE:COL: msg\n<the line>\n<spaces>^": one line naming the
--                        place, then the query's line and a caret under the token
local M = {}

local E = {}
E.__index = E
E.__tostring = function(e) return string.format("%d:%d: %s", e.line or 0, e.col or 0, e.msg) end

function M.raise(at, fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  at = at or {}
  error(setmetatable({ kql = true, msg = msg, line = at.line or 1, col = at.col or 1, len = at.len or 1 }, E), 0)
end

function M.is(e) return getmetatable(e) == E end

function M.format(e, text, name)
  local head = string.format("%s:%d:%d: %s", name or "kql", e.line, e.col, e.msg)
  local n, src = 0, nil
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if n == e.line then src = l break end
  end
  if not src then return head end
  src = src:gsub("\r$", "")
  local pad = src:sub(1, e.col - 1):gsub("[^\t]", " ")
  return head .. "\n" .. src:gsub("\t", " ") .. "\n" .. pad:gsub("\t", " ") .. "^"
end

return M
