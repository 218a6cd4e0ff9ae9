-- ipe.http: ctx.http — HTTP(S) for scripts in the 'external' category.
--
--   ctx.http.get(url [, opts])          -> response | nil, msg, kind
--   ctx.http.post(url, body [, opts])   -> response | nil, msg, kind
--       body: a string, or a table sent as JSON (Content-Type: application/json)
--   ctx.http.request_many(requests)     -> responses in order, all in flight at once;
--       a request is {method=, url=, headers=, body=, timeout=, connect_timeout=, max_bytes=}
-- opts: headers = {Name = value}, timeout (s, default 10), connect_timeout (s, default 5),
--       max_bytes (default 8 MiB, at most 64 MiB).
-- response: {status=, headers={lower-case name = value}, body=, time_ms=}; an
--   HTTP error status is a normal response. A failure is nil, msg, kind
--   (request_many: {error=msg, kind=kind}); kind is timeout, too_large,
--   connect, tls, reset, protocol, redirect, bad_url, error or offline.
--
-- Rules: only http and https, at most 3 redirects, TLS always verified
-- ([intel] ca_bundle replaces the CA store; [intel] proxy, else the standard
-- proxy environment variables). Timeouts never run past the script's budget.
-- With --offline nothing is sent: every call answers "offline: no network".
-- A script outside the 'external' category gets an error when it calls
-- ctx.http (raised as a plain string: error(msg, 0)); so does a malformed
-- request (not a URL string, a header with CR/LF).
local M = {}

M.DEFAULT_MAX_BYTES = 8 * 1024 * 1024
M.MAX_BYTES = 64 * 1024 * 1024
M.OFFLINE = "offline: no network"

local function has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

local function number(v, what, lo, hi)
  if v == nil then return nil end
  if type(v) ~= "number" or v < lo or v > hi then
    error(string.format("ctx.http: %s must be a number from %g to %g", what, lo, hi), 0)
  end
  return v
end

-- M.new{external=, offline=, name=, budget=, perform_many=, monotonic=, ca_bundle=, proxy=} -> the ctx.http object
function M.new(o)
  -- through ipe.concurrent: inside a group of scripts run together, a wait lets the others run
  local perform_many = o.perform_many or function(reqs) return require("ipe.concurrent").perform_many(reqs) end
  local monotonic = o.monotonic or require("ipe.proc").monotonic
  local deadline = monotonic() + (o.budget or 10)
  local S = {}

  local function allowed()
    if not o.external then
      error("ctx.http: " .. (o.name or "this script") .. " is not in category 'external'; only external scripts may use the network", 0)
    end
  end

  local function prepare(r)
    if type(r) ~= "table" then error("ctx.http: a request must be a table", 0) end
    if type(r.url) ~= "string" then error("ctx.http: the request URL must be a string", 0) end
    local body, headers = r.body, {}
    if r.headers ~= nil and type(r.headers) ~= "table" then error("ctx.http: headers must be a table", 0) end
    for k, v in pairs(r.headers or {}) do headers[k] = v end
    if type(body) == "table" then
      body = require("cjson").encode(body)
      local has_ct = false
      for k in pairs(headers) do if type(k) == "string" and k:lower() == "content-type" then has_ct = true end end
      if not has_ct then headers["Content-Type"] = "application/json" end
    elseif body ~= nil and type(body) ~= "string" then
      error("ctx.http: the body must be a string or a table", 0)
    end
    local left = math.max(0.001, deadline - monotonic())
    local timeout = math.min(number(r.timeout, "timeout", 0.001, 300) or 10, left)
    return {
      method = r.method or (body and "POST" or "GET"), url = r.url, headers = headers, body = body,
      timeout = timeout, connect_timeout = math.min(number(r.connect_timeout, "connect_timeout", 0.001, 300) or 5, timeout),
      max_bytes = number(r.max_bytes, "max_bytes", 0, M.MAX_BYTES) or M.DEFAULT_MAX_BYTES,
      ca_bundle = o.ca_bundle, proxy = o.proxy,
    }
  end

  function S.request_many(reqs)
    allowed()
    if type(reqs) ~= "table" then error("ctx.http.request_many: expects a list of requests", 0) end
    local prepared = {}
    for i, r in ipairs(reqs) do prepared[i] = prepare(r) end
    if o.offline then
      local out = {}
      for i = 1, #prepared do out[i] = { error = M.OFFLINE, kind = "offline" } end
      return out
    end
    if #prepared == 0 then return {} end
    local ok, res = pcall(perform_many, prepared)
    if not ok then error("ctx.http: " .. tostring(res):gsub("^ipe%.curl: ", ""), 0) end
    return res
  end

  local function one(r)
    local res = S.request_many({ r })[1]
    if res.error then return nil, res.error, res.kind end
    return res
  end

  function S.get(url, opts)
    opts = opts or {}
    return one{ method = "GET", url = url, headers = opts.headers, timeout = opts.timeout,
                connect_timeout = opts.connect_timeout, max_bytes = opts.max_bytes }
  end

  function S.post(url, body, opts)
    opts = opts or {}
    return one{ method = "POST", url = url, body = body or "", headers = opts.headers, timeout = opts.timeout,
                connect_timeout = opts.connect_timeout, max_bytes = opts.max_bytes }
  end

  return S
end

-- service(request, ctx, record): the object scripts see as ctx.http.
function M.service(req, ctx, rec)
  local intel = {}
  local ok, cfg = pcall(function() return require("ipe.config").load() end)
  if ok then intel = cfg:section("intel") end
  return M.new{
    external = has(rec and rec.categories, "external"), offline = req.offline,
    name = ctx and (ctx.kind .. " '" .. ctx.name .. "'"),
    budget = (req.timeout or require("ipe.runner").DEFAULT_TIMEOUT) - 0.5,
    ca_bundle = intel.ca_bundle, proxy = intel.proxy,
  }
end

return M
