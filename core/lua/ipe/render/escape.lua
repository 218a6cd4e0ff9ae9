-- ipe.render.escape: untrusted text made safe to print on a terminal, and measured.
--
-- The escaping (escape.text, escape.lines, escape.decode, escape.is_bidi) is ipe.textutil's
-- (escape.text = textutil.visible), re-exported here for the renderers; code that only needs
-- safe text (the runner, the CLI, ingest) uses ipe.textutil directly.
--
-- display_width() counts terminal columns: one per code point, two for East Asian wide and
-- fullwidth characters (and the common emoji blocks), zero for combining marks, variation
-- selectors and zero-width characters. truncate() cuts by columns, never inside a UTF-8 sequence.
--
-- Pure functions; no errors are raised for any string input.
local textutil = require "ipe.textutil"

local M = {}

local decode = textutil.decode
M.decode = decode
M.is_bidi = textutil.is_bidi
M.text = textutil.visible
M.lines = textutil.lines

local sub, find = string.sub, string.find

local WIDE = {
  { 0x1100, 0x115F }, { 0x2E80, 0xA4CF }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF },
  { 0xFE30, 0xFE4F }, { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 }, { 0x1F300, 0x1F64F },
  { 0x1F900, 0x1F9FF }, { 0x20000, 0x3FFFD },
}
local ZERO = {
  { 0x0300, 0x036F }, { 0x1AB0, 0x1AFF }, { 0x1DC0, 0x1DFF }, { 0x200B, 0x200F },
  { 0x20D0, 0x20FF }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F },
}

local function in_ranges(cp, ranges)
  for i = 1, #ranges do
    local r = ranges[i]
    if cp < r[1] then return false end
    if cp <= r[2] then return true end
  end
  return false
end

-- cp_width(cp) -> columns taken by one code point (0, 1 or 2).
local function cp_width(cp)
  if cp < 0x300 then return 1 end
  if in_ranges(cp, ZERO) then return 0 end
  if in_ranges(cp, WIDE) then return 2 end
  return 1
end
M.cp_width = cp_width

-- display_width(s) -> terminal columns of s; an invalid byte counts as one column.
function M.display_width(s)
  if not find(s, "[\128-\255]") then return #s end
  local w, i, n = 0, 1, #s
  while i <= n do
    local cp, len = decode(s, i)
    if cp then w, i = w + cp_width(cp), i + len else w, i = w + 1, i + 1 end
  end
  return w
end

-- truncate(s, width) -> s when it fits in width columns, otherwise the longest prefix that fits
-- in width-1 columns followed by "…" (width <= 0 gives "").
function M.truncate(s, width)
  if width <= 0 then return "" end
  if M.display_width(s) <= width then return s end
  local used, i, n = 0, 1, #s
  while i <= n do
    local cp, len = decode(s, i)
    local w = cp and cp_width(cp) or 1
    if used + w > width - 1 then break end
    used, i = used + w, i + (len or 1)
  end
  return sub(s, 1, i - 1) .. "…"
end

return M
