-- ipe.serve.pivots: where a table cell of a served page leads. Decided by the column's display
-- type and name (ipe.result's column types), never by the script that made the table:
--
--   an IP (an "ip" column, or a column named like an address whose value is an IP)
--                       -> its page, /ip/<ip>
--   a CIDR block (a column named like cidr)   -> the subnet-sweep hunt
--   a host (Host, Computer, DeviceName, ...)  -> the hunt that takes a `host` and the page's IP:
--                                                that host's activity with the IP
--   an account (Account, UserPrincipalName, TargetUserName, ...)
--                                             -> the hunt that takes an `account` and the IP
--   an indicator (MatchedIndicator, IndicatorId, DomainName, Url, FileHashValue ...): an IP or a
--                       CIDR as above, else the KQL page with the query that finds the indicator
--                       in ThreatIntelligenceIndicator
--
-- Every link keeps the page's window (from, to). Which hunt takes a host or an account is read
-- from the hunts' declared parameters (the first by name that declares it and `ip`), so a new
-- hunt with such a parameter becomes the pivot without a change here. A host or an account
-- needs the page's IP (the IP page, or a hunt run for an IP); elsewhere it is not a link. A bare
-- "User" column is not an account here: the audit trail's User is the analyst who acted.
--
--   pivots.linker(hunts, w, ip) -> function(value, type, column) -> URL | nil (html's opts.link)
--   pivots.window_query(w)      -> "from=...&to=..."
--   pivots.ip_url(ip, w), pivots.hunt_url(name, list, w), pivots.kql_url(query, w)
--   pivots.kql_string(s)        -> s as a KQL string literal ("..." with its escapes)
--   pivots.class(type, column)  -> "ip" | "cidr" | "host" | "account" | "indicator" | nil
local http = require "ipe.serve.http"
local ipaddr = require "ipe.ipaddr"
local declares = require("ipe.page.panels").declares

local M = {}

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

M.HOST = set { "host", "hostname", "computer", "computername", "device", "devicename", "peerhost",
  "sourcehostname", "destinationhostname", "srchostname", "dsthostname", "dvchostname", "workstation",
  "workstationname", "remotedevicename" }
M.ACCOUNT = set { "account", "accountname", "accountupn", "username", "userprincipalname", "upn",
  "targetusername", "targetaccount", "subjectusername", "subjectaccount", "caller", "userid",
  "initiatingprocessaccountname", "sourceusername", "destinationusername" }
M.INDICATOR = set { "indicator", "indicatorvalue", "matchedindicator", "indicatorid", "externalindicatorid",
  "domainname", "url", "filehashvalue" }

function M.class(ctype, col)
  local lc = col:lower()
  if ctype == "ip" then return "ip" end
  if M.INDICATOR[lc] then return "indicator" end
  if M.HOST[lc] then return "host" end
  if M.ACCOUNT[lc] then return "account" end
  if lc:find("cidr", 1, true) then return "cidr" end
  if lc:find("ip", 1, true) or lc:find("address", 1, true) then return "ip" end
end

function M.window_query(w)
  return http.query({ { "from", w.from_text }, { "to", w.to_text } })
end

function M.ip_url(ip, w) return "/ip/" .. http.encode(ip) .. "?" .. M.window_query(w) end

function M.hunt_url(name, list, w)
  local q = http.query(list)
  return "/hunt/" .. http.encode(name) .. "?" .. (q ~= "" and q .. "&" or "") .. M.window_query(w)
end

function M.kql_url(query, w)
  return "/kql?" .. http.query({ { "q", query } }) .. "&" .. M.window_query(w)
end

local KQL_ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\0"] = "\\0" }

function M.kql_string(s)
  return '"' .. s:gsub('[\\"\n\r\t%z]', KQL_ESCAPES) .. '"'
end

-- the query that finds an indicator value in the workspace's threat intelligence
local function indicator_query(v, lc)
  local q = M.kql_string(v)
  if lc == "indicatorid" or lc == "externalindicatorid" then
    local col = lc == "externalindicatorid" and "ExternalIndicatorId" or "IndicatorId"
    return "ThreatIntelligenceIndicator\n| where " .. col .. " == " .. q
  end
  return "ThreatIntelligenceIndicator\n| where DomainName =~ " .. q .. " or Url == " .. q .. " or FileHashValue =~ " .. q
    .. "\n| project TimeGenerated, IndicatorId, ThreatType, ConfidenceScore, DomainName, Url, FileHashValue, Description"
end

-- the first hunt (by name) that declares the parameter and `ip`
local function hunt_taking(hunts, param)
  local names = {}
  for name, meta in pairs(hunts or {}) do
    if declares(meta, param) and declares(meta, "ip") then names[#names + 1] = name end
  end
  table.sort(names)
  return names[1]
end

local function ip_or_block(v, w)
  local ip = ipaddr.normalize(v)
  if ip then return M.ip_url(ip, w) end
  if v:find("/", 1, true) then
    local net = ipaddr.parse_cidr(v)
    if net then return M.hunt_url("subnet-sweep", { { "cidr", net.text } }, w) end
  end
end

function M.linker(hunts, w, ip)
  ip = ip and ipaddr.normalize(ip)
  local takes = { host = hunt_taking(hunts, "host"), account = hunt_taking(hunts, "account") }
  return function(v, ctype, col)
    if v == "" then return nil end
    local class = M.class(ctype, col)
    if class == "ip" then
      local norm = ipaddr.normalize(v)
      return norm and M.ip_url(norm, w)
    elseif class == "cidr" then
      local net = v:find("/", 1, true) and ipaddr.parse_cidr(v)
      return net and M.hunt_url("subnet-sweep", { { "cidr", net.text } }, w) or nil
    elseif class == "indicator" then
      return ip_or_block(v, w) or M.kql_url(indicator_query(v, col:lower()), w)
    elseif class == "host" or class == "account" then
      -- a host column may hold an address (a firewall's source without a name): its page
      local norm = ipaddr.normalize(v)
      if norm then return M.ip_url(norm, w) end
      local hunt = takes[class]
      if hunt and ip then return M.hunt_url(hunt, { { class, v }, { "ip", ip } }, w) end
    end
  end
end

return M
