-- ipe.render.markdown: the "md" format (GitHub-flavoured Markdown).
--
--   markdown.run(record, opts) -> text     markdown.section(sec) -> text
--   markdown.inline(s) -> s escaped for a table cell or a line of text
--
-- "# <script> — <title>", a line of params and window joined by " · ", then per section
-- "## <title>" (when it has one), its note, and a pipe table padded to aligned columns:
--   table -> its columns (numeric columns right-aligned with "---:"), "(no rows)" when empty
--   kv    -> "| Key | Value |"
--   chart -> "| Label | <series...> |" with raw labels and values formatted by the unit
-- then "**error:** msg" / "**no results:** msg" / "**skipped:** msg" for a non-ok run, and with
-- show_query "Query N (name=value ...):" and a ```sql fence (longer when the SQL holds backticks).
-- Cells and text: control characters escaped as in the terminal formats (escape.text), newlines
-- as "<br>", "|" as "\|". Other Markdown syntax (*, _, <, `) is passed through unchanged.
-- Tables are not cut to a width: Markdown is for files and reports.
--
-- Pure; raises no errors (ipe.render validates first).
local escape = require "ipe.render.escape"
local text = require "ipe.render.text"

local M = {}

local max, rep, concat = math.max, string.rep, table.concat
local dw = escape.display_width

function M.inline(s)
  return (escape.text(s, "<br>"):gsub("|", "\\|"))
end
local inline = M.inline

local function md_table(header, rows, right)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = max(3, dw(h)) end
  for _, row in ipairs(rows) do
    for i = 1, #header do widths[i] = max(widths[i], dw(row[i])) end
  end
  local function line(cells)
    local parts = {}
    for i, w in ipairs(widths) do
      local c, gap = cells[i] or "", w - dw(cells[i] or "")
      parts[i] = right[i] and rep(" ", gap) .. c or c .. rep(" ", gap)
    end
    return "| " .. concat(parts, " | ") .. " |"
  end
  local rules = {}
  for i, w in ipairs(widths) do rules[i] = right[i] and rep("-", w - 1) .. ":" or rep("-", w) end
  local lines = { line(header), "| " .. concat(rules, " | ") .. " |" }
  for _, row in ipairs(rows) do lines[#lines + 1] = line(row) end
  return concat(lines, "\n")
end

local function table_body(sec)
  if #(sec.rows or {}) == 0 then return "(no rows)" end
  local header, right, rows = {}, {}, {}
  for i, c in ipairs(sec.columns) do
    header[i] = inline(tostring(c.name or ""))
    right[i] = text.NUMERIC[c.type] or false
  end
  for r, row in ipairs(sec.rows) do
    rows[r] = {}
    for i, c in ipairs(sec.columns) do rows[r][i] = text.cell(row[i], c.type, inline) end
  end
  return md_table(header, rows, right)
end

local function kv_body(sec)
  local items = sec.items or {}
  if #items == 0 then return "(no items)" end
  local rows = {}
  for i, it in ipairs(items) do
    rows[i] = { inline(tostring(it.key or "")), text.cell(it.value, it.type, inline) }
  end
  return md_table({ "Key", "Value" }, rows, { false, false })
end

local function chart_body(sec)
  if #sec.labels == 0 or #sec.series == 0 then return "(no data)" end
  local header, right, rows = { sec.chart == "time" and "Time" or "Label" }, { false }, {}
  for s, series in ipairs(sec.series) do
    header[s + 1] = inline(tostring(series.name or ""))
    right[s + 1] = true
  end
  for i, label in ipairs(sec.labels) do
    local row = { inline(tostring(label)) }
    for s, series in ipairs(sec.series) do
      local v = series.values[i]
      row[s + 1] = type(v) == "number" and text.value(v, sec.unit) or text.cell(v, "text", inline)
    end
    rows[i] = row
  end
  return md_table(header, rows, right)
end

local BODY = { table = table_body, kv = kv_body, chart = chart_body }

local function section_blocks(sec)
  local blocks = {}
  if sec.title ~= nil then blocks[1] = "## " .. inline(tostring(sec.title)) end
  if sec.note ~= nil then blocks[#blocks + 1] = inline(tostring(sec.note)) end
  blocks[#blocks + 1] = BODY[sec.kind](sec)
  return blocks
end

function M.section(sec)
  return concat(section_blocks(sec), "\n\n") .. "\n"
end

local function fence_for(sql)
  local longest = 0
  for run in sql:gmatch("`+") do longest = max(longest, #run) end
  return rep("`", max(3, longest + 1))
end

local function query_block(i, q)
  local sql = tostring(q.sql or "")
  local fence = fence_for(sql)
  return text.query_label(i, q, inline, "Query") .. ":\n\n" .. fence .. "sql\n"
      .. concat(escape.lines(sql), "\n") .. "\n" .. fence
end

function M.run(record, opts)
  local blocks = {}
  local heading = text.heading(record, inline)
  if heading then blocks[1] = "# " .. heading end
  local params = text.params_parts(record, inline)
  if #params > 0 then blocks[#blocks + 1] = concat(params, " · ") end
  for _, sec in ipairs(record.sections or {}) do
    for _, b in ipairs(section_blocks(sec)) do blocks[#blocks + 1] = b end
  end
  local word, message = text.status(record)
  if message then blocks[#blocks + 1] = "**" .. word .. ":** " .. inline(message)
  elseif word then blocks[#blocks + 1] = "**" .. word .. "**" end
  if opts.show_query then
    for i, q in ipairs(record.queries or {}) do blocks[#blocks + 1] = query_block(i, q) end
  end
  if #blocks == 0 then return "" end
  return concat(blocks, "\n\n") .. "\n"
end

return M
