-- ipe.contract: what an insight, hunt or action script must declare.
--
-- check(script, expect) -> list of problems (empty when the script is valid),
-- where expect = {kind=, name=} comes from where the file was found.
local schema = require "ipe.schema"
local params = require "ipe.params"

local M = {}

M.KINDS = { insight = "insights", hunt = "hunts", action = "actions" }

-- The category vocabulary. Every script says whether the IP leaves the machine:
-- exactly one of offline / external.
M.CATEGORIES = {
  offline = "reads only local data; nothing leaves the machine",
  external = "sends the IP to a third-party service",
  network = "firewall, proxy and device network traffic",
  identity = "sign-ins, logons and accounts",
  endpoint = "devices and hosts",
  ["threat-intel"] = "threat-intelligence indicators and reputation",
  geo = "geolocation, ASN and ISP",
  anomaly = "anomalies and UEBA",
  watchlist = "watchlists",
  alerts = "incidents and alerts",
  activity = "log activity across tables",
  overview = "the entity page's overview panels",
  response = "response actions",
}

local FIELDS = {
  name = true, kind = true, title = true, summary = true, description = true, categories = true,
  sources = true, params = true, applies = true, run = true, side_effects = true, author = true,
  references = true, page = true, timeout = true, language = true, query = true, display = true,
}

local function nonempty(s) return type(s) == "string" and s:find("%S") ~= nil end

local function check_text(s, problems)
  if not nonempty(s.title) then problems[#problems + 1] = "field 'title' must be a non-empty string" end
  if not nonempty(s.summary) then
    problems[#problems + 1] = "field 'summary' must be a non-empty string"
  elseif #s.summary > 120 then
    problems[#problems + 1] = "field 'summary' is longer than 120 characters"
  end
  if not nonempty(s.description) then problems[#problems + 1] = "field 'description' must be a non-empty string" end
end

local function check_categories(cats, problems)
  if type(cats) ~= "table" or #cats == 0 then
    problems[#problems + 1] = "field 'categories' must be a non-empty list"
    return
  end
  local where = 0
  for _, c in ipairs(cats) do
    if not M.CATEGORIES[c] then problems[#problems + 1] = "unknown category '" .. tostring(c) .. "'" end
    if c == "offline" or c == "external" then where = where + 1 end
  end
  if where ~= 1 then problems[#problems + 1] = "categories must include exactly one of 'offline' or 'external'" end
end

-- The workspace table closest to a misspelt name ("SignInLogs" -> "SigninLogs"), or nil.
local function closest_table(name)
  if type(name) ~= "string" then return nil end
  local best, best_d
  for _, t in ipairs(schema.tables) do
    local d = t.name:lower() == name:lower() and 0 or require("ipe.discover").distance(name, t.name)
    if not best_d or d < best_d then best, best_d = t.name, d end
  end
  if best_d and best_d <= math.max(2, math.floor(#name / 4)) then return best end
end

local function check_sources(srcs, problems)
  if srcs == nil then problems[#problems + 1] = "field 'sources' is missing (a list of tables, may be empty)" return end
  if type(srcs) ~= "table" then problems[#problems + 1] = "field 'sources' must be a list of table names" return end
  for _, t in ipairs(srcs) do
    if not (schema.table(t) or schema.internal(t)) then
      local near = closest_table(t)
      problems[#problems + 1] = "unknown source table '" .. tostring(t) .. "'" .. (near and " (did you mean '" .. near .. "'?)" or "")
    end
  end
end

local function check_kind_rules(s, expect, problems)
  if expect.kind == "insight" then
    local first = type(s.params) == "table" and s.params[1]
    if not (first and first.name == "ip" and first.type == "ip") then
      problems[#problems + 1] = "an insight's first parameter must be 'ip' of type ip"
    end
  end
  if expect.kind == "action" then
    if type(s.side_effects) ~= "table" or #s.side_effects == 0 then
      problems[#problems + 1] = "an action must declare 'side_effects' (a non-empty list of what it changes)"
    end
  elseif s.side_effects ~= nil then
    problems[#problems + 1] = "only actions have side effects ('side_effects' is not allowed in a " .. expect.kind .. ")"
  end
end

function M.check(s, expect)
  local problems = {}
  if type(s) ~= "table" then return { "the script must return a table (got " .. type(s) .. ")" } end
  for k in pairs(s) do
    if not FIELDS[k] then problems[#problems + 1] = "unknown field '" .. tostring(k) .. "'" end
  end
  if s.name ~= expect.name then
    problems[#problems + 1] = string.format("field 'name' is %s but the file is named %s.lua",
      type(s.name) == "string" and "'" .. s.name .. "'" or "missing", expect.name)
  end
  if s.kind ~= expect.kind then
    problems[#problems + 1] = string.format("field 'kind' must be '%s' for a script in %s/", expect.kind, M.KINDS[expect.kind])
  end
  check_text(s, problems)
  check_categories(s.categories, problems)
  check_sources(s.sources, problems)
  for _, p in ipairs(params.check_specs(s.params)) do problems[#problems + 1] = p end
  if s.language ~= nil or s.query ~= nil then
    local problem = require("ipe.kql.script").check(s)
    if problem then problems[#problems + 1] = problem end
    if expect.kind == "action" then problems[#problems + 1] = "an action cannot be a KQL query (it changes things)" end
  elseif type(s.run) ~= "function" then problems[#problems + 1] = "field 'run' must be a function" end
  if s.applies ~= nil and type(s.applies) ~= "function" then problems[#problems + 1] = "field 'applies' must be a function" end
  if s.timeout ~= nil and (type(s.timeout) ~= "number" or s.timeout <= 0 or s.timeout > 300) then
    problems[#problems + 1] = "field 'timeout' must be a number of seconds between 0 and 300"
  end
  check_kind_rules(s, expect, problems)
  return problems
end

function M.has_category(s, c)
  for _, x in ipairs(s.categories or {}) do if x == c then return true end end
  return false
end

return M
