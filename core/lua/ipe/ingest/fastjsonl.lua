-- ipe.ingest.fastjsonl: the C fast path of the JSON lines driver (ipe.jsonl,
-- core/bind_jsonl.c). The Lua mapper (ipe.ingest.load) stays the reference: C
-- takes only the lines whose every member the mapper would store as it is (see
-- bind_jsonl.c) and hands any other line back, which ipe.ingest.jsonl then reads
-- the Lua way (and which names the error of a bad line). Per batch of lines of
-- one shape: C parses them and computes each row's hash (load's row_hash), the
-- mapper's duplicate check runs here in Lua as for any record, and C writes the
-- rows it lets through — bound into the mapper's prepared INSERT (SQLite), or as
-- RowBinary (JSONEachRow with DateTime64 times) into the ClickHouse writer's batch
-- (ipe.ingest.clickhouse).
-- Counters (rows, duplicates, the TimeGenerated span, records done) are the
-- mapper's own. Only for a SQLite connection or the ClickHouse writer; M.enabled
-- = false, or IPE_INGEST_LUA=1 in the environment, turns it off (the Lua path alone:
-- the reference, for tests and for comparing).
local source = require "ipe.ingest.source"

local has_c, cjsonl = pcall(require, "ipe.jsonl")

-- M.taken: records the C path has taken since the start (tests)
local M = { enabled = has_c and require("ipe.proc").getenv("IPE_INGEST_LUA") == nil, BATCH = 512, taken = 0,
  MAX_COLUMNS = 256 }

local MORE, LUA = 0, 1

local F = {}
F.__index = F

-- new(src, sink) -> the fast path of one file, or nil (turned off, or not this kind of workspace)
function M.new(src, sink)
  if not M.enabled then return nil end
  local db = sink.db
  local ch = type(db) == "table" and db.fast_columns and true or false
  if not ch and type(db) ~= "userdata" then return nil end
  return setmetatable({ src = src, sink = sink, db = db, ch = ch, m = nil, named = -1, remade = 0, off = false }, F)
end

-- plan(m): the C plan for mapper m, made again when the mapper matched more names to
-- columns (m.named) — up to a few spellings per column, so that remaking it stays linear
function F:plan(m)
  if self.m == m and (self.named == m.named or self.remade > 4 * M.MAX_COLUMNS) then return self.P end
  local spec = m.fast_spec()
  self.remade = self.m == m and self.remade + 1 or 0
  self.m, self.named, self.P = m, m.named, nil
  if spec.nkeys == 0 then return nil end
  spec.hash_key, spec.max_line, spec.batch = m.hash_key, source.MAX_LINE, M.BATCH
  if self.ch then
    spec.ch = self.db:fast_columns(spec.table, spec.names)
    if not spec.ch then return nil end
    self.bin = spec.ch.bin ~= nil
  end
  self.P = cjsonl.plan(spec)
  return self.P
end

-- write(m, P, n, st): the batch's n rows through the duplicate check, then out. On SQLite
-- C registers the batch's hashes (P:dedup) and the rows whose hash was there already go
-- through the mapper's check (a copy within the file, or a record an earlier ingest loaded).
function F:write(m, P, n, st)
  local dedup = m.dedup
  local written = n
  local hashes
  if dedup and m.dedup_ins and not self.ch then
    local again = P:dedup(m.dedup_ins, m.dedup_id)
    hashes = #again > 0 and P:hashes() or {}
    for _, i in ipairs(again) do
      if not dedup(hashes[i]) then
        hashes[i] = false
        written = written - 1
      end
    end
  else
    hashes = P:hashes()
    if dedup then
      for i = 1, n do
        if not dedup(hashes[i]) then
          hashes[i] = false
          written = written - 1
        end
      end
    end
  end
  local lo, hi = P:span()
  if hi > m.tmax then m.tmax = hi end
  if lo < m.tmin then m.tmin = lo end
  if written > 0 then
    if self.bin then
      local data, rows = P:emit_rowbinary(hashes, self.db.id)
      self.db:fast_append(m.table, data, rows, true)
    elseif self.ch then
      local text, rows = P:emit_json(hashes, self.db:fast_tail(m.table))
      self.db:fast_append(m.table, text, rows)
    else
      P:emit_sqlite(st, hashes)
    end
  end
  m.rows = m.rows + written
  m.dups = m.dups + (n - written)
  M.taken = M.taken + n
  self.sink.finished(n)
end

-- run(m): lines of src into mapper m until one is for the Lua driver (or the input ends)
function F:run(m)
  if self.off then return end
  local P = self:plan(m)
  if not P then return end
  local src = self.src
  while true do
    local start, line0 = src.pos, src.lineno
    local pos, lines, n, status = P:parse(src.buf, src.pos)
    src.pos, src.lineno = pos, src.lineno + lines
    if n > 0 then
      local st
      if not self.ch then
        st = m.statement_for(P:shape())
        if not st then
          -- no statement left for this shape (load.MAX_STATEMENTS): the Lua driver from here
          src.pos, src.lineno, self.off = start, line0, true
          return
        end
      end
      self:write(m, P, n, st)
    end
    if status == LUA then return end
    if status == MORE and not src:fill() then return end
  end
end

return M
