local T = require "ipe.testing"
local xdg = require "ipe.xdg"

local function env(t) return function(k) return t[k] end end

T.case("an absolute XDG_<KIND>_HOME is used as it is", function()
  local e = env({ HOME = "/home/a", XDG_DATA_HOME = "/d", XDG_CONFIG_HOME = "/c", XDG_STATE_HOME = "/s",
                  XDG_CACHE_HOME = "/k" })
  T.eq({ xdg.dir("data", e), xdg.dir("config", e), xdg.dir("state", e), xdg.dir("cache", e) },
    { "/d/ipe", "/c/ipe", "/s/ipe", "/k/ipe" })
end)

T.case("unset, empty or relative: the default under HOME, else /tmp", function()
  local e = env({ HOME = "/home/a", XDG_DATA_HOME = "", XDG_CONFIG_HOME = "rel/dir" })
  T.eq({ xdg.dir("data", e), xdg.dir("config", e), xdg.dir("state", e), xdg.dir("cache", e) },
    { "/home/a/.local/share/ipe", "/home/a/.config/ipe", "/home/a/.local/state/ipe", "/home/a/.cache/ipe" })
  T.eq(xdg.dir("state", env({})), "/tmp/.local/state/ipe")
end)

T.case("an unknown kind is a programming error", function()
  local ok, err = pcall(xdg.dir, "music", env({}))
  T.eq(ok, false)
  T.ok(tostring(err):find("xdg.dir: unknown kind 'music'", 1, true) ~= nil)
end)

T.done()
