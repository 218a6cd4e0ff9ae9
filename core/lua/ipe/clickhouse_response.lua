-- ipe.clickhouse_response: what ipe.actions writes, on a ClickHouse workspace — the
-- stand-in for the SQLite connection M.transaction hands to an action's writes.
--
-- SQLite runs an action's writes in one transaction; ClickHouse has none, so here they are
-- collected while the action runs and sent only when it ends without an error (an action
-- that fails writes nothing), each kind as one INSERT, in this order:
--   indicators  ThreatIntelligenceIndicator rows: one ingest (ipe.ingest.clickhouse's writer:
--               an _IngestId, committed by its _ipe_ingest row, Format 'action') — visible
--               whole or not at all, on the shard of their IP
--   ranges      _ipe_ip_ranges: each change a new version of its (Name, Cidr) row in
--               _ipe_ip_ranges_versions (Version increasing, Deleted 1 for a removal); the
--               _ipe_ip_ranges view shows the newest undeleted version — the SQLite table's rows
--   audit       _ipe_audit rows, Id increasing from the table's largest (as SQLite's
--               AUTOINCREMENT), written last: the trail names only writes that were made
-- Every insert waits until its rows are on their shards (insert_distributed_sync=1).
--
--   M.open_writer(url) -> w;  w:transaction(fn) -> fn(w)'s result
--   w:query(sql, binds)  the statements ipe.actions writes with (INSERT/UPDATE/DELETE of
--                        _ipe_audit and _ipe_ip_ranges), else a read on the workspace
--   w:prepare(sql)       the indicator INSERT (schema.insert_sql)
local chschema = require "ipe.clickhouse_schema"
local cjson = require "cjson"

local M = {}

local W = {}
W.__index = W

function M.open_writer(url)
  local conn = require("ipe.clickhouse").open(url, { role = "writer", timeout = 60 })
  chschema.verify(conn)
  return setmetatable({ conn = conn, dialect = "clickhouse" }, W)
end

function W:close() end

local function target(conn, base) return base .. (conn.target.cluster and "_dist" or "_local") end
local function sync(conn) return conn.target.cluster and { insert_distributed_sync = 1 } or nil end

local RANGE_COLS = { "Name", "Cidr", "Category", "Tags", "CreatedBy", "CreatedTime", "UpdatedBy", "LastUpdatedTime" }

-- the ranges of name as they are now: the workspace's, with this action's changes over them
function W:current_ranges(name)
  local out, order = {}, {}
  local rows, cols = self.conn:query("SELECT " .. table.concat(RANGE_COLS, ", ") .. " FROM _ipe_ip_ranges WHERE Name = :n",
    { n = name })
  for _, r in ipairs(require("ipe.db").as_records(rows, cols)) do out[r.Cidr] = r; order[#order + 1] = r.Cidr end
  for _, v in ipairs(self.ranges) do
    if v.Name == name then
      if not out[v.Cidr] then order[#order + 1] = v.Cidr end
      out[v.Cidr] = v.Deleted == 1 and nil or v
    end
  end
  local list = {}
  for _, c in ipairs(order) do if out[c] then list[#list + 1] = out[c]; out[c] = nil end end
  return list
end

function W:version(row, deleted)
  local v = {}
  for _, c in ipairs(RANGE_COLS) do v[c] = row[c] end
  v.Deleted = deleted and 1 or 0
  self.ranges[#self.ranges + 1] = v
end

-- the statements of ipe.actions, by their text (nothing else is written)
local WRITES = {
  { "^INSERT INTO _ipe_audit ", function(self, b)
    self.audit[#self.audit + 1] = { TimeGenerated = b.t, User = b.u, Action = b.a, Operation = b.o, Target = b.g,
      Parameters = b.p, Result = b.r, Details = b.d }
  end },
  { "^INSERT INTO _ipe_ip_ranges ", function(self, b)
    self:version({ Name = b.n, Cidr = b.c, Category = b.cat, Tags = b.t, CreatedBy = b.cb, CreatedTime = b.ct,
      UpdatedBy = b.ub, LastUpdatedTime = b.ut })
  end },
  { "^UPDATE _ipe_ip_ranges SET Category = :cat, Tags = :t, UpdatedBy = :ub, LastUpdatedTime = :ut WHERE Name = :n$",
    function(self, b)
      for _, r in ipairs(self:current_ranges(b.n)) do
        self:version({ Name = r.Name, Cidr = r.Cidr, Category = b.cat, Tags = b.t, CreatedBy = r.CreatedBy,
          CreatedTime = r.CreatedTime, UpdatedBy = b.ub, LastUpdatedTime = b.ut })
      end
    end },
  { "^DELETE FROM _ipe_ip_ranges WHERE Name = :n AND Cidr = :c$", function(self, b)
    for _, r in ipairs(self:current_ranges(b.n)) do
      if r.Cidr == b.c then self:version(r, true) end
    end
  end },
}

function W:query(sql, binds)
  for _, w in ipairs(WRITES) do
    if sql:find(w[1]) then
      if not self.audit then error("clickhouse: a write outside an action's transaction", 2) end
      w[2](self, binds or {})
      return {}, {}
    end
  end
  if sql:match("^%s*(%a+)"):upper() ~= "SELECT" and sql:match("^%s*(%a+)"):upper() ~= "WITH" then
    error("clickhouse: ipe.actions has no ClickHouse form of: " .. sql:sub(1, 60), 2)
  end
  return self.conn:query(sql, binds)
end

-- prepare(insert_sql): the indicator rows (ThreatIntelligenceIndicator)
function W:prepare(sql)
  local tname = sql:match("^INSERT INTO ([%w_]+) %(")
  if tname ~= "ThreatIntelligenceIndicator" then error("clickhouse: unexpected statement: " .. sql:sub(1, 60), 2) end
  local w = self
  return { run = function(_, ...) w.indicators[#w.indicators + 1] = { sql = sql, n = select("#", ...), ... } end,
    finalize = function() end }
end

local function json_line(row, cols)
  local parts = {}
  for _, c in ipairs(cols) do
    local v = row[c]
    if v ~= nil and v ~= cjson.null then parts[#parts + 1] = cjson.encode(c) .. ":" .. cjson.encode(v) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- flush(): the collected writes, as described at the top
function W:flush(now)
  local conn = self.conn
  if #self.indicators > 0 then
    local ing = require("ipe.ingest.clickhouse").writer(conn)
    ing:exec("BEGIN IMMEDIATE")
    local ok, err = pcall(function()
      for _, r in ipairs(self.indicators) do ing:prepare(r.sql):run(unpack(r, 1, r.n)) end
      ing:prepare("INSERT INTO _ipe_ingest (ContentHash, Path, Format, TableName, Tables, Rows, Rejected, Skipped, "
        .. "Bytes, IngestedAt) VALUES"):run("action:" .. now .. ":" .. require("ipe.proc").pid(), "(ipe-run action)",
        "action", "ThreatIntelligenceIndicator", "ThreatIntelligenceIndicator", #self.indicators, 0, 0, 0, now)
      ing:exec("COMMIT")
    end)
    if not ok then pcall(ing.exec, ing, "ROLLBACK") error(err, 0) end
  end
  if #self.ranges > 0 then
    -- Version: increasing across runs (milliseconds now, times 1000) and within this one
    local base = math.floor(require("ipe.proc").now() * 1000) * 1000
    local lines = {}
    for i, v in ipairs(self.ranges) do
      v.Version = base + i
      lines[i] = json_line(v, { "Name", "Cidr", "Category", "Tags", "CreatedBy", "CreatedTime", "UpdatedBy",
        "LastUpdatedTime", "Deleted" }):sub(1, -2) .. ',"Version":' .. string.format("%.0f", v.Version) .. "}"
    end
    conn:insert(target(conn, "_ipe_ip_ranges_versions"), table.concat(lines, "\n"), sync(conn))
  end
  if #self.audit > 0 then
    local last = conn:query("SELECT max(Id) FROM _ipe_audit")[1][1]
    last = tonumber(last) or 0
    local lines = {}
    for i, a in ipairs(self.audit) do
      lines[i] = json_line(a, { "TimeGenerated", "User", "Action", "Operation", "Target", "Parameters", "Result",
        "Details" }):sub(1, -2) .. ',"Id":' .. string.format("%d", last + i) .. "}"
    end
    conn:insert(target(conn, "_ipe_audit"), table.concat(lines, "\n"), sync(conn))
  end
end

-- transaction(fn, now) -> fn(self)'s result; the writes go out only when fn succeeds
function W:transaction(fn, now)
  self.audit, self.ranges, self.indicators = {}, {}, {}
  local ok, res = pcall(fn, self)
  if ok then ok, res = pcall(function() self:flush(now or require("ipe.timeutil").format_time(require("ipe.proc").now())) return res end) end
  self.audit, self.ranges, self.indicators = nil, nil, nil
  if not ok then error(res, 0) end
  return res
end

return M
