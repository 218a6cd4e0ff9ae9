-- ipe.geo: who an IP is — organization, ISP, ASN, country, state, city, location, carrier,
-- connection type and anonymizer flags — from the MaxMind DB files the user configures,
-- plus the IP's class (private, shared, ...) which needs no database. ctx.geo is this.
--
-- Databases: $IPE_GEOIP (a colon-separated list of paths; set but empty = none), else a demo
-- workspace's own bundled test databases (see M.DEMO_FILES), else `paths` in the [geoip]
-- section of the config file (same syntax; "~/" is $HOME), else the databases `ipe-run geo
-- fetch` installed in $XDG_DATA_HOME/ipe/geo. Each file is opened once per process. Recognized by the metadata database_type: GeoIP2/GeoLite2
-- City, Country, ASN, ISP, Connection-Type, Anonymous-IP (and Anonymous-Plus),
-- Residential-Proxy, Domain, Enterprise; the flat ip-location-db layout (country_code,
-- state1, state2, city, postcode, latitude, longitude, timezone) by its fields. Any other
-- database is still consulted: every field below is read wherever it appears.
--
--   g = geo.open(paths)     a set of databases (never raises: a file that cannot be opened
--                           is listed with status "error" and its one-line reason)
--   g:lookup(ip) -> record | nil, msg ("'x' is not an IP address"); never raises
--   g:databases() -> { {file=, path=, type=, kind=, layout=, build_epoch=, build_date=,
--                       ip_version=, status="ok"|"error", error=} ... }
--   g:resolve(ip) -> merged | nil, err   the bulk fast path: merged[i] = field M.FIELDS[i] (nil
--                           when absent), merged.conflict = the country_conflict list or nil; nil
--                           when no database has the IP; err = a database's lookup error (the
--                           others still answer); ip must be canonical text
--                           (ipaddr.normalize). Cached per combination of records: read-only
--                           but for merged.text, the caller's (one rendering of the record).
--   g:verify() -> problems  the whole-tree check of every database (drops those that fail)
--   geo.default([db_path]) -> the process-wide set for a workspace (opened once per workspace)
--   geo.configure(paths) -> replaces the process-wide set (workers forked later inherit it);
--                           geo.configure(nil) forgets it
--   geo.configured([db_path]) -> paths, where they came from, test_data (see M.configured)
--   geo.lookup(ip), geo.databases()        the same on the default set
--   geo.service(request, ctx, record)      ctx.geo: {lookup=, databases=, configured=, howto=}
--
-- A record: ip (canonical text), family (4 | 6), classification (ipaddr.describe: class,
-- label, range, reference, note), found (some database has an entry, even an empty one), every
-- field of M.FIELDS that some database supplied, sources = {field = {file=, type=,
-- build_date=}} naming the database of each value, country_conflict = { {country_code=,
-- file=} ... } when two databases disagree on the country (absent otherwise), and databases =
-- one {file=, type=, kind=, build_date=, status=, network=, error=} per configured database,
-- status "found" | "not_found" | "not_covered" (an IPv4-only database asked for IPv6) | "error".
-- The first database in the configured order that has a field supplies it; an anonymizer flag
-- is true when any database says so, and false (not absent) when an anonymizer database has
-- the IP's network without the flag. carrier is the ISP name of a record that carries mobile
-- network codes.
local mmdb = require "ipe.mmdb"
local ipaddr = require "ipe.ipaddr"

local M = {}

local S, N, B = "string", "number", "boolean"

-- name, type, label, paths (MaxMind nested schema and flat layouts).
M.FIELDS = {
  { "organization", S, "Organization", "organization", "traits.organization" },
  { "isp", S, "ISP", "isp", "traits.isp" },
  { "asn", N, "ASN", "autonomous_system_number", "traits.autonomous_system_number" },
  { "as_organization", S, "AS organization", "autonomous_system_organization", "traits.autonomous_system_organization" },
  { "domain", S, "Domain", "domain", "traits.domain" },
  { "country_code", S, "Country code", "country.iso_code", "country_code" },
  { "country_name", S, "Country", "country.names.en", "country_name" },
  { "registered_country_code", S, "Registered country", "registered_country.iso_code" },
  { "continent_code", S, "Continent", "continent.code" },
  { "state", S, "State", "subdivisions.0.names.en", "state1" },
  { "state_code", S, "State code", "subdivisions.0.iso_code" },
  { "district", S, "District", "subdivisions.1.names.en", "state2" },
  { "city", S, "City", "city.names.en", "city" },
  { "postal_code", S, "Postal code", "postal.code", "postcode" },
  { "latitude", N, "Latitude", "location.latitude", "latitude" },
  { "longitude", N, "Longitude", "location.longitude", "longitude" },
  { "accuracy_radius", N, "Accuracy radius (km)", "location.accuracy_radius" },
  { "time_zone", S, "Time zone", "location.time_zone", "timezone" },
  { "mobile_country_code", S, "Mobile country code", "mobile_country_code", "traits.mobile_country_code" },
  { "mobile_network_code", S, "Mobile network code", "mobile_network_code", "traits.mobile_network_code" },
  { "carrier", S, "Carrier" },
  { "connection_type", S, "Connection type", "connection_type", "traits.connection_type" },
  { "user_type", S, "User type", "traits.user_type" },
  { "is_anonymous", B, "Anonymous", "is_anonymous", "traits.is_anonymous" },
  { "is_anonymous_vpn", B, "Anonymous VPN", "is_anonymous_vpn", "traits.is_anonymous_vpn" },
  { "is_hosting_provider", B, "Hosting provider", "is_hosting_provider", "traits.is_hosting_provider" },
  { "is_public_proxy", B, "Public proxy", "is_public_proxy", "traits.is_public_proxy" },
  { "is_tor_exit_node", B, "Tor exit node", "is_tor_exit_node", "traits.is_tor_exit_node" },
  { "is_residential_proxy", B, "Residential proxy", "is_residential_proxy", "traits.is_residential_proxy" },
  { "anonymizer_provider", S, "Anonymizer provider", "provider_name" },
}

M.INDEX = {}
for i, f in ipairs(M.FIELDS) do M.INDEX[f[1]] = i end
local NFIELDS = #M.FIELDS
local TYPES = {}
for i, f in ipairs(M.FIELDS) do TYPES[i] = f[2] end

-- layout(keep) -> {spec=, nslots=, slots={field index -> {slot, ...}}}: one lookup spec over
-- the paths keep(path) accepts; slot k of the spec holds the value at its k-th path.
local function layout(keep)
  local paths, slots = {}, {}
  for i, f in ipairs(M.FIELDS) do
    slots[i] = {}
    for k = 4, #f do
      if keep(f[k]) then
        paths[#paths + 1] = f[k]
        slots[i][#slots[i] + 1] = #paths
      end
    end
  end
  -- (field, slot) pairs in field order then path order: the merge loop walks these
  local pair_field, pair_slot = {}, {}
  for i = 1, #M.FIELDS do
    for _, slot in ipairs(slots[i]) do
      pair_field[#pair_field + 1] = i
      pair_slot[#pair_slot + 1] = slot
    end
  end
  return { spec = mmdb.fields(paths), nslots = #paths, slots = slots, pair_field = pair_field,
           pair_slot = pair_slot }
end

-- MaxMind databases: every path; the flat layout: top-level keys only.
local LAYOUTS = {
  maxmind = layout(function() return true end),
  ["ip-location-db"] = layout(function(p) return not p:find(".", 1, true) end),
}

local I = M.INDEX
local FLAGS = { I.is_anonymous, I.is_anonymous_vpn, I.is_hosting_provider, I.is_public_proxy,
                I.is_tor_exit_node, I.is_residential_proxy }
local I_COUNTRY, I_CARRIER, I_ISP, I_ORG = I.country_code, I.carrier, I.isp, I.organization
local I_MCC, I_MNC, I_RESIDENTIAL = I.mobile_country_code, I.mobile_network_code, I.is_residential_proxy

-- database_type (lower-cased) -> kind, most specific first: "GeoIP2-City", "GeoLite2-ASN",
-- "GeoIP2-Anonymous-IP", ..., and ip-location-db's "city ipv4", "asn ipv6", ...
local KINDS = {
  { "enterprise", "enterprise" }, { "anonymous%-ip", "anonymous-ip" }, { "anonymous%-plus", "anonymous-ip" },
  { "residential%-proxy", "residential-proxy" }, { "connection%-type", "connection-type" },
  { "isp", "isp" }, { "asn", "asn" }, { "city", "city" }, { "country", "country" }, { "domain", "domain" },
}

local PROBES = { "8.8.8.8", "1.1.1.1", "81.2.69.160", "216.160.83.56", "89.160.20.128",
                 "2001:4860:4860::8888", "2001:218::1" }
M.PROBES = PROBES -- well-known addresses (and the test databases' own) that sample a database
local FLAT_KEYS = { "country_code", "state1", "state2", "postcode", "city", "latitude", "longitude", "timezone" }

local function basename(path) return path:match("([^/]+)/*$") or path end

-- The flat ip-location-db layout: top-level scalar keys such as country_code and postcode.
local function flat_layout(reader)
  for _, ip in ipairs(PROBES) do
    local rec = reader:lookup(ip)
    if type(rec) == "table" and next(rec) ~= nil then
      local hits = 0
      for _, k in ipairs(FLAT_KEYS) do
        if rec[k] ~= nil and type(rec[k]) ~= "table" then hits = hits + 1 end
      end
      return hits >= 2
    end
  end
  return false
end

-- What a test database's file name says in every output (its values are made up).
M.TEST_DATA_LABEL = " (MaxMind test data, not real)"

local function describe_db(path, test_data)
  local db = { path = path, file = basename(path) .. (test_data and M.TEST_DATA_LABEL or ""), status = "ok",
               test_data = test_data or nil }
  local reader, err = mmdb.open(path)
  if not reader then
    db.status, db.error = "error", err
    return db
  end
  local meta = reader:metadata()
  db.reader, db.type, db.ip_version, db.node_count = reader, meta.database_type, meta.ip_version, meta.node_count
  db.build_epoch = meta.build_epoch
  db.build_date = os.date("!%Y-%m-%d", meta.build_epoch)
  local lower = db.type:lower()
  db.kind = "other"
  for _, k in ipairs(KINDS) do
    if lower:find(k[1]) then db.kind = k[2] break end
  end
  db.layout = flat_layout(reader) and "ip-location-db" or "maxmind"
  local l = LAYOUTS[db.layout]
  db.spec, db.field_slots, db.pair_field, db.pair_slot = l.spec, l.slots, l.pair_field, l.pair_slot
  db.cache, db.cached = {}, 0
  return db
end

local Geo = {}
Geo.__index = Geo

-- open(paths [, test_data]) -> geo set over the list of paths (in order; duplicates are opened
-- once). test_data: the databases hold made-up values (the demo's); every file name says so.
function M.open(paths, test_data)
  local g = setmetatable({ dbs = {}, merged = {}, merged_n = 0 }, Geo)
  local dup = {}
  for _, p in ipairs(paths or {}) do
    if not dup[p] then
      dup[p] = true
      g.dbs[#g.dbs + 1] = describe_db(p, test_data)
    end
  end
  g.open_dbs = {}
  for _, db in ipairs(g.dbs) do
    if db.reader then g.open_dbs[#g.open_dbs + 1] = db end
  end
  return g
end

-- verify() -> list of problems: runs the whole-tree check (mmdb reader:verify) on every open
-- database — a bulk caller's one-off cost — and drops each that fails (status "error").
function Geo:verify()
  local problems, keep = {}, {}
  for _, db in ipairs(self.open_dbs) do
    local ok, err = db.reader:verify()
    if ok then
      keep[#keep + 1] = db
    else
      db.reader:close()
      db.reader, db.status, db.error = nil, "error", err
      problems[#problems + 1] = err
    end
  end
  self.open_dbs = keep
  return problems
end

local PUBLIC_DB = { "file", "path", "type", "kind", "layout", "build_epoch", "build_date", "ip_version",
                    "node_count", "status", "error", "test_data" }

function Geo:databases()
  local out = {}
  for i, db in ipairs(self.dbs) do
    local d = {}
    for _, k in ipairs(PUBLIC_DB) do d[k] = db[k] end
    out[i] = d
  end
  return out
end

-- Decoded records are cached per database by their offset: many networks share a record
-- (1M random IPv4 hit ~54k distinct records of a GeoLite2 City), and the cache is what makes
-- the bulk path fast. Cached tables are shared: never modified.
local CACHE_LIMIT = 100000

-- Look up ip in every open database. Returns the number of databases that found the IP;
-- status[d] = "found" | "not_found" | "not_covered" | "error", detail[d] = the prefix length
-- or the error text, recs[d] = the found record's values by slot of the database's spec.
local function query(self, ip, status, detail, recs)
  local dbs, found = self.open_dbs, 0
  for d = 1, #dbs do
    local db = dbs[d]
    local ok, info, off = db.reader:locate(ip)
    recs[d] = nil
    detail[d] = info
    if ok then
      local vals = db.cache[off]
      if vals then
        found, status[d], recs[d] = found + 1, "found", vals
      else
        vals = {}
        local dok, err = db.reader:decode_into(off, db.spec, vals, 0, ip)
        if dok then
          if #dbs > 1 then -- with one database, resolve's cache already keys on the record
            if db.cached >= CACHE_LIMIT then db.cache, db.cached = {}, 0 end
            db.cache[off], db.cached = vals, db.cached + 1
          end
          found, status[d], recs[d] = found + 1, "found", vals
        else
          status[d], detail[d] = "error", err
        end
      end
    elseif ok == false then
      status[d] = "not_found"
    elseif info == "not covered" then
      status[d] = "not_covered"
    else
      status[d] = "error"
    end
  end
  return found
end

-- field(vals, db, i): field i of one database's record (nil when absent, empty or of the
-- wrong type).
local function field(vals, db, i)
  local list, want = db.field_slots[i], TYPES[i]
  for k = 1, #list do
    local v = vals[list[k]]
    if type(v) == want and v ~= "" then return v end
  end
  return nil
end

-- merge(self, recs, values, sources) -> conflict: values[i] = field i from the first database
-- that has it (a true flag beats a false one); sources[i] = that database's index when sources
-- is given; conflict = true when two databases disagree on the country. values must be a new
-- table: only the fields present get a key (resolve keeps these tables; small ones are cheap
-- to keep and for the collector to traverse).
local function merge(self, recs, values, sources)
  local dbs = self.open_dbs
  local country, conflict = nil, false
  for d = 1, #dbs do
    local vals = recs[d]
    if vals then
      local db = dbs[d]
      local pf, ps = db.pair_field, db.pair_slot
      for k = 1, #pf do
        local i = pf[k]
        local cur = values[i]
        if cur == nil or cur == false then
          local v = vals[ps[k]]
          if type(v) == TYPES[i] and v ~= "" and (cur == nil or v == true) then
            values[i] = v
            if sources then sources[i] = d end
          end
        end
      end
      if db.kind == "anonymous-ip" then
        for k = 1, #FLAGS do
          if values[FLAGS[k]] == nil then
            values[FLAGS[k]] = false
            if sources then sources[FLAGS[k]] = d end
          end
        end
      elseif db.kind == "residential-proxy" and values[I_RESIDENTIAL] ~= true then
        values[I_RESIDENTIAL] = true
        if sources then sources[I_RESIDENTIAL] = d end
      end
      if values[I_CARRIER] == nil and (field(vals, db, I_MCC) or field(vals, db, I_MNC)) then
        local name = field(vals, db, I_ISP) or field(vals, db, I_ORG)
        if name then
          values[I_CARRIER] = name
          if sources then sources[I_CARRIER] = d end
        end
      end
      local c = field(vals, db, I_COUNTRY)
      if c then
        if country == nil then country = c elseif c ~= country then conflict = true end
      end
    end
  end
  return conflict
end

-- conflict_list(self, recs) -> { {country_code=, file=} ... } for every database with a country.
local function conflict_list(self, recs)
  local list = {}
  for d, db in ipairs(self.open_dbs) do
    local c = recs[d] and field(recs[d], db, I_COUNTRY)
    if c then list[#list + 1] = { country_code = c, file = db.file } end
  end
  return list
end

-- resolve(ip) -> merged | nil, error | nil: the bulk path; error is the first database's
-- lookup error for this IP (what the other databases said is still in merged). merged is
-- shared by every IP whose databases answer with the same records (a cache keyed by the
-- records' offsets), so a bulk caller does a lookup per database and two table reads per IP;
-- it must not be modified, except its field `text`, which is the caller's: where it keeps
-- one rendering of the record.
local OFFS, RSTATUS, RDETAIL, RRECS = {}, {}, {}, {}
local NOREC = -1

-- build_merged(self, ip) -> merged | nil, the first lookup error or nil
local function build_merged(self, ip)
  local found = query(self, ip, RSTATUS, RDETAIL, RRECS)
  local err
  for d = #self.open_dbs, 1, -1 do
    if RSTATUS[d] == "error" then err = RDETAIL[d] end
  end
  if found == 0 then return nil, err end
  local m = {}
  if merge(self, RRECS, m, nil) then m.conflict = conflict_list(self, RRECS) end
  return m, err
end

function Geo:resolve(ip)
  local dbs = self.open_dbs
  local nd = #dbs
  if nd == 0 then return nil end
  if nd == 1 then -- the common case, without the loops
    local ok, _, off = dbs[1].reader:locate(ip)
    if ok == false then return nil end
    local m = ok and self.merged[off]
    if m then return m end
  end
  local any = false
  for d = 1, nd do
    local ok, info, off = dbs[d].reader:locate(ip)
    if ok then
      any, OFFS[d] = true, off
    elseif ok == false or info == "not covered" then
      OFFS[d] = NOREC
    else
      return build_merged(self, ip) -- a lookup error: answer without caching
    end
  end
  if not any then return nil end
  if self.merged_n >= CACHE_LIMIT then self.merged, self.merged_n = {}, 0 end
  local t = self.merged
  for d = 1, nd - 1 do
    local nxt = t[OFFS[d]]
    if not nxt then
      nxt = {}
      t[OFFS[d]] = nxt
    end
    t = nxt
  end
  local m = t[OFFS[nd]]
  if m then return m end
  local err
  m, err = build_merged(self, ip)
  if m and not err then
    t[OFFS[nd]] = m
    self.merged_n = self.merged_n + 1
  end
  return m, err
end

local function network(ip, prefix)
  local net = ipaddr.parse_cidr(ip .. "/" .. prefix)
  return net and net.text or nil
end

function Geo:lookup(ip)
  local addr, err = ipaddr.parse(ip)
  if not addr then return nil, err end
  local text = addr.text
  local rec = { ip = text, family = addr.family, classification = ipaddr.describe(addr), found = false,
                sources = {}, databases = {} }
  local status, detail, recs, values, sources = {}, {}, {}, {}, {}
  local found = query(self, text, status, detail, recs)
  rec.found = found > 0
  local open_index = {}
  for d, db in ipairs(self.open_dbs) do open_index[db] = d end
  for _, db in ipairs(self.dbs) do
    local entry = { file = db.file, path = db.path, type = db.type, kind = db.kind, build_date = db.build_date }
    local d = open_index[db]
    if not d then
      entry.status, entry.error = "error", db.error
    else
      entry.status = status[d]
      if status[d] == "error" then entry.error = detail[d]
      elseif status[d] == "found" then entry.network = network(text, detail[d]) end
    end
    rec.databases[#rec.databases + 1] = entry
  end
  if found > 0 then
    if merge(self, recs, values, sources) then rec.country_conflict = conflict_list(self, recs) end
    for i = 1, NFIELDS do
      if values[i] ~= nil then
        local db = self.open_dbs[sources[i]]
        rec[M.FIELDS[i][1]] = values[i]
        rec.sources[M.FIELDS[i][1]] = { file = db.file, type = db.type, build_date = db.build_date }
      end
    end
  end
  return rec
end

---------------------------------------------------------------------------
-- The process-wide set
---------------------------------------------------------------------------

local function split_paths(text, home)
  local out = {}
  for p in tostring(text):gmatch("[^:]+") do
    p = p:gsub("^%s+", ""):gsub("%s+$", "")
    if p:sub(1, 2) == "~/" and home then p = home .. p:sub(2) end
    if p ~= "" then out[#out + 1] = p end
  end
  return out
end

-- The bundled demo databases: MaxMind's test databases (made-up values for a few networks,
-- among them the demo's story IPs), in <home>/data/demo-geo (the source tree, or
-- $PREFIX/share/ipe). Only a demo workspace uses them: it records their names in _ipe_meta.
M.DEMO_FILES = { "GeoIP2-City-Test.mmdb", "GeoIP2-ISP-Test.mmdb", "GeoLite2-ASN-Test.mmdb",
                 "GeoIP2-Connection-Type-Test.mmdb", "GeoIP2-Anonymous-IP-Test.mmdb", "GeoIP2-Domain-Test.mmdb" }
local DEMO_KNOWN = {}
for _, f in ipairs(M.DEMO_FILES) do DEMO_KNOWN[f] = true end

function M.demo_dir()
  local home = require("ipe.discover").home()
  return home and home .. "/data/demo-geo" or nil
end

-- demo_files() -> the names of M.DEMO_FILES present in demo_dir(), in that order.
function M.demo_files()
  local dir, out = M.demo_dir(), {}
  if not dir then return out end
  local fs = require "ipe.fs"
  for _, f in ipairs(M.DEMO_FILES) do
    local st = fs.stat(dir .. "/" .. f)
    if st and st.type == "file" then out[#out + 1] = f end
  end
  return out
end

-- The databases `ipe-run geo fetch` installs: $XDG_DATA_HOME/ipe/geo/*.mmdb.
function M.fetched_dir() return require("ipe.workspace").data_dir() .. "/geo" end

local RANK = { city = 1, enterprise = 1, isp = 2, asn = 3, country = 4 }
local function name_rank(name)
  local lower = name:lower()
  for _, k in ipairs({ "enterprise", "city", "isp", "asn", "country" }) do
    if lower:find(k, 1, true) then return RANK[k] end
  end
  return 9
end

-- fetched() -> the .mmdb files in fetched_dir(): city first, then ISP, ASN, country, others.
function M.fetched()
  local dir = M.fetched_dir()
  local names = require("ipe.fs").list(dir) or {}
  local list = {}
  for _, n in ipairs(names) do
    if n:match("%.mmdb$") and not n:match("^%.") then list[#list + 1] = n end
  end
  table.sort(list, function(a, b)
    local ra, rb = name_rank(a), name_rank(b)
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  for i, n in ipairs(list) do list[i] = dir .. "/" .. n end
  return list
end

-- workspace_files(db_path) -> the bundled demo databases that belong to the workspace (a demo
-- workspace records them; any other workspace has none). Only names of M.DEMO_FILES count.
local function workspace_files(db_path)
  if not db_path or db_path == "" then return {} end
  local ok, rows
  if require("ipe.clickhouse").is_url(db_path) then   -- (ipe.clickhouse_demo writes the same keys)
    ok, rows = pcall(function()
      local c = require("ipe.clickhouse").open(db_path, { role = "reader", timeout = 10 })
      local r = c:query("SELECT argMaxIf(value, Version, key = 'demo_geo'), countIf(key = 'demo') FROM _ipe_meta")[1]
      return (r[1] ~= "" and r[2] > 0) and { { r[1] } } or {}
    end)
  else
    local fs = require "ipe.fs"
    local st = fs.stat(db_path)
    if not (st and st.type == "file") then return {} end
    -- (a read-only workspace opens immutable: nothing is created beside it)
    local db = require("ipe.sqlite").open(db_path, require("ipe.workspace").read_only(db_path) and "immutable" or "ro")
    if not db then return {} end
    -- (the keys ipe.demo.mark writes; not loading ipe.demo keeps a worker's start cheap)
    ok, rows = pcall(db.query, db, "SELECT value FROM _ipe_meta WHERE key = 'demo_geo' " ..
      "AND EXISTS (SELECT 1 FROM _ipe_meta WHERE key = 'demo')")
    db:close()
  end
  local dir, out = M.demo_dir(), {}
  if not (ok and dir and rows[1]) then return out end
  for n in tostring(rows[1][1]):gmatch("[^:]+") do
    if DEMO_KNOWN[n] then out[#out + 1] = dir .. "/" .. n end
  end
  return out
end

-- configured([db_path]) -> paths, source, test_data. In order: $IPE_GEOIP; a demo workspace's
-- own bundled test databases (test_data = true); [geoip] paths of the config file; the
-- databases `ipe-run geo fetch` installed. source names where the list came from (nil: none).
function M.configured(db_path)
  local proc = require "ipe.proc"
  local home = proc.getenv("HOME")
  local env = proc.getenv("IPE_GEOIP")
  if env ~= nil then return split_paths(env, home), "IPE_GEOIP" end
  local demo = workspace_files(db_path)
  if #demo > 0 then return demo, "the demo workspace's bundled MaxMind test databases", true end
  local config = require "ipe.config"
  local cfg = config.load()
  local text = cfg:get("geoip", "paths")
  if text ~= nil then return split_paths(text, home), cfg.path .. " [geoip] paths" end
  local fetched = M.fetched()
  if #fetched > 0 then return fetched, M.fetched_dir() .. " (ipe-run geo fetch)" end
  return {}, nil
end

M.HOWTO = "run 'ipe-run geo fetch' (the free DB-IP Lite databases), or set IPE_GEOIP to a colon-separated "
  .. "list of .mmdb files (for example IPE_GEOIP=/var/lib/GeoIP/GeoLite2-City.mmdb:/var/lib/GeoIP/GeoLite2-ASN.mmdb)"
  .. " or add 'paths = ...' under [geoip] in the config file"

-- default([db_path]) -> the process-wide set for that workspace (opened once per workspace).
local defaults, forced = {}, nil
function M.default(db_path)
  if forced then return forced end
  local key = db_path or ""
  if not defaults[key] then
    local paths, source, test_data = M.configured(db_path)
    local g = M.open(paths, test_data)
    g.source = source
    defaults[key] = g
  end
  return defaults[key]
end

-- configure(paths) -> the new process-wide set, replacing the configured one (for a caller
-- that takes the paths from elsewhere, and for tests: workers forked later inherit it);
-- configure(nil) forgets it, so the next default() reads IPE_GEOIP / the config file again.
function M.configure(paths)
  defaults = {}
  if paths == nil then
    forced = nil
    return nil
  end
  forced = M.open(paths)
  forced.source = "geo.configure"
  return forced
end

function M.lookup(ip) return M.default():lookup(ip) end
function M.databases() return M.default():databases() end

-- ctx.geo: callable as ctx.geo.lookup(ip) or ctx.geo:lookup(ip).
function M.service(req)
  local g = M.default(req and req.db_path)
  local svc = {}
  local function arg(a, b) if a == svc then return b end return a end
  function svc.lookup(a, b) return g:lookup(arg(a, b)) end
  function svc.databases() return g:databases() end
  function svc.configured() return #g.dbs > 0, g.source end
  svc.howto = M.HOWTO
  return svc
end

return M
