-- ipe.verbs.demo: ipe-run demo — build the demo workspace.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local fs = require "ipe.fs"
local proc = require "ipe.proc"
local timeutil = require "ipe.timeutil"

local M = {}

M.summary = "build a realistic, deterministic demo workspace"
M.usage = [[
usage: ipe-run demo [--events N] [--seed S] [--now TIME] [--db PATH] [--force]
       ipe-run demo --db clickhouse://[user@]host[:port]/db[?cluster=NAME] [...]

Builds a demo workspace for the organization "Contoso": hosts, users, firewall
traffic, Windows logons, Entra sign-ins, Office activity, sshd syslog, incidents
and alerts, threat-intel indicators, watchlists, bookmarks and anomalies — with
story IPs that every panel has something true to say about:
  89.160.20.128   a command-and-control server three hosts beacon to
  216.160.83.56   a password-spray source
  151.101.1.140   a busy, benign CDN address
  10.0.1.20       an internal database server
  45.33.32.156    a rare port (4444) and failed SSH logons
  10.0.4.99       a host sweeping 10.0.1.0/24
The events end at the moment it is built (or --now), so default windows show them.
The workspace is written to a temporary file and renamed into place: an
interrupted build leaves nothing behind. On ClickHouse the same rows (same --seed,
--events, --now) go in as one ingest, visible whole when the command returns.

options:
  --events N   how many events (default 100000, at least 10239; 10000000 works, for benchmarks)
  --seed S     the random seed (default 1); same seed, events and --now -> same rows
  --force      replace a workspace that is not a demo workspace (a demo workspace
               this command built, unchanged since, is replaced without it)
]]

M.options = { { { "events", arg = true }, { "seed", arg = true }, { "force" } } }

local function whole(text, what, min, max)
  local n = tonumber(text)
  if not n or n % 1 ~= 0 or n < min or n > max then
    errors.usage("demo: --%s must be a whole number from %d to %d, got '%s'", what, min, max, text)
  end
  return n
end

local function progress_bar()
  if not proc.isatty(2) then return nil end
  local last = -1
  return function(done, total)
    local pct = math.floor(done * 100 / math.max(total, 1))
    if pct == last then return end
    last = pct
    local filled = math.floor(pct * 30 / 100)
    io.stderr:write(string.format("\r  building [%s%s] %3d%% %d/%d events", string.rep("#", filled),
      string.rep(".", 30 - filled), pct, done, total))
    if done >= total then io.stderr:write("\n") end
  end
end

-- check_replace(path, force): a demo workspace (marked, rows as built) is replaced freely;
-- anything else only with --force.
local function check_replace(path, force)
  local st = fs.stat(path)
  if not st or force then return end
  local why = "not a demo workspace"
  if st.type == "file" then
    local db = sqlite.open(path, "ro")
    if db then
      local ok, demo, reason = pcall(require("ipe.demo").is_demo, db)
      db:close()
      if ok and demo then return end
      if ok and reason then why = reason end
    end
  end
  errors.usage("demo: %s is %s; refusing to replace it (add --force to replace it anyway, or choose another --db)",
    path, why)
end

-- build_sqlite(path, events, seed, now, progress) -> the open connection, the build summary:
-- the demo workspace written at path (raises; path is then half-written, the caller removes it)
local function build_sqlite(path, events, seed, now, progress)
  local db, err = sqlite.open(path, "rwc")
  if not db then errors.failed("demo: cannot create %s: %s", path, err) end
  local ok, summary = pcall(function()
    db:exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF")
    schema.migrate(db)
    db:exec("BEGIN")
    local demo = require "ipe.demo"
    local s = demo.build(db, { events = events, seed = seed, now = now, progress = progress })
    demo.mark(db, M.info(seed, events, now), require("ipe.geo").demo_files())
    db:exec("COMMIT")
    return s
  end)
  if not ok then db:close() error(summary, 0) end
  return db, summary
end

function M.info(seed, events, now)
  return string.format("Contoso, seed %d, %d events up to %s", seed, events, timeutil.format_time(now))
end

-- the demo on ClickHouse (ipe.clickhouse_demo): built in a temporary SQLite file, copied
local function clickhouse(url, opts, events, seed, now)
  local shown = require("ipe.clickhouse").parse(url).display
  local res = require("ipe.clickhouse_demo").build(url, { force = opts.force, info = M.info(seed, events, now),
    now_text = timeutil.format_time(now),
    sqlite_build = function(tmp) return (build_sqlite(tmp, events, seed, now, progress_bar())) end })
  local total = 0
  for _, n in pairs(res.rows) do total = total + n end
  io.stdout:write(string.format("demo workspace %s: %d rows, events up to %s (seed %d)\n", shown, total,
    timeutil.format_time(now), seed))
  io.stdout:write(string.format("try: ipe-run insight remote-connections 89.160.20.128 --db '%s'\n", url))
  return 0
end

function M.run(opts)
  local events = whole(opts.events or "100000", "events", require("ipe.demo").minimum_events(), 100000000)
  local seed = whole(opts.seed or "1", "seed", 0, 2 ^ 31)
  local now = common.now(opts)
  local path = workspace.path(opts.db)
  if require("ipe.clickhouse").is_url(path) then return clickhouse(path, opts, events, seed, now) end
  check_replace(path, opts.force)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = fs.mkdir_p(dir, 448)
    if not ok then errors.failed("demo: cannot create %s", err) end
  end
  local tmp = path .. ".building-" .. proc.pid()
  local ok, db, summary = pcall(build_sqlite, tmp, events, seed, now, progress_bar())
  if ok then
    ok, summary = pcall(function()
      db:exec("ANALYZE")
      db:exec("PRAGMA journal_mode=WAL")
      return summary
    end)
    db:close()
  else
    summary = db
  end
  if not ok then
    fs.remove(tmp)
    error(summary, 0)
  end
  for _, suffix in ipairs({ "-wal", "-shm" }) do fs.remove(path .. suffix) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then fs.remove(tmp) errors.failed("demo: cannot move the workspace into place: %s", rerr) end
  local total = 0
  for _, n in pairs(summary.rows or {}) do total = total + n end
  io.stdout:write(string.format("demo workspace %s: %d rows, events up to %s (seed %d)\n", path, total,
    timeutil.format_time(now), seed))
  io.stdout:write("try: ipe-run insight remote-connections 89.160.20.128\n")
  return 0
end

return M
