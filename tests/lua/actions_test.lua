-- The response actions through the real runner: plan (nothing written) and
-- execute paths, idempotency, versions, audit rows, the STIX export parsed back
-- and compared with the table, ranges, the activity log, go-hunt, and the
-- errors (bad parameters, an expiration in the past, a read-only workspace).
local T = require "ipe.testing"
local H = require "ipe.harness"
local runner = require "ipe.runner"
local discover = require "ipe.discover"
local timeutil = require "ipe.timeutil"
local sqlite = require "ipe.sqlite"
local stix = require "ipe.stix"
local fs = require "ipe.fs"
local proc = require "ipe.proc"
local cjson = require "cjson"
local demo = require "ipe.demo"

local NOW = "2026-11-27T00:00:00Z"
local ST = demo.STORIES
local USER = proc.user()

local function act(db, name, given, opts)
  opts = opts or {}
  local index = discover.scan()
  local entry = assert(discover.find(index, "action", name), name)
  local now = H.time(opts.now or NOW)
  return runner.run({ entry = entry, given = given or {}, index = index, now = now, now_text = timeutil.format_time(now),
    window = assert(timeutil.window{ since = opts.since or "7d", now = now }), db_path = db,
    execute = opts.execute or false, verbose = false })
end

local function query(db, sql, binds)
  local c = assert(sqlite.open(db, "ro"))
  local rows = c:query(sql, binds or {})
  c:close()
  return rows
end

-- The tables, where ipe's own (_ipe_audit, _ipe_ip_ranges: created empty by the
-- migration) count only once something was written to them.
local function tables(db)
  local out = {}
  for _, r in ipairs(query(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) do
    local name = r[1]
    local empty = name:match("^_ipe_") and name ~= "_ipe_meta"
      and query(db, "SELECT count(*) FROM " .. name)[1][1] == 0
    if not empty then out[#out + 1] = name end
  end
  return table.concat(out, ",")
end

local function snapshot(db)
  return { tables(db), query(db, "SELECT count(*), max(TimeGenerated) FROM ThreatIntelligenceIndicator")[1] }
end

local function steps(rec)
  for _, s in ipairs(rec.sections) do
    if s.id == "steps" then
      local out = {}
      for i, r in ipairs(s.rows) do out[i] = { operation = r[1], target = r[2], change = r[3], result = r[4] } end
      return out
    end
  end
end

local function audit_rows(db)
  local out = {}
  for _, r in ipairs(query(db, "SELECT TimeGenerated, User, Action, Operation, Target, Parameters, Result, Details "
    .. "FROM _ipe_audit ORDER BY Id")) do
    out[#out + 1] = { time = r[1], user = r[2], action = r[3], operation = r[4], target = r[5], params = cjson.decode(r[6]),
                      result = r[7], details = r[8] ~= cjson.null and cjson.decode(r[8]) or nil }
  end
  return out
end

local IP = "203.0.113.7"

---------------------------------------------------------------------------
-- add-indicator
---------------------------------------------------------------------------
T.case("add-indicator: the plan writes nothing, not even the audit table", function()
  local db = H.workspace{ demo = { events = 20000 } }
  local before = snapshot(db)
  local rec = act(db, "add-indicator", { ip = IP, tags = "scanner, c2" })
  T.eq(rec.status, "ok", rec.message)
  T.eq(rec.sections[1].items[1].value, "plan only — nothing was changed; add --execute to act")
  local s = steps(rec)
  T.eq({ #s, s[1].operation, s[1].target, s[1].change }, { 1, "indicator.add", IP, "would create" })
  T.like(s[1].result, "^IndicatorId %x+, version 1$")
  T.eq(snapshot(db), before)
  T.unlike(tables(db), "_ipe_audit")
end)

T.case("add-indicator --execute: a new indicator, then versions of the same one, each audited", function()
  local db = H.workspace{ rows = {} }
  local rec = act(db, "add-indicator", { ip = IP, tags = "scanner, c2", description = "seen scanning",
                                         threat_type = "C2", action = "block", confidence = "90" }, { execute = true })
  T.eq(rec.status, "ok", rec.message)
  T.eq(steps(rec)[1].change, "create")
  local rows = query(db, "SELECT IndicatorId, ExternalIndicatorId, NetworkIP, Action, ThreatType, ConfidenceScore, "
    .. "ThreatSeverity, Description, Tags, TrafficLightProtocolLevel, ExpirationDateTime, Active, IndicatorProvider, "
    .. "SourceSystem, TimeGenerated, KillChainC2 FROM ThreatIntelligenceIndicator")
  T.eq(#rows, 1)
  local r = rows[1]
  local id, ext = r[1], r[2]
  T.like(id, "^%x+$")
  T.eq(#id, 64)
  T.ok(stix.is_stix_id(ext, "indicator"), ext)
  T.eq({ r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16] },
       { IP, "block", "C2", 90, 3, "seen scanning", '["scanner","c2"]', "amber", "2026-12-27T00:00:00.000Z", 1, "ipe",
         "SecurityInsights", "2026-11-27T00:00:00.000Z", 1 })
  -- the same again: unchanged, no new row, but the execution is audited
  local again = act(db, "add-indicator", { ip = IP, tags = "scanner, c2", description = "seen scanning",
                                           threat_type = "C2", action = "block", confidence = "90" }, { execute = true })
  T.eq(steps(again)[1].change, "unchanged")
  T.eq(query(db, "SELECT count(*) FROM ThreatIntelligenceIndicator")[1][1], 1)
  -- re-adding with a change an hour later: the same indicator, version 2
  local later = act(db, "add-indicator", { ip = IP, confidence = "60", expires = "2027-01-15T00:00:00Z" },
    { execute = true, now = "2026-11-27T01:00:00Z" })
  T.eq({ steps(later)[1].change, steps(later)[1].result }, { "update", "IndicatorId " .. id .. ", version 2" })
  local versions = query(db, "SELECT IndicatorId, ExternalIndicatorId, ConfidenceScore, ExpirationDateTime, TimeGenerated "
    .. "FROM ThreatIntelligenceIndicator ORDER BY TimeGenerated")
  T.eq(#versions, 2)
  T.eq({ versions[2][1], versions[2][2], versions[2][3], versions[2][4], versions[2][5] },
       { id, ext, 60, "2027-01-15T00:00:00.000Z", "2026-11-27T01:00:00.000Z" })
  T.eq(query(db, "SELECT count(DISTINCT IndicatorId) FROM ThreatIntelligenceIndicator")[1][1], 1, "not a duplicate")
  local audit = audit_rows(db)
  T.eq(#audit, 3)
  T.eq({ audit[1].time, audit[1].user, audit[1].action, audit[1].operation, audit[1].target, audit[1].result },
       { "2026-11-27T00:00:00.000Z", USER, "add-indicator", "indicator.add", IP, "created: IndicatorId " .. id .. ", version 1" })
  T.eq(audit[1].params, { ip = IP, action = "block", threat_type = "C2", confidence = 90, severity = 3,
                          description = "seen scanning", tags = "scanner, c2", tlp = "amber", expires = "30d", export = "none" })
  T.eq(audit[1].details, { ExpirationDateTime = "2026-12-27T00:00:00.000Z", ExternalIndicatorId = ext,
                           IndicatorId = id, Version = 1 })
  T.eq(audit[2].result, "unchanged: IndicatorId " .. id .. ", version 1")
  T.eq({ audit[3].time, audit[3].result }, { "2026-11-27T01:00:00.000Z", "updated: IndicatorId " .. id .. ", version 2" })
end)

T.case("add-indicator: a version at the same instant still sorts after the previous one", function()
  local db = H.workspace{ rows = {} }
  act(db, "add-indicator", { ip = IP }, { execute = true })
  act(db, "add-indicator", { ip = IP, confidence = "10" }, { execute = true })
  local rows = query(db, "SELECT TimeGenerated, ConfidenceScore FROM ThreatIntelligenceIndicator ORDER BY TimeGenerated")
  T.eq(rows, { { "2026-11-27T00:00:00.000Z", 80 }, { "2026-11-27T00:00:00.001Z", 10 } })
end)

T.case("add-indicator: bad parameters are refused before anything is written", function()
  local db = H.workspace{ rows = {} }
  local cases = {
    { { ip = "1.2.3.999" }, "action 'add-indicator': parameter 'ip': '1.2.3.999' is not an IP address" },
    { {}, "action 'add-indicator': parameter 'ip' is required (the IP address to add; or export only with --export stix)" },
    { { ip = IP, expires = "2026-11-01T00:00:00Z" },
      "action 'add-indicator': parameter 'expires': '2026-11-01T00:00:00Z' is in the past (now is 2026-11-27T00:00:00.000Z)" },
    { { ip = IP, expires = "soon" },
      "action 'add-indicator': parameter 'expires': 'soon' is neither a duration (e.g. 30d) nor a time (ISO 8601)" },
    { { ip = IP, confidence = "101" }, "action 'add-indicator': parameter 'confidence': 101 is above the maximum 100" },
    { { ip = IP, action = "quarantine" },
      "action 'add-indicator': parameter 'action': 'quarantine' is not one of: alert, block, allow" },
    { { ip = IP, colour = "red" }, "action 'add-indicator' has no parameter 'colour' (parameters: ip, action, "
      .. "threat_type, confidence, severity, description, tags, tlp, expires, export)" },
  }
  for _, c in ipairs(cases) do
    local rec = act(db, "add-indicator", c[1], { execute = true })
    T.eq({ rec.outcome, rec.message }, { "param", c[2] })
  end
  T.eq(tables(db):find("_ipe_audit", 1, true), nil)
  T.eq(query(db, "SELECT count(*) FROM ThreatIntelligenceIndicator")[1][1], 0)
end)

T.case("--execute on a read-only workspace fails and changes nothing", function()
  local db = H.workspace{ rows = {} }
  act(db, "add-indicator", { ip = IP }, { execute = true })
  local before = snapshot(db)
  local audit_before = #audit_rows(db)
  assert(os.execute("chmod 444 '" .. db .. "'") == 0)
  local rec = act(db, "add-indicator", { ip = IP, confidence = "5" }, { execute = true })
  assert(os.execute("chmod 644 '" .. db .. "'") == 0)
  T.eq({ rec.status, rec.message },
       { "error", "the workspace " .. db .. " is read-only (file mode 0444); nothing was changed" })
  T.eq(snapshot(db), before)
  T.eq(#audit_rows(db), audit_before)
  local plan = act(db, "add-indicator", { ip = IP, confidence = "5" })
  T.eq(plan.status, "ok", "a plan needs no write access")
end)

---------------------------------------------------------------------------
-- STIX export
---------------------------------------------------------------------------
T.case("--export stix: the live indicators as a bundle, parsed back and compared with the table", function()
  local db = H.workspace{ demo = { events = 20000 } }
  act(db, "add-indicator", { ip = IP, tags = "a, b", tlp = "red", threat_type = "Proxy" }, { execute = true })
  local rec = act(db, "add-indicator", { export = "stix" })
  T.eq(rec.status, "ok", rec.message)
  local bundle = assert(stix.parse(rec.artifact.text))
  local live = query(db, [[
    SELECT IndicatorId, NetworkIP, ConfidenceScore, ExpirationDateTime, TimeGenerated, ThreatType, Description FROM (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS v FROM ThreatIntelligenceIndicator)
    WHERE v = 1 AND Active = 1 AND ExpirationDateTime > '2026-11-27T00:00:00.000Z' ORDER BY IndicatorId]])
  T.eq(#live, 6, "the five live demo indicators and the one added")
  T.eq(rec.artifact.count, #live)
  T.eq(#bundle.indicators, #live)
  local by_id = {}
  for _, o in ipairs(bundle.indicators) do by_id[o.x_ipe_indicator_id] = o end
  for _, r in ipairs(live) do
    local o = by_id[r[1]]
    T.ok(o, "exported " .. r[1])
    T.eq({ o.observables[1].type, o.observables[1].value, o.confidence, o.valid_until, o.modified, o.x_ipe_threat_type },
         { "ipv4-addr", r[2], math.floor(r[3] + 0.5), r[4], r[5], r[6] })
    if r[7] ~= cjson.null and r[7] ~= "" then T.eq(o.description, r[7]) else T.eq(o.description, nil) end
    T.eq(stix.validate(o), {})
  end
  local mine = by_id[query(db, "SELECT IndicatorId FROM ThreatIntelligenceIndicator WHERE NetworkIP = ?", { IP })[1][1]]
  T.eq({ mine.pattern, mine.labels, mine.indicator_types, mine.object_marking_refs, mine.x_ipe_action },
       { "[ipv4-addr:value = '203.0.113.7']", { "a", "b" }, { "anonymization" }, { stix.TLP.red }, "alert" })
  local c2 = {}
  for _, o in ipairs(bundle.indicators) do if o.observables[1].value == ST.c2.ip then c2[#c2 + 1] = o end end
  T.eq(#c2, 2, "the two live C2 indicators; the expired one is left out")
  for _, o in ipairs(c2) do T.eq(o.x_ipe_version, 2) end
  local doc = cjson.decode(rec.artifact.text)
  local markings = {}
  for _, o in ipairs(doc.objects) do
    if o.type == "marking-definition" then markings[#markings + 1] = o.name .. "=" .. o.id end
  end
  table.sort(markings)
  T.eq(markings, { "TLP:AMBER=" .. stix.TLP.amber, "TLP:GREEN=" .. stix.TLP.green, "TLP:RED=" .. stix.TLP.red,
                   "TLP:WHITE=" .. stix.TLP.white })
  T.ok(stix.is_stix_id(doc.id, "bundle"))
  T.eq(doc.spec_version, nil, "a STIX 2.1 bundle has no spec_version")
  local again = act(db, "add-indicator", { export = "stix" })
  T.eq(again.artifact.text, rec.artifact.text, "the export is deterministic")
end)

T.case("stix: patterns, identifiers, validation and the public example bundles", function()
  T.eq(stix.pattern({ NetworkIP = "1.2.3.4", NetworkCidrBlock = "2001:db8::/32", DomainName = "ev'il.example",
                      FileHashValue = "ab", FileHashType = "sha256" }),
       "[ipv4-addr:value = '1.2.3.4' OR ipv6-addr:value = '2001:db8::/32' OR domain-name:value = 'ev\\'il.example'"
       .. " OR file:hashes.'SHA-256' = 'ab']")
  T.eq(stix.pattern({ NetworkIP = cjson.null }), nil)
  T.eq(stix.observables("[domain-name:value = 'ev\\'il.example' OR ipv4-addr:value = '1.2.3.4']"),
       { { type = "domain-name", path = "value", value = "ev'il.example" }, { type = "ipv4-addr", path = "value", value = "1.2.3.4" } })
  T.eq(stix.uuid("x"), stix.uuid("x"))
  T.ne(stix.uuid("x"), stix.uuid("y"))
  T.like(stix.uuid("x"), "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$")
  T.eq(stix.validate({ type = "indicator", spec_version = "2.1", id = "indicator--x", created = "2026-01-01T00:00:00Z",
    modified = "2025-01-01T00:00:00Z", pattern = "[ipv4-addr:value = '1.2.3.4']", pattern_type = "stix",
    valid_from = "2026-01-01T00:00:00Z", valid_until = "2025-12-31T00:00:00Z", confidence = 101 }),
    { "id must be indicator--<uuid>", "modified is before created", "valid_until must be after valid_from",
      "confidence must be a whole number 0-100" })
  local _, err = stix.parse('{"type":"bundle","id":"bundle--1","objects":[]}')
  T.eq(err, "bundle id must be bundle--<uuid>")
  _, err = stix.parse("{nope")
  T.like(err, "^not JSON: ")
  local here = fs.realpath(debug.getinfo(1, "S").source:sub(2))
  local dir = here:match("^(.*)/tests/lua/[^/]*$") .. "/tests/fixtures/ti-feeds/stix21"
  local text = fs.read(dir .. "/poisonivy.json")
  assert(text, "no fixtures at " .. dir)
  local ivy = assert(stix.parse(text))
  local ips, domains = 0, 0
  for _, o in ipairs(ivy.indicators) do
    for _, ob in ipairs(o.observables) do
      if ob.type == "ipv4-addr" then ips = ips + 1 elseif ob.type == "domain-name" then domains = domains + 1 end
    end
  end
  T.eq(#ivy.indicators, 25)
  T.ok(ips > 20 and domains > 0, ips .. " IPs, " .. domains .. " domains")
  local c2 = assert(stix.parse(assert(fs.read(dir .. "/indicator-for-c2-ip-address.json"))))
  T.eq(c2.indicators[1].observables, { { type = "ipv4-addr", path = "value", value = "10.0.0.0" } })
end)

---------------------------------------------------------------------------
-- ip-ranges
---------------------------------------------------------------------------
T.case("ip-ranges: add (plan, execute, idempotent, update), list, remove", function()
  local db = H.workspace{ rows = {} }
  local add = { cidr = "131.107.0.0/16, 10.0.0.5", op = "add", name = "contoso", category = "Corporate", tags = "egress" }
  local plan = act(db, "ip-ranges", add)
  T.eq({ steps(plan)[1].change, steps(plan)[1].result }, { "would create", "2 network(s) added" })
  T.unlike(tables(db), "_ipe_ip_ranges", "the plan created nothing")
  local done = act(db, "ip-ranges", add, { execute = true })
  T.eq(steps(done)[1].change, "create")
  T.eq(query(db, "SELECT Name, Cidr, Category, Tags, CreatedBy, LastUpdatedTime FROM _ipe_ip_ranges ORDER BY Cidr"),
       { { "contoso", "10.0.0.5/32", "Corporate", '["egress"]', USER, "2026-11-27T00:00:00.000Z" },
         { "contoso", "131.107.0.0/16", "Corporate", '["egress"]', USER, "2026-11-27T00:00:00.000Z" } })
  T.eq(steps(act(db, "ip-ranges", add, { execute = true }))[1].change, "unchanged")
  local upd = act(db, "ip-ranges", { cidr = "131.107.0.0/16", op = "add", name = "contoso", category = "VPN" },
    { execute = true, now = "2026-11-27T02:00:00Z" })
  T.eq({ steps(upd)[1].change, steps(upd)[1].result }, { "update", "0 network(s) added, category and tags set" })
  T.eq(query(db, "SELECT DISTINCT Category, Tags, CreatedTime, LastUpdatedTime FROM _ipe_ip_ranges"),
       { { "VPN", "[]", "2026-11-27T00:00:00.000Z", "2026-11-27T02:00:00.000Z" } })
  local list = act(db, "ip-ranges", { cidr = "131.107.0.89" })
  T.eq({ list.status, #list.sections[1].rows, list.sections[1].rows[1][1], list.sections[1].rows[1][2] },
       { "ok", 1, "contoso", "131.107.0.0/16" })
  T.eq(act(db, "ip-ranges", { cidr = "8.8.8.8" }).status, "empty")
  T.eq(#act(db, "ip-ranges", {}).sections[1].rows, 2)
  local one = act(db, "ip-ranges", { op = "remove", name = "contoso", cidr = "10.0.0.5" }, { execute = true })
  T.eq({ steps(one)[1].change, steps(one)[1].result }, { "remove", "1 network(s)" })
  local all = act(db, "ip-ranges", { op = "remove", name = "contoso" }, { execute = true })
  T.eq(steps(all)[1].change, "remove")
  local gone = act(db, "ip-ranges", { op = "remove", name = "contoso" }, { execute = true })
  T.eq({ steps(gone)[1].change, steps(gone)[1].result }, { "absent", "no range named 'contoso'" })
  local results = {}
  for _, a in ipairs(audit_rows(db)) do results[#results + 1] = a.operation .. " " .. a.result end
  T.eq(results, { "range.add created: 2 network(s) added", "range.add unchanged: 0 network(s) added",
    "range.add updated: 0 network(s) added, category and tags set", "range.remove removed: 1 network(s)",
    "range.remove removed: 1 network(s)", "range.remove absent: no range named 'contoso'" })
end)

T.case("ip-ranges: an invalid CIDR, a missing name, an unknown category", function()
  local db = H.workspace{ rows = {} }
  local cases = {
    { { cidr = "10.0.0.0/33", op = "add", name = "x" },
      "action 'ip-ranges': parameter 'cidr': '10.0.0.0/33' is not a valid CIDR: prefix length 33 is out of range 0-32" },
    { { cidr = "10.0.0.0/8", op = "add" }, "action 'ip-ranges': parameter 'name' is required (the range's name)" },
    { { op = "add", name = "x" }, "action 'ip-ranges': parameter 'cidr' is required (the network to add, e.g. 10.0.0.0/8)" },
    { { cidr = "10.0.0.0/8", op = "add", name = "x", category = "Trusted" }, "action 'ip-ranges': parameter 'category': "
      .. "'Trusted' is not one of: Corporate, Administrative, Risky, VPN, Cloud provider, Other" },
    { { cidr = "10.0.0.0/8", op = "rename", name = "x" },
      "action 'ip-ranges': parameter 'op': 'rename' is not one of: list, add, remove" },
    { { cidr = "1.2.3" }, "action 'ip-ranges': parameter 'cidr': '1.2.3' is not a valid CIDR: '1.2.3' is not an IP address" },
  }
  for _, c in ipairs(cases) do
    local rec = act(db, "ip-ranges", c[1], { execute = true })
    T.eq({ rec.outcome, rec.message }, { "param", c[2] })
  end
  T.unlike(tables(db), "_ipe_audit")
  T.unlike(tables(db), "_ipe_ip_ranges")
end)

---------------------------------------------------------------------------
-- activity-log and go-hunt
---------------------------------------------------------------------------
T.case("activity-log: every table's rows about the spray source, oldest first, read-only", function()
  local db = H.workspace{ demo = { events = 20000 } }
  act(db, "add-indicator", { ip = ST.spray.ip }, { execute = true })
  local before = snapshot(db)
  local rec = act(db, "activity-log", { ip = ST.spray.ip }, { execute = true })
  T.eq(rec.status, "ok", rec.message)
  local rows = H.records(rec)
  local per = {}
  for i, r in ipairs(rows) do
    per[r.TableName] = (per[r.TableName] or 0) + 1
    if i > 1 then T.ok(rows[i - 1].TimeGenerated <= r.TimeGenerated, "time order at row " .. i) end
  end
  T.eq(per, { SigninLogs = 62, SecurityEvent = 40, Anomalies = 2, SecurityAlert = 1, ThreatIntelligenceIndicator = 3,
              Watchlist = 1, _ipe_audit = 1 })
  T.eq({ rows[1].TableName, rows[1].Actor, rows[1].Result }, { "SigninLogs", "cameron.white@contoso.com", "failure 50126" })
  local last = rows[#rows]
  T.eq({ last.TableName, last.Actor, last.Operation }, { "_ipe_audit", USER, "ipe-run action add-indicator: indicator.add" })
  T.eq(snapshot(db), before, "reading changed nothing")
  local few = H.records(act(db, "activity-log", { ip = ST.spray.ip, limit = "3" }))
  T.eq(#few, 3)
  T.eq(few[3].TableName, "_ipe_audit", "the latest rows are kept")
end)

T.case("go-hunt: a plan by default, a follow-up for ipe-run with --run or --execute", function()
  local db = H.workspace{ rows = {} }
  local plan = act(db, "go-hunt", { ip = ST.c2.ip })
  local s = steps(plan)[1]
  T.eq({ s.operation, s.change }, { "hunt.edit", "would edit" })
  T.like(s.result, "^copy hunt 'ip%-everywhere' as 'ip%-everywhere%-89%-160%-20%-128' with ip=89%.160%.20%.128, open ")
  T.eq(plan.followup, nil)
  local run = act(db, "go-hunt", { ip = ST.c2.ip, hunt = "beaconing-to-ip", run = "true" })
  T.eq(run.followup, { mode = "run", hunt = "beaconing-to-ip", given = { ip = ST.c2.ip } })
  local ex = act(db, "go-hunt", { ip = ST.c2.ip }, { execute = true })
  T.eq({ ex.followup.mode, ex.followup.hunt, ex.followup.audit.operation, ex.followup.audit.user },
       { "edit", "ip-everywhere", "hunt.edit", USER })
  local bad = act(db, "go-hunt", { ip = ST.c2.ip, hunt = "beaconing" })
  T.eq({ bad.outcome, bad.message },
       { "not_found", "action 'go-hunt': no hunt named 'beaconing' (did you mean: beaconing-to-ip?)" })
end)

T.done()
