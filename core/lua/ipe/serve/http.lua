-- ipe.serve.http: what ipe-run serve needs of HTTP on the Lua side — the request's path,
-- query, cookies and form body decoded, URLs built, and the answers' headers.
--
--   http.split(uri)        -> path, query | nil, err ("bad path ..."): the raw request target
--                             split and its path percent-decoded; a path with "..", "//", a
--                             backslash or a control character is refused (no route has one)
--   http.decode(s)         -> text | nil (bad %-escape); "+" is a space
--   http.encode(s)         -> s %-escaped for a query value or a path segment
--   http.encode_path(p)    -> the same, keeping the slashes
--   http.params(query)     -> {name = value} (the last of a repeated name) | nil, err
--   http.values(query, name) -> every value of a repeated name, in order (a query checked by params)
--   http.query(list)       -> "a=1&b=2" from { {"a", "1"}, {"b", "2"} } (nil values left out)
--   http.cookies(header)   -> {name = value}
--   http.headers(type [, csp]) -> the answer's headers: its type, no caching, no sniffing, no
--                             framing, no referrer, and the Content-Security-Policy
--   http.Error(status, msg) -> an error object the app turns into "<status> <msg>" (one line)
local M = {}

local Err = {}
Err.__index = Err
Err.__tostring = function(e) return e.status .. " " .. e.msg end

function M.Error(status, msg) return setmetatable({ status = status, msg = msg }, Err) end
function M.is_error(e) return getmetatable(e) == Err end
function M.fail(status, fmt, ...) error(M.Error(status, string.format(fmt, ...)), 0) end

function M.decode(s)
  s = s:gsub("%+", " ")
  if s:find("%%") and (s:find("%%[^%x]") or s:find("%%%x[^%x]") or s:find("%%%x?$")) then return nil end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.encode(s)
  return (tostring(s):gsub("[^%w%-%._~:]", function(c) return string.format("%%%02X", c:byte()) end))
end

function M.encode_path(path)
  return (tostring(path):gsub("[^%w%-%._~:/]", function(c) return string.format("%%%02X", c:byte()) end))
end

function M.split(uri)
  local raw, query = uri:match("^([^?#]*)%??([^#]*)")
  if not raw or raw:sub(1, 1) ~= "/" then return nil, "bad path (not absolute)" end
  local path = M.decode((raw:gsub("%+", "%%2B")))
  if not path then return nil, "bad path (a malformed %-escape)" end
  if path:find("[%z\1-\31\127\\]") then return nil, "bad path (a control character or backslash)" end
  if path:find("//", 1, true) then return nil, "bad path (an empty segment)" end
  for seg in path:gmatch("[^/]+") do
    if seg == ".." or seg == "." then return nil, "bad path (a '" .. seg .. "' segment)" end
  end
  return path, query
end

function M.params(query)
  local out = {}
  for pair in (query or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    local dk, dv = M.decode(k), M.decode(v)
    if not dk or not dv then return nil, "bad query (a malformed %-escape)" end
    out[dk] = dv
  end
  return out
end

function M.values(query, name)
  local out = {}
  for pair in (query or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    local dv = M.decode(k) == name and M.decode(v)
    if dv then out[#out + 1] = dv end
  end
  return out
end

function M.query(list)
  local parts = {}
  for _, kv in ipairs(list) do
    if kv[2] ~= nil then parts[#parts + 1] = M.encode(kv[1]) .. "=" .. M.encode(kv[2]) end
  end
  return table.concat(parts, "&")
end

function M.cookies(header)
  local out = {}
  for pair in (header or ""):gmatch("[^;,]+") do
    local k, v = pair:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if k then out[k] = v end
  end
  return out
end

function M.headers(ctype, csp)
  return {
    ["Content-Type"] = ctype,
    ["Cache-Control"] = "no-store",
    ["X-Content-Type-Options"] = "nosniff",
    ["X-Frame-Options"] = "DENY",
    ["Referrer-Policy"] = "no-referrer",
    ["Cross-Origin-Opener-Policy"] = "same-origin",
    ["Content-Security-Policy"] = (csp or "default-src 'none'") .. "; frame-ancestors 'none'",
  }
end

return M
