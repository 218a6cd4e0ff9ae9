-- ipe.intel.quota: per-provider rate limits, Retry-After blocks and circuit
-- breakers, shared by every ipe-run process of the user.
--
-- State lives in a small SQLite file ($XDG_STATE_HOME/ipe/intel-state.db,
-- default ~/.local/state/ipe/intel-state.db). Every decision is one
-- BEGIN IMMEDIATE transaction, so concurrent processes (a page runs its
-- insights in parallel workers) take their turns instead of racing.
--
-- Rate limit: at most `limit` requests in any `period` seconds. acquire()
-- reserves the earliest slot that keeps that promise — possibly in the future —
-- and says how long to wait for it; a slot further away than max_wait is not
-- reserved (the caller reports rate_limited instead of waiting past its deadline).
--
-- Breaker: `threshold` consecutive failures open the circuit for `cooldown`
-- seconds. After the cool-down one request (the probe) may go; its success
-- closes the circuit, its failure opens it again.
--
--   q, err = quota.open(path)            nil, "one line" when the file cannot be used
--   d = q:admit(provider, {limit=, period=} | nil, now, max_wait, cooldown)
--        the breaker and the rate limit in one transaction:
--        {wait = s} (a slot is reserved) | {open_until = t} (breaker open) |
--        {need = s, why = "quota" | "retry_after"} (no slot before max_wait)
--   wait | nil, need, why = q:acquire(provider, rate, now, max_wait)     the rate limit alone
--   open_until | nil = q:breaker(provider, now, cooldown)                the breaker alone
--   q:block(provider, until_epoch)       a 429's Retry-After
--   q:success(provider); q:failure(provider, now, threshold, cooldown) -> failures, open_until|nil
local sqlite = require "ipe.sqlite"
local fs = require "ipe.fs"

local M = {}

local SCHEMA = {
  "CREATE TABLE IF NOT EXISTS slots (provider TEXT NOT NULL, at REAL NOT NULL)",
  "CREATE INDEX IF NOT EXISTS slots_provider_at ON slots (provider, at)",
  [[CREATE TABLE IF NOT EXISTS providers (provider TEXT PRIMARY KEY, blocked_until REAL NOT NULL DEFAULT 0,
      failures INTEGER NOT NULL DEFAULT 0, open_until REAL NOT NULL DEFAULT 0)]],
}

function M.default_path()
  return require("ipe.xdg").dir("state") .. "/intel-state.db"
end

local Quota = {}
Quota.__index = Quota

function M.open(path)
  path = path or M.default_path()
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then fs.mkdir_p(dir, 448) end -- 0700
  local db, err = sqlite.open(path, "rwc")
  if not db then return nil, "rate-limit state " .. path .. ": " .. tostring(err) end
  local ok, e = pcall(function()
    db:exec("PRAGMA journal_mode=WAL")
    db:exec("PRAGMA synchronous=NORMAL") -- WAL + NORMAL: no fsync per decision, never corrupt
    for _, sql in ipairs(SCHEMA) do db:exec(sql) end
  end)
  if not ok then
    db:close()
    return nil, "rate-limit state " .. path .. ": " .. tostring(e)
  end
  return setmetatable({ db = db, path = path }, Quota)
end

-- Run fn inside BEGIN IMMEDIATE; roll back on error and re-raise.
local function atomically(db, fn)
  db:exec("BEGIN IMMEDIATE")
  local ok, a, b, c = pcall(fn)
  if not ok then
    pcall(db.exec, db, "ROLLBACK")
    error(a, 0)
  end
  db:exec("COMMIT")
  return a, b, c
end

local function state(db, provider)
  local rows = db:query("SELECT blocked_until, failures, open_until FROM providers WHERE provider = ?", { provider })
  if #rows == 0 then
    db:query("INSERT INTO providers (provider) VALUES (?)", { provider })
    return { blocked_until = 0, failures = 0, open_until = 0 }
  end
  return { blocked_until = rows[1][1], failures = rows[1][2], open_until = rows[1][3] }
end

local function reserve(db, st, provider, rate, now, max_wait)
  local t, why = now, nil
  if st.blocked_until > t then t, why = st.blocked_until, "retry_after" end
  if rate then
    db:query("DELETE FROM slots WHERE provider = ? AND at <= ?", { provider, now - rate.period })
    local rows = db:query("SELECT at FROM slots WHERE provider = ? ORDER BY at", { provider })
    local n = #rows
    if n >= rate.limit then
      local free = rows[n - rate.limit + 1][1] + rate.period
      if free > t then t, why = free, "quota" end
    end
    if n > 0 and rows[n][1] > t then t = rows[n][1] end
  end
  local wait = t - now
  if wait > max_wait then return nil, wait, why or "quota" end
  if rate then db:query("INSERT INTO slots (provider, at) VALUES (?, ?)", { provider, t }) end
  return wait
end

local function breaker(db, st, provider, now, cooldown)
  if st.open_until > now then return st.open_until end
  if st.open_until > 0 then
    -- half-open: this request is the probe; the others wait out another cool-down
    db:query("UPDATE providers SET open_until = ? WHERE provider = ?", { now + cooldown, provider })
  end
  return nil
end

function Quota:acquire(provider, rate, now, max_wait)
  local db = self.db
  return atomically(db, function() return reserve(db, state(db, provider), provider, rate, now, max_wait) end)
end

-- The provider's state without taking the write lock (nil: never seen).
local function peek(db, provider)
  local rows = db:query("SELECT blocked_until, failures, open_until FROM providers WHERE provider = ?", { provider })
  if #rows == 0 then return nil end
  return { blocked_until = rows[1][1], failures = rows[1][2], open_until = rows[1][3] }
end

function Quota:admit(provider, rate, now, max_wait, cooldown)
  local db = self.db
  if not rate then -- no rate limit: only a block or an open breaker needs the write lock
    local st = peek(db, provider)
    if not st or (st.blocked_until <= now and st.open_until == 0) then return { wait = 0 } end
  end
  return atomically(db, function()
    local st = state(db, provider)
    local open_until = breaker(db, st, provider, now, cooldown)
    if open_until then return { open_until = open_until } end
    local wait, need, why = reserve(db, st, provider, rate, now, max_wait)
    if not wait then return { need = need, why = why } end
    return { wait = wait }
  end)
end

function Quota:block(provider, until_epoch)
  local db = self.db
  atomically(db, function()
    local st = state(db, provider)
    if until_epoch > st.blocked_until then
      db:query("UPDATE providers SET blocked_until = ? WHERE provider = ?", { until_epoch, provider })
    end
  end)
end

function Quota:breaker(provider, now, cooldown)
  local db = self.db
  return atomically(db, function() return breaker(db, state(db, provider), provider, now, cooldown) end)
end

function Quota:success(provider)
  local db = self.db
  local st = peek(db, provider)
  if not st or (st.failures == 0 and st.open_until == 0) then return end
  atomically(db, function()
    state(db, provider)
    db:query("UPDATE providers SET failures = 0, open_until = 0 WHERE provider = ?", { provider })
  end)
end

function Quota:failure(provider, now, threshold, cooldown)
  local db = self.db
  return atomically(db, function()
    local st = state(db, provider)
    local failures = st.failures + 1
    local open_until = failures >= threshold and now + cooldown or 0
    db:query("UPDATE providers SET failures = ?, open_until = ? WHERE provider = ?", { failures, open_until, provider })
    return failures, open_until > 0 and open_until or nil
  end)
end

function Quota:close()
  if self.db then self.db:close() end
  self.db = nil
end

return M
