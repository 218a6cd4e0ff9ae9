-- ipe.serve.pivots: where a table cell of a served page leads. Decided by the column's display
-- type and name (ipe.result's column types), never by the script that made the table:
--
--   an IP (an "ip" column, or a column named like an address whose value is an IP)
--                       -> its page, /ip/<ip>
--   a CIDR block (a column named like cidr)   -> the subnet-sweep hunt
--   a host (Host, Computer, DeviceName, ...)  -> the hunt that takes a `host` and the page's IP:
--                                                that host's activity with the IP
--   an account (Account, UserPrincipalName, TargetUserName, ...)
--                                             -> the hunt of the account's source and the IP:
--                       an Entra ID account (SigninLogs, AuditLogs, OfficeActivity, AzureActivity)
--                       -> signins-from-ip; a Windows or Linux one (SecurityEvent, Syslog) ->
--                       failed-logons-from-ip. The source is the row's Source (or Type / Table)
--                       column when it names one of those tables, else the column's own table
--                       (UserPrincipalName: SigninLogs, TargetUserName: SecurityEvent, ...), else
--                       the value's shape (user@domain: Entra ID; DOMAIN\user or user: a logon)
--   an indicator (MatchedIndicator, IndicatorId, DomainName, Url, FileHashValue ...): an IP or a
--                       CIDR as above, else the KQL page with the query that finds the indicator
--                       in ThreatIntelligenceIndicator
--
-- Every link keeps the page's window (from, to). Which hunt takes a host is read from the hunts'
-- declared parameters (the first by name that declares it and `ip`), so a new hunt with such a
-- parameter becomes the pivot without a change here; an account's hunt is named above, and when
-- that one is not loaded (or does not declare `account` and `ip`), the same rule applies. A host or an account
-- needs the page's IP (the IP page, or a hunt run for an IP); elsewhere it is not a link. A bare
-- "User" column is not an account here: the audit trail's User is the analyst who acted.
--
--   pivots.linker(hunts, w, ip) -> function(value, type, column, row, columns) -> URL | nil
--                                  (html's opts.link; row and columns: the cell's row, to read its Source)
--   pivots.account_hunt(value, column, row, columns) -> the name of the hunt an account opens
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

-- the tables whose accounts open a hunt, and the hunt
M.ACCOUNT_HUNT = {
  SigninLogs = "signins-from-ip", AADNonInteractiveUserSignInLogs = "signins-from-ip", AuditLogs = "signins-from-ip",
  OfficeActivity = "signins-from-ip", AzureActivity = "signins-from-ip",
  SecurityEvent = "failed-logons-from-ip", Syslog = "failed-logons-from-ip", WindowsEvent = "failed-logons-from-ip",
}
-- an account column's own table
M.ACCOUNT_TABLE = {
  userprincipalname = "SigninLogs", upn = "SigninLogs", accountupn = "SigninLogs", caller = "AzureActivity",
  userid = "OfficeActivity", targetusername = "SecurityEvent", targetaccount = "SecurityEvent",
  subjectusername = "SecurityEvent", subjectaccount = "SecurityEvent",
}
-- the columns of a row that may name the table it came from
local SOURCE_COLUMN = set { "source", "type", "table", "sourcetable" }

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

-- the table a row names in its Source (or Type / Table) column, when it is one of ACCOUNT_HUNT's
local function row_table(row, columns)
  for i, c in ipairs(columns or {}) do
    local name = type(c) == "table" and (c.name or c.title) or c
    local v = row and row[i]
    if type(name) == "string" and SOURCE_COLUMN[name:lower()] and type(v) == "string" and M.ACCOUNT_HUNT[v] then
      return v
    end
  end
end

function M.account_hunt(v, col, row, columns)
  local t = row_table(row, columns) or M.ACCOUNT_TABLE[col:lower()]
  if t then return M.ACCOUNT_HUNT[t] end
  return v:find("@", 1, true) and "signins-from-ip" or "failed-logons-from-ip"
end

local function takes_account(hunts, name)
  local meta = hunts and hunts[name]
  return meta and declares(meta, "account") and declares(meta, "ip") and name or nil
end

function M.linker(hunts, w, ip)
  ip = ip and ipaddr.normalize(ip)
  local takes = { host = hunt_taking(hunts, "host"), account = hunt_taking(hunts, "account") }
  return function(v, ctype, col, row, columns)
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
      local hunt = class == "account" and takes_account(hunts, M.account_hunt(v, col, row, columns)) or takes[class]
      if hunt and ip then return M.hunt_url(hunt, { { class, v }, { "ip", ip } }, w) end
    end
  end
end

return M
