-- ipe.ingest.json: the JSON document driver — a JSON array of records (the
-- portal's and az CLI's JSON export), a single record object, or a Log
-- Analytics query API answer ({"tables": [{"columns": [...], "rows": [...]}]}).
-- Records go to the table named by --table, their Type column, the file name
-- or their columns. Array elements are parsed in place (no copy of the
-- element), with their line numbers. A document that turns out to be a STIX
-- bundle or a MISP event (whose tell-tale keys were beyond the 64 KiB head the
-- detection saw) is handed to that reader. A record (an element, or the
-- single object) is limited to 1 MiB like a line.
-- Errors: a broken document fails the file (sink.fail: a file error); a bad
-- element is rejected through sink.reject. A document that is not complete JSON
-- ("truncated") fails the file; an element that is not an object is a
-- malformed record.
local jsonscan = require "ipe.ingest.jsonscan"
local cjson_safe = require "cjson.safe"

local find = string.find

local M = {}

M.MAX_RECORD = 1048576
local TOO_BIG = "the record is longer than " .. M.MAX_RECORD .. " bytes (1 MiB, the record limit)"

local function keys_of(rec)
  local keys = {}
  for k in pairs(rec) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- la_tables(doc) -> records of a Log Analytics query API answer
local function la_records(sink, doc)
  local out = {}
  for _, t in ipairs(doc.tables) do
    if type(t) ~= "table" or type(t.columns) ~= "table" or type(t.rows) ~= "table" then
      sink.fail("\"tables\" is not a Log Analytics query answer (each table needs columns and rows)")
    end
    local names = {}
    for i, c in ipairs(t.columns) do names[i] = type(c) == "table" and (c.name or c.ColumnName) or c end
    for _, row in ipairs(t.rows) do
      local rec = {}
      for i, name in ipairs(names) do
        local v = row[i]
        if v ~= nil then rec[name] = v end
      end
      out[#out + 1] = rec
    end
  end
  return out
end

local function put_table(m, rec)
  for k, v in pairs(rec) do
    if type(v) == "table" then m.put(k, require("ipe.ingest.coerce").encode(v), jsonscan.RAW) else m.put(k, v) end
  end
end

function M.run(src, sink)
  local text, err = src:read_all()
  if not text then sink.fail(err) end
  local p, c = jsonscan.ws(text, 1)
  if c == nil then sink.fail("the file holds only white space: nothing to ingest") end
  if c == 123 then
    local e, why = jsonscan.skip_value(text, p)
    if not e or not jsonscan.trailing(text, e) then
      local cj, at = jsonscan.explain(text)
      sink.fail("line " .. jsonscan.line_of(text, at or p) .. ": invalid JSON: " .. (cj or why or "text after the document"))
    end
    local doc = cjson_safe.decode(text)
    if doc == nil then
      local cj, at = jsonscan.explain(text)
      sink.fail("line " .. jsonscan.line_of(text, at or p) .. ": invalid JSON: " .. (cj or "not a JSON document"))
    end
    if not sink.opts.table and not sink.opts.format then
      for _, f in ipairs({ { "stix", "is_bundle" }, { "misp", "is_event" } }) do
        local mod = require("ipe.ingest." .. f[1])
        if mod[f[2]](doc) then
          sink.switch(f[1])
          return mod.run_doc(doc, sink)
        end
      end
    end
    if type(doc.tables) == "table" then
      local recs = la_records(sink, doc)
      local m
      for _, rec in ipairs(recs) do
        if not m then m = sink.mapper_for(keys_of(rec), rec) end
        m.begin(nil)
        put_table(m, rec)
        local target = m.retype_to and sink.retype(m, m.retype_to) or m
        if target ~= m then
          target.begin(nil)
          put_table(target, rec)
        end
        sink.finish(target, nil)
      end
      return
    end
    local rec = jsonscan.object_to_table(text, p)
    local line = jsonscan.line_of(text, p)
    if e - p > M.MAX_RECORD then sink.reject(line, TOO_BIG) return end
    local m = sink.mapper_for(keys_of(rec), rec)
    m.begin(line)
    jsonscan.parse_object(text, p, m.put)
    sink.finish(m, line)
    return
  end
  if c ~= 91 then sink.fail("line " .. jsonscan.line_of(text, p) .. ": invalid JSON: a JSON array or object is expected") end
  local m
  local keys = {}
  local line, at = 1, 1
  for s, e, bad in jsonscan.array_elements(text, p) do
    if s == false then sink.fail("line " .. jsonscan.line_of(text, bad) .. ": invalid JSON: " .. e) end
    while true do
      local nl = find(text, "\n", at, true)
      if not nl or nl >= s then break end
      line, at = line + 1, nl + 1
    end
    if e - s >= M.MAX_RECORD then
      sink.reject(line, TOO_BIG)
    else
      if not m then
        local rec = jsonscan.object_to_table(text, s)
        if rec then m = sink.mapper_for(keys_of(rec), rec) end
      end
      M.element(sink, m, text, s, line, keys)
    end
  end
  local e = jsonscan.skip_value(text, p)
  if e and not jsonscan.trailing(text, e) then
    sink.fail("line " .. jsonscan.line_of(text, e) .. ": invalid JSON: text after the end of the array")
  end
end

-- element(sink, m, text, s, line): one array element into its table
function M.element(sink, m, text, s, line, keys)
  if not m then
    sink.reject(line, "invalid JSON: an element of the array is not a JSON object (a record)")
    return
  end
  m.begin(line)
  local pe, why = jsonscan.parse_object(text, s, m.put, keys)
  if not pe then
    sink.reject(line, "invalid JSON: " .. why)
  elseif m.retype_to and sink.retype(m, m.retype_to) ~= m then
    local m2 = sink.retype(m, m.retype_to)
    m2.begin(line)
    jsonscan.parse_object(text, s, m2.put)
    sink.finish(m2, line)
  else
    sink.finish(m, line)
  end
end

return M
