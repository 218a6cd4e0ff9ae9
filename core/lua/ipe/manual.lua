-- ipe.manual: the ipe-run(1) manual page, generated from what 'ipe-run --help' and
-- 'ipe-run <verb> --help' print — ipe.cli's intro, GLOBAL_OPTIONS, ENVIRONMENT and each verb's
-- summary and usage text — so the page and the help cannot drift. core/ipe-run.1 is this
-- output, checked in so that 'man ipe-run' works after 'make install'; 'make man' rewrites it
-- and tests/lua/manual_test.lua fails when it is stale.
--
--   manual.page() -> troff text (man(7) macros)
--   manual.usage_blocks(text) -> the blocks of a usage text (see below)
--
-- A verb's usage text is read as blocks: "usage:" lines (the synopsis), paragraphs, headed
-- lists ("options:" then "  TERM   description" lines, a description continuing on deeper
-- indented lines), and any other indented lines, kept verbatim (.nf).
local M = {}

local concat = table.concat

-- Text for troff: backslashes as \e, a line never starting with a control character, a dash
-- that starts a word (an option) as \-, the dashes and arrow of the help texts as \(em \(en \(->.
local OPT_BEFORE = { [" "] = true, ["["] = true, ["|"] = true, ["("] = true, [","] = true, ["="] = true,
                     ["-"] = true, ["\t"] = true }

local function esc(s)
  s = s:gsub("\\", "\\e")
  local out, prev = {}, nil
  for c in s:gmatch(".") do
    out[#out + 1] = (c == "-" and (prev == nil or OPT_BEFORE[prev])) and "\\-" or c
    prev = c
  end
  s = concat(out):gsub("\226\128\148", "\\(em"):gsub("\226\128\147", "\\(en"):gsub("\226\134\146", "\\(->")
    :gsub("\226\128\166", "...")
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end
M.escape = esc

local function indent(l) return #l:match("^ *") end

-- term_split("  --since DURATION     window ...") -> "--since DURATION", "window ...", column
local function term_split(l)
  local lead, term, gap, rest = l:match("^( +)(%S.-)(   *)(%S.*)$")
  if not lead then return nil end
  return term, rest, #lead + #term + #gap
end

function M.usage_blocks(text)
  local lines = {}
  for l in (text:gsub("\n*$", "") .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local blocks, i = {}, 1
  while i <= #lines do
    local l = lines[i]
    if l == "" then
      i = i + 1
    elseif l:match("^usage: ") then
      local b = { kind = "synopsis", lines = { (l:gsub("^usage: ", "")) } }
      i = i + 1
      while lines[i] and lines[i]:match("^       ipe%-run") do
        b.lines[#b.lines + 1] = lines[i]:gsub("^ +", "")
        i = i + 1
      end
      blocks[#blocks + 1] = b
    elseif l:match("^%S[^:]*:$") and lines[i + 1] and term_split(lines[i + 1]) then
      local b = { kind = "list", head = l, items = {} }
      i = i + 1
      while lines[i] and lines[i] ~= "" and indent(lines[i]) > 0 do
        local term, rest, col = term_split(lines[i])
        local last = b.items[#b.items]
        if last and indent(lines[i]) >= last.col then
          last.text = last.text .. " " .. lines[i]:gsub("^ +", "")
        elseif term then
          b.items[#b.items + 1] = { term = term, text = rest, col = col }
        else
          b.items[#b.items + 1] = { term = lines[i]:gsub("^ +", ""), text = "", col = 99 }
        end
        i = i + 1
      end
      blocks[#blocks + 1] = b
    elseif indent(l) > 0 then
      local b = { kind = "verbatim", lines = {} }
      while lines[i] and indent(lines[i]) > 0 do b.lines[#b.lines + 1] = lines[i]; i = i + 1 end
      blocks[#blocks + 1] = b
    else
      local b = { kind = "para", lines = {} }
      while lines[i] and lines[i] ~= "" and indent(lines[i]) == 0 and not lines[i]:match("^usage: ")
          and not (lines[i]:match("^%S[^:]*:$") and lines[i + 1] and term_split(lines[i + 1])) do
        b.lines[#b.lines + 1] = lines[i]
        i = i + 1
      end
      blocks[#blocks + 1] = b
    end
  end
  return blocks
end

-- wrap(out, text, width, first, rest): text's words on lines of at most width columns (a
-- longer word alone on its line), the first line starting with first, the others with rest.
local function wrap(out, text, width, first, rest)
  local line, bare = first, true
  for word in text:gmatch("%S+") do
    if not bare and #line + 1 + #word > width then out[#out + 1] = line; line, bare = rest, true end
    line = line .. (bare and "" or " ") .. word
    bare = false
  end
  out[#out + 1] = line
end

-- help_text(usage [, width]) -> the usage text as 'ipe-run <verb> --help' prints it: paragraphs
-- and list descriptions re-wrapped to width (80) columns, a description under itself;
-- synopsis and verbatim lines as written.
function M.help_text(text, width)
  width = width or 80
  local out = {}
  for k, b in ipairs(M.usage_blocks(text)) do
    if k > 1 then out[#out + 1] = "" end
    if b.kind == "synopsis" then
      for i, l in ipairs(b.lines) do out[#out + 1] = (i == 1 and "usage: " or "       ") .. l end
    elseif b.kind == "para" then
      wrap(out, concat(b.lines, " "), width, "", "")
    elseif b.kind == "list" then
      out[#out + 1] = b.head
      for _, it in ipairs(b.items) do
        local col = it.col < 99 and it.col or #it.term + 4
        local head = "  " .. it.term
        head = #head + 2 <= col and head .. string.rep(" ", col - #head) or head .. "  "
        if it.text == "" then out[#out + 1] = "  " .. it.term
        else wrap(out, it.text, width, head, string.rep(" ", col)) end
      end
    else
      for _, l in ipairs(b.lines) do out[#out + 1] = l end
    end
  end
  return concat(out, "\n") .. "\n"
end

local function tp(out, term, text)
  out[#out + 1] = ".TP"
  out[#out + 1] = ".B " .. esc(term)
  out[#out + 1] = esc(text)
end

local function verb_section(out, name, mod)
  out[#out + 1] = ".SS " .. name
  out[#out + 1] = esc(mod.summary) .. "."
  for _, b in ipairs(M.usage_blocks(mod.usage)) do
    if b.kind == "synopsis" then
      out[#out + 1] = ".PP"
      out[#out + 1] = ".nf"
      for _, l in ipairs(b.lines) do out[#out + 1] = ".B " .. esc(l) end
      out[#out + 1] = ".fi"
    elseif b.kind == "para" then
      out[#out + 1] = ".PP"
      for _, l in ipairs(b.lines) do out[#out + 1] = esc(l) end
    elseif b.kind == "list" then
      out[#out + 1] = ".PP"
      out[#out + 1] = esc(b.head)
      out[#out + 1] = ".RS"
      for _, it in ipairs(b.items) do tp(out, it.term, it.text) end
      out[#out + 1] = ".RE"
    else
      out[#out + 1] = ".PP"
      out[#out + 1] = ".nf"
      for _, l in ipairs(b.lines) do out[#out + 1] = esc(l) end
      out[#out + 1] = ".fi"
    end
  end
end

function M.page()
  local cli = require "ipe.cli"
  local out = {
    '.\\" Generated by ipe.manual from the --help texts: edit those, then run make man.',
    '.TH IPE\\-RUN 1 "" "ipe ' .. require("ipe.version") .. '" "User Commands"',
    ".SH NAME",
    "ipe\\-run \\- investigate an IP address from a local Sentinel-shaped workspace",
    ".SH SYNOPSIS",
    ".B ipe\\-run",
    ".I verb",
    ".RI [ options ]",
    ".RI [ arguments ]",
    ".SH DESCRIPTION",
    ".B ipe\\-run",
    "investigates an IP address locally: who it is, what your logs say about it,",
    "what threat intelligence says, and what you can do about it \\(em what the",
    "Microsoft Sentinel / Defender IP entity page answers, from a local SQLite workspace.",
    "Every insight, hunt and response action is a Lua script run in a sandboxed worker",
    "with typed parameters.",
    ".SH VERBS",
  }
  local verbs = cli.available_verbs()
  for _, v in ipairs(verbs) do tp(out, v[1], v[2]) end
  out[#out + 1] = ".SH OPTIONS"
  out[#out + 1] = "Every verb takes:"
  for _, o in ipairs(cli.GLOBAL_OPTIONS) do tp(out, o[1], o[2]) end
  out[#out + 1] = ".SH COMMANDS"
  for _, v in ipairs(verbs) do verb_section(out, v[1], require("ipe.verbs." .. v[1])) end
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(cli.ENVIRONMENT) do tp(out, e[1], e[2]) end
  out[#out + 1] = ".SH EXIT STATUS"
  out[#out + 1] = esc(cli.EXIT_CODES) .. "."
  out[#out + 1] = ".SH FILES"
  tp(out, "$PREFIX/share/ipe", "the built-in insights, hunts and actions")
  tp(out, "$XDG_DATA_HOME/ipe/workspace.db", "the default workspace")
  tp(out, "$XDG_CONFIG_HOME/ipe/config", "the configuration file")
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = ".BR sqlite3 (1)"
  return concat(out, "\n") .. "\n"
end

return M
