-- ipe.render.svg: chart sections as inline, accessible SVG (for the HTML rendering), and the
-- markup escaper the HTML renderer shares.
--
--   svg.escape(s) -> text safe inside HTML/SVG text and double-quoted attributes: control
--     characters, bidi controls and invalid UTF-8 made visible as by ipe.render.escape.text
--     ("\x1b", "\u202e"), then & < > " ' as character references
--   svg.chart(sec, opts) -> "<svg ...>...</svg>" for a chart section (kind "chart")
--     opts.id    prefix for the element ids (unique in the document; default "chart")
--     opts.width the viewBox width in px (default 640); the SVG scales down to its container
--   svg.bar(sec, opts), svg.time(sec, opts) -> the two chart kinds
--   svg.nice(x) -> the smallest 1, 2, 2.5 or 5 times a power of ten that is >= x (axis top)
--   svg.bucket_text(label, bucket) -> "2026-11-22" (day) or "2026-11-27 03:00 UTC" (other)
--
-- bar: one row per label: the label (cut to fit, whole in a tooltip), a bar scaled to the
--   largest value, the value as the text renderer writes it (ipe.render.text.value). Several
--   series: one bar per series in each row's group, a legend above.
-- time: one plot per series (small multiples, each with its own y axis from 0 to a nice top,
--   so a series of thousands of events does not flatten a series of three hosts); a column per
--   bucket, grid lines at 0, half and the top with their values (a count axis labels whole
--   numbers only), x axis labels (at most one per ~80 px) under the last plot. Null values
--   leave a gap; zero, negative and non-numeric values draw no column.
-- Accessibility: role="img", aria-labelledby pointing at <title> (the section title) and
--   <desc> (what the chart shows: per series min, max and total); every bar or column has a
--   <title> tooltip "label: value". Colours come from CSS classes (.s1 … .s6), so the page's
--   stylesheet themes them; the SVG uses no style attributes (the page's CSP forbids them).
--
-- Pure; sections are validated by the caller (ipe.render.html), so no errors are raised.
local escape = require "ipe.render.escape"
local chart = require "ipe.render.chart"
local text = require "ipe.render.text"

local M = {}

local format, concat = string.format, table.concat
local floor, ceil, max, min, huge, log10 = math.floor, math.ceil, math.max, math.min, math.huge, math.log10

local ENTITY = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

function M.escape(s)
  return (escape.text(tostring(s)):gsub("[&<>\"']", ENTITY))
end
local esc = M.escape

local CHAR_W = 6.6      -- average glyph advance of the 11px chart font, for layout estimates

local function num(v)
  if type(v) == "number" and v == v and v > -huge and v < huge then return v end
  return nil
end

local function n2(x) return (format("%.2f", x):gsub("0+$", ""):gsub("%.$", "")) end

local function value_text(v, unit) return text.value(v, unit) end

function M.nice(x)
  if not x or x <= 0 then return 1 end
  local p = 10 ^ floor(log10(x))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if m * p >= x * (1 - 1e-12) then return m * p end
  end
  return 10 * p
end

function M.bucket_text(label, bucket)
  if type(label) ~= "string" then return escape.text(tostring(label)) end
  if bucket == "day" and label:match("^%d%d%d%d%-%d%d%-%d%dT") then return label:sub(1, 10) end
  local s = chart.short_time(label, nil)
  if s ~= escape.text(label) then return s .. " UTC" end
  return s
end

-- fit(s, width_px) -> s cut with "…" to about width_px at the chart font.
local function fit(s, width_px)
  return escape.truncate(s, max(3, floor(width_px / CHAR_W)))
end

local largest = chart.largest

-- stats(values, unit) -> "min X, max Y, total Z" or "no values"
local function stats(values, unit)
  local lo, hi, total
  for i = 1, #values do
    local v = num(values[i])
    if v then lo, hi, total = min(lo or v, v), max(hi or v, v), (total or 0) + v end
  end
  if not total then return "no values" end
  return format("min %s, max %s, total %s", value_text(lo, unit), value_text(hi, unit), value_text(total, unit))
end

local function series_name(s, i)
  if s.name ~= nil then return escape.text(tostring(s.name)) end
  return "series " .. i
end

local function describe(sec)
  local parts = {}
  local n = #sec.labels
  if sec.chart == "time" and n > 0 then
    parts[1] = format("%d %s from %s to %s.", n, sec.bucket == "day" and "days" or sec.bucket == "hour" and "hours"
      or "buckets", M.bucket_text(sec.labels[1], sec.bucket), M.bucket_text(sec.labels[n], sec.bucket))
  else
    parts[1] = format("%d %s.", n, n == 1 and "bar" or "bars")
  end
  for i, s in ipairs(sec.series) do parts[#parts + 1] = series_name(s, i) .. ": " .. stats(s.values, sec.unit) .. "." end
  return concat(parts, " ")
end

local function open_svg(sec, opts, width, height, kind)
  local id = opts.id or "chart"
  local title = sec.title ~= nil and tostring(sec.title) or (kind == "time" and "Time chart" or "Bar chart")
  return {
    format('<svg class="chart chart-%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d"'
      .. ' role="img" aria-labelledby="%s-t %s-d">', kind, width, height, width, height, esc(id), esc(id)),
    format('<title id="%s-t">%s</title><desc id="%s-d">%s</desc>', esc(id), esc(title), esc(id), esc(describe(sec))),
  }
end

local function legend(out, sec, y)
  local x = 0
  for i, s in ipairs(sec.series) do
    local name = series_name(s, i)
    out[#out + 1] = format('<rect class="s%d" x="%s" y="%s" width="10" height="10" rx="2"/>', (i - 1) % 6 + 1, n2(x), n2(y))
    out[#out + 1] = format('<text class="legend" x="%s" y="%s">%s</text>', n2(x + 14), n2(y + 9), esc(name))
    x = x + 14 + #name * CHAR_W + 16
  end
end

local function no_data(sec, opts, width, kind)
  local out = open_svg(sec, opts, width, 40, kind)
  out[#out + 1] = '<text class="nodata" x="0" y="24">No data</text></svg>'
  return concat(out)
end

-- Bar chart ---------------------------------------------------------------------------------

function M.bar(sec, opts)
  opts = opts or {}
  local width = opts.width or 640
  if #sec.labels == 0 or #sec.series == 0 then return no_data(sec, opts, width, "bar") end
  local nseries = #sec.series
  local labels, widest_label, widest_value = {}, 0, 0
  for i, l in ipairs(sec.labels) do
    labels[i] = escape.text(tostring(l))
    widest_label = max(widest_label, escape.display_width(labels[i]))
  end
  for _, s in ipairs(sec.series) do
    for i = 1, #sec.labels do
      local v = num(s.values[i])
      if v then widest_value = max(widest_value, #value_text(v, sec.unit)) end
    end
  end
  local label_w = min(floor(width * 0.38), widest_label * CHAR_W + 4)
  local value_w = widest_value * CHAR_W + 6
  local bar_x = label_w + 8
  local bar_w = max(20, width - bar_x - value_w)
  local bar_h = nseries > 1 and 12 or 16
  local row_h = nseries * bar_h + (nseries > 1 and 10 or 6)
  local top_y = nseries > 1 and 20 or 0
  local height = top_y + #labels * row_h
  local out = open_svg(sec, opts, width, height, "bar")
  if nseries > 1 then legend(out, sec, 2) end
  local top = sec.max or largest(sec.series)
  for i, label in ipairs(labels) do
    local y0 = top_y + (i - 1) * row_h
    out[#out + 1] = format('<text class="label" x="%s" y="%s" text-anchor="end"><title>%s</title>%s</text>',
      n2(label_w), n2(y0 + (nseries * bar_h) / 2 + 4), esc(label), esc(fit(label, label_w)))
    for s, series in ipairs(sec.series) do
      local v = num(series.values[i])
      local y = y0 + (s - 1) * bar_h
      local w = (v and v > 0 and top > 0) and max(1, min(v, top) / top * bar_w) or 0
      local vt = v and value_text(v, sec.unit) or "no value"
      local tip = label .. (nseries > 1 and " — " .. series_name(series, s) or "") .. ": " .. vt
      out[#out + 1] = format('<g><title>%s</title><rect class="bar s%d" x="%s" y="%s" width="%s" height="%s" rx="2"/>'
        .. '<text class="value" x="%s" y="%s">%s</text></g>', esc(tip), (s - 1) % 6 + 1, n2(bar_x), n2(y + 1),
        n2(w), n2(bar_h - 2), n2(bar_x + w + 4), n2(y + bar_h - 4), v and esc(vt) or "")
    end
  end
  out[#out + 1] = "</svg>"
  return concat(out)
end

-- Time chart --------------------------------------------------------------------------------

local PLOT_H, GAP_H, AXIS_H, LEFT = 84, 26, 22, 58

local function x_ticks(n, plot_w)
  local most = max(1, floor(plot_w / 80))
  local step = max(1, ceil(n / most))
  local ticks = {}
  for i = 1, n, step do ticks[#ticks + 1] = i end
  return ticks
end

local function tick_label(label, bucket)
  local s = chart.short_time(label, bucket)
  if bucket == "day" then return (s:gsub("^%d%d%d%d%-", "")) end
  return s
end

local function plot(out, sec, s, series, y0, plot_w)
  local n = #sec.labels
  local hi = 0
  for i = 1, n do local v = num(series.values[i]); if v and v > hi then hi = v end end
  local top = M.nice(hi)
  local name = series_name(series, s)
  out[#out + 1] = format('<text class="series" x="0" y="%s">%s</text>', n2(y0 - 8), esc(name))
  for k = 0, 2 do
    local y = y0 + PLOT_H - PLOT_H * k / 2
    out[#out + 1] = format('<line class="grid" x1="%d" x2="%s" y1="%s" y2="%s"/>', LEFT, n2(LEFT + plot_w), n2(y), n2(y))
    local tick = top * k / 2
    if sec.unit ~= "count" or tick == floor(tick) then
      out[#out + 1] = format('<text class="tick" x="%d" y="%s" text-anchor="end">%s</text>', LEFT - 6, n2(y + 4),
        esc(value_text(tick, sec.unit)))
    end
  end
  local slot = plot_w / n
  local col_w = max(1, slot * (n > 60 and 1 or 0.8))
  for i = 1, n do
    local v = num(series.values[i])
    local tip = M.bucket_text(sec.labels[i], sec.bucket) .. ": " .. (v and value_text(v, sec.unit) or "no value")
    local h = (v and v > 0) and max(1, v / top * PLOT_H) or 0
    local x = LEFT + (i - 1) * slot + (slot - col_w) / 2
    out[#out + 1] = format('<rect class="col s%d" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
      (s - 1) % 6 + 1, n2(x), n2(y0 + PLOT_H - h), n2(col_w), n2(h), esc(tip))
  end
end

function M.time(sec, opts)
  opts = opts or {}
  local width = opts.width or 640
  local n = #sec.labels
  if n == 0 or #sec.series == 0 then return no_data(sec, opts, width, "time") end
  local plot_w = width - LEFT - 4
  local nseries = #sec.series
  local height = nseries * (PLOT_H + GAP_H) + AXIS_H
  local out = open_svg(sec, opts, width, height, "time")
  for s, series in ipairs(sec.series) do plot(out, sec, s, series, GAP_H + (s - 1) * (PLOT_H + GAP_H), plot_w) end
  local base = nseries * (PLOT_H + GAP_H)
  local slot = plot_w / n
  out[#out + 1] = format('<line class="axis" x1="%d" x2="%s" y1="%s" y2="%s"/>', LEFT, n2(LEFT + plot_w), n2(base), n2(base))
  for _, i in ipairs(x_ticks(n, plot_w)) do
    local x = LEFT + (i - 0.5) * slot
    out[#out + 1] = format('<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>', n2(x), n2(base + 15),
      esc(tick_label(sec.labels[i], sec.bucket)))
  end
  out[#out + 1] = "</svg>"
  return concat(out)
end

function M.chart(sec, opts)
  if sec.chart == "time" then return M.time(sec, opts) end
  return M.bar(sec, opts)
end

return M
