-- ipe.textutil: UTF-8 text helpers the whole runtime uses (the runner, the CLI, the ingest
-- readers, the renderers): decoding UTF-8 and making untrusted text safe to print.
--
-- Threat-intel strings (WHOIS, HTML titles, user agents, hostnames) and the data being ingested
-- are adversarial: a raw "\27[2J" clears the analyst's screen, "\27]8;;..." plants a hyperlink,
-- U+202E reverses text. textutil.visible() turns every such character into a visible escape:
--   C0 controls and DEL   -> "\n", "\t", "\r", otherwise "\xNN" (lower-case hex): "\x1b", "\x7f"
--   C1 controls U+0080–U+009F and the bidi formatting characters (U+200E, U+200F, U+202A–U+202E,
--   U+2066–U+2069)        -> "\uNNNN": "\u009b", "\u202e"
--   invalid UTF-8 bytes   -> "\xNN" (one escape per byte)
-- Backslashes are left alone (Windows paths stay readable), so the escapes are for the eye, not a
-- reversible encoding. Valid printable UTF-8 passes through unchanged.
--
--   textutil.decode(s, i)          -> code point, byte length of the sequence at i | nil
--   textutil.is_bidi(cp)           -> whether cp is a bidi formatting character
--   textutil.visible(s [, newline]) -> s with controls, bidi controls and invalid UTF-8 escaped
--   textutil.lines(s)              -> the escaped lines of a multi-line text
--   textutil.quote(v)              -> "'v'" for an error message (ipe.ipaddr, ipe.timeutil): cut
--                                     to 80 bytes, every control, backslash and non-ASCII byte
--                                     escaped (\n \r \t \\ \xNN), so the message stays one line
--
-- Measuring text for a terminal (columns, truncation) is rendering: ipe.render.escape.
-- Pure functions; no errors are raised for any string input.
local M = {}

local byte, sub, find, format, concat = string.byte, string.sub, string.find, string.format, table.concat

-- decode(s, i) -> code point, length of the UTF-8 sequence starting at byte i;
-- nil when the byte at i does not start a valid, shortest-form sequence (or i is past the end).
-- Surrogates (U+D800–U+DFFF) and values above U+10FFFF are invalid.
local function decode(s, i)
  local c = byte(s, i)
  if not c then return nil end
  if c < 0x80 then return c, 1 end
  if c < 0xC2 then return nil end
  if c < 0xE0 then
    local c2 = byte(s, i + 1)
    if c2 and c2 >= 0x80 and c2 <= 0xBF then return (c - 0xC0) * 64 + (c2 - 0x80), 2 end
    return nil
  end
  if c < 0xF0 then
    local c2, c3 = byte(s, i + 1, i + 2)
    local lo, hi = 0x80, 0xBF
    if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    if c2 and c3 and c2 >= lo and c2 <= hi and c3 >= 0x80 and c3 <= 0xBF then
      return ((c - 0xE0) * 64 + (c2 - 0x80)) * 64 + (c3 - 0x80), 3
    end
    return nil
  end
  if c < 0xF5 then
    local c2, c3, c4 = byte(s, i + 1, i + 3)
    local lo, hi = 0x80, 0xBF
    if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    if c2 and c3 and c4 and c2 >= lo and c2 <= hi and c3 >= 0x80 and c3 <= 0xBF
        and c4 >= 0x80 and c4 <= 0xBF then
      return (((c - 0xF0) * 64 + (c2 - 0x80)) * 64 + (c3 - 0x80)) * 64 + (c4 - 0x80), 4
    end
    return nil
  end
  return nil
end
M.decode = decode

local NAMED = { [9] = "\\t", [10] = "\\n", [13] = "\\r" }

-- is_bidi(cp): a bidirectional formatting character (can reorder what the terminal shows).
local function is_bidi(cp)
  return cp == 0x200E or cp == 0x200F or (cp >= 0x202A and cp <= 0x202E)
      or (cp >= 0x2066 and cp <= 0x2069)
end
M.is_bidi = is_bidi

-- one_escape(s, i, newline) -> text to show for the character at byte i, its byte length.
local function one_escape(s, i, newline)
  local cp, len = decode(s, i)
  if not cp then return format("\\x%02x", byte(s, i)), 1 end
  if cp < 0x20 or cp == 0x7F then
    if newline and cp == 10 then return newline, 1 end
    if newline and cp == 13 and byte(s, i + 1) == 10 then return newline, 2 end
    return NAMED[cp] or format("\\x%02x", cp), 1
  end
  if (cp >= 0x80 and cp <= 0x9F) or is_bidi(cp) then return format("\\u%04x", cp), len end
  return sub(s, i, i + len - 1), len
end

-- visible(s [, newline]) -> s with control characters, bidi controls and invalid UTF-8 made visible.
-- With `newline` given, "\n" and "\r\n" become that string instead of "\n" (Markdown uses "<br>").
function M.visible(s, newline)
  if not find(s, "[%z\1-\31\127-\255]") then return s end
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local j = find(s, "[%z\1-\31\127-\255]", i)
    if not j then n = n + 1; out[n] = sub(s, i); break end
    if j > i then n = n + 1; out[n] = sub(s, i, j - 1) end
    local piece, l = one_escape(s, j, newline)
    n = n + 1; out[n] = piece
    i = j + l
  end
  return concat(out)
end

-- lines(s) -> list of escaped lines of a multi-line text (query text): split on "\n" or "\r\n",
-- tabs expanded to four spaces, everything else escaped as by visible().
function M.lines(s)
  local list = {}
  s = s:gsub("\r\n", "\n"):gsub("\t", "    ")
  for line in (s .. "\n"):gmatch("(.-)\n") do list[#list + 1] = M.visible(line) end
  return list
end

local QUOTE_ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\\"] = "\\\\" }

local function escape_byte(c) return QUOTE_ESCAPES[c] or format("\\x%02x", byte(c)) end

function M.quote(v)
  local s = tostring(v)
  if #s > 80 then s = sub(s, 1, 77) .. "..." end
  if find(s, "[%c\\\128-\255]") then s = s:gsub("[%c\\\128-\255]", escape_byte) end
  return "'" .. s .. "'"
end

-- distance(a, b) -> the Levenshtein distance of two texts (bytes), for "did you mean"
function M.distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

return M
