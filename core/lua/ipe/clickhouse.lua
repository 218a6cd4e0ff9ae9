-- ipe.clickhouse: a ClickHouse workspace over its HTTP interface (libcurl, ipe.curl).
--
-- URL: clickhouse://[user@]host[:port]/database[?cluster=NAME&nodes=h:p,h:p&secure=1]
--   user      default "default"; the password comes from $IPE_CLICKHOUSE_PASSWORD, else
--             [workspace] clickhouse_password in the config file — never from the URL
--             (a URL with user:password@ is refused) and never printed
--   port      the HTTP port: 8123, or 8443 with secure=1 (https, certificate and host
--             verified; [workspace] clickhouse_ca_bundle replaces the CA store)
--   cluster   the cluster (remote_servers) the Sentinel tables are sharded over
--   nodes     the HTTP address of every node of the cluster, for schema changes on a
--             cluster without ZooKeeper (without it they run ON CLUSTER)
--
--   M.is_url(s)                 -> true for a clickhouse:// text
--   M.parse(s)                  -> target {user=, host=, port=, database=, cluster=, nodes=, secure=,
--                                  display="clickhouse://user@host:port/db"} | raises a usage error
--   M.open(s, {role="reader"|"writer", timeout=, memory=, password=}) -> conn
--   conn:query(sql [, binds])   -> rows (arrays in column order, NULL = cjson.null), cols
--                                  (binds are bound by ipe.dialect.clickhouse, never by hand)
--   conn:exec(sql [, binds [, {settings=, no_database=}]]) statements without a result
--   conn:insert(table, body, format) POSTs rows (JSONEachRow) as one INSERT
--   conn:on_node(i)             -> a connection to node i of nodes= (schema changes)
--   conn:for_script(label, memory) -> a copy for one script (ipe.runner)
--   conn:set_deadline(s), conn:set_memory(bytes), conn:set_script(label), conn:close()
-- A reader sends readonly=1 with every statement, so the server refuses any write.
-- Budgets travel as settings: max_execution_time (the script's time left) and
-- max_memory_usage. 64-bit integers come back exact: a number when it fits a double,
-- else its decimal text. Errors: one line, "clickhouse HOST:PORT: <the server's
-- message> (<script>)" — the credentials never appear in it.
local cjson = require "cjson"
local dialect = require "ipe.dialect.clickhouse"
local errors = require "ipe.errors"

local M = {}

M.DEFAULT_PORT, M.SECURE_PORT = 8123, 8443
M.MAX_BYTES = 512 * 1024 * 1024
M.MAX_QUERY_SIZE, M.MAX_AST = 4 * 1024 * 1024, 1000000

function M.is_url(s) return type(s) == "string" and s:sub(1, 13) == "clickhouse://" end

local function bad(s, why) errors.usage("bad ClickHouse URL '%s': %s", s, why) end

local function url_decode(s) return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end

local function host_port(s, text, secure)
  local host, port = s:match("^%[([%x:%.]+)%]:?(%d*)$")
  if host then host = "[" .. host .. "]" else host, port = s:match("^([%w%.%-_]+):?(%d*)$") end
  if not host or host == "" then bad(text, "expected host[:port]") end
  port = port ~= "" and tonumber(port) or (secure and M.SECURE_PORT or M.DEFAULT_PORT)
  if port < 1 or port > 65535 then bad(text, "port out of range") end
  return host, port
end

function M.parse(s)
  if not M.is_url(s) then bad(tostring(s), "it must start with clickhouse://") end
  local rest = s:sub(14)
  -- the text shown in messages: never what may be a password
  local shown = "clickhouse://" .. rest:gsub("^[^@/]*:[^@/]*@", "***@")
  local auth, hostpart, path, query = rest:match("^([^@/]*@)([^/?]*)(/?[^?]*)%??(.*)$")
  if not auth then auth, hostpart, path, query = "", rest:match("^([^/?]*)(/?[^?]*)%??(.*)$") end
  if not hostpart then bad(shown, "expected clickhouse://[user@]host[:port]/database") end
  local user = auth:sub(1, -2)
  if user:find(":", 1, true) then
    bad(shown, "put the password in IPE_CLICKHOUSE_PASSWORD or the config file, not in the URL")
  end
  user = user ~= "" and url_decode(user) or "default"
  local t = { user = user, cluster = nil, nodes = {}, secure = false }
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([%w_]+)=(.*)$")
    if k == "cluster" and v:match("^[%w_]+$") then t.cluster = v
    elseif k == "nodes" and v ~= "" then t.nodes_text = v
    elseif k == "secure" and (v == "1" or v == "0") then t.secure = v == "1"
    else bad(shown, "unknown or bad setting '" .. pair .. "' (cluster=NAME, nodes=host:port,..., secure=1)") end
  end
  t.host, t.port = host_port(hostpart, shown, t.secure)
  local db = path:gsub("^/", "")
  if db == "" then db = "default" end
  if not db:match("^[%a_][%w_]*$") then bad(shown, "the database must be a plain name") end
  t.database = db
  for n in (t.nodes_text or ""):gmatch("[^,]+") do
    local h, p = host_port(n, shown, t.secure)
    t.nodes[#t.nodes + 1] = { host = h, port = p }
  end
  if #t.nodes > 0 and not t.cluster then bad(shown, "nodes= needs cluster=") end
  t.display = string.format("clickhouse://%s@%s:%d/%s", user, t.host, t.port, db)
  t.server = t.host .. ":" .. t.port
  return t
end

local function password(o)
  if o.password then return o.password end
  local env = require("ipe.proc").getenv("IPE_CLICKHOUSE_PASSWORD")
  if env then return env end
  local ok, cfg = pcall(function() return require("ipe.config").load() end)
  if ok then return cfg:get("workspace", "clickhouse_password") end
  return nil
end

local function ca_bundle()
  local ok, cfg = pcall(function() return require("ipe.config").load() end)
  return ok and cfg:get("workspace", "clickhouse_ca_bundle") or nil
end

local function urlenc(s) return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end)) end

-- 64-bit integer columns come back quoted: a number when exact, else the text
local INT64 = { Int64 = true, UInt64 = true, ["Nullable(Int64)"] = true, ["Nullable(UInt64)"] = true }

local function convert(meta, data)
  local big = {}
  for j, m in ipairs(meta) do if INT64[m.type] then big[#big + 1] = j end end
  if #big == 0 then return data end
  for _, row in ipairs(data) do
    for _, j in ipairs(big) do
      local v = row[j]
      if type(v) == "string" then
        local n = tonumber(v)
        if n and math.abs(n) < 2 ^ 53 then row[j] = n end
      end
    end
  end
  return data
end

local Conn = {}
Conn.__index = Conn

function M.open(s, o)
  o = o or {}
  local t = type(s) == "table" and s or M.parse(s)
  local pw = password(o)
  local c = setmetatable({ target = t, role = o.role or "reader", timeout = o.timeout or 60, memory = o.memory,
    dialect = "clickhouse", cluster = t.cluster }, Conn)
  -- the password stays in these closures: not a field to print, never in a message
  c.headers = function()
    local h = { ["X-ClickHouse-User"] = t.user }
    if pw and pw ~= "" then h["X-ClickHouse-Key"] = pw end
    return h
  end
  c.ca = t.secure and ca_bundle() or nil
  c.password = function() return pw end
  return c
end

function Conn:on_node(i)
  local n = self.target.nodes[i]
  local t = {}
  for k, v in pairs(self.target) do t[k] = v end
  t.host, t.port, t.server = n.host, n.port, n.host .. ":" .. n.port
  return M.open(t, { role = self.role, timeout = self.timeout, memory = self.memory, password = self.password() })
end

-- prepare(sql): what ipe-run sql asks of a reader before it runs a statement; the server
-- itself refuses writes (readonly=1), so the statement is sent as it is
function Conn:prepare(sql)
  if type(sql) ~= "string" then error("ctx.db:query expects SQL text", 2) end
  return { readonly = function() return self.role == "reader" end, finalize = function() end }
end

-- for_script(label, memory) -> a connection of its own for one script (same server and
-- password): its label in errors, its memory budget as max_memory_usage
function Conn:for_script(label, memory)
  local c = setmetatable({}, Conn)
  for k, v in pairs(self) do c[k] = v end
  c.script, c.memory = label, memory
  return c
end

function Conn:set_deadline(s) self.timeout = s end
function Conn:set_memory(bytes) self.memory = bytes end
function Conn:set_script(label) self.script = label end
function Conn:close() end
function Conn:readonly_guard() end

function Conn:fail(msg)
  msg = tostring(msg):gsub("%s+$", ""):gsub("\r?\n%s*", " ")
  msg = msg:gsub("^Code: (%d+), e%.displayText%(%) = DB::Exception: ", "Code %1: "):gsub(", e%.what%(%) = DB::Exception$", "")
  local pw = self.password()
  if pw and pw ~= "" then msg = msg:gsub((pw:gsub("%W", "%%%0")), "***") end
  if #msg > 400 then msg = msg:sub(1, 400) .. "..." end
  errors.failed("clickhouse %s: %s%s", self.target.server, msg, self.script and (" (" .. self.script .. ")") or "")
end

-- build(body, settings, query_text, no_database) -> an ipe.curl request (not sent)
function Conn:build(body, settings, query_text, no_database)
  local t = self.target
  local params = {}
  if not no_database then params[1] = "database=" .. t.database end
  if self.role == "reader" then params[#params + 1] = "readonly=1" end
  local secs = math.max(1, math.floor(self.timeout))
  params[#params + 1] = "max_execution_time=" .. secs
  -- a compiled KQL query nests each use of a let as a subquery (18.16 has no WITH tables): its
  -- text and syntax tree may pass the defaults (256 KiB, 50,000 and 500,000 elements)
  params[#params + 1] = "max_query_size=" .. M.MAX_QUERY_SIZE
  params[#params + 1] = "max_ast_elements=" .. M.MAX_AST
  params[#params + 1] = "max_expanded_ast_elements=" .. M.MAX_AST * 10
  if self.memory then params[#params + 1] = "max_memory_usage=" .. math.floor(self.memory) end
  for k, v in pairs(settings or {}) do params[#params + 1] = k .. "=" .. urlenc(tostring(v)) end
  if query_text then params[#params + 1] = "query=" .. urlenc(query_text) end
  table.sort(params)
  local url = string.format("%s://%s:%d/?%s", t.secure and "https" or "http", t.host, t.port, table.concat(params, "&"))
  return { method = "POST", url = url, body = body, headers = self.headers(), timeout = self.timeout + 5,
    connect_timeout = math.min(5, self.timeout + 5), max_bytes = M.MAX_BYTES, max_redirects = 0, ca_bundle = self.ca }
end

-- answer(response) -> its body, or a one-line error
function Conn:answer(res)
  if res.error then self:fail(res.error) end
  if res.status ~= 200 then self:fail(res.body ~= "" and res.body or ("HTTP status " .. res.status)) end
  return res.body
end

function Conn:request(body, settings, query_text, no_database)
  local req = self:build(body, settings, query_text, no_database)
  return self:answer(require("ipe.concurrent").perform_many({ req })[1])
end

function Conn:query(sql, binds)
  local final = dialect.bind(sql, binds)
  local body = self:request(final .. "\nFORMAT JSONCompact")
  local ok, doc = pcall(cjson.decode, body)
  if not ok or type(doc) ~= "table" then self:fail("unreadable answer: " .. body:sub(1, 80)) end
  local cols = {}
  for j, m in ipairs(doc.meta) do cols[j] = m.name end
  return convert(doc.meta, doc.data), cols
end

-- compile(sql) -> true | nil, message: what `ipe-run check` asks (SQLite prepares only). The
-- server parses and analyses the statement (every :name bound to NULL) and reads at most
-- one row: a statement it stops for reading more ("Code 158") compiled.
function Conn:compile(sql)
  local names, nulls = require("ipe.db").param_names(sql), {}
  for _, n in ipairs(names) do
    -- a LIMIT or OFFSET takes a number, never NULL
    local counted = sql:upper():find("LIMIT%s+:" .. n:upper() .. "%f[^%w_]") or sql:upper():find("OFFSET%s+:" .. n:upper() .. "%f[^%w_]")
    nulls[n] = counted and 1 or cjson.null
  end
  local ok, err = pcall(function()
    self:request(dialect.bind(sql, nulls) .. "\nFORMAT Null", { max_rows_to_read = 1, read_overflow_mode = "throw",
      max_result_rows = 1, result_overflow_mode = "break" })
  end)
  if ok then return true end
  local msg = errors.is(err) and err.msg or tostring(err)
  if msg:find(": Code 158: ", 1, true) then return true end
  return nil, (msg:gsub("^clickhouse [^ ]+: ", ""):gsub(" %([^()]*%)$", ""))
end

-- exec(sql, binds, {settings=, no_database=}): a statement without a result
function Conn:exec(sql, binds, o)
  o = o or {}
  self:request((dialect.bind(sql, binds)), o.settings, nil, o.no_database)
end

-- insert(table, body, settings): rows as JSON lines (JSONEachRow) in one INSERT
function Conn:insert(tname, body, settings)
  if not tname:match("^[%a_][%w_]*$") then error("clickhouse.insert: bad table name", 2) end
  self:request(body, settings, "INSERT INTO " .. tname .. " FORMAT JSONEachRow")
end

return M
