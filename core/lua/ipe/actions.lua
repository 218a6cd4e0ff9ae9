-- ipe.actions: ctx.actions — the one way anything changes the workspace.
--
-- Only actions get it: for an insight or a hunt, touching ctx.actions raises
-- "ctx.actions is only for actions: ...". Reads go through ctx.db (read-only,
-- recorded); writes go through this module's own writable connection, one
-- transaction per operation that also holds its audit row (_ipe_audit), so an
-- operation is either done and recorded or not done at all. Without --execute
-- (req.execute) every operation only plans: it reads the current state, says
-- what it would do, and writes nothing — not even the tables it would create.
--
-- Scripts see (ctx.actions):
--   executing, user, now             --execute given?; the operator (ipe-run serve) or the OS user; the run's time (text)
--   param_error(name, msg)           raise a parameter error (exit 2) in the runtime's wording
--   required(name, help)             raise "parameter 'x' is required (help)"
--   ip(v, name) / cidr(v, name)      validated, normalized (nil for "")
--   expiry(v, name)                  a duration ("30d") or a time in the future -> time text
--   tags(v)                          "a, b" -> { "a", "b" }
--   indicator_add{ip=, action=, threat_type=, confidence=, severity=, description=, tags=, tlp=, expires=}
--   indicators_export{format = "stix"}   the live indicators as a STIX 2.1 bundle (the run's artifact)
--   range_add{name=, cidrs=, category=, tags=}, range_remove{name=, cidr=}
--   ranges{contains = ip|cidr|nil}   -> rows, columns (read-only)
--   activity_log{ip=, limit=}        -> rows, columns (read-only; every table that mentions the IP)
--   hunt_open{hunt=, ip=, run=}      ask ipe-run to open (or run) a hunt once the script is done
--   report()                         -> result.output: the plan or what was done
-- Each write operation returns its step {operation=, target=, change=, detail=}.
-- change: create | update | unchanged | remove | absent (and export, run, edit).
--
-- Errors: user errors are raised as one-line strings, error(msg, 0); a parameter
-- error also marks the run record (outcome "param" -> exit 2), an unknown hunt
-- "not_found" (exit 3). Writing a read-only workspace fails with
-- "the workspace <path> is read-only (...); nothing was changed".
local ipaddr = require "ipe.ipaddr"
local timeutil = require "ipe.timeutil"
local result = require "ipe.result"
local response = require "ipe.migrations.response"
local bit = require "bit"
local dbrules = require "ipe.db"

local M = {}

M.PROVIDER = "ipe"               -- IndicatorProvider of indicators added here
M.SOURCE_SYSTEM = "SecurityInsights"   -- SourceSystem, as for indicators created in Sentinel itself
M.ACTIONS = { "alert", "block", "allow" }
M.THREAT_TYPES = { "MaliciousActivity", "C2", "Botnet", "Malware", "Phishing", "Proxy", "Darknet",
                   "Anonymization", "Compromised", "Benign", "Unknown" }
M.TLP = { "white", "green", "amber", "red" }

local null = require("cjson").null

-- A step's change in the past tense, for the audit trail.
M.PAST = { create = "created", update = "updated", unchanged = "unchanged", remove = "removed", absent = "absent",
           export = "exported", edit = "edited", run = "ran" }
local function present(v) return v ~= nil and v ~= null and v ~= "" end

---------------------------------------------------------------------------
-- Writing (trusted: also used by ipe-run itself, e.g. for go-hunt's audit row)
---------------------------------------------------------------------------

local function write_error(path, err)
  local msg = tostring(err):gsub("^sqlite: ", "")
  if msg:find("readonly", 1, true) or msg:find("read%-only") or msg:find("unable to open", 1, true)
     or msg:find("^file mode") then
    return string.format("the workspace %s is read-only (%s); nothing was changed", path, msg)
  end
  return string.format("cannot write the workspace %s (%s); nothing was changed", path, msg)
end
M.write_error = write_error

-- open_writer(path) -> connection (raises a one-line error)
-- A workspace file without any write permission bit (chmod a-w) is read-only
-- for ipe even when the user could write it anyway (root): the bits are the
-- owner's statement that it must not change.
function M.open_writer(path)
  if require("ipe.clickhouse").is_url(path) then return require("ipe.clickhouse_response").open_writer(path) end
  local sqlite = require "ipe.sqlite"
  local st = require("ipe.fs").stat(path)
  if st and bit.band(st.mode, 146) == 0 then   -- 146 = 0222
    error(write_error(path, string.format("file mode %04o", st.mode)), 0)
  end
  local db, err = sqlite.open(path, "rw")
  if not db then error(write_error(path, err), 0) end
  local ok, e = pcall(require("ipe.workspace").verify, db, path)
  if not ok then db:close() error(e, 0) end
  return db
end

-- transaction(db, path, fn): fn(db) inside BEGIN IMMEDIATE ... COMMIT, with the
-- response tables in place; on any error everything is rolled back.
function M.transaction(db, path, fn)
  if db.dialect == "clickhouse" then   -- no transactions: the writes go out when fn succeeds
    local ok, res = pcall(db.transaction, db, fn)
    if not ok then
      if require("ipe.errors").is(res) then error(write_error(path, res.msg), 0) end
      error(res, 0)
    end
    return res
  end
  local ok, err = pcall(db.exec, db, "BEGIN IMMEDIATE")
  if not ok then error(write_error(path, err), 0) end
  local ok2, res = pcall(function() response.up(db) return fn(db) end)
  if ok2 then ok2, err = pcall(db.exec, db, "COMMIT") end
  if not ok2 then
    pcall(db.exec, db, "ROLLBACK")
    local e = res or err
    if type(e) == "string" and e:find("^sqlite: ") then error(write_error(path, e), 0) end
    error(e, 0)
  end
  return res
end

-- audit_insert(db, row): row = {time=, user=, action=, operation=, target=, parameters=(json text), result=, details=}
function M.audit_insert(db, row)
  db:query("INSERT INTO " .. response.AUDIT .. " (TimeGenerated, User, Action, Operation, Target, Parameters, "
    .. "Result, Details) VALUES (:t, :u, :a, :o, :g, :p, :r, :d)",
    { t = row.time, u = row.user, a = row.action, o = row.operation, g = row.target or null,
      p = row.parameters or "{}", r = row.result, d = row.details or null })
end

-- record(path, row): one audit row in its own transaction (ipe-run uses it after go-hunt).
function M.record(path, row)
  local db = M.open_writer(path)
  local ok, err = pcall(M.transaction, db, path, function(d) M.audit_insert(d, row) end)
  db:close()
  if not ok then error(err, 0) end
end

-- The parameters of a run record as a JSON object, in declared order.
function M.params_json(ordered)
  local json = require "ipe.render.json"
  local list = {}
  for i, p in ipairs(ordered or {}) do
    local v = p.value
    if type(v) == "table" then v = json.array(v) end
    list[i] = { p.name, v }
  end
  return json.encode(json.object(list))
end

local function details_json(t)
  local json = require "ipe.render.json"
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local list = {}
  for i, k in ipairs(keys) do list[i] = { k, t[k] } end
  return json.encode(json.object(list))
end

---------------------------------------------------------------------------
-- Indicators
---------------------------------------------------------------------------

local LATEST_INDICATOR = [[
SELECT rowid AS RowId, * FROM ThreatIntelligenceIndicator
WHERE NetworkIP = :ip AND IndicatorProvider = :provider
ORDER BY TimeGenerated DESC, rowid DESC]]

local COMPARED = { "Action", "ThreatType", "ConfidenceScore", "ThreatSeverity", "Description", "Tags",
                   "TrafficLightProtocolLevel", "ExpirationDateTime", "Active" }

local function later(t, than)   -- a version's time strictly after the previous one
  if than and t <= than then
    return timeutil.format_time(timeutil.parse_workspace_time(than) + 0.001)
  end
  return t
end

-- ClickHouse: the columns plan_indicator reads, the times as workspace text
local function latest_indicator_ch(query)
  local tt = query("SELECT argMax(value, Version) AS v FROM _ipe_meta WHERE key = 'time_type'", {})[1].v
  local chs = require("ipe.dialect.clickhouse").new({ time_type = tt })
  local cols = { "IndicatorId", "ExternalIndicatorId" }
  for _, c in ipairs(COMPARED) do if c ~= "ExpirationDateTime" then cols[#cols + 1] = c end end
  return "SELECT " .. table.concat(cols, ", ") .. ", " .. chs.time_text("TimeGenerated") .. " AS TimeGenerated, "
    .. chs.time_text("ExpirationDateTime") .. " AS ExpirationDateTime FROM ThreatIntelligenceIndicator\n"
    .. "WHERE NetworkIP = :ip AND IndicatorProvider = :provider\nORDER BY TimeGenerated DESC"
end

-- plan_indicator(query, spec, now, clickhouse) -> change, row (the version to write), versions so far
local function plan_indicator(query, spec, now, clickhouse)
  local cjson = require "cjson"
  local rows = query(clickhouse and latest_indicator_ch(query) or LATEST_INDICATOR, { ip = spec.ip, provider = M.PROVIDER })
  local last = rows[1]
  local row = {
    TimeGenerated = later(now, last and last.TimeGenerated), ExpirationDateTime = spec.expires,
    IndicatorId = last and last.IndicatorId or M.indicator_id(spec.ip, now),
    ExternalIndicatorId = last and last.ExternalIndicatorId
      or ("indicator--" .. require("ipe.stix").uuid("ipe:indicator:" .. spec.ip .. ":" .. now)),
    NetworkIP = spec.ip, Active = 1, PassiveOnly = 0, ThreatSeverity = spec.severity,
    ConfidenceScore = spec.confidence, ThreatType = spec.threat_type, Description = spec.description,
    Tags = cjson.encode(spec.tags), Action = spec.action, TrafficLightProtocolLevel = spec.tlp,
    IndicatorProvider = M.PROVIDER, SourceSystem = M.SOURCE_SYSTEM, KillChainC2 = spec.threat_type == "C2" and 1 or 0,
  }
  if #spec.tags == 0 then row.Tags = "[]" end
  if not last then return "create", row, 0 end
  local same = type(last.ExpirationDateTime) == "string" and last.ExpirationDateTime > now
  for _, k in ipairs(COMPARED) do
    if last[k] ~= row[k] then same = false end
  end
  if same then return "unchanged", last, #rows end
  return "update", row, #rows
end

-- indicator_id(ip, now): 64 upper-case hex digits, like Sentinel's IndicatorId.
function M.indicator_id(ip, now)
  return require("ipe.stix").hex("ipe:indicator-id:" .. ip .. ":" .. now, 64):upper()
end

local INDICATOR_COLUMNS = { "TimeGenerated", "ExpirationDateTime", "IndicatorId", "ExternalIndicatorId", "NetworkIP",
  "Active", "PassiveOnly", "ThreatSeverity", "ConfidenceScore", "ThreatType", "Description", "Tags", "Action",
  "TrafficLightProtocolLevel", "IndicatorProvider", "SourceSystem", "KillChainC2" }

local function insert_indicator(db, row)
  local schema = require "ipe.schema"
  local st = db:prepare(schema.insert_sql("ThreatIntelligenceIndicator", INDICATOR_COLUMNS))
  local vals = {}
  for i, c in ipairs(INDICATOR_COLUMNS) do vals[i] = row[c] == nil and null or row[c] end
  st:run(unpack(vals, 1, #INDICATOR_COLUMNS))
  st:finalize()
end

---------------------------------------------------------------------------
-- Ranges
---------------------------------------------------------------------------

local function ranges_of(query, name)
  return query("SELECT Name, Cidr, Category, Tags, CreatedBy, CreatedTime, UpdatedBy, LastUpdatedTime FROM "
    .. response.RANGES .. " WHERE Name = :name ORDER BY Cidr", { name = name })
end

---------------------------------------------------------------------------
-- Activity log
---------------------------------------------------------------------------

-- activity(db) -> per table: who acted, what happened, how it ended (SQL over that table's
-- columns, through db's helpers: the same text on both engines).
function M.activity(db)
  local function txt(col) return db:text(col) end   -- a number joined with ||
  return {
  CommonSecurityLog = { actor = "COALESCE(SourceUserName, SourceHostName, SourceIP)",
    operation = "COALESCE(Activity, 'traffic') || ' ' || COALESCE(SourceIP, '?') || ' -> ' || COALESCE(DestinationIP, '?')"
      .. " || COALESCE(':' || " .. txt("DestinationPort") .. ", '') || COALESCE('/' || lower(Protocol), '')",
    result = "DeviceAction" },
  Syslog = { actor = "Computer", operation = "COALESCE(ProcessName, Facility)", result = "SyslogMessage" },
  SecurityEvent = { actor = "COALESCE(TargetAccount, Account)", operation = "Activity",
    result = "CASE WHEN EventID = 4624 THEN 'success' WHEN EventID = 4625 THEN 'failure ' || COALESCE(SubStatus, Status, '') "
      .. "ELSE Status END" },
  SigninLogs = { actor = "UserPrincipalName", operation = "'sign-in to ' || COALESCE(AppDisplayName, '?')",
    result = "CASE WHEN ResultType = '0' THEN 'success' ELSE 'failure ' || COALESCE(ResultType, '') END" },
  AuditLogs = { actor = "COALESCE(" .. db:json("InitiatedBy", "user.userPrincipalName") .. ", "
      .. db:json("InitiatedBy", "app.displayName") .. ", Identity)",
    operation = "OperationName", result = "Result" },
  OfficeActivity = { actor = "UserId", operation = "COALESCE(OfficeWorkload || ': ', '') || Operation",
    result = "ResultStatus" },
  BehaviorAnalytics = { actor = "COALESCE(UserPrincipalName, UserName)",
    operation = "COALESCE(ActivityType, '?') || COALESCE(': ' || ActionType, '')",
    result = "'investigation priority ' || COALESCE(" .. txt("InvestigationPriority") .. ", '0')" },
  Heartbeat = { actor = "Computer", operation = "'agent heartbeat (' || COALESCE(Category, '?') || ')'",
    result = "COALESCE(OSName, OSType)" },
  SecurityAlert = { actor = "CompromisedEntity", operation = "'alert: ' || COALESCE(AlertName, DisplayName)",
    result = "COALESCE(AlertSeverity, '?') || ' / ' || " .. dbrules.status() },
  ThreatIntelligenceIndicator = { actor = "COALESCE(IndicatorProvider, SourceSystem)",
    operation = "'indicator: ' || COALESCE(ThreatType, '?') || ' (' || COALESCE(Action, '?') || ')'",
    result = "CASE WHEN Active = 1 THEN 'active' ELSE 'inactive' END || ', expires ' || COALESCE("
      .. db:time_text("ExpirationDateTime") .. ", '-')" },
  HuntingBookmark = { actor = "CASE WHEN " .. db:json_valid("CreatedBy") .. " THEN " .. db:json("CreatedBy", "Name")
      .. " ELSE CreatedBy END",
    operation = "'bookmark: ' || COALESCE(BookmarkName, '?')", result = "Notes" },
  Anomalies = { actor = "COALESCE(UserPrincipalName, SourceDevice)", operation = "'anomaly: ' || COALESCE(AnomalyTemplateName, '?')",
    result = "'score ' || COALESCE(" .. txt("Score") .. ", '?')" },
  DeviceNetworkEvents = { actor = "DeviceName",
    -- the connection's own direction (ipe.db's rule), to the accepting side's port
    operation = "COALESCE(InitiatingProcessFileName, '?') || ' ' || CASE WHEN " .. dbrules.connection_inbound()
      .. " THEN COALESCE(RemoteIP, '?') || ' -> ' || COALESCE(LocalIP, '?') || COALESCE(':' || " .. txt("LocalPort") .. ", '')"
      .. " WHEN " .. dbrules.connection_listening() .. " THEN 'listening on ' || COALESCE(LocalIP, '?')"
      .. " || COALESCE(':' || " .. txt("LocalPort") .. ", '')"
      .. " ELSE COALESCE(LocalIP, '?') || ' -> ' || COALESCE(RemoteIP, '?') || COALESCE(':' || " .. txt("RemotePort")
      .. ", '') END",
    result = "ActionType" },
  DeviceInfo = { actor = "DeviceName", operation = "'device inventory'", result = "OnboardingStatus" },
  AzureActivity = { actor = "Caller", operation = "COALESCE(OperationNameValue, OperationName)", result = "ActivityStatusValue" },
  Watchlist = { actor = "CASE WHEN " .. db:json_valid("UpdatedBy") .. " THEN " .. db:json("UpdatedBy", "name") .. " END",
    operation = "'watchlist ' || COALESCE(WatchlistAlias, '?') || ' item'", result = "_DTItemStatus" },
  }
end

-- activity_sql(db, with_audit) -> SQL over every table that can mention :ip (from the schema):
-- TimeGenerated as workspace time text, newest first, at most :limit rows.
function M.activity_sql(db, with_audit)
  local schema = require "ipe.schema"
  local hunting = require "ipe.hunting"
  local by_table, order = {}, {}
  for _, src in ipairs(hunting.ip_sources()) do
    if not by_table[src.table] then by_table[src.table] = {}; order[#order + 1] = src.table end
    table.insert(by_table[src.table], hunting.ip_predicate(db, src, "ip"))
  end
  local activity = M.activity(db)
  local parts = {}
  for _, tname in ipairs(order) do
    local t = schema.table(tname)
    local m = activity[tname] or { actor = t.user or t.host or "NULL", operation = "'" .. tname .. " row'", result = "NULL" }
    parts[#parts + 1] = string.format("  SELECT %s AS Time, '%s' AS TableName, %s AS Actor, %s AS Operation, %s AS Result\n"
      .. "  FROM %s WHERE %s\n    AND (%s)", db:time_text("TimeGenerated"), tname, m.actor, m.operation, m.result, tname,
      db:window("TimeGenerated"), table.concat(by_table[tname], "\n      OR "))
  end
  if with_audit then   -- the audit trail's times are workspace time text on both engines
    parts[#parts + 1] = "  SELECT TimeGenerated, '" .. response.AUDIT .. "', User, "
      .. "'ipe-run action ' || Action || ': ' || Operation, Result\n  FROM " .. response.AUDIT .. " WHERE Target = :ip AND "
      .. "TimeGenerated >= :from AND TimeGenerated <= :to"
  end
  return "SELECT Time AS TimeGenerated, TableName, Actor, Operation, Result FROM (\n" .. table.concat(parts, "\n  UNION ALL\n")
    .. "\n)\nORDER BY TimeGenerated DESC, TableName DESC, Actor DESC, Operation DESC, Result DESC\nLIMIT :limit"
end

---------------------------------------------------------------------------
-- The service
---------------------------------------------------------------------------

local function table_exists(query, name, clickhouse)
  local rows = query(clickhouse and "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = :name"
    or "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :name", { name = name })
  return rows[1].n > 0
end

function M.service(req, ctx, rec)
  if ctx.kind ~= "action" then
    error(string.format("ctx.actions is only for actions: %s %s cannot change anything (insights and hunts are "
      .. "read-only; write an action in actions/ and run it with 'ipe-run action')",
      ctx.kind == "insight" and "an" or "a", ctx.kind), 0)
  end
  local A = {
    executing = req.execute == true, user = req.operator or require("ipe.proc").user(), now = req.now_text,
  }
  local label = "action '" .. ctx.name .. "'"
  local steps, writer = {}, nil
  local path = req.db_path
  local ch = require("ipe.clickhouse").is_url(path)

  local function read(sql, binds) return (ctx.db:records(sql, binds)) end

  -- fn(db, query) inside one transaction of the writable connection
  local function with_writer(fn)
    if not writer then writer = M.open_writer(path) end
    return M.transaction(writer, path, function(db)
      return fn(db, function(sql, binds) return (M.records(db, sql, binds)) end)
    end)
  end

  local function audit(db, step, extra)
    M.audit_insert(db, { time = A.now, user = A.user, action = ctx.name, operation = step.operation,
      target = step.target, parameters = M.params_json(rec.params), result = M.PAST[step.change] .. ": " .. step.result,
      details = extra and details_json(extra) or nil })
  end

  local function add_step(step)
    steps[#steps + 1] = step
    return step
  end

  function A.param_error(name, msg)
    rec.outcome = "param"
    error(string.format("%s: parameter '%s': %s", label, name, msg), 0)
  end
  function A.required(name, help)
    rec.outcome = "param"
    error(string.format("%s: parameter '%s' is required (%s)", label, name, help), 0)
  end
  function A.ip(v, name)
    if not present(v) then return nil end
    local ip, err = ipaddr.normalize(tostring(v))
    if not ip then A.param_error(name, err) end
    return ip
  end
  function A.cidr(v, name)
    if not present(v) then return nil end
    local c, err = ipaddr.parse_cidr(tostring(v))
    if not c then A.param_error(name, err) end
    return c.text
  end
  function A.expiry(v, name)
    local now = timeutil.parse_workspace_time(A.now)
    local secs = timeutil.parse_duration(tostring(v))
    local t = secs and now + secs
    if not t then
      t = timeutil.parse_time(tostring(v))
      if not t then
        A.param_error(name, ipaddr.quote(v) .. " is neither a duration (e.g. 30d) nor a time (ISO 8601)")
      end
      if t <= now then A.param_error(name, ipaddr.quote(v) .. " is in the past (now is " .. A.now .. ")") end
    end
    return timeutil.format_time(t)
  end
  function A.tags(v)
    local out = {}
    for t in tostring(v or ""):gmatch("[^,]+") do
      t = t:match("^%s*(.-)%s*$")
      if t ~= "" then out[#out + 1] = t end
    end
    return out
  end

  function A.indicator_add(spec)
    local step = { operation = "indicator.add", target = spec.ip }
    local function describe(change, row, versions)
      step.change = change
      step.version = change == "unchanged" and versions or versions + 1
      step.indicator_id = row.IndicatorId
      step.result = string.format("IndicatorId %s, version %d", row.IndicatorId, step.version)
      step.detail = string.format("%s %s, confidence %s, severity %s, TLP %s, expires %s", tostring(row.Action),
        tostring(row.ThreatType), tostring(row.ConfidenceScore), tostring(row.ThreatSeverity),
        tostring(row.TrafficLightProtocolLevel), tostring(row.ExpirationDateTime))
    end
    if not A.executing then
      local change, row, versions = plan_indicator(read, spec, A.now, ch)
      describe(change, row, versions)
      return add_step(step)
    end
    with_writer(function(db, query)
      local change, row, versions = plan_indicator(query, spec, A.now, ch)
      if change ~= "unchanged" then insert_indicator(db, row) end
      describe(change, row, versions)
      audit(db, step, { IndicatorId = row.IndicatorId, ExternalIndicatorId = row.ExternalIndicatorId,
                        Version = step.version, ExpirationDateTime = row.ExpirationDateTime })
    end)
    return add_step(step)
  end

  function A.indicators_export(spec)
    local format = spec and spec.format or "stix"
    if format ~= "stix" then A.param_error("export", ipaddr.quote(format) .. " is not an export format (use stix)") end
    local stix = require "ipe.stix"
    local rows = read(ctx.db:ti_export(), { now = A.now })
    local text, count, skipped = stix.bundle(rows, { seed = A.now })
    rec.artifact = { format = "stix", text = text, count = count }
    return add_step({ operation = "indicators.export", target = "live indicators", change = "export",
      result = string.format("%d indicator(s) as a STIX 2.1 bundle", count),
      detail = #skipped > 0 and (#skipped .. " without an observable left out") or "" })
  end

  function A.range_add(spec)
    local cjson = require "cjson"
    local tags = #spec.tags > 0 and cjson.encode(spec.tags) or "[]"
    local step = { operation = "range.add", target = spec.name }
    local function plan(query)
      local rows = table_exists(query, response.RANGES, ch) and ranges_of(query, spec.name) or {}
      local have, new = {}, {}
      for _, r in ipairs(rows) do have[r.Cidr] = r end
      for _, c in ipairs(spec.cidrs) do if not have[c] then new[#new + 1] = c end end
      local relabel = false
      for _, r in ipairs(rows) do if r.Category ~= spec.category or r.Tags ~= tags then relabel = true end end
      local change = #rows == 0 and "create" or ((#new > 0 or relabel) and "update" or "unchanged")
      step.change = change
      step.result = string.format("%d network(s) added%s", #new, relabel and ", category and tags set" or "")
      step.detail = table.concat(spec.cidrs, ", ") .. " — " .. spec.category .. (#spec.tags > 0 and
        " [" .. table.concat(spec.tags, ", ") .. "]" or "")
      return rows, new, relabel
    end
    if not A.executing then plan(read) return add_step(step) end
    with_writer(function(db, query)
      local rows, new, relabel = plan(query)
      local created = rows[1] and rows[1].CreatedTime or A.now
      local creator = rows[1] and rows[1].CreatedBy or A.user
      for _, c in ipairs(new) do
        db:query("INSERT INTO " .. response.RANGES .. " (Name, Cidr, Category, Tags, CreatedBy, CreatedTime, UpdatedBy, "
          .. "LastUpdatedTime) VALUES (:n, :c, :cat, :t, :cb, :ct, :ub, :ut)",
          { n = spec.name, c = c, cat = spec.category, t = tags, cb = creator, ct = created, ub = A.user, ut = A.now })
      end
      if relabel or #new > 0 then
        db:query("UPDATE " .. response.RANGES .. " SET Category = :cat, Tags = :t, UpdatedBy = :ub, LastUpdatedTime = :ut "
          .. "WHERE Name = :n", { cat = spec.category, t = tags, ub = A.user, ut = A.now, n = spec.name })
      end
      audit(db, step, { Networks = table.concat(spec.cidrs, ","), Category = spec.category, Added = #new })
    end)
    return add_step(step)
  end

  function A.range_remove(spec)
    local step = { operation = "range.remove", target = spec.name }
    local function plan(query)
      local rows = table_exists(query, response.RANGES, ch) and ranges_of(query, spec.name) or {}
      local gone = {}
      for _, r in ipairs(rows) do if not spec.cidr or r.Cidr == spec.cidr then gone[#gone + 1] = r.Cidr end end
      step.change = #gone > 0 and "remove" or "absent"
      step.result = #gone > 0 and string.format("%d network(s)", #gone)
        or (#rows == 0 and "no range named '" .. spec.name .. "'"
            or "range '" .. spec.name .. "' has no network " .. tostring(spec.cidr))
      step.detail = table.concat(gone, ", ")
      return gone
    end
    if not A.executing then plan(read) return add_step(step) end
    with_writer(function(db, query)
      local gone = plan(query)
      for _, c in ipairs(gone) do
        db:query("DELETE FROM " .. response.RANGES .. " WHERE Name = :n AND Cidr = :c", { n = spec.name, c = c })
      end
      audit(db, step, { Removed = table.concat(gone, ",") })
    end)
    return add_step(step)
  end

  function A.ranges(spec)
    local cols = { "Name", "Cidr", "Category", "Tags", "CreatedBy", "CreatedTime", "UpdatedBy", "LastUpdatedTime" }
    if not table_exists(read, response.RANGES, ch) then return {}, cols end
    local rows = read("SELECT " .. table.concat(cols, ", ") .. " FROM " .. response.RANGES .. " ORDER BY Name, Cidr", {})
    local want = spec and spec.contains and ipaddr.parse_cidr(spec.contains)
    local out = {}
    for _, r in ipairs(rows) do
      local keep = true
      if want then
        local net = ipaddr.parse_cidr(r.Cidr)
        keep = net ~= nil and net.family == want.family and ipaddr.contains(net, want.text:match("^[^/]+"))
          and net.prefix <= want.prefix
      end
      if keep then
        local row = {}
        for i, c in ipairs(cols) do row[i] = r[c] end
        out[#out + 1] = row
      end
    end
    return out, cols
  end

  function A.activity_log(spec)
    local with_audit = table_exists(read, response.AUDIT, ch)
    local rows, cols = ctx.db:query(M.activity_sql(ctx.db, with_audit), { ip = spec.ip, limit = spec.limit })
    local asc = {}
    for i = #rows, 1, -1 do asc[#asc + 1] = rows[i] end
    return asc, cols
  end

  function A.hunt_open(spec)
    local hunting = require "ipe.hunting"
    local discover = require "ipe.discover"
    local index = req.index or discover.scan()
    if not index.by_key["hunt/" .. spec.hunt] then
      local near = discover.suggest(index, "hunt", spec.hunt)
      rec.outcome = "not_found"
      error(string.format("%s: no hunt named '%s'%s", label, spec.hunt, #near > 0 and
        " (did you mean: " .. table.concat(near, ", ") .. "?)" or " (see 'ipe-run list hunts')"), 0)
    end
    local given = { ip = spec.ip }
    if spec.run then
      rec.followup = { mode = "run", hunt = spec.hunt, given = given }
      return add_step({ operation = "hunt.run", target = spec.ip, change = "run",
        result = "runs hunt '" .. spec.hunt .. "' with ip=" .. spec.ip, detail = "read-only" })
    end
    local dir = hunting.user_dir()
    local name = hunting.copy_name(index, spec.hunt, given, dir)
    local step = { operation = "hunt.edit", target = spec.ip, change = "edit",
      result = string.format("copy hunt '%s' as '%s' with ip=%s, open %s on it, run the copy", spec.hunt, name,
        spec.ip, hunting.editor()),
      detail = dir .. "/" .. name .. ".lua" }
    if A.executing then
      -- the audit row is written by ipe-run once the editor is done; make sure it can be
      with_writer(function() end)
      rec.followup = { mode = "edit", hunt = spec.hunt, given = given,
        audit = { time = A.now, user = A.user, action = ctx.name, operation = step.operation, target = spec.ip,
                  parameters = M.params_json(rec.params) } }
    end
    return add_step(step)
  end

  local CHANGES = { create = true, update = true, remove = true, edit = true }

  -- executed: say so when every step found its change already made
  local function executed_mode(list)
    for _, s in ipairs(list) do if CHANGES[s.change] then return "executed" end end
    return "executed — nothing needed to change"
  end

  -- an export is made even in a plan: say so rather than "nothing was changed"
  local function plan_mode(list)
    for _, s in ipairs(list) do
      if s.change == "export" then
        return "plan only — the workspace was not changed; add --execute to act (the export was made all the same)"
      end
    end
    return "plan only — nothing was changed; add --execute to act"
  end

  function A.report()
    local kv = result.kv{ id = "action", title = (A.executing and "Done: " or "Plan: ") .. ctx.name, items = {
      { "Mode", A.executing and executed_mode(steps) or plan_mode(steps) },
      { "User", A.user }, { "Time", A.now, "time" },
    } }
    local rows = {}
    for i, s in ipairs(steps) do
      local change = s.change
      if not A.executing and CHANGES[change] then
        change = "would " .. change
      end
      local null = result.null
      rows[i] = { s.operation or null, s.target or null, change or null, s.result or null, s.detail or "" }
    end
    local tbl = result.table{ id = "steps", title = A.executing and "What was done"
      or plan_mode(steps):find("export", 1, true) and "What would be done (the export was made)" or "What would be done",
      columns = { { "Operation", "text" }, { "Target", "text" }, { "Change", "text" }, { "Result", "text" },
                  { "Details", "text" } }, rows = rows }
    return result.output{ status = "ok", sections = { kv, tbl } }
  end

  return A
end

-- records(db, sql, binds) -> rows as {column = value} maps (a raw connection)
function M.records(db, sql, binds) return require("ipe.db").as_records(db:query(sql, binds or {})) end

return M
