-- ipe.render: turn a run record (one script run: params, window, status, sections, queries,
-- timing) into text in one of five formats. Pure: record + opts -> string; the record is never
-- modified.
--
--   render.formats                      -> { "table", "box", "json", "csv", "md", "html" }
--   render.run(record [, fmt [, opts]]) -> text (fmt defaults to "table")
--   render.section(section [, fmt [, opts]]) -> text of one section in that format
--   render.options(opts) -> normalised copy: width (default 80, at least 20), color (only when
--     exactly true), show_query, pretty (json), height (rows a time chart may take, default 48)
--
-- Formats: table (plain, aligned, fitted to width), box (Unicode borders), json (ordered,
-- exact; see ipe.render.json), csv (RFC 4180, data only), md (GitHub Markdown).
-- Every format ends its output with a newline, except csv/md of an empty run ("").
--
-- Errors (a script returned a malformed section, or the caller passed a bad format) are raised
-- with error(msg, 0), naming the section:
--   "unknown format 'x' (use table, box, json, csv, md or html)"
--   "section 2: unknown kind 'pie' (use table, kv or chart)"
--   "section 1: columns must be a non-empty list"
--   "section 1: column 3 has unknown type 'float' (use text, ip, time, count, number, bytes, bool or json)"
--   "section 1: row 4 is not a list"
--   "section 1: unknown chart 'pie' (use bar or time)"      (also for bad unit and bucket)
--   "section 1: series 2 has 3 values for 4 labels"
--   "record: unknown status 'x' (use ok, empty, error or skipped)"
local escape = require "ipe.render.escape"
local text = require "ipe.render.text"
local json = require "ipe.render.json"
local csv = require "ipe.render.csv"
local markdown = require "ipe.render.markdown"

local M = {}

local format, floor = string.format, math.floor

M.formats = { "table", "box", "json", "csv", "md", "html" }

local COLUMN_TYPES = { text = true, ip = true, time = true, count = true, number = true,
  bytes = true, bool = true, json = true }

local function fail(where, fmt, ...)
  error(where .. ": " .. format(fmt, ...), 0)
end

local function is_list(v) return type(v) == "table" end

local function check_table(sec, where)
  if not is_list(sec.columns) or #sec.columns == 0 then fail(where, "columns must be a non-empty list") end
  for i, c in ipairs(sec.columns) do
    if type(c) ~= "table" then fail(where, "column %d is not a table", i) end
    if c.type ~= nil and not COLUMN_TYPES[c.type] then
      fail(where, "column %d has unknown type '%s' (use text, ip, time, count, number, bytes, bool or json)",
        i, escape.text(tostring(c.type)))
    end
  end
  if sec.rows ~= nil and not is_list(sec.rows) then fail(where, "rows must be a list") end
  for i, row in ipairs(sec.rows or {}) do
    if not is_list(row) then fail(where, "row %d is not a list", i) end
  end
end

local function check_kv(sec, where)
  if sec.items ~= nil and not is_list(sec.items) then fail(where, "items must be a list") end
  for i, it in ipairs(sec.items or {}) do
    if type(it) ~= "table" then fail(where, "item %d is not a table", i) end
    if it.type ~= nil and not COLUMN_TYPES[it.type] then
      fail(where, "item %d has unknown type '%s' (use text, ip, time, count, number, bytes, bool or json)",
        i, escape.text(tostring(it.type)))
    end
  end
end

local function one_of(where, what, v, allowed, hint)
  if v ~= nil and not allowed[v] then
    fail(where, "unknown %s '%s' (use %s)", what, escape.text(tostring(v)), hint)
  end
end

local function check_chart(sec, where)
  if sec.chart == nil then fail(where, "chart type missing (use bar or time)") end
  one_of(where, "chart", sec.chart, { bar = true, time = true }, "bar or time")
  one_of(where, "unit", sec.unit, { count = true, bytes = true }, "count or bytes")
  one_of(where, "bucket", sec.bucket, { minute = true, hour = true, day = true }, "minute, hour or day")
  if not is_list(sec.labels) then fail(where, "labels must be a list") end
  if not is_list(sec.series) then fail(where, "series must be a list") end
  for i, s in ipairs(sec.series) do
    if type(s) ~= "table" or not is_list(s.values) then fail(where, "series %d has no values list", i) end
    if #s.values ~= #sec.labels then
      fail(where, "series %d has %d values for %d labels", i, #s.values, #sec.labels)
    end
  end
end

local CHECK = { table = check_table, kv = check_kv, chart = check_chart }

local function check_section(sec, where)
  if type(sec) ~= "table" then fail(where, "not a table") end
  local check = CHECK[sec.kind]
  if not check then
    fail(where, "unknown kind '%s' (use table, kv or chart)", escape.text(tostring(sec.kind)))
  end
  check(sec, where)
end

local STATUS = { ok = true, empty = true, error = true, skipped = true }

local function check_record(record)
  if type(record) ~= "table" then error("record: not a table", 0) end
  if record.status ~= nil and not STATUS[record.status] then
    fail("record", "unknown status '%s' (use ok, empty, error or skipped)", escape.text(tostring(record.status)))
  end
  if record.sections ~= nil and not is_list(record.sections) then fail("record", "sections must be a list") end
  for i, sec in ipairs(record.sections or {}) do check_section(sec, "section " .. i) end
end

function M.options(opts)
  opts = opts or {}
  local width = floor(tonumber(opts.width) or 80)
  return {
    width = width < 20 and 20 or width,
    color = opts.color == true,
    show_query = opts.show_query and true or false,
    pretty = opts.pretty and true or false,
    height = floor(tonumber(opts.height) or 48),
  }
end

local RUN = {
  table = function(r, o) return text.run(r, o, false) end,
  box = function(r, o) return text.run(r, o, true) end,
  json = function(r, o) return json.encode(json.record(r), o) .. "\n" end,
  csv = function(r) return csv.run(r) end,
  md = function(r, o) return markdown.run(r, o) end,
  html = function(r, o) return require("ipe.render.html").run(r, { show_query = o.show_query }) end,
}

local SECTION = {
  table = function(s, o) return text.section(s, o, false) end,
  box = function(s, o) return text.section(s, o, true) end,
  json = function(s, o) return json.encode(json.section(s), o) .. "\n" end,
  csv = function(s) return csv.section(s) end,
  md = function(s) return markdown.section(s) end,
  html = function(s, o) return require("ipe.render.html").run({ status = "ok", sections = { s } }, { show_query = o.show_query }) end,
}

local function pick(map, fmt)
  fmt = fmt or "table"
  local f = map[fmt]
  if not f then
    error(format("unknown format '%s' (use table, box, json, csv, md or html)", escape.text(tostring(fmt))), 0)
  end
  return f
end

function M.run(record, fmt, opts)
  local f = pick(RUN, fmt)
  check_record(record)
  return f(record, M.options(opts))
end

function M.section(sec, fmt, opts)
  local f = pick(SECTION, fmt)
  check_section(sec, "section")
  return f(sec, M.options(opts))
end

return M
