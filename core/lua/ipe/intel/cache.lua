-- ipe.intel.cache: the provider answers kept in the workspace (_ipe_intel_cache).
--
-- Insights read the workspace through a read-only connection; this module is
-- trusted runtime code and writes through its own connection. A workspace
-- that cannot be written (read-only file, locked for too long) still works:
-- the cache then only reads, and put() reports why it did not store.
--
--   c, err = cache.open(db_path)          nil, "one line" when the file cannot be opened
--   row = c:get(provider, ip)             {status=, fetched_at=epoch, expires_at=epoch, result=table} | nil
--   ok, err = c:put(provider, ip, result, fetched_at, ttl)
--   c:close()
local sqlite = require "ipe.sqlite"
local cjson = require "cjson.safe"
local timeutil = require "ipe.timeutil"
local v2 = require "ipe.migrations.v2_intel"

local M = {}

local Cache = {}
Cache.__index = Cache

local function table_exists(db)
  local ok, rows = pcall(db.query, db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", { v2.TABLE })
  return ok and #rows > 0
end

function M.open(path)
  if not path then return nil, "no workspace" end
  local db, err = sqlite.open(path, "rw")
  if not db then
    db, err = sqlite.open(path, "ro")
    if not db then return nil, "cannot open the workspace for the cache: " .. tostring(err) end
    return setmetatable({ db = db, writable = false, ready = table_exists(db) }, Cache)
  end
  local c = setmetatable({ db = db, writable = true, ready = table_exists(db) }, Cache)
  if not c.ready then
    local ok, e = pcall(v2.up, db)
    if ok then c.ready = true else c.writable, c.why = false, tostring(e) end
  end
  return c
end

function Cache:get(provider, ip)
  if not self.ready then return nil end
  local ok, rows = pcall(self.db.query, self.db,
    "SELECT Status, FetchedAt, ExpiresAt, Result FROM _ipe_intel_cache WHERE Provider = ? AND IP = ?", { provider, ip })
  if not ok or #rows == 0 then return nil end
  local r = rows[1]
  local result = cjson.decode(r[4])
  local fetched, expires = timeutil.parse_workspace_time(r[2]), timeutil.parse_workspace_time(r[3])
  if type(result) ~= "table" or not fetched or not expires then return nil end
  return { status = r[1], fetched_at = fetched, expires_at = expires, result = result }
end

function Cache:put(provider, ip, result, fetched_at, ttl)
  if not (self.writable and self.ready) then return nil, self.why or "the workspace is read-only" end
  local text = cjson.encode(result)
  if not text then return nil, "the answer cannot be stored as JSON" end
  local ok, err = pcall(self.db.query, self.db,
    "INSERT OR REPLACE INTO _ipe_intel_cache (Provider, IP, Status, FetchedAt, ExpiresAt, Result) " ..
    "VALUES (?, ?, ?, ?, ?, ?)",
    { provider, ip, result.status, timeutil.format_time(fetched_at), timeutil.format_time(fetched_at + ttl), text })
  if not ok then return nil, tostring(err) end
  return true
end

function Cache:close()
  if self.db then self.db:close() end
  self.db = nil
end

return M
