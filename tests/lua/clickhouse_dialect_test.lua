-- ipe.dialect.clickhouse: the one quoting function and :name binding (no server here;
-- tests/cli/clickhouse.t sends every hostile string below to a real server and back).
local T = require "ipe.testing"
local d = require "ipe.dialect.clickhouse"
local cjson = require "cjson"

-- the hostile strings, shared with tests/clickhouse/live_test.lua
local HOSTILE = dofile((debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or ".") .. "/clickhouse_hostile.lua")

T.case("quote escapes the quote and the backslash, and writes control bytes as \\xHH", function()
  T.eq(d.quote("it's"), [['it\'s']])
  T.eq(d.quote([[a\b]]), [['a\\b']])
  T.eq(d.quote("a\0b"), [['a\x00b']])
  T.eq(d.quote("l1\nl2\r\t"), [['l1\x0Al2\x0D\x09']])
  T.eq(d.quote("\127"), [['\x7F']])
  T.eq(d.quote("é ✓ 𝄞"), "'é ✓ 𝄞'")
  T.eq(d.quote(""), "''")
end)

T.case("a quoted hostile string has no unescaped quote, no raw control byte", function()
  for _, s in ipairs(HOSTILE) do
    local q = d.quote(s)
    local inner = q:sub(2, -2)
    T.eq(q:sub(1, 1) .. q:sub(-1), "''")
    T.eq(inner:find("[%z\1-\31\127]"), nil)
    -- read left to right: a backslash starts \\, \' or \xHH; a bare quote never appears
    local i, ok = 1, true
    while i <= #inner do
      local c = inner:sub(i, i)
      if c == "'" then ok = false break end
      if c == "\\" then
        local e = inner:sub(i + 1, i + 1)
        if e == "\\" or e == "'" then i = i + 2
        elseif inner:sub(i + 1, i + 3):match("^x%x%x$") then i = i + 4
        else ok = false break end
      else i = i + 1 end
    end
    T.ok(ok, "a bare quote or unknown escape in " .. q)
  end
end)

T.case("quote refuses what is not a string", function()
  T.raises(function() d.quote(1) end, "clickhouse.quote: expects a string, got number")
end)

T.case("literal by type: NULL, booleans, integers, floats, lists, maps", function()
  T.eq(d.literal(nil), "NULL")
  T.eq(d.literal(cjson.null), "NULL")
  T.eq(d.literal(true), "1")
  T.eq(d.literal(false), "0")
  T.eq(d.literal(42), "42")
  T.eq(d.literal(-7), "-7")
  T.eq(d.literal(2 ^ 53), "9007199254740992")
  T.eq(d.literal(9007199254740993LL), "9007199254740993")
  T.eq(d.literal(18446744073709551615ULL), "18446744073709551615")
  T.eq(d.literal(-9223372036854775807LL - 1), "-9223372036854775808")
  T.eq(d.literal(d.int("12345678901234567890")), "12345678901234567890")
  T.eq(d.literal(0.1), "0.10000000000000001")
  T.eq(d.literal(1e300), "1.0000000000000001e+300")
  T.eq(d.literal(0 / 0), "nan")
  T.eq(d.literal(math.huge), "inf")
  T.eq(d.literal(-math.huge), "-inf")
  T.eq(d.literal({ "1.2.3.4", "a'b" }), [[('1.2.3.4', 'a\'b')]])
  T.eq(d.literal({ 1, 2 }), "(1, 2)")
  T.eq(d.literal({}), "(NULL)")
  T.eq(d.literal({ a = 1 }), [['{"a":1}']])
  T.raises(function() d.int("1; DROP TABLE x") end, "clickhouse.int: expects decimal digits")
  T.raises(function() d.literal({ { 1 } }) end, "a list for IN holds plain values")
  T.raises(function() d.literal(print) end, "cannot bind a function value")
end)

T.case("bind replaces :name outside literals, quoted names and comments", function()
  local sql, params = d.bind([[SELECT ':ip', "a:ip", `b:ip`, x -- :ip
/* :ip */ FROM t WHERE ip = :ip AND t >= :from AND s = 'it\'s :ip' AND q = 'o''k :ip' AND ip IN :list]],
    { ip = "1.2.3.4", list = { "a", "b" } }, { from = "2026-01-01" })
  T.eq(sql, [[SELECT ':ip', "a:ip", `b:ip`, x -- :ip
/* :ip */ FROM t WHERE ip = '1.2.3.4' AND t >= '2026-01-01' AND s = 'it\'s :ip' AND q = 'o''k :ip' AND ip IN ('a', 'b')]])
  T.eq(params, { { name = "ip", value = "1.2.3.4" }, { name = "from", value = "2026-01-01" },
    { name = "list", value = { "a", "b" } } })
end)

T.case("a bound value can never end the literal or start a statement", function()
  for _, s in ipairs(HOSTILE) do
    local sql = d.bind("SELECT :s AS v, :s = :s", { s = s })
    -- re-binding the output finds no parameter: everything of s stayed inside literals
    local again, params = d.bind(sql, {})
    T.eq(again, sql)
    T.eq(#params, 0)
  end
end)

T.case("bind: a parameter without a value is one clear error", function()
  T.raises(function() d.bind("SELECT :nope", {}) end, "ctx.db: no value for parameter :nope")
end)

T.case("bind keeps a colon that starts no name", function()
  T.eq((d.bind("SELECT 1 ? 2 : 3, ':'", {})), "SELECT 1 ? 2 : 3, ':'")
end)

T.done()
