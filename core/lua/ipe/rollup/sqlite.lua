-- ipe.rollup.sqlite: the per-IP rollups of a SQLite workspace — what makes an IP page on a
-- big workspace cost milliseconds instead of seconds. Runtime code: the triggers, the bulk
-- rebuild and the window statements; ipe.migrations.rollup creates the tables through it.
--
-- One row per IP, hour, source table and host:
--   _ipe_ip_activity (IP, Hour 'YYYY-MM-DDTHH', Source <table>, Host ('' when the table
--                     names none), Events, FirstSeen, LastSeen)   WITHOUT ROWID, PK in that order
-- "The row mentions the IP" means the IP is in any IP-bearing place of the row, as
-- ipe.schema describes it for each log table: an IP column (ip_columns; OfficeActivity's
-- ClientIP without its port or brackets), a JSON path (ip_json), an IP list (ip_lists,
-- shape "array"), or a whole token of free text (ip_text). A row counts once per IP even
-- when several of its columns hold it. Host: the table's host column (ipe.schema's
-- `host`), except CommonSecurityLog, whose Computer is the reporting firewall: there it
-- is the endpoint behind the traffic (SourceHostName, else DestinationHostName).
--
-- Maintained on write by one AFTER INSERT trigger per log table (plain SQL: json_tree,
-- replace, GLOB — so rows inserted by any SQLite client, the sqlite3 CLI included,
-- keep it right). The Sentinel tables are append-only logs: whoever deletes or
-- rewrites rows (retention) calls rebuild(db, from, to) for that time range. Bulk
-- loaders drop the triggers, load, then rebuild: see bulk_begin / bulk_end.
--
-- Reading it exactly for any window: the stored statement "activity" (table
-- _ipe_ip_queries, Name = 'activity'; bind :ip, :from, :to) returns the rows of the
-- window — whole hours from the rollup, and the two hours the window's edges cut
-- through recounted from the raw rows (only for the sources that have events of the
-- IP on both sides of an edge). Scripts read it with ctx.db:rollup_query("activity")
-- and wrap it: SELECT Source, sum(Events) ... FROM (<activity>) GROUP BY Source.
--
-- Text tokens: the text is cut at white space and , ; ( ) [ ] = @ / \ " and a token, with
-- < > ' | { } - trimmed from its ends and trailing dots dropped, is an IP when it has the
-- shape of one ("from 1.2.3.4." counts, "1.2.3.4:22" does not — like ipe_text_has_ip; a
-- token glued to letters, "srx1.2.3.4", is not an IP here although ipe_text_has_ip may match
-- it). A text with other control characters than tab, CR and LF contributes no tokens.
--
-- Firewall traffic (CommonSecurityLog), seen from each side of a record:
--   _ipe_ip_traffic (IP, Hour, Direction 'from the IP' | 'to the IP', Port (-1 when none),
--                    Protocol (lower case), Action, Events, BytesFromIP, BytesToIP, FirstSeen, LastSeen)
--   _ipe_ip_peers   (IP, Hour, Peer, PeerHost, Direction, Port, Protocol, Action, Reporter, Events,
--                    Allowed, Blocked, BytesFromIP, BytesToIP, FirstSeen, LastSeen)
--                    both WITHOUT ROWID, PK IP, Hour and the keys (the columns before Events)
-- The source IP sends to the destination, the destination receives from the source (one address
-- on both sides counts once, as sent); bytes are read from the IP's side; Allowed counts the
-- actions in ALLOWED_ACTIONS. Peer and PeerHost are the other side's address and host name,
-- Reporter the device that logged the record (Computer); Direction, Port, Protocol and Action
-- as in the traffic rollup; text keys are '' when the record has none. The traffic rollup is the
-- peers rollup summed over the peer, its host and the reporter: kept apart so that an address
-- scanned by tens of thousands of sources still sums its flows from a few thousand rows. Their
-- exact window statements are stored as "traffic" and "peers" (same edge handling as
-- "activity"). A busy address costs what its distinct flows per hour cost, not its records: the
-- demo's CDN address, 374,000 records in a week, is 900 flow and 23,000 peer rows.
-- (ipe.migrations.peer_flows gave workspaces of the version before, whose peers had only Peer
-- and PeerHost as keys, the peers rollup of this one.)
--
-- API:
--   rollup.TABLE, TRAFFIC, PEERS, QUERIES, tables  the table names
--   rollup.sources([prefix])  -> { {table=, ip=<SQL of the row's IP values as JSON>, host=<SQL>,
--                             walk="json_each"|"json_tree", columns={<SQL of each plain IP column>},
--                             structured={<SQL of each JSON path, list, text as JSON>},
--                             maybe=<SQL: a structured place may hold an IP> (nil without any)} }
--                             per log table (columns as prefix.., "t.")
--   rollup.shape(sql)         -> SQL: the value has the shape of an IPv4 or IPv6 address
--   rollup.token_sql(sql), rollup.token(sql) -> SQL: the IP candidate the value holds (trimmed,
--                             with the shape of an address) or NULL — in plain SQL (the
--                             triggers') and through ipe_ip_token() (core/sql_iptoken.c, the
--                             recounts': ipe-run's connections only)
--   rollup.row_has_ip(s, param) -> SQL: the row of s (an entry of sources) names the IP :param
--   rollup.statements()       -> DDL: the tables, one trigger per log table and one for the traffic
--   rollup.activity_sql(), rollup.traffic_sql(), rollup.peers_sql() -> the stored statements
--   rollup.store_queries(db)  (re)store them in _ipe_ip_queries
--   rollup.tables_ddl()       -> DDL: the rollup tables (CREATE TABLE IF NOT EXISTS)
--   rollup.rebuild(db [, from, to [, which]]) recount the hours [hour of from, hour of to] (all
--                             when no range) of every rollup (or only `which`, a table name)
--                             from the raw rows
--   rollup.bulk_begin(db) / rollup.bulk_end(db)  drop the triggers / rebuild all and
--                             recreate them (for loaders writing millions of rows)
--   rollup.bulk_mark(db) -> marks / rollup.bulk_add(db, marks)  drop the triggers and note each
--                             log table's end / count only the rows added since into the
--                             rollups and recreate the triggers (ingest's bulk loads)
--   rollup.create_triggers(db), rollup.drop_triggers(db)
--   rollup.sorting(db, fn)    run fn with a small page cache (SORT_CACHE_KIB): SQLite then sorts
--                             in cache-sized runs, faster for CREATE INDEX and GROUP BY over
--                             millions of rows; rebuild() runs inside it
-- Errors: SQLite errors propagate (error(msg, 0) from the binding); bad arguments raise
-- "rollup.rebuild: from and to must be workspace times" or
-- "rollup.rebuild: which must be _ipe_ip_activity, _ipe_ip_traffic or _ipe_ip_peers".
local model = require "ipe.rollup"

local M = {}

M.TABLE = model.TABLE
M.TRAFFIC = model.TRAFFIC
M.PEERS = model.PEERS
M.QUERIES = "_ipe_ip_queries"
M.tables = { M.TABLE, M.TRAFFIC, M.PEERS, M.QUERIES }

-- Text separators (besides space) turned into token breaks, and the characters trimmed
-- from both ends of a token (SQLite's parser limits how deeply replace() may nest).
local SEPARATORS, TRIMMED = model.SEPARATORS, model.TRIMMED

local function lit(s) return "'" .. s:gsub("'", "''") .. "'" end

-- SQL: text of col cut into a JSON array of tokens (NULL when it is not valid JSON).
local function tokens(col)
  local e = col
  for _, s in ipairs(SEPARATORS) do e = "replace(" .. e .. ", " .. lit(s) .. ", ' ')" end
  local arr = "('[\"' || replace(" .. e .. ", ' ', '\",\"') || '\"]')"
  return "CASE WHEN json_valid(" .. arr .. ") THEN json(" .. arr .. ") END"
end

-- SQL: a column that may carry a port or brackets ("[1.2.3.4]:80", "1.2.3.4:80", "[2001:db8::1]").
local function without_port(col)
  return string.format("CASE WHEN %s GLOB '[[]*]*' THEN substr(%s, 2, instr(%s, ']') - 2) "
    .. "WHEN %s GLOB '*.*:*' AND %s NOT GLOB '*:*:*' THEN substr(%s, 1, instr(%s, ':') - 1) ELSE %s END",
    col, col, col, col, col, col, col, col)
end

-- SQL: v has the shape of an IPv4 or IPv6 address.
function M.shape(v)
  return table.concat({
    -- IPv4: digits and exactly three dots (the first GLOB asks for three, the last forbids a fourth)
    "((", v, " GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*' AND length(", v, ") <= 15 AND ", v, " NOT GLOB '*[^0-9.]*'",
    " AND ", v, " NOT GLOB '*.*.*.*.*')",
    " OR (", v, " GLOB '*:*:*' AND ", v, " NOT GLOB '*[^0-9a-fA-F:.]*' AND length(", v, ") <= 45",
    " AND (instr(", v, ", '::') > 0 OR length(", v, ") - length(replace(", v, ", ':', '')) = 7)))",
  })
end

local function has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

-- The row's IP-bearing places, p being "NEW." or "t.": the plain columns (an SQL value each)
-- and the structured ones (JSON paths, lists, text tokens: SQL of JSON values).
local function ip_parts(t, p)
  local cols, structured = {}, {}
  for _, c in ipairs(t.ip_columns) do
    cols[#cols + 1] = has(t.ip_with_port, c) and without_port(p .. c) or p .. c
  end
  for _, j in ipairs(t.ip_json) do
    structured[#structured + 1] = "json_extract(" .. p .. j.column .. ", " .. lit(j.path) .. ")"
  end
  for _, l in ipairs(t.ip_lists) do
    if l.shape == "array" then
      structured[#structured + 1] = "CASE WHEN json_valid(" .. p .. l.column .. ") THEN json(" .. p .. l.column .. ") END"
    end
  end
  for _, c in ipairs(t.ip_text) do structured[#structured + 1] = tokens(p .. c) end
  return cols, structured
end

-- SQL: the row may hold an IP in a structured place (false only when none can: every JSON
-- column NULL, no text with the makings of an IPv4 "d.d.d.d" or IPv6 "x:x:x" address).
local function may_have_structured(t, p)
  local any = {}
  for _, j in ipairs(t.ip_json) do any[#any + 1] = p .. j.column .. " IS NOT NULL" end
  for _, l in ipairs(t.ip_lists) do
    if l.shape == "array" then any[#any + 1] = p .. l.column .. " IS NOT NULL" end
  end
  for _, c in ipairs(t.ip_text) do
    any[#any + 1] = p .. c .. " GLOB '*[0-9].[0-9]*.[0-9]*.[0-9]*'"
    any[#any + 1] = p .. c .. " GLOB '*:*:*'"
  end
  return "(" .. table.concat(any, " OR ") .. ")"
end

-- The row's IP-bearing values as one JSON value (leaves are the candidates).
local function ip_expr(t, p)
  local cols, structured = ip_parts(t, p)
  for _, v in ipairs(structured) do cols[#cols + 1] = v end
  return "json_array(" .. table.concat(cols, ", ") .. ")"
end

local function host_expr(t, p)
  local o = model.HOSTS[t.name]
  if o then
    local parts = {}
    for i, c in ipairs(o) do parts[i] = "NULLIF(" .. p .. c .. ", '')" end
    return "COALESCE(" .. table.concat(parts, ", ") .. ")"
  end
  return t.host and (p .. t.host) or "NULL"
end

-- sources() -> per log table with IP-bearing places: {table=, ip=, host=} with "t." as row prefix
function M.sources(prefix)
  local schema = require "ipe.schema"
  local out = {}
  prefix = prefix or "t."
  for _, t in ipairs(schema.tables) do
    local arrays = 0
    for _, l in ipairs(t.ip_lists) do if l.shape == "array" then arrays = arrays + 1 end end
    if t.kind == "log" and #t.ip_columns + #t.ip_json + #t.ip_text + arrays > 0 then
      -- json_each walks a flat array; lists and text tokens nest one, which json_tree walks
      local cols, structured = ip_parts(t, prefix)
      out[#out + 1] = { table = t.name, ip = ip_expr(t, prefix), host = host_expr(t, prefix),
                        walk = (#t.ip_text + arrays > 0) and "json_tree" or "json_each",
                        columns = cols, structured = structured,
                        maybe = #structured > 0 and may_have_structured(t, prefix) or nil }
    end
  end
  return out
end

local IP = "rtrim(trim(j.atom, " .. lit(TRIMMED) .. "), '.')"
local LEAF = "j.type = 'text' AND " .. M.shape(IP)

local TABLE_DDL = "CREATE TABLE IF NOT EXISTS " .. M.TABLE .. [[ (
  IP TEXT NOT NULL, Hour TEXT NOT NULL, Source TEXT NOT NULL, Host TEXT NOT NULL,
  Events INTEGER NOT NULL, FirstSeen TEXT NOT NULL, LastSeen TEXT NOT NULL,
  PRIMARY KEY (IP, Hour, Source, Host)) WITHOUT ROWID]]
local QUERIES_DDL = "CREATE TABLE IF NOT EXISTS " .. M.QUERIES .. " (Name TEXT PRIMARY KEY, Sql TEXT NOT NULL)"

local UPSERT = "ON CONFLICT (IP, Hour, Source, Host) DO UPDATE SET Events = Events + excluded.Events, "
  .. "FirstSeen = min(FirstSeen, excluded.FirstSeen), LastSeen = max(LastSeen, excluded.LastSeen)"

local function trigger_name(tname) return M.TABLE .. "_" .. tname end

-- s: an entry of sources("NEW.")
local function trigger_sql(s)
  return table.concat({
    "CREATE TRIGGER IF NOT EXISTS ", trigger_name(s.table), " AFTER INSERT ON ", s.table,
    " WHEN NEW.TimeGenerated IS NOT NULL BEGIN\n",
    "  INSERT INTO ", M.TABLE, " (IP, Hour, Source, Host, Events, FirstSeen, LastSeen)\n",
    "  SELECT DISTINCT ", IP, ", substr(NEW.TimeGenerated, 1, 13), ", lit(s.table), ", COALESCE(", s.host, ", ''), 1, ",
    "NEW.TimeGenerated, NEW.TimeGenerated\n",
    "  FROM ", s.walk, "(", s.ip, ") j WHERE ", LEAF, "\n  ", UPSERT, ";\nEND",
  })
end

-- row_has_ip(s, param) -> SQL: the row (s, an entry of sources(prefix)) mentions the IP bound to
-- param (":ip") in one of its IP-bearing places — the rollup's own test of "the row names the IP".
function M.row_has_ip(s, param)
  return "EXISTS (SELECT 1 FROM " .. s.walk .. "(" .. s.ip .. ") j WHERE j.type = 'text' AND " .. IP .. " = " .. param .. ")"
end

-- The exact window query (see the header): the hours strictly inside the window straight from
-- the rollup; of the (at most two) hours holding the window's edges, the rows of a source whose
-- events there all lie inside the window also from the rollup, the others recounted from the
-- raw rows between the edge and the source's first/last event of that hour.
function M.activity_sql()
  local parts = {
    "WITH edge AS (",
    "  SELECT Source, Hour, Host, Events, FirstSeen, LastSeen FROM " .. M.TABLE,
    "  WHERE IP = :ip AND Hour IN (substr(:from, 1, 13), substr(:to, 1, 13))",
    "), cut AS (",
    "  SELECT Source, Hour, max(min(FirstSeen), :from) AS a, min(max(LastSeen), :to) AS b FROM edge",
    "  GROUP BY Source, Hour HAVING min(FirstSeen) < :from OR max(LastSeen) > :to",
    ")",
    "SELECT Source, Hour, Host, Events, FirstSeen, LastSeen FROM " .. M.TABLE,
    "WHERE IP = :ip AND Hour > substr(:from, 1, 13) AND Hour < substr(:to, 1, 13)",
    "UNION ALL",
    "SELECT Source, Hour, Host, Events, FirstSeen, LastSeen FROM edge",
    "WHERE NOT EXISTS (SELECT 1 FROM cut WHERE cut.Source = edge.Source AND cut.Hour = edge.Hour)",
  }
  for _, s in ipairs(M.sources("t.")) do
    parts[#parts + 1] = "UNION ALL"
    parts[#parts + 1] = "SELECT " .. lit(s.table) .. ", cut.Hour, COALESCE(" .. s.host .. ", ''), count(*), "
      .. "min(t.TimeGenerated), max(t.TimeGenerated)"
    -- CROSS JOIN: cut (a few rows) must be the outer loop, whatever the statistics say
    parts[#parts + 1] = "FROM cut CROSS JOIN " .. s.table .. " t"
    parts[#parts + 1] = "WHERE cut.Source = " .. lit(s.table) .. " AND t.TimeGenerated >= cut.a AND t.TimeGenerated <= cut.b"
      .. " AND " .. M.row_has_ip(s, ":ip")
    parts[#parts + 1] = "GROUP BY 2, 3"
  end
  return table.concat(parts, "\n")
end

---------------------------------------------------------------------------
-- Firewall traffic: CommonSecurityLog seen from each side of a record
---------------------------------------------------------------------------
-- The source IP sends to the destination and the destination receives from the source; a
-- record with one address on both sides counts once, as sent. Bytes are read from the IP's
-- side: BytesFromIP is what the IP sent (SentBytes when it is the source). Two rollups: the
-- flows (direction, port, protocol, action) and the peers (the other address, its host name and
-- the reporting device with the flow, and its allowed and blocked records) — apart, so that an
-- address scanned by tens of thousands of sources still sums its flows from a few thousand rows.
local SIDES = model.SIDES
M.SIDES = SIDES
M.ALLOWED_ACTIONS = model.ALLOWED_ACTIONS
local CSL_ROLLUPS = model.CSL_ROLLUPS
M.CSL_ROLLUPS = CSL_ROLLUPS
local CSL_TRIGGER = M.TRAFFIC .. "_CommonSecurityLog"

-- The SQL of one side of the row p ("NEW." or "t."): the IP, the condition, and an expression
-- for every key and summed column of the CSL rollups.
local function side(sd, p)
  local c = p .. sd.ip .. " IS NOT NULL AND " .. p .. sd.ip .. " <> ''"
  if sd.not_same then c = c .. " AND " .. p .. sd.ip .. " IS NOT " .. p .. sd.peer end
  local allowed = "(lower(COALESCE(" .. p .. "DeviceAction, '')) IN ('" .. table.concat(M.ALLOWED_ACTIONS, "', '") .. "'))"
  return {
    ip = p .. sd.ip, cond = c,
    Direction = lit(sd.dir), Port = "COALESCE(" .. p .. "DestinationPort, -1)",
    Protocol = "COALESCE(lower(" .. p .. "Protocol), '')", Action = "COALESCE(" .. p .. "DeviceAction, '')",
    Peer = "COALESCE(" .. p .. sd.peer .. ", '')", PeerHost = "COALESCE(" .. p .. sd.host .. ", '')",
    Reporter = "COALESCE(" .. p .. "Computer, '')",
    Events = "1", Allowed = "CASE WHEN " .. allowed .. " THEN 1 ELSE 0 END",
    Blocked = "CASE WHEN " .. allowed .. " THEN 0 ELSE 1 END",
    BytesFromIP = "COALESCE(" .. p .. sd.from_ip .. ", 0)", BytesToIP = "COALESCE(" .. p .. sd.to_ip .. ", 0)",
  }
end

local function pick(v, names, wrap)
  local out = {}
  for i, n in ipairs(names) do out[i] = wrap and wrap:format(v[n]) or v[n] end
  return table.concat(out, ", ")
end

local function csl_ddl(r)
  local cols = { "IP TEXT NOT NULL", "Hour TEXT NOT NULL" }
  for _, k in ipairs(r.keys) do cols[#cols + 1] = k .. (k == "Port" and " INTEGER" or " TEXT") .. " NOT NULL" end
  for _, m in ipairs(r.sums) do cols[#cols + 1] = m .. " INTEGER NOT NULL" end
  cols[#cols + 1] = "FirstSeen TEXT NOT NULL"
  cols[#cols + 1] = "LastSeen TEXT NOT NULL"
  return "CREATE TABLE IF NOT EXISTS " .. r.table .. " (" .. table.concat(cols, ", ") .. ", PRIMARY KEY (IP, Hour, "
    .. table.concat(r.keys, ", ") .. ")) WITHOUT ROWID"
end

local function csl_columns(r)
  return "IP, Hour, " .. table.concat(r.keys, ", ") .. ", " .. table.concat(r.sums, ", ") .. ", FirstSeen, LastSeen"
end

local function csl_upsert(r)
  local set = {}
  for _, m in ipairs(r.sums) do set[#set + 1] = m .. " = " .. m .. " + excluded." .. m end
  return "ON CONFLICT (IP, Hour, " .. table.concat(r.keys, ", ") .. ") DO UPDATE SET " .. table.concat(set, ", ")
    .. ", FirstSeen = min(FirstSeen, excluded.FirstSeen), LastSeen = max(LastSeen, excluded.LastSeen)"
end

local function csl_trigger_sql()
  local parts = { "CREATE TRIGGER IF NOT EXISTS ", CSL_TRIGGER,
    " AFTER INSERT ON CommonSecurityLog WHEN NEW.TimeGenerated IS NOT NULL BEGIN\n" }
  for _, r in ipairs(CSL_ROLLUPS) do
    for _, sd in ipairs(SIDES) do
      local v = side(sd, "NEW.")
      parts[#parts + 1] = "  INSERT INTO " .. r.table .. " (" .. csl_columns(r) .. ")\n  SELECT " .. v.ip
        .. ", substr(NEW.TimeGenerated, 1, 13), " .. pick(v, r.keys) .. ", " .. pick(v, r.sums)
        .. ", NEW.TimeGenerated, NEW.TimeGenerated WHERE " .. v.cond .. "\n  " .. csl_upsert(r) .. ";\n"
    end
  end
  parts[#parts + 1] = "END"
  return table.concat(parts)
end

-- The exact window statement of a CSL rollup: rows (keys..., sums..., FirstSeen, LastSeen).
local function csl_exact_sql(r)
  local cols = table.concat(r.keys, ", ") .. ", " .. table.concat(r.sums, ", ") .. ", FirstSeen, LastSeen"
  local parts = {
    "WITH edge AS (",
    "  SELECT Hour, " .. cols .. " FROM " .. r.table,
    "  WHERE IP = :ip AND Hour IN (substr(:from, 1, 13), substr(:to, 1, 13))",
    "), cut AS (",
    "  SELECT Hour, max(min(FirstSeen), :from) AS a, min(max(LastSeen), :to) AS b FROM edge",
    "  GROUP BY Hour HAVING min(FirstSeen) < :from OR max(LastSeen) > :to",
    ")",
    "SELECT " .. cols .. " FROM " .. r.table,
    "WHERE IP = :ip AND Hour > substr(:from, 1, 13) AND Hour < substr(:to, 1, 13)",
    "UNION ALL",
    "SELECT " .. cols .. " FROM edge WHERE NOT EXISTS (SELECT 1 FROM cut WHERE cut.Hour = edge.Hour)",
  }
  local groups = {}
  for i = 1, #r.keys do groups[i] = tostring(i) end
  for _, sd in ipairs(SIDES) do
    local v = side(sd, "t.")
    parts[#parts + 1] = "UNION ALL"
    parts[#parts + 1] = "SELECT " .. pick(v, r.keys) .. ", " .. pick(v, r.sums, "sum(%s)")
      .. ", min(t.TimeGenerated), max(t.TimeGenerated)"
    -- CROSS JOIN: cut (a few rows) must be the outer loop, whatever the statistics say
    parts[#parts + 1] = "FROM cut CROSS JOIN CommonSecurityLog t"
    parts[#parts + 1] = "WHERE t.TimeGenerated >= cut.a AND t.TimeGenerated <= cut.b AND " .. v.ip .. " = :ip AND " .. v.cond
    parts[#parts + 1] = "GROUP BY " .. table.concat(groups, ", ")
  end
  return table.concat(parts, "\n")
end

-- rows (Direction, Port, Protocol, Action, Events, BytesFromIP, BytesToIP, FirstSeen, LastSeen)
-- of the IP's firewall traffic in the window, exact (see activity_sql)
function M.traffic_sql() return csl_exact_sql(CSL_ROLLUPS[1]) end

-- rows (Peer, PeerHost, Events, Allowed, Blocked, BytesFromIP, BytesToIP, FirstSeen, LastSeen)
function M.peers_sql() return csl_exact_sql(CSL_ROLLUPS[2]) end

-- the rows a rebuild statement counts: a time range (:a <= TimeGenerated < :b), or the rows
-- added after rowid :a (an ingest's own rows; :b unused)
local TIME_RANGE = "t.TimeGenerated >= :a AND t.TimeGenerated < :b"
local NEW_ROWS = "t.rowid > :a AND :b IS NULL AND t.TimeGenerated IS NOT NULL"

local function csl_rebuild_sql(r, sd, range)
  local v = side(sd, "t.")
  local groups = {}
  for i = 1, #r.keys + 2 do groups[i] = tostring(i) end
  return "INSERT INTO " .. r.table .. " (" .. csl_columns(r) .. ")\nSELECT " .. v.ip .. ", substr(t.TimeGenerated, 1, 13), "
    .. pick(v, r.keys) .. ", " .. pick(v, r.sums, "sum(%s)") .. ", min(t.TimeGenerated), max(t.TimeGenerated)\n"
    .. "FROM CommonSecurityLog t\nWHERE " .. (range or TIME_RANGE) .. " AND " .. v.cond .. "\n"
    .. "GROUP BY " .. table.concat(groups, ", ") .. "\n" .. csl_upsert(r)
end

local function tables_ddl()
  local out = { TABLE_DDL }
  for _, r in ipairs(CSL_ROLLUPS) do out[#out + 1] = csl_ddl(r) end
  out[#out + 1] = QUERIES_DDL
  return out
end
M.tables_ddl = tables_ddl

function M.statements()
  local out = tables_ddl()
  for _, s in ipairs(M.sources("NEW.")) do out[#out + 1] = trigger_sql(s) end
  out[#out + 1] = csl_trigger_sql()
  return out
end

function M.create_triggers(db)
  for _, s in ipairs(M.sources("NEW.")) do db:exec(trigger_sql(s)) end
  db:exec(csl_trigger_sql())
end

function M.drop_triggers(db)
  for _, s in ipairs(M.sources()) do db:exec("DROP TRIGGER IF EXISTS " .. trigger_name(s.table)) end
  db:exec("DROP TRIGGER IF EXISTS " .. CSL_TRIGGER)
end

local WT = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"

-- SQL: the value v cut down to the IP candidate a token or a column holds (see the header)
local function trimmed(v) return "rtrim(trim(" .. v .. ", " .. lit(TRIMMED) .. "), '.')" end

-- token_sql(v) -> SQL: the IP candidate v holds when it has the shape of an IP, else NULL — in
-- plain SQL (what the triggers compute) and as the C function of ipe-run's connections that the
-- recounts use (core/sql_iptoken.c: the same value; the 400,000 candidates of 200,000 firewall
-- records in 0.54 s of CPU instead of 0.94 s)
function M.token_sql(v) return "CASE WHEN " .. M.shape(trimmed(v)) .. " THEN " .. trimmed(v) .. " END" end
function M.token(v) return "ipe_ip_token(" .. v .. ")" end

-- rebuild_sql(source) -> INSERT ... SELECT recounting the rows with :a <= TimeGenerated < :b.
-- The same IPs as the trigger's walk over the whole row, each once per row, in two parts:
-- the plain columns (json_each over them; a value is dropped when an earlier column holds
-- it) and the structured places (walked as the trigger walks them, only in the rows that
-- may hold an IP there; a leaf is dropped when a column holds it, duplicates by DISTINCT).
-- Each part computes a candidate once in an inner SELECT (LIMIT -1 keeps SQLite from
-- flattening it into the outer one, which would compute it again for every test); the
-- candidate and the columns it is compared with are token()s (the C function).
-- The traffic rollup is the peers rollup summed over the peer, its host and the reporter: the
-- hours :a <= Hour < :b recounted from the peers rows (narrower than the records and already
-- one per flow, peer and hour: cheaper to sort than the raw records of both sides).
local function traffic_from_peers_sql()
  local r = CSL_ROLLUPS[1]
  local keys = table.concat(r.keys, ", ")
  local sums = {}
  for i, m in ipairs(r.sums) do sums[i] = "sum(" .. m .. ")" end
  return "INSERT INTO " .. r.table .. " (" .. csl_columns(r) .. ")\nSELECT IP, Hour, " .. keys .. ", "
    .. table.concat(sums, ", ") .. ", min(FirstSeen), max(LastSeen) FROM " .. M.PEERS
    .. "\nWHERE Hour >= :a AND Hour < :b\nGROUP BY IP, Hour, " .. keys .. "\n" .. csl_upsert(r)
end

local function rebuild_sql(s, range)
  range = range or TIME_RANGE
  local cols = {}
  for i, c in ipairs(s.columns) do cols[i] = c .. " AS c" .. i end
  local function inner(walked, extra)
    return "SELECT t.rowid AS rid, t.TimeGenerated, COALESCE(" .. s.host .. ", '') AS Host, "
      .. M.token("j.atom") .. " AS IP, j.key AS k" .. (#cols > 0 and ", " .. table.concat(cols, ", ") or "")
      .. "\n          FROM " .. s.table .. " t, " .. walked .. " j\n          WHERE " .. range .. extra
      .. " AND j.type = 'text' LIMIT -1"
  end
  local parts = {}
  if #s.columns > 0 then
    local cond = { "IP IS NOT NULL" }
    for i = 1, #s.columns - 1 do cond[#cond + 1] = "(k < " .. i .. " OR IP IS NOT " .. M.token("c" .. i) .. ")" end
    parts[#parts + 1] = "SELECT TimeGenerated, Host, IP FROM (\n          "
      .. inner("json_each(json_array(" .. table.concat(s.columns, ", ") .. "))", "")
      .. ")\n        WHERE " .. table.concat(cond, "\n          AND ")
  end
  if #s.structured > 0 then
    local cond = { "IP IS NOT NULL" }
    for i = 1, #s.columns do cond[#cond + 1] = "IP IS NOT " .. M.token("c" .. i) end
    parts[#parts + 1] = "SELECT TimeGenerated, Host, IP FROM (SELECT DISTINCT rid, TimeGenerated, Host, IP FROM (\n          "
      .. inner(s.walk .. "(json_array(" .. table.concat(s.structured, ", ") .. "))", " AND " .. s.maybe)
      .. ")\n        WHERE " .. table.concat(cond, "\n          AND ") .. ")"
  end
  return table.concat({
    "INSERT INTO ", M.TABLE, " (IP, Hour, Source, Host, Events, FirstSeen, LastSeen)\n",
    "SELECT IP, substr(TimeGenerated, 1, 13), ", lit(s.table), ", Host, count(*), min(TimeGenerated), max(TimeGenerated)\n",
    "FROM (", table.concat(parts, "\n      UNION ALL\n      "), ")\n",
    "WHERE true GROUP BY 1, 2, 4\n", UPSERT,
  })
end

-- sorting(db, fn): run fn (statements that sort much: CREATE INDEX, GROUP BY) with a page
-- cache of SORT_CACHE_KIB, then restore the cache size, also on error. SQLite sorts in runs
-- of the page cache's size and merges them (when temp_store is not MEMORY): runs that fit
-- the CPU's caches sort faster than one run of 256 MB (measured on 1M CommonSecurityLog
-- rows: CREATE INDEX of an IP column 2.4 s -> 1.3 s CPU, a traffic rollup statement -15 %).
M.SORT_CACHE_KIB = 4096
function M.sorting(db, fn)
  local cache = db:query("PRAGMA cache_size")[1][1]
  db:exec("PRAGMA cache_size = " .. -M.SORT_CACHE_KIB)
  local ok, err = pcall(fn)
  db:exec("PRAGMA cache_size = " .. cache)
  if not ok then error(err, 0) end
end

local function shift(text, secs)
  local timeutil = require "ipe.timeutil"
  return timeutil.format_time(timeutil.parse_time(text) + secs)
end

-- Hours [hour of from, hour of to] (workspace times; both nil = every row), recounted
-- day by day (each day is one INSERT ... SELECT, so the sort behind GROUP BY stays small).
function M.rebuild(db, from, to, which)
  if (from == nil) ~= (to == nil) or (from and not (tostring(from):match(WT) and tostring(to):match(WT))) then
    error("rollup.rebuild: from and to must be workspace times", 0)
  end
  if which ~= nil and which ~= M.TABLE and which ~= M.TRAFFIC and which ~= M.PEERS then
    error("rollup.rebuild: which must be " .. M.TABLE .. ", " .. M.TRAFFIC .. " or " .. M.PEERS, 0)
  end
  local lo, hi   -- rows with lo <= TimeGenerated < hi
  if from then lo, hi = from:sub(1, 13) .. ":00:00.000Z", shift(to:sub(1, 13) .. ":00:00.000Z", 3600) end
  -- each statement recounts the rows with :a <= TimeGenerated < :b, run day by day (hours: the
  -- hours :a <= Hour < :b of those days); the traffic after the peers it is summed from
  local jobs, targets = {}, {}
  if which == nil or which == M.TABLE then
    targets[#targets + 1] = M.TABLE
    for _, s in ipairs(M.sources("t.")) do jobs[#jobs + 1] = { table = s.table, sql = rebuild_sql(s) } end
  end
  if which == nil or which == M.PEERS then
    targets[#targets + 1] = M.PEERS
    for _, sd in ipairs(SIDES) do jobs[#jobs + 1] = { table = "CommonSecurityLog", sql = csl_rebuild_sql(CSL_ROLLUPS[2], sd) } end
  end
  if which == nil or which == M.TRAFFIC then
    targets[#targets + 1] = M.TRAFFIC
    jobs[#jobs + 1] = { table = "CommonSecurityLog", sql = traffic_from_peers_sql(), hours = true }
  end
  local atomically = require("ipe.schema").atomically
  M.sorting(db, function() atomically(db, "ipe_rollup", function()
    for _, t in ipairs(targets) do
      if lo then
        db:prepare("DELETE FROM " .. t .. " WHERE Hour >= ? AND Hour < ?"):run(lo:sub(1, 13), hi:sub(1, 13))
      else
        db:exec("DELETE FROM " .. t)
      end
    end
    local spans = {}
    for _, job in ipairs(jobs) do
      -- two subqueries: each is one step of the TimeGenerated index (min and max together scan it)
      spans[job.table] = spans[job.table] or db:query("SELECT (SELECT min(TimeGenerated) FROM " .. job.table
        .. "), (SELECT max(TimeGenerated) FROM " .. job.table .. ")")[1]
      local first, last = spans[job.table][1], spans[job.table][2]
      if type(first) == "string" and type(last) == "string" then
        if lo and first < lo then first = lo end
        local st = db:prepare(job.sql)
        local day = first:sub(1, 10) .. "T00:00:00.000Z"
        while day <= last and (not hi or day < hi) do
          local nxt = shift(day, 86400)
          local a, b = day < first and first or day, nxt
          if hi and b > hi then b = hi end
          if job.hours then a, b = a:sub(1, 13), b:sub(1, 13) end
          st:run(a, b)
          day = nxt
        end
      end
    end
  end) end)
end

-- bulk_mark(db) -> marks: drop the triggers before a bulk load and note where each log table
-- ends (its largest rowid); bulk_add(db, marks) then counts the rows added after the marks into
-- the rollups (added to what they hold: each new row once, never the rows counted before) and
-- recreates the triggers. The traffic rows of the (IP, hour) keys the new records touch are summed
-- again from the peers (only those keys: the cost follows the new rows, not the workspace's size).
-- Cheaper than rebuild() for the hours of a load into a table that holds other rows.
function M.bulk_mark(db)
  M.drop_triggers(db)
  local marks = {}
  for _, s in ipairs(M.sources("t.")) do
    marks[s.table] = db:query("SELECT COALESCE(max(rowid), 0) FROM " .. s.table)[1][1]
  end
  return marks
end

-- The traffic rows of the (IP, hour) keys the firewall records after rowid `after` touch, summed
-- again from the peers: the keys noted in a temporary table (TOUCHED), their traffic rows deleted
-- and re-summed through the rollups' IP-first primary keys (touched keys outer: CROSS JOIN), so
-- the cost follows the new rows, not the workspace (not every IP's rows of the new rows' hours).
local TOUCHED = "_ipe_touched_keys"

-- (one statement: GROUP BY sorts the keys of both sides, then they are appended in order)
local function touched_sql()
  local parts = {}
  for i, sd in ipairs(SIDES) do
    local v = side(sd, "t.")
    parts[i] = "SELECT " .. v.ip .. " AS IP, substr(t.TimeGenerated, 1, 13) AS Hour FROM CommonSecurityLog t WHERE "
      .. NEW_ROWS .. " AND " .. v.cond
  end
  return "INSERT INTO temp." .. TOUCHED .. " (IP, Hour) SELECT IP, Hour FROM (" .. table.concat(parts, " UNION ALL ")
    .. ") GROUP BY IP, Hour"
end

local function traffic_resum_sql()
  local r = CSL_ROLLUPS[1]
  local keys, sums = {}, {}
  for i, k in ipairs(r.keys) do keys[i] = "p." .. k end
  for i, m in ipairs(r.sums) do sums[i] = "sum(p." .. m .. ")" end
  return "INSERT INTO " .. r.table .. " (" .. csl_columns(r) .. ")\nSELECT p.IP, p.Hour, " .. table.concat(keys, ", ") .. ", "
    .. table.concat(sums, ", ") .. ", min(p.FirstSeen), max(p.LastSeen)\nFROM temp." .. TOUCHED .. " k CROSS JOIN "
    .. M.PEERS .. " p ON p.IP = k.IP AND p.Hour = k.Hour\nGROUP BY p.IP, p.Hour, " .. table.concat(keys, ", ")
end

local TRAFFIC_DELETE = "DELETE FROM " .. M.TRAFFIC .. " WHERE (IP, Hour) IN (SELECT IP, Hour FROM temp." .. TOUCHED .. ")"

local function traffic_from_touched(db, after)
  db:exec("DROP TABLE IF EXISTS temp." .. TOUCHED)
  db:exec("CREATE TEMP TABLE " .. TOUCHED .. " (IP TEXT NOT NULL, Hour TEXT NOT NULL, PRIMARY KEY (IP, Hour)) WITHOUT ROWID")
  db:prepare(touched_sql()):run(after, nil)
  db:exec(TRAFFIC_DELETE)
  db:exec(traffic_resum_sql())
  db:exec("DROP TABLE temp." .. TOUCHED)
end
M._touched = { table = TOUCHED, sql = touched_sql, delete = TRAFFIC_DELETE, resum = traffic_resum_sql }

function M.bulk_add(db, marks)
  local atomically = require("ipe.schema").atomically
  M.sorting(db, function() atomically(db, "ipe_rollup", function()
    for _, s in ipairs(M.sources("t.")) do
      local after = marks[s.table]
      if after and db:query("SELECT count(*) FROM (SELECT 1 FROM " .. s.table .. " WHERE rowid > ? LIMIT 1)", { after })[1][1] > 0 then
        db:prepare(rebuild_sql(s, NEW_ROWS)):run(after, nil)
        if s.table == "CommonSecurityLog" then
          for _, sd in ipairs(SIDES) do db:prepare(csl_rebuild_sql(CSL_ROLLUPS[2], sd, NEW_ROWS)):run(after, nil) end
          traffic_from_touched(db, after)
        end
      end
    end
  end) end)
  M.create_triggers(db)
end

function M.store_queries(db)
  local st = db:prepare("INSERT OR REPLACE INTO " .. M.QUERIES .. " (Name, Sql) VALUES (?, ?)")
  st:run("activity", M.activity_sql())
  st:run("traffic", M.traffic_sql())
  st:run("peers", M.peers_sql())
end

function M.bulk_begin(db) M.drop_triggers(db) end

function M.bulk_end(db)
  M.rebuild(db)
  M.create_triggers(db)
end

return M
