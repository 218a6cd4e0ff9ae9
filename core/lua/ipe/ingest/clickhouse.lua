-- ipe.ingest.clickhouse: ipe-run ingest into a ClickHouse workspace, through the same
-- front end as SQLite (ipe.ingest.load: formats, detection, mapping, --skip-bad, the
-- duplicate refusal). M.writer(conn) stands in for the SQLite connection load.lua
-- writes to: its prepared INSERTs turn each row into a JSON line, batched per table
-- (BATCH_BYTES) and POSTed as INSERT ... FORMAT JSONEachRow while the next batch is
-- built (at most IN_FLIGHT at once), into T_dist (insert_distributed_sync=1: the rows
-- are on their shards when the POST returns) or T_local without a cluster.
--
-- No multi-statement transactions on ClickHouse, so a file's ingest is made atomic for
-- readers by its id: BEGIN draws an ingest id and records it in _ipe_ingest_pending,
-- every row carries it (_IngestId), and COMMIT — after every batch is in — writes the
-- file's _ipe_ingest row, one single-row insert: the commit point. The Sentinel tables
-- scripts read are views that show only rows whose _IngestId is in _ipe_ingest, so an
-- ingest running, failed or killed (kill -9) is never visible, even in part, and running
-- it again writes it once (the content check reads _ipe_ingest, which the dead run never
-- reached). A failed ingest deletes its rows at once; the rows of a killed one are
-- deleted by the next ingest from the same host, once its process is gone and no insert
-- it sent still runs on a server (each batch's query_id names the ingest): ALTER TABLE
-- ... DELETE, which ClickHouse runs in the background.
local cjson = require "cjson"
local chschema = require "ipe.clickhouse_schema"
local schema = require "ipe.schema"
local timeutil = require "ipe.timeutil"
local fs = require "ipe.fs"
local proc = require "ipe.proc"

local find, sub, format, concat, tonumber, floor = string.find, string.sub, string.format, table.concat, tonumber,
  math.floor
local encode = cjson.encode
local NULL = cjson.null

local M = {}

M.BATCH_BYTES = 8 * 1024 * 1024
M.IN_FLIGHT = 2

local function hostname()
  local h = fs.read_head("/proc/sys/kernel/hostname", 256) or "localhost"
  return (h:gsub("%s+$", ""))
end

-- JSON text of a string: most values need no escaping
local function jstr(v)
  if find(v, '[%c"\\/\127-\255]') then return encode(v) end
  return '"' .. v .. '"'
end

local function jnum(v)
  if type(v) == "number" then
    if v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then return format("%d", v) end
    if v ~= v or v == math.huge or v == -math.huge then return nil end
    return format("%.17g", v)
  end
  if type(v) == "boolean" then return v and "1" or "0" end
  return jstr(tostring(v))
end

-- epoch ms of workspace time text "YYYY-MM-DDTHH:MM:SS.sssZ" (cached by the minute)
local minutes, nminutes = {}, 0
local function epoch_ms(v)
  local key = sub(v, 1, 16)
  local base = minutes[key]
  if not base then
    local y, mo, d, h, mi = tonumber(sub(v, 1, 4)), tonumber(sub(v, 6, 7)), tonumber(sub(v, 9, 10)),
      tonumber(sub(v, 12, 13)), tonumber(sub(v, 15, 16))
    if not (y and mo and d and h and mi) then return nil end
    base = ((timeutil.days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000
    if nminutes > 100000 then minutes, nminutes = {}, 0 end
    minutes[key] = base
    nminutes = nminutes + 1
  end
  local s, ms = tonumber(sub(v, 18, 19)), tonumber(sub(v, 21, 23)) or 0
  if not s then return nil end
  return base + s * 1000 + ms
end
M.epoch_ms = epoch_ms

-- encoders[kind](prefix, prefix_ms) -> function(v) -> JSON members | nil (NULL)
local function encoder(col, ms_col)
  local p = jstr(col.name) .. ":"
  if col.kind == "time" then
    local pm = ms_col and (jstr(ms_col.name) .. ":")
    return function(v)
      local e = epoch_ms(v)
      if not e then return nil end
      local secs = floor(e / 1000)
      if secs < 0 then secs = 0 elseif secs > 4294967295 then secs = 4294967295 end
      return p .. secs .. "," .. pm .. format("%d", e)
    end
  elseif col.kind == "time64" then
    return function(v) return p .. '"' .. sub(v, 1, 10) .. " " .. sub(v, 12, 23) .. '"' end
  elseif col.kind == "int" or col.kind == "long" or col.kind == "real" or col.kind == "bool" then
    return function(v)
      local j = jnum(v)
      return j and (p .. j)
    end
  end
  return function(v)
    if type(v) ~= "string" then v = tostring(v) end
    return p .. jstr(v)
  end
end

local Writer = {}
Writer.__index = Writer

-- writer(conn) -> the stand-in for load.lua's SQLite connection
function M.writer(conn)
  local w = setmetatable({ conn = conn, cluster = conn.target.cluster, buffers = {}, inflight = {}, id = nil,
    log = nil, tables = {}, records = {} }, Writer)
  local _, tt = chschema.version(conn)
  w.time_type = tt or chschema.TIME_SPLIT
  return w
end

function Writer:target(base) return base .. (self.cluster and "_dist" or "_local") end

function Writer:settings()
  return self.cluster and { insert_distributed_sync = 1 } or nil
end

function Writer:query(sql, binds)
  return self.conn:query(sql, binds)
end

-- buffer(tname): the table's batch: JSON lines (b.lines) and RowBinary rows (b.bin)
function Writer:buffer(tname)
  local b = self.buffers[tname]
  if not b then
    b = { lines = {}, n = 0, bin = {}, nbin = 0, bytes = 0 }
    self.buffers[tname] = b
    self.tables[#self.tables + 1] = tname
  end
  return b
end

-- post(body, query): one INSERT; waits while IN_FLIGHT batches are out
function Writer:post(body, query)
  while #self.inflight >= M.IN_FLIGHT do self:wait_one() end
  -- a query id naming the ingest: recovery waits until none of its inserts still runs
  self.seq = (self.seq or 0) + 1
  local settings = self:settings() or {}
  settings.query_id = format("ipe-ingest-%d-%d", self.id, self.seq)
  local req = self.conn:build(body, settings, query)
  self.inflight[#self.inflight + 1] = require("ipe.curl").start({ req })
end

-- send(tname): POST the table's buffered rows
function Writer:send(tname)
  local b = self.buffers[tname]
  if not b then return end
  if b.n > 0 then
    local body = concat(b.lines, "\n", 1, b.n)
    for i = 1, b.n do b.lines[i] = nil end
    b.n = 0
    self:post(body, "INSERT INTO " .. self:target(tname) .. " FORMAT JSONEachRow")
  end
  if b.nbin > 0 then
    local body = concat(b.bin, "", 1, b.nbin)
    for i = 1, b.nbin do b.bin[i] = nil end
    b.nbin = 0
    self:post(body, "INSERT INTO " .. self:target(tname) .. " (" .. self.bin_columns[tname] .. ") FORMAT RowBinary")
  end
  b.bytes = 0
end

function Writer:wait_one()
  local batch = table.remove(self.inflight, 1)
  local res = require("ipe.concurrent").wait(batch)[1]
  self.conn:answer(res)
end

function Writer:drain(ignore)
  while #self.inflight > 0 do
    if ignore then pcall(self.wait_one, self) else self:wait_one() end
  end
end

-- prepare(sql): load.lua's INSERTs (rows, or the ingest log's row)
function Writer:prepare(sql)
  local w = self
  -- the per-record duplicate check (ipe.ingest.load's new_dedup): within the file being
  -- ingested only — on ClickHouse the hashes are not kept (a record an earlier file loaded
  -- is loaded again; whole files are still refused by their content)
  if sql:match("^INSERT OR IGNORE INTO _ipe_ingest_records ") then
    return { run = function(_, key, id)
      if w.records[key] then return 0 end
      w.records[key] = id
      return 1
    end }
  elseif sql:match("^SELECT IngestId FROM _ipe_ingest_records WHERE Hash = %?$") then
    local key
    return { bind = function(_, v) key = v[1] end, step = function() return { w.records[key] } end,
      reset = function() key = nil end }
  end
  local tname, list = sql:match("^INSERT INTO ([%w_]+) %(([^)]*)%) VALUES")
  if not tname then error("clickhouse ingest: unexpected statement: " .. sql:sub(1, 60), 2) end
  local names = {}
  for c in list:gmatch("[^,%s]+") do names[#names + 1] = c end
  if tname == "_ipe_ingest" then
    return { run = function(_, ...)
      local v = { ... }
      local row = {}
      for i, c in ipairs(names) do row[c] = v[i] end
      row.Id = w.id   -- the id the rows carry, not the log's max(Id) + 1
      w.log = row
    end }
  end
  local t = schema.table(tname)
  if not t then error("clickhouse ingest: unknown table " .. tname, 2) end
  local by = {}
  for _, c in ipairs(chschema.columns(t, self.time_type)) do by[c.name] = c end
  local enc = {}
  for i, c in ipairs(names) do
    local col = by[c]
    if not col then error("clickhouse ingest: no column " .. tname .. "." .. c, 2) end
    enc[i] = encoder(col, by[c .. "_ms"])
  end
  local n = #names
  local parts = {}
  -- Type: the table's name when the row does not say (ClickHouse 18.16 fills an omitted
  -- JSONEachRow field with NULL, not with the column's DEFAULT)
  local has_type = false
  for _, c in ipairs(names) do has_type = has_type or c == "Type" end
  local fixed = has_type and "" or ("," .. jstr("Type") .. ":" .. jstr(tname))
  return { run = function(_, ...)
    local v = { ... }
    local k = 0
    for i = 1, n do
      local x = v[i]
      if x ~= nil and x ~= NULL then
        local j = enc[i](x)
        if j then k = k + 1; parts[k] = j end
      end
    end
    k = k + 1
    parts[k] = w.id_member
    local line = "{" .. concat(parts, ",", 1, k) .. fixed .. "}"
    local b = w:buffer(tname)
    b.n = b.n + 1
    b.lines[b.n] = line
    b.bytes = b.bytes + #line + 1
    if b.bytes >= M.BATCH_BYTES then w:send(tname) end
  end }
end

-- The C fast path of JSON lines (ipe.ingest.fastjsonl) writes its rows itself, as
-- RowBinary (cheaper for the server to read than JSON) into a batch of its own per table:
-- fast_columns(tname, names) -> { bin = {code, ...}, src = {load.lua column or 0, ...} } for
-- every column of the table (RowBinary codes of core/bind_jsonl.c: 1 Nullable(String),
-- 2 Nullable(Int32), 3 Nullable(Int64), 4 always NULL, 5/6 DateTime and its _ms, 7/8 the
-- same Nullable, 9 Type, 10 the ingest id) — or, with DateTime64 times, the JSONEachRow
-- member prefixes and encodings { prefix=, kind= } (1 text, 2 number, 4 DateTime64);
-- fast_tail(tname) -> what ends a JSON line (the ingest id, Type); fast_append(tname,
-- data, rows, binary) adds C's rows to the table's batch
local RB = { string = 1, guid = 1, dynamic = 1, int = 2, long = 3, real = 4, bool = 4 }

function Writer:fast_columns(tname, names)
  local t = schema.table(tname)
  if not t then return nil end
  local ci = {}
  for i, name in ipairs(names) do ci[name] = i end
  local cols = chschema.columns(t, self.time_type)
  if self.time_type == chschema.TIME_SPLIT then
    local bin, src, list = {}, {}, {}
    for k, c in ipairs(cols) do
      local null = c.type:sub(1, 9) == "Nullable("
      local code
      if c.kind == "time" then code = null and 7 or 5
      elseif c.kind == "ms" then code = null and 8 or 6
      elseif c.kind == "id" then code = 10
      elseif c.name == "Type" then code = 9
      elseif c.name == chschema.EXTRA then code = 4
      else code = RB[c.kind] end
      if not code or (not null and code ~= 5 and code ~= 6 and code ~= 10) then return nil end
      bin[k], src[k], list[k] = code, ci[c.of or c.name] or 0, c.name
    end
    self.bin_columns = self.bin_columns or {}
    self.bin_columns[tname] = concat(list, ", ")
    return { bin = bin, src = src }
  end
  local by = {}
  for _, c in ipairs(cols) do by[c.name] = c end
  local prefix, kind = {}, {}
  for i, name in ipairs(names) do
    local col = by[name]
    if not col or col.kind == "time" then return nil end
    prefix[i] = jstr(name) .. ":"
    if col.kind == "time64" then
      kind[i] = 4
    elseif col.kind == "int" or col.kind == "long" or col.kind == "real" or col.kind == "bool" then
      kind[i] = 2
    else
      kind[i] = 1
    end
  end
  return { prefix = prefix, kind = kind }
end

function Writer:fast_tail(tname)
  return "," .. self.id_member .. "," .. jstr("Type") .. ":" .. jstr(tname) .. "}"
end

function Writer:fast_append(tname, data, rows, binary)
  if rows == 0 then return end
  local b = self:buffer(tname)
  if binary then
    b.nbin = b.nbin + 1
    b.bin[b.nbin] = data
  else
    b.n = b.n + 1
    b.lines[b.n] = data
  end
  b.bytes = b.bytes + #data + 1
  if b.bytes >= M.BATCH_BYTES then self:send(tname) end
end

local function new_id()
  -- unique enough across hosts and runs: milliseconds * 1024 + a random part, below 2^53
  local ms = floor(proc.now() * 1000)
  local r = fs.read_head("/dev/urandom", 2) or "\0\0"
  return ms * 1024 + (r:byte(1) * 256 + r:byte(2)) % 1024
end

-- cleanup(ids): delete the rows of ingests that never committed (on every node)
function Writer:delete_ingests(ids)
  if #ids == 0 then return end
  local nodes, on_cluster = chschema.targets(self.conn)
  for _, node in ipairs(nodes) do
    local on = on_cluster and (" ON CLUSTER " .. self.cluster) or ""
    for _, t in ipairs(schema.tables) do
      node:exec("ALTER TABLE " .. t.name .. "_local" .. on .. " DELETE WHERE " .. chschema.INGEST_ID .. " IN :ids",
        { ids = ids })
    end
    node:exec("ALTER TABLE _ipe_ingest_pending_local" .. on .. " DELETE WHERE Id IN :ids", { ids = ids })
  end
end

-- inserts_done(nodes, id) -> true once no node runs an insert of ingest id (waits up to 60 s)
function Writer:inserts_done(nodes, id)
  local deadline = proc.monotonic() + 60
  local pattern = "ipe-ingest-" .. id .. "-%"
  repeat
    local running = 0
    for _, node in ipairs(nodes) do
      running = running + node:query("SELECT count() FROM system.processes WHERE query_id LIKE :p OR "
        .. "initial_query_id LIKE :p", { p = pattern })[1][1]
    end
    if running == 0 then return true end
    require("ipe.curl").sleep(0.2)
  until proc.monotonic() > deadline
  return false
end

-- recover(): the ingests of this host whose process is gone and that never committed
function Writer:recover()
  local rows = self.conn:query("SELECT Id, Pid FROM " .. self:target("_ipe_ingest_pending") .. " WHERE Host = :h "
    .. "AND Id " .. (self.cluster and "GLOBAL " or "") .. "NOT IN (SELECT Id FROM " .. self:target("_ipe_ingest") .. ")",
    { h = hostname() })
  local dead = {}
  local nodes = chschema.targets(self.conn)
  for _, r in ipairs(rows) do
    local id = format("%d", r[1])
    -- the server may still be running an insert the dead process sent: its rows would land
    -- after the DELETE (a mutation covers the parts that exist when it starts)
    if (not fs.stat("/proc/" .. r[2]) or r[2] == proc.pid()) and self:inserts_done(nodes, id) then
      dead[#dead + 1] = require("ipe.dialect.clickhouse").int(id)
    end
  end
  self:delete_ingests(dead)
  return #dead
end

function Writer:exec(sql)
  if sql == "BEGIN IMMEDIATE" then
    self.id = new_id()
    self.id_member = '"' .. chschema.INGEST_ID .. '":' .. format("%d", self.id)
    self.log, self.buffers, self.tables, self.records = nil, {}, {}, {}
    self.conn:exec("INSERT INTO " .. self:target("_ipe_ingest_pending") .. " (Id, Host, Pid, StartedAt, Tables) VALUES "
      .. "(:id, :host, :pid, :at, '')", { id = self.id, host = hostname(), pid = proc.pid(),
      at = timeutil.format_time(proc.now()) }, { settings = self:settings() })
  elseif sql == "COMMIT" then
    for _, tname in ipairs(self.tables) do self:send(tname) end
    self:drain()
    local r = assert(self.log, "clickhouse ingest: COMMIT without the ingest log row")
    self.conn:exec("INSERT INTO " .. self:target("_ipe_ingest") .. " (Id, ContentHash, Path, Format, TableName, Tables, "
      .. "Rows, Rejected, Skipped, Bytes, IngestedAt) VALUES (:Id, :ContentHash, :Path, :Format, :TableName, :Tables, "
      .. ":Rows, :Rejected, :Skipped, :Bytes, :IngestedAt)", r, { settings = self:settings() })
    self.id = nil
  elseif sql == "ROLLBACK" then
    self:drain(true)
    if self.id then
      local id = self.id
      self.id = nil
      -- (an insert whose answer never came may still run on a server: the next ingest's
      -- recovery deletes what this cannot)
      pcall(function()
        if self:inserts_done(chschema.targets(self.conn), format("%d", id)) then self:delete_ingests({ id }) end
      end)
    end
  else
    error("clickhouse ingest: unexpected statement: " .. sql:sub(1, 60), 2)
  end
end

function Writer:close() end

-- open(url) -> writer: the workspace is created (migrated) when missing; dead ingests cleaned
function M.open(url)
  local conn = require("ipe.clickhouse").open(url, { role = "writer", timeout = 3000 })
  local created = chschema.version(conn) == 0
  chschema.migrate(conn)
  local w = M.writer(conn)
  w:recover()
  return w, created
end

return M
