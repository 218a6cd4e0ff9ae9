-- ipe.kql.util: small helpers of the KQL compiler.
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local M = {}

function M.utf8(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

-- Levenshtein distance, for "did you mean"
local distance = require("ipe.textutil").distance

-- suggest(name, candidates) -> the closest candidate (same name but case first), or nil
function M.suggest(name, candidates)
  local low = name:lower()
  for _, c in ipairs(candidates) do if c:lower() == low then return c end end
  local best, bd = nil, math.max(2, math.floor(#name / 4)) + 1
  for _, c in ipairs(candidates) do
    if math.abs(#c - #name) < bd then
      local d = distance(low, c:lower())
      if d < bd then best, bd = c, d end
    end
  end
  return best
end

return M
