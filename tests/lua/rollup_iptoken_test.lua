-- Tests for ipe_ip_token(v) (core/sql_iptoken.c), the C function the per-IP activity recounts
-- of ipe.rollup.sqlite use: the same value, byte for byte and type for type, as the plain SQL
-- the rollup triggers compute (rollup.token_sql: trim, drop trailing dots, test the shape of an
-- IPv4 or IPv6 address) — for hand-picked edge cases, for non-text values, and for 20,000
-- random strings over the characters that matter. Needs ipe.sqlite (ipe-run test).
local T = require "ipe.testing"
local has_sqlite, sqlite = pcall(require, "ipe.sqlite")
if not has_sqlite then
  T.skip("ipe_ip_token", "needs the C core (run with ipe-run test)")
  return T.done()
end
local rollup = require "ipe.rollup.sqlite"

local db = assert(sqlite.open(":memory:", "rwc"))
local both = db:prepare("SELECT " .. rollup.token("?1") .. ", typeof(" .. rollup.token("?1") .. "), "
  .. rollup.token_sql("?1") .. ", typeof(" .. rollup.token_sql("?1") .. ")")

-- differences(values) -> the values on which C and SQL differ, shown with both answers
-- (and how many of them are addresses)
local function differences(values)
  local out, tokens = {}, 0
  for _, v in ipairs(values) do
    both:bind({ v })
    local r = both:step()
    both:reset()
    if r[1] ~= r[3] or r[2] ~= r[4] then
      out[#out + 1] = string.format("%q: C %s (%s), SQL %s (%s)", tostring(v), tostring(r[1]), r[2], tostring(r[3]), r[4])
    end
    if r[2] == "text" then tokens = tokens + 1 end
  end
  return out, tokens
end

T.case("edge cases: the same token as the plain SQL", function()
  local cases = {
    "1.2.3.4", "1.2.3.4.", "1.2.3.4...", "<1.2.3.4>", "'1.2.3.4'", "{1.2.3.4}-", "|1.2.3.4|.", "-1.2.3.4-.",
    "1.2.3.4-.", ".1.2.3.4", "1..2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.a", "255.255.255.255", "1234.5.6.7",
    "1234.5678.9.10", "1234.5678.90.12", "1234.5678.90.123", "12345.6789.10.11", "001.002.003.004", "1.2.3.4:80", "[1.2.3.4]", "", " ", "-", "...",
    "::", "::1", "fe80::1", "FE80::1%eth0", "2001:db8::", "2001:db8:0:0:0:0:0:1", "2001:db8:0:0:0:0:1",
    "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4", "a:b", "a:b:c", "g::1", "2001:DB8::ABCD",
    "1:2:3:4:5:6:7:8abcdefabcdefabcdefabcdefabcdefabcdefabcdefabc", string.rep("a", 44) .. "::",
    string.rep("a", 45) .. "::", "1.2.3.4\0", "1.2.3.4\0x", "a:b\0::", "a:b:c\0::", "1:2\0:3:4:5:6:7:8",
    "\0001.2.3.4", "1.2.3.4\0.", "é1.2.3.4", "1.2.3.4é", "１.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\t",
  }
  local diff, tokens = differences(cases)
  T.eq(diff, {}, #cases .. " edge cases")
  T.eq(tokens, 22, "of which addresses")
end)

T.case("non-text values: read as their text, as trim() reads them", function()
  local r = db:query("SELECT " .. rollup.token("x") .. " IS " .. rollup.token_sql("x")
    .. " FROM (SELECT NULL AS x UNION ALL SELECT 5 UNION ALL SELECT 1.5 UNION ALL SELECT X'312E322E332E34'"
    .. " UNION ALL SELECT X'00' UNION ALL SELECT -1.25e300)")
  local same = {}
  for i, row in ipairs(r) do same[i] = row[1] end
  T.eq(same, { 1, 1, 1, 1, 1, 1 }, "NULL, integer, real, blobs")
  T.eq(db:query("SELECT " .. rollup.token("X'312E322E332E34'"))[1][1], "1.2.3.4", "a blob holding an address")
end)

T.case("20,000 random strings: the same token as the plain SQL", function()
  local alphabet = { "0", "1", "9", ".", ":", "a", "F", "g", "<", ">", "'", "|", "{", "}", "-", " ", "\0", "::",
    "1.2.3.4", "fe80::", "\195\169" }
  math.randomseed(12)
  local values = {}
  for i = 1, 20000 do
    local parts = {}
    for j = 1, math.random(0, 14) do parts[j] = alphabet[math.random(#alphabet)] end
    values[i] = table.concat(parts)
  end
  local diff, tokens = differences(values)
  T.eq(#diff, 0, "no difference" .. (#diff > 0 and (": " .. table.concat(diff, "; ", 1, math.min(5, #diff))) or ""))
  T.ok(tokens >= 500, "of which addresses: " .. tokens)
end)

T.done()
