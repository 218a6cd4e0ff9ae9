-- ipe.verbs.help: ipe-run help [<kind> <name>] — a script's documentation.
local errors = require "ipe.errors"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local escape = require "ipe.render.escape"
local insight = require "ipe.verbs.insight"

local M = {}

M.summary = "show a script's documentation and parameters"
M.usage = [[
usage: ipe-run help <insight|hunt|action> <name>
       ipe-run help <verb>

Shows what a script does, the tables it reads, its categories and its typed
parameters with their defaults.
]]

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

local function param_lines(params)
  local out = {}
  for _, p in ipairs(params) do
    local extra = p.required and "required" or "default " .. show(p.default)
    if p.choices then extra = extra .. "; one of " .. table.concat(p.choices, ", ") end
    out[#out + 1] = string.format("  %-14s %-10s %s (%s)", p.name, p.type, p.help, extra)
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

function M.run(opts, pos)
  local kind, name = pos[1], pos[2]
  if not kind then io.stdout:write(require("ipe.cli").usage()) return 0 end
  if not KINDS[kind] then
    local ok, mod = pcall(require, "ipe.verbs." .. kind)
    if ok then io.stdout:write(mod.usage) return 0 end
    errors.usage("help: '%s' is not a verb nor insight, hunt or action", kind)
  end
  kind = KINDS[kind] == true and kind or KINDS[kind]
  if not name then errors.usage("help: which %s? usage: ipe-run help %s <name>", kind, kind) end
  local entry = insight.lookup(discover.scan(), kind, name)
  local m = runner.describe_many({ entry }, 1)[1]
  if m.broken then errors.not_found("%s '%s' is broken: %s", kind, name, m.broken) end
  local lines = {
    string.format("%s %s — %s", kind, name, m.title), "", m.summary, "",
  }
  for _, l in ipairs(escape.lines((m.description:gsub("%s+$", "")))) do lines[#lines + 1] = l end
  for _, l in ipairs({ "",
    "usage: " .. usage_line(kind, name, m.params),
    "categories: " .. show(m.categories),
    "reads: " .. (#m.sources > 0 and show(m.sources) or "no workspace tables"),
  }) do lines[#lines + 1] = escape.text(l) end
  if m.side_effects then lines[#lines + 1] = escape.text("side effects: " .. table.concat(m.side_effects, "; ")) end
  lines[#lines + 1] = escape.text("file: " .. entry.path)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "parameters:"
  for _, l in ipairs(param_lines(m.params)) do lines[#lines + 1] = escape.text(l) end
  io.stdout:write(table.concat(lines, "\n"), "\n")
  return 0
end

return M
