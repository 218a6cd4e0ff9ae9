-- ipe.ingest.jsonl: the JSON lines driver — one JSON object per line (a Log
-- Analytics / Sentinel export, az CLI output, msticpy data), each into the
-- table named by --table, its Type column, the file name or its columns.
-- The hot path of ingest: most lines go through C (ipe.ingest.fastjsonl); the
-- others here, members straight from the line into the row (ipe.ingest.jsonscan ->
-- the mapper's put), no table per record.
-- A line that is not a JSON object is a malformed record ("invalid JSON: ...").
-- Errors: records are rejected through sink.reject (the sink aborts the file or
-- counts them with --skip-bad); nothing is raised here.
local jsonscan = require "ipe.ingest.jsonscan"
local fastjsonl = require "ipe.ingest.fastjsonl"

local find = string.find
local parse_object, trailing = jsonscan.parse_object, jsonscan.trailing

local M = {}

-- reason(why, at): the message of a line that is not a JSON object
local function reason(why, at)
  if why:find("ends before", 1, true) then return "invalid JSON: the line ends before the record is complete" end
  if at and at > 1 then return "invalid JSON: " .. why .. " (character " .. at .. ")" end
  return "invalid JSON: " .. why
end
M.reason = reason

-- first_record(line) -> record, its sorted keys | nil, reason (a line that is not one JSON object)
local function first_record(line)
  local rec, why, e = jsonscan.object_to_table(line, 1)
  if not rec then return nil, reason(why, e) end
  if not trailing(line, e) then return nil, reason("text after the end of the record", e) end
  local keys = {}
  for k in pairs(rec) do keys[#keys + 1] = k end
  table.sort(keys)
  return rec, keys
end

-- one(sink, m, line, ln, keys): parses and finishes one record (keys: member names
-- of the previous record, for ipe.ingest.jsonscan)
local function one(sink, m, line, ln, keys)
  m.begin(ln)
  local e, why, at = parse_object(line, 1, m.put, keys)
  if e and not trailing(line, e) then e, why, at = nil, "text after the end of the record", e end
  if not e then
    sink.reject(ln, reason(why, at))
    return
  end
  local other = m.retype_to
  if other then
    local m2 = sink.retype(m, other)
    if m2 ~= m then
      m2.begin(ln)
      parse_object(line, 1, m2.put)
      sink.finish(m2, ln)
      return
    end
  end
  sink.finish(m, ln)
end
M.one = one

function M.run(src, sink)
  local m
  local keys = {}
  local fast = fastjsonl.new(src, sink)
  while true do
    -- the lines the C fast path can take (ipe.ingest.fastjsonl), then one line here
    if fast and m then fast:run(m) end
    local line, ln, why = src:next_line()
    if line == nil then break end
    if line == false then
      sink.reject(ln, why)
    elseif find(line, "[^ \t]") then
      if not m then
        local rec, keys_or_why = first_record(line)
        if not rec then
          sink.reject(ln, keys_or_why)
        else
          m = sink.mapper_for(keys_or_why, rec)
        end
      end
      if m then one(sink, m, line, ln, keys) end
    end
  end
end

return M
