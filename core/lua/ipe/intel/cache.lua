-- ipe.intel.cache: the provider answers kept in the workspace (_ipe_intel_cache).
--
-- Insights read the workspace through a read-only connection (ctx.db). The
-- cache reads through that same connection when it is given as `reader` (one
-- connection, one schema parse per worker; the read shows in --show-query)
-- and writes through its own connection, opened on the first write and shared
-- by every cache object of the process for that workspace — this module is
-- trusted runtime code. A workspace that cannot be written
-- (read-only file, locked for too long) still answers from the cache: put()
-- then reports why it did not store.
--
--   c = cache.open(db_path [, {reader = function(sql, binds) -> rows}]) | nil, "no workspace"
--   row = c:get(provider, ip)   {status=, fetched_at=epoch, expires_at=epoch, result=table} | nil
--   ok, err = c:put(provider, ip, result, fetched_at, ttl)
--   c:prepare()                 open the writable connection ahead of a put
--   c:close()
local sqlite = require "ipe.sqlite"
local cjson = require "cjson.safe"
local timeutil = require "ipe.timeutil"

local M = {}

M.GET = "SELECT Status, FetchedAt, ExpiresAt, Result FROM _ipe_intel_cache WHERE Provider = :provider AND IP = :ip"
local PUT = "INSERT OR REPLACE INTO _ipe_intel_cache (Provider, IP, Status, FetchedAt, ExpiresAt, Result) " ..
            "VALUES (:provider, :ip, :status, :fetched, :expires, :result)"

local Cache = {}
Cache.__index = Cache

function M.open(path, opts)
  if not path then return nil, "no workspace" end
  return setmetatable({ path = path, reader = opts and opts.reader }, Cache)
end

-- The writable connections, one per workspace and process (the scripts a worker runs
-- together share it: opening one parses the schema); keyed by pid too, so none crosses a fork.
local writers = {}

local function open_writer(path)
  local ro = require("ipe.workspace").read_only(path)
  if ro then return { why = "the workspace is read-only (" .. ro .. "): answers are not cached" } end
  local db, err = sqlite.open(path, "rw")
  if not db then return { why = "cannot open the workspace for the cache: " .. tostring(err) } end
  pcall(db.exec, db, "PRAGMA synchronous=NORMAL") -- a cache need not fsync each answer
  -- the table is made on first write (a read-only run loads no migration code)
  local ok, e = pcall(require("ipe.migrations.intel").up, db)
  return { db = db, why = not ok and tostring(e) or nil }
end

-- The writable connection, opened (and the table created) on first use.
local function writer(self)
  if self.db == nil then
    self.key = require("ipe.proc").pid() .. "\0" .. self.path
    local w = writers[self.key]
    if not w then
      w = open_writer(self.path)
      writers[self.key] = w
    end
    self.db, self.why = w.db or false, w.why
  end
  return self.db or nil
end

-- Open the writable connection now (e.g. while a request is in flight).
function Cache:prepare() writer(self) end

function Cache:get(provider, ip)
  local binds = { provider = provider, ip = ip }
  local ok, rows
  if self.reader then
    ok, rows = pcall(self.reader, M.GET, binds)
  else
    local db = writer(self)
    if not db then return nil end
    ok, rows = pcall(db.query, db, M.GET, binds)
  end
  if not ok or #rows == 0 then return nil end -- no such table yet: nothing cached
  local r = rows[1]
  local result = cjson.decode(r[4])
  local fetched, expires = timeutil.parse_workspace_time(r[2]), timeutil.parse_workspace_time(r[3])
  if type(result) ~= "table" or not fetched or not expires then return nil end
  return { status = r[1], fetched_at = fetched, expires_at = expires, result = result }
end

function Cache:put(provider, ip, result, fetched_at, ttl)
  local db = writer(self)
  if not db then return nil, self.why end
  local text = cjson.encode(result)
  if not text then return nil, "the answer cannot be stored as JSON" end
  local ok, err = pcall(db.query, db, PUT, { provider = provider, ip = ip, status = result.status,
    fetched = timeutil.format_time(fetched_at), expires = timeutil.format_time(fetched_at + ttl), result = text })
  if not ok then return nil, tostring(err) end
  return true
end

-- close(): the connection goes (for every cache object of this workspace in this process).
function Cache:close()
  if self.db then
    self.db:close()
    writers[self.key] = nil
  end
  self.db = nil
end

return M
