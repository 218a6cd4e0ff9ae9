-- IP details (the Sentinel IP entity page's overview panel): who the IP is — organization
-- and ISP, ASN, country, state, city, carrier, location, postal code — from the local geo
-- databases (ctx.geo, ipe.geo), with the IP's class and the database each value comes from.
-- Reads no workspace table and sends nothing anywhere.
local result = require "ipe.result"

local FLAG_NAMES = {
  { "is_anonymous_vpn", "anonymous VPN" }, { "is_public_proxy", "public proxy" },
  { "is_tor_exit_node", "Tor exit node" }, { "is_residential_proxy", "residential proxy" },
  { "is_hosting_provider", "hosting provider" }, { "is_anonymous", "anonymous" },
}

local STATUS_TEXT = { found = "found", not_found = "not found", not_covered = "not covered (IPv4-only database)",
                      error = "error" }

local function join(parts, sep)
  local out = {}
  for _, p in ipairs(parts) do if p ~= nil and p ~= "" then out[#out + 1] = p end end
  if #out == 0 then return nil end
  return table.concat(out, sep)
end

local function paren(main, extra)
  if main and extra and extra ~= main then return main .. " (" .. extra .. ")" end
  return main or extra
end

-- Without an ISP database, the holder of the IP's autonomous system, said as such.
local function organization(r)
  if not (r.organization or r.isp) and r.as_organization then return r.as_organization .. " (AS holder)" end
  return paren(r.organization or r.isp, r.organization and r.isp)
end

local function asn(r)
  if not r.asn then return r.as_organization end
  return join({ string.format("AS%d", r.asn), r.as_organization }, " ")
end

local function country(r) return paren(r.country_name, r.country_code) end

local function state(r) return paren(r.state, r.state_code) end

local function carrier(r)
  local codes = join({ r.mobile_country_code and "MCC " .. r.mobile_country_code,
                       r.mobile_network_code and "MNC " .. r.mobile_network_code }, ", ")
  return paren(r.carrier, codes)
end

local function location(r)
  if r.latitude == nil or r.longitude == nil then return nil end
  local text = string.format("%s, %s", tostring(r.latitude), tostring(r.longitude))
  if r.accuracy_radius then text = text .. string.format(" (within %d km)", r.accuracy_radius) end
  return text
end

local function anonymizer(r)
  local known, names = false, {}
  for _, f in ipairs(FLAG_NAMES) do
    if r[f[1]] ~= nil then known = true end
    if r[f[1]] == true and not (f[1] == "is_anonymous" and #names > 0) then names[#names + 1] = f[2] end
  end
  if not known then return nil end
  local text = #names > 0 and table.concat(names, ", ") or "none known"
  if r.anonymizer_provider then text = text .. " (" .. r.anonymizer_provider .. ")" end
  return text
end

local function conflict(r)
  if not r.country_conflict then return nil end
  local parts = {}
  for i, c in ipairs(r.country_conflict) do parts[i] = c.country_code .. " (" .. c.file .. ")" end
  return table.concat(parts, " vs ")
end

-- The panel: the overview's rows always (empty when unknown), the others when known.
local function details(r)
  local items = {
    { "IP", r.ip, "ip" },
    { "Class", r.classification.label },
    { "Organization (ISP)", organization(r) },
    { "ASN", asn(r) },
    { "Country/Region", country(r) },
    { "State", state(r) },
    { "City", r.city },
    { "Carrier", carrier(r) },
    { "Latitude/Longitude", location(r) },
    { "Postal code", r.postal_code },
  }
  local optional = {
    { "Registered country", r.registered_country_code ~= r.country_code and r.registered_country_code or nil },
    { "Country conflict", conflict(r) },
    { "Connection type", r.connection_type },
    { "Anonymizer", anonymizer(r) },
    { "Domain", r.domain },
    { "Time zone", r.time_zone },
  }
  for _, it in ipairs(optional) do
    if it[2] ~= nil then items[#items + 1] = it end
  end
  return items
end

-- Field label -> the record's fields behind it (for the sources table).
local SOURCE_ROWS = {
  { "Organization", "organization" }, { "ISP", "isp" }, { "ASN", "asn" }, { "AS organization", "as_organization" },
  { "Country", "country_code" }, { "Country name", "country_name" }, { "Registered country", "registered_country_code" },
  { "State", "state" }, { "State code", "state_code" }, { "District", "district" }, { "City", "city" },
  { "Postal code", "postal_code" }, { "Latitude", "latitude" }, { "Longitude", "longitude" },
  { "Accuracy radius (km)", "accuracy_radius" }, { "Time zone", "time_zone" }, { "Carrier", "carrier" },
  { "Mobile country code", "mobile_country_code" }, { "Mobile network code", "mobile_network_code" },
  { "Connection type", "connection_type" }, { "User type", "user_type" }, { "Domain", "domain" },
  { "Anonymous", "is_anonymous" }, { "Anonymous VPN", "is_anonymous_vpn" }, { "Public proxy", "is_public_proxy" },
  { "Tor exit node", "is_tor_exit_node" }, { "Residential proxy", "is_residential_proxy" },
  { "Hosting provider", "is_hosting_provider" }, { "Anonymizer provider", "anonymizer_provider" },
}

local function sources(r)
  local rows = {}
  for _, s in ipairs(SOURCE_ROWS) do
    local v, src = r[s[2]], r.sources[s[2]]
    if v ~= nil and src then
      if type(v) == "boolean" then v = v and "yes" or "no" end
      rows[#rows + 1] = { s[1], tostring(v), src.file, src.build_date or result.null }
    end
  end
  return result.table{
    id = "sources", title = "Where each value comes from",
    columns = { "Field", "Value", "Database", "Built" }, rows = rows,
  }
end

local function databases(r)
  local rows = {}
  for i, d in ipairs(r.databases) do
    local null = result.null
    rows[i] = { d.file, d.type or null, d.build_date or null, STATUS_TEXT[d.status] or d.status, d.network or null,
                d.error or null }
  end
  return result.table{
    id = "databases", title = "Geo databases consulted",
    columns = { "Database", "Type", "Built", "Status", "Network", "Error" }, rows = rows,
  }
end

local function note(r, configured, howto)
  if not configured then
    return "No geo database is configured, so only the class is shown. To add one, " .. howto .. "."
  end
  if not r.found and r.classification.class ~= "public" then
    return r.ip .. " is " .. r.classification.label .. ": the geo databases have no entry for it."
  end
  if not r.found then return "None of the geo databases has an entry for " .. r.ip .. "." end
  return nil
end

return {
  name = "ip-details",
  kind = "insight",
  title = "IP details",
  summary = "Who the IP is: organization, ASN, country, state, city, carrier, location, and its class",
  description = [[
The overview's "IP details": the organization and ISP that hold the address,
its autonomous system, country, state, city, mobile carrier, latitude and
longitude, postal code, connection type and anonymizer flags, from the MaxMind
DB files configured with IPE_GEOIP or [geoip] paths in the config file
(GeoIP2/GeoLite2 City, Country, ASN, ISP, Connection-Type, Anonymous-IP,
Enterprise, or the ip-location-db layout) — plus the address class (private,
shared/CGNAT, loopback, documentation, ..., public), which needs no database.
A second table names the database and build date behind every value; a third
lists each database consulted and whether it has the address. Works without a
workspace and without network access.]],
  categories = { "offline", "geo" },
  page = { group = "overview", order = 20 },
  sources = {},
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local geo = ctx.geo
    local r = assert(geo.lookup(p.ip))
    local configured = geo.configured()
    local text = note(r, configured, geo.howto)
    local sections = {
      result.kv{ id = "details", title = "IP details", items = details(r), note = text },
    }
    if configured then
      sections[#sections + 1] = sources(r)
      sections[#sections + 1] = databases(r)
    end
    return result.output{ status = "ok", message = text, sections = sections }
  end,
}
