-- ipe.clickhouse_demo: ipe-run demo --db clickhouse://... — the same rows as the SQLite demo.
--
-- The demo is built by ipe.demo into a temporary SQLite file (the one generator: the same
-- --seed, --events and --now give the same rows on both engines), then copied row by row
-- through ipe.ingest.clickhouse's writer: one ingest (one _IngestId, committed by its
-- _ipe_ingest row after every batch is on its shard — insert_distributed_sync=1), so the
-- demo is visible whole when the command returns, or not at all.
--
-- Like the SQLite demo, a workspace that is a demo this command built (its _ipe_meta 'demo'
-- mark, with the row counts it was built with) is replaced freely — every table emptied on
-- every node (TRUNCATE) first; one holding anything else (rows ingested, actions run) only
-- with --force. An empty workspace is used as it is; a missing one is created (migrated).
--
--   M.fingerprint(conn) -> "Table=count,..." (as ipe.demo.fingerprint on SQLite)
--   M.copy(w, db, info) -> rows per table: db's Sentinel rows into the writer w
--   M.build(url, o)     o = {events=, seed=, now=, force=, sqlite_build=fn(path)} -> summary
local chschema = require "ipe.clickhouse_schema"
local chingest = require "ipe.ingest.clickhouse"
local schema = require "ipe.schema"
local errors = require "ipe.errors"

local M = {}

-- ipe's own tables whose rows are the user's (as ipe.demo's OWN_TABLES), and the tables
-- emptied when a demo is replaced
local OWN = { "_ipe_ingest", "_ipe_audit", "_ipe_ip_ranges" }
local EMPTIED = { "_ipe_ingest", "_ipe_ingest_pending", "_ipe_audit", "_ipe_ip_ranges_versions" }

function M.fingerprint(conn)
  local names = {}
  for _, t in ipairs(schema.tables) do names[#names + 1] = t.name end
  for _, t in ipairs(OWN) do names[#names + 1] = t end
  table.sort(names)
  local parts = {}
  for i, n in ipairs(names) do parts[i] = "SELECT " .. i .. " AS k, count() AS n FROM " .. n end
  local counts = {}
  for _, r in ipairs(conn:query(table.concat(parts, " UNION ALL "))) do counts[r[1]] = r[2] end
  local out = {}
  for i, n in ipairs(names) do out[i] = n .. "=" .. string.format("%d", counts[i] or 0) end
  return table.concat(out, ",")
end

local function mark_of(conn)
  local rows = conn:query("SELECT argMax(value, Version) FROM _ipe_meta WHERE key = :k", { k = require("ipe.demo").MARK_KEY })
  local v = rows[1] and rows[1][1]
  return v ~= "" and v or nil
end

-- replace(conn, path_shown, force): empty a demo workspace (or any, with --force); refuse else
local function replace(conn, shown, force)
  local fp = M.fingerprint(conn)
  local empty = not fp:find("=[1-9]")
  if empty then return end
  if not force then
    local mark = mark_of(conn)
    local why = not mark and "not a demo workspace"
      or (mark:match("; rows (.*)$") ~= fp and "a demo workspace with data added or removed since it was built")
    if why then
      errors.usage("demo: %s is %s; refusing to replace it (add --force to replace it anyway, or choose another --db)",
        shown, why)
    end
  end
  local nodes, on_cluster = chschema.targets(conn)
  for _, node in ipairs(nodes) do
    local on = on_cluster and (" ON CLUSTER " .. conn.target.cluster) or ""
    local names = {}
    for _, t in ipairs(schema.tables) do names[#names + 1] = t.name end
    for _, t in ipairs(EMPTIED) do names[#names + 1] = t end
    -- the per-IP rollups (ipe.rollup.clickhouse) count the rows of the tables emptied
    for _, r in ipairs(require("ipe.rollup").NAMES) do names[#names + 1] = "_ipe_ip_" .. r end
    for _, n in ipairs(names) do node:exec("TRUNCATE TABLE IF EXISTS " .. n .. "_local" .. on) end
  end
end

-- copy(w, db, info) -> rows per table: every Sentinel row of the SQLite demo db, in rowid
-- order, through the writer's INSERT path; the ingest log row (info) commits them
function M.copy(w, db, info)
  local counts, total = {}, 0
  w:exec("BEGIN IMMEDIATE")
  local ok, err = pcall(function()
    for _, t in ipairs(schema.tables) do
      local cols = {}
      for i, c in ipairs(t.columns) do cols[i] = c.name end
      local n = db:query("SELECT count(*) FROM " .. t.name)[1][1]
      if n > 0 then
        local ins = w:prepare("INSERT INTO " .. t.name .. " (" .. table.concat(cols, ", ") .. ") VALUES")
        local st = db:prepare("SELECT " .. table.concat(cols, ", ") .. " FROM " .. t.name .. " ORDER BY rowid")
        while true do
          local row = st:step()
          if not row then break end
          ins:run(unpack(row, 1, #cols))
        end
        st:finalize()
        counts[t.name] = n
        total = total + n
      end
    end
    local names = {}
    for name in pairs(counts) do names[#names + 1] = name end
    table.sort(names)
    w:prepare("INSERT INTO _ipe_ingest (ContentHash, Path, Format, TableName, Tables, Rows, Rejected, Skipped, Bytes, "
      .. "IngestedAt) VALUES"):run("demo:" .. info.text, "(ipe-run demo)", "demo", "", table.concat(names, ","), total,
      0, 0, 0, info.now)
    w:exec("COMMIT")
  end)
  if not ok then
    pcall(w.exec, w, "ROLLBACK")
    error(err, 0)
  end
  return counts
end

-- build(url, o) -> {rows = {table = n}}: o.sqlite_build(path) builds the SQLite demo at path
-- (ipe.verbs.demo's builder), o.info the demo's description, o.now_text its time
function M.build(url, o)
  local w, created = chingest.open(url)
  local conn = w.conn
  local shown = conn.target.display
  if not created then replace(conn, shown, o.force) end
  local fs = require "ipe.fs"
  local dir = require("ipe.proc").getenv("TMPDIR")
  local tmp = (dir and dir ~= "" and dir or "/tmp") .. "/ipe-demo-" .. require("ipe.proc").pid() .. ".db"
  local ok, res = pcall(function()
    local db = o.sqlite_build(tmp)
    local okc, counts = pcall(M.copy, w, db, { text = o.info, now = o.now_text })
    db:close()
    if not okc then error(counts, 0) end
    -- the mark, newest version of the key: what replace() checks next time
    -- and the bundled geo databases that belong to it (ipe.geo reads them back), as ipe.demo.mark
    local demo = require "ipe.demo"
    local geo = table.concat(require("ipe.geo").demo_files(), ":")
    conn:exec("INSERT INTO " .. (conn.target.cluster and "_ipe_meta_dist" or "_ipe_meta_local")
      .. " (key, value, Version) VALUES (:k, :v, :n), (:gk, :g, :n)", { k = demo.MARK_KEY,
      v = o.info .. "; rows " .. M.fingerprint(conn), gk = demo.GEO_KEY, g = geo, n = require("ipe.dialect.clickhouse").int(
        string.format("%d", math.floor(require("ipe.proc").now() * 1000))) },
      { settings = conn.target.cluster and { insert_distributed_sync = 1 } or nil })
    return counts
  end)
  fs.remove(tmp)
  if not ok then error(res, 0) end
  return { rows = res }
end

return M
