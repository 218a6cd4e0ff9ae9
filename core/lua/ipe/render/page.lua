-- ipe.render.page: the page record (see ipe.page) as text and as JSON.
--
--   page.text(record [, opts [, box]]) -> text: a heading, then per group a rule and its panels
--     (title, sections, status line, the hunt command, with opts.show_query the queries), then
--     the response actions with their commands. Fitted to opts.width (tables, charts, cards);
--     nothing is cut: commands and queries run past the width (the terminal wraps them). kv sections whose
--     values are all counts/numbers/bytes are drawn as cards side by side; box = true draws
--     tables with Unicode borders. A table wider than the terminal has its free text wrapped or
--     is shown one block per row ("[n] Column: value" lines), as ipe.render.text does: nothing
--     is cut, so 80 columns lose nothing.
--     The timing is left out so the text is reproducible.
--   page.json(record [, opts]) -> JSON text (ordered keys, one line; opts.pretty indents):
--     {kind, ip, title, window {from, to}, generated, offline, status, failed [panel ids],
--      not_asked [{panel, provider, message}] (providers not configured, so not asked),
--      panels [{id, group, title, order, hunt, status, record <ipe.render.json record>}],
--      actions [{name, title, summary, command}], timing {ms, parallel}}
--   page.cards(section, opts) -> lines of a kv section drawn as cards
--
-- Pure: the record is not modified. Every string from a script goes through escape.text.
-- Errors: a malformed section raises like ipe.render does (error(msg, 0)).
local escape = require "ipe.render.escape"
local text = require "ipe.render.text"
local json = require "ipe.render.json"
local render = require "ipe.render"

local M = {}

local concat, rep, max = table.concat, string.rep, math.max
local dw = escape.display_width

local GROUP_TITLES = require("ipe.page.groups").TITLES
local NUMERIC = { count = true, number = true, bytes = true }

local function styler(opts)
  if not opts.color then return function(s) return s end, function(s) return s end end
  return function(s) return "\27[1m" .. s .. "\27[0m" end, function(s) return "\27[2m" .. s .. "\27[0m" end
end

-- "━━ Overview ━━━━…" across the width
local function group_rule(title, opts)
  local bold = styler(opts)
  local head = "━━ " .. title .. " "
  return bold(head .. rep("━", max(3, opts.width - dw(head))))
end

local function panel_rule(title, opts)
  local bold, dim = styler(opts)
  local head = "── " .. title .. " "
  return bold(head) .. dim(rep("─", max(3, opts.width - dw(head))))
end

local function is_cards(sec)
  if sec.kind ~= "kv" or #(sec.items or {}) == 0 or #sec.items > 8 then return false end
  for _, it in ipairs(sec.items) do
    if not NUMERIC[it.type or "text"] or type(it.value) ~= "number" then return false end
  end
  return true
end

function M.cards(sec, opts)
  opts = render.options(opts)
  local _, dim = styler(opts)
  local boxes = {}
  for i, it in ipairs(sec.items) do
    local label = escape.text(tostring(it.key or ""))
    local value = text.cell(it.value, it.type)
    boxes[i] = { label = label, value = value, w = max(dw(label), dw(value)) }
  end
  local lines, row = {}, {}
  local function flush()
    if #row == 0 then return end
    local top, l1, l2, bottom = {}, {}, {}, {}
    for i, b in ipairs(row) do
      top[i] = dim("┌" .. rep("─", b.w + 2) .. "┐")
      l1[i] = dim("│") .. " " .. b.label .. rep(" ", b.w - dw(b.label)) .. " " .. dim("│")
      l2[i] = dim("│") .. " " .. b.value .. rep(" ", b.w - dw(b.value)) .. " " .. dim("│")
      bottom[i] = dim("└" .. rep("─", b.w + 2) .. "┘")
    end
    for _, l in ipairs({ top, l1, l2, bottom }) do lines[#lines + 1] = concat(l, " ") end
    row = {}
  end
  local used = 0
  for _, b in ipairs(boxes) do
    local w = b.w + 4
    if #row > 0 and used + 1 + w > opts.width then flush(); used = 0 end
    used = used + (#row > 0 and 1 or 0) + w
    row[#row + 1] = b
  end
  flush()
  return lines
end

-- wrap(s, width) -> lines of at most width columns, broken at spaces; a word is never cut
local wrap = text.wrap

-- Tables too wide for the width are wrapped or drawn one block per row by ipe.render.text (a
-- value is never cut); kv sections of numbers are cards; the title and note wrap here.
local function section_lines(sec, opts, box)
  local bold = styler(opts)
  local lines = {}
  if sec.title ~= nil then
    for _, l in ipairs(wrap(escape.text(tostring(sec.title)), opts.width)) do lines[#lines + 1] = bold(l) end
  end
  if is_cards(sec) then
    for _, l in ipairs(M.cards(sec, opts)) do lines[#lines + 1] = l end
    return lines
  end
  if sec.note ~= nil then
    for _, l in ipairs(wrap(escape.text(tostring(sec.note)), opts.width)) do lines[#lines + 1] = l end
  end
  local body = {}
  for k, v in pairs(sec) do body[k] = v end
  body.title, body.note = nil, nil
  local out = render.section(body, box and "box" or "table", opts)
  for l in (out:gsub("\n$", "") .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  return lines
end

local function query_lines(rec)
  local lines = {}
  for i, q in ipairs(rec.queries or {}) do
    lines[#lines + 1] = "-- " .. text.query_label(i, q)
    for _, l in ipairs(escape.lines(tostring(q.sql or ""))) do lines[#lines + 1] = l end
  end
  return lines
end

local function panel_blocks(p, opts, box)
  local rec = p.record
  local blocks = { { panel_rule(escape.text(tostring(rec.title or p.title or p.id)), opts) } }
  if rec.status == "ok" then
    for _, sec in ipairs(rec.sections or {}) do blocks[#blocks + 1] = section_lines(sec, opts, box) end
    if rec.message then blocks[#blocks + 1] = wrap(escape.text(tostring(rec.message)), opts.width) end
  else
    blocks[#blocks + 1] = wrap(text.status_line(rec) or "no results", opts.width)
  end
  local foot = {}
  if p.hunt then foot[1] = "hunt: " .. escape.text(p.hunt) end
  if opts.show_query then
    for _, l in ipairs(query_lines(rec)) do foot[#foot + 1] = l end
  end
  if #foot > 0 then blocks[#blocks + 1] = foot end
  return blocks
end

local function heading(record, opts)
  local bold = styler(opts)
  local w = record.window or {}
  local n, failed = #(record.panels or {}), record.failed or {}
  local status = record.status or "ok"
  if #failed > 0 then status = status .. " (" .. #failed .. " failed: " .. concat(failed, ", ") .. ")" end
  local lines = { bold(escape.text(tostring(record.title or ("IP address " .. tostring(record.ip))))) }
  -- "window <from> → <to> UTC · <n> panels · <status>", broken only between its parts
  local parts = { "window " .. text.cell(w.from, "time") .. " → " .. text.cell(w.to, "time") .. " UTC",
                  n .. (n == 1 and " panel" or " panels"), escape.text(status) }
  local line = parts[1]
  for i = 2, #parts do
    if dw(line) + 3 + dw(parts[i]) <= opts.width then line = line .. " · " .. parts[i]
    else lines[#lines + 1] = line; line = "· " .. parts[i] end
  end
  lines[#lines + 1] = line
  if record.status == "empty" then
    lines[#lines + 1] = "No panel found anything about " .. escape.text(tostring(record.ip)) .. " in this window."
  end
  if record.offline then lines[#lines + 1] = "offline: external panels answered from the cache and local data only" end
  local names = {}
  for i, n in ipairs(record.not_asked or {}) do names[i] = escape.text(tostring(n.provider)) end
  if #names > 0 then
    lines[#lines + 1] = "not asked (not configured): " .. concat(names, ", ") .. " — each panel says how to enable it"
  end
  return lines
end

local function action_lines(record, width)
  local lines = {}
  if #(record.actions or {}) == 0 then return { "(no response actions are installed)" } end
  for _, a in ipairs(record.actions) do
    local title = a.title and escape.text(tostring(a.title)) or escape.text(tostring(a.name))
    for _, l in ipairs(wrap(title .. (a.summary and " — " .. escape.text(tostring(a.summary)) or ""), width)) do
      lines[#lines + 1] = l
    end
    lines[#lines + 1] = "  " .. escape.text(tostring(a.command))
  end
  return lines
end

function M.text(record, opts, box)
  opts = render.options(opts)
  local blocks = { heading(record, opts) }
  local group
  for _, p in ipairs(record.panels or {}) do
    if p.group ~= group then
      group = p.group
      blocks[#blocks + 1] = { group_rule(GROUP_TITLES[group] or escape.text(tostring(group)), opts) }
    end
    for _, b in ipairs(panel_blocks(p, opts, box)) do blocks[#blocks + 1] = b end
  end
  blocks[#blocks + 1] = { group_rule("Response actions", opts) }
  blocks[#blocks + 1] = action_lines(record, opts.width)
  local out = {}
  for i, b in ipairs(blocks) do out[i] = concat(b, "\n") end
  return (concat(out, "\n\n"):gsub(" +\n", "\n")) .. "\n"
end

local function object(list) return json.object(list) end

function M.value(record)
  local panels = {}
  for i, p in ipairs(record.panels or {}) do
    panels[i] = object({ { "id", p.id }, { "group", p.group }, { "title", p.title }, { "order", p.order },
      { "hunt", p.hunt }, { "status", p.record.status or "ok" }, { "record", json.record(p.record) } })
  end
  local actions = {}
  for i, a in ipairs(record.actions or {}) do
    actions[i] = object({ { "name", a.name }, { "title", a.title }, { "summary", a.summary }, { "command", a.command } })
  end
  local not_asked = {}
  for i, n in ipairs(record.not_asked or {}) do
    not_asked[i] = object({ { "panel", n.panel }, { "provider", n.provider }, { "message", n.message } })
  end
  local w = record.window or {}
  local t = record.timing or {}
  return object({
    { "kind", "page" }, { "ip", record.ip }, { "title", record.title },
    { "window", object({ { "from", w.from }, { "to", w.to } }) },
    { "generated", record.generated }, { "offline", record.offline and true or false },
    { "status", record.status }, { "failed", json.array(record.failed or {}) },
    { "not_asked", json.array(not_asked) },
    { "panels", json.array(panels) }, { "actions", json.array(actions) },
    { "timing", object({ { "ms", t.ms }, { "parallel", t.parallel } }) },
  })
end

function M.json(record, opts)
  return json.encode(M.value(record), { pretty = opts and opts.pretty }) .. "\n"
end

return M
