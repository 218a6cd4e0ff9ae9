-- ipe.intel: ctx.intel — threat-intelligence providers behind one framework:
-- egress policy, cache, offline mode, credentials, rate limits, circuit
-- breakers, concurrent lookups and one normalized answer per provider.
--
-- Scripts see (ctx.intel):
--   providers()                        -> { {id=, name=}, ... } in page order
--   lookup{provider=, ip=}             -> answer (never raises for network trouble)
--   lookup_many{ {provider=, ip=}, ... } -> answers in order, asked concurrently
--   indicators{provider=, ip=}         -> rows, columns: the workspace's own
--       ThreatIntelligenceIndicator rows from that provider for the IP (latest
--       version per IndicatorId, live or not) through ctx.db
--   card(answer, rows, columns)        -> result.output: verdict kv, evidence, workspace TI
--   report{provider=, ip=}             -> lookup + indicators + card
-- Misuse (unknown provider, not an IP) raises a plain one-line error: error(msg, 0).
--
-- Answer: {provider=, name=, ip=, status=, verdict=, score=, score_max=,
--   score_text=, summary={ {label, value, type} }, evidence={ {source=, finding=,
--   detail=, severity=, seen=, link=} }, link=, fetched_at=, age=, cached=,
--   message=, live_status=, retry_after=}
-- status: ok, not_found, error, timeout, rate_limited, unauthorized,
--   not_configured, skipped_private, skipped_offline, stale (a cached answer
--   shown because a fresh one could not be had; live_status says why).
-- verdict: malicious, suspicious, harmless, unknown.
--
-- Only providers the user configured are ever asked: a provider that needs a key is
-- enabled by its key; GreyNoise (community) and OTX, which answer without one, by a key or by
-- `enabled = true` in their section; `enabled = false` turns any provider off. Any other
-- provider is not_configured, its message "not asked: " and how to enable it, and nothing
-- is sent to it (M.not_asked finds these in a run record, for the page's note).
--
-- Order of a lookup: (1) egress policy — an address that is not public
-- (private, shared, loopback, link-local, reserved, documentation, ...) or lies
-- in a configured internal range is never sent: skipped_private; (2) the cache
-- (unless refresh); (3) offline — with --offline, or for a script outside the
-- 'external' category, only the cache answers: nothing goes out; (4)
-- configuration and credentials; (5) circuit breaker; (6) rate limit (wait for
-- a slot up to the run's deadline); (7) the request; (8) normalize, cache
-- ok/not_found, record success or failure. Every string of an answer is
-- scrubbed of every configured secret before it is returned or cached.
--
-- Configuration ([provider.<id>] of ipe.config; the environment wins for credentials):
--   key / user / token / tenant_id / client_id / client_secret   credentials (see each provider)
--   base_url   (the vendor's API)        login_url (mdti token endpoint base)
--   ttl        cache lifetime of an ok answer (duration or seconds, default 1d)
--   negative_ttl  lifetime of a not_found answer (default 1d)
--   timeout    seconds per request (default 8; never beyond the run's budget)
--   rate       "N/duration" (e.g. 4/1m) or "off"
--   max_bytes  largest accepted answer (default 8388608)
--   enabled    true / false: ask a keyless provider (greynoise, otx) / never ask this one
--   breaker_failures (default 3), breaker_cooldown (default 1m)
-- [intel] internal_ranges (CIDRs never sent), ca_bundle, proxy ("" = no proxy).
-- Providers (ids): mdti, virustotal (default rate 4/1m), recorded-future,
-- anomali, abuseipdb (default rate 1000/1d), greynoise, otx — see
-- ipe.intel.<id> for each one's request, credentials and verdict rules.
-- Shared rate-limit and breaker state: ipe.intel.quota ($XDG_STATE_HOME/ipe/).
-- The request's refresh flag (--refresh) bypasses the cache; offline
-- (--offline) wins over it.
local ipaddr = require "ipe.ipaddr"
local timeutil = require "ipe.timeutil"
local result = require "ipe.result"
local util = require "ipe.intel.util"
local cjson = require "cjson.safe"

local M = {}

M.PROVIDERS = { "mdti", "virustotal", "recorded-future", "anomali", "abuseipdb", "greynoise", "otx" }
M.STATUSES = { "ok", "not_found", "error", "timeout", "rate_limited", "unauthorized", "not_configured",
               "skipped_private", "skipped_offline", "stale" }
M.DEFAULT_MAX_BYTES = 8 * 1024 * 1024
M.KEYS = { key = true, user = true, token = true, tenant_id = true, client_id = true, client_secret = true,
           base_url = true, login_url = true, ttl = true, negative_ttl = true, timeout = true, rate = true,
           max_bytes = true, breaker_failures = true, breaker_cooldown = true, enabled = true }
M.INTEL_KEYS = { internal_ranges = true, ca_bundle = true, proxy = true }

local KNOWN = {}
for _, id in ipairs(M.PROVIDERS) do KNOWN[id] = true end

function M.provider(id)
  if not KNOWN[id] then return nil end
  return require("ipe.intel." .. id)
end

---------------------------------------------------------------------------
-- Settings
---------------------------------------------------------------------------

local function duration(v, what)
  if type(v) == "number" then return v end
  if tonumber(v) then return tonumber(v) end
  local d, err = timeutil.parse_duration(v)
  if not d then return nil, what .. ": " .. err end
  return d
end

-- parse_rate("4/1m") -> {limit=4, period=60} | false ("off") | nil, msg
function M.parse_rate(v)
  if v == nil or v == "off" or v == "none" then return false end
  local n, per = tostring(v):match("^%s*(%d+)%s*/%s*(%S+)%s*$")
  local period = per and duration(per, "rate")
  if not n or tonumber(n) < 1 or not period or period <= 0 then
    return nil, "rate: '" .. tostring(v) .. "' is not N/duration (e.g. 4/1m) or off"
  end
  return { limit = tonumber(n), period = period }
end

local function number_in(v, lo, hi, what)
  local n = tonumber(v)
  if not n or n < lo or n > hi then return nil, string.format("%s: '%s' is not a number from %g to %g", what, tostring(v), lo, hi) end
  return n
end

-- settings(P, section, config_path) -> s | nil, msg
function M.settings(P, section, where)
  where = where or ("[provider." .. P.id .. "]")
  local d = P.defaults
  for k in pairs(section) do
    if not M.KEYS[k] then return nil, string.format("config %s: unknown key '%s'", where, k) end
  end
  local s = { base_url = section.base_url or d.base_url, login_url = section.login_url or d.login_url }
  for _, k in ipairs({ "base_url", "login_url" }) do
    local u = s[k]
    if u then
      if not (u:match("^[hH][tT][tT][pP][sS]?://[^/%s]+") and not u:find("%s")) then
        return nil, string.format("config %s: %s '%s' is not an http(s) URL", where, k, u)
      end
      s[k] = u:gsub("/+$", "")
    end
  end
  local err
  s.ttl, err = duration(section.ttl or d.ttl, "ttl")
  if not s.ttl then return nil, "config " .. where .. ": " .. err end
  s.negative_ttl, err = duration(section.negative_ttl or d.negative_ttl or s.ttl, "negative_ttl")
  if not s.negative_ttl then return nil, "config " .. where .. ": " .. err end
  s.timeout, err = number_in(section.timeout or d.timeout or 8, 0.001, 300, "timeout")
  if not s.timeout then return nil, "config " .. where .. ": " .. err end
  s.max_bytes, err = number_in(section.max_bytes or M.DEFAULT_MAX_BYTES, 1024, 256 * 1024 * 1024, "max_bytes")
  if not s.max_bytes then return nil, "config " .. where .. ": " .. err end
  local rate = section.rate
  if rate == nil then rate = d.rate end
  s.rate, err = M.parse_rate(rate)
  if s.rate == nil then return nil, "config " .. where .. ": " .. err end
  s.breaker_failures, err = number_in(section.breaker_failures or 3, 1, 1000, "breaker_failures")
  if not s.breaker_failures then return nil, "config " .. where .. ": " .. err end
  s.breaker_cooldown, err = duration(section.breaker_cooldown or 60, "breaker_cooldown")
  if not s.breaker_cooldown then return nil, "config " .. where .. ": " .. err end
  return s
end

-- internal_ranges("10.0.0.0/8, 192.0.2.7") -> {net, ...} | nil, msg
function M.internal_ranges(text)
  local nets = {}
  for item in tostring(text or ""):gmatch("[^,%s]+") do
    local net, err = ipaddr.parse_cidr(item)
    if not net then
      local addr = ipaddr.parse(item)
      if not addr then return nil, "config [intel] internal_ranges: " .. err end
      net = item
    end
    nets[#nets + 1] = net
  end
  return nets
end

---------------------------------------------------------------------------
-- Secrets
---------------------------------------------------------------------------

local function plain_replace(s, needle, with)
  local out, pos = {}, 1
  while true do
    local i, j = s:find(needle, pos, true)
    if not i then break end
    out[#out + 1] = s:sub(pos, i - 1)
    out[#out + 1] = with
    pos = j + 1
  end
  if pos == 1 then return s end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

-- scrubber(list of secret strings) -> function(string) -> string with each replaced by "[redacted]".
-- A percent-encoded copy of a secret (a form body echoed back) is caught too.
function M.scrubber(secrets)
  local list, seen = {}, {}
  local function add(v)
    if type(v) == "string" and #v >= 4 and not seen[v] then seen[v] = true; list[#list + 1] = v end
  end
  for _, v in pairs(secrets) do
    add(v)
    if type(v) == "string" then add(util.form_escape(v)) end
  end
  table.sort(list, function(a, b) return #a > #b end) -- longest first: a key inside another is still caught
  return function(s)
    if type(s) ~= "string" then return s end
    for _, v in ipairs(list) do s = plain_replace(s, v, "[redacted]") end
    return s
  end
end

local function scrub_deep(v, scrub, depth)
  depth = depth or 0
  if type(v) == "string" then return scrub(v) end
  if type(v) ~= "table" or depth > 8 then return v end
  for k, x in pairs(v) do v[k] = scrub_deep(x, scrub, depth + 1) end
  return v
end
M.scrub_deep = scrub_deep

---------------------------------------------------------------------------
-- The engine
---------------------------------------------------------------------------

local Engine = {}
Engine.__index = Engine

local function config_sections(cfg)
  if type(cfg) == "table" and cfg.sections then return cfg.sections, cfg.path end
  if type(cfg) == "table" then return cfg, nil end
  return {}, nil
end

-- M.new(opts): opts = { config = ipe.config object | {section = {k = v}} | "error text",
--   getenv = fn, db_path = path, reader = fn(sql, binds) -> rows (reads the cache through the
--   script's own read-only connection), offline = bool, offline_why = text, refresh = bool,
--   budget = seconds for everything (default 10), now = fn, monotonic = fn,
--   perform_many = fn(requests) -> responses, start = fn(requests) -> batch (:wait() -> responses;
--   default ipe.curl.start, or perform_many when only that is given), sleep = fn(seconds),
--   state_path = path }
function M.new(opts)
  opts = opts or {}
  local e = setmetatable({}, Engine)
  e.getenv = opts.getenv or require("ipe.proc").getenv
  e.now = opts.now or require("ipe.proc").now
  e.monotonic = opts.monotonic or require("ipe.proc").monotonic
  -- through ipe.concurrent: inside a group of scripts run together, a wait lets the others run
  e.perform_many = opts.perform_many or function(reqs) return require("ipe.concurrent").perform_many(reqs) end
  -- start(requests) -> batch with :wait(): the requests go out, the caller works, then collects
  e.start = opts.start or (opts.perform_many and function(reqs)
    return { wait = function() return opts.perform_many(reqs) end }
  end) or function(reqs) return require("ipe.curl").start(reqs) end
  e.sleep = opts.sleep or function(s) return require("ipe.concurrent").sleep(s) end
  e.db_path, e.state_path, e.reader = opts.db_path, opts.state_path, opts.reader
  e.offline, e.offline_why, e.refresh = opts.offline and true or false, opts.offline_why or "offline", opts.refresh and true or false
  e.deadline = e.monotonic() + (opts.budget or 10)
  if type(opts.config) == "string" then e.config_error = opts.config end
  e.sections, e.config_path = config_sections(opts.config)
  local intel = e.sections.intel or {}
  for k in pairs(intel) do
    if not M.INTEL_KEYS[k] then e.config_error = e.config_error or ("config [intel]: unknown key '" .. k .. "'") end
  end
  local nets, err = M.internal_ranges(intel.internal_ranges)
  e.internal, e.config_error = nets or {}, e.config_error or err
  e.ca_bundle, e.proxy = intel.ca_bundle, intel.proxy
  -- every secret of every provider, so none can leak through another's answer
  local secrets = {}
  for _, id in ipairs(M.PROVIDERS) do
    local P = M.provider(id)
    local section = e.sections["provider." .. id] or {}
    for _, f in ipairs(P.secrets) do
      secrets[#secrets + 1] = e.getenv(P.env[f])
      secrets[#secrets + 1] = section[f]
    end
  end
  e.secrets = secrets
  e.scrub = M.scrubber(secrets)
  return e
end

function Engine:add_secret(v)
  self.secrets[#self.secrets + 1] = v
  self.scrub = M.scrubber(self.secrets)
end

function Engine:remaining() return self.deadline - self.monotonic() end

-- Where the config file is, as the user would type it ("~/.config/ipe/config").
function Engine:config_where()
  local p = self.config_path
  if not p then return "the config file" end
  local home = self.getenv("HOME")
  if home and home ~= "" and home ~= "/" and p:sub(1, #home + 1) == home .. "/" then return "~" .. p:sub(#home + 1) end
  return p
end

local BOOL = { ["true"] = true, yes = true, on = true, ["1"] = true,
               ["false"] = false, no = false, off = false, ["0"] = false }

-- enabled(P, cred) -> true | nil, status, "not asked: ..." . A provider is asked only when the
-- user configured it: its credentials, or (for one that answers without a key: GreyNoise
-- community, OTX) `enabled = true` in its section. `enabled = false` turns any provider off.
function Engine:enabled(P, cred)
  local section = self.sections["provider." .. P.id] or {}
  local where = string.format("[provider.%s] of %s", P.id, self:config_where())
  local flag = section.enabled
  if flag ~= nil then
    flag = BOOL[tostring(flag):lower()]
    if flag == nil then
      return nil, "error", string.format("config %s: enabled '%s' is not true or false", where, tostring(section.enabled))
    end
    if flag == false then return nil, "not_configured", "not asked: turned off (enabled = false in " .. where .. ")" end
  end
  if #P.required > 0 or flag then return true end
  for _, f in ipairs(P.secrets) do if cred[f] then return true end end
  local env = {}
  for _, f in ipairs(P.secrets) do env[#env + 1] = P.env[f] end
  return nil, "not_configured", string.format("not asked: set %s, or add [provider.%s] enabled = true to %s",
    table.concat(env, " or "), P.id, self:config_where())
end

-- credentials(P) -> cred | nil, "not asked: ..."
function Engine:credentials(P)
  local section = self.sections["provider." .. P.id] or {}
  local cred = {}
  for field, env in pairs(P.env) do
    local v = self.getenv(env)
    if v == nil or v == "" then v = section[field] end
    if v ~= nil and v ~= "" then cred[field] = v end
  end
  if #P.required == 0 then return cred end
  for _, alt in ipairs(P.required) do
    local all = true
    for _, f in ipairs(alt) do if not cred[f] then all = false end end
    if all then return cred end
  end
  local ways = {}
  for _, alt in ipairs(P.required) do
    local names = {}
    for i, f in ipairs(alt) do names[i] = P.env[f] end
    ways[#ways + 1] = #names == 1 and names[1] or table.concat(names, ", ", 1, #names - 1) .. " and " .. names[#names]
  end
  local keys = {}
  for i, alt in ipairs(P.required) do keys[i] = table.concat(alt, "+") end
  return nil, string.format("not asked: set %s (or %s in [provider.%s] of %s)",
    table.concat(ways, ", or "), table.concat(keys, " or "), P.id, self:config_where())
end

-- egress(ip) -> nil (may be sent) | reason
function Engine:egress(ip)
  local d = ipaddr.describe(ip)
  if d.class ~= "public" then return ip .. " is " .. d.label .. ": it is never sent to a third party" end
  for _, net in ipairs(self.internal) do
    if ipaddr.contains(net, ip) then
      local text = type(net) == "table" and net.text or tostring(net)
      return ip .. " is in the internal range " .. text .. " ([intel] internal_ranges): it is never sent to a third party"
    end
  end
  return nil
end

local function answer(P, ip, status, message)
  return { provider = P.id, name = P.name, ip = ip, status = status, verdict = "unknown", summary = {},
           evidence = {}, link = P.link(ip), cached = false, message = message }
end

function Engine:cache_handle()
  if self._cache == nil then
    self._cache = false
    if self.db_path then
      local c = require("ipe.intel.cache").open(self.db_path, { reader = self.reader })
      if c then self._cache = c end
    end
  end
  return self._cache or nil
end

function Engine:quota_handle()
  if self._quota == nil then
    self._quota = false
    local q = require("ipe.intel.quota").open(self.state_path)
    if q then self._quota = q end
  end
  return self._quota or nil
end

local function from_row(row, now)
  local a = row.result
  a.cached = true
  a.age = math.max(0, now - row.fetched_at)
  a.expires_at = timeutil.format_time(row.expires_at)
  return a
end

-- A live attempt failed: the cached answer (expired, or bypassed by refresh) if any.
function Engine:fallback(P, ip, status, message, row, extra)
  local a
  if row then
    a = from_row(row, self.now())
    a.live_status = status
    a.status = "stale"
    a.message = message .. "; showing the answer cached " .. timeutil.format_duration(a.age) .. " ago"
  else
    a = answer(P, ip, status, message)
  end
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

local function loopback_url(u)
  local host = u:match("^[hH][tT][tT][pP]://%[?([^/%]:]*)")
  return host == "127.0.0.1" or host == "localhost" or host == "::1"
end

-- Offline: the cached answer, even expired (stale), or skipped_offline.
function Engine:offline_answer(P, ip, row, now)
  if row then
    local a = from_row(row, now)
    a.status, a.live_status = "stale", "skipped_offline"
    a.message = self.offline_why .. ": the cached answer expired " ..
      timeutil.format_duration(math.max(0, now - row.expires_at)) .. " ago; nothing was sent"
    return a
  end
  return answer(P, ip, "skipped_offline", self.offline_why .. ": " .. P.name .. " was not asked and nothing is cached")
end

-- Settings and credentials into job.s / job.cred, or the failure answer.
function Engine:configure(job)
  local P, ip, row = job.P, job.ip, job.row
  if self.config_error then return self:fallback(P, ip, "error", self.config_error, row) end
  local s, serr = M.settings(P, self.sections["provider." .. P.id] or {})
  if not s then return self:fallback(P, ip, "error", serr, row) end
  local cred, missing = self:credentials(P)
  if not cred then return self:fallback(P, ip, "not_configured", missing, row) end
  local on, status, why = self:enabled(P, cred)
  if not on then return self:fallback(P, ip, status, why, row) end
  local has_secret = false
  for _, f in ipairs(P.secrets) do if cred[f] then has_secret = true end end
  if has_secret and s.base_url:match("^[hH][tT][tT][pP]://") and not loopback_url(s.base_url) then
    return self:fallback(P, ip, "error", "refusing to send the " .. P.name .. " credentials over plain http (" ..
      s.base_url .. "); use https", row)
  end
  job.s, job.cred = s, cred
  return nil
end

-- The breaker and the rate limit: job.wait, or the answer that says why not now.
function Engine:admit(job, now)
  local P, ip, s = job.P, job.ip, job.s
  job.wait = 0
  local q = self:quota_handle()
  if not q then return nil end -- no state file: no shared limits, the request still goes
  local ok, d = pcall(q.admit, q, P.id, s.rate or nil, now, math.max(0, self:remaining() - 1.5), s.breaker_cooldown)
  if not ok then return nil end
  if d.open_until then
    return self:fallback(P, ip, "error", string.format("%s failed %d times in a row: not asked again for %s",
      P.name, s.breaker_failures, timeutil.format_duration(math.max(0, d.open_until - now))), job.row)
  end
  if d.need then
    local msg
    if d.why == "retry_after" then
      msg = string.format("%s asked to wait (Retry-After): the next request may go in %s, after this run's deadline",
        P.name, timeutil.format_duration(d.need))
    else
      msg = string.format("%s allows %d requests per %s: the next slot is in %s, after this run's deadline",
        P.name, s.rate.limit, timeutil.format_duration(s.rate.period), timeutil.format_duration(d.need))
    end
    return self:fallback(P, ip, "rate_limited", msg, job.row, { retry_after = d.need })
  end
  job.wait = d.wait
  return nil
end

-- precheck(job) -> answer (done) | nil (the request may go after job.wait seconds)
function Engine:precheck(job)
  local P, ip = job.P, job.ip
  local why = self:egress(ip)
  if why then return answer(P, ip, "skipped_private", why) end
  local now = self.now()
  local cache = self:cache_handle()
  local row = cache and cache:get(P.id, ip)
  if row and row.expires_at > now and (self.offline or not self.refresh) then return from_row(row, now) end
  job.row = row
  if self.offline then return self:offline_answer(P, ip, row, now) end
  return self:configure(job) or self:admit(job, now)
end

local function looks_html(res)
  local ct = (res.headers or {})["content-type"] or ""
  return ct:lower():find("html", 1, true) or (res.body or ""):match("^%s*<") ~= nil
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- retry_after(header, now) -> seconds (default 60, at most a day)
function M.retry_after(h, now)
  local secs
  if type(h) == "string" then
    if h:match("^%s*%d+%s*$") then secs = tonumber(h)
    else
      local d, mon, y, hh, mi, ss = h:match("^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT")
      if d and MONTHS[mon] then
        local t = timeutil.parse_time(string.format("%s-%02d-%sT%s:%s:%sZ", y, MONTHS[mon], d, hh, mi, ss))
        if t then secs = t - now end
      end
    end
  end
  if not secs then secs = 60 end
  return math.min(math.max(secs, 0), 86400)
end

-- The vendor's error text from an error body (JSON only), shortened.
local function vendor_error(P, res)
  local doc = cjson.decode(res.body or "")
  if type(doc) ~= "table" or not P.error_text then return nil end
  local ok, t = pcall(P.error_text, doc)
  if ok and type(t) == "string" then return (t:gsub("%c", " "):sub(1, 200)) end
  return nil
end

local TRANSPORT = {
  timeout = function(P, job) return "timeout", string.format("%s did not answer within %gs", P.name, job.timeout) end,
  too_large = function(P, job) return "error", string.format("%s sent more than %d bytes: answer refused", P.name, job.s.max_bytes) end,
  connect = function(P, _, res) return "error", "cannot connect to " .. P.name .. ": " .. res.error end,
  tls = function(P, _, res) return "error", "TLS failure talking to " .. P.name .. ": " .. res.error end,
  reset = function(P, _, res) return "error", P.name .. " broke off the connection: " .. res.error end,
}

-- A failure that counts toward the breaker.
function Engine:failed(job, status, msg, extra)
  local q = self:quota_handle()
  if q then pcall(q.failure, q, job.P.id, self.now(), job.s.breaker_failures, job.s.breaker_cooldown) end
  return self:fallback(job.P, job.ip, status, msg, job.row, extra)
end

-- The answer an HTTP status other than success gives, or nil.
function Engine:status_answer(job, res)
  local P, code = job.P, res.status
  local function with(msg)
    local verr = vendor_error(P, res)
    return verr and msg .. ": " .. verr or msg
  end
  if code == 401 or code == 403 then
    return self:fallback(P, job.ip, "unauthorized", with(string.format("%s refused the credentials (HTTP %d)", P.name, code)), job.row)
  elseif code == 429 then
    local wait = M.retry_after((res.headers or {})["retry-after"], self.now())
    local q = self:quota_handle()
    if q then pcall(q.block, q, P.id, self.now() + wait) end
    return self:fallback(P, job.ip, "rate_limited",
      with(string.format("%s is rate limiting (HTTP 429); retry after %s", P.name, timeutil.format_duration(wait))),
      job.row, { retry_after = wait })
  elseif code >= 500 then
    return self:failed(job, "error", with(string.format("%s failed (HTTP %d)", P.name, code)))
  elseif code == 404 and looks_html(res) then
    return self:fallback(P, job.ip, "error", string.format("%s answered HTTP 404 with an HTML page (is base_url right?)",
      P.name), job.row)
  elseif code == 404 and not P.handles_404 then
    return nil
  elseif code ~= 404 and (code < 200 or code >= 300) then
    return self:fallback(P, job.ip, "error", with(string.format("%s answered HTTP %d", P.name, code)), job.row)
  end
  return nil
end

-- The answer a body gives: ok / not_found (true) or a failure (false).
function Engine:body_answer(job, res)
  local P, ip = job.P, job.ip
  if res.status == 404 and not P.handles_404 then return answer(P, ip, "not_found", P.name .. " has no record of " .. ip), true end
  if looks_html(res) then
    return self:failed(job, "error", string.format("%s answered HTTP %d with an HTML page, not JSON (a proxy or captive portal?)",
      P.name, res.status)), false
  end
  local doc, jerr = cjson.decode(res.body or "")
  if doc == nil then
    return self:failed(job, "error", string.format("%s sent invalid JSON (%d bytes): %s", P.name, #(res.body or ""),
      tostring(jerr))), false
  end
  local ok, fields, problem = pcall(P.parse, doc, ip, res)
  if not ok or not fields then
    return self:failed(job, "error", P.name .. " sent an unexpected answer: " .. tostring(ok and problem or fields)), false
  end
  if fields.not_found then return answer(P, ip, "not_found", fields.message or (P.name .. " has no record of " .. ip)), true end
  local a = answer(P, ip, "ok")
  for _, k in ipairs({ "verdict", "score", "score_max", "score_text", "summary", "evidence", "link" }) do
    if fields[k] ~= nil then a[k] = fields[k] end
  end
  return a, true
end

-- finish(job, res) -> answer; also writes the cache and the breaker state.
function Engine:finish(job, res)
  local P = job.P
  if res.error then
    local f = TRANSPORT[res.kind]
    if f then return self:failed(job, f(P, job, res)) end
    return self:failed(job, "error", P.name .. ": " .. res.error)
  end
  local failure = self:status_answer(job, res)
  if failure then return failure end
  local a, good = self:body_answer(job, res)
  if not good then return a end
  local now, q = self.now(), self:quota_handle()
  if q then pcall(q.success, q, P.id) end
  a.fetched_at, a.age, a.time_ms = timeutil.format_time(now), 0, res.time_ms
  scrub_deep(a, self.scrub)
  local cache = self:cache_handle()
  if cache then
    local ttl = a.status == "ok" and job.s.ttl or job.s.negative_ttl
    cache:put(P.id, job.ip, a, now, ttl)
    a.expires_at = timeutil.format_time(now + ttl)
  end
  return a
end

-- The MDTI client-credentials flow (tokens stay in memory).
function Engine:authorize(job)
  local P = job.P
  if not P.token_request then return true end
  self.tokens = self.tokens or {}
  if self.tokens[P.id] then job.cred.token = self.tokens[P.id] return true end
  local treq = P.token_request(job.cred, job.s)
  if not treq then return true end
  treq.timeout = math.max(0.001, math.min(job.s.timeout, self:remaining() - 0.5))
  treq.connect_timeout, treq.max_bytes, treq.max_redirects = math.min(5, treq.timeout), 1024 * 1024, 0
  treq.ca_bundle, treq.proxy = self.ca_bundle, self.proxy
  local res = self.perform_many({ treq })[1]
  if res.error then
    local f = TRANSPORT[res.kind]
    local status, msg = "error", P.name .. " token request: " .. res.error
    if f then status, msg = f(P, { timeout = treq.timeout, s = job.s }, res) end
    return nil, status, msg
  end
  local token, why = P.token_from(res)
  if not token then return nil, "unauthorized", P.name .. ": " .. why end
  self:add_secret(token)
  self.tokens[P.id], job.cred.token = token, token
  return true
end

local function check_spec(spec, where)
  if type(spec) ~= "table" then error(where .. ": expects a table {provider=, ip=}", 0) end
  if not KNOWN[spec.provider] then
    error(string.format("%s: unknown provider '%s' (known: %s)", where, tostring(spec.provider),
      table.concat(M.PROVIDERS, ", ")), 0)
  end
  local addr, err = ipaddr.parse(spec.ip)
  if not addr then error(where .. ": " .. err, 0) end
  return M.provider(spec.provider), addr.text
end

function Engine:lookup_many(specs, where)
  where = where or "ctx.intel.lookup_many"
  local jobs, out, send = {}, {}, {}
  for i, spec in ipairs(specs) do
    local P, ip = check_spec(spec, where)
    jobs[i] = { P = P, ip = ip }
  end
  local wait = 0
  for i, job in ipairs(jobs) do
    out[i] = self:precheck(job)
    if not out[i] then
      send[#send + 1] = i
      wait = math.max(wait, job.wait or 0)
    end
  end
  if #send == 0 then
    for _, a in ipairs(out) do scrub_deep(a, self.scrub) end
    return out
  end
  if wait > 0 then self.sleep(wait) end
  local reqs, idx = {}, {}
  for _, i in ipairs(send) do
    local job = jobs[i]
    local ok, status, msg = self:authorize(job)
    local left = self:remaining()
    if not ok then
      out[i] = self:fallback(job.P, job.ip, status, msg, job.row)
    elseif left < 0.2 then
      out[i] = self:fallback(job.P, job.ip, "timeout", "no time left in this run's budget to ask " .. job.P.name, job.row)
    else
      local r = job.P.request(job.ip, job.cred, job.s.base_url)
      job.timeout = math.min(job.s.timeout, left - 0.1)
      r.timeout, r.connect_timeout = job.timeout, math.min(5, job.timeout)
      r.max_bytes, r.max_redirects = job.s.max_bytes, 0 -- never carry a key to another host
      r.ca_bundle, r.proxy = self.ca_bundle, self.proxy
      reqs[#reqs + 1], idx[#reqs + 1] = r, i
    end
  end
  local responses = {}
  if #reqs > 0 then
    local batch = self.start(reqs)
    self:prepare_finish() -- while the answers travel
    responses = require("ipe.concurrent").wait(batch)
  end
  for k, res in ipairs(responses) do
    local i = idx[k]
    out[i] = self:finish(jobs[i], res)
  end
  for _, a in ipairs(out) do scrub_deep(a, self.scrub) end
  return out
end

-- Open what finishing a lookup writes to (the cache's connection, the
-- state file) so that it costs nothing once the answers are in.
function Engine:prepare_finish()
  local cache = self:cache_handle()
  if cache then cache:prepare() end
  self:quota_handle()
end

function Engine:lookup(spec)
  return self:lookup_many({ spec }, "ctx.intel.lookup")[1]
end

function Engine:close()
  if self._cache then self._cache:close() end
  if self._quota then self._quota:close() end
  self._cache, self._quota = nil, nil
end

---------------------------------------------------------------------------
-- Workspace indicators and the card
---------------------------------------------------------------------------

M.INDICATOR_TYPES = { LastUpdated = "time", Confidence = "number", Severity = "number", Active = "bool",
                      Live = "bool", Expires = "time" }

-- indicators_sql(P, db) -> SQL text and the provider-name parameters it binds.
-- The indicators naming the IP or a CIDR block holding it, each its latest version
-- (db:ti_matching_ip: up to the window's end, ties to the later row), from this provider
-- (IndicatorProvider or SourceSystem contains one of its names), with the matched
-- address or block.
function M.indicators_sql(P, db)
  local match, binds = {}, {}
  for i, name in ipairs(P.ti_names) do
    local p = "provider" .. i
    binds[p] = name
    -- LIKE on both engines (the names are lower-case letters and spaces: no wildcard)
    match[#match + 1] = string.format("lower(COALESCE(IndicatorProvider, '')) LIKE '%%' || :%s || '%%'", p)
    match[#match + 1] = string.format("lower(COALESCE(SourceSystem, '')) LIKE '%%' || :%s || '%%'", p)
  end
  local sql = db:ti_matching_ip("ip") .. "\n" .. table.concat({
    "SELECT " .. db:time_text("TimeGenerated") .. " AS LastUpdated, ThreatType, ConfidenceScore AS Confidence,",
    "       ThreatSeverity AS Severity, Active, Live, " .. db:time_text("ExpirationDateTime") .. " AS Expires, Description,",
    "       IndicatorId, MatchedIndicator",
    "FROM ti",
    "WHERE " .. table.concat(match, " OR "),
    "ORDER BY Live DESC, LastUpdated DESC, IndicatorId",
    "LIMIT 200",
  }, "\n")
  return sql, binds
end

local function present(v) return v ~= nil and v ~= cjson.null and v ~= "" end

local function age_text(a)
  if not a.age then return nil end
  local d = timeutil.format_duration(a.age)
  if not a.cached then return d .. " (live answer)" end
  return d .. " (cached" .. (a.expires_at and ", fresh until " .. a.expires_at or "") .. ")"
end

-- card(answer, rows, columns) -> result.output with the verdict, the evidence and the workspace's own TI.
function M.card(a, rows, cols)
  rows, cols = rows or {}, cols or {}
  local status = a.status .. (a.live_status and " (live lookup: " .. a.live_status .. ")" or "")
  local items = {
    { "Provider", a.name }, { "Verdict", a.verdict },
    { "Score", a.score_text or (a.score and string.format("%g", a.score)) },
    { "Status", status }, { "Message", a.message },
    { "Fetched", a.fetched_at, "time" }, { "Age", age_text(a) }, { "Link", a.link },
  }
  for _, it in ipairs(a.summary or {}) do items[#items + 1] = { it[1], it[2], it[3] } end
  local kv = {}
  for _, it in ipairs(items) do
    if present(it[2]) then kv[#kv + 1] = { it[1], it[2], it[3] } end
  end
  local ev = {}
  local function cell(v) if v == nil then return cjson.null end return v end
  for i, e in ipairs(a.evidence or {}) do
    ev[i] = { cell(e.source), cell(e.finding), cell(e.detail), cell(e.severity), cell(e.seen), cell(e.link) }
  end
  local columns = {}
  for i, c in ipairs(cols) do columns[i] = { c, M.INDICATOR_TYPES[c] or "text" } end
  if #columns == 0 then columns = { { "IndicatorId", "text" } } end
  local sections = {
    result.kv{ id = "verdict", title = a.name .. " on " .. a.ip, items = kv },
    result.table{ id = "evidence", title = "Evidence from " .. a.name,
      columns = { { "Source", "text" }, { "Finding", "text" }, { "Detail", "text" }, { "Severity", "text" },
                  { "Seen", "time" }, { "Link", "text" } }, rows = ev },
    result.table{ id = "workspace-ti", title = "This workspace's indicators from " .. a.name .. " for " .. a.ip,
      note = "ThreatIntelligenceIndicator, latest version of each indicator; Live = active and not expired",
      columns = columns, rows = rows },
  }
  local answered = a.status == "ok" or a.status == "stale"
  local out
  if answered or #rows > 0 then out = "ok"
  elseif a.status == "not_found" then out = "empty"
  elseif a.status == "skipped_private" or a.status == "skipped_offline" or a.status == "not_configured" then out = "skipped"
  else out = "error" end
  local message = a.message
  if message and out ~= "ok" and message:sub(1, #a.name) ~= a.name then message = a.name .. ": " .. message end
  return result.output{ status = out, message = out ~= "ok" and message or nil, sections = sections }
end

-- not_asked(record) -> provider name, message | nil: a run record of M.card whose provider was
-- not asked because it is not configured (the card's verdict section says not_configured; the
-- record itself may still be ok, with the workspace's own indicators from that provider).
function M.not_asked(rec)
  if type(rec) ~= "table" then return nil end
  local sec = (rec.sections or {})[1]
  if type(sec) ~= "table" or sec.id ~= "verdict" or type(sec.items) ~= "table" then return nil end
  local kv = {}
  for _, it in ipairs(sec.items) do
    if type(it) == "table" and type(it.key) == "string" then kv[it.key] = it.value end
  end
  if kv.Status ~= "not_configured" or type(kv.Provider) ~= "string" then return nil end
  return kv.Provider, type(kv.Message) == "string" and kv.Message or nil
end

---------------------------------------------------------------------------
-- ctx.intel
---------------------------------------------------------------------------

local function has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

-- service(request, ctx, record): the object scripts see as ctx.intel.
function M.service(req, ctx, rec)
  local external = has(rec and rec.categories, "external")
  local ok, cfg = pcall(function() return require("ipe.config").load() end)
  if not ok then cfg = type(cfg) == "table" and cfg.msg or tostring(cfg) end
  local budget = (req.timeout or require("ipe.runner").DEFAULT_TIMEOUT) - 0.5
  local engine = M.new{
    config = cfg, db_path = req.db_path, refresh = req.refresh, budget = budget,
    reader = req.db_path and function(sql, binds) return ctx.db:query(sql, binds) end or nil,
    offline = req.offline or not external,
    offline_why = req.offline and "offline" or "offline (this script is not in category 'external')",
  }
  local S = {}
  function S.providers()
    local list = {}
    for i, id in ipairs(M.PROVIDERS) do list[i] = { id = id, name = M.provider(id).name } end
    return list
  end
  function S.lookup(spec) return engine:lookup_many({ spec }, "ctx.intel.lookup")[1] end
  function S.lookup_many(specs)
    if type(specs) ~= "table" then error("ctx.intel.lookup_many: expects a list of {provider=, ip=}", 0) end
    return engine:lookup_many(specs, "ctx.intel.lookup_many")
  end
  function S.indicators(spec)
    local P, ip = check_spec(spec, "ctx.intel.indicators")
    local sql, binds = M.indicators_sql(P, ctx.db)
    binds.ip = ip
    return ctx.db:query(sql, binds)
  end
  function S.card(a, rows, cols)
    if type(a) ~= "table" or not a.status then error("ctx.intel.card: expects an answer from ctx.intel.lookup", 0) end
    return M.card(a, rows, cols)
  end
  function S.report(spec)
    local a = S.lookup(spec)
    local rows, cols = S.indicators(spec)
    return M.card(a, rows, cols)
  end
  return S
end

return M
