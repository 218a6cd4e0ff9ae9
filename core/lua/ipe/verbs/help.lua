-- ipe.verbs.help: ipe-run help [<kind> <name>] — a script's documentation.
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local textutil = require "ipe.textutil"
local insight = require "ipe.verbs.insight"
local text = require "ipe.render.text"

local M = {}

M.summary = "show a script's documentation and parameters"
M.usage = [[
usage: ipe-run help <insight|hunt|action> <name>
       ipe-run help <name>
       ipe-run help <verb>
       ipe-run help --man

Shows what a script does, the tables it reads, its categories and its typed
parameters with their defaults. A bare name is looked up among the verbs, then
the insights, hunts and actions.

options:
  --man      print the manual page ipe-run(1) as troff (view it with
             'ipe-run help --man | man -l -')
]]

M.options = { { { "man" } } }

local KINDS = { insight = true, hunt = true, action = true, insights = "insight", hunts = "hunt", actions = "action" }

local function show(v)
  if v == nil then return "" end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = tostring(x) end
    return table.concat(parts, ",")
  end
  return tostring(v)
end

-- name, type and "help (default ...)" in aligned columns, the last wrapped to the width
local function param_lines(params, width)
  local nw, tw = 4, 4
  for _, p in ipairs(params) do nw, tw = math.max(nw, #p.name), math.max(tw, #p.type) end
  local room = math.max(30, width - nw - tw - 6)
  local out = {}
  for _, p in ipairs(params) do
    local extra = p.required and "required" or "default " .. (show(p.default) ~= "" and show(p.default) or "''")
    if p.choices then extra = extra .. "; one of " .. table.concat(p.choices, ", ") end
    local texts = text.wrap(textutil.visible(p.help .. " (" .. extra .. ")"), room)
    for k, t in ipairs(texts) do
      out[#out + 1] = k == 1 and string.format("  %-" .. nw .. "s  %-" .. tw .. "s  %s", textutil.visible(p.name), p.type, t)
        or string.rep(" ", nw + tw + 6) .. t
    end
  end
  return out
end

local function usage_line(kind, name, params)
  local parts = { "ipe-run", kind, name }
  for i, p in ipairs(params) do
    if kind == "insight" and i == 1 then parts[#parts + 1] = "<ip>"
    elseif p.required then parts[#parts + 1] = "-p " .. p.name .. "=<" .. p.type .. ">" end
  end
  return table.concat(parts, " ")
end

local ORDER = { "insight", "hunt", "action" }

-- A bare name: the one script of any kind with that name.
local function resolve(name)
  local index = discover.scan()
  local found = {}
  for _, kind in ipairs(ORDER) do
    local e = discover.find(index, kind, name)
    if e then found[#found + 1] = e end
  end
  if #found == 1 then return found[1].kind, found[1] end
  if #found > 1 then
    local ART = { insight = "an insight", hunt = "a hunt", action = "an action" }
    local kinds = {}
    for i, e in ipairs(found) do kinds[i] = ART[e.kind] end
    errors.usage("help: '%s' is %s; say which: ipe-run help %s %s", textutil.visible(name), table.concat(kinds, " and "),
      found[1].kind, textutil.visible(name))
  end
  local near = {}
  for _, kind in ipairs(ORDER) do
    for _, n in ipairs(discover.suggest(index, kind, name, 2)) do near[#near + 1] = kind .. " " .. n end
  end
  errors.not_found("help: no verb, insight, hunt or action named '%s'%s", textutil.visible(name),
    #near > 0 and " (did you mean: " .. table.concat(near, ", ") .. "?)" or " (see 'ipe-run list')")
end

function M.run(opts, pos)
  if opts.man then
    if #pos > 0 then errors.usage("help: --man takes no argument") end
    io.stdout:write(require("ipe.manual").page())
    return 0
  end
  local kind, name = pos[1], pos[2]
  if not kind then io.stdout:write(require("ipe.cli").usage()) return 0 end
  local entry
  if not KINDS[kind] then
    for _, v in ipairs(require("ipe.cli").available_verbs()) do
      if v[1] == kind then io.stdout:write(require("ipe.verbs." .. v[1]).usage) return 0 end
    end
    if name then errors.usage("help: '%s' is not a verb nor insight, hunt or action", textutil.visible(kind)) end
    kind, entry = resolve(kind)
    name = entry.name
  end
  kind = KINDS[kind] == true and kind or KINDS[kind]
  if not name then errors.usage("help: which %s? usage: ipe-run help %s <name>", kind, kind) end
  entry = entry or insight.lookup(discover.scan(), kind, name)
  local m = runner.describe_many({ entry }, 1)[1]
  if m.broken then errors.not_found("%s '%s' is broken: %s", kind, name, m.broken) end
  local lines = {
    string.format("%s %s — %s", kind, name, m.title), "", m.summary, "",
  }
  for _, l in ipairs(textutil.lines((m.description:gsub("%s+$", "")))) do lines[#lines + 1] = l end
  for _, l in ipairs({ "",
    "usage: " .. usage_line(kind, name, m.params),
    "categories: " .. show(m.categories),
    "reads: " .. (#m.sources > 0 and show(m.sources) or "no workspace tables"),
  }) do lines[#lines + 1] = textutil.visible(l) end
  if m.side_effects then lines[#lines + 1] = textutil.visible("side effects: " .. table.concat(m.side_effects, "; ")) end
  lines[#lines + 1] = textutil.visible("file: " .. entry.path)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "parameters:"
  for _, l in ipairs(param_lines(m.params, require("ipe.verbs.common").width(opts))) do lines[#lines + 1] = l end
  io.stdout:write(table.concat(lines, "\n"), "\n")
  return 0
end

return M
