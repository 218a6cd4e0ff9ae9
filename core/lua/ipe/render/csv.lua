-- ipe.render.csv: the "csv" format (RFC 4180).
--
--   csv.run(record) -> text       csv.section(sec) -> text       csv.field(v) -> one field
--
-- One block per section, blocks separated by an empty line; every record ends with CRLF.
--   table -> a header row of column names, then the rows
--   kv    -> "key,value", then one row per item
--   chart -> "label,<series names...>", then one row per label
-- Fields are quoted when they contain a comma, a double quote, CR or LF (quotes doubled).
-- Values are written raw: numbers exact (as in JSON: 12345678901234, 0.1), booleans as
-- true/false, NULL as an empty field, bytes as the integer count, time as workspace text.
-- CSV is data: control characters are not escaped, and cells beginning with = + - @ are NOT
-- altered against spreadsheet formula injection (that would corrupt values such as "-1" or
-- "+44..."); whoever opens the file in a spreadsheet must import it as text.
-- The run status, message and queries are not part of the CSV (the CLI reports them on stderr);
-- a run without sections renders as "".
--
-- Pure; raises no errors (ipe.render validates first).
local json = require "ipe.render.json"

local M = {}

local concat = table.concat

local function number(n)
  if n ~= n then return "NaN" end
  if n == math.huge then return "inf" elseif n == -math.huge then return "-inf" end
  return json.number(n)
end

function M.field(v)
  local tv = type(v)
  if v == nil or json.is_null(v) then return "" end
  local s
  if tv == "number" then s = number(v)
  elseif tv == "boolean" then s = v and "true" or "false"
  elseif tv == "table" then s = json.encode(v)
  else s = tostring(v) end
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function row(values, n)
  local fields = {}
  for i = 1, n do fields[i] = M.field(values[i]) end
  return concat(fields, ",") .. "\r\n"
end

local function table_block(sec)
  local n, header = #sec.columns, {}
  for i, c in ipairs(sec.columns) do header[i] = c.name end
  local out = { row(header, n) }
  for _, r in ipairs(sec.rows or {}) do out[#out + 1] = row(r, n) end
  return out
end

local function kv_block(sec)
  local out = { "key,value\r\n" }
  for _, it in ipairs(sec.items or {}) do out[#out + 1] = row({ it.key, it.value }, 2) end
  return out
end

local function chart_block(sec)
  local header = { "label" }
  for i, s in ipairs(sec.series) do header[i + 1] = s.name end
  local n = #sec.series + 1
  local out = { row(header, n) }
  for i, label in ipairs(sec.labels) do
    local values = { label }
    for s, series in ipairs(sec.series) do values[s + 1] = series.values[i] end
    out[#out + 1] = row(values, n)
  end
  return out
end

local BLOCK = { table = table_block, kv = kv_block, chart = chart_block }

function M.section(sec)
  return concat(BLOCK[sec.kind](sec))
end

function M.run(record)
  local blocks = {}
  for i, sec in ipairs(record.sections or {}) do blocks[i] = M.section(sec) end
  return concat(blocks, "\r\n")
end

return M
