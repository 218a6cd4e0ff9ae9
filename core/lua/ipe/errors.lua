-- ipe.errors: user-facing failures with their documented exit codes.
--
-- A user error is a table {code=N, msg="one line"} raised with error(e, 0);
-- the CLI prints "ipe-run: <msg>" on stderr and exits with the code. Anything
-- else that escapes is an internal error (exit 4, traceback with -v).
local M = {}

M.OK, M.NO_RESULT, M.USAGE, M.NOT_FOUND, M.INTERNAL = 0, 1, 2, 3, 4

local Err = {}
Err.__index = Err
Err.__tostring = function(e) return e.msg end

function M.new(code, msg) return setmetatable({ code = code, msg = msg }, Err) end
function M.is(e) return getmetatable(e) == Err end

function M.raise(code, fmt, ...)
  error(M.new(code, select("#", ...) > 0 and string.format(fmt, ...) or fmt), 0)
end

function M.usage(fmt, ...) M.raise(M.USAGE, fmt, ...) end
function M.not_found(fmt, ...) M.raise(M.NOT_FOUND, fmt, ...) end
function M.failed(fmt, ...) M.raise(M.NO_RESULT, fmt, ...) end

-- run_code(rec) -> the exit code of one script run (an insight, hunt or action record): 2 for a
-- bad parameter, 3 for a broken script, no workspace or an action's missing target, 0 when
-- the run is ok, else 1.
local NOT_FOUND_OUTCOMES = { broken = true, workspace = true, not_found = true }
function M.run_code(rec)
  if rec.outcome == "param" then return M.USAGE end
  if NOT_FOUND_OUTCOMES[rec.outcome] then return M.NOT_FOUND end
  if rec.status == "ok" then return M.OK end
  return M.NO_RESULT
end

return M
