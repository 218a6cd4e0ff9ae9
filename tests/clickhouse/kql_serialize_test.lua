-- KQL's serialized row sets on ClickHouse 18.16 (issue 12): serialize, prev(), next() and
-- row_number(), which SQLite computes with window functions (LAG, LEAD, ROW_NUMBER) and
-- ipe.kql.clickhouse with arrays (18.16 has no window functions). The same rows go into a SQLite
-- workspace and into the 2-shard cluster; each query runs with `ipe-run kql --format json` on
-- both and the rows are compared, in order. Some answers are also computed here in Lua from
-- the rows themselves (edge rows, NULLs, offsets past either end, per-row defaults), and
-- beaconing-to-ip's answer on the demo from its raw connections. Run by tests/cli/clickhouse.t
-- (IPE_TEST_CH_CLUSTER_URL).
local T = require "ipe.testing"
local proc = require "ipe.proc"
local fs = require "ipe.fs"
local cjson = require "cjson"
local H = require "ipe.harness"

local CLUSTER = assert(proc.getenv("IPE_TEST_CH_CLUSTER_URL"), "run me through tests/cli/clickhouse.t")
local RUN = os.time()   -- a database of this run's own (a cluster kept between runs)
local URL = CLUSTER:gsub("/[%w_]+%?", "/ipe_serial_" .. RUN .. "?", 1)
local DEMO_URL = CLUSTER:gsub("/[%w_]+%?", "/ipe_serial_demo_" .. RUN .. "?", 1)
local exe = assert(proc.exe_path())
local NULL = cjson.null
local NOW = "2026-11-27T12:00:00.000Z"

local home = os.tmpname()
os.remove(home)
assert(os.execute("mkdir -p '" .. home .. "'") == 0)
local LITE = home .. "/w.db"

local function sh(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
-- ipe-run args... -> exit code, stdout, stderr (its own HOME and XDG folders)
local function ipe(args)
  local q = {}
  for i, a in ipairs(args) do q[i] = sh(a) end
  local err = H.tmpfile(".err")
  local p = assert(io.popen(string.format("HOME=%s XDG_DATA_HOME=%s/data XDG_CONFIG_HOME=%s/config IPE_NOW=%s %s %s 2>%s; echo \"rc=$?\"",
    sh(home), sh(home), sh(home), NOW, sh(exe), table.concat(q, " "), sh(err))))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return rc, out:gsub("rc=%d+\n$", ""), fs.read(err) or ""
end

local WINDOW = { "--from", "2026-11-20T00:00:00.000Z", "--to", "2026-11-21T00:00:00.000Z" }
-- the rows of a query's result on a workspace (nil, the error when it fails)
local function rows(db, q, window)
  local args = { "kql", "--db", db, "--format", "json", "--now", NOW }
  for _, a in ipairs(window or WINDOW) do args[#args + 1] = a end
  args[#args + 1] = q
  local rc, out, err = ipe(args)
  if rc > 1 then return nil, "exit " .. rc .. ": " .. err end
  local ok, doc = pcall(cjson.decode, out)
  if not ok then return nil, "exit " .. rc .. ": no JSON: " .. err end
  return doc.sections[1].rows
end
-- numbers at 9 significant digits (a real summed per shard differs in its last bits)
local function canon(rs)
  for _, r in ipairs(rs) do
    for j, v in ipairs(r) do
      if type(v) == "number" and v % 1 ~= 0 then r[j] = tonumber(string.format("%.9g", v)) end
    end
  end
  return rs
end
local function both(q)
  local a, ea = rows(LITE, q)
  local b, eb = rows(URL, q)
  T.ok(a, "SQLite: " .. tostring(ea))
  T.ok(b, "ClickHouse: " .. tostring(eb))
  return canon(a), canon(b)
end

-- the rows: three sources (one a single row), two rows alike in every column (a tie), NULL
-- ports, bytes, host names and start times, milliseconds in the times
local ROWS = {
  { "2026-11-20T10:00:00.100Z", "10.0.0.1", 443, 100, "h1", "allow", "2026-11-20T09:59:00.000Z" },
  { "2026-11-20T10:05:00.350Z", "10.0.0.1", NULL, 250, NULL, "deny", NULL },
  { "2026-11-20T10:10:00.900Z", "10.0.0.2", 80, NULL, "h2", "allow", "2026-11-20T10:09:00.500Z" },
  { "2026-11-20T10:15:00.000Z", "10.0.0.1", 443, 75, "h1", "allow", NULL },
  { "2026-11-20T10:20:00.001Z", "10.0.0.3", 22, 5000, "", "drop", "2026-11-20T10:19:59.999Z" },
  { "2026-11-20T10:25:00.000Z", "10.0.0.2", 80, 300, "h2", "allow", NULL },
  { "2026-11-20T10:30:00.000Z", "10.0.0.2", 8080, 300, NULL, "deny", NULL },
  { "2026-11-20T10:30:00.000Z", "10.0.0.2", 8080, 300, NULL, "deny", NULL },
  { "2026-11-20T10:45:30.500Z", "10.0.0.1", 443, 120, "h1", "allow", "2026-11-20T10:45:00.000Z" },
  { "2026-11-20T11:00:00.000Z", "10.0.0.2", NULL, 42, "h2", "allow", NULL },
}
local COLS = { "TimeGenerated", "SourceIP", "DestinationPort", "SentBytes", "SourceHostName", "DeviceAction", "StartTime" }

T.case("the rows go into SQLite and into the cluster", function()
  local lines = {}
  for i, r in ipairs(ROWS) do
    local o = { DestinationIP = "198.51.100.7" }
    for j, c in ipairs(COLS) do if r[j] ~= NULL then o[c] = r[j] end end
    lines[i] = cjson.encode(o)
  end
  local file = home .. "/CommonSecurityLog.jsonl"
  assert(fs.write_atomic(file, table.concat(lines, "\n") .. "\n"))
  for _, db in ipairs({ LITE, URL }) do
    local rc, _, err = ipe({ "ingest", "--db", db, "--table", "CommonSecurityLog", file })
    T.eq(rc, 0, db .. ": " .. err)
  end
end)

-- the rows sorted by a key (the row's index breaks a tie, as Lua's sort is not stable)
local function sorted(key, desc)
  local list = {}
  for i, r in ipairs(ROWS) do list[i] = { i = i, r = r } end
  table.sort(list, function(a, b)
    local x, y = a.r[key], b.r[key]
    if x ~= y then if desc then return x > y end return x < y end
    return a.i < b.i
  end)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.r end
  return out
end
-- the value at row i + k of list (k rows after; NULL, or dflt, past either end)
local function at(list, i, k, col, dflt)
  local r = list[i + k]
  if not r then return dflt == nil and NULL or dflt end
  return r[col]
end
local function str(v) return v == NULL and "" or v end   -- a string column's NULL reads as ""

T.case("prev, next and row_number after order by: edge rows and NULLs (computed from the rows)", function()
  local q = [[CommonSecurityLog | order by TimeGenerated asc
    | project TimeGenerated, r = row_number(), r0 = row_number(0), p = prev(SourceIP), n = next(SourceIP),
      b = prev(SentBytes), port = next(DestinationPort, 1, -1), h = prev(SourceHostName, 1, "none"), s = prev(StartTime),
      s2 = next(StartTime, 2)]]
  local list, want = sorted(1), {}
  for i, r in ipairs(list) do
    want[i] = { r[1], i, i - 1, str(at(list, i, -1, 2)), str(at(list, i, 1, 2)), at(list, i, -1, 4), at(list, i, 1, 3, -1),
      str(at(list, i, -1, 5, "none")), at(list, i, -1, 7), at(list, i, 2, 7) }
  end
  local a, b = both(q)
  T.eq(a, want, "SQLite")
  T.eq(b, want, "ClickHouse")
end)

T.case("offsets 0, past the end, negative; a default read at the row", function()
  local q = [[CommonSecurityLog | order by TimeGenerated desc
    | project TimeGenerated, p0 = prev(SentBytes, 0), p3 = prev(SentBytes, 3), n20 = next(SentBytes, 20, 7),
      m = prev(DestinationPort, -2), d = next(SourceIP, 1, strcat(SourceIP, "!")), k = prev(SentBytes, 2, SentBytes * 10)]]
  local list, want = sorted(1, true), {}
  for i, r in ipairs(list) do
    local k = at(list, i, -2, 4, r[4] == NULL and NULL or r[4] * 10)
    want[i] = { r[1], r[4], at(list, i, -3, 4), 7, at(list, i, 2, 3), at(list, i, 1, 2, r[2] .. "!"), k }
  end
  local a, b = both(q)
  T.eq(a, want, "SQLite")
  T.eq(b, want, "ClickHouse")
end)

-- each query on both engines: the same rows in the same order (each orders on keys that make
-- its answer one: a tie's rows are alike in every column read)
local SAME = {
  { "sources as partitions: the interval since the source's previous row (beaconing's pattern)",
    [[CommonSecurityLog | sort by SourceIP asc, TimeGenerated asc
      | extend Gap = iff(prev(SourceIP) == SourceIP, (TimeGenerated - prev(TimeGenerated)) / 1s, real(null))
      | project SourceIP, TimeGenerated, Gap]] },
  { "ties: row numbers 1..n over equal keys",
    [[CommonSecurityLog | order by SourceIP asc | project SourceIP, r = row_number(), p = prev(SourceIP), n = next(SourceIP, 3)]] },
  { "serialize after summarize and order by",
    [[CommonSecurityLog | summarize Sent = sum(SentBytes), n = count() by SourceIP | order by Sent desc, SourceIP asc
      | extend Rank = row_number(), Prev = prev(Sent), Diff = Sent - prev(Sent, 1, 0)]] },
  { "serialize with no order: numbers 1..n",
    [[CommonSecurityLog | summarize n = count() by SourceIP | serialize r = row_number()
      | summarize min(r), max(r), count(), sum(r), dcount(r)]] },
  { "serialize, then row_number with a start",
    [[CommonSecurityLog | serialize | extend r = row_number(10) | summarize min(r), max(r), dcount(r)]] },
  { "order by, serialize with items",
    [[CommonSecurityLog | order by TimeGenerated asc | serialize r = row_number(), p = prev(SentBytes, 1, -1)
      | project TimeGenerated, r, p]] },
  { "two extends in a row: the second numbers the first's rows",
    [[CommonSecurityLog | order by TimeGenerated asc | extend a = row_number() | extend b = prev(a, 2), c = next(a)
      | project TimeGenerated, a, b, c]] },
  { "top, then prev",
    [[CommonSecurityLog | top 4 by TimeGenerated desc | extend p = prev(TimeGenerated) | project TimeGenerated, p]] },
  { "a where between order by and the row functions keeps the order",
    [[CommonSecurityLog | order by TimeGenerated asc | where SourceIP != "10.0.0.3"
      | project TimeGenerated, r = row_number(), p = prev(DeviceAction)]] },
  { "a sort after the row functions keeps their numbering as its last key",
    [[CommonSecurityLog | order by TimeGenerated asc | extend r = row_number() | sort by SourceIP asc
      | project SourceIP, r, p = prev(r)]] },
  { "bool and dynamic values",
    [[CommonSecurityLog | order by TimeGenerated asc | extend big = SentBytes > 100, d = pack_array(SourceIP, DestinationPort)
      | project TimeGenerated, pb = prev(big), nb = next(big, 1, false), pd = prev(d), nd = next(d, 1, dynamic(["x"]))]] },
  { "no rows",
    [[CommonSecurityLog | where SourceIP == "none" | order by TimeGenerated asc
      | project SourceIP, p = prev(SourceIP), r = row_number()]] },
}
for _, c in ipairs(SAME) do
  T.case("the same rows on both engines: " .. c[1], function()
    local a, b = both(c[2])
    T.eq(b, a)
  end)
end

T.case("a sort after the row functions: the ties of the new key in the old order (computed from the rows)", function()
  local a = rows(URL, [[CommonSecurityLog | order by TimeGenerated asc | extend r = row_number() | sort by SourceIP asc
    | project SourceIP, r]])
  local list, want = sorted(1), {}
  for i, r in ipairs(list) do want[i] = { r[2], i } end
  table.sort(want, function(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end)
  T.eq(a, want)
end)

-- refused: one line naming the construct and where it is, exit 2, nothing on stdout
local function refused(db, q, line)
  local rc, out, err = ipe({ "kql", "--db", db, "--now", NOW, q })
  T.eq({ rc, out, (err:match("^[^\n]*")) }, { 2, "", line })
end

T.case("row functions outside extend, project and serialize: refused on both engines", function()
  local q = [[CommonSecurityLog | order by TimeGenerated asc | where prev(SourceIP) == SourceIP]]
  for _, db in ipairs({ LITE, URL }) do
    refused(db, q, "ipe-run: kql:1:56: 'prev' is valid only in 'extend', 'project' or 'serialize'")
  end
  q = [[CommonSecurityLog | order by TimeGenerated asc | extend p = next(prev(SourceIP))]]
  for _, db in ipairs({ LITE, URL }) do
    refused(db, q, "ipe-run: kql:1:66: 'prev' inside the arguments of 'next'")
  end
  q = [[CommonSecurityLog | extend r = row_number()]]
  for _, db in ipairs({ LITE, URL }) do
    refused(db, q, "ipe-run: kql:1:32: 'row_number' needs a serialized row set (use 'serialize' or 'order by' before it)")
  end
end)

T.case("on ClickHouse: an offset computed per row, and mv-apply, stay refused in one line", function()
  refused(URL, [[CommonSecurityLog | order by TimeGenerated asc | extend p = prev(SentBytes, DestinationPort)]],
    "ipe-run: kql:1:77: 'prev with an offset that is not a whole constant' is not supported on ClickHouse 18.16")
  refused(URL, [[print a = dynamic([3, 1, 2]) | mv-apply a to typeof(long) on (top 1 by a desc)]],
    "ipe-run: kql:1:32: 'mv-apply' is not supported on ClickHouse 18.16")
end)

-- beaconing-to-ip on the demo: the hunt's rows on both engines, and as computed here from the
-- connections themselves (each source's hosts, the seconds between consecutive connections)
T.case("beaconing-to-ip on the demo: the same rows on both engines, as computed from its connections", function()
  local demo = home .. "/demo.db"
  for _, db in ipairs({ demo, DEMO_URL }) do
    local rc, _, err = ipe({ "demo", "--db", db, "--seed", 7, "--events", 10239, "--now", NOW })
    T.eq(rc, 0, err)
  end
  local ip = "89.160.20.128"
  local hunt = {}
  for i, db in ipairs({ demo, DEMO_URL }) do
    local rc, out, err = ipe({ "hunt", "beaconing-to-ip", "--ip", ip, "--db", db, "--format", "json", "--timeout", 60 })
    T.eq(rc, 0, err)
    hunt[i] = canon(cjson.decode(out).sections[1].rows)
  end
  T.eq(hunt[2], hunt[1], "ClickHouse's rows are SQLite's")
  -- the connections (no row function in this query), then the hunt's arithmetic here
  local conns = rows(demo, [[union
      (DeviceNetworkEvents | where RemoteIP == "89.160.20.128" and not(ActionType startswith "Inbound")
       | project Source = "DeviceNetworkEvents", Host = DeviceName, TimeGenerated),
      (CommonSecurityLog | where DestinationIP == "89.160.20.128"
       | project Source = "CommonSecurityLog", Host = coalesce(SourceHostName, SourceIP), TimeGenerated)]],
    { "--since", "7d" })
  local times, keys = {}, {}
  for _, r in ipairs(conns) do
    local k = r[1] .. "\t" .. r[2]
    if not times[k] then times[k] = {}; keys[#keys + 1] = k end
    local t = assert(require("ipe.timeutil").parse_time(r[3]))
    times[k][#times[k] + 1] = t
  end
  local want = {}
  for _, k in ipairs(keys) do
    local ts = times[k]
    table.sort(ts)
    local n, sum, gaps = #ts, 0, {}
    for i = 2, n do gaps[#gaps + 1] = ts[i] - ts[i - 1]; sum = sum + gaps[#gaps] end
    local mean = #gaps > 0 and sum / #gaps or nil
    if mean and n >= 20 and mean > 0 then
      local var = 0
      for _, g in ipairs(gaps) do var = var + (g - mean) ^ 2 end
      var = var / #gaps
      if var <= (10 * mean / 100) ^ 2 then
        local src, host = k:match("^(.-)\t(.*)$")
        want[#want + 1] = { src, host, n, mean, math.sqrt(var), 100 * math.sqrt(var) / mean, var / mean ^ 2 }
      end
    end
  end
  table.sort(want, function(x, y) if x[7] ~= y[7] then return x[7] < y[7] end return x[3] > y[3] end)
  T.ok(#want > 0, "the demo has beaconing hosts")
  T.eq(#hunt[1], #want, "as many hosts as computed here")
  for i, w in ipairs(want) do
    local h = hunt[1][i] or {}
    T.eq({ h[1], h[2], h[3] }, { w[1], w[2], w[3] }, "host " .. i)
    T.ok(math.abs(h[4] - w[4]) <= 0.051 and math.abs(h[5] - w[5]) <= 0.0051 and math.abs(h[6] - w[6]) <= 0.0051,
      "host " .. i .. ": interval, deviation and jitter " .. T.show(h) .. " against " .. T.show(w))
  end
end)

H.cleanup()
os.execute("rm -rf " .. sh(home))
