-- ipe.workspace: which SQLite workspace to use and opening it safely.
--
-- Path: --db, else IPE_DB, else [workspace] db in the config file, else
-- $XDG_DATA_HOME/ipe/workspace.db (~/.local/share/ipe/workspace.db). A
-- clickhouse://... URL names a ClickHouse workspace instead (ipe.clickhouse). Readers open it read-only with an
-- authorizer that refuses writes; a missing or foreign file is a clear error.
local bit = require "bit"
local sqlite = require "ipe.sqlite"
local fs = require "ipe.fs"
local proc = require "ipe.proc"
local errors = require "ipe.errors"
local schema = require "ipe.schema"

local M = {}

function M.data_dir() return require("ipe.xdg").dir("data") end

function M.path(opt)
  if opt and opt ~= "" then return opt end
  local env = proc.getenv("IPE_DB")
  if env and env ~= "" then return env end
  local ok, cfg = pcall(function() return require("ipe.config").load() end)
  local conf = ok and cfg:get("workspace", "db")
  if conf and conf ~= "" then return conf end
  return M.data_dir() .. "/workspace.db"
end

local HOWTO = "create one with 'ipe-run demo' (a demo workspace) or choose one with --db / IPE_DB"

-- check(path): raise a not-found error unless path is a readable SQLite file.
-- Cheap (no schema parse): the worker that opens it checks the schema version.
function M.check(path)
  local ch = require "ipe.clickhouse"
  if ch.is_url(path) then ch.parse(path) return path end
  local st = fs.stat(path)
  if not st then errors.not_found("no workspace at %s; %s", path, HOWTO) end
  if st.type ~= "file" then errors.not_found("workspace %s is not a file; %s", path, HOWTO) end
  local head, err = fs.read_head(path, 16)
  if not head then errors.not_found("cannot read workspace %s", err) end
  if head ~= "SQLite format 3\0" then
    errors.not_found("%s is not an ipe workspace (not a SQLite database); %s", path, HOWTO)
  end
  return path
end

-- verify(db, path): the schema version check, on an open connection.
function M.verify(db, path)
  local ok, rows = pcall(db.query, db, "SELECT value FROM _ipe_meta WHERE key = 'schema_version'")
  if not ok then
    local why = tostring(rows):gsub("^sqlite: ", "")
    errors.not_found("%s is not an ipe workspace (%s); %s", path, why, HOWTO)
  end
  schema.require_version(path, rows[1] and tonumber(rows[1][1]), schema.VERSION, HOWTO)
end

-- read_only(path) -> "file mode 0444" | "folder mode 0555" | nil: the workspace file, or
-- the folder its -wal/-shm files would go to, has no write permission bit. ipe checks
-- the bits itself, so that they hold for root too (the owner's statement that the
-- workspace must not change).
function M.read_only(path)
  local st = fs.stat(path)
  if st and bit.band(st.mode, 146) == 0 then return string.format("file mode %04o", st.mode) end -- 146 = 0222
  local dir = path:match("^(.*)/[^/]*$") or "."
  local dst = fs.stat(dir == "" and "/" or dir)
  if dst and bit.band(dst.mode, 146) == 0 then return string.format("folder mode %04o", dst.mode) end
  return nil
end

-- open_reader(path) -> a read-only connection that refuses writes. A read-only
-- workspace (read_only(), or a folder SQLite cannot create its -shm file in) is
-- opened immutable: nothing is created or locked beside it.
function M.open_reader(path)
  local ch = require "ipe.clickhouse"
  if ch.is_url(path) then
    local conn = ch.open(path, { role = "reader" })
    require("ipe.clickhouse_schema").verify(conn)
    return conn
  end
  M.check(path)
  local mode = M.read_only(path) and "immutable" or "ro"
  local db, err = sqlite.open(path, mode)
  local ok, e
  if db then
    ok, e = pcall(M.verify, db, path)
    if not ok and mode == "ro" and tostring(e):find("unable to open", 1, true) then
      db:close()
      db, err = sqlite.open(path, "immutable")
      if db then ok, e = pcall(M.verify, db, path) end
    end
  end
  if not db then errors.not_found("cannot open workspace %s: %s", path, err) end
  if not ok then db:close() error(e, 0) end
  db:readonly_guard()
  return db
end

return M
