-- ipe.render.chart: chart sections as Unicode text lines (for the table and box formats).
--
--   chart.lines(sec, width, value_text [, max_rows]) -> list of lines, each at most `width`
--     columns when width allows; labels and series names are never cut (a label too wide for
--     its bars gets a line of its own); bars are at most MAX_BAR (40) columns long
--     value_text(v, unit) -> display text of one value (the caller's number formatting)
--   chart.short_time(label, bucket) -> "11-27 03:00" (hour), "2026-11-27" (day),
--     "2026-11-27 03:00" (no bucket); labels that are not workspace times are shown escaped
--
-- bar chart: one line per label — label, a bar of "█" plus an eighth block (▏▎▍▌▋▊▉) scaled to
--   the largest value and the room left, then the value. Several series: one group of lines per
--   label, one line per series (label on the group's first line, series name on each line).
--   A positive value always gets at least "▏"; zero, negative, null and non-numbers get no bar.
--   sec.max, when set, is the top of the scale instead of the largest value (100 for percentages).
-- time chart: rows like a bar chart with shortened time labels while the buckets fit in
--   max_rows (default 48); otherwise a line "<first> … <last>  <n> hours" and, per series, a
--   sparkline (▁▂▃▄▅▆▇█, blank for null) with "min X  max Y  total Z" under it (these label
--   lines wrap between their parts to stay within width). When there are
--   more buckets than columns, each mark stands for k consecutive buckets and shows their peak
--   (the range line then says "1 mark = k hours (peak)").
--
-- Pure; sections are validated by ipe.render before they get here, so no errors are raised.
local escape = require "ipe.render.escape"

local M = {}

local floor, ceil, max, min, huge = math.floor, math.ceil, math.max, math.min, math.huge
local rep, concat = string.rep, table.concat
local dw = escape.display_width

local EIGHTHS = { "▏", "▎", "▍", "▌", "▋", "▊", "▉" }
local SPARKS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }
M.DEFAULT_ROWS = 48

local function pad(s, w) return s .. rep(" ", w - dw(s)) end
local function rtrim(s) return (s:gsub(" +$", "")) end

local function num(v)
  if type(v) == "number" and v == v and v > -huge and v < huge then return v end
  return nil
end

function M.short_time(label, bucket)
  if type(label) ~= "string" then return escape.text(tostring(label)) end
  local y, mo, d, h, mi = label:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d)")
  if not y then return escape.text(label) end
  if bucket == "day" then return y .. "-" .. mo .. "-" .. d end
  if bucket == "hour" then return mo .. "-" .. d .. " " .. h .. ":" .. mi end
  return y .. "-" .. mo .. "-" .. d .. " " .. h .. ":" .. mi
end

local function label_texts(sec)
  local out = {}
  for i, label in ipairs(sec.labels) do
    if sec.chart == "time" then out[i] = M.short_time(label, sec.bucket)
    else out[i] = escape.text(tostring(label)) end
  end
  return out
end

local function series_names(sec)
  local out = {}
  for i, s in ipairs(sec.series) do out[i] = escape.text(s.name ~= nil and tostring(s.name) or "") end
  return out
end

local function widest(list, cap)
  local w = 0
  for _, s in ipairs(list) do w = max(w, dw(s)) end
  return cap and min(w, cap) or w
end

-- bar(v, top, width) -> blocks for v on a scale where `top` fills `width` columns.
local function bar(v, top, width)
  v = num(v)
  if not v or v <= 0 or top <= 0 then return "" end
  v = min(v, top) -- a fixed scale (sec.max) clips what lies above it
  local eighths = max(1, floor(v / top * width * 8 + 0.5))
  local full, part = floor(eighths / 8), eighths % 8
  return rep("█", full) .. (EIGHTHS[part] or "")
end

-- largest(series) -> the largest value of all series (0 when none); the SVG charts use it too.
local function largest(series)
  local top = 0
  for _, s in ipairs(series) do
    for i = 1, #s.values do
      local v = num(s.values[i])
      if v and v > top then top = v end
    end
  end
  return top
end
M.largest = largest

M.MAX_BAR = 40

-- Labels and series names are never cut: when they leave the bars too little room (under 10
-- columns), each label takes a line of its own and its bars follow, indented by two.
local function bar_lines(sec, width, value_text)
  local labels, names = label_texts(sec), series_names(sec)
  local multi = #sec.series > 1
  local lw, nw = widest(labels), multi and widest(names) or 0
  local texts, vw = {}, 0
  for s, series in ipairs(sec.series) do
    texts[s] = {}
    for i = 1, #labels do
      local v = series.values[i]
      texts[s][i] = num(v) and value_text(v, sec.unit) or ""
      vw = max(vw, dw(texts[s][i]))
    end
  end
  local names_w = multi and nw + 1 or 0
  local stacked = width - lw - 1 - names_w - 1 - vw < 10
  local lead = stacked and 2 or lw + 1
  local bw = min(M.MAX_BAR, max(1, width - lead - names_w - 1 - vw))
  local top, lines = sec.max or largest(sec.series), {}
  for i, label in ipairs(labels) do
    if stacked then lines[#lines + 1] = label end
    for s, series in ipairs(sec.series) do
      local head = stacked and "  " or pad(s == 1 and label or "", lw) .. " "
      if multi then head = head .. pad(names[s], nw) .. " " end
      local b = bar(series.values[i], top, bw)
      lines[#lines + 1] = rtrim(head .. b .. (b ~= "" and " " or "") .. texts[s][i])
    end
  end
  return lines
end

-- peaks(values, n, k) -> list of the peak of each run of k values (nil for an all-null run).
local function peaks(values, n, k)
  local out = {}
  for g = 1, ceil(n / k) do
    local peak
    for i = (g - 1) * k + 1, min(g * k, n) do
      local v = num(values[i])
      if v and (not peak or v > peak) then peak = v end
    end
    out[g] = peak or false
  end
  return out
end

local function sparkline(marks)
  local lo, hi = 0, nil
  for _, v in ipairs(marks) do
    if v then lo = min(lo, v); hi = max(hi or v, v) end
  end
  local out = {}
  for g, v in ipairs(marks) do
    if not v then out[g] = " "
    elseif not hi or hi <= lo then out[g] = SPARKS[1]
    else out[g] = SPARKS[1 + floor((v - lo) / (hi - lo) * 7 + 0.5)] end
  end
  return concat(out)
end

-- stats(values, n, unit, value_text) -> { "min X", "max Y", "total Z" } or { "no values" }
local function stats(values, n, unit, value_text)
  local lo, hi, total
  for i = 1, n do
    local v = num(values[i])
    if v then
      lo, hi, total = min(lo or v, v), max(hi or v, v), (total or 0) + v
    end
  end
  if not total then return { "no values" } end
  return { "min " .. value_text(lo, unit), "max " .. value_text(hi, unit),
    "total " .. value_text(total, unit) }
end

-- wrap(lines, pieces, indent, width): add the pieces joined by two spaces, starting a new
-- line (indented by `indent` spaces) whenever the next piece would pass `width`.
local function wrap(lines, pieces, indent, width)
  local line = rep(" ", indent) .. pieces[1]
  for i = 2, #pieces do
    if dw(line) + 2 + dw(pieces[i]) > width then
      lines[#lines + 1] = line
      line = rep(" ", indent) .. pieces[i]
    else
      line = line .. "  " .. pieces[i]
    end
  end
  lines[#lines + 1] = line
end

local UNIT_WORD = { hour = "hours", day = "days" }

local function spark_lines(sec, width, value_text)
  local n, names = #sec.labels, series_names(sec)
  local nw = widest(names)
  local sw = max(8, width - nw - 1)
  local k = ceil(n / sw)
  local word = UNIT_WORD[sec.bucket] or "buckets"
  local range = { M.short_time(sec.labels[1], sec.bucket) .. " … "
      .. M.short_time(sec.labels[n], sec.bucket), n .. " " .. word }
  if k > 1 then range[3] = "1 mark = " .. k .. " " .. word .. " (peak)" end
  local lines = {}
  wrap(lines, range, 0, width)
  for s, series in ipairs(sec.series) do
    local name = pad(names[s], nw)
    lines[#lines + 1] = rtrim(name .. " " .. sparkline(peaks(series.values, n, k)))
    wrap(lines, stats(series.values, n, sec.unit, value_text), nw + 1, width)
  end
  return lines
end

function M.lines(sec, width, value_text, max_rows)
  if #sec.labels == 0 or #sec.series == 0 then return { "(no data)" } end
  if sec.chart == "time" and #sec.labels > (max_rows or M.DEFAULT_ROWS) then
    return spark_lines(sec, width, value_text)
  end
  return bar_lines(sec, width, value_text)
end

return M
