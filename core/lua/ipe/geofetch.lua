-- ipe.geofetch: download, verify and install free geo databases (`ipe-run geo fetch`).
--
--   local jobs = geofetch.plan{ source = "dbip" | "maxmind", editions = {"city", "asn"},
--                               now = epoch seconds, config = ipe.config object, getenv = fn }
--   local installed = geofetch.run(jobs, { dir = path, perform = fn(request) -> response })
--
-- Sources: DB-IP Lite (free, CC BY 4.0, no account: a month-dated .mmdb.gz; when this month's
-- file is not out yet, last month's) and MaxMind GeoLite2 (free with an account: the licence
-- key in MAXMIND_LICENSE_KEY or [geoip] maxmind_license_key; a .tar.gz holding the .mmdb).
-- [geoip] dbip_url / maxmind_url replace the download URL templates ({edition}, {month},
-- {key}); they must be https, or http to this machine (127.0.0.1, localhost, ::1).
--
-- Every download goes through ipe.curl (TLS verified; MaxMind's answer is a redirect to its
-- storage, at most 3 are followed), is decompressed (ipe.zlib; tar read here), opened with
-- libmaxminddb, checked for the database_type the edition must have, walked whole
-- (reader:verify) and asked for a sample of addresses (ipe.geo.PROBES) — and only when every requested database passed are they renamed into
-- place, each atomically, under dir (default $XDG_DATA_HOME/ipe/geo, where ipe.geo finds
-- them). A failure installs nothing, leaves the databases already there untouched and no
-- temporary file behind. The licence key is never shown: not in output, errors or -v.
-- Errors: plan raises usage errors (exit 2); run raises errors.failed (exit 1), one line.
local errors = require "ipe.errors"
local fs = require "ipe.fs"
local proc = require "ipe.proc"

local M = {}

M.SOURCES = {
  dbip = {
    name = "DB-IP Lite",
    licence = "CC BY 4.0: credit \"IP Geolocation by DB-IP\" (https://db-ip.com) wherever you show its data",
    url = "https://download.db-ip.com/free/dbip-{edition}-lite-{month}.mmdb.gz",
    format = "gz",
    editions = {
      city = { file = "dbip-city-lite.mmdb", type = "^DBIP%-City%-Lite$" },
      country = { file = "dbip-country-lite.mmdb", type = "^DBIP%-Country%-Lite$" },
      asn = { file = "dbip-asn-lite.mmdb", type = "^DBIP%-ASN%-Lite" },
    },
  },
  maxmind = {
    name = "MaxMind GeoLite2",
    licence = "GeoLite2 End User License Agreement (https://www.maxmind.com/en/geolite2/eula)",
    url = "https://download.maxmind.com/app/geoip_download?edition_id={edition}&license_key={key}&suffix=tar.gz",
    format = "tar.gz",
    editions = {
      city = { id = "GeoLite2-City", file = "GeoLite2-City.mmdb", type = "^GeoLite2%-City$" },
      country = { id = "GeoLite2-Country", file = "GeoLite2-Country.mmdb", type = "^GeoLite2%-Country$" },
      asn = { id = "GeoLite2-ASN", file = "GeoLite2-ASN.mmdb", type = "^GeoLite2%-ASN$" },
    },
  },
}
M.EDITIONS = { "city", "asn", "country" }
M.DEFAULT_EDITIONS = { "city", "asn" }
M.MAX_DOWNLOAD = 512 * 1024 * 1024    -- a DB-IP City Lite .mmdb.gz is ~130 MB
M.MAX_DATABASE = 2 * 1024 * 1024 * 1024 - 1

local function loopback(url)
  local host = url:match("^[hH][tT][tT][pP]://%[?([^/%]:]*)")
  return host == "127.0.0.1" or host == "localhost" or host == "::1"
end

-- check_template(url, where) -> url | raises usage
local function check_template(url, where)
  if not (url:match("^[hH][tT][tT][pP][sS]://[^/%s]+") or loopback(url)) or url:find("%s") then
    errors.usage("geo fetch: %s '%s' is not an https URL (plain http only to this machine)", where, url)
  end
  return url
end

local function month_text(t, back)
  local y, m = tonumber(os.date("!%Y", t)), tonumber(os.date("!%m", t))
  m = m - back
  while m < 1 do m, y = m + 12, y - 1 end
  return string.format("%04d-%02d", y, m)
end

local function fill(template, values)
  return (template:gsub("{(%w+)}", function(k) return values[k] or "{" .. k .. "}" end))
end

-- The host of a URL, which is all an error ever says of it (MaxMind's carries the key).
local function host(url) return url:match("^%a+://([^/?#]+)") or "?" end

-- plan(opts) -> jobs: { {source=, edition=, name=, file=, type=, urls={...}, label=, secret=} }
function M.plan(opts)
  local source = opts.source or "dbip"
  local S = M.SOURCES[source]
  if not S then errors.usage("geo fetch: unknown source '%s' (dbip or maxmind)", source) end
  local getenv = opts.getenv or proc.getenv
  local cfg = opts.config
  local section = cfg and cfg:section("geoip") or {}
  local template = check_template(section[source .. "_url"] or S.url, "[geoip] " .. source .. "_url")
  local key
  if source == "maxmind" then
    key = getenv("MAXMIND_LICENSE_KEY")
    if key == nil or key == "" then key = section.maxmind_license_key end
    if key == nil or key == "" then
      errors.usage("geo fetch --source maxmind needs a GeoLite2 licence key: set MAXMIND_LICENSE_KEY or " ..
        "maxmind_license_key under [geoip] in the config file (a free account at https://www.maxmind.com/en/geolite2/signup)")
    end
    if not template:match("^[hH][tT][tT][pP][sS]://") and not loopback(template) then
      errors.usage("geo fetch: refusing to send the licence key over plain http")
    end
  end
  local editions = opts.editions
  if not editions or #editions == 0 then editions = M.DEFAULT_EDITIONS end
  local jobs, seen = {}, {}
  for _, e in ipairs(editions) do
    local ed = S.editions[e]
    if not ed then errors.usage("geo fetch: unknown edition '%s' (%s)", e, table.concat(M.EDITIONS, ", ")) end
    if not seen[e] then
      seen[e] = true
      local urls = {}
      local months = source == "dbip" and { month_text(opts.now, 0), month_text(opts.now, 1) } or { "" }
      for i, m in ipairs(months) do
        urls[i] = fill(template, { edition = ed.id or e, month = m, key = key and require("ipe.intel.util").form_escape(key) })
      end
      jobs[#jobs + 1] = { source = source, edition = e, name = S.name, licence = S.licence, format = S.format,
                          file = ed.file, type = ed.type, member = ed.id and ed.id .. ".mmdb", urls = urls,
                          label = S.name .. " " .. e, secret = key }
    end
  end
  return jobs
end

---------------------------------------------------------------------------
-- Running the plan
---------------------------------------------------------------------------

-- scrub(text, job) -> text without the licence key (plain or percent-encoded)
local function scrub(text, job)
  text = tostring(text)
  if job.secret and #job.secret >= 4 then
    text = require("ipe.intel").scrubber({ job.secret })(text)
  end
  return text
end

local function fail(job, fmt, ...)
  errors.failed("geo fetch: %s: %s", job.label, scrub(string.format(fmt, ...), job))
end

-- download(job, perform) -> body, url. DB-IP: on a 404 for this month, last month's file.
local function download(job, perform, timeout)
  for i, url in ipairs(job.urls) do
    local res = perform{ url = url, method = "GET", timeout = timeout, connect_timeout = 15,
                         max_bytes = M.MAX_DOWNLOAD, max_redirects = 3 }
    if res.error then fail(job, "download from %s failed: %s", host(url), res.error) end
    if res.status == 200 then return res.body, url end
    if not (res.status == 404 and i < #job.urls) then
      fail(job, "download from %s failed: HTTP %d%s", host(url), res.status,
        (res.status == 401 or res.status == 403) and job.source == "maxmind" and " (is the licence key right?)" or "")
    end
  end
end

-- untar(tar, member, dst): copy the file of a tar archive whose name ends in /member (or is
-- member) to dst. -> true | nil, err
local function untar(tar, member, dst)
  local f, err = io.open(tar, "rb")
  if not f then return nil, err end
  local out
  local ok, why = pcall(function()
    while true do
      local h = f:read(512)
      if not h or #h < 512 then error("the archive holds no " .. member, 0) end
      if h == string.rep("\0", 512) then error("the archive holds no " .. member, 0) end
      local name = h:sub(1, 100):match("^[^%z]*")
      local prefix = h:sub(346, 500):match("^[^%z]*")
      if h:sub(258, 262) == "ustar" and prefix ~= "" then name = prefix .. "/" .. name end
      local size = tonumber(h:sub(125, 136):match("^[%s%z]*([0-7]+)"), 8)
      if not size then error("not a tar archive", 0) end
      local kind = h:sub(157, 157)
      local blocks = math.ceil(size / 512) * 512
      if (kind == "0" or kind == "\0") and (name == member or name:sub(-#member - 1) == "/" .. member) then
        out = assert(io.open(dst, "wb"))
        local left = size
        while left > 0 do
          local chunk = f:read(math.min(left, 1048576))
          if not chunk or #chunk == 0 then error("the archive is cut short", 0) end
          assert(out:write(chunk))
          left = left - #chunk
        end
        assert(out:close())
        out = nil
        return
      end
      if not f:seek("cur", blocks) then error("the archive is cut short", 0) end
    end
  end)
  f:close()
  if out then out:close() end
  if not ok then os.remove(dst) return nil, why end
  return true
end

-- verify(path, job) -> {type=, build_date=, size=} | raises: opens with libmaxminddb, checks
-- the database_type and walks the whole tree.
local function verify(path, job, shown)
  local mmdb = require "ipe.mmdb"
  local function plain(msg) return (tostring(msg):gsub(path:gsub("%p", "%%%0"), shown)) end
  local r, err = mmdb.open(path)
  if not r then fail(job, "the download is not a usable MaxMind DB file: %s", plain(err)) end
  local meta = r:metadata()
  if not tostring(meta.database_type):match(job.type) then
    r:close()
    fail(job, "the download is a '%s' database, not the %s edition", tostring(meta.database_type), job.edition)
  end
  local ok, verr = r:verify()
  -- the tree walk does not decode records: a sample of lookups does
  for _, ip in ipairs(ok and require("ipe.geo").PROBES or {}) do
    local rec, lerr = r:lookup(ip)
    if rec == nil and lerr ~= "not covered" then ok, verr = false, lerr break end
  end
  r:close()
  if not ok then fail(job, "the download failed verification: %s", plain(verr)) end
  local st = fs.stat(path)
  return { type = meta.database_type, build_date = os.date("!%Y-%m-%d", meta.build_epoch), size = st and st.size or 0 }
end

-- fetch_one(job, dir, perform, temps) -> the verified database's temporary path and facts
local function fetch_one(job, dir, perform, temps, timeout)
  local body, url = download(job, perform, timeout)
  local base = string.format("%s/.fetch-%d-%s", dir, proc.pid(), job.file)
  local shown = url:match("([^/?]+)$") or job.file
  if job.format == "tar.gz" then shown = job.member and (job.member .. " in the download") or shown end
  local gz, mmdbpath = base .. ".download", base .. ".new"
  temps[#temps + 1], temps[#temps + 2] = gz, mmdbpath
  local ok, err = fs.write_atomic(gz, body, 384)
  body = nil -- (the collector may have it now)
  if not ok then fail(job, "cannot write %s: %s", gz, err) end
  if job.format == "gz" then
    local n, zerr = require("ipe.zlib").gunzip_file(gz, mmdbpath, M.MAX_DATABASE)
    if not n then fail(job, "%s", (zerr:gsub(gz:gsub("%p", "%%%0"), shown))) end
  else
    local tar = base .. ".tar"
    temps[#temps + 1] = tar
    local n, zerr = require("ipe.zlib").gunzip_file(gz, tar, M.MAX_DATABASE)
    if not n then fail(job, "%s", (zerr:gsub(gz:gsub("%p", "%%%0"), "the download"))) end
    local tok, terr = untar(tar, job.member, mmdbpath)
    if not tok then fail(job, "the download: %s", terr) end
  end
  local facts = verify(mmdbpath, job, shown)
  facts.tmp, facts.url_file = mmdbpath, shown
  return facts
end

-- run(jobs, opts) -> installed: { {path=, type=, build_date=, size=, label=, licence=} ... }
function M.run(jobs, opts)
  opts = opts or {}
  local dir = opts.dir or require("ipe.geo").fetched_dir()
  local perform = opts.perform or function(req) return require("ipe.curl").perform(req) end
  local ok, err = fs.mkdir_p(dir, 448)
  if not ok then errors.failed("geo fetch: cannot create %s: %s", dir, err) end
  local temps, done = {}, {}
  local good, why = pcall(function()
    for i, job in ipairs(jobs) do done[i] = fetch_one(job, dir, perform, temps, opts.timeout or 900) end
  end)
  if good then
    for i, job in ipairs(jobs) do
      local dest = dir .. "/" .. job.file
      local rok, rerr = os.rename(done[i].tmp, dest)
      if not rok then good, why = false, errors.new(errors.NO_RESULT, "geo fetch: cannot install " .. dest .. ": " .. tostring(rerr)) break end
      done[i].path, done[i].label, done[i].licence = dest, job.label, job.licence
    end
  end
  for _, t in ipairs(temps) do os.remove(t) end
  if not good then
    if errors.is(why) then error(why, 0) end
    errors.failed("geo fetch: %s", scrub(tostring(why), jobs[1] or {}))
  end
  return done
end

return M
