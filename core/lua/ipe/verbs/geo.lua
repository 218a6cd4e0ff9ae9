-- ipe.verbs.geo: ipe-run geo — the geo databases: which ones answer, and fetching free ones.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local geo = require "ipe.geo"

local M = {}

M.summary = "the geo databases in use, and fetching the free DB-IP Lite or GeoLite2 ones"
M.usage = [[
usage: ipe-run geo list [--db PATH]
       ipe-run geo fetch [city] [asn] [country] [--source dbip|maxmind]

commands:
  list     the geo databases that answer "who is this IP" (for the workspace: a
           demo workspace uses its bundled MaxMind test databases), and where the
           list comes from
  fetch    download free databases, verify them and install them in
           $XDG_DATA_HOME/ipe/geo/, where ipe finds them when neither IPE_GEOIP
           nor [geoip] paths in the config file names databases (default: city
           and asn)

options:
  --source dbip     DB-IP Lite (default): no account, CC BY 4.0 — credit "IP
                    Geolocation by DB-IP" (https://db-ip.com) where you show it
  --source maxmind  MaxMind GeoLite2: the licence key of a free account in
                    MAXMIND_LICENSE_KEY (or maxmind_license_key under [geoip])

Each download is decompressed, opened, checked for the expected database type and
walked whole before anything is installed; a failure installs nothing and keeps
the databases already there. [geoip] dbip_url / maxmind_url in the config file
replace the download URLs ({edition}, {month}, {key}).
]]

M.options = { { { "source", arg = true } } }

local function list(opts)
  local path = require("ipe.workspace").path(opts.db)
  local g = geo.default(path)
  local out = io.stdout
  out:write(string.format("geo databases: %s\n", g.source or "none configured"))
  if #g.dbs == 0 then
    out:write("To add some, " .. geo.HOWTO .. ".\n")
    return 0
  end
  for _, d in ipairs(g:databases()) do
    if d.status == "ok" then
      out:write(string.format("  %s  %s, built %s  %s\n", d.file, d.type, d.build_date, d.path))
    else
      out:write(string.format("  %s  error: %s\n", d.file, tostring(d.error)))
    end
  end
  return 0
end

local function fetch(opts, editions)
  local geofetch = require "ipe.geofetch"
  local jobs = geofetch.plan{ source = opts.source, editions = editions, now = common.now(opts),
                              config = require("ipe.config").load() }
  local done = geofetch.run(jobs)
  for _, d in ipairs(done) do
    io.stdout:write(string.format("installed %s: %s, built %s, %d bytes (%s)\n", d.path, d.type, d.build_date,
      d.size, d.label))
  end
  if done[1] then io.stdout:write("licence: " .. done[1].licence .. "\n") end
  local paths, source = geo.configured()
  if source ~= geo.fetched_dir() .. " (ipe-run geo fetch)" and source ~= nil then
    io.stdout:write("note: " .. source .. " names other databases, which are used instead\n")
  end
  return 0
end

function M.run(opts, pos)
  local sub = table.remove(pos, 1)
  if sub == "list" then
    if #pos > 0 then errors.usage("geo list: unexpected argument '%s'", pos[1]) end
    return list(opts)
  elseif sub == "fetch" then
    return fetch(opts, pos)
  elseif sub == nil then
    errors.usage("geo: say what to do: list or fetch (see 'ipe-run geo --help')")
  end
  errors.usage("geo: unknown command '%s' (list or fetch)", sub)
end

return M
