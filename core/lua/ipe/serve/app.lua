-- ipe.serve.app: the routes of ipe-run serve and the answer to each request.
--
--   app.new(S) -> app: S = {srv=<ipe.httpd server>, auth=<ipe.serve.auth>, secure=bool,
--                 opts={db=, now=, offline=, timeout=, allow_actions=}, log=function(line)}
--   app:handle(req)  answers one request (ipe.httpd's request table); never raises: an error
--                    a request caused is one line with its 4xx status, anything else "500
--                    internal error" (the detail goes to the log, never to the client)
--
-- Concurrency: a page or a hunt (the routes in FORKED) is answered by a handler process forked
-- from this warm server (srv:fork, after the token wall and the route checks), so the loop
-- takes the next request at once; the handler logs its line and exits. Over the handler limit
-- (--max-handlers) the answer is "503 busy". Actions stay in the server: an execution is never
-- cut short by a client that went away.
--
-- Routes (every one behind the token wall: ?token= once, then the cookie):
--   GET  /                      the search box
--   GET  /search?q=             an IP (defanged too) -> its page; a CIDR -> subnet-sweep
--   GET  /ip/<ip>?from=&to=     the IP page, streamed panel by panel; without from/to it
--                               redirects to the URL with the window resolved (stable URLs)
--   GET  /hunt/<name>?p=v...    the hunt's typed form, and its result once the required
--                               parameters are given; &format=csv|json downloads it
--   GET  /kql?q=&from=&to=      a KQL query's form and its result (read-only, in a sandboxed
--                               worker with ipe-run kql's budgets); &p=name=value (repeated) its
--                               let values, as ipe-run kql -p; &format=csv|json downloads it
--   GET  /action/<name>?p=v...  the action's plan, with the confirmation form (--allow-actions)
--   POST /action/<name>         execute it (CSRF token, operator's name), then the audit rows
local http = require "ipe.serve.http"
local auth = require "ipe.serve.auth"
local views = require "ipe.serve.views"
local errors = require "ipe.errors"
local textutil = require "ipe.textutil"

local App = {}
App.__index = App

local M = {}

M.MAX_URI = 16384   -- a KQL query travels in its URL

local FORKED = { ip_page = true, hunt = true, kql = true }

function M.new(S)
  return setmetatable({ S = S }, App)
end

-- one-line answers: "<status> <message>\n", text/plain
function App:plain(req, status, msg, delay)
  local h = http.headers("text/plain; charset=utf-8")
  if status == 405 then h["Allow"] = req.allow or "GET" end
  self.S.srv:respond(req.id, status, h, status .. " " .. textutil.visible(msg) .. "\n", delay)
  return status
end

function App:redirect(req, location, cookie)
  local h = http.headers("text/plain; charset=utf-8")
  h["Location"] = location
  if cookie then h["Set-Cookie"] = cookie end
  self.S.srv:respond(req.id, 303, h, "303 see " .. location .. "\n")
  return 303
end

local ROUTES = {
  { "^/$", "home", { GET = true, HEAD = true } },
  { "^/search$", "search", { GET = true, HEAD = true } },
  { "^/ip/([^/]+)$", "ip_page", { GET = true, HEAD = true } },
  { "^/hunt/([%w_-]+)$", "hunt", { GET = true, HEAD = true } },
  { "^/kql$", "kql", { GET = true, HEAD = true } },
  { "^/action/([%w_-]+)$", "action", { GET = true, HEAD = true, POST = true } },
}

local function route(path)
  for _, r in ipairs(ROUTES) do
    local cap = path:match(r[1])
    if cap then return r[2], cap, r[3] end
  end
end

local function allowed(methods)
  local list = {}
  for m in pairs(methods) do list[#list + 1] = m end
  table.sort(list)
  return table.concat(list, ", ")
end

-- the URL of this request without its token parameter
local function without_token(path, params)
  local keys = {}
  for k in pairs(params) do if k ~= "token" then keys[#keys + 1] = k end end
  table.sort(keys)
  local list = {}
  for i, k in ipairs(keys) do list[i] = { k, params[k] } end
  local q = http.query(list)
  return http.encode_path(path) .. (q ~= "" and "?" .. q or "")
end

function App:dispatch(req)
  if #req.uri > M.MAX_URI then return self:plain(req, 414, "request target too long") end
  local path, query = http.split(req.uri)
  if not path then return self:plain(req, 400, query) end
  local params, perr = http.params(query)
  if not params then return self:plain(req, 400, perr) end
  -- the token wall comes before anything about the routes is said
  local state = auth.check(self.S.auth, req, params)
  if state == "wrong" then return self:plain(req, 401, "wrong access token", auth.WRONG_DELAY_MS) end
  if state == "missing" then
    return self:plain(req, 401, "access token required: open the URL ipe-run serve printed")
  end
  if state == "login" then
    return self:redirect(req, without_token(path, params), auth.cookie(self.S.auth, self.S.secure))
  end
  local name, cap, methods = route(path)
  if not name then return self:plain(req, 404, "no such page: " .. path) end
  if not methods[req.method] then
    req.allow = allowed(methods)
    return self:plain(req, 405, "method " .. req.method .. " not allowed here (use " .. req.allow .. ")")
  end
  local form = {}
  if req.method == "POST" then
    local ctype = (req.headers["content-type"] or ""):match("^%s*([^;%s]+)")
    if ctype ~= "application/x-www-form-urlencoded" then
      return self:plain(req, 415, "a form must be application/x-www-form-urlencoded")
    end
    local ferr
    form, ferr = http.params(req.body)
    if not form then return self:plain(req, 400, ferr) end
  end
  if FORKED[name] and not self.in_handler then
    local pid, err = self.S.srv:fork(req.id)
    if pid == nil then
      return self:plain(req, 503, err == "busy" and string.format("busy: %d pages are being prepared at once already; try again",
        self.S.max_handlers or 0) or "cannot start a handler: " .. tostring(err))
    end
    if pid ~= 0 then req.forked = pid; return "forked" end
    self.in_handler = true
  end
  return views[name](self, req, cap, params, form)
end

function App:handle(req)
  local t0 = require("ipe.proc").monotonic()
  local ok, res = xpcall(function() return self:dispatch(req) end, function(e)
    if http.is_error(e) or errors.is(e) then return e end
    return { internal = tostring(e), trace = debug.traceback() }
  end)
  local status = res
  if not ok then
    if http.is_error(res) then
      status = self:answer_error(req, res.status, res.msg)
    elseif errors.is(res) then
      local code = res.code == errors.NOT_FOUND and 404 or res.code == errors.USAGE and 400 or 500
      status = self:answer_error(req, code, res.msg)
    else
      self.S.log("internal error: " .. textutil.visible(res.internal:match("[^\n]*")))
      if self.S.verbose then self.S.log(res.trace) end
      status = self:answer_error(req, 500, "internal error")
    end
  end
  if req.forked then return end   -- its handler logs it
  self.S.log(string.format("%s %s %s %s %.1f ms", req.remote, req.method,
    textutil.visible((req.uri:gsub("([?&]token=)[^&]*", "%1[redacted]"))), tostring(status),
    (require("ipe.proc").monotonic() - t0) * 1000))
  if self.in_handler then self.S.srv:exit() end
end

-- an error after a streamed answer started cannot change its status: the stream just ends
function App:answer_error(req, status, msg)
  if req.streaming then
    self.S.srv:write(req.id, "\n<p class=\"msg msg-error\" role=\"alert\">" .. require("ipe.render.html").escape(msg)
      .. "</p>\n")
    self.S.srv:finish(req.id)
    return status
  end
  return self:plain(req, status, msg)
end

return M
