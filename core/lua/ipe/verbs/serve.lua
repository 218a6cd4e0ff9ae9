-- ipe.verbs.serve: ipe-run serve — the IP entity page as a live web page (ipe.serve.app)
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local page = require "ipe.page"
local proc = require "ipe.proc"
local fs = require "ipe.fs"
local ipaddr = require "ipe.ipaddr"

local M = {}

M.summary = "the IP page as a web page: search, pivots, hunts, KQL, actions"
M.usage = [[
usage: ipe-run serve [--listen ADDR:PORT] [options]

Serves the IP entity page for any IP of the workspace: a search box (IP,
defanged IP or CIDR), the page with the same panels as 'ipe-run page -f html',
each sent as soon as it is done, pivots in every table with the page's window
(an IP opens its page, a CIDR its sweep, a host and an account the hunt of
their activity with the IP, an indicator its query; "Go hunt" and each panel's
hunt their query), hunts as typed forms and KQL queries (/kql; let values as
p=name=value, as ipe-run kql -p) with CSV and JSON downloads, and response
actions: the plan first, executing only after a confirmation, audited with the
operator's name. Every page has a stable URL (/ip/<ip>?from=...&to=...) and
shows the equivalent ipe-run command.

Safe by default: it listens on 127.0.0.1; a random access token is printed
once at start (open the URL printed; the browser then keeps it in a cookie)
and every request needs it (a wrong one is answered after a second); a
non-loopback address needs --tls-cert and --tls-key, or --insecure-http;
actions only plan unless --allow-actions. Scripts run in their sandboxed
workers with their budgets. Scripts are discovered at start: restart the
server to pick up new ones.

options:
  --listen ADDR:PORT   the address to listen on (default 127.0.0.1:8731; port
                       0: any free port; [::1]:8731 for IPv6)
  --tls-cert FILE      serve HTTPS with this certificate (PEM; with --tls-key)
  --tls-key FILE       the certificate's private key (PEM)
  --insecure-http      allow plain HTTP on a non-loopback address
  --allow-actions      let the page execute response actions (after a
                       confirmation)
  --offline            external panels answer from the cache and local data
  --timeout SECONDS    each panel's and KQL query's time budget (default 10)
  --max-connections N  connections served at once (default 64; 16 per client
                       address)
  --max-handlers N     pages and hunts prepared at once, each in a process
                       forked from the warm server (default 32; over it:
                       "503 busy")
  --idle-timeout SECONDS  close a connection idle this long (default 15)
  --db PATH, --now TIME, -v, -h   (see ipe-run --help)

exit codes: 0 stopped by SIGINT or SIGTERM, 2 bad arguments (an address, a
certificate), 3 no workspace, 4 the address cannot be listened on
]]

M.options = { {
  { "listen", arg = true }, { "tls-cert", arg = true }, { "tls-key", arg = true }, { "insecure-http" },
  { "allow-actions" }, { "offline" }, { "timeout", arg = true }, { "max-connections", arg = true }, { "max-handlers", arg = true },
  { "idle-timeout", arg = true },
} }

-- "127.0.0.1:8731", "[::1]:8731", "0.0.0.0:80" -> host, port
function M.parse_listen(text)
  local host, port = text:match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = text:match("^([^:]+):(%d+)$") end
  if not host then errors.usage("serve: --listen '%s': expected ADDRESS:PORT (e.g. 127.0.0.1:8731)", text) end
  local ip = ipaddr.normalize(host)
  if not ip or ip ~= host and ip ~= host:lower() then
    errors.usage("serve: --listen '%s': '%s' is not an IP address", text, host)
  end
  port = tonumber(port)
  if port > 65535 then errors.usage("serve: --listen '%s': port %d is above 65535", text, port) end
  return ip, port
end

local function is_loopback(ip) return ipaddr.classify(ip) == "loopback" end

local function read_pem(opt, path)
  local text, err = fs.read(path, 1048576)
  if not text then errors.usage("serve: --%s: %s", opt, err) end
  if not text:find("-----BEGIN", 1, true) then errors.usage("serve: --%s: %s is not a PEM file", opt, path) end
  return text
end

local function tls_of(opts, host)
  if (opts.tls_cert == nil) ~= (opts.tls_key == nil) then
    errors.usage("serve: --tls-cert and --tls-key go together")
  end
  if opts.tls_cert then return read_pem("tls-cert", opts.tls_cert), read_pem("tls-key", opts.tls_key) end
  if not is_loopback(host) and not opts.insecure_http then
    errors.usage("serve: %s is not a loopback address: give --tls-cert and --tls-key, or --insecure-http "
      .. "to serve plain HTTP on the network", host)
  end
end

local function log(line)
  io.stderr:write(os.date("!%Y-%m-%dT%H:%M:%SZ"), " ", line, "\n")
  io.stderr:flush()
end

function M.run(opts, pos)
  if #pos > 0 then errors.usage("serve: unexpected argument '%s'", pos[1]) end
  local host, port = M.parse_listen(opts.listen or "127.0.0.1:8731")
  local cert, key = tls_of(opts, host)
  local conns = common.whole(opts, "max-connections", 1, 1024) or 64
  local handlers = common.whole(opts, "max-handlers", 1, 1024) or 32
  local idle = common.seconds(opts, "idle-timeout", 15, 3600)
  require("ipe.verbs.insight").timeout(opts)   -- a bad --timeout is a usage error now, not per page
  common.window({ db = opts.db }, common.now(opts))   -- a bad --now too
  local workspace = require "ipe.workspace"
  workspace.open_reader(workspace.check(workspace.path(opts.db))):close()
  local index = discover.scan()
  local panels, actions, hunts = page.collect(index, page.cores() * 2)
  local S = {
    opts = { db = opts.db, now = opts.now, offline = opts.offline, timeout = opts.timeout,
             allow_actions = opts.allow_actions == true },
    auth = require("ipe.serve.auth").new(), secure = cert ~= nil, index = index, panels = panels,
    actions = actions, hunts = hunts, max_handlers = handlers, hints = page.load_timing(), log = log, verbose = opts.verbose,
  }
  local httpd = require "ipe.httpd"
  local ok, srv = pcall(httpd.start, { host = host, port = port, cert = cert, key = key, conn_limit = conns,
    per_ip = math.min(16, conns), max_handlers = handlers, timeout = math.ceil(idle), header_limit = 32768, body_limit = 65536 })
  if not ok then errors.raise(errors.INTERNAL, "serve: %s", tostring(srv):gsub("^httpd: ", "")) end
  S.srv = srv
  local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
  io.stdout:write(string.format("%s://%s:%d/?token=%s\n", cert and "https" or "http", shown, srv:port(), S.auth.token))
  io.stdout:flush()
  log(string.format("ipe-run serve: listening on %s:%d (%s; %s); the access token is in the URL above, "
    .. "shown once", shown, srv:port(), cert and "HTTPS" or "HTTP",
    S.opts.allow_actions and "actions allowed after confirmation" or "read-only"))
  local app = require("ipe.serve.app").new(S)
  while true do
    local req, why = srv:next(1)
    if req then app:handle(req)
    elseif why == "signal" then break end
  end
  srv:stop()
  log("ipe-run serve: stopped")
  return errors.OK
end

return M
