-- ipe.params int: whole numbers are exact below 2^53; every message shows the value as typed
-- (never a rounded or wrapped-around double).
local T = require "ipe.testing"
local params = require "ipe.params"

local int = params.TYPES.int

T.case("int: a value beyond the bounds is named as typed", function()
  T.eq({ int("9223372036854775807", { max = 100000 }) }, { nil, "9223372036854775807 is above the maximum 100000" })
  T.eq({ int("-9223372036854775809", { min = 1 }) }, { nil, "-9223372036854775809 is below the minimum 1" })
  T.eq({ int(" 101 ", { max = 100 }) }, { nil, "101 is above the maximum 100" })
  T.eq({ int("+0101", { max = 100 }) }, { nil, "+0101 is above the maximum 100" })
end)

T.case("int: beyond 2^53 without bounds is out of range, not silently rounded", function()
  T.eq({ int("9007199254740993", {}) }, { nil, "9007199254740993 is out of range (whole numbers between -2^53 and 2^53)" })
  T.eq({ int("-18446744073709551616", {}) },
    { nil, "-18446744073709551616 is out of range (whole numbers between -2^53 and 2^53)" })
  T.eq({ int("9007199254740992", {}) }, { nil, "9007199254740992 is out of range (whole numbers between -2^53 and 2^53)" })
  T.eq(int("9007199254740991", {}), 9007199254740991)
  T.eq(int("-42", {}), -42)
  T.eq(int(7, { min = 1, max = 10 }), 7)
end)

T.case("int: text that is not a whole number", function()
  for _, v in ipairs({ "1e3", "0x10", "1.5", "nan", "inf", "", "12abc" }) do
    T.eq({ int(v, {}) }, { nil, "'" .. v .. "' is not a whole number" }, v)
  end
  T.eq({ int(0 / 0, {}) }, { nil, "'nan' is not a whole number" })
  T.eq({ int(math.huge, {}) }, { nil, "'inf' is not a whole number" })
  T.eq({ int(2.5, {}) }, { nil, "'2.5' is not a whole number" })
end)

T.done()
