-- Tests for ipe.kql: Kusto's semantics on a small workspace, each query's rows compared with
-- a hand-written SQL query over the same rows (or with rows worked out by hand).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("kql", "needs the C core (run with ipe-run test)")
  return T.done()
end
local H = require "ipe.harness"
local kql = require "ipe.kql"
local timeutil = require "ipe.timeutil"
local cjson = require "cjson"

local NOW = timeutil.parse_time("2026-11-27T00:00:00Z")
local function row(t, ip, app, user, result, loc)
  return { TimeGenerated = t, IPAddress = ip, AppDisplayName = app, UserPrincipalName = user, ResultType = result,
    LocationDetails = loc }
end
local path = H.workspace{ rows = {
  SigninLogs = {
    row("2026-11-26T10:15:00.000Z", "1.2.3.4", "Azure Portal", "alice@x.com", "0", '{"city":"Paris","n":1}'),
    row("2026-11-26T10:45:00.000Z", "1.2.3.4", "azure portal", "bob@x.com", "50126", '{"city":"Lyon","n":2}'),
    row("2026-11-26T11:00:00.000Z", "5.6.7.8", "Teams", "alice@x.com", "0", '{"city":"Oslo"}'),
    row("2026-11-26T12:30:00.000Z", "5.6.7.8", "Office-Portal", nil, "", nil),
    row("2026-11-25T09:00:00.000Z", "10.0.0.5", "", "carol@x.com", "0", "[1,2]"),
    row("2026-11-10T09:00:00.000Z", "9.9.9.9", "Old", "old@x.com", "0", nil),
  },
  AuditLogs = {
    { TimeGenerated = "2026-11-26T10:00:00.000Z", OperationName = "Add user", Identity = "alice@x.com" },
    { TimeGenerated = "2026-11-26T10:05:00.000Z", OperationName = "Reset password", Identity = "alice@x.com" },
    { TimeGenerated = "2026-11-26T10:06:00.000Z", OperationName = "Delete user", Identity = "dave@x.com" },
  },
} }
local db = assert(sqlite.open(path, "ro"))
local WINDOW = { from = "2026-11-20T00:00:00.000Z", to = "2026-11-27T00:00:00.000Z" }

local function run(q, opts)
  opts = opts or {}
  local plan = kql.compile(q, { now = NOW, window = opts.window or WINDOW, lets = opts.lets })
  local rows, cols = db:query(plan.sql, plan.binds)
  for _, r in ipairs(rows) do for j = 1, #cols do if r[j] == cjson.null then r[j] = nil end end end
  return rows, plan
end
local function sql(q, binds)
  local rows, cols = db:query(q, binds or {})
  for _, r in ipairs(rows) do for j = 1, #cols do if r[j] == cjson.null then r[j] = nil end end end
  return rows
end
local function names(plan)
  local out = {}
  for i, c in ipairs(plan.columns) do out[i] = c.name end
  return out
end
local function kerr(q)
  local ok, e = pcall(kql.compile, q, { now = NOW, window = WINDOW })
  T.ok(not ok and kql.is_error(e), "expected a KQL error for " .. q)
  return string.format("%d:%d: %s", e.line, e.col, e.msg)
end

T.case("== on strings is case-sensitive; =~ is not", function()
  T.eq(run('SigninLogs | where AppDisplayName == "Azure Portal" | project UserPrincipalName'),
    sql("SELECT UserPrincipalName FROM SigninLogs WHERE AppDisplayName = 'Azure Portal'"))
  T.eq(#run('SigninLogs | where AppDisplayName == "Azure Portal"'), 1)
  T.eq(#run('SigninLogs | where AppDisplayName =~ "AZURE PORTAL"'), 2)
  T.eq(#run('SigninLogs | where AppDisplayName != "Azure Portal"'), 4, "!= keeps the empty and other values")
end)

T.case("has is whole-term and case-insensitive; contains is case-insensitive substring", function()
  T.eq(run('SigninLogs | where AppDisplayName has "PORTAL" | order by TimeGenerated asc | project AppDisplayName'),
    sql("SELECT AppDisplayName FROM SigninLogs WHERE ' ' || lower(AppDisplayName) || ' ' GLOB '*[^a-z0-9]portal[^a-z0-9]*' ORDER BY TimeGenerated"))
  T.eq(#run('SigninLogs | where AppDisplayName has "PORTAL"'), 3, "'Office-Portal' has the term portal")
  T.eq(#run('SigninLogs | where AppDisplayName has "port"'), 0, "a part of a term is not the term")
  T.eq(#run('SigninLogs | where AppDisplayName contains "PORT"'), 3)
  T.eq(#run('SigninLogs | where AppDisplayName contains_cs "Port"'), 2)
  T.eq(#run('SigninLogs | where AppDisplayName has_cs "portal"'), 1)
  T.eq(#run('SigninLogs | where AppDisplayName !has "portal"'), 2, "!has keeps the rows without the term, the empty one too")
  T.eq(#run('SigninLogs | where IPAddress has "1.2.3.4"'), 2)
  T.eq(#run('SigninLogs | where AppDisplayName has_any ("teams", "azure")'), 3)
  T.eq(#run('SigninLogs | where AppDisplayName has_all ("azure", "portal")'), 2)
  T.eq(#run('SigninLogs | where AppDisplayName startswith "AZ"'), 2)
  T.eq(#run('SigninLogs | where AppDisplayName endswith "PORTAL"'), 3)
  T.eq(#run('SigninLogs | where AppDisplayName matches regex "^[A-Z][a-z]+ "'), 1)
end)

T.case("between is inclusive at both ends", function()
  T.eq(run('SigninLogs | where TimeGenerated between (datetime(2026-11-26 10:15) .. datetime(2026-11-26 11:00)) | count'),
    sql("SELECT count(*) FROM SigninLogs WHERE TimeGenerated >= '2026-11-26T10:15:00.000Z' AND TimeGenerated <= '2026-11-26T11:00:00.000Z'"))
  T.eq(run('SigninLogs | where TimeGenerated between (datetime(2026-11-26 10:15) .. datetime(2026-11-26 11:00)) | count')[1][1], 3)
  T.eq(run('print a = 5 between (1 .. 5), b = 1 between (1 .. 5), c = 6 between (1 .. 5), d = 0 !between (1 .. 5)')[1], { 1, 1, 0, 1 })
end)

T.case("bin() floors to the bucket; summarize's default column names", function()
  local rows, plan = run('SigninLogs | summarize count(), dcount(UserPrincipalName), max(TimeGenerated), countif(ResultType == "0") by bin(TimeGenerated, 1h) | order by TimeGenerated asc')
  T.eq(names(plan), { "TimeGenerated", "count_", "dcount_UserPrincipalName", "max_TimeGenerated", "countif_" })
  T.eq(rows, sql([[SELECT substr(TimeGenerated, 1, 13) || ':00:00.000Z' AS h, count(*), count(DISTINCT coalesce(UserPrincipalName, '')),
    max(TimeGenerated), sum(ResultType = '0') FROM SigninLogs WHERE TimeGenerated >= '2026-11-20' GROUP BY h ORDER BY h]]))
  T.eq(run('print a = bin(7, 5), b = bin(-3, 5), c = bin(datetime(2026-11-26 10:59:59), 30m)')[1], { 5, -5, "2026-11-26T10:30:00.000Z" })
  local _, p2 = run('SigninLogs | summarize sum(toint(ResultType)), min(TimeGenerated), avg(strlen(IPAddress)), make_set(IPAddress), make_list(AppDisplayName), take_any(IPAddress), dcountif(IPAddress, ResultType == "0"), sumif(1, true)')
  T.eq(names(p2), { "sum_ResultType", "min_TimeGenerated", "avg_IPAddress", "set_IPAddress", "list_AppDisplayName", "any_IPAddress", "dcountif_IPAddress", "sumif_" })
end)

T.case("null and empty string: strings read as empty, isempty and isnull, empty keys group together", function()
  T.eq(run('SigninLogs | where isempty(UserPrincipalName) | project IPAddress'), { { "5.6.7.8" } })
  T.eq(run('SigninLogs | where UserPrincipalName == "" | count')[1][1], 1, "a missing string equals the empty string")
  T.eq(run('SigninLogs | where isnull(UserPrincipalName) | count')[1][1], 0, "a string is never null")
  T.eq(run('SigninLogs | where isempty(ResultType) | count')[1][1], 1)
  T.eq(run('SigninLogs | where isnotempty(AppDisplayName) | count')[1][1], 4)
  T.eq(run('SigninLogs | summarize c = count() by UserPrincipalName | where UserPrincipalName == ""')[1], { "", 1 })
  T.eq(run('print a = strcat("x", tostring(int(null)), "y"), b = coalesce("", "z"), c = isnull(long(null)), d = strlen("")')[1], { "xy", "z", 1, 0 })
end)

T.case("join innerunique (the default) keeps one left row per key; inner keeps all", function()
  local q = 'SigninLogs | project UserPrincipalName, IPAddress | join %s (AuditLogs | project Identity, OperationName) on $left.UserPrincipalName == $right.Identity | count'
  T.eq(run(q:format(""))[1][1], 2, "alice has 2 sign-ins and 2 audit rows: one left row x 2")
  T.eq(run(q:format("kind=innerunique"))[1][1], 2)
  T.eq(run('datatable(k:string, v:long)["", 1, "", 2] | union (SigninLogs | where IPAddress == "5.6.7.8" and isempty(UserPrincipalName) | project k = UserPrincipalName, v = 3) | join (datatable(k:string)[""]) on k | count')[1][1], 1,
    "innerunique: an empty and a missing string are one key")
  T.eq(run(q:format("kind=inner"))[1][1], 4)
  T.eq(run(q:format("kind=inner"))[1][1], sql("SELECT count(*) FROM SigninLogs s JOIN AuditLogs a ON s.UserPrincipalName = a.Identity WHERE s.TimeGenerated >= '2026-11-20'")[1][1])
  T.eq(run(q:format("kind=leftouter"))[1][1], 7)
  T.eq(run(q:format("kind=leftanti"))[1][1], 3)
  T.eq(run(q:format("kind=leftsemi"))[1][1], 2)
  T.eq(run(q:format("kind=rightsemi"))[1][1], 2)
  T.eq(run(q:format("kind=rightanti"))[1][1], 1)
  local _, plan = run('SigninLogs | join kind=inner (SigninLogs) on IPAddress | take 1')
  local n = names(plan)
  T.eq({ n[1], n[#n / 2 + 1], n[#n] }, { "TimeGenerated", "TimeGenerated1", "_ResourceId1" }, "the right's same-named columns get a 1")
end)

T.case("union: columns of all sides, isfuzzy skips tables the workspace lacks, withsource", function()
  local rows, plan = run('union withsource=Src SigninLogs, AuditLogs | summarize count() by Src | order by Src asc')
  T.eq(rows, { { "AuditLogs", 3 }, { "SigninLogs", 5 } })
  T.eq(names(plan), { "Src", "count_" })
  T.eq(run('union isfuzzy=true SigninLogs, NoSuchTable | count')[1][1], 5)
  local rows, p = run('union isfuzzy=true (NoSuchTable | where X == "a"), (SigninLogs | where IPAddress == "1.2.3.4") | count')
  T.eq(rows[1][1], 2, "a side over a missing table is left out")
  T.eq(#p.params, 3, "with what it bound: from, to and the IP")
  T.eq(kerr('union SigninLogs, NoSuchTable'), "1:19: unknown table 'NoSuchTable' (union isfuzzy=true skips tables the workspace lacks)")
end)

T.case("dynamic values: JSON text, .field and [\"field\"] access, mv-expand, make_set", function()
  T.eq(run('SigninLogs | where LocationDetails.city == "Paris" | project c = LocationDetails["city"], n = toint(LocationDetails.n)')[1], { '"Paris"', 1 })
  T.eq(run('SigninLogs | where tostring(LocationDetails.city) =~ "lyon" | count')[1][1], 1)
  T.eq(run('print d = dynamic({"a":[1,2,{"b":"x"}]}) | project v = d.a[2].b, n = array_length(d.a), k = bag_keys(d)')[1], { '"x"', 3, '["a"]' })
  T.eq(run('print d = dynamic([1, "two", {"t": 3}]) | mv-expand d | project d'), { { "1" }, { '"two"' }, { '{"t":3}' } })
  T.eq(run('print s = split("a.b.c", ".")')[1], { '["a","b","c"]' })
  T.eq(run('SigninLogs | where IPAddress == "1.2.3.4" | summarize make_set(LocationDetails.city)')[1], { '["Paris","Lyon"]' })
end)

T.case("let: scalars, tabular lets, lambdas; values given from outside", function()
  T.eq(run('let ip = "5.6.7.8"; let T = SigninLogs | where IPAddress == ip; T | count')[1][1], 2)
  T.eq(run('let f = (s:string) { strcat("<", s, ">") }; SigninLogs | where IPAddress == "5.6.7.8" | take 1 | project f(AppDisplayName)')[1][1], "<Teams>")
  T.eq(run('let g = (ip:string) { SigninLogs | where IPAddress == ip }; g("1.2.3.4") | count')[1][1], 2)
  T.eq(run('let ip = "5.6.7.8"; SigninLogs | where IPAddress == ip | count', { lets = { ip = "1.2.3.4" } })[1][1], 2)
  T.eq(run('let window = 1d; SigninLogs | where TimeGenerated > ago(window) | count', { lets = { window = "7d" } })[1][1], 5)
end)

T.case("the time window applies only when the query has no TimeGenerated filter", function()
  T.eq(run('SigninLogs | count')[1][1], 5, "the row of 2026-11-10 is outside the window")
  T.eq(run('SigninLogs | where TimeGenerated > ago(30d) | count')[1][1], 6)
  local _, plan = run('SigninLogs | count')
  T.eq(plan.params[1], { name = "from", value = WINDOW.from })
end)

T.case("order by, top, take, serialize with prev/next/row_number", function()
  T.eq(run('SigninLogs | top 2 by TimeGenerated desc | project IPAddress'), sql("SELECT IPAddress FROM SigninLogs ORDER BY TimeGenerated DESC LIMIT 2"))
  T.eq(run('SigninLogs | order by TimeGenerated asc | serialize | extend r = row_number(), p = prev(IPAddress) | take 2 | project r, p'), { { 1, "" }, { 2, "10.0.0.5" } })
  T.eq(run('SigninLogs | sort by UserPrincipalName asc nulls last | take 1 | project UserPrincipalName')[1][1], "")
  T.eq(kerr('SigninLogs | extend p = prev(IPAddress)'), "1:25: 'prev' needs a serialized row set (use 'serialize' or 'order by' before it)")
end)

T.case("row functions: only in extend, project and serialize, not nested; a negative offset goes the other way", function()
  -- SQLite would fail at run time (misuse of window function lag()): one error at the place instead
  T.eq(kerr('SigninLogs | order by TimeGenerated asc | where prev(IPAddress) == IPAddress'),
    "1:49: 'prev' is valid only in 'extend', 'project' or 'serialize'")
  T.eq(kerr('SigninLogs | order by TimeGenerated asc | summarize by p = next(IPAddress)'),
    "1:60: 'next' is valid only in 'extend', 'project' or 'serialize'")
  T.eq(kerr('SigninLogs | order by TimeGenerated asc | extend p = prev(row_number())'),
    "1:59: 'row_number' inside the arguments of 'prev'")
  -- prev(x, -k) is next(x, k) and next(x, -k) prev(x, k) (SQLite's lag(x, -2) gives NULL)
  local q = 'SigninLogs | order by TimeGenerated asc | project r = row_number(), a = prev(r2, -2), b = next(r2, 2), c = next(r2, -1), d = prev(r2, 1)'
  q = q:gsub("project", "extend r2 = row_number() | project", 1)
  local want = {}
  for i = 1, 5 do want[i] = { i, i <= 3 and i + 2 or nil, i <= 3 and i + 2 or nil, i > 1 and i - 1 or nil, i > 1 and i - 1 or nil } end
  T.eq(run(q), want)
end)

T.case("parse, extract, project-rename/away/reorder, distinct, in, IP functions", function()
  T.eq(run('print s = "user=bob id=42 rest" | parse s with "user=" U " id=" I:long " " *')[1], { "user=bob id=42 rest", "bob", 42 })
  T.eq(run('print e = extract(@"id=(\\d+)", 1, "x id=77 y")')[1][1], "77")
  local _, plan = run('SigninLogs | project-rename Ip = IPAddress | project-away Type, TenantId | project-reorder UserPrincipalName, Ip | take 1')
  T.eq({ names(plan)[1], names(plan)[2] }, { "UserPrincipalName", "Ip" })
  T.eq(run('SigninLogs | where IPAddress in ("1.2.3.4", "10.0.0.5") | distinct IPAddress | order by IPAddress asc'), { { "1.2.3.4" }, { "10.0.0.5" } })
  T.eq(run('SigninLogs | where IPAddress !in ("1.2.3.4") | count')[1][1], 3)
  T.eq(run('SigninLogs | where AppDisplayName in~ ("AZURE PORTAL") | count')[1][1], 2)
  T.eq(run('print a = ipv4_is_in_range("10.1.2.3", "10.0.0.0/8"), b = ipv4_is_private("8.8.8.8"), c = ipv4_is_private("192.168.1.1"), d = ipv4_is_match("192.168.1.1", "192.168.1.255", 24), e = parse_ipv4("1.2.3.4"), f = ipv6_compare("::1", "::2"), g = has_any_ipv4("from 1.2.3.4, port 80", "9.9.9.9", "1.2.3.4")')[1],
    { 1, 0, 1, 1, 16909060, -1, 1 })
end)

T.case("errors: unknown names with suggestions, aggregation required, unsupported functions", function()
  T.eq(kerr('SigninLogs | where IPAdress == "1.2.3.4"'), "1:20: unknown column 'IPAdress' (did you mean IPAddress?)")
  T.eq(kerr('SigninLog | take 1'), "1:1: unknown table 'SigninLog' (did you mean SigninLogs?)")
  T.eq(kerr('SigninLogs | summarize IPAddress'), "1:24: 'summarize' needs an aggregation (count(), dcount(X), ...), found an expression without one")
  T.eq(kerr('SigninLogs | extend g = geo_info_from_ip_address(IPAddress)'), "1:25: 'geo_info_from_ip_address' is not supported")
  T.eq(kerr('SigninLogs | where count() > 1'), "1:20: 'count' is an aggregation: use it in 'summarize'")
  T.eq(kerr('SigninLogs | where IPAddress matches regex "(1"'), "1:44: bad regular expression at offset 2: missing closing parenthesis")
  T.eq(kerr('SigninLogs | extend x = extract("[a-", 0, IPAddress)'), "1:33: bad regular expression at offset 3: missing terminating ] for character class")
  T.eq(run('SigninLogs | where ResultType == 0 | count'), sql("SELECT count(*) FROM SigninLogs WHERE ResultType = '0' AND TimeGenerated >= '2026-11-20'"),
    "a string compared with a number is compared as a number")
  T.eq(run('SigninLogs | where ResultType != 0 | count')[1][1], 2, "!= keeps the strings that are not that number, the empty one too")
  T.eq(run('SigninLogs | where ResultType > 100 | count')[1][1], 1)
  local ors = {}
  for i = 1, 900 do ors[i] = string.format('IPAddress == "10.9.%d.%d"', math.floor(i / 256), i % 256) end
  T.eq(run("SigninLogs | where " .. table.concat(ors, " or ") .. ' or IPAddress == "5.6.7.8" | count')[1][1], 2,
    "a chain of 900 'or' runs (one flat SQL list)")
  T.eq(run('SigninLogs | where ResultType in (0, 50126) | count')[1][1], 4, "in: a string column among numbers")
  T.eq(run('SigninLogs | where ResultType !in (0) | count')[1][1], 2)
  T.eq(run('print a = 5 in ("5", "6"), b = 7 in ("5", "6")')[1], { 1, 0 }, "in: a number among strings")
  T.eq(run('SigninLogs | where TimeGenerated >= "2026-11-26T11:00:00Z" | count')[1][1], 2, "a string compared with a datetime is read as one")
end)

T.case("every literal is a bound parameter: the SQL text holds none of the query's values", function()
  local _, plan = run([[SigninLogs | where IPAddress == "1.2.3.4' OR 1=1 --" and AppDisplayName has "x]y" | extend n = 12345 | take 7]])
  T.unlike(plan.sql, "1.2.3.4", "no string value")
  T.unlike(plan.sql, "12345", "no number value")
  T.unlike(plan.sql, "LIMIT 7", "no count")
end)

T.case("constructs the published corpus uses: table(), column_ifexists, extract_json, range, array_slice, strcat_array", function()
  T.eq(run('let t = "SigninLogs"; table(t) | count')[1][1], 5)
  T.eq(run('SigninLogs | where IPAddress == "1.2.3.4" | project a = column_ifexists("IPAddress", "none"), b = column_ifexists("NoSuch", "none") | take 1')[1], { "1.2.3.4", "none" })
  T.eq(run([[print a = extract_json("$.a[1]", '{"a":[5,6]}', typeof(long)), b = extractjson("$.b", '{"b":"x"}')]])[1], { 6, "x" })
  T.eq(run('print a = range(1, 7, 3), b = array_slice(dynamic([1,2,3,4]), 1, -1), c = strcat_array(dynamic(["a", 1]), "-")')[1], { "[1,4,7]", "[2,3,4]", "a-1" })
  T.eq(run('print t = range(datetime(2026-01-01), datetime(2026-01-01 02:00), 1h) | mv-expand t to typeof(datetime)'),
    { { "2026-01-01T00:00:00.000Z" }, { "2026-01-01T01:00:00.000Z" }, { "2026-01-01T02:00:00.000Z" } })
  T.eq(run('print s = "a" "b" \'c\'')[1][1], "abc", "adjacent string literals are one")
  local rows, plan = run('SigninLogs | summarize count(IPAddress), makeset(IPAddress, 2) by UserPrincipalName | where UserPrincipalName == "alice@x.com"')
  T.eq(names(plan), { "UserPrincipalName", "count_IPAddress", "set_IPAddress" })
  T.eq(rows[1], { "alice@x.com", 2, '["1.2.3.4","5.6.7.8"]' })
  T.eq(run('SigninLogs | where UserPrincipalName == "alice@x.com" | summarize makelist(IPAddress, 1)')[1][1]:match("^%[\"[%d.]+\"%]$") ~= nil, true)
  T.eq(run('SigninLogs | join kind=inner (SigninLogs | project U = UserPrincipalName, I = IPAddress) on $left.UserPrincipalName == $right.U and $left.IPAddress == $right.I | count')[1][1], 5)
  T.eq(run('print t = totimespan("01:30:00") | extend m = t / 1m')[1][2], 90)
end)

T.case("percentile (nearest rank) and make_bag", function()
  local rows, plan = run('datatable(x:long, g:string)[1,"a",2,"a",3,"a",4,"a",10,"b"] | summarize percentile(x, 50), p = percentile(x, 75), make_bag(bag_pack(tostring(x), g)) by g | order by g asc')
  T.eq(names(plan), { "g", "percentile_x_50", "p", "bag_x" })
  T.eq(rows, { { "a", 2, 3, '{"1":"a","2":"a","3":"a","4":"a"}' }, { "b", 10, 10, '{"10":"b"}' } })
end)

T.case("stdev and variance are sample statistics in real arithmetic, integer input too", function()
  -- by hand: 0, 1, 3 have mean 4/3 and squared deviations 16/9 + 1/9 + 25/9 = 42/9; / (3 - 1) = 7/3
  local rows = run('datatable(x:long)[0, 1, 3] | summarize v = variance(x), s = stdev(x), vr = variance(todouble(x))')
  T.ok(math.abs(rows[1][1] - 7 / 3) < 1e-12, "variance " .. tostring(rows[1][1]))
  T.ok(math.abs(rows[1][2] - math.sqrt(7 / 3)) < 1e-12, "stdev " .. tostring(rows[1][2]))
  T.ok(math.abs(rows[1][3] - 7 / 3) < 1e-12, "variance of reals " .. tostring(rows[1][3]))
  T.eq(run('datatable(x:long)[5] | summarize s = stdev(x)')[1], {}, "one value: no sample deviation (null)")
end)

T.case("the rest of the scalar list, each against its value worked out by hand", function()
  T.eq(run([[print a = substring("abcdef", 2, 3), b = strlen("héllo"), c = toupper("ab"), d = iif(1 > 2, "y", "n"),
    e = todatetime("2026-01-02T03:04:05Z"), f = format_datetime(datetime(2026-01-02 03:04:05.123), "yyyy-MM-dd HH:mm:ss.fff"),
    g = datetime_diff("day", datetime(2026-01-03 00:00), datetime(2026-01-01 23:59)), h = startofday(datetime(2026-01-02 03:04)),
    i = round(2.345, 2), j = toint("42"), k = toint("x"), l = tolong(7.9), m = toreal("1.5"), n = tostring(1 == 1),
    o = "abc" !contains "B", p = "a-b" !has "b", q = not(false), r = isnotnull(int(null))]])[1],
    { "cde", 5, "AB", "n", "2026-01-02T03:04:05.000Z", "2026-01-02 03:04:05.123", 2, "2026-01-02T00:00:00.000Z",
      2.35, 42, nil, 7, 1.5, "true", 0, 0, 1, 0 })
  T.eq(run('SigninLogs | order by TimeGenerated asc | extend nx = next(IPAddress), pv = prev(IPAddress, 2, "none") | limit 3 | project IPAddress, nx, pv'),
    { { "10.0.0.5", "1.2.3.4", "none" }, { "1.2.3.4", "1.2.3.4", "none" }, { "1.2.3.4", "5.6.7.8", "10.0.0.5" } })
  T.eq(run('SigninLogs | where IPAddress == "1.2.3.4" | summarize make_set_if(UserPrincipalName, ResultType == "0"), take_any(IPAddress)')[1],
    { '["alice@x.com"]', "1.2.3.4" })
  T.eq(run('let T = materialize(SigninLogs | where IPAddress == "5.6.7.8"); let n = toscalar(T | count); T | extend n | project n | take 1')[1][1], 2)
  T.eq(run('SigninLogs | where IPAddress == "1.2.3.4" | mvexpand d = dynamic(["a", "b"]) | count')[1][1], 4)
end)

T.case("* has across the row's text columns; union kind=inner; lookup; as; join hints", function()
  T.eq(run('SigninLogs | where * has "LYON" | project IPAddress'), { { "1.2.3.4" } }, "a term in a dynamic column")
  T.eq(run('SigninLogs | where * has "1.2.3.4" | count')[1][1], 2)
  T.eq(run('SigninLogs | where * !contains "x.com" | count')[1][1], 1)
  local _, plan = run('union kind=inner (SigninLogs | project IPAddress, A = 1), (AuditLogs | project Identity, A = 2) | take 1')
  T.eq(names(plan), { "A" })
  local rows, p2 = run('AuditLogs | lookup (SigninLogs | summarize n = count() by UserPrincipalName | project Identity = UserPrincipalName, n) on Identity | order by OperationName asc | project OperationName, n')
  T.eq(rows, { { "Add user", 2 }, { "Delete user", nil }, { "Reset password", 2 } })
  T.eq(names(p2), { "OperationName", "n" })
  T.eq(run('SigninLogs | where IPAddress == "1.2.3.4" | as S | join hint.strategy=shuffle kind=inner (S) on IPAddress | count')[1][1], 4)
end)

T.case("generated SQL stays proportional: '*' over a prior CTE, a replaced column, split picks once", function()
  -- extend of new columns over '*' keeps every column; one that replaces a column replaces it
  T.eq(run('SigninLogs | where IPAddress == "5.6.7.8" | extend A = 1 | extend IPAddress = "x", A = A + 1 | extend B = A * 10 '
    .. '| order by AppDisplayName asc | project IPAddress, AppDisplayName, A, B'),
    { { "x", "Office-Portal", 2, 20 }, { "x", "Teams", 2, 20 } })
  T.eq(run('SigninLogs | extend A = 1, A = 2 | take 1 | project A'), { { 2 } }, "a new column given twice: the last")
  local rows, plan = run('SigninLogs | where UserPrincipalName == "alice@x.com" | take 1 '
    .. '| extend N = tostring(split(UserPrincipalName, "@", 0)[0]), D = tostring(split(UserPrincipalName, "@", 1)[0]), '
    .. 'M = split(UserPrincipalName, "@", 5) | project N, D, M')
  T.eq(rows, { { "alice", "x.com", "[]" } })
  T.ok(not plan.sql:find("json_valid"), "split's result is well-formed JSON: no json_valid guard")
  T.ok(select(2, plan.sql:gsub('"UserPrincipalName"', "")) <= 6, "each split reads its input once: " .. plan.sql)
end)

T.case("has on a literal term: a cheap substring pre-filter before the term match, same rows", function()
  local rows, plan = run('SigninLogs | where LocationDetails has "1" | count')
  T.eq(rows[1][1], 2, "has '1' matches the whole term only (n:1 and [1,2])")
  T.ok(plan.sql:find("instr%(") ~= nil, "a term without letters: an instr pre-filter")
  T.eq(run('SigninLogs | where AppDisplayName has "PORTAL" | count')[1][1], 3)
  local _, p2 = run('SigninLogs | where AppDisplayName has "PORTAL" | count')
  T.ok(p2.sql:find(" LIKE ") ~= nil, "a term with letters: a case-insensitive LIKE pre-filter")
  T.eq(run('SigninLogs | where AppDisplayName has "por_al" | count')[1][1], 0, "LIKE wildcards in the term are literal")
  T.eq(run('SigninLogs | where AppDisplayName has_cs "Portal" | count')[1][1], 2)
  T.eq(run('SigninLogs | where * has "1.2.3.4" | count')[1][1], 2)
  T.eq(run('SigninLogs | where IPAddress has "1.2.3" | count')[1][1], 2, "a prefix of an IP is terms of it")
  T.eq(run('SigninLogs | where IPAddress !has "1.2.3.4" | count')[1][1], 3)
end)

T.case("startswith a literal: one case-insensitive LIKE, its wildcards and backslash literal, same rows as lower()", function()
  local texts = 'datatable(s:string)["Failed password", "FAILED x", "failed", "Fail", "50126", "50%off", "a_b", "axb", ' ..
    '"a\\\\b", "a\\\\\\\\b", "ab", "", "Élan", "élan"]'
  local function starts(needle, neg)
    local rows, plan = run(texts .. ' | where s ' .. (neg and '!' or '') .. 'startswith ' .. needle .. ' | project s')
    local out = {}
    for i, r in ipairs(rows) do out[i] = r[1] end
    return out, plan.sql
  end
  local got, q = starts('"Failed "')
  T.eq(got, { "Failed password", "FAILED x" }, "case-insensitive, the whole prefix (the space too)")
  T.ok(q:find(" LIKE ", 1, true) ~= nil and not q:find("lower(substr(", 1, true), "a LIKE, no lower() of a substring")
  T.eq(starts('"50%"'), { "50%off" }, "% is literal: 50126 does not start with 50%")
  T.eq(starts('"a_b"'), { "a_b" }, "_ is literal: axb does not start with a_b")
  T.eq(starts('@"a\\"'), { "a\\b", "a\\\\b" }, "a backslash is literal (ESCAPE '\\')")
  T.eq(starts('@"a\\\\"'), { "a\\\\b" }, "two backslashes are two")
  T.eq(starts('"É"'), { "Élan" }, "case folds ASCII only, as lower() does")
  T.eq(#starts('""'), 14, "every text starts with the empty string")
  T.eq(starts('"fail"', true), { "50126", "50%off", "a_b", "axb", "a\\b", "a\\\\b", "ab", "", "Élan", "élan" },
    "!startswith keeps the others, the empty text too")
  -- the same rows as the expression form (lower of the prefix), on the workspace
  T.eq(run('SigninLogs | where AppDisplayName startswith "azure p" | project UserPrincipalName'),
    sql("SELECT UserPrincipalName FROM SigninLogs WHERE lower(substr(AppDisplayName, 1, 7)) = 'azure p' AND TimeGenerated >= '2026-11-20'"))
  T.eq(#run('SigninLogs | where UserPrincipalName startswith "ALICE"'), 2)
  T.eq(#run('SigninLogs | where UserPrincipalName !startswith "a"'), 3, "a missing text reads as \"\": !startswith keeps it")
  T.eq(#run('let p = "AZ"; SigninLogs | where AppDisplayName startswith p'), 2, "a let-bound literal")
  T.eq(#run('SigninLogs | extend p = "AZ" | where AppDisplayName startswith p'), 2, "a needle computed in SQL")
end)

T.case("iff(prev(K) == K ...) after order by K, T: the group's window, the same rows as the row-by-row test", function()
  local data = 'datatable(a:string, b:string, t:long)["", "", 1, "", "", 3, "", "x", 4, "p", "x", 5, "p", "x", 9, "p", "y", 2, ' ..
    '"q", "", 7, "p", "x", 20, "q", "", 8, "p", "y", 6]'
  local function gaps(cond, order)
    local rows, plan = run(data .. ' | order by ' .. (order or 'a asc, b asc, t asc') ..
      ' | extend g = iff(' .. cond .. ', t - prev(t), -1) | project a, b, t, g')
    return rows, plan.sql
  end
  local want = { { "", "", 1, nil }, { "", "", 3, 2 }, { "", "x", 4, -1 }, { "p", "x", 5, -1 }, { "p", "x", 9, 4 },
    { "p", "x", 20, 11 }, { "p", "y", 2, -1 }, { "p", "y", 6, 4 }, { "q", "", 7, -1 }, { "q", "", 8, 1 } }
  local got, q = gaps('prev(a) == a and prev(b) == b')
  T.eq(got, want, "the first row (keys empty, prev() null = \"\") is of the same group: t - null")
  T.ok(q:find("PARTITION BY", 1, true) ~= nil, "the group's window")
  T.eq(gaps('b == prev(b) and a == prev(a)'), want, "either side, either order")
  T.eq(gaps('(prev(a) == a and prev(b) == b) == true'), want, "the row-by-row form (not recognised) agrees")
  local by_a = { { "", "", 1, nil }, { "", "", 3, 2 }, { "", "x", 4, 1 }, { "p", "x", 5, -1 }, { "p", "x", 9, 4 },
    { "p", "x", 20, 11 }, { "p", "y", 2, -18 }, { "p", "y", 6, 4 }, { "q", "", 7, -1 }, { "q", "", 8, 1 } }
  T.eq(gaps('prev(a) == a'), by_a, "one key of two: the group is a, ordered by b then t")
  local _, q2 = gaps('prev(a) == a and prev(b) == b', 'a desc, b desc, t asc')
  T.ok(not q2:find("PARTITION BY", 1, true), "descending keys: the row-by-row form")
  T.eq(run(data .. ' | where a != "" | order by a asc, b asc, t asc | extend g = iff(prev(a) == a and prev(b) == b, t - prev(t, 2), -1)' ..
    ' | project g')[3][1], 15, "prev(t, 2) in the branch reads the whole order: 20 - 5, two rows back")
  T.eq(kerr('SigninLogs | order by IPAddress asc, TimeGenerated asc | where iff(prev(IPAddress) == IPAddress, true, false)'),
    "1:68: 'prev' is valid only in 'extend', 'project' or 'serialize'", "the row functions' rules hold for the form too")
  T.eq(kerr('SigninLogs | order by IPAddress asc, TimeGenerated asc | extend g = iff(prev(IPAddress) == IPAddress, prev(prev(TimeGenerated)), datetime(null))'),
    "1:108: 'prev' inside the arguments of 'prev'", "nor inside the branch")
end)

T.case("x in (T) over a column of dynamic lists compares with their elements; \"\" is a value for make_set as for dcount", function()
  -- Kusto: in (tabular) with a dynamic column expands each list (summarize make_list ...)
  T.eq(run('let L = SigninLogs | where AppDisplayName startswith "Azure" | summarize make_list(IPAddress); '
    .. 'SigninLogs | where IPAddress in (L) | summarize dcount(UserPrincipalName)'), { { 2 } })
  T.eq(run('let L = SigninLogs | where AppDisplayName startswith "Azure" | summarize make_set(IPAddress); '
    .. 'SigninLogs | where IPAddress !in (L) | count')[1][1], 3)
  T.eq(run('let L = datatable(d:dynamic)[dynamic(["5.6.7.8"]), dynamic("10.0.0.5"), "not json"]; '
    .. 'SigninLogs | where IPAddress in (L) | summarize n = count() by IPAddress | order by IPAddress asc'),
    { { "10.0.0.5", 1 }, { "5.6.7.8", 2 } }, "a list, a scalar")
  T.eq(run('let L = datatable(d:string)["5.6.7.8"]; SigninLogs | where IPAddress in (L) | count')[1][1], 2, "a string column as it is")
  -- strings are never null in Kusto (learn.microsoft.com, null values): aggregations leave out nulls,
  -- so "" (and a NULL text column, which reads as "") is one value for make_set, make_list and dcount alike
  T.eq(run('SigninLogs | where IPAddress == "5.6.7.8" | summarize make_set(UserPrincipalName), dcount(UserPrincipalName), '
    .. 'make_list(ResultType)'), { { '["alice@x.com",""]', 2, '["0",""]' } })
  T.eq(run('print x = "" | summarize s = make_set(x), d = dcount(x)'), { { '[""]', 1 } })
  T.eq(run('print x = int(null) | summarize s = make_set(x), d = dcount(x)'), { { '[]', 0 } }, "a null long is left out by both")
end)

T.case("hash() is xxhash64 as Kusto's: the documented values, the 32-byte path, mod", function()
  -- learn.microsoft.com hash_xxhash64(): "World" -> 1846988464401551951, mod 100 -> 51; XXH64's
  -- published vectors: "abc" -> 0x44bc2cf5ad770999, a 39-byte text -> 0xfbcea83c8a378bf1
  T.eq(run('print a = hash("World"), b = hash("World", 100), c = hash_xxhash64("abc"), '
    .. 'd = hash("Nobody inspects the spammish repetition"), e = hash("Nobody inspects the spammish repetition", 1000)'),
    { { "1846988464401551951", 51, "4952883123889572249", "-302119147016844303", 313 } }, "beyond 2^53: exact decimal text")
  T.eq(run('print h = hash(""), n = hash(tostring(dynamic(["a","b"]))) == hash(\'["a","b"]\')')[1][2], 1)
  T.eq(kerr('print hash("a", "b")'), "1:17: 'hash' takes a number as its modulo, got string")
end)

T.case("round() is half away from zero at its digits (Kusto's documented values); a whole real literal stays real", function()
  -- learn.microsoft.com round(): 2.988, 2.2, 2, -100, 20; ties away from zero; long in, long out
  T.eq(run([[print a = round(2.98765, 3), b = round(2.15, 1), c = round(2.15), d = round(-50.55, -2), e = round(21.5, -1),
    f = round(2.5), g = round(-2.5), h = round(0.125, 2), i = round(-0.125, 2), j = round(7), k = round(1234, -2)]])[1],
    { 2.988, 2.2, 2, -100, 20, 3, -3, 0.13, -0.13, 7, 1200 })
  -- the digits computed in the query: the same values
  T.eq(run('print n = 1 | extend a = round(2.15, n), b = round(-2.25, n + 0), c = round(155.0, n - 2) | project a, b, c')[1],
    { 2.2, -2.3, 160 })
  -- as the Lua of the SQL hunts rounds: floor(x * 10^d + 0.5) / 10^d, to the same double
  for _, x in ipairs({ 0.82, 2.4549999, 299.95, 96.774193548, 1.005, 2.675, 0.0049999 }) do
    local lua = math.floor(x * 100 + 0.5) / 100
    T.eq(run('print r = round(x, 2)', { lets = { x = x } })[1][1], lua, "round(" .. x .. ", 2)")
  end
  T.eq(run('print a = 100.0 * 60 / 62, b = 100 * 60 / 62, c = 6.0 / 4')[1], { 100.0 * 60 / 62, 96, 1.5 },
    "100.0 is real (bound as a whole number, typed real): no whole-number division")
end)

T.case("array_sort_asc: numbers by value, then text bytewise, nulls last; make_set sorted", function()
  T.eq(run('print a = array_sort_asc(dynamic(["b", 10, "a", 9, null, "B"])), c = array_sort_asc(dynamic({"x": 1}))')[1],
    { '[9,10,"B","a","b",null]', nil }, "a value that is not an array: null")
  T.eq(run('SigninLogs | summarize s = make_set_if(UserPrincipalName, false) | project s = array_sort_asc(s)')[1][1], "[]",
    "an empty array")
  T.eq(run('SigninLogs | summarize r = round(avg(strlen(IPAddress)), 1), n = count() | project r')[1][1],
    sql("SELECT round(avg(length(IPAddress)), 1) FROM SigninLogs WHERE TimeGenerated >= :f AND TimeGenerated <= :t",
      { f = WINDOW.from, t = WINDOW.to })[1][1], "round of an aggregation in summarize")
  T.eq(run('SigninLogs | summarize s = make_set(UserPrincipalName) | project s = strcat_array(array_sort_asc(s), ",")')[1][1],
    sql("SELECT group_concat(u, ',') FROM (SELECT DISTINCT coalesce(UserPrincipalName, '') AS u FROM SigninLogs "
      .. "WHERE TimeGenerated >= :f AND TimeGenerated <= :t ORDER BY u)", { f = WINDOW.from, t = WINDOW.to })[1][1])
end)

T.case("variancep and stdevp: the population variance and deviation (hand-worked), nulls left out", function()
  -- 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population variance 4, deviation 2; sample variance 32/7
  local rows, plan = run([[datatable(x:real, g:string)[2,"a",4,"a",4,"a",4,"a",5,"a",5,"a",7,"a",9,"a",real(null),"a",3,"b"]
    | summarize variancep(x), s = stdevp(x), v = variance(x), n = count() by g | order by g asc]])
  T.eq(names(plan), { "g", "variancep_x", "s", "v", "n" })
  T.eq(rows[1], { "a", 4, 2, 32 / 7, 9 })
  T.eq(rows[2], { "b", 0, 0, nil, 1 }, "one value: 0 (the sample variance has none)")
  -- a sum of squares rounding below zero reads as 0 for stdevp
  T.eq(run('datatable(x:real)[0.1, 0.1, 0.1] | summarize s = stdevp(x)')[1][1], 0)
  T.eq(kerr('print stdevp(1)'), "1:7: 'stdevp' is an aggregation: use it in 'summarize'")
end)

T.case("ipe_named_ranges(): the named IP ranges (empty without them); IP in a range, in any of a list", function()
  local rw = assert(sqlite.open(path, "rw"))
  require("ipe.migrations.response").up(rw)
  for _, r in ipairs({ { "hq", "1.2.3.0/24", "Corporate" }, { "hq", "1.0.0.0/8", "Corporate" }, { "lab", "2001:db8::/32", "Other" } }) do
    rw:query("INSERT INTO _ipe_ip_ranges (Name, Cidr, Category, Tags, CreatedBy, CreatedTime, UpdatedBy, LastUpdatedTime) "
      .. "VALUES (:n, :c, :k, '[]', 't', 'x', 't', 'x')", { n = r[1], c = r[2], k = r[3] })
  end
  rw:close()
  local q = 'ipe_named_ranges() | order by Name asc, Cidr asc'
  local rows, plan = run(q)
  T.eq(names(plan), { "Name", "Category", "Cidr" })
  T.eq(rows, sql("SELECT Name, Category, Cidr FROM _ipe_ip_ranges ORDER BY Name, Cidr"))
  T.eq(#rows, 3)
  local none = kql.compile(q, { now = NOW, named_ranges = function() return false end })
  T.eq({ #db:query(none.sql, none.binds), none.columns[3].name }, { 0, "Cidr" }, "a workspace without them: an empty table")
  T.eq(run([[SigninLogs | distinct IPAddress | extend k = 1 | join kind=inner (ipe_named_ranges() | extend k = 1) on k
    | where ipv6_is_in_range(IPAddress, Cidr) | summarize n = count() by IPAddress, Name | order by IPAddress asc]]),
    { { "1.2.3.4", "hq", 2 } }, "1.2.3.4 in both networks of hq")
  T.eq(run([[let cidrs = toscalar(ipe_named_ranges() | summarize make_list(Cidr));
    print a = ipv4_is_in_any_range("1.2.3.4", cidrs), b = ipv6_is_in_any_range("2001:db8::1", cidrs),
      c = ipv4_is_in_any_range("9.9.9.9", cidrs), d = ipv4_is_in_any_range("9.9.9.9", "10.0.0.0/8", "9.9.0.0/16"),
      e = ipv6_is_in_range("2001:db9::1", "2001:db8::/32"), f = ipv4_is_in_any_range("1.2.3.4", dynamic([]))]])[1],
    { 1, 1, 0, 1, 0, 0 })
  T.eq(kerr('ipe_named_ranges(1)'), "1:1: 'ipe_named_ranges' takes no arguments, got 1")
  rw = assert(sqlite.open(path, "rw"))
  rw:exec("DELETE FROM _ipe_ip_ranges")
  rw:close()
end)

T.case("a batch: each statement its own plan, with the lets declared before it", function()
  local plan = kql.compile('let a = 1; print x = a; let b = a + 1; print y = b; print z = a + b', { now = NOW })
  T.eq(#plan.batch, 3)
  T.eq(plan.batch[1], plan, "the first plan is the statement's own")
  local got = {}
  for i, p in ipairs(plan.batch) do got[i] = db:query(p.sql, p.binds)[1][1] end
  T.eq(got, { 1, 2, 3 })
  T.eq(plan.batch[3].columns, { { name = "z", type = "long" } })
  T.eq(kql.compile('SigninLogs | count | as N', { now = NOW }).name, "N", "'| as N' names the result")
  T.eq(kerr('print a = b; let b = 1; print b'), "1:11: unknown name 'b'")
  T.eq(kerr('let f = () { print 1; print 2 }; f'), "1:23: only one query may follow the let statements")
  T.eq(kerr('print 1; print nope'), "1:16: unknown name 'nope'")
end)

T.case("array_sort_asc: numbers, then strings (ordinal), then the others; nulls last unless nulls_last is false", function()
  -- learn.microsoft.com array_sort_asc(): elements of different types sort numbers first, then
  -- strings, then all other elements; nulls_last defaults to true; the documented example
  T.eq(run('print a = array_sort_asc(dynamic([3, "b", null, 1.5, "B", true, {"x":1}, [2], false, -7, "a"]))')[1][1],
    '[-7,1.5,3,"B","a","b",[2],false,true,{"x":1},null]', "the others by their JSON text")
  T.eq(run('print a = array_sort_asc(dynamic([2, null, 10, 1]), false), b = array_sort_asc(dynamic([2, null, 1]), true)')[1],
    { "[null,1,2,10]", "[1,2,null]" })
  T.eq(run('print r = strcat_array(array_sort_asc(split("John,Paul,George,Ringo", ",")), ",")')[1][1], "George,John,Paul,Ringo")
  T.eq(run('print a = array_sort_asc(dynamic({"a":1})), b = array_sort_asc("x")')[1], {}, "no array: null")
  -- make_set's order is not defined: sorted, it is the one the SQL string_agg(..., "distinct") gives
  T.eq(run('SigninLogs | summarize s = make_set(IPAddress) | extend s = strcat_array(array_sort_asc(s), ",")')[1][1],
    sql("SELECT ipe_sorted_distinct(IPAddress, ',') FROM SigninLogs WHERE TimeGenerated >= :f AND TimeGenerated <= :t",
      { f = WINDOW.from, t = WINDOW.to })[1][1])
  T.eq(run('datatable(p:long)[445, 3389, 22, 445] | summarize s = make_set(p) | project s = strcat_array(array_sort_asc(s), ",")')[1][1],
    "22,445,3389", "numbers in numeric order")
  T.eq(kerr('print array_sort_asc(dynamic([2, 1]), dynamic(["b", "a"]))'), "1:39: 'array_sort_asc' of several arrays is not supported")
  T.eq(kerr('print array_sort_asc(dynamic([2, 1]), "yes")'), "1:7: 'array_sort_asc' expects a bool (nulls_last) as its second argument, got string")
end)

db:close()
