-- ipe.render.text: the "table" (plain) and "box" (Unicode borders) formats, plus the cell
-- formatting shared with Markdown.
--
--   text.run(record, opts, box) -> text        opts = {width=, color=, show_query=, height=}
--   text.section(sec, opts, box) -> text       (already normalised by ipe.render)
--   text.cell(v, type [, esc]) -> display text of one value (esc defaults to escape.text)
--   text.count(n) "12,345"   text.bytes(n) "1.5 MB"   text.number(n) "3.25"
--   text.value(v, unit) -> chart value text ("count" / "bytes" / plain number)
--   text.fit(widths, mins, budget) -> widths between mins and widths within budget, or nil
--   text.wrap(s, width) -> lines, broken between words and after commas, never inside a word
--   text.record_lines(sec, opts) -> a table section as one "[n] Column: value" block per row
--   text.params_parts(record, esc) -> {"ip=1.2.3.4", ..., "from <t> to <t>"}
--   text.status(record) -> "error" | "no results" | "skipped" | nil, message | nil
--   text.status_line(record) -> "error: ..." | "no results: ..." | "skipped: ..." | nil
--   text.heading(record [, esc]), text.query_label(i, query [, esc [, word]])
--
-- Layout: "<script> — <title>", a line of params and window, then each section after an empty
-- line (title, note, body), then the status line for a non-ok run, then with show_query each
-- query as "-- query N (name=value ...)" and its SQL. Trailing spaces are trimmed in "table".
-- Only tables, kv items and charts are fitted to opts.width; the heading, params, titles, notes,
-- status and query lines are escaped but not cut (the terminal wraps them).
-- Nothing that identifies something is ever cut. Tables: numeric columns right-aligned; ip,
-- time, bool and numeric cells are never broken; text and json cells may wrap between their
-- words (after commas too), never inside one. A table wider than opts.width has its text
-- columns narrowed (not below their widest word) and wrapped, when that fits and keeps the
-- rows at most 3 lines on average; otherwise it is shown one block per row ("[n] Column: value"
-- lines; in the box format one small box per row). kv values wrap the same way beside their
-- keys; a single word wider than the width runs past it, whole. Every string goes through
-- escape.text.
-- opts.color adds ANSI bold (titles, headers) and dim (rules, borders); nothing else is coloured.
-- The timing is left out of the text formats so that their output is reproducible.
--
-- Pure; raises no errors of its own (ipe.render validates records and sections).
local escape = require "ipe.render.escape"
local chart = require "ipe.render.chart"
local json = require "ipe.render.json"

local M = {}

local floor, max, min, abs, huge = math.floor, math.max, math.min, math.abs, math.huge
local format, rep, concat = string.format, string.rep, table.concat
local dw, is_null = escape.display_width, json.is_null

local NUMERIC = { count = true, number = true, bytes = true }
M.NUMERIC = NUMERIC

-- Numbers -----------------------------------------------------------------------------------

local function finite_int(n)
  return n == n and n >= -2 ^ 63 and n < 2 ^ 63 and n == floor(n)
end

function M.number(n)
  if n ~= n then return "NaN" end
  if n == huge then return "inf" elseif n == -huge then return "-inf" end
  if finite_int(n) then return format("%d", n) end
  return format("%.15g", n)
end

function M.count(n)
  if not finite_int(n) then return M.number(n) end
  local sign, digits = format("%d", n):match("^(-?)(%d+)$")
  local head = #digits % 3
  local groups = { head > 0 and digits:sub(1, head) or nil }
  for i = head + 1, #digits, 3 do groups[#groups + 1] = digits:sub(i, i + 2) end
  return sign .. concat(groups, ",")
end

local UNITS = { "kB", "MB", "GB", "TB", "PB", "EB" }

-- bytes(n): decimal units, one decimal; a value that would round to 1000.0 moves up a unit.
function M.bytes(n)
  if n ~= n or abs(n) == huge then return M.number(n) end
  if abs(n) < 1000 then return M.number(n) .. " B" end
  local text
  for i, unit in ipairs(UNITS) do
    text = format("%.1f %s", n / 1000 ^ i, unit)
    if abs(tonumber(text:match("^%S+"))) < 1000 then return text end
  end
  return text
end

function M.value(v, unit)
  if unit == "count" then return M.count(v) end
  if unit == "bytes" then return M.bytes(v) end
  return M.number(v)
end

-- cell(v, type [, esc]) -> display text; NULL -> "".
function M.cell(v, ctype, esc)
  esc = esc or escape.text
  local tv = type(v)
  if v == nil or is_null(v) then return "" end
  if tv == "number" then
    if ctype == "count" then return M.count(v) end
    if ctype == "bytes" then return M.bytes(v) end
    if ctype == "bool" then return v ~= 0 and "true" or "false" end
    return M.number(v)
  end
  if tv == "boolean" then return tostring(v) end
  if tv == "string" and ctype == "time" then
    -- workspace time "2026-11-27T03:52:29.123Z" reads as "2026-11-27 03:52:29" (UTC) in a terminal
    local d, t = v:match("^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d:%d%d)%.%d+Z$")
    if d then return d .. " " .. t end
  end
  if tv == "string" then return esc(v) end
  if tv == "table" then return esc(json.encode(v)) end
  return esc(tostring(v))
end

-- Layout helpers ----------------------------------------------------------------------------

local function pad(s, w, right)
  local gap = w - dw(s)
  if gap <= 0 then return s end
  return right and rep(" ", gap) .. s or s .. rep(" ", gap)
end

local function rtrim(s) return (s:gsub(" +$", "")) end

local function plain_style(s) return s end

local function styler(opts)
  if not opts.color then return plain_style, plain_style end
  return function(s) return "\27[1m" .. s .. "\27[0m" end,
      function(s) return "\27[2m" .. s .. "\27[0m" end
end

-- Breaking cells ----------------------------------------------------------------------------

-- pieces(s) -> the unbreakable pieces of a cell: its words (split at spaces), each split again
-- after its commas ("offline,network" -> "offline," "network"). sep[i] is what joins piece i to
-- the one before on a line ("" after a comma, " " between words).
local function pieces(s)
  local list, seps = {}, {}
  for word in s:gmatch("%S+") do
    local pos, first = 1, true
    while pos <= #word do
      local c = word:find(",", pos, true)
      local part = word:sub(pos, c or #word)
      list[#list + 1], seps[#list + 1] = part, (first and #list > 0) and " " or ""
      pos, first = (c or #word) + 1, false
    end
  end
  return list, seps
end

-- wrap(s, width) -> lines of at most width columns, broken only between pieces (see pieces):
-- a word, an IP, a name or a time is never cut; a piece wider than width gets a line of its own.
function M.wrap(s, width)
  if dw(s) <= width then return { s } end
  local list, seps = pieces(s)
  local lines, line = {}, nil
  for i, p in ipairs(list) do
    if line == nil then line = p
    elseif dw(line) + #seps[i] + dw(p) <= width then line = line .. seps[i] .. p
    else lines[#lines + 1] = line; line = p end
  end
  lines[#lines + 1] = line or ""
  return lines
end

-- least(s) -> the narrowest a cell can be wrapped to: its widest piece.
local function least(s)
  if not s:find("[ ,]") then return dw(s) end
  local w = 0
  for _, p in ipairs((pieces(s))) do w = max(w, dw(p)) end
  return w
end

-- Layout ------------------------------------------------------------------------------------

-- spread(widths, mins, budget) -> widths between mins and widths summing to at most budget:
-- the widest columns are capped to a common width (never below their minimum), and the
-- columns left over go back one each, left to right, to the capped ones. nil when even the
-- minimums do not fit.
function M.fit(widths, mins, budget)
  local out, total, least_total = {}, 0, 0
  for i, w in ipairs(widths) do out[i], total, least_total = w, total + w, least_total + mins[i] end
  if total <= budget then return out end
  if least_total > budget then return nil end
  local function used(cap)
    local t = 0
    for i, w in ipairs(widths) do t = t + max(mins[i], min(w, cap)) end
    return t
  end
  local lo, hi = 0, 0
  for _, w in ipairs(widths) do hi = max(hi, w) end
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if used(mid) <= budget then lo = mid else hi = mid - 1 end
  end
  local left = budget - used(lo)
  for i, w in ipairs(widths) do
    out[i] = max(mins[i], min(w, lo))
    if out[i] < w and left > 0 then out[i], left = out[i] + 1, left - 1 end
  end
  return out
end

-- Grid: rows of display strings -> lines, plain or boxed --------------------------------------

-- row_lines(cells, widths, right, sep, style) -> the lines of one row: each cell wrapped to its
-- column (see wrap), the row as tall as its tallest cell.
local function row_lines(cells, widths, right, sep, style)
  style = style or plain_style
  local wrapped, height = {}, 1
  for i, w in ipairs(widths) do
    wrapped[i] = M.wrap(cells[i] or "", w)
    height = max(height, #wrapped[i])
  end
  local lines = {}
  for k = 1, height do
    local parts = {}
    for i, w in ipairs(widths) do parts[i] = style(pad(wrapped[i][k] or "", w, right[i])) end
    lines[k] = concat(parts, sep)
  end
  return lines
end

local function rule(widths, l, m, r, bar)
  local parts = {}
  for i, w in ipairs(widths) do parts[i] = rep(bar, w + 2) end
  return l .. concat(parts, m) .. r
end

local function add(lines, more, f)
  for _, l in ipairs(more) do lines[#lines + 1] = f and f(l) or l end
end

local function plain_grid(g, widths, opts)
  local bold, dim = styler(opts)
  local lines = {}
  if g.header then
    add(lines, row_lines(g.header, widths, g.right, g.sep), function(l) return bold(rtrim(l)) end)
    local rules = {}
    for i, w in ipairs(widths) do rules[i] = rep("-", w) end
    lines[#lines + 1] = dim(concat(rules, g.sep))
  end
  for _, row in ipairs(g.rows) do add(lines, row_lines(row, widths, g.right, g.sep), rtrim) end
  return lines
end

local function box_grid(g, widths, opts)
  local bold, dim = styler(opts)
  local bar = dim("│")
  local function row(cells, style)
    local out = {}
    for k, l in ipairs(row_lines(cells, widths, g.right, " " .. bar .. " ", style)) do
      out[k] = bar .. " " .. l .. " " .. bar
    end
    return out
  end
  local lines = { dim(rule(widths, "┌", "┬", "┐", "─")) }
  if g.header then
    add(lines, row(g.header, bold))
    lines[#lines + 1] = dim(rule(widths, "├", "┼", "┤", "─"))
  end
  for _, r in ipairs(g.rows) do add(lines, row(r, plain_style)) end
  lines[#lines + 1] = dim(rule(widths, "└", "┴", "┘", "─"))
  return lines
end

-- grid(header, rows, right, breakable, sep) with natural widths measured from header and rows
-- and minimum widths: a breakable column's widest piece, any other column's natural width.
local function grid(header, rows, right, breakable, sep)
  local widths, mins = {}, {}
  for i = 1, #right do
    widths[i] = header and dw(header[i]) or 0
    mins[i] = header and least(header[i]) or 0
  end
  for _, row in ipairs(rows) do
    for i = 1, #right do
      widths[i] = max(widths[i], dw(row[i]))
      if breakable[i] then mins[i] = max(mins[i], least(row[i])) end
    end
  end
  for i = 1, #right do if not breakable[i] then mins[i] = widths[i] end end
  return { header = header, rows = rows, right = right, breakable = breakable, sep = sep, widths = widths,
           mins = mins }
end

-- budget(g, opts, box) -> the columns the cells may take (separators or borders left out)
local function budget(g, opts, box)
  local n = #g.widths
  return box and opts.width - 3 * n - 1 or opts.width - (n - 1) * #g.sep
end

-- Sections ----------------------------------------------------------------------------------

local BREAKABLE = { text = true, json = true }

local function table_grid(sec)
  local header, right, breakable, rows = {}, {}, {}, {}
  for i, c in ipairs(sec.columns) do
    header[i] = escape.text(tostring(c.name or ""))
    right[i] = NUMERIC[c.type] or false
    breakable[i] = BREAKABLE[c.type or "text"] or false
  end
  for r, row in ipairs(sec.rows) do
    local cells = {}
    for i, c in ipairs(sec.columns) do cells[i] = M.cell(row[i], c.type) end
    rows[r] = cells
  end
  return grid(header, rows, right, breakable, "  ")
end

-- record_lines(sec, opts) -> a table as one block per row: "[n] Column: value" lines, values
-- wrapped under themselves (see wrap), blocks apart by an empty line. Nothing is cut.
function M.record_lines(sec, opts)
  local g = table_grid(sec)
  local tag = #("[" .. #g.rows .. "]") + 1
  local kw = 0
  for _, h in ipairs(g.header) do kw = max(kw, dw(h)) end
  local room = max(10, opts.width - tag - kw - 2)
  local lines = {}
  for r, row in ipairs(g.rows) do
    if r > 1 then lines[#lines + 1] = "" end
    for i, name in ipairs(g.header) do
      local lead = i == 1 and pad("[" .. r .. "]", tag) or rep(" ", tag)
      local head = lead .. name .. ":" .. rep(" ", kw - dw(name) + 1)
      local pieces_ = g.breakable[i] and M.wrap(row[i], room) or { row[i] }
      local widest_piece = 0
      for _, piece in ipairs(pieces_) do widest_piece = max(widest_piece, dw(piece)) end
      if widest_piece <= room then
        for k, piece in ipairs(pieces_) do
          lines[#lines + 1] = rtrim((k == 1 and head or rep(" ", dw(head))) .. piece)
        end
      else
        -- a value too wide to sit beside its name goes under it, indented by two
        lines[#lines + 1] = rtrim(head)
        local under = g.breakable[i] and M.wrap(row[i], opts.width - tag - 2) or { row[i] }
        for _, piece in ipairs(under) do lines[#lines + 1] = rep(" ", tag + 2) .. piece end
      end
    end
  end
  return lines
end

local function height(g, widths)
  local n = 0
  for _, row in ipairs(g.rows) do
    local h = 1
    for i, w in ipairs(widths) do if dw(row[i]) > w then h = max(h, #M.wrap(row[i], w)) end end
    n = n + h
  end
  return n
end

-- A table wider than the width: its free-text cells wrapped when that keeps it readable (at most
-- 3 lines a row on average), else one block per row (record_lines). Nothing is cut.
-- box_records(g, opts) -> in the box format, each row as a box of "Column │ value" lines
local function box_records(g, opts)
  local lines = {}
  for r, row in ipairs(g.rows) do
    local kv = {}
    for i, name in ipairs(g.header) do kv[i] = { name, row[i] } end
    local bg = grid(nil, kv, { false, false }, { false, true }, " ")
    for i = 1, #g.header do
      if not g.breakable[i] then bg.mins[2] = max(bg.mins[2], dw(row[i])) end
    end
    if r > 1 then lines[#lines + 1] = "" end
    lines[#lines + 1] = "[" .. r .. "]"
    add(lines, box_grid(bg, M.fit(bg.widths, bg.mins, budget(bg, opts, true)) or bg.mins, opts))
  end
  return lines
end

local function table_body(sec, opts, box)
  if #(sec.rows or {}) == 0 then return { "(no rows)" } end
  local g = table_grid(sec)
  local widths = M.fit(g.widths, g.mins, budget(g, opts, box))
  if not widths or height(g, widths) > 3 * #g.rows then
    return box and box_records(g, opts) or M.record_lines(sec, opts)
  end
  return box and box_grid(g, widths, opts) or plain_grid(g, widths, opts)
end

-- kv: keys whole, values wrapped; a value piece too wide for the width runs past it, whole.
local function kv_body(sec, opts, box)
  local items = sec.items or {}
  if #items == 0 then return { "(no items)" } end
  local rows = {}
  for i, it in ipairs(items) do
    local key = escape.text(tostring(it.key or ""))
    rows[i] = { box and key or key .. ":", M.cell(it.value, it.type) }
  end
  local g = grid(nil, rows, { false, false }, { false, true }, " ")
  for i, it in ipairs(items) do
    if not BREAKABLE[it.type or "text"] then g.mins[2] = max(g.mins[2], dw(rows[i][2])) end
  end
  local widths = M.fit(g.widths, g.mins, budget(g, opts, box)) or g.mins
  return box and box_grid(g, widths, opts) or plain_grid(g, widths, opts)
end

local function frame(lines, opts)
  local _, dim = styler(opts)
  local w = 0
  for _, l in ipairs(lines) do w = max(w, dw(l)) end
  local out = { dim("┌" .. rep("─", w + 2) .. "┐") }
  for _, l in ipairs(lines) do out[#out + 1] = dim("│") .. " " .. pad(l, w) .. " " .. dim("│") end
  out[#out + 1] = dim("└" .. rep("─", w + 2) .. "┘")
  return out
end

local function chart_body(sec, opts, box)
  local lines = chart.lines(sec, box and opts.width - 4 or opts.width, M.value, opts.height)
  return box and frame(lines, opts) or lines
end

local BODY = { table = table_body, kv = kv_body, chart = chart_body }

local function section_lines(sec, opts, box)
  local bold = styler(opts)
  local lines = {}
  if sec.title ~= nil then lines[1] = bold(escape.text(tostring(sec.title))) end
  if sec.note ~= nil then lines[#lines + 1] = escape.text(tostring(sec.note)) end
  for _, l in ipairs(BODY[sec.kind](sec, opts, box)) do lines[#lines + 1] = l end
  return lines
end

function M.section(sec, opts, box)
  return concat(section_lines(sec, opts, box), "\n") .. "\n"
end

-- Record ------------------------------------------------------------------------------------

local function param_value(v, esc)
  if type(v) == "table" and not is_null(v) then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.cell(x, "text", esc) end
    return concat(parts, ",")
  end
  return M.cell(v, "text", esc)
end

function M.params_parts(record, esc)
  esc = esc or escape.text
  local parts = {}
  for _, p in ipairs(record.params or {}) do
    if p.value ~= nil then parts[#parts + 1] = esc(tostring(p.name)) .. "=" .. param_value(p.value, esc) end
  end
  local w = record.window
  if w and (w.from or w.to) then
    local span = {}
    if w.from then span[#span + 1] = "from " .. esc(tostring(w.from)) end
    if w.to then span[#span + 1] = "to " .. esc(tostring(w.to)) end
    parts[#parts + 1] = concat(span, " ")
  end
  return parts
end

-- heading(record, esc) -> "script — title" (either part may be missing) or nil.
function M.heading(record, esc)
  esc = esc or escape.text
  local script = record.script and esc(tostring(record.script))
  local title = record.title and esc(tostring(record.title))
  if script and title then return script .. " — " .. title end
  return script or title
end

local STATUS_WORD = { empty = "no results", error = "error", skipped = "skipped" }

-- status(record) -> "no results" | "error" | "skipped" | nil (for ok), message or nil (raw)
function M.status(record)
  local word = STATUS_WORD[record.status]
  if not word or record.message == nil then return word, nil end
  return word, tostring(record.message)
end

function M.status_line(record)
  local word, message = M.status(record)
  if not message then return word end
  return word .. ": " .. escape.text(message)
end

-- query_label(i, q [, esc [, word]]) -> "query 1 (ip=1.2.3.4)"
function M.query_label(i, q, esc, word)
  esc, word = esc or escape.text, word or "query"
  local parts = {}
  for j, p in ipairs(q.params or {}) do
    local name = p.name ~= nil and tostring(p.name) or "?" .. j
    parts[j] = esc(name) .. "=" .. param_value(p.value, esc)
  end
  if #parts == 0 then return word .. " " .. i end
  return word .. " " .. i .. " (" .. concat(parts, " ") .. ")"
end

local function query_block(i, q)
  local lines = {}
  if q.kql then
    lines[1] = "-- KQL"
    for _, l in ipairs(escape.lines((tostring(q.kql):gsub("%s+$", "")))) do lines[#lines + 1] = "-- | " .. l end
  end
  lines[#lines + 1] = "-- " .. M.query_label(i, q)
  for _, l in ipairs(escape.lines(tostring(q.sql or ""))) do lines[#lines + 1] = l end
  return lines
end

function M.run(record, opts, box)
  local bold = styler(opts)
  local blocks = {}
  local head = {}
  local heading = M.heading(record)
  if heading then head[1] = bold(heading) end
  local params = M.params_parts(record)
  if #params > 0 then head[#head + 1] = concat(params, "  ") end
  if #head > 0 then blocks[1] = head end
  for _, sec in ipairs(record.sections or {}) do blocks[#blocks + 1] = section_lines(sec, opts, box) end
  local status = M.status_line(record)
  if status then blocks[#blocks + 1] = { status } end
  if opts.show_query then
    for i, q in ipairs(record.queries or {}) do blocks[#blocks + 1] = query_block(i, q) end
  end
  local out = {}
  for i, b in ipairs(blocks) do out[i] = concat(b, "\n") end
  if #out == 0 then return "" end
  return concat(out, "\n\n") .. "\n"
end

return M
