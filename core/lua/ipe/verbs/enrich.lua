-- ipe.verbs.enrich: ipe-run enrich [FILE|-] — bulk enrichment: each IP of a list or of a
-- CSV column with its class and what the geo databases say (ipe.geo), as JSON lines or CSV.
--
-- Built for millions of lines: the geo fast path (geo:resolve: one lookup per database and
-- per IP, records decoded and merged once per distinct combination), each distinct result
-- rendered once, output written in large chunks, no table or string built per line beyond
-- the line itself. A bad line is reported on stderr with its number and skipped (at most
-- MAX_REPORTS reports, then a count); the summary goes to stderr. Exit 0 when at least one
-- IP was enriched, 1 when none was, 2 for bad arguments, 3 when the input is missing.
local common = require "ipe.verbs.common"
local errors = require "ipe.errors"
local ipaddr = require "ipe.ipaddr"
local geo = require "ipe.geo"
local json = require "ipe.render.json"
local fs = require "ipe.fs"
local proc = require "ipe.proc"

local find, sub, byte, concat, format = string.find, string.sub, string.byte, table.concat, string.format
local normalize, classify = ipaddr.normalize, ipaddr.classify

local M = {}

M.summary = "add class, geo, ASN and ISP data to a list of IPs (JSON lines or CSV)"
M.usage = [[
usage: ipe-run enrich [FILE|-] [--column NAME] [-f jsonl|csv] [-o FILE]

Reads IP addresses, one per line (blank lines and lines starting with # are
skipped), or from the column NAME of a CSV file with a header row, from FILE or
standard input, and writes one record per IP: the address, its class (public,
private, shared, loopback, ...), whether a geo database has it, and every field
the databases supply (organization, isp, asn, as_organization, country_code,
country_name, state, city, postal_code, latitude, longitude, carrier,
connection_type, anonymizer flags, ...). Defanged addresses (1[.]2[.]3[.]4) are
accepted. A line that is not an IP is reported on stderr with its number and
skipped.

The geo databases come from IPE_GEOIP (a colon-separated list of .mmdb files) or
'paths' under [geoip] in the config file; without any, records carry the class only.

options:
  -c, --column NAME    the input is CSV; take the IP from column NAME
  -f, --format FMT     jsonl (default: one JSON object per line, keys in a fixed
                       order, absent fields left out) or csv (a header row and
                       one column per field, empty when absent)
  -o, --output FILE    write to FILE (replaced atomically when done; a device or
                       pipe such as /dev/null is written to directly)

exit codes: 0 at least one IP enriched, 1 none, 2 bad arguments, 3 no such input
]]

M.options = { common.OUTPUT, { { "column", "c", arg = true } } }

M.MAX_REPORTS = 100
local MAX_RECORD_LINES = 100 -- a CSV record may span lines (quoted newlines), this many at most

local FIELDS = geo.FIELDS
local NF = #FIELDS

---------------------------------------------------------------------------
-- Input
---------------------------------------------------------------------------

-- csv_fields(text) -> list of fields | nil when a quoted field is still open at the end.
local function csv_fields(text)
  local out, i, n = {}, 1, #text
  while true do
    if sub(text, i, i) == '"' then
      local parts, j = {}, i + 1
      while true do
        local q = find(text, '"', j, true)
        if not q then return nil end
        parts[#parts + 1] = sub(text, j, q - 1)
        if sub(text, q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      out[#out + 1] = concat(parts)
      local c = find(text, ",", i, true)
      if not c then break end
      i = c + 1
    else
      local c = find(text, ",", i, true)
      if not c then out[#out + 1] = sub(text, i) break end
      out[#out + 1] = sub(text, i, c - 1)
      i = c + 1
    end
    if i > n + 1 then break end
  end
  return out
end
M.csv_fields = csv_fields

local function open_input(path)
  if path == nil or path == "-" then return io.stdin, "standard input" end
  local st, err = fs.stat(path)
  if not st then errors.not_found("enrich: cannot read %s", err) end
  if st.type == "dir" then errors.not_found("enrich: %s is a directory", path) end
  local f, oerr = io.open(path, "rb")
  if not f then errors.not_found("enrich: cannot read %s", oerr) end
  return f, path
end

---------------------------------------------------------------------------
-- Output
---------------------------------------------------------------------------

-- Output: records are written as pieces into one buffer, flushed as a single write every
-- FLUSH_PIECES pieces (no string per line: LuaJIT interns every string it creates).
local FLUSH_PIECES = 8192

local Out = {}
Out.__index = Out

local function open_output(opts)
  local o = setmetatable({ buf = {}, n = 0 }, Out)
  local st = opts.output and opts.output ~= "-" and fs.stat(opts.output)
  if st and st.type ~= "file" then
    -- a device or a pipe (-o /dev/null, -o /dev/stdout): write to it, never rename over it
    if st.type == "dir" then errors.usage("enrich: -o %s is a directory", opts.output) end
    local f, err = io.open(opts.output, "wb")
    if not f then errors.raise(errors.NO_RESULT, "enrich: cannot write %s", err) end
    o.f, o.final, o.direct = f, opts.output, true
  elseif opts.output and opts.output ~= "-" then
    o.final = opts.output
    o.tmp = opts.output .. ".ipe-tmp-" .. proc.pid()
    local f, err = io.open(o.tmp, "wb")
    if not f then errors.raise(errors.NO_RESULT, "enrich: cannot write %s", err) end
    o.f = f
  else
    o.f = io.stdout
  end
  return o
end

function Out:put(s)
  self.n = self.n + 1
  self.buf[self.n] = s
end

function Out:flush()
  if self.n == 0 then return end
  local ok, err = self.f:write(concat(self.buf, "", 1, self.n))
  self.n = 0
  if not ok then
    self:abort()
    errors.raise(errors.NO_RESULT, "enrich: cannot write %s: %s", self.final or "standard output", tostring(err))
  end
end

function Out:abort()
  if self.tmp then
    self.f:close()
    os.remove(self.tmp)
    self.tmp = nil
  end
end

function Out:finish()
  self:flush()
  if self.tmp then
    local ok, err = self.f:close()
    if not ok then self:abort() errors.raise(errors.NO_RESULT, "enrich: cannot write %s: %s", self.final, tostring(err)) end
    local rok, rerr = os.rename(self.tmp, self.final)
    if not rok then os.remove(self.tmp) errors.raise(errors.NO_RESULT, "enrich: cannot write %s: %s", self.final, tostring(rerr)) end
    self.tmp = nil
  elseif self.direct then
    self.f:close()
  else
    self.f:flush()
  end
end

-- A record is: an opening that names the IP and its class, then a fragment with everything
-- the databases say. geo:resolve hands out one shared table per combination of database
-- records, so each fragment is rendered once (kept in merged.text) and reused for every IP
-- that maps to the same records.

-- JSON lines: keys in a fixed order, absent fields left out.
local JKEY = {}
for i, f in ipairs(FIELDS) do JKEY[i] = ',"' .. f[1] .. '":' end

local function json_value(v)
  local tv = type(v)
  if tv == "string" then return json.string(v) end
  if tv == "number" then return json.number(v) end
  return v and "true" or "false"
end

local function json_fragment(m)
  local parts = { '","found":true' }
  for i = 1, NF do
    if m[i] ~= nil then
      parts[#parts + 1] = JKEY[i]
      parts[#parts + 1] = json_value(m[i])
    end
  end
  if m.conflict then
    local items = {}
    for i, c in ipairs(m.conflict) do
      items[i] = json.object({ { "country_code", c.country_code }, { "file", c.file } })
    end
    parts[#parts + 1] = ',"country_conflict":' .. json.encode(json.array(items))
  end
  parts[#parts + 1] = "}\n"
  return concat(parts)
end

-- CSV: a header row, one column per field (empty when absent).
local CSV_HEADER
do
  local names = { "ip", "class", "found" }
  for _, f in ipairs(FIELDS) do names[#names + 1] = f[1] end
  names[#names + 1] = "country_conflict"
  CSV_HEADER = concat(names, ",") .. "\r\n"
end

local function csv_field(v)
  if v == nil then return "" end
  local tv, s = type(v), v
  if tv == "number" then s = json.number(v)
  elseif tv == "boolean" then s = v and "true" or "false" end
  if find(s, '[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function csv_fragment(m)
  local parts = { ",true" }
  for i = 1, NF do parts[i + 1] = csv_field(m[i]) end
  local codes = {}
  for i, c in ipairs(m.conflict or {}) do codes[i] = c.country_code end
  parts[NF + 2] = concat(codes, "/")
  return concat(parts, ",") .. "\r\n"
end

-- format -> the pieces around ip and class, the fragment renderer, the not-found fragment.
local FORMATS = {
  jsonl = { open = '{"ip":"', mid = '","class":"', render = json_fragment, missing = '","found":false}\n' },
  csv = { open = "", mid = ",", render = csv_fragment, missing = ",false" .. string.rep(",", NF + 1) .. "\r\n",
          header = CSV_HEADER },
}

---------------------------------------------------------------------------
-- The run
---------------------------------------------------------------------------

local function escape_msg(s) return require("ipe.textutil").visible(s) end

local function setup_geo()
  local g = geo.default()
  for _, db in ipairs(g.dbs) do
    if db.error then io.stderr:write("ipe-run: enrich: warning: ", escape_msg(db.error), " (skipped)\n") end
  end
  for _, problem in ipairs(g:verify()) do
    io.stderr:write("ipe-run: enrich: warning: ", escape_msg(problem), " (skipped)\n")
  end
  return g
end

local function summary(stats, g)
  local parts = { format("ipe-run: enrich: %d IP%s enriched", stats.enriched, stats.enriched == 1 and "" or "s") }
  if #g.open_dbs > 0 then parts[#parts + 1] = format(" (%d found in a geo database)", stats.found) end
  if stats.bad > 0 then
    parts[#parts + 1] = format(", %d bad line%s skipped", stats.bad, stats.bad == 1 and "" or "s")
  end
  if stats.lookup_errors > 0 then
    parts[#parts + 1] = format(", %d database lookup error%s", stats.lookup_errors,
      stats.lookup_errors == 1 and "" or "s")
  end
  if #g.dbs == 0 then
    parts[#parts + 1] = "; no geo database is configured, so records carry the class only ("
      .. geo.HOWTO .. ")"
  elseif #g.open_dbs == 0 then
    parts[#parts + 1] = "; none of the configured geo databases can be used (see the warnings above), "
      .. "so records carry the class only"
  else
    local names = {}
    for i, db in ipairs(g.open_dbs) do names[i] = db.file .. " (" .. db.build_date .. ")" end
    parts[#parts + 1] = "; databases: " .. concat(names, ", ")
  end
  io.stderr:write(escape_msg(concat(parts)), "\n")
end

function M.run(opts, pos)
  if #pos > 1 then errors.usage("enrich: one input at a time (got '%s' after '%s')", pos[2], pos[1]) end
  local fmt = common.format(opts, { "jsonl", "csv" })
  if opts.column == "" then errors.usage("enrich: --column needs a column name") end
  local input, input_name = open_input(pos[1])
  local g = setup_geo()
  local out = open_output(opts)
  local F = FORMATS[fmt]
  if F.header then out:put(F.header) end
  local open, mid, render, missing = F.open, F.mid, F.render, F.missing

  local stats = { enriched = 0, found = 0, bad = 0, lookup_errors = 0 }

  local function bad(lineno, msg)
    stats.bad = stats.bad + 1
    if stats.bad <= M.MAX_REPORTS then
      io.stderr:write("ipe-run: enrich: line ", lineno, ": ", escape_msg(msg), "\n")
    elseif stats.bad == M.MAX_REPORTS + 1 then
      io.stderr:write("ipe-run: enrich: more bad lines follow; only the count is reported\n")
    end
  end

  -- A database that fails a lookup: the line is still written with what the others say.
  local function warn(lineno, msg)
    stats.lookup_errors = stats.lookup_errors + 1
    if stats.lookup_errors <= M.MAX_REPORTS then
      io.stderr:write("ipe-run: enrich: line ", lineno, ": warning: ", escape_msg(msg), "\n")
    elseif stats.lookup_errors == M.MAX_REPORTS + 1 then
      io.stderr:write("ipe-run: enrich: more lookup errors follow; only the count is reported\n")
    end
  end

  local function emit(raw, lineno)
    local ip, err = normalize(raw)
    if not ip then return bad(lineno, err) end
    local m, lerr = g:resolve(ip)
    if lerr then warn(lineno, lerr) end
    local frag = missing
    if m then
      frag = m.text
      if not frag then
        frag = render(m)
        m.text = frag
      end
      stats.found = stats.found + 1
    end
    local b, n = out.buf, out.n
    b[n + 1], b[n + 2], b[n + 3], b[n + 4], b[n + 5] = open, ip, mid, classify(ip), frag
    out.n = n + 5
    stats.enriched = stats.enriched + 1
    if n >= FLUSH_PIECES then out:flush() end
  end

  local ok, err = pcall(function()
    local lineno = 0
    if not opts.column then
      for raw in input:lines() do
        lineno = lineno + 1
        local b = byte(raw, -1)
        if b == 13 then raw = sub(raw, 1, -2) end
        b = byte(raw, 1)
        if b and b ~= 35 and (b > 32 or find(raw, "^%s*[^%s#]")) then emit(raw, lineno) end
      end
    else
      local col, header, pending, start = nil, nil, nil, 0
      for raw in input:lines() do
        lineno = lineno + 1
        if find(raw, "\r", -1, true) then raw = sub(raw, 1, -2) end
        if pending then raw = pending .. "\n" .. raw else start = lineno end
        local cells = csv_fields(raw)
        if not cells and lineno - start >= MAX_RECORD_LINES then
          -- an unbalanced quote: give up on this record instead of swallowing the file
          bad(start, format("a quoted field is not closed within %d lines", MAX_RECORD_LINES))
          pending = nil
        elseif not cells then
          pending = raw
        else
          pending = nil
          if not header then
            header = cells
            if header[1] then header[1] = header[1]:gsub("^\239\187\191", "") end
            for i, name in ipairs(header) do if name == opts.column then col = i break end end
            if not col then
              for i, name in ipairs(header) do if name:lower() == opts.column:lower() then col = i break end end
            end
            if not col then
              errors.usage("enrich: no column %s in the header of %s (columns: %s)", ipaddr.quote(opts.column),
                input_name, escape_msg(concat(header, ", ")))
            end
          elseif #cells == 1 and cells[1] == "" then
            -- a blank line
          elseif cells[col] == nil then
            bad(start, format("no column %s (the row has %d field%s)", ipaddr.quote(opts.column), #cells,
              #cells == 1 and "" or "s"))
          else
            emit(cells[col], start)
          end
        end
      end
      if pending then bad(start, "a quoted field is not closed before the end of the input") end
      if not header then errors.failed("enrich: %s is empty (no CSV header)", input_name) end
    end
  end)
  if input ~= io.stdin then input:close() end
  if not ok then
    out:abort()
    error(err, 0)
  end
  out:finish()
  summary(stats, g)
  if stats.enriched == 0 then return errors.NO_RESULT end
  return errors.OK
end

return M
