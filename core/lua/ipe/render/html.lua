-- ipe.render.html: the IP entity page (and a single run) as one self-contained HTML5 file.
--
--   html.page(page_record [, opts]) -> HTML document of a page record (see ipe-run page; the
--     shape is the page contract: kind="page", ip, title, window, generated, offline, status,
--     panels = { {id, group, title, order, hunt, record = <run record>} ... }, actions, timing)
--   html.run(run_record [, opts]) -> HTML document of one run record (ipe-run insight --format html)
--     opts.show_query  open the query details (they are always in the file, collapsed)
--     opts.tab         (page) the initial tab: "incidents" (default), "observed" or "events"
--   html.escape(s)     text -> safe HTML text/attribute (see ipe.render.svg.escape)
--   html.url(v)        v when it is an http(s) URL that may become a link, else nil
--   html.cell(v, type [, badge]) -> HTML of one table cell value (formatted like the text
--     renderer: counts "12,345", bytes "1.5 MB", times "2026-11-27 03:52:29" in a <time>)
--   html.json_script(v) -> JSON text for a <script type="application/json"> block ("<", ">"
--     and "&" written as \u003c, \u003e, \u0026, so no string can end the element)
--   html.sha256(s) -> 32-byte digest; html.base64(s) -> text (for the CSP hashes)
--   html.csp() -> the Content-Security-Policy the documents carry
--   html.stream(page_record, opts) -> the page sent panel by panel (ipe-run serve; see there)
--   opts.link(value, type, column, row, columns) -> a URL or nil: table cells become pivot links (serve); a
--     panel's hunt_url and an action's url add an "open" link beside the command
--   html.GROUPS -> the page groups in page order
--
-- The document: inline CSS, inline SVG charts (ipe.render.svg), one inline script and one JSON
-- data block; nothing is fetched (no fonts, images, CDNs). A Content-Security-Policy meta tag
-- allows only the page's own script and stylesheet, by SHA-256 hash: even a string that got
-- past the escaping could not run a script or load anything. Links: only http(s) reference URLs
-- found in text cells, with rel="noopener noreferrer nofollow".
-- Layout (page): a header (IP, window, status, timing), then the overview pane on the left
-- (group "overview" panels: cards, key/value lists, compact tables, the prevalence chart) and
-- on the right the tabs "Incidents and alerts" (group incidents), "Observed in organization"
-- (observed) and "Sentinel events" (timeline as a time-ordered list, then every insight as a
-- card: status, sections, the query with its bound values in <details>, the hunt command),
-- and the response actions with their commands. Panels of an unknown group join the insights.
-- Overview panels are compact: a kv of numbers shows as cards, a table of severities (High,
-- Medium, Low, Informational) with count columns as severity cards, and the hunt command sits
-- inside the query details. Columns named *severity* / *status* / kind / type show badges.
-- Values are formatted by ipe.render.text (the same text as the terminal), times read
-- "2026-11-27 03:52:29" (UTC, the raw value in datetime= and the tooltip); text cells longer
-- than 48 bytes wrap in a capped width, wide tables scroll sideways.
-- Tables in the incidents and observed tabs (and every table of a single run) get a toolbar:
-- free-text filter (any column or one), checkbox filters for severity/status/kind columns, a
-- column chooser and sortable headers; the script applies them in the browser from the rows
-- embedded as JSON. The URL hash carries that state and can set it:
--   #tab=incidents&where=severity=High,Medium&where=status=New&q=beacon&in=Title
--    &cols=Title,Severity&sort=-LastActivity[&grid=<id>]
-- (column names case-insensitive, a name may be any part of a column's name; the state applies
-- to the first incidents table unless grid= names another). A plain #panel-<id> hash opens the
-- tab holding that panel. Without JavaScript every tab shows, one after another.
--
-- Errors, raised with error(msg, 0) (programming errors of the caller):
--   "page: not a table", "page: kind is 'x', not 'page'",
--   "page: unknown status 'x' (use ok, partial or empty)", "page: panels must be a list",
--   "page: panel 3 is not a table", "page: panel 3 (ip-details) has no run record",
--   "page: actions must be a list", "page: action 2 is not a table";
--   html.run: "record: not a table", "record: unknown status 'x' (use ok, empty, error or
--   skipped)", "record: sections must be a list", and the section problems of ipe.render
--   ("section 2: columns must be a non-empty list", "section 1: series 2 has 3 values for 4
--   labels", ...; a chart bucket may also be "minute", as ipe.result allows). In a page, a
--   panel's bad section does not fail the page: the panel shows "cannot show section N:
--   <problem>" in place of that section. Any string input renders; nothing is ever unescaped.
local escape = require "ipe.render.escape"
local text = require "ipe.render.text"
local json = require "ipe.render.json"
local svg = require "ipe.render.svg"
local bit = require "bit"

local M = {}

local format, concat, rep, byte, char = string.format, table.concat, string.rep, string.byte, string.char
local floor = math.floor
local is_null = json.is_null
local esc = svg.escape

M.escape = esc
local groups = require "ipe.page.groups"
M.GROUPS = groups.GROUPS

-- SHA-256 and base64 (for the CSP hashes) -----------------------------------------------------

local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }

local function be32(x)
  return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

local function sha_block(h, s, at, w)
  for i = 0, 15 do
    local a, b, c, d = byte(s, at + i * 4, at + i * 4 + 3)
    w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for i = 16, 63 do
    local x, y = w[i - 15], w[i - 2]
    local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
    local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
    w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for i = 0, 63 do
    local t1 = tobit(hh + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g)) + K[i + 1] + w[i])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
    hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
  h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
end

function M.sha256(s)
  local bits = #s * 8
  s = s .. "\128" .. rep("\0", (55 - #s) % 64) .. be32(floor(bits / 2 ^ 32)) .. be32(bits % 2 ^ 32)
  local h, w = { unpack(H0) }, {}
  for at = 1, #s, 64 do sha_block(h, s, at, w) end
  local out = {}
  for i = 1, 8 do out[i] = be32(h[i]) end
  return concat(out)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { floor(n / 262144) % 64, floor(n / 4096) % 64, floor(n / 64) % 64, n % 64 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1)
        .. (b and B64:sub(q[3] + 1, q[3] + 1) or "=") .. (c and B64:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return concat(out)
end

-- Values ------------------------------------------------------------------------------------

local NUMERIC = text.NUMERIC

function M.url(v)
  if type(v) ~= "string" or #v > 2048 then return nil end
  if not v:match("^[Hh][Tt][Tt][Pp][Ss]?://[%w%-%.%[%]:]+") then return nil end
  if v:find("[%z\1-\32\127-\255\"'<>\\`{}|^]") then return nil end
  return v
end

local SEVERITY_RANK = { informational = 0, low = 1, medium = 2, high = 3 }

local function slug(s)
  s = tostring(s):lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if s == "" then return "x" end
  return s:sub(1, 48)
end

-- badge_kind(column name) -> "sev" | "status" | "kind" | nil (cells shown as badges, facets)
local function badge_kind(name)
  local n = tostring(name or ""):lower()
  if n:find("severity", 1, true) then return "sev" end
  if n:find("status", 1, true) then return "status" end
  if n == "kind" or n == "type" then return "kind" end
  return nil
end

local function time_html(v)
  local shown = text.cell(v, "time", function(s) return s end)
  if shown == v then return nil end
  local day, clock = shown:match("^(%S+) (%S+)$")
  return format('<time datetime="%s" title="%s UTC"><span class="d">%s</span> <span class="t">%s</span></time>',
    esc(v), esc(v), esc(day), esc(clock))
end

local function string_html(v, ctype)
  if ctype == "time" then
    local t = time_html(v)
    if t then return t end
  end
  if ctype == "json" then return "<code>" .. esc(v) .. "</code>" end
  local url = (ctype == nil or ctype == "text") and M.url(v)
  if url then
    return format('<a href="%s" rel="noopener noreferrer nofollow" target="_blank">%s</a>', esc(url), esc(v))
  end
  return esc(v)
end

function M.cell(v, ctype, badge)
  if v == nil or is_null(v) then return "" end
  local inner
  if type(v) == "string" then
    inner = string_html(v, ctype)
  elseif type(v) == "number" and ctype == "bytes" then
    inner = format('<span title="%s bytes">%s</span>', esc(text.count(v)), esc(text.bytes(v)))
  else
    inner = esc(text.cell(v, ctype, function(s) return s end))
  end
  if badge and type(v) == "string" then
    return format('<span class="badge %s %s-%s">%s</span>', badge, badge, slug(v), inner)
  end
  return inner
end

function M.json_script(v)
  return (json.encode(v):gsub("[<>&]", { ["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026" }))
end

local function count_text(n, one, many)
  return text.count(n) .. " " .. (n == 1 and one or many)
end

-- Validation (the problems ipe.render reports) ----------------------------------------------

local COLUMN_TYPES = { text = true, ip = true, time = true, count = true, number = true, bytes = true,
  bool = true, json = true }
local TYPE_HINT = "(use text, ip, time, count, number, bytes, bool or json)"

local function check_table(sec)
  if type(sec.columns) ~= "table" or #sec.columns == 0 then return "columns must be a non-empty list" end
  for i, c in ipairs(sec.columns) do
    if type(c) ~= "table" then return format("column %d is not a table", i) end
    if c.type ~= nil and not COLUMN_TYPES[c.type] then
      return format("column %d has unknown type '%s' %s", i, escape.text(tostring(c.type)), TYPE_HINT)
    end
  end
  if sec.rows ~= nil and type(sec.rows) ~= "table" then return "rows must be a list" end
  for i, row in ipairs(sec.rows or {}) do
    if type(row) ~= "table" then return format("row %d is not a list", i) end
  end
end

local function check_kv(sec)
  if sec.items ~= nil and type(sec.items) ~= "table" then return "items must be a list" end
  for i, it in ipairs(sec.items or {}) do
    if type(it) ~= "table" then return format("item %d is not a table", i) end
    if it.type ~= nil and not COLUMN_TYPES[it.type] then
      return format("item %d has unknown type '%s' %s", i, escape.text(tostring(it.type)), TYPE_HINT)
    end
  end
end

local function one_of(what, v, allowed, hint)
  if v ~= nil and not allowed[v] then return format("unknown %s '%s' (use %s)", what, escape.text(tostring(v)), hint) end
end

local function check_chart(sec)
  if sec.chart == nil then return "chart type missing (use bar or time)" end
  local p = one_of("chart", sec.chart, { bar = true, time = true }, "bar or time")
      or one_of("unit", sec.unit, { count = true, bytes = true }, "count or bytes")
      or one_of("bucket", sec.bucket, { minute = true, hour = true, day = true }, "minute, hour or day")
  if p then return p end
  if type(sec.labels) ~= "table" then return "labels must be a list" end
  if type(sec.series) ~= "table" then return "series must be a list" end
  for i, s in ipairs(sec.series) do
    if type(s) ~= "table" or type(s.values) ~= "table" then return format("series %d has no values list", i) end
    if #s.values ~= #sec.labels then return format("series %d has %d values for %d labels", i, #s.values, #sec.labels) end
  end
end

local CHECK = { table = check_table, kv = check_kv, chart = check_chart }

-- section_problem(sec) -> problem text or nil
local function section_problem(sec)
  if type(sec) ~= "table" then return "not a table" end
  local check = CHECK[sec.kind]
  if not check then return format("unknown kind '%s' (use table, kv or chart)", escape.text(tostring(sec.kind))) end
  return check(sec)
end

local RUN_STATUS = { ok = true, empty = true, error = true, skipped = true }

local function check_run(r)
  if type(r) ~= "table" then error("record: not a table", 0) end
  if r.status ~= nil and not RUN_STATUS[r.status] then
    error(format("record: unknown status '%s' (use ok, empty, error or skipped)", escape.text(tostring(r.status))), 0)
  end
  if r.sections ~= nil and type(r.sections) ~= "table" then error("record: sections must be a list", 0) end
  for i, sec in ipairs(r.sections or {}) do
    local p = section_problem(sec)
    if p then error(format("section %d: %s", i, p), 0) end
  end
end

local PAGE_STATUS = { ok = true, partial = true, empty = true }

local function check_page(r)
  if type(r) ~= "table" then error("page: not a table", 0) end
  if r.kind ~= "page" then error(format("page: kind is '%s', not 'page'", escape.text(tostring(r.kind))), 0) end
  if r.status ~= nil and not PAGE_STATUS[r.status] then
    error(format("page: unknown status '%s' (use ok, partial or empty)", escape.text(tostring(r.status))), 0)
  end
  if type(r.panels) ~= "table" then error("page: panels must be a list", 0) end
  for i, p in ipairs(r.panels) do
    if type(p) ~= "table" then error(format("page: panel %d is not a table", i), 0) end
    if type(p.record) ~= "table" then
      error(format("page: panel %d (%s) has no run record", i, escape.text(tostring(p.id))), 0)
    end
  end
  if r.actions ~= nil and type(r.actions) ~= "table" then error("page: actions must be a list", 0) end
  for i, a in ipairs(r.actions or {}) do
    if type(a) ~= "table" then error(format("page: action %d is not a table", i), 0) end
  end
end

-- Document state: unique ids and the grids' data ---------------------------------------------

local Doc = {}
Doc.__index = Doc

local function new_doc(opts)
  return setmetatable({ used = {}, n = 0, grids = {}, primary = nil, link = opts and opts.link }, Doc)
end

function Doc:id(prefix)
  self.n = self.n + 1
  return prefix .. "-" .. self.n
end

function Doc:anchor(base)
  local id, k = base, 1
  while self.used[id] do k = k + 1; id = base .. "-" .. k end
  self.used[id] = true
  return id
end

-- Tables ------------------------------------------------------------------------------------

local function col_name(c) return tostring(c.name ~= nil and c.name or "") end

local function facet_values(sec, ci, kind)
  local counts, order = {}, {}
  for _, row in ipairs(sec.rows) do
    local v = row[ci]
    if type(v) == "string" then
      if not counts[v] then counts[v] = 0; order[#order + 1] = v end
      counts[v] = counts[v] + 1
    end
  end
  if #order == 0 or #order > 12 then return nil end
  table.sort(order, function(a, b)
    local ra, rb = SEVERITY_RANK[a:lower()], SEVERITY_RANK[b:lower()]
    if kind == "sev" and ra and rb and ra ~= rb then return ra > rb end
    if counts[a] ~= counts[b] then return counts[a] > counts[b] end
    return a < b
  end)
  return order, counts
end

local function toolbar(sec, gid, badges)
  local h = { format('<div class="toolbar" data-role="toolbar" hidden><label class="search">Filter '
    .. '<input type="search" data-role="q" placeholder="text in any column" aria-label="Filter rows of %s">'
    .. '</label><select data-role="qcol" aria-label="Column to filter"><option value="-1">any column</option>',
    esc(sec.title or "the table")) }
  for i, c in ipairs(sec.columns) do h[#h + 1] = format('<option value="%d">%s</option>', i - 1, esc(col_name(c))) end
  h[#h + 1] = "</select>"
  for i, c in ipairs(sec.columns) do
    local values, counts
    if badges[i] then values, counts = facet_values(sec, i, badges[i]) end
    if values then
      h[#h + 1] = format('<fieldset class="facet" data-col="%d"><legend>%s</legend>', i - 1, esc(col_name(c)))
      for _, v in ipairs(values) do
        h[#h + 1] = format('<label><input type="checkbox" data-role="facet" data-col="%d" value="%s"> %s <span class="n">%s</span></label>',
          i - 1, esc(v), M.cell(v, "text", badges[i]), esc(text.count(counts[v])))
      end
      h[#h + 1] = "</fieldset>"
    end
  end
  h[#h + 1] = '<details class="chooser"><summary>Columns</summary><div class="chooser-list">'
  for i, c in ipairs(sec.columns) do
    h[#h + 1] = format('<label><input type="checkbox" data-role="col" value="%d" checked> %s</label>', i - 1, esc(col_name(c)))
  end
  h[#h + 1] = format('</div></details><button type="button" data-role="reset" aria-controls="%s">Reset</button></div>', gid)
  return concat(h)
end

local function table_head(sec, badges, sortable)
  local h = { "<thead><tr>" }
  for i, c in ipairs(sec.columns) do
    local name = esc(col_name(c))
    local cls = NUMERIC[c.type] and ' class="num"' or ""
    local label = sortable and format('<button type="button" class="sort" data-role="sort" data-col="%d" title="Sort by %s">%s</button>',
      i - 1, name, name) or name
    h[#h + 1] = format('<th scope="col"%s data-type="%s"%s>%s</th>', cls, esc(c.type or "text"),
      sortable and ' aria-sort="none"' or "", label)
  end
  h[#h + 1] = "</tr></thead>"
  return concat(h)
end

local LONG = 48   -- a text cell longer than this wraps within a capped width; shorter ones stay on one line

-- cell_html: a cell, as a pivot link when the document has a link function (ipe-run serve)
-- that gives the value a URL (told the cell's row and the table's columns too)
local function cell_html(doc, v, c, badge, row, cols)
  local inner = M.cell(v, c.type, badge)
  local href = doc and doc.link and type(v) == "string" and doc.link(v, c.type, col_name(c), row, cols)
  if not href then return inner end
  return format('<a class="pivot" href="%s">%s</a>', esc(href), inner)
end

local function table_body(sec, badges, doc)
  local h = { "<tbody>" }
  for r, row in ipairs(sec.rows) do
    h[#h + 1] = format('<tr data-row="%d">', r - 1)
    for i, c in ipairs(sec.columns) do
      local v = row[i]
      if NUMERIC[c.type] then
        h[#h + 1] = format('<td class="num">%s</td>', M.cell(v, c.type, badges[i]))
      elseif type(v) == "string" and #v > LONG then
        h[#h + 1] = format('<td class="long"><div class="wrap">%s</div></td>', cell_html(doc, v, c, badges[i], row, sec.columns))
      else
        h[#h + 1] = format("<td>%s</td>", cell_html(doc, v, c, badges[i], row, sec.columns))
      end
    end
    h[#h + 1] = "</tr>"
  end
  h[#h + 1] = "</tbody>"
  return concat(h)
end

local function grid_data(sec, badges)
  local cols, rows, n = {}, {}, #sec.columns
  for i, c in ipairs(sec.columns) do
    cols[i] = json.object({ { "name", col_name(c) }, { "type", c.type or "text" }, { "badge", badges[i] } })
  end
  for r, row in ipairs(sec.rows) do
    local vals = {}
    for i = 1, n do
      local v = row[i]
      if type(v) == "table" and not is_null(v) then v = json.encode(v) end
      vals[i] = v
    end
    rows[r] = json.array(vals, n)
  end
  return json.object({ { "columns", json.array(cols) }, { "rows", json.array(rows) } })
end

-- table_html(sec, doc, ctx): ctx.interactive -> toolbar; tables of more than one row sort.
local function table_html(sec, doc, ctx)
  local rows = sec.rows or {}
  if #rows == 0 then return '<p class="empty">No rows.</p>' end
  local badges = {}
  for i, c in ipairs(sec.columns) do badges[i] = badge_kind(c.name) or false end
  local sortable = #rows > 1 or ctx.interactive
  local gid = doc:id("grid")
  local h = { format('<div class="grid" id="%s"%s>', gid, sortable and format(' data-grid="%s"', gid) or "") }
  if ctx.interactive then h[#h + 1] = toolbar(sec, gid, badges) end
  h[#h + 1] = '<div class="table-wrap"><table>'
  h[#h + 1] = table_head(sec, badges, sortable)
  h[#h + 1] = table_body(sec, badges, doc)
  h[#h + 1] = "</table></div>"
  if sortable then
    h[#h + 1] = format('<p class="grid-count" data-role="count" aria-live="polite">%s</p>', count_text(#rows, "row", "rows"))
    h[#h + 1] = '<p class="nomatch" data-role="nomatch" hidden>No rows match the filters.</p>'
    doc.grids[#doc.grids + 1] = { gid, grid_data(sec, badges) }
    if ctx.primary and not doc.primary then doc.primary = gid end
  end
  h[#h + 1] = "</div>"
  return concat(h)
end

-- Cards: a kv of numbers, or a table of severities with counts --------------------------------

local function all_numeric_items(sec)
  local items = sec.items or {}
  if #items == 0 or #items > 8 then return false end
  for _, it in ipairs(items) do
    if not NUMERIC[it.type] or (type(it.value) ~= "number" and not is_null(it.value)) then return false end
  end
  return true
end

local function severity_table(sec)
  local rows = sec.rows or {}
  if #rows == 0 or #rows > 6 or #sec.columns < 2 then return false end
  for i = 2, #sec.columns do if not NUMERIC[sec.columns[i].type] then return false end end
  for _, row in ipairs(rows) do
    if type(row[1]) ~= "string" or not SEVERITY_RANK[row[1]:lower()] then return false end
  end
  return true
end

local function card_class(label)
  local word = tostring(label):lower():match("^(%a+)")
  return SEVERITY_RANK[word or ""] and " sev-card sev-" .. word or ""
end

local function kv_cards(sec)
  local h = { '<div class="cards">' }
  for _, it in ipairs(sec.items) do
    h[#h + 1] = format('<div class="card%s"><span class="card-value">%s</span><span class="card-label">%s</span></div>',
      card_class(it.key), is_null(it.value) and "&#8212;" or M.cell(it.value, it.type), esc(tostring(it.key or "")))
  end
  h[#h + 1] = "</div>"
  return concat(h)
end

local function severity_cards(sec)
  local h = { '<div class="cards">' }
  for _, row in ipairs(sec.rows) do
    local parts = {}
    for i = 2, #sec.columns do
      parts[#parts + 1] = format('<span class="card-count"><b>%s</b> %s</span>', M.cell(row[i], sec.columns[i].type),
        esc(col_name(sec.columns[i])))
    end
    h[#h + 1] = format('<div class="card%s"><span class="card-label">%s</span>%s</div>', card_class(row[1]),
      esc(row[1]), concat(parts))
  end
  h[#h + 1] = "</div>"
  return concat(h)
end

-- Other sections ----------------------------------------------------------------------------

local function kv_html(sec)
  local items = sec.items or {}
  if #items == 0 then return '<p class="empty">No items.</p>' end
  local h = { '<dl class="kv">' }
  for _, it in ipairs(items) do
    local badge = badge_kind(it.key)
    h[#h + 1] = format("<div><dt>%s</dt><dd>%s</dd></div>", esc(tostring(it.key or "")),
      M.cell(it.value, it.type, badge ~= "kind" and badge or nil))
  end
  h[#h + 1] = "</dl>"
  return concat(h)
end

local function chart_data_table(sec)
  local h = { '<details class="chart-data"><summary>Data</summary><div class="table-wrap"><table><thead><tr><th scope="col">',
    sec.chart == "time" and "Time (UTC)" or "Label", "</th>" }
  for i, s in ipairs(sec.series) do
    h[#h + 1] = format('<th scope="col" class="num">%s</th>', esc(s.name ~= nil and tostring(s.name) or "series " .. i))
  end
  h[#h + 1] = "</tr></thead><tbody>"
  for i, label in ipairs(sec.labels) do
    local shown = sec.chart == "time" and svg.bucket_text(label, sec.bucket):gsub(" UTC$", "") or tostring(label)
    h[#h + 1] = format("<tr><th scope=\"row\">%s</th>", esc(shown))
    for _, s in ipairs(sec.series) do
      local v = s.values[i]
      h[#h + 1] = format('<td class="num">%s</td>', type(v) == "number" and esc(text.value(v, sec.unit)) or "")
    end
    h[#h + 1] = "</tr>"
  end
  h[#h + 1] = "</tbody></table></div></details>"
  return concat(h)
end

local function chart_html(sec, doc, ctx)
  if #sec.labels == 0 or #sec.series == 0 then return '<p class="empty">No data.</p>' end
  return '<figure class="chart-box">' .. svg.chart(sec, { id = doc:id("chart"), width = ctx.width })
      .. chart_data_table(sec) .. "</figure>"
end

-- timeline_html(sec): a time-ordered table as a list (time, kind, title, source, the rest).
local function find_col(sec, names)
  for i, c in ipairs(sec.columns) do
    local n = col_name(c):lower()
    for _, want in ipairs(names) do if n == want then return i end end
  end
end

local function timeline_html(sec)
  local t
  for i, c in ipairs(sec.columns) do if c.type == "time" then t = i break end end
  if not t or #(sec.rows or {}) == 0 then return nil end
  local k = find_col(sec, { "kind", "type", "eventtype" })
  local ti = find_col(sec, { "title", "name", "description", "activity", "event" })
  local src = find_col(sec, { "source", "datasource", "table" })
  local h = { '<ol class="timeline">' }
  for _, row in ipairs(sec.rows) do
    local kind = k and row[k]
    h[#h + 1] = format('<li class="tl-item%s">', type(kind) == "string" and " tl-" .. slug(kind) or "")
    h[#h + 1] = '<div class="tl-time">' .. M.cell(row[t], "time") .. "</div><div class=\"tl-body\">"
    if k then h[#h + 1] = format('<span class="tl-kind">%s</span> ', M.cell(row[k], "text")) end
    if ti then h[#h + 1] = format('<span class="tl-title">%s</span>', M.cell(row[ti], sec.columns[ti].type)) end
    local meta = {}
    if src and row[src] ~= nil and not is_null(row[src]) then meta[1] = M.cell(row[src], sec.columns[src].type) end
    for i, c in ipairs(sec.columns) do
      if i ~= t and i ~= k and i ~= ti and i ~= src and row[i] ~= nil and not is_null(row[i]) then
        local badge = badge_kind(c.name)
        meta[#meta + 1] = esc(col_name(c)) .. ": " .. M.cell(row[i], c.type, badge ~= "kind" and badge or nil)
      end
    end
    if #meta > 0 then h[#h + 1] = '<span class="tl-meta">' .. concat(meta, " &#183; ") .. "</span>" end
    h[#h + 1] = "</div></li>"
  end
  h[#h + 1] = "</ol>"
  return concat(h)
end

local function section_body(sec, doc, ctx)
  if sec.kind == "kv" then
    if ctx.cards and all_numeric_items(sec) then return kv_cards(sec) end
    return kv_html(sec)
  end
  if sec.kind == "chart" then return chart_html(sec, doc, ctx) end
  if ctx.cards and severity_table(sec) then return severity_cards(sec) end
  if ctx.timeline then
    local list = timeline_html(sec)
    if list then return list end
  end
  return table_html(sec, doc, ctx)
end

local function section_html(sec, doc, ctx)
  local h = { format('<div class="section section-%s"%s>', sec.kind,
    sec.id ~= nil and format(' data-id="%s"', esc(tostring(sec.id))) or "") }
  if sec.title ~= nil then h[#h + 1] = format("<h%d>%s</h%d>", ctx.level, esc(tostring(sec.title)), ctx.level) end
  if sec.note ~= nil then h[#h + 1] = format('<p class="note">%s</p>', esc(tostring(sec.note))) end
  h[#h + 1] = section_body(sec, doc, ctx)
  h[#h + 1] = "</div>"
  return concat(h)
end

local function sections_html(rec, doc, ctx)
  local h = {}
  for i, sec in ipairs(rec.sections or {}) do
    local problem = section_problem(sec)
    if problem then
      h[#h + 1] = format('<p class="msg msg-error" role="alert">cannot show section %d: %s</p>', i, esc(problem))
    else
      h[#h + 1] = section_html(sec, doc, ctx)
    end
  end
  return concat(h)
end

-- Run records: status, queries, params ------------------------------------------------------

-- run_status(rec) -> css class, word, message or nil
local function run_status(rec)
  if rec.outcome == "timeout" then return "timeout", "timed out", rec.message and tostring(rec.message) end
  if not RUN_STATUS[rec.status or "ok"] then
    return "error", "error", format("unknown status '%s'", tostring(rec.status))
  end
  local word, message = text.status(rec)
  return rec.status or "ok", word or "ok", message
end

local function badge_html(cls, word)
  return format('<span class="st st-%s">%s</span>', cls, esc(word))
end

local ENTITY = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function entities(s) return (s:gsub("[&<>\"']", ENTITY)) end

local function bound_value(v)
  if v == nil or is_null(v) then return '<span class="null">NULL</span>' end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = esc(tostring(x)) end
    return concat(parts, ", ")
  end
  return esc(type(v) == "number" and text.number(v) or tostring(v))
end

-- queries_html(rec, open [, extra]) -> <details> with each query and its bound values (extra
-- HTML, the hunt command of a compact panel, goes last inside it); "" when there is nothing.
local function queries_html(rec, open, extra)
  local qs = rec.queries or {}
  if #qs == 0 and (extra or "") == "" then return "" end
  local label = #qs == 0 and "Hunt" or #qs == 1 and "Query" or format("Queries (%d)", #qs)
  if #qs > 0 and (extra or "") ~= "" then label = label .. " and hunt" end
  local h = { format('<details class="query"%s><summary>%s</summary>', open and " open" or "", label) }
  for i, q in ipairs(qs) do
    local lines = escape.lines(tostring(q.sql or ""))
    for j, l in ipairs(lines) do lines[j] = entities(l) end
    h[#h + 1] = format('<div class="q"><p class="q-label">query %d</p><pre><code>%s</code></pre>', i, concat(lines, "\n"))
    if #(q.params or {}) > 0 then
      h[#h + 1] = '<table class="binds"><caption>Bound values</caption><tbody>'
      for j, p in ipairs(q.params) do
        h[#h + 1] = format('<tr><th scope="row">:%s</th><td>%s</td></tr>',
          esc(p.name ~= nil and tostring(p.name) or "?" .. j), bound_value(p.value))
      end
      h[#h + 1] = "</tbody></table>"
    end
    h[#h + 1] = "</div>"
  end
  h[#h + 1] = (extra or "") .. "</details>"
  return concat(h)
end

-- command_html(label, cmd [, url, verb]): a ready command with its copy button, and when served
-- (url) a link that opens it in the browser
local function command_html(label, cmd, url, verb)
  return format('<p class="cmd"><span class="cmd-label">%s</span><code>%s</code>'
    .. '<button type="button" class="copy" data-role="copy" hidden>Copy</button>%s</p>', esc(label), esc(tostring(cmd)),
    url and format(' <a class="open" href="%s">%s</a>', esc(url), esc(verb or "Open")) or "")
end

local function message_html(cls, word, message)
  if cls == "ok" or not message then return "" end
  local role = (cls == "error" or cls == "timeout") and ' role="alert"' or ""
  return format('<p class="msg msg-%s"%s><b>%s:</b> %s</p>', cls, role, esc(word), esc(message))
end

local function timing_html(rec)
  local ms = rec.timing and tonumber(rec.timing.ms)
  if not ms then return "" end
  return format('<span class="timing" title="run time">%s ms</span>', esc(format("%.1f", ms)))
end

-- Panels ------------------------------------------------------------------------------------

local function panel_title(p)
  local t = p.title or p.record.title or p.record.script or p.id or "panel"
  return tostring(t)
end

local function panel_html(p, doc, ctx, pid)
  local rec = p.record
  pid = pid or doc:anchor("panel-" .. slug(p.id or rec.script or "panel"))
  local cls, word, message = run_status(rec)
  local h = { format('<section class="panel panel-%s is-%s" id="%s" aria-labelledby="%s-h">', esc(ctx.group), cls, pid, pid),
    format('<header class="panel-head"><h%d id="%s-h">%s</h%d>%s%s</header>', ctx.level, pid, esc(panel_title(p)),
      ctx.level, badge_html(cls, word), ctx.show_timing and timing_html(rec) or "") }
  h[#h + 1] = message_html(cls, word, message)
  h[#h + 1] = sections_html(rec, doc, { level = ctx.level + 1, interactive = ctx.interactive, primary = ctx.primary,
    width = ctx.width, cards = ctx.cards, timeline = ctx.timeline })
  local hunt = p.hunt ~= nil and command_html("Hunt", p.hunt, p.hunt_url, "Go hunt") or ""
  if ctx.compact then
    h[#h + 1] = queries_html(rec, ctx.show_query, hunt)
  else
    h[#h + 1] = queries_html(rec, ctx.show_query)
    h[#h + 1] = hunt
  end
  h[#h + 1] = "</section>"
  return concat(h), pid
end

local GROUP_CTX = {
  overview = { level = 2, width = 360, cards = true, compact = true },
  incidents = { level = 3, width = 640, interactive = true, primary = true, show_timing = true },
  observed = { level = 3, width = 640, interactive = true, show_timing = true },
  timeline = { level = 3, width = 640, timeline = true, show_timing = true },
  insights = { level = 3, width = 640, show_timing = true },
}

local function group_of(p)
  local g = p.group
  if GROUP_CTX[g] then return g end
  return "insights"
end

-- Page pieces -------------------------------------------------------------------------------

local function time_text(v)
  if type(v) ~= "string" then return nil end
  local shown = text.cell(v, "time", function(s) return s end)
  return shown
end

local function window_html(w)
  if type(w) ~= "table" or (w.from == nil and w.to == nil) then return "" end
  local from, to = time_text(w.from), time_text(w.to)
  return format('<div><dt>Window</dt><dd><time datetime="%s">%s</time> &#8594; <time datetime="%s">%s</time> UTC</dd></div>',
    esc(w.from or ""), esc(from or "?"), esc(w.to or ""), esc(to or "?"))
end

local function failed_panels(record)
  local list = {}
  for _, p in ipairs(record.panels) do
    local cls = run_status(p.record)
    if cls == "error" or cls == "timeout" then list[#list + 1] = p end
  end
  return list
end

local function banner_html(record, anchors)
  local failed = failed_panels(record)
  local h = {}
  if #failed > 0 or record.status == "partial" then
    local items = {}
    for i, p in ipairs(failed) do
      local _, _, message = run_status(p.record)
      items[i] = format('<li><a href="#%s">%s</a>: %s</li>', anchors[p], esc(panel_title(p)),
        esc(message or "failed"))
    end
    h[#h + 1] = format('<div class="banner banner-warn" role="status"><b>Partial results:</b> %s of %s did not finish.'
      .. '<ul>%s</ul></div>', esc(count_text(#failed, "panel", "panels")), esc(count_text(#record.panels, "panel", "panels")),
      concat(items))
  end
  if record.status == "empty" then
    h[#h + 1] = '<div class="banner banner-info" role="status">Nothing about this IP in the workspace for this window.</div>'
  end
  return concat(h)
end

local IP_ICON = '<svg class="entity-icon" viewBox="0 0 32 32" width="40" height="40" aria-hidden="true" focusable="false">'
  .. '<circle cx="16" cy="16" r="13" class="ic-ring"/><path class="ic-line" d="M3 16h26M16 3c4 4 5 8 5 13s-1 9-5 13'
  .. 'M16 3c-4 4-5 8-5 13s1 9 5 13"/></svg>'

local function page_header(record)
  local ip = record.ip ~= nil and tostring(record.ip) or ""
  local st = record.status or "ok"
  local meta = { window_html(record.window) }
  if record.generated then
    meta[#meta + 1] = format('<div><dt>Generated</dt><dd><time datetime="%s">%s</time> UTC</dd></div>',
      esc(record.generated), esc(time_text(record.generated) or tostring(record.generated)))
  end
  local timing = record.timing
  if type(timing) == "table" and tonumber(timing.ms) then
    meta[#meta + 1] = format("<div><dt>Run time</dt><dd>%s panels in %s ms%s</dd></div>", esc(text.count(#record.panels)),
      esc(format("%.0f", timing.ms)), tonumber(timing.parallel) and format(" (%s in parallel)", esc(text.count(timing.parallel))) or "")
  end
  local names = {}
  for i, n in ipairs(type(record.not_asked) == "table" and record.not_asked or {}) do names[i] = tostring(n.provider) end
  meta[#meta + 1] = format("<div><dt>Mode</dt><dd>%s%s</dd></div>", record.offline
    and '<span class="st st-skipped">offline</span> external services not asked'
    or "online: the configured threat-intelligence providers asked",
    #names > 0 and "; not asked (not configured): " .. esc(concat(names, ", ")) or "")
  return format('<header class="top">%s<div class="entity"><p class="entity-kind">IP address</p><h1>%s</h1></div>'
    .. '<span class="st st-page-%s">%s</span><dl class="meta">%s</dl></header>', IP_ICON, esc(ip), esc(slug(st)),
    esc(st == "ok" and "complete" or st), concat(meta))
end

local TABS = {
  { "incidents", groups.TITLES.incidents, { "incidents" } },
  { "observed", groups.TITLES.observed, { "observed" } },
  { "events", "Sentinel events", { "timeline", "insights" } },
}
local SUBHEAD = { timeline = groups.TITLES.timeline, insights = groups.TITLES.insights }

local function table_rows(panels)
  local n, any = 0, false
  for _, p in ipairs(panels) do
    for _, sec in ipairs(p.record and p.record.sections or {}) do
      if type(sec) == "table" and sec.kind == "table" and type(sec.rows) == "table" then n, any = n + #sec.rows, true end
    end
  end
  return any and n or nil
end

local function tab_html(tab, by_group, doc, anchors, opts, render_panel)
  local name, label, groups = tab[1], tab[2], tab[3]
  local h = { format('<section class="tabpanel" role="tabpanel" id="tp-%s" aria-labelledby="tab-%s" data-tab="%s">'
    .. '<h2 class="tp-title">%s</h2>', name, name, name, esc(label)) }
  local any = false
  for _, g in ipairs(groups) do
    local panels = by_group[g]
    if #groups > 1 then h[#h + 1] = format('<h2 class="group-title">%s</h2>', SUBHEAD[g]) end
    if #panels == 0 then
      h[#h + 1] = format('<p class="empty">No %s panel on this page.</p>', esc(SUBHEAD[g] and SUBHEAD[g]:lower() or label:lower()))
    end
    local ctx = setmetatable({ group = g, show_query = opts.show_query }, { __index = GROUP_CTX[g] })
    for _, p in ipairs(panels) do
      local html, pid = render_panel(p, doc, ctx)
      h[#h + 1] = html
      anchors[p] = anchors[p] or pid
      any = true
    end
  end
  h[#h + 1] = "</section>"
  return concat(h), any
end

local function tablist_html(by_group, selected)
  local h = { '<div class="tabs" role="tablist" aria-label="Entity page">' }
  for _, tab in ipairs(TABS) do
    local panels = {}
    for _, g in ipairs(tab[3]) do for _, p in ipairs(by_group[g]) do panels[#panels + 1] = p end end
    local n = tab[1] ~= "events" and table_rows(panels)
    local on = tab[1] == selected
    h[#h + 1] = format('<button type="button" role="tab" id="tab-%s" data-tab="%s" aria-controls="tp-%s" aria-selected="%s"%s>'
      .. '%s%s</button>', tab[1], tab[1], tab[1], on and "true" or "false", on and "" or ' tabindex="-1"', esc(tab[2]),
      n and format(' <span class="count">%s</span>', esc(text.count(n))) or "")
  end
  h[#h + 1] = "</div>"
  return concat(h)
end

local function actions_html(actions)
  local h = { '<section class="actions" id="actions" aria-labelledby="actions-h"><h2 id="actions-h">Response actions</h2>' }
  if #actions == 0 then h[#h + 1] = '<p class="empty">No response action is available for this IP.</p>' end
  h[#h + 1] = '<ul class="action-list">'
  for _, a in ipairs(actions) do
    h[#h + 1] = format('<li class="action"><h3>%s</h3>%s%s</li>', esc(tostring(a.title or a.name or "action")),
      a.summary ~= nil and format('<p>%s</p>', esc(tostring(a.summary))) or "",
      a.command ~= nil and command_html("Run", a.command, a.url, a.url_label or "Plan") or "")
  end
  h[#h + 1] = "</ul></section>"
  return concat(h)
end

-- The document ------------------------------------------------------------------------------

M.STYLE = [==[
:root{--bg:#f3f2f1;--panel:#fff;--text:#201f1e;--muted:#605e5c;--line:#e1dfdd;--soft:#f8f7f6;--accent:#0f6cbd;
--high:#c50f1f;--medium:#da3b01;--low:#b58500;--info:#707070;--ok:#107c10;--err:#a4262c;--warn:#8a5300;
--s1:#0f6cbd;--s2:#c239b3;--s3:#038387;--s4:#8764b8;--s5:#ca5010;--s6:#498205;
font:14px/1.45 "Segoe UI","Helvetica Neue",Arial,"DejaVu Sans",sans-serif;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#1b1a19;--panel:#252423;--text:#f3f2f1;--muted:#c8c6c4;--line:#3b3a39;
--soft:#2d2c2b;--accent:#479ef5;--high:#f1707b;--medium:#f7894a;--low:#e9c46a;--info:#a19f9d;--ok:#54b054;--err:#f1707b;
--warn:#e9c46a;--s1:#479ef5;--s2:#e87fd9;--s3:#4fc3c6;--s4:#b4a0e0;--s5:#f7894a;--s6:#8fc46a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text)}
a{color:var(--accent)}
code,pre{font-family:"Cascadia Mono",Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
h1,h2,h3,h4,h5{margin:0;font-weight:600}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:12px 20px;padding:14px 24px;background:var(--panel);
border-bottom:1px solid var(--line)}
.entity{display:flex;flex-direction:column}
.entity-kind{margin:0;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
header.top h1{font-size:24px;line-height:1.2;word-break:break-all}
.entity-icon .ic-ring{fill:none;stroke:var(--accent);stroke-width:2}
.entity-icon .ic-line{fill:none;stroke:var(--accent);stroke-width:1.5}
dl.meta{display:flex;flex-wrap:wrap;gap:4px 24px;margin:0 0 0 auto;font-size:13px}
dl.meta div{display:flex;gap:6px}dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.banner{margin:12px 24px 0;padding:10px 14px;border-radius:4px;border:1px solid var(--line);background:var(--panel)}
.banner ul{margin:6px 0 0;padding-left:20px}
.banner-warn{border-left:4px solid var(--warn)}.banner-info{border-left:4px solid var(--accent)}
.layout{display:grid;grid-template-columns:minmax(320px,410px) minmax(0,1fr);gap:16px;padding:16px 24px;align-items:start}
.layout.single{grid-template-columns:minmax(0,1fr)}
@media (max-width:960px){.layout{grid-template-columns:minmax(0,1fr)}}
aside.overview>h2.pane-title{font-size:16px;margin:0 0 8px}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:0 0 12px;
box-shadow:0 1px 2px rgba(0,0,0,.05)}
.panel-head{display:flex;align-items:center;gap:8px;flex-wrap:wrap;margin-bottom:6px}
.panel-head h2,.panel-head h3{font-size:15px}
.panel.is-error,.panel.is-timeout{border-left:4px solid var(--err)}
.section{margin:8px 0 0}.section>h3,.section>h4,.section>h5{font-size:13px;color:var(--muted);margin:10px 0 4px}
.note{margin:0 0 6px;color:var(--muted);font-size:12.5px}
.empty{color:var(--muted);margin:4px 0}
.msg{margin:4px 0 8px;padding:6px 10px;border-radius:4px;background:var(--soft)}
.msg-error,.msg-timeout{color:var(--err);border-left:3px solid var(--err)}
.msg-skipped{border-left:3px solid var(--info)}.msg-empty{color:var(--muted)}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:11.5px;font-weight:600;border:1px solid currentColor;
line-height:1.5;white-space:nowrap}
.st-ok,.st-page-ok{color:var(--ok)}.st-empty{color:var(--muted)}.st-error,.st-timeout{color:var(--err)}
.st-skipped{color:var(--info)}.st-page-partial{color:var(--warn)}.st-page-empty{color:var(--muted)}
.timing{margin-left:auto;color:var(--muted);font-size:12px}
dl.kv{display:grid;grid-template-columns:fit-content(45%) minmax(0,1fr);gap:4px 12px;margin:0}
dl.kv div{display:contents}dl.kv dt{color:var(--muted);overflow-wrap:anywhere}dl.kv dd{margin:0;word-break:break-word}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:8px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px;background:var(--soft);display:flex;flex-direction:column;
border-top:3px solid var(--accent)}
.card-value{font-size:22px;font-weight:600;line-height:1.2}.card-label{color:var(--muted);font-size:12.5px;overflow-wrap:anywhere}
.card-count{font-size:12.5px}.card-count b{font-size:18px;margin-right:2px}
.sev-card.sev-high{border-top-color:var(--high)}.sev-card.sev-medium{border-top-color:var(--medium)}
.sev-card.sev-low{border-top-color:var(--low)}.sev-card.sev-informational{border-top-color:var(--info)}
.sev-card .card-label{font-weight:600;color:var(--text)}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-weight:600;color:var(--muted);white-space:nowrap;background:var(--soft)}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td time{white-space:nowrap}
.table-wrap>table{width:max-content;min-width:100%}td .wrap{max-width:30em;min-width:12em}
aside .table-wrap>table{width:100%}aside td .wrap{min-width:0}
time .d,time .t{white-space:nowrap}
aside td time{white-space:normal}
aside table{font-size:12.5px}aside th,aside td{padding:4px 6px}
button.sort{all:unset;cursor:pointer}button.sort:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button.sort::after{content:" \25B2";font-size:9px}
th[aria-sort=descending] button.sort::after{content:" \25BC";font-size:9px}
tbody tr:hover{background:var(--soft)}
.badge{display:inline-block;white-space:nowrap}
.badge.sev::before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:5px;background:var(--info)}
.sev-high::before{background:var(--high)!important}.sev-medium::before{background:var(--medium)!important}
.sev-low::before{background:var(--low)!important}
.badge.status,.badge.kind{padding:0 6px;border-radius:3px;background:var(--soft);border:1px solid var(--line)}
.grid-count{margin:4px 0 0;color:var(--muted);font-size:12px}
.nomatch{margin:6px 0;color:var(--muted)}
.toolbar{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center;margin:4px 0 8px;font-size:13px}
.toolbar input[type=search]{padding:4px 6px;min-width:200px;font:inherit}
.toolbar select,.toolbar button{font:inherit;padding:3px 8px}
.facet{border:1px solid var(--line);border-radius:4px;padding:2px 8px;margin:0;display:flex;gap:8px;align-items:center}
.facet legend{font-size:11px;color:var(--muted);padding:0 2px}
.facet .n{color:var(--muted);font-size:11px}
.chooser{position:relative}.chooser summary{cursor:pointer;padding:3px 8px;border:1px solid var(--line);border-radius:4px}
.chooser-list{position:absolute;z-index:5;background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:6px 10px;
display:flex;flex-direction:column;gap:2px;min-width:180px;box-shadow:0 4px 12px rgba(0,0,0,.15)}
.tabs{display:flex;gap:4px;border-bottom:1px solid var(--line);margin-bottom:12px;flex-wrap:wrap}
[role=tab]{background:none;border:0;border-bottom:2px solid transparent;padding:8px 12px;font:inherit;color:var(--text);cursor:pointer}
[role=tab][aria-selected=true]{border-bottom-color:var(--accent);font-weight:600}
[role=tab] .count{display:inline-block;min-width:18px;padding:0 6px;margin-left:4px;border-radius:9px;background:var(--soft);
border:1px solid var(--line);font-size:11.5px;font-weight:400}
.tp-title{font-size:17px;margin:16px 0 8px}
.js .tp-title{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.group-title{font-size:15px;margin:12px 0 8px}
.tabpanel>.group-title:first-of-type{margin-top:0}
figure.chart-box{margin:4px 0}
svg.chart{max-width:100%;height:auto;display:block;font-size:11px;font-family:inherit}
svg.chart text{fill:var(--text)}svg.chart .tick,svg.chart .series{fill:var(--muted)}
svg.chart .grid{stroke:var(--line);stroke-width:1}svg.chart .axis{stroke:var(--muted);stroke-width:1}
svg.chart .s1{fill:var(--s1)}svg.chart .s2{fill:var(--s2)}svg.chart .s3{fill:var(--s3)}
svg.chart .s4{fill:var(--s4)}svg.chart .s5{fill:var(--s5)}svg.chart .s6{fill:var(--s6)}
.chart-data summary,details.query summary{cursor:pointer;color:var(--accent);font-size:12.5px}
details.query{margin:8px 0 0}
.q{margin:6px 0 10px}.q-label{margin:0;color:var(--muted);font-size:12px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:8px;overflow-x:auto;margin:4px 0}
table.binds{width:auto}table.binds caption{text-align:left;color:var(--muted);font-size:12px}
table.binds th{font-family:"Cascadia Mono",Consolas,"DejaVu Sans Mono",monospace;font-weight:400}
.null{color:var(--muted);font-style:italic}
.cmd{display:flex;align-items:center;gap:8px;margin:8px 0 0;flex-wrap:wrap}
.cmd-label{color:var(--muted);font-size:12px}
.cmd code{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:2px 6px;overflow-wrap:anywhere}
.copy{font:inherit;font-size:12px;padding:1px 8px}
ol.timeline{list-style:none;margin:0;padding:0 0 0 14px;border-left:2px solid var(--line)}
.tl-item{position:relative;padding:3px 0 5px 8px;display:flex;gap:12px}
.tl-item::before{content:"";position:absolute;left:-21px;top:7px;width:10px;height:10px;border-radius:50%;background:var(--accent);
border:2px solid var(--panel)}
.tl-alert::before{background:var(--high)}.tl-anomaly::before{background:var(--medium)}.tl-bookmark::before{background:var(--s4)}
.tl-time{min-width:140px;color:var(--muted);font-size:12.5px;font-variant-numeric:tabular-nums}
.tl-body{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 8px}
.tl-kind{font-size:11px;color:var(--muted);text-transform:uppercase;min-width:64px}
.tl-title{font-weight:600}.tl-meta{color:var(--muted);font-size:12.5px}
.actions{margin-top:16px}.actions>h2{font-size:17px;margin:0 0 8px}
.action-list{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:10px}
.action{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px 14px}
.action h3{font-size:14px}.action p{margin:4px 0 0}
.params{display:flex;flex-wrap:wrap;gap:4px 16px;margin:4px 0 0}
@media print{.tabpanel[hidden]{display:block!important}.toolbar,.copy{display:none!important}}
]==]

M.SCRIPT = [==[
(function () {
  'use strict';
  var d = document, grids = {}, primary = null, current = { tab: null };
  d.documentElement.className = 'js';
  function all(sel, root) { return Array.prototype.slice.call((root || d).querySelectorAll(sel)); }
  function one(sel, root) { return (root || d).querySelector(sel); }
  function lc(s) { return String(s).toLowerCase(); }
  var data = {};
  try { data = JSON.parse(d.getElementById('ipe-data').textContent); } catch (e) { data = {}; }

  var tabs = all('[role="tab"]');
  function selectTab(name, focus) {
    var known = tabs.some(function (t) { return t.getAttribute('data-tab') === name; });
    if (!known) { if (!tabs.length) return; name = tabs[0].getAttribute('data-tab'); }
    tabs.forEach(function (t) {
      var on = t.getAttribute('data-tab') === name;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      var panel = d.getElementById(t.getAttribute('aria-controls'));
      if (panel) panel.hidden = !on;
      if (on && focus) t.focus();
    });
    current.tab = name;
  }
  function tabOf(el) {
    var p = el.closest('[role="tabpanel"]');
    return p ? p.getAttribute('data-tab') : null;
  }

  var NUM = { count: 1, number: 1, bytes: 1 };
  var RANK = { informational: 0, low: 1, medium: 2, high: 3 };
  function pad3(n) { return ('00' + n).slice(-3); }
  function key(v, col) {
    if (v === null || v === undefined || v === '') return null;
    if (NUM[col.type]) { var n = typeof v === 'number' ? v : parseFloat(v); return isNaN(n) ? null : n; }
    if (col.type === 'bool') return v === true || v === 1 ? 1 : 0;
    if (col.badge === 'sev' && RANK.hasOwnProperty(lc(v))) return RANK[lc(v)];
    if (col.type === 'ip') {
      var m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(v);
      return m ? 'a' + [m[1], m[2], m[3], m[4]].map(pad3).join('.') : 'b' + lc(v);
    }
    return typeof v === 'number' ? v : lc(v);
  }
  function compare(a, b, col, dir) {
    var x = key(a, col), y = key(b, col);
    if (x === null) return y === null ? 0 : 1;
    if (y === null) return -1;
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
    x = String(x); y = String(y);
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  }

  function Grid(el, spec) {
    var self = this;
    this.el = el; this.spec = spec; this.id = el.id;
    this.tbody = one('tbody', el);
    this.rows = all('tbody > tr', el);
    this.hay = this.rows.map(function (tr) {
      var raw = spec.rows[+tr.getAttribute('data-row')] || [];
      return Array.prototype.map.call(tr.cells, function (td, c) {
        var v = raw[c];
        return lc(td.textContent + (v === null || v === undefined ? '' : '\u0001' + v));
      });
    });
    this.reset();
    this.count = one('[data-role="count"]', el);
    this.nomatch = one('[data-role="nomatch"]', el);
    var bar = one('[data-role="toolbar"]', el);
    if (bar) bar.hidden = false;
    all('[data-role="sort"]', el).forEach(function (b) {
      b.addEventListener('click', function () {
        var c = +b.getAttribute('data-col'), col = spec.columns[c];
        if (self.sort && self.sort.col === c) self.sort.dir = -self.sort.dir;
        else self.sort = { col: c, dir: (NUM[col.type] || col.type === 'time' || col.badge === 'sev') ? -1 : 1 };
        self.changed();
      });
    });
    all('[data-role="facet"]', el).forEach(function (cb) {
      cb.addEventListener('change', function () {
        var c = +cb.getAttribute('data-col');
        self.where[c] = all('[data-role="facet"][data-col="' + c + '"]', el)
          .filter(function (x) { return x.checked; }).map(function (x) { return x.value; });
        self.changed();
      });
    });
    var q = one('[data-role="q"]', el), qcol = one('[data-role="qcol"]', el);
    if (q) q.addEventListener('input', function () { self.q = q.value; self.changed(); });
    if (qcol) qcol.addEventListener('change', function () { self.qcol = +qcol.value; self.changed(); });
    all('[data-role="col"]', el).forEach(function (cb) {
      cb.addEventListener('change', function () {
        var c = +cb.value;
        self.hidden[c] = !cb.checked;
        if (self.visibleCount() === 0) { self.hidden[c] = false; cb.checked = true; }
        self.changed();
      });
    });
    var reset = one('[data-role="reset"]', el);
    if (reset) reset.addEventListener('click', function () { self.reset(); self.changed(); });
  }
  Grid.prototype.reset = function () { this.where = {}; this.q = ''; this.qcol = -1; this.hidden = {}; this.sort = null; };
  Grid.prototype.visibleCount = function () {
    var self = this;
    return this.spec.columns.filter(function (_, c) { return !self.hidden[c]; }).length;
  };
  Grid.prototype.colIndex = function (name) {
    var n = lc(name).trim(), cols = this.spec.columns, i;
    for (i = 0; i < cols.length; i++) if (lc(cols[i].name) === n) return i;
    for (i = 0; i < cols.length; i++) if (n && lc(cols[i].name).indexOf(n) >= 0) return i;
    return -1;
  };
  Grid.prototype.changed = function () { this.apply(); if (this === primary) writeHash(); };
  Grid.prototype.apply = function () {
    var self = this, spec = this.spec, shown = 0, q = lc(this.q).trim();
    var order = this.rows.slice();
    if (this.sort) {
      var c = this.sort.col, dir = this.sort.dir, col = spec.columns[c];
      order.sort(function (a, b) {
        var i = +a.getAttribute('data-row'), j = +b.getAttribute('data-row');
        return compare(spec.rows[i][c], spec.rows[j][c], col, dir) || i - j;
      });
    }
    order.forEach(function (tr) {
      var i = +tr.getAttribute('data-row'), row = spec.rows[i], ok = true;
      Object.keys(self.where).forEach(function (c) {
        var set = self.where[c].map(lc), v = row[c];
        if (set.length && set.indexOf(lc(v === null || v === undefined ? '' : v)) < 0) ok = false;
      });
      if (ok && q) {
        var hay = self.hay[i];
        ok = self.qcol >= 0 ? (hay[self.qcol] || '').indexOf(q) >= 0
          : hay.some(function (h) { return h.indexOf(q) >= 0; });
      }
      tr.hidden = !ok;
      if (ok) shown++;
      self.tbody.appendChild(tr);
    });
    all('tr', one('table', this.el)).forEach(function (tr) {
      Array.prototype.forEach.call(tr.cells, function (cell, c) { cell.hidden = !!self.hidden[c]; });
    });
    all('thead th', this.el).forEach(function (th, c) {
      th.setAttribute('aria-sort', self.sort && self.sort.col === c ? (self.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    });
    all('[data-role="facet"]', this.el).forEach(function (cb) {
      var set = (self.where[+cb.getAttribute('data-col')] || []).map(lc);
      cb.checked = set.indexOf(lc(cb.value)) >= 0;
    });
    all('[data-role="col"]', this.el).forEach(function (cb) { cb.checked = !self.hidden[+cb.value]; });
    var qi = one('[data-role="q"]', this.el), qc = one('[data-role="qcol"]', this.el);
    if (qi && qi.value !== this.q) qi.value = this.q;
    if (qc) qc.value = String(this.qcol);
    var total = this.rows.length;
    if (this.count) this.count.textContent = shown === total ? total + (total === 1 ? ' row' : ' rows')
      : 'Showing ' + shown + ' of ' + total + ' rows';
    if (this.nomatch) this.nomatch.hidden = shown > 0;
  };
  Grid.prototype.load = function (p) {
    var self = this, cols = this.spec.columns;
    this.reset();
    p.getAll('where').forEach(function (w) {
      var at = w.indexOf('=');
      if (at < 1) return;
      var c = self.colIndex(w.slice(0, at));
      if (c < 0) return;
      self.where[c] = w.slice(at + 1).split(',').map(function (s) { return s.trim(); })
        .filter(function (s) { return s.length > 0; });
    });
    this.q = p.get('q') || '';
    this.qcol = p.get('in') ? this.colIndex(p.get('in')) : -1;
    if (p.get('cols')) {
      var want = p.get('cols').split(',').map(function (n) { return self.colIndex(n); });
      cols.forEach(function (_, c) { self.hidden[c] = want.indexOf(c) < 0; });
      if (this.visibleCount() === 0) this.hidden = {};
    }
    var s = p.get('sort');
    if (s) {
      var c = this.colIndex(s.replace(/^[-+ ]/, ''));
      if (c >= 0) this.sort = { col: c, dir: s.charAt(0) === '-' ? -1 : 1 };
    }
    this.apply();
  };
  Grid.prototype.save = function (p) {
    var self = this, cols = this.spec.columns;
    Object.keys(this.where).forEach(function (c) {
      if (self.where[c].length) p.append('where', cols[c].name + '=' + self.where[c].join(','));
    });
    if (this.q) p.set('q', this.q);
    if (this.q && this.qcol >= 0) p.set('in', cols[this.qcol].name);
    if (this.visibleCount() < cols.length) {
      p.set('cols', cols.filter(function (_, c) { return !self.hidden[c]; }).map(function (c) { return c.name; }).join(','));
    }
    if (this.sort) p.set('sort', (this.sort.dir < 0 ? '-' : '') + cols[this.sort.col].name);
  };

  function writeHash() {
    var p = new URLSearchParams();
    if (current.tab && tabs.length) p.set('tab', current.tab);
    if (primary) primary.save(p);
    var s = p.toString();
    try { history.replaceState(null, '', s ? '#' + s : location.pathname + location.search); } catch (e) { }
  }
  function readHash() {
    var h = location.hash.replace(/^#/, '');
    if (h && h.indexOf('=') < 0) {
      var el = d.getElementById(decodeURIComponent(h));
      if (el) { var t = tabOf(el); if (t) selectTab(t); el.scrollIntoView(); }
      return;
    }
    var p = new URLSearchParams(h);
    selectTab(p.get('tab') || current.tab || data.tab);
    var g = (p.get('grid') && grids[p.get('grid')]) || primary;
    if (g) g.load(p);
  }

  (data.grids || []).forEach(function (pair) {
    var el = d.getElementById(pair[0]);
    if (el) grids[pair[0]] = new Grid(el, pair[1]);
  });
  primary = grids[data.primary] || null;
  Object.keys(grids).forEach(function (id) { grids[id].apply(); });
  tabs.forEach(function (t, i) {
    t.addEventListener('click', function () { selectTab(t.getAttribute('data-tab')); writeHash(); });
    t.addEventListener('keydown', function (e) {
      var k = e.key, j = k === 'ArrowRight' ? i + 1 : k === 'ArrowLeft' ? i - 1 : k === 'Home' ? 0 : k === 'End' ? tabs.length - 1 : null;
      if (j === null) return;
      e.preventDefault();
      j = (j + tabs.length) % tabs.length;
      selectTab(tabs[j].getAttribute('data-tab'), true);
      writeHash();
    });
  });
  all('[data-role="copy"]').forEach(function (b) {
    b.hidden = false;
    b.addEventListener('click', function () {
      var code = one('code', b.parentNode), txt = code.textContent;
      function done(msg) { b.textContent = msg; setTimeout(function () { b.textContent = 'Copy'; }, 1500); }
      function select() { var r = d.createRange(); r.selectNodeContents(code); var s = getSelection(); s.removeAllRanges(); s.addRange(r); }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(txt).then(function () { done('Copied'); }, function () { select(); done('Selected'); });
      } else { select(); done('Selected'); }
    });
  });
  if (tabs.length) selectTab(data.tab);
  readHash();
  window.addEventListener('hashchange', readHash);
})();
]==]

local csp_cache

function M.csp()
  if not csp_cache then
    csp_cache = format("default-src 'none'; script-src 'sha256-%s'; style-src 'sha256-%s'; "
      .. "base-uri 'none'; form-action 'none'", M.base64(M.sha256(M.SCRIPT)), M.base64(M.sha256(M.STYLE)))
  end
  return csp_cache
end

-- html.csp_with(scripts, styles) -> the policy of a served page (ipe-run serve): the page's own
-- script and stylesheet and these, by hash; forms post to the same origin only
function M.csp_with(scripts, styles)
  local function hashes(list, own)
    local out = { format("'sha256-%s'", M.base64(M.sha256(own))) }
    for _, x in ipairs(list or {}) do out[#out + 1] = format("'sha256-%s'", M.base64(M.sha256(x))) end
    return concat(out, " ")
  end
  return format("default-src 'none'; script-src %s; style-src %s; img-src 'self'; connect-src 'self'; "
    .. "base-uri 'none'; form-action 'self'", hashes(scripts, M.SCRIPT), hashes(styles, M.STYLE))
end

local function data_block(doc, tab)
  local grids = {}
  for i, g in ipairs(doc.grids) do grids[i] = json.array({ g[1], g[2] }) end
  return M.json_script(json.object({ { "tab", tab }, { "primary", doc.primary }, { "grids", json.array(grids) } }))
end

-- opts.csp replaces the meta tag's policy (ipe-run serve sends its own), opts.style adds a
-- stylesheet and opts.body_script a script at the top of the body (their hashes are the
-- caller's to put in that policy)
local function document_start(title, opts)
  opts = opts or {}
  return concat({
    '<!DOCTYPE html>\n<html lang="en" class="no-js">\n<head>\n<meta charset="utf-8">\n',
    format('<meta http-equiv="Content-Security-Policy" content="%s">\n', esc(opts.csp or M.csp())),
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    '<meta name="referrer" content="no-referrer">\n<meta name="color-scheme" content="light dark">\n',
    '<meta name="generator" content="ipe">\n',
    format("<title>%s</title>\n", esc(title)),
    "<style>", M.STYLE, "</style>\n", opts.style and ("<style>" .. opts.style .. "</style>\n") or "",
    "</head>\n<body>\n", opts.body_script and ("<script>" .. opts.body_script .. "</script>\n") or "",
  })
end

local function document_end(doc, tab)
  return concat({ '\n<script type="application/json" id="ipe-data">', data_block(doc, tab), "</script>\n",
    "<script>", M.SCRIPT, "</script>\n</body>\n</html>\n" })
end

local function document(title, body, doc, tab)
  return document_start(title) .. body .. document_end(doc, tab)
end

-- Public entry points -------------------------------------------------------------------------

local function tab_name(opts)
  local t = opts and opts.tab
  if t == "incidents" or t == "observed" or t == "events" then return t end
  return "incidents"
end

-- layout(record, opts, doc, render_panel) -> the overview pane, the tabs' HTML, the panels'
-- anchors, the selected tab (render_panel(p, doc, ctx) -> html, anchor)
local function layout(record, opts, doc, render_panel)
  local by_group = {}
  for _, g in ipairs(M.GROUPS) do by_group[g] = {} end
  for _, p in ipairs(record.panels) do local g = by_group[group_of(p)]; g[#g + 1] = p end
  local anchors = {}
  local ov = { '<aside class="overview" aria-labelledby="overview-h"><h2 class="pane-title" id="overview-h">Overview</h2>' }
  if #by_group.overview == 0 then ov[#ov + 1] = '<p class="empty">No overview panel on this page.</p>' end
  local ctx = setmetatable({ group = "overview", show_query = opts.show_query }, { __index = GROUP_CTX.overview })
  for _, p in ipairs(by_group.overview) do
    local h, pid = render_panel(p, doc, ctx)
    ov[#ov + 1] = h
    anchors[p] = pid
  end
  ov[#ov + 1] = "</aside>"
  local tab = tab_name(opts)
  local tabs = tablist_html(by_group, tab)
  if opts.tabs_id then tabs = format('<div id="%s">%s</div>', opts.tabs_id, tabs) end
  local main = { '<main class="main">', tabs }
  for _, t in ipairs(TABS) do main[#main + 1] = (tab_html(t, by_group, doc, anchors, opts, render_panel)) end
  main[#main + 1] = actions_html(record.actions or {})
  main[#main + 1] = "</main>"
  return concat(ov), concat(main), anchors, tab, by_group
end

local function page_title(record)
  return record.title ~= nil and tostring(record.title) or ("IP address " .. tostring(record.ip or ""))
end

function M.page(record, opts)
  opts = opts or {}
  check_page(record)
  local doc = new_doc(opts)
  local ov, main, anchors, tab = layout(record, opts, doc, panel_html)
  local body = concat({ page_header(record), banner_html(record, anchors),
    '<div class="layout">', ov, main, "</div>" })
  return document(page_title(record), body, doc, tab)
end

-- html.document(title, body_html, opts) -> a document around trusted HTML (ipe-run serve's own
-- pages: the search page, forms), with the page's stylesheet and script (opts as html.stream)
function M.document(title, body, opts)
  return document_start(title, opts) .. body .. document_end(new_doc(), nil)
end

-- html.stream(record, opts) -> a page whose panels arrive one at a time (ipe-run serve):
--   st:head()   the document up to the end of the layout; a panel without a record yet is a
--               placeholder (status "running"); opts.top goes before the header (trusted HTML)
--   st:panel(i) once record.panels[i].record is in: a <template data-fill="<anchor>"> holding
--               the panel, then a marker <i data-filled="<anchor>">; the body script swaps it in
--   st:tail()   the header and banner (the page's final status, record.status set) and the tab
--               counts, again as templates, then the data block and the page script
-- The same panels, sections, statuses and charts as html.page: only the order they are sent in
-- differs. opts: as html.page, plus opts.link, csp, style, body_script, top.
function M.stream(record, opts)
  opts = setmetatable({ tabs_id = "ipe-tabs" }, { __index = opts or {} })
  local doc = new_doc(opts)
  local st = { pids = {}, ctxs = {} }
  local function render_panel(p, d, ctx)
    local pid = d:anchor("panel-" .. slug(p.id or "panel"))
    st.pids[p], st.ctxs[p] = pid, ctx
    if p.record then return (panel_html(p, d, ctx, pid)), pid end
    return format('<section class="panel panel-%s is-running" id="%s" aria-busy="true"><header class="panel-head">'
      .. '<h%d>%s</h%d>%s</header></section>', esc(ctx.group), pid, ctx.level, esc(panel_title(p)), ctx.level,
      badge_html("running", "running")), pid
  end
  local function fill(id, html)
    return format('<template data-fill="%s">%s</template><i data-filled="%s" hidden></i>\n', id, html, id)
  end
  function st.head()
    local ov, main, anchors, tab = layout(record, opts, doc, render_panel)
    st.anchors, st.tab = anchors, tab
    return document_start(page_title(record), opts) .. (opts.top or "") .. '<div id="page-head">'
      .. page_header(record) .. '</div><div class="layout">' .. ov .. main .. "</div>\n"
  end
  function st.panel(i)
    local p = record.panels[i]
    return fill(st.pids[p], (panel_html(p, doc, st.ctxs[p], st.pids[p])))
  end
  function st.tail()
    local by_group = {}
    for _, g in ipairs(M.GROUPS) do by_group[g] = {} end
    for _, p in ipairs(record.panels) do local g = by_group[group_of(p)]; g[#g + 1] = p end
    return fill("page-head", '<div id="page-head">' .. page_header(record) .. banner_html(record, st.anchors) .. "</div>")
      .. fill("ipe-tabs", '<div id="ipe-tabs">' .. tablist_html(by_group, st.tab) .. "</div>")
      .. document_end(doc, st.tab)
  end
  return st
end

local function params_html(rec)
  local parts = text.params_parts({ params = rec.params }, function(s) return s end)
  if #parts == 0 then return "" end
  local h = { '<p class="params">' }
  for _, p in ipairs(parts) do h[#h + 1] = "<code>" .. esc(p) .. "</code>" end
  h[#h + 1] = "</p>"
  return concat(h)
end

function M.run(record, opts)
  opts = opts or {}
  check_run(record)
  local doc = new_doc(opts)
  local cls, word, message = run_status(record)
  local heading = text.heading(record, function(s) return s end) or "run"
  local meta = { window_html(record.window) }
  local header = format('<header class="top"><div class="entity"><p class="entity-kind">%s</p><h1>%s</h1>%s</div>'
    .. '%s<dl class="meta">%s</dl>%s</header>', esc(record.kind or "run"), esc(heading), params_html(record),
    badge_html(cls, word), concat(meta), timing_html(record))
  local body = { header, '<div class="layout single"><main class="main">',
    format('<section class="panel panel-run is-%s" id="run" aria-labelledby="run-h"><h2 id="run-h" class="tp-title">%s</h2>',
      cls, esc(record.title ~= nil and tostring(record.title) or heading)),
    message_html(cls, word, message),
    sections_html(record, doc, { level = 3, interactive = true, primary = true, width = 760 }),
    queries_html(record, opts.show_query), "</section></main></div>" }
  if opts.top then return document_start(heading, opts) .. opts.top .. concat(body) .. document_end(doc, nil) end
  return document(heading, concat(body), doc, nil)
end

return M
