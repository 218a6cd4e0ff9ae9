-- ipe.ingest.load: records -> rows of the Sentinel tables, one file per transaction.
--
-- mapper(db, table, ctx) turns one record at a time into one row:
--   m.begin(lineno); m.put(key, value, kind) ...; m.finish() -> true | false, reason
-- Keys map onto columns by exact name, then without a portal " [UTC]" suffix,
-- a Log Analytics type suffix (RemotePort_string, Status_dynamic, ClientIP_) or
-- a known alias (SecurityAlert: AlertDisplayName, Severity, StartTimeUtc,
-- EndTimeUtc), then case-insensitively. A suffixed or alias key fills its
-- column only when no exact key of the record does (the first such key wins),
-- whatever the order; the others are kept in _Extra. Keys that match no column go, with their
-- values as given, into the _Extra column as one JSON object (sorted keys), so
-- nothing is dropped; so does a value that does not fit its column's type (a
-- number column holding "Warning": the column stays NULL). A time that cannot
-- be read is an error of the record. IP columns hold a normalized address
-- (ipe.ipaddr) or NULL: "1.2.3.4:80" and "[v6]:443" are split, the port going
-- to the table's port column (SourceIP -> SourcePort, IpAddress -> IpPort, ...)
-- or, without one, to _Extra as "<column>Port"; "", "-" and blanks are no value;
-- anything else ("300.1.1.1", "1.2.3", "1.2.3.4,5.6.7.8") is kept in _Extra and
-- counted in m.not_ip (per file: the summary line says how many). A missing
-- TimeGenerated is taken from the table's next time column in the record
-- (CreatedDateTime, StartTime, ...),
-- else it is the ingestion time. Type is always the table's name (another
-- value is kept in _Extra). Rows are inserted with one prepared statement per
-- record shape (the columns present), positional binds only.
--
-- ingest_file(run, path) reads one input in one transaction (BEGIN IMMEDIATE
-- ... COMMIT): a malformed record aborts the file with "name:line: reason" and
-- nothing of it is written, unless run.opts.skip_bad (the record is rejected
-- and the rest goes in). Re-ingesting content already in the ingest log is
-- refused unless run.opts.force, and so is a file all of whose records are in:
-- each row's keyed hash (row_hash: the table, the column names and values in
-- column order, empty values and a filled-in TimeGenerated left out, _Extra as
-- plain text) goes into _ipe_ingest_records with the ingest id; a record an
-- earlier ingest loaded is skipped and counted (new_dedup), the n-th copy of a
-- record within one file being a record of its own. 53 bits: with 10 million
-- records in a table, the chance that any two different ones collide is
-- about 1 in 200. With --table T, a file none of whose columns is one of T's own
-- (GENERIC: the columns every table has do not count) is refused unless --force. A large file into a table it will at least
-- double has that table's indexes dropped and rebuilt in the same transaction
-- (sorting once is cheaper than inserting into every index row by row; the
-- rebuild runs under ipe.rollup.sqlite's sorting(): cache-sized sort runs); when
-- the workspace keeps the per-IP activity rollup (ipe.rollup.sqlite), its
-- triggers are dropped too and the new rows counted into it before the commit.
--
-- Errors: a file that cannot be ingested raises {file_error = true, msg = "..."}
-- (error(e, 0)); other errors (SQLite I/O, bugs) propagate after the rollback.
local schema = require "ipe.schema"
local coerce = require "ipe.ingest.coerce"
local jsonscan = require "ipe.ingest.jsonscan"
local source = require "ipe.ingest.source"
local detect = require "ipe.ingest.detect"
local migration = require "ipe.migrations.ingest"
local fingerprint = require "ipe.ingest.fingerprint"
local cjson = require "cjson"

local find, sub, match, lower, format, concat = string.find, string.sub, string.match, string.lower,
  string.format, table.concat
local unpack = unpack

local M = {}

local NULL = cjson.null
local NUMBER, RAW = jsonscan.NUMBER, jsonscan.RAW

M.MAX_STATEMENTS = 256
M.BULK_MIN_ROWS = 50000
-- from this many rows the per-IP rollups are counted at the end (bulk_add), not by the triggers:
-- 10,000 firewall records into the 1M-event demo workspace, 1.9 s of CPU instead of 9.0 s
M.BULK_ROLLUP_MIN_ROWS = 5000

-- Columns that hold an IP address besides each table's ip_columns (tables.md).
M.EXTRA_IP = {
  CommonSecurityLog = { "DeviceAddress", "DeviceTranslatedAddress", "DeviceCustomIPv6Address1",
    "DeviceCustomIPv6Address2", "DeviceCustomIPv6Address3", "DeviceCustomIPv6Address4" },
  SecurityEvent = { "ClientAddress", "NASIPv4Address", "NASIPv6Address" },
  SigninLogs = { "IPAddressFromResourceProvider" },
  OfficeActivity = { "Client_IPAddress" },
  DeviceNetworkEvents = { "InitiatingProcessRemoteSessionIP" },
}

-- The port column beside an address column: where "addr:port" puts its port.
M.PORTS = {
  CommonSecurityLog = { SourceIP = "SourcePort", DestinationIP = "DestinationPort", RemoteIP = "RemotePort",
    SourceTranslatedAddress = "SourceTranslatedPort", DestinationTranslatedAddress = "DestinationTranslatedPort" },
  SecurityEvent = { IpAddress = "IpPort", RemoteIpAddress = "RemotePort" },
  DeviceNetworkEvents = { RemoteIP = "RemotePort", LocalIP = "LocalPort" },
  ThreatIntelligenceIndicator = { NetworkIP = "NetworkPort", NetworkSourceIP = "NetworkSourcePort",
    NetworkDestinationIP = "NetworkDestinationPort" },
}

-- Other names of a column in common exports (msticpy renames SecurityAlert columns).
M.ALIASES = {
  SecurityAlert = { AlertDisplayName = "DisplayName", Severity = "AlertSeverity", StartTimeUtc = "StartTime",
    EndTimeUtc = "EndTime" },
}

-- Log Analytics type suffixes: a column exported as Name_string / Name_dynamic / Name_d ...
M.SUFFIXES = { string = true, dynamic = true, int = true, long = true, real = true, bool = true, datetime = true,
  guid = true, s = true, d = true, b = true, t = true, g = true, [""] = true }

local STRING, IP, TIME, INT, REAL, BOOL, DYN = 1, 2, 3, 4, 5, 6, 7
local KIND = { string = STRING, guid = STRING, datetime = TIME, int = INT, long = INT, real = REAL, bool = BOOL,
  dynamic = DYN }

local function file_error(fmt, ...)
  error({ file_error = true, msg = select("#", ...) > 0 and format(fmt, ...) or fmt }, 0)
end
M.file_error = file_error

-- encode_extra(values, kinds [, plain]) -> '{"a":1,"b":"x"}' with sorted keys; with
-- plain, also the same pairs as text whatever their kind ("a\2" .. "1"), empty values
-- left out: what the record hash reads, so that 443 in JSON and "443" in CSV are the
-- same value and "" in JSON is the CSV's empty cell
local function encode_extra(values, kinds, plain)
  local keys = {}
  for key in pairs(values) do keys[#keys + 1] = key end
  table.sort(keys)
  local parts, texts = {}, plain and {}
  for i, key in ipairs(keys) do
    local v = values[key]
    parts[i] = coerce.encode(key) .. ":" .. coerce.json_value(v, kinds[key])
    if plain and v ~= "" then texts[#texts + 1] = key .. "\2" .. tostring(v) end
  end
  return "{" .. concat(parts, ",") .. "}", plain and concat(texts, "\3")
end
M.encode_extra = encode_extra

---------------------------------------------------------------------------
-- The mapper
---------------------------------------------------------------------------

-- GENERIC: the columns every table has (TimeGenerated, Type, TenantId, ...): a file
-- that maps only these to --table T maps nothing of T's own
local GENERIC = {}
do
  local count = {}
  for _, t in ipairs(schema.tables) do
    for _, c in ipairs(t.columns) do count[c.name] = (count[c.name] or 0) + 1 end
  end
  for name, n in pairs(count) do if n == #schema.tables then GENERIC[name] = true end end
end
M.GENERIC = GENERIC

function M.mapper(db, tname, ctx)
  local t = schema.table(tname)
  if not t then error("load.mapper: unknown table " .. tostring(tname), 2) end
  ctx = ctx or {}
  local cols = t.columns
  local ncol = #cols
  local EXTRA = ncol + 1
  local names, kind, by_name, by_lower, portcol = {}, {}, {}, {}, {}
  for i, c in ipairs(cols) do
    names[i] = c.name
    kind[i] = KIND[c.type]
    by_name[c.name] = i
    local l = lower(c.name)
    by_lower[l] = by_lower[l] == nil and i or false
  end
  names[EXTRA] = "_Extra"
  for _, c in ipairs(t.ip_columns) do kind[by_name[c]] = IP end
  for _, c in ipairs(M.EXTRA_IP[tname] or {}) do kind[by_name[c]] = IP end
  for a, p in pairs(M.PORTS[tname] or {}) do portcol[by_name[a]] = by_name[p] end
  local aliases = M.ALIASES[tname] or {}
  local type_ci, tg_ci = by_name.Type, by_name.TimeGenerated
  local time_fallback = {}
  for i, c in ipairs(cols) do
    if c.type == "datetime" and i ~= tg_ci then time_fallback[#time_fallback + 1] = i end
  end

  -- tmin / tmax: the TimeGenerated span of the rows written ("" / "~" before any)
  local m = { table = tname, rows = 0, fallback = {}, statements = 0, tmin = "~", tmax = "", not_ip = 0 }

  -- key -> column index (false: no column) and whether it came by an alias
  local resolved, aliased = {}, {}
  local function resolve(key)
    local ci, via = by_name[key], false
    if not ci and key ~= "_Extra" then
      local h = coerce.header(key)
      ci = by_name[h]
      if not ci then
        local base, suffix = match(h, "^(.-)_(%a*)$")
        if base and M.SUFFIXES[lower(suffix)] and by_name[base] then ci, via = by_name[base], true end
      end
      if not ci and aliases[h] then ci, via = by_name[aliases[h]], true end
      if not ci then
        local l = by_lower[lower(h)]
        if l then ci = l end
      end
    end
    resolved[key] = ci or false
    aliased[key] = via
    m.keys[#m.keys + 1] = key
    if ci and not via then m.named = m.named + 1 end
    if ci and not GENERIC[names[ci]] then m.mapped = true end
    return ci or false
  end

  -- file_start(): the keys of the next file are collected afresh (m.keys, m.mapped:
  -- whether any of them names a column)
  local function file_start()
    resolved, aliased = {}, {}
    m.keys, m.mapped, m.dups, m.named = {}, false, 0, 0
  end
  file_start()

  -- the row being built
  local gen = 0
  local seen, slot, from_split = {}, {}, {}
  local split_key, split_val = {}, {}
  local deferred, ndeferred = {}, 0
  local vals, order = {}, {}
  local k = 0
  local root = {}
  local node = root
  local extra, extra_kind
  local err
  local not_ip = 0

  local function add(ci, v)
    if seen[ci] == gen then vals[slot[ci]] = v return end
    seen[ci] = gen
    k = k + 1
    slot[ci] = k
    vals[k] = v
    order[k] = ci
    local child = node[ci]
    if not child then
      child = {}
      node[ci] = child
    end
    node = child
  end

  local function put_extra(key, v, vkind)
    if not extra then extra, extra_kind = {}, {} end
    extra[key] = v
    extra_kind[key] = vkind
  end

  local function merge_extra(v, vkind)
    local obj = vkind == RAW and cjson.decode(v) or (type(v) == "string" and require("cjson.safe").decode(v))
    if type(obj) == "table" then
      for ek, ev in pairs(obj) do
        if type(ev) == "table" then put_extra(ek, coerce.encode(ev), RAW) else put_extra(ek, ev) end
      end
    else
      put_extra("_Extra", v, vkind)
    end
  end

  -- set(ci, v): store a coerced value; a port split off an address gives way to
  -- an explicit port column (and is kept in _Extra when they differ)
  local function set(ci, v)
    if seen[ci] == gen and from_split[ci] == gen then
      if vals[slot[ci]] ~= v then put_extra(split_key[ci], split_val[ci]) end
      from_split[ci] = 0
    end
    add(ci, v)
  end

  -- value(ci, key, v, vkind): coerce and store one value for column ci
  local function value(ci, key, v, vkind)
    local c = kind[ci]
    local out
    if c == STRING then
      if vkind == nil and type(v) == "string" then out = v else out = coerce.str(v, vkind) end
    elseif c == IP then
      if vkind == nil and type(v) == "string" then
        if v == "" or v == "-" or not find(v, "%S") then return end
        local port
        out, port = coerce.ip(v)
        if not out then
          not_ip = not_ip + 1
        elseif port then
          local pci = portcol[ci]
          if pci and seen[pci] ~= gen then
            add(pci, kind[pci] == STRING and coerce.number_text(port) or port)
            from_split[pci] = gen
            split_key[pci], split_val[pci] = key .. "Port", port
          elseif not pci or (vals[slot[pci]] ~= port and tonumber(vals[slot[pci]]) ~= port) then
            put_extra(key .. "Port", port)
          end
        end
      else
        not_ip = not_ip + 1
      end
    elseif v == "" then
      return
    elseif c == TIME then
      local e
      out, e = coerce.time(v, vkind)
      if not out then
        err = err or (key .. ": " .. e)
        return
      end
    elseif c == INT then
      out = coerce.int(v, vkind)
    elseif c == REAL then
      out = coerce.real(v, vkind)
    elseif c == BOOL then
      out = coerce.bool(v, vkind)
    else
      out = coerce.dynamic(v, vkind)
    end
    if out == nil then
      put_extra(key, v, vkind)
      return
    end
    set(ci, out)
  end

  local function put(key, v, vkind)
    if v == nil or v == NULL then return end
    local ci = resolved[key]
    if ci == nil then ci = resolve(key) end
    if not ci then
      if key == "_Extra" then merge_extra(v, vkind) else put_extra(key, v, vkind) end
      return
    end
    if ci == type_ci then
      if v ~= tname then
        put_extra(key, v, vkind)
        if ctx.route_type and type(v) == "string" and schema.table(v) then m.retype_to = v end
      end
      return
    end
    if aliased[key] then
      -- other spellings (Status_dynamic, AlertDisplayName) wait until every exact name is in
      ndeferred = ndeferred + 1
      local d = deferred[ndeferred]
      if not d then
        d = {}
        deferred[ndeferred] = d
      end
      d[1], d[2], d[3], d[4] = ci, key, v, vkind
      return
    end
    value(ci, key, v, vkind)
  end

  local function begin(lineno)
    gen = gen + 1
    k = 0
    ndeferred = 0
    node = root
    extra = nil
    err = nil
    not_ip = 0
    m.lineno = lineno
    m.retype_to = nil
  end

  -- row_hash(fell_back, extra_text) -> the record's keyed hash: the table and the row's column
  -- names and values in column order (whatever order the input gave them), without
  -- empty values, _Extra as its plain pairs (encode_extra), without a TimeGenerated
  -- that was filled in (from the ingestion time or another time column)
  local cname, cbuf = {}, {}
  for i = 1, EXTRA do cname[i] = "\0" .. names[i] .. "\1" end
  local function perm_of()
    local p = {}
    for j = 1, k do p[j] = j end
    table.sort(p, function(x, y) return order[x] < order[y] end)
    node.perm = p
    return p
  end
  local function row_hash(fell_back, extra_text)
    local perm = node.perm or perm_of()
    local n = 1
    cbuf[1] = tname
    for i = 1, k do
      local j = perm[i]
      local ci, v = order[j], vals[j]
      if ci == EXTRA then v = extra_text end
      if v ~= "" and not (fell_back and ci == tg_ci) then
        if type(v) == "number" then
          -- exact digits (concat's %.14g would round a long integer)
          if v % 1 ~= 0 or v >= 1e14 or v <= -1e14 then v = format("%.17g", v) end
        elseif type(v) ~= "string" then
          v = tostring(v)
        end
        cbuf[n + 1], cbuf[n + 2] = cname[ci], v
        n = n + 2
      end
    end
    return fingerprint.hash53(concat(cbuf, "", 1, n), m.hash_key)
  end

  local full_stmt
  local full = {}

  local function statement()
    local st = node.stmt
    if st then return st end
    if m.statements >= M.MAX_STATEMENTS then return nil end
    local list, marks = {}, {}
    for j = 1, k do
      list[j] = names[order[j]]
      marks[j] = "?"
    end
    st = db:prepare("INSERT INTO " .. tname .. " (" .. concat(list, ",") .. ") VALUES (" .. concat(marks, ",") .. ")")
    m.statements = m.statements + 1
    node.stmt = st
    return st
  end

  local function insert_full()
    if not full_stmt then
      local marks = {}
      for i = 1, EXTRA do marks[i] = "?" end
      full_stmt = db:prepare("INSERT INTO " .. tname .. " (" .. concat(names, ",", 1, EXTRA) .. ") VALUES (" ..
        concat(marks, ",") .. ")")
    end
    for j = 1, k do full[order[j]] = vals[j] end
    full[type_ci] = tname
    full_stmt:run(unpack(full, 1, EXTRA))
    for i = 1, EXTRA do full[i] = nil end
  end

  local function finish()
    for i = 1, ndeferred do
      local d = deferred[i]
      local ci = d[1]
      if seen[ci] == gen and from_split[ci] ~= gen then put_extra(d[2], d[3], d[4]) else value(ci, d[2], d[3], d[4]) end
      d[3] = nil
    end
    ndeferred = 0
    if err then return false, err end
    m.not_ip = m.not_ip + not_ip
    local fell_back = false
    if seen[tg_ci] ~= gen then
      fell_back = true
      local from
      for _, ci in ipairs(time_fallback) do
        if seen[ci] == gen then from = ci break end
      end
      local label = from and names[from] or "the ingestion time"
      m.fallback[label] = (m.fallback[label] or 0) + 1
      add(tg_ci, from and vals[slot[from]] or ctx.now_text)
    end
    local tg = vals[slot[tg_ci]]
    if tg > m.tmax then m.tmax = tg end
    if tg < m.tmin then m.tmin = tg end
    local dedup = m.dedup
    local extra_text
    if extra then
      local json
      json, extra_text = encode_extra(extra, extra_kind, dedup)
      add(EXTRA, json)
    end
    if dedup and not dedup(row_hash(fell_back, extra_text)) then
      for j = 1, k do vals[j] = nil end
      m.dups = m.dups + 1
      gen = gen + 1
      return true
    end
    local st = statement()
    if st then st:run(unpack(vals, 1, k)) else insert_full() end
    for j = 1, k do vals[j] = nil end
    m.rows = m.rows + 1
    gen = gen + 1
    return true
  end

  -- a record given as a table {key = value} (kinds optional)
  local function record(lineno, rec, kinds)
    begin(lineno)
    for key, v in pairs(rec) do put(key, v, kinds and kinds[key]) end
    return finish()
  end

  -- fast_spec() -> what ipe.ingest.fastjsonl's C plan needs: the columns, their kinds and
  -- the member names resolved so far to a column by name (not by a suffix or an alias)
  function m.fast_spec()
    local keys, n = {}, 0
    for key, ci in pairs(resolved) do
      if ci and not aliased[key] then keys[key], n = ci, n + 1 end
    end
    return { table = tname, names = { unpack(names, 1, ncol) }, kinds = kind, keys = keys, nkeys = n,
      type_ci = type_ci, tg_ci = tg_ci }
  end

  -- statement_for(shape) -> the prepared INSERT of rows filling the columns shape = {ci, ...}
  -- in that order (the statement a record of that shape gets), or nil past MAX_STATEMENTS
  function m.statement_for(shape)
    node = root
    for j = 1, #shape do
      local ci = shape[j]
      local child = node[ci]
      if not child then
        child = {}
        node[ci] = child
      end
      node = child
      order[j] = ci
    end
    k = #shape
    local st = statement()
    k, node = 0, root
    return st
  end

  m.begin, m.put, m.finish, m.record, m.file_start = begin, put, finish, record, file_start
  return m
end

---------------------------------------------------------------------------
-- One file
---------------------------------------------------------------------------

local function display(name)
  return require("ipe.textutil").visible(name)
end

-- indexes_of(db, table) -> { {name=, sql=}, ... } (the table's own, not automatic ones)
local function indexes_of(db, tname)
  local rows = db:query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL",
    { t = tname })
  local out = {}
  for i, r in ipairs(rows) do out[i] = { name = r[1], sql = r[2] } end
  return out
end

-- estimate_rows(src) -> rows the input probably holds (from its size and its head's lines)
local function estimate_rows(src)
  if not src.size then return 0 end
  local head = src:head()
  local lines = 0
  for _ in head:gmatch("\n") do lines = lines + 1 end
  if lines == 0 then return 0 end
  return math.floor(src.size / (#head / lines))
end

local function previous(db, hash)
  local rows = db:query("SELECT Path, IngestedAt, Rows, TableName FROM " .. migration.TABLE ..
    " WHERE ContentHash = :h ORDER BY Id DESC LIMIT 1", { h = hash })
  return rows[1]
end

local function refuse(name, prev)
  file_error("%s: already ingested (same content as %s on %s: %d rows into %s); use --force to ingest it again",
    display(name), display(prev[1]), prev[2], prev[3], prev[4])
end

-- prehash(path) -> fingerprint of a regular file (one extra read)
local function prehash(path)
  local src = source.open(path)
  if not src then return nil end
  local hash = src:finish()
  src:close()
  return hash
end

-- has_rollup(db): the workspace keeps the per-IP activity rollup (ipe.rollup.sqlite)
local function has_rollup(db)
  return db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ipe_ip_activity'")[1][1] == 1
end

local function plural(n, word) return n .. " " .. word .. (n == 1 and "" or "s") end
M.plural = plural

-- new_dedup(db, id, force) -> {key=, check=, dups={ingest id = records}}: check(hash)
-- registers a record's hash for ingest `id` and says whether to load the record. The
-- n-th copy of the same record in one file is registered as its own hash (mixed with
-- n), so that a file repeating a record loads every copy, and a later file is a
-- duplicate for as many copies as were loaded. A record an earlier ingest loaded is
-- counted in dups and skipped (loaded anyway with force).
local function new_dedup(db, id, force)
  local ins = db:prepare("INSERT OR IGNORE INTO " .. migration.RECORDS .. " (Hash, IngestId) VALUES (?, ?)")
  local who = db:prepare("SELECT IngestId FROM " .. migration.RECORDS .. " WHERE Hash = ?")
  local occ, dups = {}, {}
  local function owner(h)
    who:bind({ h })
    local r = who:step()
    who:reset()
    return r and r[1]
  end
  local function check(h)
    local n = occ[h] or 1
    while true do
      local key = n == 1 and h or (h + n * 2654435761) % 9007199254740992
      if ins:run(key, id) == 1 then
        if n > 1 then occ[h] = n + 1 end
        return true
      end
      local prev = owner(key)
      if prev ~= id then
        occ[h] = n + 1
        dups[prev] = (dups[prev] or 0) + 1
        return force and true or false
      end
      n = n + 1
    end
  end
  -- ins: the insert itself, for the C fast path (ipe.ingest.fastjsonl), which registers the
  -- hashes of a batch at once and hands those already there to check (SQLite only)
  return { key = migration.record_key(db), check = check, dups = dups, id = id,
    ins = type(db) == "userdata" and ins or nil }
end

-- duplicates(db, dups, name) -> "ingest #3 (file at time)" list and the total
local function duplicates(db, dups)
  local ids, total = {}, 0
  for id, n in pairs(dups) do ids[#ids + 1] = id total = total + n end
  table.sort(ids)
  local parts = {}
  for i, id in ipairs(ids) do
    local r = db:query("SELECT Path, IngestedAt FROM " .. migration.TABLE .. " WHERE Id = :id", { id = id })[1]
    parts[i] = r and format("ingest #%d (%s at %s)", id, display(r[1]), r[2]) or format("ingest #%d", id)
    if #ids > 1 then parts[i] = parts[i] .. ": " .. dups[id] end
  end
  local text = #parts > 1 and (concat(parts, ", ", 1, #parts - 1) .. " and " .. parts[#parts]) or parts[1]
  return text, total
end

-- new_sink(run, src, det, state): what a format driver talks to
local function new_sink(run, src, det, state)
  local sink = { opts = run.opts, now = run.now, now_text = run.now_text, name = src.name, det = det, src = src,
    db = run.db }
  local db = run.db
  local name = display(src.name)

  function sink.fail(msg) file_error("%s: %s", name, msg) end

  function sink.reject(lineno, reason)
    local where = lineno and (name .. ":" .. lineno) or name
    if not run.opts.skip_bad then
      error({ file_error = true, msg = where .. ": " .. reason, line = lineno }, 0)
    end
    state.rejected = state.rejected + 1
    run.rejects[#run.rejects + 1] = where .. ": " .. reason
    if state.rejected <= 10 then state.first[#state.first + 1] = where .. ": " .. reason end
  end

  function sink.skip(what)
    state.skipped = state.skipped + 1
    state.skips[what] = (state.skips[what] or 0) + 1
  end

  -- bulk(tname): before a load of BULK_ROLLUP_MIN_ROWS, count the per-IP rollups of the new rows
  -- at the end (their triggers would cost more than the rows; bulk_add's cost follows the new
  -- rows, not the workspace); of BULK_MIN_ROWS into a table holding fewer rows, also drop its
  -- indexes (rebuilt before the commit).
  -- Measured on 1M CommonSecurityLog rows: keeping even the indexes of columns the rows
  -- leave NULL costs more than rebuilding them.
  local function bulk(tname)
    if not det.single_table or run.opts.no_bulk then return end
    local incoming = estimate_rows(src)
    if incoming >= M.BULK_ROLLUP_MIN_ROWS and not state.rollup and has_rollup(db) then
      state.rollup = require("ipe.rollup.sqlite").bulk_mark(db)
    end
    if incoming < M.BULK_MIN_ROWS then return end
    local existing = db:query("SELECT COALESCE(max(rowid), 0) FROM " .. tname)[1][1]
    if incoming < existing then return end
    local list = indexes_of(db, tname)
    for _, ix in ipairs(list) do db:exec("DROP INDEX " .. ix.name) end
    state.rebuild[#state.rebuild + 1] = { table = tname, indexes = list }
  end

  function sink.mapper(tname)
    local m = state.mappers[tname]
    if m then return m end
    m = run.mappers[tname]
    if not m then
      m = M.mapper(db, tname, { now_text = run.now_text, route_type = run.opts.table == nil })
      run.mappers[tname] = m
    end
    m.rows, m.fallback, m.tmin, m.tmax, m.not_ip = 0, {}, "~", "", 0
    m.file_start()
    m.hash_key, m.dedup = state.dedup.key, state.dedup.check
    m.dedup_ins, m.dedup_id = state.dedup.ins, state.dedup.id
    state.mappers[tname] = m
    state.order[#state.order + 1] = tname
    bulk(tname)
    return m
  end

  -- mapper_for(keys, first_record): the table of a table-less format, decided once
  function sink.mapper_for(keys, first)
    local tname, how = detect.table_for(keys, first, src.name, run.opts)
    if not tname then sink.fail(how) end
    run.say(format("%s: %s (%s) into %s (%s)", name, det.label, det.how, tname, how))
    return sink.mapper(tname)
  end

  -- retype(m, value): the mapper of the table a record's Type names (when --table is not given)
  function sink.retype(m, value)
    if run.opts.table or value == m.table or not schema.table(value) then return m end
    return sink.mapper(value)
  end

  function sink.finish(m, lineno)
    local ok, why = m.finish()
    if not ok then sink.reject(lineno, why) end
    state.count = state.count + 1
    if state.count % 4096 == 0 and run.progress then run.progress(src, state.count) end
  end

  -- finished(n): n more records done by a fast path (ipe.ingest.fastjsonl)
  function sink.finished(n)
    local before = state.count
    state.count = before + n
    if run.progress and math.floor(state.count / 4096) > math.floor(before / 4096) then run.progress(src, state.count) end
  end

  -- row(tname, lineno, rec, kinds): a whole record as a table
  function sink.row(tname, lineno, rec, kinds)
    local m = sink.mapper(tname)
    local ok, why = m.record(lineno, rec, kinds)
    if not ok then sink.reject(lineno, why) end
    state.count = state.count + 1
    if state.count % 4096 == 0 and run.progress then run.progress(src, state.count) end
  end

  -- switch(format): the input turned out to be in another format with a fixed table
  function sink.switch(fmt)
    det.format, det.label, det.table, det.announce = fmt, detect.LABELS[fmt], detect.FIXED[fmt], detect.ANNOUNCE[fmt]
    det.how = "content"
    sink.announce(det.announce)
  end

  function sink.announce(tables)
    run.say(format("%s: %s (%s) into %s", name, det.label, det.how, tables or det.table))
  end

  return sink
end

local FORMATS = {
  csv = "ipe.ingest.csv", jsonl = "ipe.ingest.jsonl", json = "ipe.ingest.json", cef = "ipe.ingest.cef",
  syslog = "ipe.ingest.syslog", winevent = "ipe.ingest.winevent", stix = "ipe.ingest.stix", misp = "ipe.ingest.misp",
  blocklist = "ipe.ingest.blocklist", watchlist = "ipe.ingest.watchlist",
}
M.FORMATS = FORMATS

-- unmapped(opts, m, name): --table T given and none of the file's columns is one of T's
-- (every value would land in _Extra): refused, with both lists, unless --force
local function unmapped(opts, m, name)
  if not opts.table or opts.force or not m or m.mapped or (m.rows == 0 and m.dups == 0) then return end
  local cols = {}
  for i, c in ipairs(schema.table(opts.table).columns) do cols[i] = c.name end
  file_error("%s: --table %s maps none of its columns (%s) to the table's (%s); use --force to load them into " ..
    "_Extra anyway", display(name), opts.table, display(concat(m.keys, ", ")), concat(cols, ", "))
end

local function rollback(db)
  pcall(db.exec, db, "ROLLBACK")
end

-- ensure(db): the ingest log and the _Extra columns exist (idempotent)
function M.ensure(db)
  local have = db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :n",
    { n = migration.TABLE })[1][1]
  if have == 1 and migration.complete(db) then return false end
  schema.atomically(db, "ipe_ingest_migration", function() migration.up(db) end)
  return true
end

-- new_stages() -> timer: done(name) notes the wall (proc.monotonic) and CPU (os.clock) seconds
-- since the previous done() (or since new_stages()) in .wall[name] and .cpu[name]
local function new_stages()
  local clock = require("ipe.proc").monotonic
  local st = { wall = {}, cpu = {} }
  local w0, c0 = clock(), os.clock()
  function st.done(name)
    local w, c = clock(), os.clock()
    st.wall[name], st.cpu[name] = w - w0, c - c0
    w0, c0 = w, c
  end
  return st
end

-- ingest_file(run, path) -> summary { rows=, tables={name=rows}, order={...}, rejected=, skipped=, ... }
function M.ingest_file(run, path)
  local db, opts = run.db, run.opts
  local src, oerr = source.open(path)
  if not src then file_error("%s: cannot read it: %s", display(path), oerr) end
  local ok, res = pcall(function()
    local det = detect.detect(src, opts)
    if not opts.force and src.size and src.size > 0 and path ~= "-" then
      local same = db:query("SELECT count(*) FROM " .. migration.TABLE .. " WHERE Bytes = :b", { b = src.size })[1][1]
      if same > 0 then
        local prev = previous(db, prehash(path) or "")
        if prev then refuse(src.name, prev) end
      end
    end
    local state = { rejected = 0, skipped = 0, skips = {}, first = {}, mappers = {}, order = {}, count = 0,
      rebuild = {} }
    db:exec("BEGIN IMMEDIATE")
    local stages = new_stages()
    local fine, err = xpcall(function()
      local id = db:query("SELECT COALESCE(max(Id), 0) + 1 FROM " .. migration.TABLE)[1][1]
      state.dedup = new_dedup(db, id, opts.force)
      local sink = new_sink(run, src, det, state)
      if det.table then sink.announce(det.announce) end
      require(FORMATS[det.format]).run(src, sink, det)
      local hash, bytes = src:finish()
      if not opts.force then
        local prev = previous(db, hash)
        if prev then refuse(src.name, prev) end
      end
      local total, tables, counts, ndups, not_ip = 0, {}, {}, 0, 0
      for _, tname in ipairs(state.order) do
        local m = state.mappers[tname]
        not_ip = not_ip + m.not_ip
        if m.rows > 0 then
          tables[#tables + 1] = tname
          counts[tname] = m.rows
          total = total + m.rows
        end
        ndups = ndups + m.dups
      end
      unmapped(opts, state.mappers[opts.table], src.name)
      local dup_text
      if ndups > 0 and not opts.force then
        dup_text = duplicates(db, state.dedup.dups)
        if total == 0 then
          file_error("%s: already ingested: %s loaded by %s; use --force to ingest them again", display(src.name),
            ndups == 1 and "its record was" or format("all %d records were", ndups), dup_text)
        end
      end
      if total == 0 then
        if state.rejected > 0 then
          file_error("%s: no record could be ingested (%s rejected)", display(src.name), plural(state.rejected, "record"))
        end
        file_error("%s: %s", display(src.name), det.empty_reason or "no records in it: nothing to ingest")
      end
      local rollup = require "ipe.rollup.sqlite"
      stages.done("rows")
      for _, r in ipairs(state.rebuild) do
        rollup.sorting(db, function()
          for _, ix in ipairs(r.indexes) do db:exec(ix.sql) end
        end)
      end
      stages.done("indexes")
      if state.rollup then rollup.bulk_add(db, state.rollup) end
      stages.done("rollups")
      local parts = {}
      for i, tname in ipairs(tables) do parts[i] = cjson.encode(tname) .. ":" .. counts[tname] end
      db:prepare("INSERT INTO " .. migration.TABLE .. " (Id, ContentHash, Path, Format, TableName, Tables, Rows, " ..
        "Rejected, Skipped, Bytes, IngestedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?)"):run(id, hash,
        path == "-" and "<stdin>" or (require("ipe.fs").realpath(path) or path), det.format, concat(tables, ","),
        "{" .. concat(parts, ",") .. "}", total, state.rejected, state.skipped, bytes, run.now_text)
      db:exec("COMMIT")
      stages.done("commit")
      if opts.verbose and (#state.rebuild > 0 or state.rollup) then
        -- (bench_ingest reads this line: the share of each stage, wall and CPU seconds)
        local w, c = stages.wall, stages.cpu
        run.say(format("%s: rows loaded in %.2f s, indexes rebuilt in %.2f s, per-IP rollups recounted in %.2f s, "
          .. "committed in %.2f s (cpu %.2f, %.2f, %.2f, %.2f s)", display(src.name), w.rows, w.indexes, w.rollups,
          w.commit, c.rows, c.indexes, c.rollups, c.commit))
      end
      local fallback = {}
      for _, tname in ipairs(tables) do
        for label, n in pairs(state.mappers[tname].fallback) do fallback[#fallback + 1] = { tname, label, n } end
      end
      return { rows = total, tables = tables, counts = counts, rejected = state.rejected, first = state.first,
        skipped = state.skipped, skips = state.skips, fallback = fallback, format = det.format, name = src.name,
        duplicates = dup_text and ndups or 0, duplicates_of = dup_text, not_ip = not_ip }
    end, function(e)
      if type(e) == "table" then return e end
      return debug.traceback(tostring(e), 2)
    end)
    if not fine then
      rollback(db)
      error(err, 0)
    end
    return err
  end)
  src:close()
  if not ok then error(res, 0) end
  return res
end

return M
