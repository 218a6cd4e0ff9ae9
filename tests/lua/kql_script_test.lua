-- Tests for insights and hunts written in KQL (language = "kql", query = [[...]]): parameters
-- as let bindings, the run's window, the queries recorded with their KQL, the contract.
local T = require "ipe.testing"
local has_sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql scripts", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local fs = require "ipe.fs"
local sqlite = require "ipe.sqlite"

local db = H.workspace{ rows = { SigninLogs = {
  { TimeGenerated = "2026-11-26T10:00:00.000Z", IPAddress = "1.2.3.4", AppDisplayName = "Teams", UserPrincipalName = "a@x" },
  { TimeGenerated = "2026-11-26T11:00:00.000Z", IPAddress = "1.2.3.4", AppDisplayName = "Teams", UserPrincipalName = "b@x" },
  { TimeGenerated = "2026-11-26T12:00:00.000Z", IPAddress = "1.2.3.4", AppDisplayName = "Portal", UserPrincipalName = "a@x" },
  { TimeGenerated = "2026-11-26T12:00:00.000Z", IPAddress = "5.6.7.8", AppDisplayName = "Portal", UserPrincipalName = "c@x" },
  { TimeGenerated = "2026-11-01T12:00:00.000Z", IPAddress = "1.2.3.4", AppDisplayName = "Old", UserPrincipalName = "d@x" },
} } }

local root = os.tmpname()
os.remove(root)
assert(fs.mkdir_p(root .. "/hunts"))
assert(fs.mkdir_p(root .. "/insights"))

local function script(kind, name, body)
  local path = string.format("%s/%ss/%s.lua", root, kind, name)
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  return path
end

local HEAD = [[
return {
  name = "%s", kind = "%s", title = "KQL test", summary = "a test", description = "a test",
  categories = { "offline", "identity" }, sources = { "SigninLogs" },
  params = { { name = "ip", type = "ip", required = true, help = "the IP" },
             { name = "min", type = "int", default = 1, min = 1, max = 100, help = "at least" } },
]]

local hunt = script("hunt", "kql-by-app", HEAD:format("kql-by-app", "hunt") .. [=[
  language = "kql",
  query = [[
let ip = "0.0.0.0";
SigninLogs
| where IPAddress == ip
| summarize Count = count(), Users = dcount(UserPrincipalName) by AppDisplayName
| where Count >= min
| order by Count desc, AppDisplayName asc
]],
}
]=])

T.case("a KQL hunt runs with its parameters as let bindings and the run's window", function()
  local rec = H.run_file(hunt, { ip = "1.2.3.4" }, { db = db, since = "7d" })
  T.eq(rec.status, "ok", rec.message)
  local rows = H.rows_of(rec.sections[1])
  local conn = assert(sqlite.open(db, "ro"))
  local want = require("ipe.db").as_records(conn:query([[SELECT AppDisplayName, count(*) AS Count, count(DISTINCT UserPrincipalName) AS Users
    FROM SigninLogs WHERE IPAddress = '1.2.3.4' AND TimeGenerated >= '2026-11-20' GROUP BY 1 ORDER BY 2 DESC, 1]]))
  conn:close()
  T.eq(rows, want)
  T.eq(rec.sections[1].columns[2].type, "number")
  rec = H.run_file(hunt, { ip = "1.2.3.4", min = "2" }, { db = db, since = "7d" })
  T.eq(H.rows_of(rec.sections[1]), { { AppDisplayName = "Teams", Count = 2, Users = 2 } }, "min is bound where the query uses it")
  rec = H.run_file(hunt, { ip = "1.2.3.4" }, { db = db, since = "60d" })
  T.eq(#H.rows_of(rec.sections[1]), 3, "a wider window reads the older row")
end)

T.case("the recorded query holds the KQL, the SQL and the bound values", function()
  local rec = H.run_file(hunt, { ip = "1.2.3.4" }, { db = db, since = "7d" })
  local q = rec.queries[1]
  T.like(q.kql, "summarize Count = count%(%)")
  T.like(q.sql, "^WITH")
  local values = {}
  for _, p in ipairs(q.params) do values[p.name] = p.value end
  T.eq(values.from, "2026-11-20T00:00:00.000Z")
  local found
  for _, v in pairs(values) do if v == "1.2.3.4" then found = true end end
  T.ok(found, "the IP is a bound value")
  T.unlike(q.sql, "1.2.3.4")
end)

T.case("a parameter the query does not declare is bound under its name; window is the run's span", function()
  local path = script("insight", "kql-undeclared", HEAD:format("kql-undeclared", "insight") .. [=[
  language = "kql",
  query = [[SigninLogs | where TimeGenerated > ago(window) and IPAddress == ip | count]],
}
]=])
  local rec = H.run_file(path, { ip = "1.2.3.4" }, { db = db, since = "7d" })
  T.eq(H.rows_of(rec.sections[1]), { { Count = 3 } })
  rec = H.run_file(path, { ip = "1.2.3.4" }, { db = db, since = "60d" })
  T.eq(H.rows_of(rec.sections[1]), { { Count = 4 } })
end)

T.case("the contract: query with language, not both query and run; a bad query is named with its place", function()
  local both = script("hunt", "kql-both", HEAD:format("kql-both", "hunt") .. [=[
  language = "kql", query = [[SigninLogs | count]], run = function() end,
}
]=])
  local rec = H.run_file(both, { ip = "1.2.3.4" }, { db = db })
  T.eq(rec.outcome, "broken")
  T.like(rec.message, "a KQL script has a 'query' instead of 'run', not both")
  local bad = script("hunt", "kql-bad", HEAD:format("kql-bad", "hunt") .. [=[
  language = "kql", query = [[SigninLogs
| where IPAddress == ip
| make-series count() on TimeGenerated step 1h]],
}
]=])
  rec = H.run_file(bad, { ip = "1.2.3.4" }, { db = db })
  T.eq(rec.outcome, "broken")
  T.eq(rec.message, bad .. ": field 'query': kql:3:3: 'make-series' is not supported")
  local wrong = script("hunt", "kql-wrong", HEAD:format("kql-wrong", "hunt") .. [=[
  language = "kql", query = [[SigninLogs | where IPAdress == ip]],
}
]=])
  rec = H.run_file(wrong, { ip = "1.2.3.4" }, { db = db })
  T.eq(rec.status, "error")
  T.eq(rec.message:match("^[^\n]*"), wrong .. ": query:1:20: unknown column 'IPAdress' (did you mean IPAddress?)")
end)


T.case("display: a title with the parameters' values, column display types; a bad display is named", function()
  local shown = script("hunt", "kql-shown", HEAD:format("kql-shown", "hunt") .. [=[
  display = { title = "Apps of {ip} (at least {min})", note = "for {ip}", columns = { Count = "count" } },
  language = "kql", query = [[SigninLogs | where IPAddress == ip | summarize Count = count() by AppDisplayName]],
}
]=])
  local rec = H.run_file(shown, { ip = "1.2.3.4", min = "2" }, { db = db, since = "7d" })
  T.eq(rec.status, "ok", rec.message)
  local s = rec.sections[1]
  T.eq(s.title, "Apps of 1.2.3.4 (at least 2)")
  T.eq(s.note, "for 1.2.3.4")
  T.eq({ s.columns[1].type, s.columns[2].type }, { "text", "count" }, "Count shown as a count, the rest by KQL type")
  local cases = {
    { [[display = { columns = { Count = "money" } },]], "field 'display': column 'Count' has unknown type 'money'" },
    { [[display = { title = "Apps of {address}" },]], "field 'display': title names '{address}', which is not a parameter" },
    { [[display = { colour = "red" },]], "field 'display': unknown entry 'colour' (columns, title, note, hide_empty)" },
    { [[display = "Apps",]], "field 'display' must be a table {columns=, title=, note=, hide_empty=}" },
  }
  for i, c in ipairs(cases) do
    local name = "kql-display-" .. i
    local path = script("hunt", name, HEAD:format(name, "hunt") .. "  " .. c[1] .. [=[
  language = "kql", query = [[SigninLogs | count]],
}
]=])
    rec = H.run_file(path, { ip = "1.2.3.4" }, { db = db })
    T.eq(rec.outcome, "broken", c[2])
    T.eq(rec.message, path .. ": " .. c[2])
  end
end)

T.case("window_start and window_end: the run's window as datetimes, in the query and in the display's title", function()
  local path = script("hunt", "kql-bounds", HEAD:format("kql-bounds", "hunt") .. [=[
  display = { title = "Since {window_start} until {window_end}" },
  language = "kql", query = [[
SigninLogs
| where TimeGenerated >= window_start - 30d and TimeGenerated <= window_end and IPAddress == ip
| summarize n = count(), first = min(TimeGenerated), s = min(window_start), e = max(window_end)
]],
}
]=])
  local rec = H.run_file(path, { ip = "1.2.3.4" }, { db = db, now = H.time("2026-11-27T00:00:00Z"), since = "7d" })
  T.eq(rec.status, "ok", rec.message)
  T.eq(rec.sections[1].title, "Since 2026-11-20T00:00:00.000Z until 2026-11-27T00:00:00.000Z")
  T.eq(H.rows_of(rec.sections[1]), { { n = 4, first = "2026-11-01T12:00:00.000Z", s = "2026-11-20T00:00:00.000Z",
    e = "2026-11-27T00:00:00.000Z" } }, "the history 30 days before the window read; the bounds as datetimes")
end)

T.case("a batch: one table per statement, each with its display; hide_empty leaves an empty one out; bad lists named", function()
  local path = script("hunt", "kql-batch", HEAD:format("kql-batch", "hunt") .. [=[
  display = { { title = "Apps of {ip}", columns = { Count = "count" } },
              { title = "Users of {ip}", note = "at least {min}", hide_empty = true } },
  language = "kql", query = [[
let ip = "0.0.0.0";
let hits = SigninLogs | where IPAddress == ip;
hits | summarize Count = count() by AppDisplayName | order by Count desc, AppDisplayName asc;
hits | summarize Count = count() by UserPrincipalName | where Count >= min | order by UserPrincipalName asc
]],
}
]=])
  local rec = H.run_file(path, { ip = "1.2.3.4" }, { db = db, since = "7d" })
  T.eq(rec.status, "ok", rec.message)
  T.eq(#rec.sections, 2, "two tables")
  T.eq(rec.sections[1].title, "Apps of 1.2.3.4")
  T.eq(H.rows_of(rec.sections[1]), { { AppDisplayName = "Teams", Count = 2 }, { AppDisplayName = "Portal", Count = 1 } })
  T.eq(rec.sections[1].columns[2].type, "count")
  T.eq({ rec.sections[2].title, rec.sections[2].note }, { "Users of 1.2.3.4", "at least 1" })
  T.eq(H.rows_of(rec.sections[2]), { { UserPrincipalName = "a@x", Count = 2 }, { UserPrincipalName = "b@x", Count = 1 } })
  T.eq(rec.sections[2].columns[2].type, "number", "the second table's own display: Count by its KQL type")
  T.eq(#rec.queries, 2, "each statement a query")
  T.like(rec.queries[1].kql, "^let ip")
  T.eq(rec.queries[2].kql, nil, "the KQL recorded once, with the first")
  rec = H.run_file(path, { ip = "1.2.3.4", min = "3" }, { db = db, since = "7d" })
  T.eq(#rec.sections, 1, "hide_empty: the empty second table left out")
  rec = H.run_file(path, { ip = "9.9.9.9" }, { db = db, since = "7d" })
  T.eq({ rec.status, #rec.sections, #rec.sections[1].rows }, { "empty", 1, 0 }, "an empty first table is shown")
  local q2 = [[query = [[SigninLogs | count; SigninLogs | take 1]] .. "]]"
  local cases = {
    { [[display = { title = "x" }, language = "kql", ]] .. q2,
      "field 'display': the query returns 2 tables: give a list of 2 displays, one per table" },
    { [[display = { { title = "x" } }, language = "kql", ]] .. q2, "field 'display': the list has 1 display, the query returns 2 tables" },
    { [[display = { { title = "x" }, { hide_empty = "yes" } }, language = "kql", ]] .. q2,
      "field 'display' [2]: 'hide_empty' must be true or false" },
    { [[display = { { title = "x" }, { colour = "red" } }, language = "kql", ]] .. q2,
      "field 'display' [2]: unknown entry 'colour' (columns, title, note, hide_empty)" },
    { [[display = { { title = "x" }, { title = "{nope}" } }, language = "kql", ]] .. q2,
      "field 'display' [2]: title names '{nope}', which is not a parameter" },
    { [[display = { { title = "x" }, { title = "y" }, extra = 1 }, language = "kql", ]] .. q2,
      "field 'display': a list of displays, one per table, has only entries 1 to 2" },
  }
  for i, c in ipairs(cases) do
    local name = "kql-batch-bad-" .. i
    local bad = script("hunt", name, HEAD:format(name, "hunt") .. "  " .. c[1] .. ",\n}\n")
    rec = H.run_file(bad, { ip = "1.2.3.4" }, { db = db })
    T.eq(rec.outcome, "broken", c[2])
    T.eq(rec.message, bad .. ": " .. c[2])
  end
end)

T.case("hunt --edit of a KQL hunt: the copy keeps language and query, the editor changes the KQL, the copy runs", function()
  local hunting = require "ipe.hunting"
  local dir = os.tmpname()
  os.remove(dir)
  assert(fs.mkdir_p(dir))
  local ed = dir .. "/editor.sh"
  assert(fs.write_atomic(ed, "#!/bin/sh\nsed -i 's/| order by Count desc, AppDisplayName asc/| take 1/' \"$1\"\n", 493))
  local entry = { kind = "hunt", name = "kql-by-app", path = hunt }
  local code, rec, path = hunting.edit({ db = db, now = "2026-11-27T00:00:00Z", editor = ed, hunt_dir = dir .. "/hunts",
    output = dir .. "/out.txt", format = "csv", since = "7d" }, { by_key = {} }, entry, { ip = "1.2.3.4" }, "hunt")
  T.eq(code, 0, rec.message)
  local copy = assert(fs.read(path))
  T.like(copy, 'language = "kql"')
  T.like(copy, "| take 1")
  T.like(copy, '{ name = "ip", type = "ip", default = "1.2.3.4"')
  T.eq(#H.rows_of(rec.sections[1]), 1, "the edited KQL ran")
  T.like(rec.queries[1].kql, "| take 1")
  os.execute("rm -rf '" .. dir:gsub("'", "") .. "'")
end)

T.case("insight --as-hunt of a KQL insight: a KQL hunt", function()
  local hunting = require "ipe.hunting"
  local path = string.format("%s/insights/%s.lua", root, "kql-undeclared")
  local dir = os.tmpname()
  os.remove(dir)
  assert(fs.mkdir_p(dir))
  local code, rec, copy_path = hunting.as_hunt({ db = db, now = "2026-11-27T00:00:00Z", editor = "true",
    hunt_dir = dir .. "/hunts", output = dir .. "/out.txt", format = "csv", since = "7d" }, { by_key = {} },
    { kind = "insight", name = "kql-undeclared", path = path }, { ip = "1.2.3.4" })
  T.eq(code, 0, rec.message)
  local copy = assert(fs.read(copy_path))
  T.like(copy, 'kind = "hunt"')
  T.like(copy, 'language = "kql"')
  T.eq(H.rows_of(rec.sections[1]), { { Count = 3 } })
  T.like(rec.queries[1].kql, "ago%(window%)")
  os.execute("rm -rf '" .. dir:gsub("'", "") .. "'")
end)

os.execute("rm -rf '" .. root:gsub("'", "") .. "'")
