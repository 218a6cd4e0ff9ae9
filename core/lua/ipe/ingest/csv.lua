-- ipe.ingest.csv: RFC 4180 CSV records from an ipe.ingest.source, as the
-- Log Analytics portal exports them (quoted cells holding commas, doubled
-- quotes and several lines of pretty-printed JSON), and the CSV format driver
-- (records -> the table named by --table, a Type column, the file name or the
-- columns).
--
--   local reader = csv.reader(src)
--   reader() -> fields (array of strings), lineno of the record's first line
--            -> false, lineno, reason    (a record that cannot be read; the reader goes on)
--            -> nil                      (the end)
--   csv.header(fields) -> column names (" [UTC]" dropped, empty names "Column<n>",
--                         repeated names "<name>_<n>")
--   csv.records(src, sink) -> names, next: the header's column names and an iterator over the
--                         records: next() -> fields, lineno | nil (the end); a record that
--                         cannot be read or has another number of fields than the header is
--                         rejected through sink.reject on the way (the CSV and watchlist drivers)
--   csv.run(src, sink)  -- the format driver
-- Blank lines between records are skipped; a quote inside an unquoted field is
-- kept as a character (as Excel and Python read it).
-- Errors: a record that cannot be read is returned (false, lineno, reason); a
-- file without a readable header fails through sink.fail (a file error). A record may span lines only inside
-- quotes; it is limited to MAX_RECORD bytes.
local coerce = require "ipe.ingest.coerce"

local find, sub, byte, concat = string.find, string.sub, string.byte, table.concat

local M = {}

M.MAX_RECORD = 1048576

-- split(s): fields of a record that holds no quote
local function split(s)
  local out, n, p = {}, 0, 1
  while true do
    local c = find(s, ",", p, true)
    n = n + 1
    if not c then out[n] = sub(s, p) return out end
    out[n] = sub(s, p, c - 1)
    p = c + 1
  end
end

-- feed(st, s): reads one more line s into the record st = { out = fields, n = count,
-- parts = pieces of a quoted field still open (or nil) } -> true (the record is
-- complete) | nil (a quoted field is still open: the record goes on in the next
-- line) | false, reason. Each line is read once, so a record of many lines is
-- read in linear time.
local function feed(st, s)
  local out, n, parts = st.out, st.n, st.parts
  local p, len = 1, #s
  while true do
    if not parts then
      n = n + 1
      if byte(s, p) == 34 then
        parts, p = {}, p + 1
      else
        local c = find(s, ",", p, true)
        out[n] = c and sub(s, p, c - 1) or sub(s, p)
        if not c then st.n = n return true end
        p = c + 1
        if p > len then out[n + 1] = "" st.n = n + 1 return true end
      end
    end
    if parts then
      local e = find(s, '"', p, true)
      if not e then
        parts[#parts + 1] = sub(s, p)
        parts[#parts + 1] = "\n"
        st.n, st.parts = n, parts
        return nil
      end
      if byte(s, e + 1) == 34 then
        parts[#parts + 1] = sub(s, p, e)
        p = e + 2
      else
        parts[#parts + 1] = sub(s, p, e - 1)
        out[n] = concat(parts)
        parts, st.parts = nil, nil
        p = e + 1
        if p > len then st.n = n return true end
        if byte(s, p) ~= 44 then
          return false, "field " .. n .. ": text after the closing quote of a quoted field"
        end
        p = p + 1
        if p > len then out[n + 1] = "" st.n = n + 1 return true end
      end
    end
  end
end

-- parse(s) -> fields | nil (a quote is still open: the record goes on in the next line) | false, reason
local function parse(s)
  local st = { out = {}, n = 0 }
  local done, err = feed(st, s)
  if done then return st.out end
  return done, err
end
M.parse = parse

function M.reader(src)
  return function()
    local line, ln, why
    repeat
      line, ln, why = src:next_line()
      if line == nil then return nil end
      if line == false then return false, ln, why end
    until find(line, "[^%s]")
    if not find(line, '"', 1, true) then return split(line), ln end
    local st, bytes = { out = {}, n = 0 }, #line
    while true do
      local done, err = feed(st, line)
      if done then return st.out, ln end
      if done == false then return false, ln, err end
      local more, _, why2 = src:next_line()
      if more == nil then return false, ln, "a quoted field is not closed before the end of the file" end
      if more == false then return false, ln, why2 end
      line = more
      bytes = bytes + 1 + #more
      if bytes > M.MAX_RECORD then
        return false, ln, "the record is longer than " .. M.MAX_RECORD .. " bytes (1 MiB, the record limit)"
      end
    end
  end
end

function M.header(fields)
  local names, seen = {}, {}
  for i, f in ipairs(fields) do
    local name = coerce.header(f)
    if name == "" then name = "Column" .. i end
    if seen[name] then
      seen[name] = seen[name] + 1
      name = name .. "_" .. seen[name]
    else
      seen[name] = 1
    end
    names[i] = name
  end
  return names
end

local function record_map(names, fields)
  local rec = {}
  for i, name in ipairs(names) do rec[name] = fields[i] end
  return rec
end

-- records(src, sink) -> names, next (see above); a file without a readable header fails
-- through sink.fail.
function M.records(src, sink)
  local reader = M.reader(src)
  local fields, ln, why = reader()
  if fields == nil then sink.fail("the file has no header line") end
  if fields == false then sink.fail("line " .. ln .. ": the header cannot be read: " .. why) end
  local names = M.header(fields)
  local ncol = #names
  return names, function()
    while true do
      fields, ln, why = reader()
      if fields == nil then return nil end
      if fields == false then
        sink.reject(ln, why)
      elseif #fields ~= ncol then
        sink.reject(ln, #fields .. " fields, but the header has " .. ncol)
      else
        return fields, ln
      end
    end
  end
end

function M.run(src, sink)
  local names, records = M.records(src, sink)
  local ncol = #names
  local m, type_col
  for i, name in ipairs(names) do if name == "Type" then type_col = i end end
  for fields, ln in records do
    if not m then m = sink.mapper_for(names, record_map(names, fields)) end
    local target = m
    local tv = type_col and fields[type_col]
    if tv and tv ~= "" and tv ~= m.table then target = sink.retype(m, tv) end
    target.begin(ln)
    local put = target.put
    for i = 1, ncol do
      local v = fields[i]
      if v ~= "" then put(names[i], v) end
    end
    sink.finish(target, ln)
  end
end

return M
