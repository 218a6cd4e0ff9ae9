-- ipe.schema: the Sentinel-shaped SQLite workspace.
--
-- Describes 17 Microsoft Sentinel / Azure Monitor tables with their exact
-- (case-sensitive) column names, where IPs live in each table, the DDL and
-- indexes, and the versioned migrations that create or upgrade a workspace.
--
-- Type mapping (Kusto → SQLite): string/guid → TEXT; datetime → TEXT in the
-- fixed form "YYYY-MM-DDTHH:MM:SS.sssZ" (string order = time order);
-- int/long → INTEGER; real → REAL; bool → INTEGER 0/1; dynamic → TEXT (JSON).
--
-- API
--   schema.VERSION                 integer, the newest workspace version
--   schema.tables                  ordered array of table descriptors:
--     { name, kind, columns = { {name=, type=<kusto>, sql=<sqlite>, since=<version>}, ... } (the
--       version-1 columns, then those later migrations added, in version order),
--       time = "TimeGenerated", ip_columns = {col,...}, ip_json = { {column=, path=}, ... },
--       ip_text = {col,...}, ip_lists = { {column=, shape=}, ... }, host = col|nil, user = col|nil,
--       indexes = { {col,...}, ... } (extra, beyond time and IP indexes) }
--     kind: "log" (activity), "alert", "incident", "ti", "watchlist", "bookmark", "anomaly".
--     ip_lists shapes: "array" (JSON array of IP strings), "entities" (JSON array of
--     entity objects; IPs are {"Type":"ip","Address":...}), "entity_mapping" (JSON
--     object whose "__entityMapping" maps value → entity type, IPs have type "IP").
--     ip_with_port (OfficeActivity only): columns whose IP may carry a port/brackets.
--   schema.table(name)             descriptor or nil
--   schema.column_type(t, c)       kusto type, sqlite type (nil for unknown table/column)
--   schema.ddl([version])          list of SQL statements (tables, then indexes) as of version
--   schema.index_ddl([version])    list of { name=, sql= } for the indexes only (a log table's IP
--                                  column index is partial, WHERE <column> IS NOT NULL, from
--                                  version PARTIAL_IP_INDEXES on: ipe.migrations.ip_indexes)
--   schema.insert_sql(t, cols)     "INSERT INTO t (c1,c2) VALUES (?,?)"
--   schema.migrations              ordered list of { version=, description=, up=function(db), module= }
--                                  (later ones load their module ipe.migrations.* on use)
--   schema.migrate(db)             create/upgrade; returns from_version, to_version
--   schema.atomically(db, name, fn) run fn in SAVEPOINT name (nests in a caller's transaction)
--
-- Errors: every user-triggerable error is raised as a plain string, error(msg, 0).
local M = {}


local SQL_TYPE = {
  string = "TEXT", guid = "TEXT", datetime = "TEXT", dynamic = "TEXT",
  int = "INTEGER", long = "INTEGER", bool = "INTEGER", real = "REAL",
}

-- Column lists are written as "Name:type" tokens; a bare name is a string.
-- "Name+" expands to Name and NameLabel (CEF custom fields).
local function parse_columns(spec)
  local cols = {}
  for token in spec:gmatch("[^%s,]+") do
    local name, kind = token:match("^([^:]+):(%a+)$")
    if not name then name, kind = token, "string" end
    assert(SQL_TYPE[kind], "schema: unknown Kusto type " .. kind)
    local label = name:sub(-1) == "+"
    if label then name = name:sub(1, -2) end
    cols[#cols + 1] = { name = name, type = kind, sql = SQL_TYPE[kind], since = 1 }
    if label then cols[#cols + 1] = { name = name .. "Label", type = "string", sql = "TEXT", since = 1 } end
  end
  return cols
end

-- The common trailer: every Log Analytics table carries these standard columns.
local COMMON = " Type TenantId SourceSystem _ResourceId"

local DEFS = {
  { name = "CommonSecurityLog", kind = "log",
    columns = [[TimeGenerated:datetime StartTime:datetime EndTime:datetime ReceiptTime
      DeviceVendor DeviceProduct DeviceVersion DeviceEventClassID Activity Message
      DeviceAction SimplifiedDeviceAction LogSeverity OriginalLogSeverity EventCount:int
      SourceIP DestinationIP SourceTranslatedAddress DestinationTranslatedAddress DeviceTranslatedAddress
      DeviceAddress RemoteIP MaliciousIP MaliciousIPCountry MaliciousIPLatitude:real MaliciousIPLongitude:real
      ThreatSeverity:int ThreatConfidence ThreatDescription IndicatorThreatType
      SourcePort:int DestinationPort:int SourceTranslatedPort:int DestinationTranslatedPort:int RemotePort
      Protocol ApplicationProtocol CommunicationDirection SentBytes:long ReceivedBytes:long
      Computer DeviceName SourceHostName DestinationHostName DeviceExternalID
      SourceUserName SourceUserID DestinationUserName DestinationUserID
      RequestURL RequestMethod RequestClientApplication DeviceInboundInterface DeviceOutboundInterface
      AdditionalExtensions DeviceCustomString1+ DeviceCustomString2+ DeviceCustomString3+
      DeviceCustomString4+ DeviceCustomString5+ DeviceCustomString6+
      DeviceCustomIPv6Address1+ DeviceCustomIPv6Address2+ DeviceCustomIPv6Address3+ DeviceCustomIPv6Address4+]],
    ip_columns = { "SourceIP", "DestinationIP", "RemoteIP", "SourceTranslatedAddress",
                   "DestinationTranslatedAddress", "MaliciousIP" },
    ip_text = { "Message" }, host = "Computer", user = "SourceUserName" },
  { name = "Syslog", kind = "log",
    columns = [[TimeGenerated:datetime EventTime:datetime Computer HostName HostIP Facility SeverityLevel
      ProcessName ProcessID:int SyslogMessage]],
    ip_columns = { "HostIP" }, ip_text = { "SyslogMessage" }, host = "Computer" },
  { name = "SecurityEvent", kind = "log",
    columns = [[TimeGenerated:datetime EventID:int Activity EventSourceName Channel Task:int Level
      Computer WorkstationName Workstation IpAddress IpPort ClientIPAddress ClientAddress RemoteIpAddress RemotePort
      NASIPv4Address NASIPv6Address CallingStationID
      Account AccountName AccountDomain AccountType TargetAccount TargetUserName TargetDomainName TargetUserSid
      TargetLogonId SubjectAccount SubjectUserName SubjectDomainName SubjectUserSid SubjectLogonId
      LogonType:int LogonTypeName LogonProcessName AuthenticationPackageName
      Status SubStatus FailureReason ProcessName ProcessId EventData]],
    added = { ["ipe.migrations.columns"] = "SourceComputerId" },
    ip_columns = { "IpAddress", "ClientIPAddress", "RemoteIpAddress" }, host = "Computer", user = "Account" },
  { name = "SigninLogs", kind = "log",
    columns = [[TimeGenerated:datetime CreatedDateTime:datetime IPAddress IPAddressFromResourceProvider
      AutonomousSystemNumber Location LocationDetails:dynamic NetworkLocationDetails
      UserPrincipalName UserDisplayName UserId Identity AlternateSignInName UserType
      AppDisplayName AppId ResourceDisplayName ClientAppUsed UserAgent
      ResultType ResultDescription ResultSignature Status:dynamic ConditionalAccessStatus
      ConditionalAccessPolicies:dynamic DeviceDetail:dynamic MfaDetail:dynamic
      RiskLevelAggregated RiskLevelDuringSignIn RiskState RiskDetail RiskEventTypes_V2
      IsInteractive:bool IsRisky:bool CorrelationId Id UniqueTokenIdentifier]],
    ip_columns = { "IPAddress" }, user = "UserPrincipalName" },
  { name = "AuditLogs", kind = "log",
    columns = [[TimeGenerated:datetime ActivityDateTime:datetime OperationName ActivityDisplayName Category
      AADOperationType LoggedByService Result ResultType ResultReason ResultDescription
      InitiatedBy:dynamic TargetResources:dynamic AdditionalDetails:dynamic Identity CorrelationId Id]],
    ip_json = { { column = "InitiatedBy", path = "$.user.ipAddress" } }, user = "Identity" },
  { name = "OfficeActivity", kind = "log",
    columns = [[TimeGenerated:datetime ClientIP Client_IPAddress ActorIpAddress UserId UserKey UserType Actor
      LogonUserSid MailboxOwnerUPN Operation RecordType OfficeWorkload ResultStatus ResultReasonType
      UserAgent ClientInfoString ClientMachineName OfficeObjectId Site_Url SourceFileName Item Parameters
      ElevationTime:datetime]],
    added = { ["ipe.migrations.columns"] = "OrganizationName Logon_Type ExtendedProperties" },
    ip_columns = { "ClientIP", "ActorIpAddress" }, ip_with_port = { "ClientIP" }, user = "UserId" },
  { name = "BehaviorAnalytics", kind = "log",
    columns = [[TimeGenerated:datetime TimeProcessed:datetime SourceIPAddress DestinationIPAddress
      SourceIPLocation DestinationIPLocation SourceDevice DestinationDevice UserName UserPrincipalName
      ActivityType ActionType EventSource InvestigationPriority:int
      ActivityInsights:dynamic UsersInsights:dynamic DevicesInsights:dynamic SourceRecordId]],
    ip_columns = { "SourceIPAddress", "DestinationIPAddress" }, host = "SourceDevice", user = "UserPrincipalName" },
  { name = "Heartbeat", kind = "log",
    columns = [[TimeGenerated:datetime Computer ComputerIP ComputerPrivateIPs:dynamic
      RemoteIPCountry RemoteIPLatitude:real RemoteIPLongitude:real
      OSType OSName OSMajorVersion OSMinorVersion Category Version SCAgentChannel ComputerEnvironment
      ResourceId SubscriptionId ResourceGroup VMUUID IsGatewayInstalled:bool]],
    ip_columns = { "ComputerIP" }, ip_lists = { { column = "ComputerPrivateIPs", shape = "array" } },
    host = "Computer" },
  { name = "SecurityAlert", kind = "alert",
    columns = [[TimeGenerated:datetime StartTime:datetime EndTime:datetime ProcessingEndTime:datetime
      SystemAlertId VendorOriginalId AlertName DisplayName Description AlertType AlertSeverity Status
      ConfidenceLevel ConfidenceScore:real ProductName ProductComponentName ProviderName VendorName
      CompromisedEntity Entities ExtendedProperties Tactics Techniques IsIncident:bool
      AlertLink ExtendedLinks RemediationSteps ResourceId SourceComputerId]],
    ip_lists = { { column = "Entities", shape = "entities" } }, host = "CompromisedEntity",
    indexes = { { "SystemAlertId", "TimeGenerated" } } },
  { name = "SecurityIncident", kind = "incident",
    columns = [[TimeGenerated:datetime CreatedTime:datetime FirstActivityTime:datetime LastActivityTime:datetime
      FirstModifiedTime:datetime LastModifiedTime:datetime ClosedTime:datetime IncidentNumber:int
      IncidentName ProviderIncidentId ProviderName IncidentUrl Title Description Severity Status
      Classification ClassificationReason ClassificationComment Owner:dynamic AlertIds:dynamic
      BookmarkIds:dynamic RelatedAnalyticRuleIds:dynamic Labels:dynamic Comments:dynamic Tasks:dynamic
      AdditionalData:dynamic ModifiedBy]],
    indexes = { { "IncidentNumber", "TimeGenerated" } } },
  { name = "ThreatIntelligenceIndicator", kind = "ti",
    columns = [[TimeGenerated:datetime ExpirationDateTime:datetime IndicatorId ExternalIndicatorId
      NetworkIP NetworkSourceIP NetworkDestinationIP EmailSourceIpAddress
      NetworkCidrBlock NetworkSourceCidrBlock NetworkDestinationCidrBlock
      NetworkPort:int NetworkSourcePort:int NetworkDestinationPort:int NetworkProtocol:int
      NetworkSourceAsn:int NetworkDestinationAsn:int DomainName Url FileHashValue FileHashType
      Active:bool PassiveOnly:bool ThreatSeverity:int ConfidenceScore:real ThreatType Description Tags Action
      TrafficLightProtocolLevel IndicatorProvider ActivityGroupNames MalwareNames
      KillChainActions:bool KillChainC2:bool KillChainDelivery:bool KillChainExploitation:bool
      KillChainReconnaissance:bool KillChainWeaponization:bool]],
    ip_columns = { "NetworkIP", "NetworkSourceIP", "NetworkDestinationIP", "EmailSourceIpAddress" },
    indexes = { { "IndicatorId", "TimeGenerated" } } },
  { name = "Watchlist", kind = "watchlist",
    columns = [[TimeGenerated:datetime _DTTimestamp:datetime CreatedTimeUTC:datetime LastUpdatedTimeUTC:datetime
      TimeToLive:datetime WatchlistId WatchlistName WatchlistAlias _DTItemId WatchlistItemId _DTItemType
      _DTItemStatus SearchKey WatchlistItem:dynamic Provider Source Tags:dynamic Notes DefaultDuration
      EntityMapping:dynamic CreatedBy:dynamic UpdatedBy:dynamic]],
    indexes = { { "SearchKey" }, { "WatchlistAlias" } } },
  { name = "HuntingBookmark", kind = "bookmark",
    columns = [[TimeGenerated:datetime CreatedTime:datetime LastUpdatedTime:datetime EventTime:datetime
      QueryStartTime:datetime QueryEndTime:datetime BookmarkId BookmarkName BookmarkType
      QueryResultRow Entities QueryText Notes Tags CreatedBy UpdatedBy SoftDeleted:bool]],
    ip_lists = { { column = "QueryResultRow", shape = "entity_mapping" }, { column = "Entities", shape = "entities" } } },
  { name = "Anomalies", kind = "anomaly",
    columns = [[TimeGenerated:datetime StartTime:datetime EndTime:datetime Id RuleId RuleName
      AnomalyTemplateId AnomalyTemplateName AnomalyTemplateVersion RuleStatus
      SourceIpAddress DestinationIpAddress SourceLocation:dynamic DestinationLocation:dynamic
      SourceDevice DestinationDevice UserName UserPrincipalName Score:real Description Tactics Techniques
      VendorName Entities:dynamic AnomalyDetails:dynamic AnomalyReasons:dynamic ActivityInsights:dynamic
      DeviceInsights:dynamic UserInsights:dynamic ExtendedProperties:dynamic ExtendedLinks:dynamic]],
    ip_columns = { "SourceIpAddress", "DestinationIpAddress" },
    ip_lists = { { column = "Entities", shape = "entities" } }, host = "SourceDevice", user = "UserPrincipalName" },
  { name = "DeviceNetworkEvents", kind = "log",
    columns = [[TimeGenerated:datetime Timestamp:datetime DeviceId DeviceName MachineGroup ActionType
      RemoteIP LocalIP RemoteIPType LocalIPType RemotePort:int LocalPort:int Protocol RemoteUrl
      InitiatingProcessFileName InitiatingProcessFolderPath InitiatingProcessCommandLine
      InitiatingProcessSHA1 InitiatingProcessSHA256 InitiatingProcessMD5 InitiatingProcessId:long
      InitiatingProcessAccountName InitiatingProcessAccountDomain InitiatingProcessAccountUpn
      InitiatingProcessAccountSid InitiatingProcessRemoteSessionIP ReportId:long AdditionalFields:dynamic]],
    ip_columns = { "RemoteIP", "LocalIP" }, host = "DeviceName", user = "InitiatingProcessAccountName" },
  { name = "DeviceInfo", kind = "log",
    columns = [[TimeGenerated:datetime Timestamp:datetime DeviceId DeviceName AadDeviceId MachineGroup PublicIP
      OSPlatform OSVersion OSDistribution OSArchitecture DeviceType DeviceCategory OSBuild:long
      OnboardingStatus JoinType IsAzureADJoined:bool LoggedOnUsers:dynamic ReportId:long]],
    ip_columns = { "PublicIP" }, host = "DeviceName" },
  { name = "AzureActivity", kind = "log",
    columns = [[TimeGenerated:datetime EventSubmissionTimestamp:datetime CallerIpAddress Caller
      OperationName OperationNameValue CategoryValue ActivityStatus ActivityStatusValue ActivitySubstatusValue
      Level ResourceId ResourceGroup ResourceProviderValue SubscriptionId Authorization Authorization_d:dynamic
      Claims Claims_d:dynamic Properties Properties_d:dynamic HTTPRequest CorrelationId OperationId EventDataId]],
    added = { ["ipe.migrations.columns"] = "Category" },
    ip_columns = { "CallerIpAddress" }, user = "Caller" },
}

-- Later migrations live in modules of their own (ipe.migrations.*), each returning
-- {description = "...", up = function(db) end, tables = {names of ipe's own tables
-- it creates that scripts may read}}; their place in this list is their version
-- (2, 3, ...). Append only: a released version never changes.
-- up(db, version) is given its own version (for schema.ddl / index_ddl as of it).
-- The modules are loaded only when a migration runs (or its description is read): a
-- run that only reads a workspace loads no migration code, and the migrations may
-- require this module at their top. INTERNAL lists the tables of each (what its
-- `tables` says; tests/lua/schema_test.lua checks that they agree).
M.LATER = { "ipe.migrations.response", "ipe.migrations.intel", "ipe.migrations.ingest", "ipe.migrations.rollup",
            "ipe.migrations.peer_flows", "ipe.migrations.ip_indexes", "ipe.migrations.ti_ranges",
            "ipe.migrations.columns" }
M.INTERNAL = {
  ["ipe.migrations.response"] = { "_ipe_audit", "_ipe_ip_ranges" },
  ["ipe.migrations.intel"] = { "_ipe_intel_cache" },
  ["ipe.migrations.rollup"] = { "_ipe_ip_activity", "_ipe_ip_traffic", "_ipe_ip_peers", "_ipe_ip_queries" },
  ["ipe.migrations.ti_ranges"] = { "_ipe_ti_ranges" },
}
local version_of = {}
for i, name in ipairs(M.LATER) do version_of[name] = i + 1 end

-- A table's columns: those of version 1, then each later migration's `added` ones (a
-- migration adds them at the end of the table, after _Extra: t.columns keeps that order).
local function table_columns(def)
  local cols = parse_columns(def.columns .. COMMON)
  for module in pairs(def.added or {}) do assert(version_of[module], "schema: no migration " .. module) end
  for i, module in ipairs(M.LATER) do
    for _, c in ipairs(parse_columns(def.added and def.added[module] or "")) do
      c.since = i + 1
      cols[#cols + 1] = c
    end
  end
  return cols
end

M.tables = {}
local by_name = {}

for _, def in ipairs(DEFS) do
  local t = {
    name = def.name, kind = def.kind, time = "TimeGenerated",
    columns = table_columns(def),
    ip_columns = def.ip_columns or {}, ip_json = def.ip_json or {}, ip_text = def.ip_text or {},
    ip_lists = def.ip_lists or {}, ip_with_port = def.ip_with_port or {},
    host = def.host, user = def.user, indexes = def.indexes or {},
  }
  t.by_name = {}
  for i, c in ipairs(t.columns) do
    assert(not t.by_name[c.name], "schema: duplicate column " .. def.name .. "." .. c.name)
    t.by_name[c.name] = c
    c.index = i
  end
  M.tables[#M.tables + 1] = t
  by_name[t.name] = t
end

function M.table(name) return by_name[name] end

function M.column_type(tname, cname)
  local t = by_name[tname]
  local c = t and t.by_name[cname]
  if not c then return nil end
  return c.type, c.sql
end

local function need_table(tname)
  local t = by_name[tname]
  if not t then error(string.format("unknown table '%s'", tostring(tname)), 0) end
  return t
end

local function quote_literal(s) return "'" .. s:gsub("'", "''") .. "'" end

local function create_table_sql(t, version)
  local defs = {}
  for _, c in ipairs(t.columns) do
    if c.since <= version then
      local d = c.name .. " " .. c.sql
      if c.name == "Type" then d = d .. " DEFAULT " .. quote_literal(t.name) end
      defs[#defs + 1] = d
    end
  end
  return "CREATE TABLE " .. t.name .. " (" .. table.concat(defs, ", ") .. ")"
end

-- "$.user.ipAddress" → "user_ipAddress" (for index names)
local function path_suffix(path) return (path:gsub("^%$%.?", ""):gsub("[^%w]+", "_")) end

-- Index list of one table as of a version: { {name=, sql=}, ... }.
local function table_indexes(t, version)
  local out, seen = {}, {}
  local function add(name, on, set)
    assert(not seen[name], "schema: duplicate index " .. name)
    seen[name] = true
    out[#out + 1] = { name = name, sql = "CREATE INDEX " .. name .. " ON " .. t.name .. "(" .. on .. ")"
      .. (set and " WHERE " .. set .. " IS NOT NULL" or "") }
  end
  local function present(c) return t.by_name[c] and t.by_name[c].since <= version end
  -- from ipe.migrations.ip_indexes on, a log table's IP column index holds only the rows that have it
  local partial = t.kind == "log" and version >= M.PARTIAL_IP_INDEXES
  add("ix_" .. t.name .. "_TimeGenerated", "TimeGenerated")
  for _, c in ipairs(t.ip_columns) do
    if present(c) then add("ix_" .. t.name .. "_" .. c, c .. ", TimeGenerated", partial and c) end
  end
  for _, j in ipairs(t.ip_json) do
    if present(j.column) then
      add("ix_" .. t.name .. "_" .. j.column .. "_" .. path_suffix(j.path),
          "json_extract(" .. j.column .. ", " .. quote_literal(j.path) .. "), TimeGenerated")
    end
  end
  for _, cols in ipairs(t.indexes) do
    local ok = true
    for _, c in ipairs(cols) do ok = ok and present(c) end
    if ok then add("ix_" .. t.name .. "_" .. cols[1], table.concat(cols, ", ")) end
  end
  return out
end

local function check_version(version)
  version = version or M.VERSION
  if type(version) ~= "number" or version < 1 or version > M.VERSION or version % 1 ~= 0 then
    error(string.format("schema version %s does not exist (1..%d)", tostring(version), M.VERSION), 0)
  end
  return version
end

function M.index_ddl(version)
  version = check_version(version)
  local out = {}
  for _, t in ipairs(M.tables) do
    for _, ix in ipairs(table_indexes(t, version)) do out[#out + 1] = ix end
  end
  return out
end

function M.ddl(version)
  version = check_version(version)
  local out = {}
  for _, t in ipairs(M.tables) do out[#out + 1] = create_table_sql(t, version) end
  for _, ix in ipairs(M.index_ddl(version)) do out[#out + 1] = ix.sql end
  return out
end

function M.insert_sql(tname, columns)
  local t = need_table(tname)
  if type(columns) ~= "table" or #columns == 0 then
    error(string.format("no columns given for an insert into '%s'", t.name), 0)
  end
  local seen, marks = {}, {}
  for i, c in ipairs(columns) do
    if not t.by_name[c] then error(string.format("table '%s' has no column '%s'", t.name, tostring(c)), 0) end
    if seen[c] then error(string.format("column '%s' is given twice for an insert into '%s'", c, t.name), 0) end
    seen[c] = true
    marks[i] = "?"
  end
  return "INSERT INTO " .. t.name .. " (" .. table.concat(columns, ",") .. ") VALUES (" .. table.concat(marks, ",") .. ")"
end

-- Migrations: each moves a workspace from version-1 to version. A fresh
-- workspace runs all of them in order, so migration 1 creates the version-1
-- schema (columns added later carry since = N and are added by migration N).
M.migrations = {
  { version = 1, description = "create the Sentinel tables and indexes",
    up = function(db) for _, sql in ipairs(M.ddl(1)) do db:exec(sql) end end },
}

local internal = {}
local LAZY = { __index = function(m, k) if k == "description" then return require(m.module).description end end }
for i, name in ipairs(M.LATER) do
  local version = i + 1
  M.migrations[#M.migrations + 1] = setmetatable({ version = version, module = name,
    up = function(db) return require(name).up(db, version) end }, LAZY)
  for _, t in ipairs(M.INTERNAL[name] or {}) do internal[t] = true end
  if name == "ipe.migrations.ip_indexes" then M.PARTIAL_IP_INDEXES = version end
end

-- internal(name): one of ipe's own tables (not Sentinel's) that scripts may read.
function M.internal(name) return internal[name] == true end
M.VERSION = #M.migrations

local META = "CREATE TABLE IF NOT EXISTS _ipe_meta (key TEXT PRIMARY KEY, value TEXT)"

local function workspace_version(db)
  local rows = db:query("SELECT value FROM _ipe_meta WHERE key = 'schema_version'")
  if #rows == 0 then return 0 end
  local v = rows[1][1]
  local n = tonumber(v)
  if not n or n < 0 or n % 1 ~= 0 then
    error(string.format("workspace schema version '%s' is not a version number", tostring(v)), 0)
  end
  return n
end

local function has_foreign_tables(db)
  local rows = db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name <> '_ipe_meta' " ..
                        "AND name NOT LIKE 'sqlite_%'")
  return rows[1][1] > 0
end

-- Run fn inside a savepoint: it works both as an outermost transaction and
-- nested in a transaction the caller holds. On error everything fn did is
-- undone and the error propagates unchanged.
function M.atomically(db, name, fn)
  db:exec("SAVEPOINT " .. name)
  local ok, err = pcall(fn)
  if not ok then
    pcall(db.exec, db, "ROLLBACK TO " .. name)
    pcall(db.exec, db, "RELEASE " .. name)
    error(err, 0)
  end
  db:exec("RELEASE " .. name)
end

-- migrate(db): create or upgrade the workspace behind an open writable
-- connection. Returns the version found and the version now in place.
-- A connection still in SQLite's default rollback-journal mode ("delete") is
-- switched to WAL (outside a transaction); a mode the caller chose (off,
-- memory, wal, ...) is kept.
function M.migrate(db)
  -- a foreign or newer database is refused before anything is written to it
  local meta = db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ipe_meta'")[1][1]
  local from = meta == 1 and workspace_version(db) or 0
  if from > M.VERSION then
    error(string.format("workspace schema version %d is newer than this ipe (%d); upgrade ipe", from, M.VERSION), 0)
  end
  if from == 0 and has_foreign_tables(db) then
    error("database is not an ipe workspace: it has tables but no schema version", 0)
  end
  local mode = db:query("PRAGMA journal_mode")[1]
  -- (inside a caller's transaction SQLite cannot switch; the mode is then left as it is)
  if mode and mode[1] == "delete" then pcall(db.exec, db, "PRAGMA journal_mode=WAL") end
  db:exec(META)
  if from == M.VERSION then return from, from end
  M.atomically(db, "ipe_migrate", function()
    local set = db:prepare("INSERT OR REPLACE INTO _ipe_meta (key, value) VALUES ('schema_version', ?)")
    for _, m in ipairs(M.migrations) do
      if m.version > from then
        m.up(db)
        set:run(tostring(m.version))
      end
    end
  end)
  return from, M.VERSION
end

-- require_version(shown, version, current, create): the one check of a workspace's schema
-- version against the engine's current one, for every engine (shown names the workspace: a
-- path or a clickhouse:// URL without its password; create says how to make one); raises a
-- not-found error (exit 3) saying what to do.
function M.require_version(shown, version, current, create)
  local errors = require "ipe.errors"
  if not version or version == 0 then
    errors.not_found("%s is not an ipe workspace (no schema version); %s", shown, create)
  end
  if version > current then
    errors.not_found("workspace schema version %d is newer than this ipe (%d); upgrade ipe", version, current)
  end
  if version < current then
    errors.not_found("workspace %s has schema version %d, this ipe needs %d; upgrade it with 'ipe-run migrate --db %s'",
      shown, version, current, shown)
  end
end

return M
