-- ipe.clickhouse against a real server (run by tests/cli/clickhouse.t, which starts the
-- 2-shard cluster and sets IPE_TEST_CH_URL, IPE_TEST_CH_PASSWORD, IPE_TEST_CH_PORT2).
local T = require "ipe.testing"
local ch = require "ipe.clickhouse"
local cjson = require "cjson"
local proc = require "ipe.proc"

local URL = assert(proc.getenv("IPE_TEST_CH_URL"), "run me through tests/cli/clickhouse.t")
local PASSWORD = assert(proc.getenv("IPE_TEST_CH_PASSWORD"))
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
local HOSTILE = dofile(here .. "/../lua/clickhouse_hostile.lua")

local function err_of(fn)
  local ok, e = pcall(fn)
  T.eq(ok, false, "expected an error")
  return type(e) == "table" and e.msg or tostring(e)
end

local reader = ch.open(URL, { role = "reader", password = "" })

T.case("every hostile string comes back unchanged from SELECT :s", function()
  for i, s in ipairs(HOSTILE) do
    local rows, cols = reader:query("SELECT :s AS v, length(:s) AS n", { s = s })
    T.eq(cols, { "v", "n" })
    T.eq(rows[1][2], #s, "length of hostile string " .. i)
    -- every string byte for byte (hex); the raw text too, except the one that is not UTF-8
    -- (JSON output can only carry UTF-8 as it is)
    local hex = (s:gsub(".", function(c) return ("%02X"):format(c:byte()) end))
    T.eq(reader:query("SELECT hex(:s)", { s = s })[1][1], hex, "hex of hostile string " .. i)
    if i < #HOSTILE then T.eq(rows[1][1], s, "hostile string " .. i) end
  end
end)

T.case("the 256 byte values survive a round trip (hex compared)", function()
  local all = {}
  for b = 0, 255 do all[#all + 1] = string.char(b) end
  local s = table.concat(all)
  T.eq(reader:query("SELECT hex(:s)", { s = s })[1][1], (s:gsub(".", function(c) return ("%02X"):format(c:byte()) end)))
end)

T.case("typed values: big integers exact, NULL, floats, booleans, IN lists", function()
  local rows = reader:query("SELECT :big AS b, toString(:big), :neg, :n IS NULL, :f, :t, :no, 2 IN :list, 5 IN :list, "
    .. "'x' IN :empty, :small", { big = 9007199254740993LL, neg = -9223372036854775807LL - 1, n = cjson.null,
    f = 0.1, t = true, no = false, list = { 1, 2, 3 }, empty = {}, small = 12 })
  local r = rows[1]
  T.eq(r[1], "9007199254740993")
  T.eq(r[2], "9007199254740993")
  T.eq(r[3], "-9223372036854775808")
  T.eq(r[4], 1)
  T.eq(r[5], 0.1)
  T.eq({ r[6], r[7], r[8], r[9], r[10] }, { 1, 0, 1, 0, 0 })
  T.eq(r[11], 12)
  T.eq(reader:query("SELECT toUInt64(:u)", { u = require("ipe.dialect.clickhouse").int("18446744073709551615") })[1][1],
    "18446744073709551615")
end)

T.case("a reader cannot write: readonly=1 goes with every statement", function()
  local e = err_of(function() reader:exec("CREATE TABLE ipe_t_ro (a UInt8) ENGINE = Memory") end)
  T.like(e, "^clickhouse 127%.0%.0%.1:%d+: Code 164: Cannot .* in readonly mode$")
end)

T.case("server errors are one line naming the server and the script", function()
  local c = ch.open(URL, { role = "reader", password = "" })
  c:set_script("insight 'remote-connections'")
  local e = err_of(function() c:query("SELECT nosuchcolumn FROM system.one") end)
  T.like(e, "^clickhouse 127%.0%.0%.1:%d+: Code 47: .*nosuchcolumn.* %(insight 'remote%-connections'%)$")
  T.eq(e:find("\n"), nil)
end)

T.case("budgets travel as settings: max_execution_time and max_memory_usage (and room for compiled KQL)", function()
  local c = ch.open(URL, { role = "reader", password = "" })
  c:set_deadline(7)
  c:set_memory(123456789)
  local rows = c:query("SELECT name, value FROM system.settings WHERE name IN ('max_execution_time', "
    .. "'max_memory_usage', 'max_query_size', 'max_ast_elements', 'max_expanded_ast_elements', 'readonly') ORDER BY name")
  T.eq(rows, { { "max_ast_elements", "1000000" }, { "max_execution_time", "7" }, { "max_expanded_ast_elements", "10000000" },
    { "max_memory_usage", "123456789" }, { "max_query_size", "4194304" }, { "readonly", "1" } })
  c:set_memory(1000)
  T.like(err_of(function() c:query("SELECT count() FROM (SELECT number FROM system.numbers LIMIT 100000) GROUP BY number % 100000") end),
    "Code 241: Memory limit %(for query%) exceeded")
end)

T.case("the password authenticates and never appears in an error", function()
  local user_url = URL:gsub("//default@", "//ipe@")
  local good = ch.open(user_url, { role = "reader", password = PASSWORD })
  T.eq(good:query("SELECT user FROM system.processes WHERE query LIKE '%ipe-whoami%'")[1][1], "ipe")
  local wrong = ch.open(user_url, { role = "reader", password = PASSWORD .. "x" })
  local e = err_of(function() wrong:query("SELECT 1") end)
  T.like(e, "^clickhouse 127%.0%.0%.1:%d+: Code 193: Wrong password for user ipe$")
  T.eq(e:find(PASSWORD, 1, true), nil)
end)

T.case("an unreachable server is one line naming it", function()
  local c = ch.open("clickhouse://127.0.0.1:1/x", { role = "reader", password = "" })
  T.like(err_of(function() c:query("SELECT 1") end), "^clickhouse 127%.0%.0%.1:1: .*[Cc]onnect")
end)

T.case("URLs: user, port, database, cluster, nodes, secure; passwords refused", function()
  local t = ch.parse("clickhouse://alice@db.example:9000/sec?cluster=c1&nodes=a:1,b:2")
  T.eq({ t.user, t.host, t.port, t.database, t.cluster, #t.nodes, t.nodes[2].host, t.nodes[2].port, t.secure },
    { "alice", "db.example", 9000, "sec", "c1", 2, "b", 2, false })
  t = ch.parse("clickhouse://h/")
  T.eq({ t.user, t.port, t.database }, { "default", 8123, "default" })
  T.eq(ch.parse("clickhouse://h/d?secure=1").port, 8443)
  T.eq(ch.parse("clickhouse://[::1]:81/d").host, "[::1]")
  local e = err_of(function() ch.parse("clickhouse://bob:hunter2@h/d") end)
  T.eq(e, "bad ClickHouse URL 'clickhouse://***@h/d': put the password in IPE_CLICKHOUSE_PASSWORD or the config file, not in the URL")
  T.like(err_of(function() ch.parse("clickhouse://h/d;drop") end), "the database must be a plain name")
  T.like(err_of(function() ch.parse("clickhouse://h/d?cluster=a b") end), "unknown or bad setting 'cluster=a b'")
  T.like(err_of(function() ch.parse("clickhouse://h/d?nodes=a:1") end), "nodes= needs cluster=")
end)

T.done()
