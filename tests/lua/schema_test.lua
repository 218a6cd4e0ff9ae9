-- Tests for ipe.schema. The descriptor, DDL and insert_sql cases run under
-- plain luajit; the workspace cases (migrate) need ipe.sqlite and run inside
-- `ipe-run test` (they are skipped elsewhere).
local T = require "ipe.testing"
local schema = require "ipe.schema"

local has_sqlite, sqlite = pcall(require, "ipe.sqlite")

local TABLES = {
  "CommonSecurityLog", "Syslog", "SecurityEvent", "SigninLogs", "AuditLogs", "OfficeActivity", "BehaviorAnalytics",
  "Heartbeat", "SecurityAlert", "SecurityIncident", "ThreatIntelligenceIndicator", "Watchlist", "HuntingBookmark",
  "Anomalies", "DeviceNetworkEvents", "DeviceInfo", "AzureActivity",
}

local function names(t)
  local out = {}
  for i, c in ipairs(schema.table(t).columns) do out[i] = c.name end
  return out
end

local function has(t, col) return schema.table(t).by_name[col] ~= nil end

-- s must contain sub (plain text, not a pattern)
local function contains(s, sub)
  T.ok(type(s) == "string" and s:find(sub, 1, true), T.show(s) .. " contains " .. T.show(sub))
end

local function index_sql(name)
  for _, ix in ipairs(schema.index_ddl()) do if ix.name == name then return ix.sql end end
end

T.case("the 17 tables, in order", function()
  local got = {}
  for i, t in ipairs(schema.tables) do got[i] = t.name end
  T.eq(got, TABLES)
  for _, name in ipairs(TABLES) do T.eq(schema.table(name).name, name) end
end)

T.case("unknown and wrongly-cased table names are not tables", function()
  T.eq(schema.table("Nope"), nil)
  T.eq(schema.table("signinlogs"), nil)
  T.eq(schema.table(nil), nil)
end)

T.case("name traps keep their exact spelling", function()
  local traps = {
    { "SigninLogs", "IPAddress", "IpAddress" }, { "SecurityEvent", "IpAddress", "IPAddress" },
    { "BehaviorAnalytics", "SourceIPAddress", "SourceIpAddress" }, { "Anomalies", "SourceIpAddress", "SourceIPAddress" },
    { "CommonSecurityLog", "SourceIP", "SourceIp" }, { "CommonSecurityLog", "RemoteIP", "RemoteIp" },
    { "DeviceNetworkEvents", "RemoteIP", "RemoteIp" }, { "DeviceNetworkEvents", "LocalIP", "LocalIp" },
    { "OfficeActivity", "ClientIP", "ClientIp" }, { "AzureActivity", "CallerIpAddress", "CallerIPAddress" },
    { "Heartbeat", "ComputerIP", "ComputerIp" }, { "Syslog", "HostIP", "HostIp" }, { "DeviceInfo", "PublicIP", "PublicIp" },
    { "ThreatIntelligenceIndicator", "NetworkIP", "NetworkIp" },
  }
  for _, tr in ipairs(traps) do
    T.ok(has(tr[1], tr[2]), tr[1] .. " has " .. tr[2])
    T.ok(not has(tr[1], tr[3]), tr[1] .. " has no " .. tr[3])
  end
  T.ok(has("BehaviorAnalytics", "DestinationIPAddress"))
  T.ok(has("Anomalies", "DestinationIpAddress"))
  T.ok(has("SecurityEvent", "ClientIPAddress") and has("SecurityEvent", "RemoteIpAddress"))
end)

T.case("every table starts with TimeGenerated and carries the common columns", function()
  for _, t in ipairs(schema.tables) do
    T.eq(t.columns[1].name, "TimeGenerated", t.name)
    T.eq(t.columns[1].type, "datetime", t.name)
    T.eq(t.time, "TimeGenerated", t.name)
    for _, c in ipairs({ "Type", "TenantId", "SourceSystem", "_ResourceId" }) do
      T.ok(has(t.name, c), t.name .. " has " .. c)
    end
    T.ok(not has(t.name, "_Extra"), t.name .. " has no _Extra")
    local seen = {}
    for _, c in ipairs(t.columns) do
      T.ok(not seen[c.name], t.name .. "." .. c.name .. " appears once")
      seen[c.name] = true
    end
  end
end)

T.case("CEF custom fields are expanded with their labels", function()
  for i = 1, 6 do
    T.ok(has("CommonSecurityLog", "DeviceCustomString" .. i))
    T.ok(has("CommonSecurityLog", "DeviceCustomString" .. i .. "Label"))
  end
  for i = 1, 4 do
    T.ok(has("CommonSecurityLog", "DeviceCustomIPv6Address" .. i))
    T.ok(has("CommonSecurityLog", "DeviceCustomIPv6Address" .. i .. "Label"))
  end
  T.ok(not has("CommonSecurityLog", "DeviceCustomString7"))
  T.ok(not has("CommonSecurityLog", "DeviceCustomString1+"))
end)

T.case("exact column lists of two small tables", function()
  T.eq(names("Syslog"), { "TimeGenerated", "EventTime", "Computer", "HostName", "HostIP", "Facility", "SeverityLevel",
    "ProcessName", "ProcessID", "SyslogMessage", "Type", "TenantId", "SourceSystem", "_ResourceId" })
  T.eq(names("AuditLogs"), { "TimeGenerated", "ActivityDateTime", "OperationName", "ActivityDisplayName", "Category",
    "AADOperationType", "LoggedByService", "Result", "ResultType", "ResultReason", "ResultDescription", "InitiatedBy",
    "TargetResources", "AdditionalDetails", "Identity", "CorrelationId", "Id", "Type", "TenantId", "SourceSystem",
    "_ResourceId" })
end)

T.case("columns added after version 1: Microsoft's names and types, at the end, with their version", function()
  local v = schema.migrations[#schema.migrations].version
  for _, m in ipairs(schema.migrations) do if m.module == "ipe.migrations.columns" then v = m.version end end
  local added = {}
  for _, t in ipairs(schema.tables) do
    for i, c in ipairs(t.columns) do
      if c.since > 1 then
        added[#added + 1] = t.name .. "." .. c.name .. ":" .. c.type .. "@" .. c.since
        T.ok(i > t.by_name._ResourceId.index, t.name .. "." .. c.name .. " comes after the version-1 columns")
      end
    end
  end
  T.eq(added, { "SecurityEvent.SourceComputerId:string@" .. v, "OfficeActivity.OrganizationName:string@" .. v,
    "OfficeActivity.Logon_Type:string@" .. v, "OfficeActivity.ExtendedProperties:string@" .. v,
    "AzureActivity.Category:string@" .. v })
  T.ok(not has("CommonSecurityLog", "Severity"), "no Severity column in CommonSecurityLog (Microsoft lists none)")
end)

T.case("column_type maps Kusto types to SQLite", function()
  T.eq({ schema.column_type("SigninLogs", "ResultType") }, { "string", "TEXT" })
  T.eq({ schema.column_type("SigninLogs", "LocationDetails") }, { "dynamic", "TEXT" })
  T.eq({ schema.column_type("SigninLogs", "IsInteractive") }, { "bool", "INTEGER" })
  T.eq({ schema.column_type("SecurityIncident", "IncidentNumber") }, { "int", "INTEGER" })
  T.eq({ schema.column_type("CommonSecurityLog", "SentBytes") }, { "long", "INTEGER" })
  T.eq({ schema.column_type("CommonSecurityLog", "RemotePort") }, { "string", "TEXT" })
  T.eq({ schema.column_type("CommonSecurityLog", "DestinationPort") }, { "int", "INTEGER" })
  T.eq({ schema.column_type("ThreatIntelligenceIndicator", "ConfidenceScore") }, { "real", "REAL" })
  T.eq({ schema.column_type("ThreatIntelligenceIndicator", "ExpirationDateTime") }, { "datetime", "TEXT" })
  T.eq({ schema.column_type("Heartbeat", "ComputerPrivateIPs") }, { "dynamic", "TEXT" })
  T.eq({ schema.column_type("SecurityAlert", "Entities") }, { "string", "TEXT" })
  T.eq({ schema.column_type("Anomalies", "Entities") }, { "dynamic", "TEXT" })
  T.eq(schema.column_type("SigninLogs", "IpAddress"), nil)
  T.eq(schema.column_type("Nope", "TimeGenerated"), nil)
end)

T.case("where IPs live: plain columns", function()
  local want = {
    CommonSecurityLog = { "SourceIP", "DestinationIP", "RemoteIP", "SourceTranslatedAddress",
                          "DestinationTranslatedAddress", "MaliciousIP" },
    SecurityEvent = { "IpAddress", "ClientIPAddress", "RemoteIpAddress" }, SigninLogs = { "IPAddress" },
    OfficeActivity = { "ClientIP", "ActorIpAddress" }, AzureActivity = { "CallerIpAddress" },
    BehaviorAnalytics = { "SourceIPAddress", "DestinationIPAddress" },
    Anomalies = { "SourceIpAddress", "DestinationIpAddress" }, Heartbeat = { "ComputerIP" },
    DeviceNetworkEvents = { "RemoteIP", "LocalIP" }, DeviceInfo = { "PublicIP" }, Syslog = { "HostIP" },
    ThreatIntelligenceIndicator = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" },
    AuditLogs = {}, SecurityAlert = {}, SecurityIncident = {}, Watchlist = {}, HuntingBookmark = {},
  }
  for _, t in ipairs(schema.tables) do T.eq(t.ip_columns, want[t.name], t.name) end
end)

T.case("where IPs live: JSON paths, lists and free text", function()
  T.eq(schema.table("AuditLogs").ip_json, { { column = "InitiatedBy", path = "$.user.ipAddress" } })
  T.eq(schema.table("Heartbeat").ip_lists, { { column = "ComputerPrivateIPs", shape = "array" } })
  T.eq(schema.table("SecurityAlert").ip_lists, { { column = "Entities", shape = "entities" } })
  T.eq(schema.table("Anomalies").ip_lists, { { column = "Entities", shape = "entities" } })
  T.eq(schema.table("HuntingBookmark").ip_lists, { { column = "QueryResultRow", shape = "entity_mapping" },
                                                   { column = "Entities", shape = "entities" } })
  T.eq(schema.table("Syslog").ip_text, { "SyslogMessage" })
  T.eq(schema.table("CommonSecurityLog").ip_text, { "Message" })
  T.eq(schema.table("OfficeActivity").ip_with_port, { "ClientIP" })
  T.eq(schema.table("SigninLogs").ip_json, {})
  T.eq(schema.table("SigninLogs").ip_lists, {})
end)

T.case("host and user columns", function()
  T.eq(schema.table("DeviceNetworkEvents").host, "DeviceName")
  T.eq(schema.table("SecurityEvent").host, "Computer")
  T.eq(schema.table("SecurityEvent").user, "Account")
  T.eq(schema.table("SigninLogs").user, "UserPrincipalName")
  T.eq(schema.table("AzureActivity").user, "Caller")
  T.eq(schema.table("SigninLogs").host, nil)
  for _, t in ipairs(schema.tables) do
    if t.host then T.ok(has(t.name, t.host), t.name .. " host column exists") end
    if t.user then T.ok(has(t.name, t.user), t.name .. " user column exists") end
  end
end)

T.case("DDL: one CREATE TABLE per table, Type defaults to the table name", function()
  local ddl = schema.ddl()
  local creates = 0
  for _, sql in ipairs(ddl) do if sql:find("^CREATE TABLE ") then creates = creates + 1 end end
  T.eq(creates, 17)
  T.eq(ddl[2], "CREATE TABLE Syslog (TimeGenerated TEXT, EventTime TEXT, Computer TEXT, HostName TEXT, HostIP TEXT, " ..
    "Facility TEXT, SeverityLevel TEXT, ProcessName TEXT, ProcessID INTEGER, SyslogMessage TEXT, " ..
    "Type TEXT DEFAULT 'Syslog', TenantId TEXT, SourceSystem TEXT, _ResourceId TEXT)")
  contains(ddl[1], "Type TEXT DEFAULT 'CommonSecurityLog'")
  T.eq(#ddl, 17 + #schema.index_ddl())
end)

T.case("indexes: time, (IP, time), JSON paths and the id columns", function()
  for _, t in ipairs(schema.tables) do
    T.eq(index_sql("ix_" .. t.name .. "_TimeGenerated"),
         "CREATE INDEX ix_" .. t.name .. "_TimeGenerated ON " .. t.name .. "(TimeGenerated)")
    for _, c in ipairs(t.ip_columns) do
      -- a log table's IP column index holds the rows that have the column (ipe.migrations.ip_indexes)
      T.eq(index_sql("ix_" .. t.name .. "_" .. c),
           "CREATE INDEX ix_" .. t.name .. "_" .. c .. " ON " .. t.name .. "(" .. c .. ", TimeGenerated)"
           .. (t.kind == "log" and " WHERE " .. c .. " IS NOT NULL" or ""))
    end
  end
  T.eq(index_sql("ix_AuditLogs_InitiatedBy_user_ipAddress"),
       "CREATE INDEX ix_AuditLogs_InitiatedBy_user_ipAddress ON AuditLogs(json_extract(InitiatedBy, '$.user.ipAddress'), TimeGenerated)")
  T.eq(index_sql("ix_SecurityAlert_SystemAlertId"),
       "CREATE INDEX ix_SecurityAlert_SystemAlertId ON SecurityAlert(SystemAlertId, TimeGenerated)")
  T.eq(index_sql("ix_SecurityIncident_IncidentNumber"),
       "CREATE INDEX ix_SecurityIncident_IncidentNumber ON SecurityIncident(IncidentNumber, TimeGenerated)")
  T.eq(index_sql("ix_ThreatIntelligenceIndicator_IndicatorId"),
       "CREATE INDEX ix_ThreatIntelligenceIndicator_IndicatorId ON ThreatIntelligenceIndicator(IndicatorId, TimeGenerated)")
  T.eq(index_sql("ix_Watchlist_SearchKey"), "CREATE INDEX ix_Watchlist_SearchKey ON Watchlist(SearchKey)")
  T.eq(index_sql("ix_Watchlist_WatchlistAlias"), "CREATE INDEX ix_Watchlist_WatchlistAlias ON Watchlist(WatchlistAlias)")
  local seen = {}
  for _, ix in ipairs(schema.index_ddl()) do
    T.ok(not seen[ix.name], ix.name .. " is unique")
    seen[ix.name] = true
  end
  T.eq(#schema.index_ddl(), 49)
end)

T.case("ddl of a version that does not exist", function()
  local range = "(1.." .. schema.VERSION .. ")"
  T.raises(function() schema.ddl(schema.VERSION + 1) end, "schema version " .. schema.VERSION + 1 .. " does not exist " .. range)
  T.raises(function() schema.ddl(0) end, "schema version 0 does not exist " .. range)
  T.raises(function() schema.index_ddl("1") end, "schema version 1 does not exist " .. range)
  local v1, now = schema.ddl(1), schema.ddl()
  T.eq(#v1, #now)
  for i, sql in ipairs(v1) do
    -- version 1 is what released workspaces were created with: only the partial indexes and the
    -- columns added later (at the end of a CREATE TABLE) differ
    local added = {}
    for _, t in ipairs(schema.tables) do
      if sql:find("CREATE TABLE " .. t.name .. " (", 1, true) then
        for _, c in ipairs(t.columns) do if c.since > 1 then added[#added + 1] = ", " .. c.name .. " " .. c.sql end end
      end
    end
    local want = #added > 0 and sql:sub(1, -2) .. table.concat(added) .. ")" or sql
    if want ~= now[i] then want = sql .. (now[i]:match(" WHERE %w+ IS NOT NULL$") or "") end
    T.eq(now[i], want, "statement " .. i)
  end
  T.eq(schema.index_ddl(schema.PARTIAL_IP_INDEXES - 1)[2].sql,
    "CREATE INDEX ix_CommonSecurityLog_SourceIP ON CommonSecurityLog(SourceIP, TimeGenerated)")
  T.eq(schema.index_ddl(schema.PARTIAL_IP_INDEXES)[2].sql,
    "CREATE INDEX ix_CommonSecurityLog_SourceIP ON CommonSecurityLog(SourceIP, TimeGenerated) WHERE SourceIP IS NOT NULL")
end)

T.case("insert_sql", function()
  T.eq(schema.insert_sql("SigninLogs", { "TimeGenerated", "IPAddress" }),
       "INSERT INTO SigninLogs (TimeGenerated,IPAddress) VALUES (?,?)")
  T.eq(schema.insert_sql("Watchlist", { "_DTItemId" }), "INSERT INTO Watchlist (_DTItemId) VALUES (?)")
end)

T.case("insert_sql rejects bad tables and columns", function()
  T.eq(T.raises(function() schema.insert_sql("Nope", { "A" }) end), "unknown table 'Nope'")
  T.eq(T.raises(function() schema.insert_sql("SigninLogs", { "TimeGenerated", "IpAddress" }) end),
       "table 'SigninLogs' has no column 'IpAddress'")
  T.eq(T.raises(function() schema.insert_sql("SigninLogs", { "IPAddress", "IPAddress" }) end),
       "column 'IPAddress' is given twice for an insert into 'SigninLogs'")
  T.eq(T.raises(function() schema.insert_sql("SigninLogs", {}) end), "no columns given for an insert into 'SigninLogs'")
  T.eq(T.raises(function() schema.insert_sql("SigninLogs") end), "no columns given for an insert into 'SigninLogs'")
end)

T.case("migrations are ordered and end at VERSION", function()
  T.eq(schema.VERSION, 1 + #schema.LATER)
  T.eq(#schema.migrations, schema.VERSION)
  for i, m in ipairs(schema.migrations) do
    T.eq(m.version, i)
    T.eq(type(m.up), "function")
    T.eq(type(m.description), "string")
  end
end)

T.case("schema.INTERNAL names the tables each migration module says it creates", function()
  for _, name in ipairs(schema.LATER) do
    T.eq(schema.INTERNAL[name] or {}, require(name).tables or {}, name)
  end
  for name in pairs(schema.INTERNAL) do T.ok(schema.internal(schema.INTERNAL[name][1]), name) end
end)

---------------------------------------------------------------------------
-- Workspace cases (need the SQLite binding)
---------------------------------------------------------------------------
local tmpfiles = {}
local function fresh(setup)
  local path = os.tmpname()
  os.remove(path)
  tmpfiles[#tmpfiles + 1] = path
  local db = assert(sqlite.open(path, "rwc"))
  if setup then db:exec(setup) end
  return db
end

local function db_case(name, fn)
  if has_sqlite then T.case(name, fn) else T.skip(name, "needs ipe.sqlite (run inside ipe-run test)") end
end

local function count(db, sql) return db:query(sql)[1][1] end

db_case("migrate creates every table with the exact columns", function()
  local db = fresh()
  T.eq({ schema.migrate(db) }, { 0, schema.VERSION })
  for _, t in ipairs(schema.tables) do
    local rows = db:query("PRAGMA table_info(" .. t.name .. ")")
    local got, want = {}, {}
    for i, r in ipairs(rows) do got[i] = r[2] .. " " .. r[3] end
    for _, c in ipairs(t.columns) do if c.since == 1 then want[#want + 1] = c.name .. " " .. c.sql end end
    want[#want + 1] = "_Extra TEXT" -- ingest keeps the columns the schema lacks here (ipe.migrations.ingest)
    -- the columns later migrations added come after it, in the order of t.columns (ipe.migrations.columns)
    for _, c in ipairs(t.columns) do if c.since > 1 then want[#want + 1] = c.name .. " " .. c.sql end end
    T.eq(got, want, t.name)
  end
  T.eq(db:query("SELECT key, value FROM _ipe_meta"), { { "schema_version", tostring(schema.VERSION) } })
  T.eq(db:query("PRAGMA journal_mode")[1][1], "wal")
  db:close()
end)

db_case("migrate creates every index", function()
  local db = fresh()
  schema.migrate(db)
  local got = {}
  for _, r in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' ORDER BY name")) do
    got[#got + 1] = r[1]
  end
  local want = {}
  for _, ix in ipairs(schema.index_ddl()) do want[#want + 1] = ix.name end
  table.sort(want)
  T.eq(got, want)
  db:close()
end)

db_case("a per-IP window query is an index range scan", function()
  local db = fresh()
  schema.migrate(db)
  local function plan(sql)
    local out = {}
    for _, r in ipairs(db:query("EXPLAIN QUERY PLAN " .. sql, { "x", "a", "b" })) do out[#out + 1] = r[4] end
    return table.concat(out, "; ")
  end
  contains(plan("SELECT * FROM CommonSecurityLog WHERE SourceIP = ? AND TimeGenerated BETWEEN ? AND ?"),
           "USING INDEX ix_CommonSecurityLog_SourceIP (SourceIP=? AND TimeGenerated>? AND TimeGenerated<?)")
  contains(plan("SELECT * FROM AuditLogs WHERE json_extract(InitiatedBy, '$.user.ipAddress') = ? " ..
                "AND TimeGenerated BETWEEN ? AND ?"), "USING INDEX ix_AuditLogs_InitiatedBy_user_ipAddress")
  -- the partial IP indexes serve every way the insights and hunts name an IP column
  contains(plan("SELECT * FROM CommonSecurityLog WHERE MaliciousIP = ? AND TimeGenerated >= ? AND TimeGenerated <= ?"),
           "USING INDEX ix_CommonSecurityLog_MaliciousIP (MaliciousIP=? AND TimeGenerated>? AND TimeGenerated<?)")
  local either = plan("SELECT * FROM CommonSecurityLog WHERE (SourceIP = ?1 OR SourceTranslatedAddress = ?1) "
    .. "AND TimeGenerated >= ?2 AND TimeGenerated <= ?3")
  contains(either, "MULTI-INDEX OR")
  contains(either, "USING INDEX ix_CommonSecurityLog_SourceTranslatedAddress (SourceTranslatedAddress=?")
  contains(plan("SELECT * FROM CommonSecurityLog WHERE DestinationIP IN (SELECT ? UNION SELECT ?) AND TimeGenerated < ?"),
           "USING INDEX ix_CommonSecurityLog_DestinationIP (DestinationIP=?")
  -- (INDEXED BY fails to prepare when the index cannot serve the query)
  contains(plan("SELECT RemoteIP FROM CommonSecurityLog INDEXED BY ix_CommonSecurityLog_RemoteIP "
    .. "WHERE RemoteIP IS NOT NULL AND RemoteIP <> ? AND TimeGenerated >= ? AND TimeGenerated <= ?"),
    "ix_CommonSecurityLog_RemoteIP")
  T.raises(function() plan("SELECT * FROM CommonSecurityLog INDEXED BY ix_CommonSecurityLog_RemoteIP "
    .. "WHERE RemoteIP IS NULL AND TimeGenerated > ? AND ? AND ?") end, "no query solution")
  db:close()
end)

db_case("migrating a version-5 workspace makes the log tables' IP indexes partial, keeps the rows", function()
  local db = fresh()
  local v = schema.PARTIAL_IP_INDEXES - 1
  db:exec("CREATE TABLE _ipe_meta (key TEXT PRIMARY KEY, value TEXT)")
  for _, m in ipairs(schema.migrations) do if m.version <= v then m.up(db) end end
  db:exec("INSERT INTO _ipe_meta VALUES ('schema_version', '" .. v .. "')")
  db:exec("INSERT INTO CommonSecurityLog (TimeGenerated, SourceIP) VALUES ('2026-11-26T10:00:00.000Z', '10.0.0.1'), "
    .. "('2026-11-26T10:01:00.000Z', NULL)")
  local function sql_of(name)
    return db:query("SELECT sql FROM sqlite_master WHERE name = ?", { name })[1][1]
  end
  T.eq(sql_of("ix_CommonSecurityLog_SourceIP"), "CREATE INDEX ix_CommonSecurityLog_SourceIP ON CommonSecurityLog(SourceIP, TimeGenerated)")
  T.eq({ schema.migrate(db) }, { v, schema.VERSION })
  for _, ix in ipairs(schema.index_ddl()) do T.eq(sql_of(ix.name), ix.sql, ix.name) end
  T.eq(sql_of("ix_ThreatIntelligenceIndicator_NetworkIP"),
    "CREATE INDEX ix_ThreatIntelligenceIndicator_NetworkIP ON ThreatIntelligenceIndicator(NetworkIP, TimeGenerated)")
  T.eq(count(db, "SELECT count(*) FROM CommonSecurityLog INDEXED BY ix_CommonSecurityLog_SourceIP WHERE SourceIP = '10.0.0.1'"), 1)
  T.eq(count(db, "SELECT count(*) FROM CommonSecurityLog"), 2)
  db:close()
end)

db_case("migrating a workspace of the version before ipe.migrations.columns adds the columns, keeps the rows", function()
  local db = fresh()
  local v
  for _, m in ipairs(schema.migrations) do if m.module == "ipe.migrations.columns" then v = m.version end end
  db:exec("CREATE TABLE _ipe_meta (key TEXT PRIMARY KEY, value TEXT)")
  for _, m in ipairs(schema.migrations) do if m.version < v then m.up(db) end end
  db:exec("INSERT INTO _ipe_meta VALUES ('schema_version', '" .. (v - 1) .. "')")
  db:exec("INSERT INTO AzureActivity (TimeGenerated, CallerIpAddress, _Extra) "
    .. "VALUES ('2026-11-26T10:00:00.000Z', '203.0.113.9', '{\"Category\":\"Administrative\"}')")
  local function cols(t)
    local out = {}
    for _, r in ipairs(db:query("SELECT name, type FROM pragma_table_info(:t)", { t = t })) do out[#out + 1] = r[1] .. " " .. r[2] end
    return table.concat(out, ",")
  end
  T.ok(not cols("AzureActivity"):find("Category TEXT", 1, true), "before: no AzureActivity.Category")
  T.eq({ schema.migrate(db) }, { v - 1, schema.VERSION })
  T.ok(cols("AzureActivity"):find(",_Extra TEXT,Category TEXT$"), cols("AzureActivity"))
  T.ok(cols("OfficeActivity"):find(",_Extra TEXT,OrganizationName TEXT,Logon_Type TEXT,ExtendedProperties TEXT$"),
    cols("OfficeActivity"))
  T.ok(cols("SecurityEvent"):find(",_Extra TEXT,SourceComputerId TEXT$"), cols("SecurityEvent"))
  -- the row is kept as it was (its Category stays in _Extra: migrate does not re-map old rows)
  T.eq(db:query("SELECT CallerIpAddress, Category IS NULL, _Extra FROM AzureActivity"),
    { { "203.0.113.9", 1, '{"Category":"Administrative"}' } })
  -- the migration is idempotent: run again on the migrated workspace it changes nothing
  local before = db:query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
  require("ipe.migrations.columns").up(db, v)
  T.eq(db:query("SELECT type, name, sql FROM sqlite_master ORDER BY name"), before)
  db:close()
end)

db_case("migrate on a current workspace is a no-op", function()
  local db = fresh()
  schema.migrate(db)
  local before = db:query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
  T.eq({ schema.migrate(db) }, { schema.VERSION, schema.VERSION })
  T.eq(db:query("SELECT type, name, sql FROM sqlite_master ORDER BY name"), before)
  T.eq(db:query("SELECT value FROM _ipe_meta WHERE key = 'schema_version'"), { { tostring(schema.VERSION) } })
  db:close()
end)

db_case("a newer workspace is refused with the exact message", function()
  local db = fresh()
  schema.migrate(db)
  local newer = schema.VERSION + 1
  db:exec("UPDATE _ipe_meta SET value = '" .. newer .. "' WHERE key = 'schema_version'")
  T.eq(T.raises(function() schema.migrate(db) end),
    "workspace schema version " .. newer .. " is newer than this ipe (" .. schema.VERSION .. "); upgrade ipe")
  db:close()
end)

db_case("a schema version that is not a number is refused", function()
  local db = fresh("CREATE TABLE _ipe_meta (key TEXT PRIMARY KEY, value TEXT); " ..
                   "INSERT INTO _ipe_meta VALUES ('schema_version', 'abc')")
  T.eq(T.raises(function() schema.migrate(db) end), "workspace schema version 'abc' is not a version number")
  db:close()
end)

db_case("a database with other tables is not taken over", function()
  local db = fresh("CREATE TABLE people (name TEXT)")
  T.eq(T.raises(function() schema.migrate(db) end), "database is not an ipe workspace: it has tables but no schema version")
  T.eq(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'Syslog'"), 0)
  db:close()
end)

db_case("a failed migration leaves nothing half-made", function()
  local db = fresh("CREATE VIEW Syslog AS SELECT 1 AS x")
  T.eq(T.raises(function() schema.migrate(db) end), "sqlite: view Syslog already exists")
  T.eq(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'CommonSecurityLog'"), 0)
  T.eq(count(db, "SELECT count(*) FROM _ipe_meta"), 0)
  db:close()
end)

db_case("migrate nests in a transaction the caller holds", function()
  local db = fresh()
  db:exec("BEGIN")
  T.eq({ schema.migrate(db) }, { 0, schema.VERSION })
  db:exec("ROLLBACK")
  T.eq(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'CommonSecurityLog'"), 0)
  db:close()
end)

db_case("migrate keeps a journal mode the caller chose", function()
  local db = fresh("PRAGMA journal_mode=OFF")
  schema.migrate(db)
  T.eq(db:query("PRAGMA journal_mode")[1][1], "off")
  db:close()
end)

db_case("atomically undoes its work on error and re-raises it unchanged", function()
  local db = fresh()
  db:exec("CREATE TABLE t (x)")
  local err = T.raises(function()
    schema.atomically(db, "sp", function()
      db:exec("INSERT INTO t VALUES (1)")
      error("boom", 0)
    end)
  end)
  T.eq(err, "boom")
  T.eq(count(db, "SELECT count(*) FROM t"), 0)
  schema.atomically(db, "sp", function() db:exec("INSERT INTO t VALUES (2)") end)
  T.eq(count(db, "SELECT count(*) FROM t"), 1)
  db:close()
end)

for _, p in ipairs(tmpfiles) do
  for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(p .. suffix) end
end

T.done()
