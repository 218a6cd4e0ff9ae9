-- ipe.verbs.ingest: ipe-run ingest — load logs and threat intel into the workspace.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local workspace = require "ipe.workspace"
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local fs = require "ipe.fs"
local proc = require "ipe.proc"
local timeutil = require "ipe.timeutil"
local escape = require "ipe.render.escape"
local textutil = require "ipe.textutil"
local detect = require "ipe.ingest.detect"
local load = require "ipe.ingest.load"

local M = {}

M.summary = "load logs, exports and threat-intel feeds into the workspace"
M.usage = [[
usage: ipe-run ingest [options] FILE... | -

Loads what analysts have into the workspace's Sentinel tables: Log Analytics /
Sentinel exports (CSV as the portal writes it, JSON arrays, JSON lines), CEF and
syslog lines, Windows event logs (OTRF Security-Datasets / winlogbeat JSON
lines), STIX 2.1 bundles, MISP events, IP blocklists and watchlists. The format
and the table are detected (extension, content, a Type column, the file name)
and said on stderr; a workspace that does not exist yet is created.

Each file goes in as one transaction: a malformed record aborts that file with
file:line and the reason, and nothing of it is written (other files still go
in). Duplicates are recognized by their records (table and mapped values, in any
format or column order): a file whose records were all ingested before is
refused, naming the ingest that loaded them; a file that overlaps loads only its
new records and says how many were skipped. A refused file changes nothing (a
workspace the run created is removed again); a read-only workspace (no write
permission bit on it or its folder, even for root) is refused in one line. An
interrupted ingest (even kill -9) leaves the workspace as it was before that
file; readers (page, insight, sql) keep working while it runs.

options:
  --table T         the table for CSV / JSON records (default: detected)
  --format F        csv, json, jsonl, cef, syslog, winevent, stix, misp,
                    blocklist or watchlist (default: detected)
  --search-key COL  a watchlist: COL is its SearchKey column (implies --format watchlist)
  --alias NAME      the watchlist alias (default: the file name without extension)
  --provider NAME   threat intel: the provider/source of the indicators
                    (default: the feed's own, else the file name)
  --confidence N    threat intel: confidence 0-100 when the feed has none
  --expires WHEN    threat intel: expiry when the feed has none — a duration
                    after the indicator's time (30d), a time, or never
                    (default: 30d for blocklists, never for STIX and MISP)
  --skip-bad        write the good records and reject the malformed ones: their
                    count and the first ten reasons on stderr
  --rejects FILE    with --skip-bad: every rejected record's reason, one per line
                    (created before anything is loaded, written atomically)
  --force           ingest records that were ingested before (duplicates rows),
                    and a file --table maps none of the columns of (into _Extra)
  --no-bulk         keep the table's indexes while loading a big file (by
                    default a file that at least doubles a table has its
                    indexes rebuilt once, before the commit: faster)
  --now TIME        the ingestion time (also $IPE_NOW): for rows without a time,
                    syslog years and blocklist expiry

formats and tables:
  CSV, JSON, JSON lines   --table, else the Type column, the file name
                          (SigninLogs.jsonl) or the columns. Columns map by name
                          ("TimeGenerated [UTC]" and RemotePort_string too); columns
                          the table lacks are kept as JSON in its _Extra column.
                          Times like "8/5/2020, 2:09:26.123 AM" are read (UTC).
  CEF (bare or after a syslog header)       -> CommonSecurityLog
  RFC 3164 / RFC 5424 syslog                -> Syslog
  Windows events: Security channel          -> SecurityEvent
                  Sysmon EventID 3          -> DeviceNetworkEvents (other events
                                               have no table: counted as skipped)
  STIX 2.1, MISP, blocklists                -> ThreatIntelligenceIndicator, one
                                               row per IP, CIDR, domain, URL, hash
  watchlist CSV (--search-key)              -> Watchlist
IP values are normalized: IPv6 compressed and lower case, IPv4-mapped IPv6 as
IPv4, "1.2.3.4:80" and "[2001:db8::1]:443" split into address and port. An IP
column holds an address or nothing ("-" is nothing): other values ("300.1.1.1",
"1.2.3") are kept in _Extra and counted on the summary line.

Records are limited to 1 MiB, JSON documents to 1 GiB; input must be UTF-8.

exit codes: 0 every file ingested, 1 a file failed or was refused (the others
were still ingested) or the workspace is read-only, 2 usage or bad option (an
unwritable --rejects), 3 an input file or the workspace is missing or is not one.
]]

M.options = { { { "table", arg = true }, { "format", arg = true }, { "search-key", arg = true }, { "alias", arg = true },
  { "provider", arg = true }, { "confidence", arg = true }, { "expires", arg = true }, { "skip-bad" },
  { "rejects", arg = true }, { "force" }, { "no-bulk" } } }

local function say(msg) io.stderr:write("ipe-run: ingest: ", textutil.visible(msg), "\n") end

local function check_options(opts)
  if opts.format and not detect.is_format(opts.format) then
    errors.usage("ingest: unknown format '%s' (use %s)", textutil.visible(opts.format), table.concat(detect.FORMATS, ", "))
  end
  if opts.table and not schema.table(opts.table) then
    local names = {}
    for i, t in ipairs(schema.tables) do names[i] = t.name end
    errors.usage("ingest: unknown table '%s' (tables: %s)", textutil.visible(opts.table), table.concat(names, ", "))
  end
  if opts.search_key then
    if opts.format and opts.format ~= "watchlist" then
      errors.usage("ingest: --search-key is for watchlists, not --format %s", opts.format)
    end
    opts.format = "watchlist"
  end
  if opts.format == "watchlist" and not opts.search_key then
    errors.usage("ingest: a watchlist needs --search-key COL (the column that holds the key, e.g. an IP)")
  end
  local fixed = opts.format and detect.FIXED[opts.format]
  if opts.table and fixed and (opts.table ~= fixed or opts.format == "winevent") then
    errors.usage("ingest: --format %s writes %s; --table %s does not apply", opts.format,
      detect.ANNOUNCE[opts.format] or fixed, opts.table)
  end
  if opts.rejects and not opts.skip_bad then errors.usage("ingest: --rejects FILE needs --skip-bad") end
  if opts.confidence then
    local n = tonumber(opts.confidence)
    if not n or n < 0 or n > 100 or opts.confidence:find("[^%d%.]") then
      errors.usage("ingest: --confidence must be a number from 0 to 100, got '%s'", textutil.visible(opts.confidence))
    end
    opts.confidence_value = n
  end
  if opts.expires then
    local e = opts.expires
    if e ~= "never" then
      local span = timeutil.parse_duration(e)
      if span then
        opts.expires_span = span
      else
        local t = timeutil.parse_time(e)
        if not t then
          errors.usage("ingest: --expires must be a duration (30d), a time or never, got '%s'", textutil.visible(e))
        end
        opts.expires_at = timeutil.format_time(t)
      end
    else
      opts.expires_never = true
    end
  end
end

local function check_files(files)
  if #files == 0 then errors.usage("ingest: no input; give FILE... or - for standard input") end
  local stdin = 0
  for _, f in ipairs(files) do
    if f == "-" then
      stdin = stdin + 1
      if stdin > 1 then errors.usage("ingest: standard input (-) can be read only once") end
    else
      local st = fs.stat(f)
      if not st then errors.not_found("ingest: %s does not exist", textutil.visible(f)) end
      if st.type == "dir" then errors.not_found("ingest: %s is a directory, not a file", textutil.visible(f)) end
    end
  end
end

-- missing_dirs(dir) -> the folders of dir that do not exist yet, deepest first
local function missing_dirs(dir)
  local list = {}
  while dir and dir ~= "" and not fs.stat(dir) do
    list[#list + 1] = dir
    dir = dir:match("^(.*)/[^/]*$")
  end
  return list
end

-- discard(ws): remove a workspace this run created and nothing went into (with the
-- folders made for it): a refused ingest leaves no trace
local function discard(ws)
  for _, s in ipairs({ "", "-wal", "-shm", "-journal" }) do fs.remove(ws.path .. s) end
  for _, d in ipairs(ws.dirs) do fs.remove(d) end
end

-- open_workspace(path) -> {db=, path=, created=, dirs=}: a writable connection (the
-- workspace is created when missing). Nothing is written to a file that is refused:
-- read-only (workspace.read_only: mode bits, honoured for root too), foreign or newer.
local function open_workspace(path, opts)
  if require("ipe.clickhouse").is_url(path) then
    -- ClickHouse: no indexes to drop, no transactions (ipe.ingest.clickhouse makes a file
    -- atomic by its id); a workspace made here is not removed again (it is a database)
    opts.no_bulk = true
    local db, created = require("ipe.ingest.clickhouse").open(path)
    if created then say("created the workspace " .. db.conn.target.display) end
    return { path = path, created = false, dirs = {}, db = db }
  end
  local ws = { path = path, created = false, dirs = {} }
  local ro = workspace.read_only(path)
  if ro then
    errors.failed("ingest: the workspace %s is read-only (%s); nothing was changed", textutil.visible(path), ro)
  end
  local db, err
  if not fs.stat(path) then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      ws.dirs = missing_dirs(dir)
      local ok, e = fs.mkdir_p(dir, 448)
      if not ok then errors.not_found("ingest: cannot create %s", textutil.visible(e)) end
    end
    db, err = sqlite.open(path, "rwc")
    ws.created = true
  else
    workspace.check(path)
    db, err = sqlite.open(path, "rw")
  end
  if not db then
    if ws.created then discard(ws) end
    errors.not_found("ingest: cannot open workspace %s: %s", textutil.visible(path), textutil.visible(err))
  end
  local ok, e = pcall(function()
    db:exec("PRAGMA busy_timeout = 60000")
    schema.migrate(db)
    load.ensure(db)
  end)
  if not ok then
    db:close()
    if ws.created then discard(ws) end
    local msg = tostring(type(e) == "table" and e.msg or e):gsub("^sqlite: ", "")
    if msg:find("locked", 1, true) or msg:find("busy", 1, true) then
      errors.failed("ingest: the workspace %s is locked by another writer; try again", textutil.visible(path))
    end
    if msg:find("readonly", 1, true) then
      errors.failed("ingest: the workspace %s is read-only (%s); nothing was changed", textutil.visible(path), msg)
    end
    errors.not_found("ingest: %s: %s", textutil.visible(path), msg)
  end
  -- temp_store FILE, not MEMORY: with MEMORY SQLite sorts everything in one in-memory run,
  -- which the bulk index and rollup rebuilds pay for (see ipe.rollup.sqlite's sorting)
  db:exec("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; PRAGMA temp_store = FILE")
  ws.db = db
  if ws.created then say("created the workspace " .. path) end
  return ws
end

-- open_rejects(path): --rejects is created before anything is loaded (an unwritable
-- path fails first, with nothing written); the final list replaces it at the end
local function open_rejects(path)
  local ok, err = fs.write_atomic(path, "")
  if not ok then errors.usage("ingest: cannot write the rejects file: %s", textutil.visible(tostring(err))) end
end

-- progress_bar() -> tick(src, rows), done() redrawing one line on stderr, or
-- nothing when stderr is not a terminal
local function progress_bar()
  if not proc.isatty(2) then return nil, nil end
  local last, start, drawn = 0, proc.monotonic(), false
  local function tick(src, rows)
    local now = proc.monotonic()
    if now - last < 0.2 then return end
    last = now
    local rate = rows / math.max(now - start, 0.001)
    local name = escape.truncate(textutil.visible(src.name), 30)
    local line
    if src.size and src.size > 0 then
      local pct = math.min(100, math.floor(src:progress() * 100 / src.size))
      local filled = math.floor(pct * 30 / 100)
      line = string.format("\r  %s [%s%s] %3d%% %d rows %.0f rows/s ", name, string.rep("#", filled),
        string.rep(".", 30 - filled), pct, rows, rate)
    else
      line = string.format("\r  %s %d rows %.0f rows/s ", name, rows, rate)
    end
    io.stderr:write(line)
    drawn = true
  end
  local function done()
    if drawn then io.stderr:write("\r\27[K") end
    drawn, start = false, proc.monotonic()
  end
  return tick, done
end

local function summary_line(res)
  local parts = {}
  for i, t in ipairs(res.tables) do parts[i] = t end
  local into
  if #res.tables == 1 then
    into = res.tables[1]
  else
    local list = {}
    for i, t in ipairs(res.tables) do list[i] = t .. " (" .. res.counts[t] .. ")" end
    into = table.concat(list, ", ", 1, #list - 1) .. " and " .. list[#list]
  end
  local line = string.format("%s: %s into %s", textutil.visible(res.name), load.plural(res.rows, "row"), into)
  if res.rejected > 0 then line = line .. string.format(", %d rejected", res.rejected) end
  if res.skipped > 0 then line = line .. string.format(", %d skipped", res.skipped) end
  if res.duplicates > 0 then line = line .. string.format(", %d already ingested", res.duplicates) end
  if (res.not_ip or 0) > 0 then
    line = line .. (res.not_ip == 1 and ", 1 value was not an IP address" or
      string.format(", %d values were not IP addresses", res.not_ip)) .. ": kept in _Extra"
  end
  return line
end

local function report_details(res, opts)
  local name = res.name
  table.sort(res.fallback, function(a, b) return a[1] .. a[2] < b[1] .. b[2] end)
  for _, f in ipairs(res.fallback) do
    if f[2] == "the ingestion time" then
      say(string.format("%s: %s of %s had no TimeGenerated: set to the ingestion time", name,
        load.plural(f[3], "row"), f[1]))
    else
      say(string.format("%s: %s of %s had no TimeGenerated: taken from %s", name, load.plural(f[3], "row"), f[1], f[2]))
    end
  end
  if res.skipped > 0 then
    local list = {}
    for what, n in pairs(res.skips) do list[#list + 1] = { what, n } end
    table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
    local parts = {}
    for i, s in ipairs(list) do parts[i] = s[1] .. " (" .. s[2] .. ")" end
    say(string.format("%s: %s skipped: %s", name, load.plural(res.skipped, "record"), table.concat(parts, ", ")))
  end
  if res.duplicates > 0 then
    say(string.format("%s: %d of %s were already loaded by %s: not loaded again (--force loads them)", name,
      res.duplicates, load.plural(res.rows + res.duplicates, "record"), res.duplicates_of))
  end
  if res.rejected > 0 then
    say(string.format("%s: %s rejected%s%s", name, load.plural(res.rejected, "record"),
      res.rejected > 10 and " (the first ten below)" or "", opts.rejects and ("; all in " .. opts.rejects) or ""))
    for _, r in ipairs(res.first) do io.stderr:write("  ", textutil.visible(r), "\n") end
  end
end

function M.run(opts, pos)
  check_options(opts)
  check_files(pos)
  local now = common.now(opts)
  if opts.rejects then open_rejects(opts.rejects) end
  local ws = open_workspace(workspace.path(opts.db), opts)
  local db = ws.db
  local tick, done = progress_bar()
  local run = { db = db, opts = opts, now = now, now_text = timeutil.format_time(now), say = say, rejects = {},
    mappers = {}, progress = tick }
  local failed, loaded = false, 0
  for _, path in ipairs(pos) do
    local ok, res = xpcall(load.ingest_file, function(e)
      if type(e) == "table" then return e end
      return debug.traceback(tostring(e), 2)
    end, run, path)
    if done then done() end
    if ok then
      loaded = loaded + 1
      io.stdout:write(summary_line(res), "\n")
      report_details(res, opts)
    else
      failed = true
      if type(res) == "table" and res.file_error then
        io.stderr:write("ipe-run: ingest: ", textutil.visible(res.msg), "\n")
      else
        local msg = tostring(type(res) == "table" and res.msg or res)
        if not opts.verbose then msg = msg:match("[^\n]*") end
        io.stderr:write("ipe-run: ingest: ", textutil.visible(path == "-" and "<stdin>" or path), ": ",
          textutil.visible(msg:gsub("^sqlite: ", "")), "\n")
      end
    end
    io.stdout:flush()
  end
  db:close()
  if ws.created and loaded == 0 then
    discard(ws)
    say("nothing was ingested: the new workspace " .. ws.path .. " is removed again")
  end
  if opts.rejects then
    local text = #run.rejects > 0 and (table.concat(run.rejects, "\n") .. "\n") or ""
    local ok, err = fs.write_atomic(opts.rejects, text)
    if not ok then
      io.stderr:write("ipe-run: ingest: cannot write the rejects file: ", textutil.visible(tostring(err)), "\n")
      failed = true
    end
  end
  return failed and errors.NO_RESULT or 0
end

return M
