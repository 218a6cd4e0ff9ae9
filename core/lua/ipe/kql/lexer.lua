-- ipe.kql.lexer: KQL text -> tokens, in one left-to-right pass (linear in the input).
--
--   lex(text) -> { {t=kind, v=value, pos=offset, line=, col=, len=}, ..., {t="eof"} }
-- kinds: "id" (names and keywords; the hyphenated operator names project-away, mv-expand, ...
-- and the negated or tilde string operators !has, in~, !startswith_cs ... are one token),
-- "str" (v = the decoded text), "int", "real", "span" (v = seconds), "op" (punctuation),
-- "eof". A lexical error raises ipe.kql.err's error at its position.
local err = require "ipe.kql.err"

local M = {}

local sub, find = string.sub, string.find

-- names written with a hyphen that are one token (operators of the language)
local HYPHENATED = {
  ["project-away"] = true, ["project-rename"] = true, ["project-reorder"] = true, ["project-keep"] = true,
  ["mv-expand"] = true, ["mv-apply"] = true, ["make-series"] = true, ["parse-where"] = true,
  ["parse-kv"] = true, ["top-nested"] = true, ["top-hitters"] = true, ["project-smart"] = true,
  ["find-in"] = true, ["scan-in"] = true,
}

-- the timespan suffixes, in seconds
local SPAN = {
  d = 86400, day = 86400, days = 86400, h = 3600, hr = 3600, hrs = 3600, hour = 3600, hours = 3600,
  m = 60, min = 60, minute = 60, minutes = 60, s = 1, sec = 1, second = 1, seconds = 1,
  ms = 0.001, milli = 0.001, millis = 0.001, millisecond = 0.001, milliseconds = 0.001,
  microsecond = 1e-6, microseconds = 1e-6, tick = 1e-7, ticks = 1e-7,
}
M.SPAN = SPAN

-- two-character punctuation; the rest is one character
local OPS2 = { ["=="] = true, ["!="] = true, ["<>"] = true, ["<="] = true, [">="] = true,
  ["=~"] = true, ["!~"] = true, [".."] = true }
local OPS1 = "|()[]{},;=<>+-*/%.:"

local ESCAPES = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ['"'] = '"', ["'"] = "'", ["0"] = "\0" }

function M.lex(text)
  local toks, n = {}, 0
  local i, len, line, line_start = 1, #text, 1, 1
  local function push(t, v, s, e)
    n = n + 1
    toks[n] = { t = t, v = v, pos = s, line = line, col = s - line_start + 1, len = e - s + 1 }
  end
  local function fail(s, fmt, ...)
    err.raise({ line = line, col = s - line_start + 1, len = 1 }, fmt, ...)
  end
  while i <= len do
    local c = sub(text, i, i)
    if c == "\n" then
      i = i + 1; line = line + 1; line_start = i
    elseif find(c, "^%s") then
      i = i + 1
    elseif c == "/" and sub(text, i + 1, i + 1) == "/" then
      local e = find(text, "\n", i, true)
      i = e or len + 1
    elseif c == '"' or c == "'" or ((c == "@" or c == "h" or c == "H") and find(sub(text, i + 1, i + 1), "^[\"']"))
        or (c == "h" and sub(text, i + 1, i + 1) == "@" and find(sub(text, i + 2, i + 2), "^[\"']")) then
      local s = i
      local verbatim = false
      while sub(text, i, i) ~= '"' and sub(text, i, i) ~= "'" do
        if sub(text, i, i) == "@" then verbatim = true end
        i = i + 1
      end
      local q = sub(text, i, i)
      i = i + 1
      local parts, p = {}, i
      while true do
        if i > len or sub(text, i, i) == "\n" then fail(s, "unterminated string literal") end
        local ch = sub(text, i, i)
        if ch == q then
          if verbatim and sub(text, i + 1, i + 1) == q then
            parts[#parts + 1] = sub(text, p, i); i = i + 2; p = i
          else
            parts[#parts + 1] = sub(text, p, i - 1); i = i + 1; break
          end
        elseif ch == "\\" and not verbatim then
          parts[#parts + 1] = sub(text, p, i - 1)
          local e = sub(text, i + 1, i + 1)
          if ESCAPES[e] then parts[#parts + 1] = ESCAPES[e]; i = i + 2
          elseif e == "u" and find(sub(text, i + 2, i + 5), "^%x%x%x%x$") then
            local cp = tonumber(sub(text, i + 2, i + 5), 16)
            parts[#parts + 1] = require("ipe.kql.util").utf8(cp); i = i + 6
          else fail(i, "unknown escape '\\%s' in a string literal", e) end
          p = i
        else
          i = i + 1
        end
      end
      push("str", table.concat(parts), s, i - 1)
    elseif find(c, "^%d") then
      local s = i
      local _, e = find(text, "^%d+", i)
      local num_end = e
      local is_real = false
      if sub(text, e + 1, e + 1) == "." and find(sub(text, e + 2, e + 2), "^%d") then
        _, num_end = find(text, "^%d+", e + 2); is_real = true
      end
      local _, ee = find(text, "^[eE][+-]?%d+", num_end + 1)
      if ee then num_end = ee; is_real = true end
      local numtext = sub(text, s, num_end)
      local _, we = find(text, "^[%a_]+", num_end + 1)
      if we then
        local suffix = sub(text, num_end + 1, we):lower()
        if SPAN[suffix] then
          push("span", tonumber(numtext) * SPAN[suffix], s, we)
        elseif suffix == "l" or suffix == "L" then
          push("int", tonumber(numtext), s, we)
        else
          fail(s, "bad number '%s'", sub(text, s, we))
        end
        i = we + 1
      else
        if sub(text, num_end + 1, num_end + 2) == "0x" then fail(s, "bad number") end
        push(is_real and "real" or "int", tonumber(numtext), s, num_end)
        i = num_end + 1
      end
    elseif find(c, "^[%a_$]") or (c == "!" and find(sub(text, i + 1, i + 1), "^%a")) then
      local s = i
      local _, e = find(text, "^!?[%a_$][%w_]*", i)
      local word = sub(text, s, e)
      -- hyphenated operator names: project-away, mv-expand ...
      local _, he = find(text, "^%-[%a]+", e + 1)
      if he and HYPHENATED[word .. sub(text, e + 1, he)] then
        e = he; word = sub(text, s, e)
      end
      -- in~ / !in~
      if (word == "in" or word == "!in" or word == "has_any" or word == "contains") and sub(text, e + 1, e + 1) == "~" then
        e = e + 1; word = word .. "~"
      end
      push("id", word, s, e)
      i = e + 1
    else
      local two = sub(text, i, i + 1)
      if OPS2[two] then
        push("op", two, i, i + 1); i = i + 2
      elseif find(OPS1, c, 1, true) then
        push("op", c, i, i); i = i + 1
      else
        fail(i, "unexpected character '%s'", c)
      end
    end
  end
  n = n + 1
  toks[n] = { t = "eof", v = "<end of query>", pos = len + 1, line = line, col = len + 2 - line_start, len = 1 }
  return toks
end

return M
