-- ipe.xdg: ipe's folders under the XDG base directories, the one place that reads them.
--
--   xdg.dir(kind [, getenv]) -> "$XDG_<KIND>_HOME/ipe" when that variable is an absolute path,
--       else "$HOME/<default>/ipe" ($HOME, else /tmp), for kind "data" (~/.local/share),
--       "config" (~/.config), "state" (~/.local/state) or "cache" (~/.cache).
--       getenv defaults to ipe.proc.getenv (tests pass their own).
--
-- Used for the workspace (data), the configuration file (config), the page's timing hints
-- and the providers' rate-limit state (state).
local M = {}

local DEFAULTS = { data = "/.local/share", config = "/.config", state = "/.local/state", cache = "/.cache" }

function M.dir(kind, getenv)
  local home = DEFAULTS[kind]
  if not home then error("xdg.dir: unknown kind '" .. tostring(kind) .. "'", 2) end
  getenv = getenv or require("ipe.proc").getenv
  local base = getenv("XDG_" .. kind:upper() .. "_HOME")
  if not (base and base:sub(1, 1) == "/") then base = (getenv("HOME") or "/tmp") .. home end
  return base .. "/ipe"
end

return M
