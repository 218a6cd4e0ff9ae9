-- ipe.ingest.fingerprint: a content fingerprint of an input, and what the bytes
-- look like (any NUL byte? any byte >= 0x80?), computed in one pass.
--
--   local fp = fingerprint.new()
--   local high, nul = fingerprint.update(fp, chunk)  -- chunks in order; is there a byte >= 0x80 / a NUL
--                                      -- in this chunk? (fp.high, fp.nul: in everything so far)
--   fingerprint.hex(fp) -> 32 hex digits (128 bits) of the whole content and its length
--   fingerprint.hash53(s, key) -> a keyed 53-bit integer hash of one record's text
--
-- It recognizes re-ingesting the same content; it is NOT a cryptographic hash
-- (a crafted file can collide). Four 32-bit multiply-rotate lanes over 16-byte
-- blocks, a murmur3-style finalizer; LuaJIT FFI reads the words in place (the
-- word order is the machine's, so fingerprints are per byte order).
-- Pure LuaJIT; raises nothing.
local ffi = require "ffi"
local bit = require "bit"

local bxor, bor, band, bnot, rol, tobit, tohex, rshift = bit.bxor, bit.bor, bit.band, bit.bnot, bit.rol, bit.tobit,
  bit.tohex, bit.rshift
local byte, find = string.byte, string.find

local M = {}

local u32p = ffi.typeof("const uint32_t *")

-- 16-bit multipliers keep products exact in a double (< 2^48)
local K1, K2, K3, K4 = 0x9E3B, 0x85EB, 0xC2B3, 0x27D5

function M.new()
  return { a = 0x12345678, b = tobit(0x9ABCDEF0), c = 0x0F1E2D3C, d = 0x4B5A6978, bytes = 0, nul = false,
           high = false, tail = "" }
end

-- mul32(x, k): (x * k) mod 2^32 for a 32-bit x and a 16-bit k
local function mul32(x, k) return tobit(x * k) end

-- mix32(x): a full 32-bit multiply (in two 16-bit halves) and xor-shifts (murmur3 fmix)
local function mul_full(x, k)
  local lo = band(k, 0xFFFF)
  local hi = rshift(k, 16)
  return tobit(x * lo + tobit(x * hi) * 65536)
end
local function fmix(h)
  h = bxor(h, rshift(h, 16))
  h = mul_full(h, 0x85EBCA6B)
  h = bxor(h, rshift(h, 13))
  h = mul_full(h, 0xC2B2AE35)
  return bxor(h, rshift(h, 16))
end

local function blocks(fp, s, n)
  local p = ffi.cast(u32p, s)
  local a, b, c, d = fp.a, fp.b, fp.c, fp.d
  local hi, z = 0, 0
  for i = 0, n / 4 - 1, 4 do
    local w0, w1, w2, w3 = p[i], p[i + 1], p[i + 2], p[i + 3]
    hi = bor(hi, w0, w1, w2, w3)
    z = bor(z, band(w0 - 0x01010101, bnot(w0)), band(w1 - 0x01010101, bnot(w1)),
      band(w2 - 0x01010101, bnot(w2)), band(w3 - 0x01010101, bnot(w3)))
    a = rol(mul32(bxor(a, w0), K1), 13)
    b = rol(mul32(bxor(b, w1), K2), 17)
    c = rol(mul32(bxor(c, w2), K3), 11)
    d = rol(mul32(bxor(d, w3), K4), 19)
  end
  fp.a, fp.b, fp.c, fp.d = a, b, c, d
  return band(hi, tobit(0x80808080)) ~= 0, band(z, tobit(0x80808080)) ~= 0
end

local function bytewise(fp, s)
  local a = fp.a
  for i = 1, #s do a = rol(mul32(bxor(a, byte(s, i)), K1), 7) end
  fp.a = a
end

function M.update(fp, s)
  if fp.tail ~= "" then s = fp.tail .. s; fp.tail = "" end
  local n = #s
  local whole = n - n % 16
  local high, nul = false, false
  if whole > 0 then high, nul = blocks(fp, s, whole) end
  if whole < n then
    fp.tail = s:sub(whole + 1)
    if find(fp.tail, "[\128-\255]") then high = true end
    if find(fp.tail, "%z") then nul = true end
  end
  fp.bytes = fp.bytes + n - #fp.tail
  if high then fp.high = true end
  if nul then fp.nul = true end
  return high, nul
end

function M.hex(fp)
  if fp.tail ~= "" then
    local t = fp.tail
    fp.tail = ""
    bytewise(fp, t)
    fp.bytes = fp.bytes + #t
  end
  local len = fp.bytes
  local a = fmix(bxor(fp.a, tobit(len % 4294967296)))
  local b = fmix(bxor(fp.b, tobit(math.floor(len / 4294967296))))
  local c, d = fmix(fp.c), fmix(fp.d)
  a = tobit(a + b + c + d)
  b, c, d = tobit(b + a), tobit(c + a), tobit(d + a)
  return tohex(fmix(a)) .. tohex(fmix(b)) .. tohex(fmix(c)) .. tohex(fmix(d))
end

-- hash53(s, key) -> a 53-bit integer (exact in a double) of one short string: the
-- per-record hash of ipe.ingest.load. key = {a, b, c, d}: four 32-bit seeds (the
-- workspace's secret, so that a crafted record cannot be made to collide with another).
function M.hash53(s, key)
  local n = #s
  local a, b, c, d = key[1], key[2], key[3], key[4]
  local whole = n - n % 16
  if whole > 0 then
    local p = ffi.cast(u32p, s)
    for i = 0, whole / 4 - 1, 4 do
      a = rol(mul32(bxor(a, p[i]), K1), 13)
      b = rol(mul32(bxor(b, p[i + 1]), K2), 17)
      c = rol(mul32(bxor(c, p[i + 2]), K3), 11)
      d = rol(mul32(bxor(d, p[i + 3]), K4), 19)
    end
  end
  for i = whole + 1, n do a = rol(mul32(bxor(a, byte(s, i)), K1), 7) end
  a = fmix(bxor(a, n))
  b, c, d = fmix(b), fmix(c), fmix(d)
  a = fmix(tobit(a + b + c + d))
  b = fmix(tobit(b + c + a))
  return band(b, 0x1FFFFF) * 4294967296 + a % 4294967296
end

-- of(s) -> fingerprint of one string
function M.of(s)
  local fp = M.new()
  M.update(fp, s)
  return M.hex(fp)
end

return M
