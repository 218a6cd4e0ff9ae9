-- ipe.config: the user's configuration file.
--
-- $IPE_CONFIG, else $XDG_CONFIG_HOME/ipe/config (~/.config/ipe/config): an
-- INI-style file of [sections] and "key = value" lines; "#" and ";" start
-- comments. It may hold API keys, so it must not be readable by group or others:
-- such a file is refused with a one-line error that says how to fix it.
--
--   [geoip]
--   paths = /usr/share/GeoIP/GeoLite2-City.mmdb:/usr/share/GeoIP/GeoLite2-ASN.mmdb
--   [provider.virustotal]
--   key = ...
--   base_url = https://www.virustotal.com
--
-- config.load() -> cfg | raises a usage error; cfg:get(section, key) -> value | nil;
-- cfg:section(name) -> {key = value}. A missing file is an empty configuration.
local fs = require "ipe.fs"
local proc = require "ipe.proc"
local errors = require "ipe.errors"

local M = {}

function M.path()
  local p = proc.getenv("IPE_CONFIG")
  if p and p ~= "" then return p end
  return require("ipe.xdg").dir("config") .. "/config"
end

local Config = {}
Config.__index = Config

function Config:get(section, key)
  local s = self.sections[section]
  return s and s[key]
end

function Config:section(name) return self.sections[name] or {} end

-- parse(text, path) -> {section = {key = value}} | nil, "path:line: problem"
function M.parse(text, path)
  local sections, current = {}, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:match("^[#;]") then
      local name = line:match("^%[([%w%._%-]+)%]$")
      if name then
        sections[name] = sections[name] or {}
        current = sections[name]
      else
        local k, v = line:match("^([%w%._%-]+)%s*=%s*(.-)$")
        if not k then return nil, string.format("%s:%d: expected [section] or key = value", path, n) end
        if not current then return nil, string.format("%s:%d: '%s' is outside any [section]", path, n, k) end
        current[k] = v
      end
    end
  end
  return sections
end

local cached

function M.load()
  if cached then return cached end
  local path = M.path()
  local st = fs.stat(path)
  local sections = {}
  if st then
    if st.type ~= "file" then errors.usage("config %s is not a file", path) end
    if st.mode % 64 ~= 0 then
      errors.usage("config %s is readable by group or others (mode %o); it may hold API keys: chmod 600 %s",
        path, st.mode, path)
    end
    local text, err = fs.read(path, 1024 * 1024)
    if not text then errors.usage("cannot read config: %s", err) end
    local parsed, perr = M.parse(text, path)
    if not parsed then errors.usage("config: %s", perr) end
    sections = parsed
  end
  cached = setmetatable({ path = path, sections = sections }, Config)
  return cached
end

return M
