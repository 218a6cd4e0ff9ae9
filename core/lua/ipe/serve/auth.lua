-- ipe.serve.auth: the token wall and the CSRF token of ipe-run serve.
--
--   auth.new()              -> {token=, csrf=}: 32 random bytes each (/dev/urandom), as hex
--   auth.check(a, req, params) -> "ok" | "login" (a right ?token=: set the cookie, redirect to the
--                              URL without it) | "missing" | "wrong" (a token or cookie that is
--                              not the one: answered after WRONG_DELAY_MS)
--   auth.cookie(a, secure)  -> the Set-Cookie value (HttpOnly, SameSite=Strict, Path=/)
--   auth.csrf_ok(a, req, form) -> true | nil, why: the form's csrf field is the token and the
--                              browser did not say the POST came from another site
--   auth.same(x, y)         -> whether two strings are equal, in time independent of where they differ
local fs = require "ipe.fs"
local http = require "ipe.serve.http"

local M = {}

M.COOKIE = "ipe_token"
M.WRONG_DELAY_MS = 1000

local function random_hex(n)
  local bytes = fs.read_head("/dev/urandom", n)
  if not bytes or #bytes ~= n then error("serve: cannot read /dev/urandom for the access token", 0) end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

function M.new()
  return { token = random_hex(32), csrf = random_hex(32) }
end

function M.same(x, y)
  if type(x) ~= "string" or type(y) ~= "string" or #x ~= #y then return false end
  local bit = require "bit"
  local diff = 0
  for i = 1, #x do diff = bit.bor(diff, bit.bxor(x:byte(i), y:byte(i))) end
  return diff == 0
end

function M.check(a, req, params)
  local given = params.token
  if given ~= nil then return M.same(given, a.token) and "login" or "wrong" end
  local cookie = http.cookies(req.headers.cookie)[M.COOKIE]
  if cookie == nil then return "missing" end
  return M.same(cookie, a.token) and "ok" or "wrong"
end

function M.cookie(a, secure)
  return M.COOKIE .. "=" .. a.token .. "; Path=/; HttpOnly; SameSite=Strict" .. (secure and "; Secure" or "")
end

function M.csrf_ok(a, req, form)
  local site = req.headers["sec-fetch-site"]
  if site and site ~= "same-origin" and site ~= "none" then return nil, "a cross-site form" end
  if not form.csrf or form.csrf == "" then return nil, "missing CSRF token" end
  if not M.same(form.csrf, a.csrf) then return nil, "wrong CSRF token" end
  return true
end

return M
