-- The manual page and the --help texts come from one source and cannot drift: every verb and
-- every option a verb accepts is in both, and core/ipe-run.1 is what ipe.manual generates.
local T = require "ipe.testing"
local cli = require "ipe.cli"
local common = require "ipe.verbs.common"
local manual = require "ipe.manual"
local fs = require "ipe.fs"

local page = manual.page()

-- the part of the man page about one verb: from its .SS line to the next .SS or .SH
local function man_section(verb)
  local from = page:find("\n.SS " .. verb .. "\n", 1, true)
  if not from then return nil end
  local rest = page:sub(from + 1)
  local stop = rest:find("\n%.S[SH] ")
  return stop and rest:sub(1, stop) or rest
end

-- "--no-bulk" as troff writes it: "\-\-no\-bulk"
local function troff(s) return manual.escape(s) end

local function spec_names(mod)
  local names = {}
  for _, list in ipairs(mod.options or {}) do
    for _, o in ipairs(list) do names[#names + 1] = o end
  end
  return names
end

local GLOBAL = {}
for _, o in ipairs(common.GLOBAL) do GLOBAL[o[1]] = true end

T.case("core/ipe-run.1 is the generated page (run 'make man' after changing a --help text)", function()
  local path = require("ipe.discover").home() .. "/core/ipe-run.1"
  local file = fs.read(path)
  T.ok(file, "read " .. path)
  T.ok(file == page, "core/ipe-run.1 differs from 'ipe-run help --man'")
end)

T.case("every verb is in --help and has its section in the man page", function()
  local usage = cli.usage()
  for _, v in ipairs(cli.available_verbs()) do
    T.like(usage, "\n  " .. v[1]:gsub("%-", "%%-") .. " +", "--help lists " .. v[1])
    T.ok(man_section(v[1]), "the man page has a section for " .. v[1])
    T.ok(page:find(".B " .. v[1] .. "\n" .. manual.escape(v[2]) .. "\n", 1, true), "man VERBS lists " .. v[1])
  end
end)

T.case("every option a verb accepts is in its --help and in its man section", function()
  for _, v in ipairs(cli.available_verbs()) do
    local mod = require("ipe.verbs." .. v[1])
    local sec = man_section(v[1]) or ""
    for _, o in ipairs(spec_names(mod)) do
      local long = "--" .. o[1]
      T.ok(mod.usage:find(long, 1, true), v[1] .. " --help documents " .. long)
      T.ok(sec:find(troff(long), 1, true), "man: " .. v[1] .. " documents " .. long)
      if o[2] then
        T.ok(mod.usage:find("-" .. o[2] .. ",", 1, true), v[1] .. " --help documents -" .. o[2])
        T.ok(sec:find(troff("-" .. o[2]) .. ",", 1, true), "man: " .. v[1] .. " documents -" .. o[2])
      end
    end
  end
end)

T.case("the options of every verb and the environment are in --help and in the man page", function()
  local usage = cli.usage()
  for _, o in ipairs(common.GLOBAL) do
    T.ok(usage:find("--" .. o[1], 1, true), "--help: --" .. o[1])
    T.ok(page:find(troff("--" .. o[1]), 1, true), "man: --" .. o[1])
  end
  T.ok(GLOBAL.db and GLOBAL.now and GLOBAL.verbose and GLOBAL.help)
  for _, e in ipairs(cli.ENVIRONMENT) do
    T.ok(usage:find("\n  " .. e[1] .. " ", 1, true), "--help: " .. e[1])
    T.ok(page:find(".B " .. e[1] .. "\n", 1, true), "man: " .. e[1])
  end
  for _, name in ipairs({ "IPE_GEOIP", "IPE_DB", "IPE_PATH", "COLUMNS" }) do
    T.ok(page:find(".B " .. name .. "\n", 1, true), "man: " .. name)
  end
end)

T.case("usage texts read as blocks: synopsis, paragraphs, option lists, verbatim lines", function()
  local b = manual.usage_blocks("usage: ipe-run x [A]\n       ipe-run x --y\n\nSome text\nmore.\n\n"
    .. "options:\n  -a, --all   every\n              one\n  --b N       bee\n\n  1.2.3.4   kept as is\n")
  T.eq(#b, 4)
  T.eq(b[1], { kind = "synopsis", lines = { "ipe-run x [A]", "ipe-run x --y" } })
  T.eq(b[2], { kind = "para", lines = { "Some text", "more." } })
  T.eq(b[3].head, "options:")
  T.eq({ b[3].items[1].term, b[3].items[1].text, b[3].items[2].term }, { "-a, --all", "every one", "--b N" })
  T.eq(b[4], { kind = "verbatim", lines = { "  1.2.3.4   kept as is" } })
  T.eq(manual.escape(".x --a-b \\n"), "\\&.x \\-\\-a-b \\en")
end)

T.done()
