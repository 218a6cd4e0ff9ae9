-- ipe.kql.workspace: ipe's own workspace functions, as a Sentinel workspace has saved
-- functions: tabular functions over what the Sentinel tables do not hold, each compiled
-- through the engine's dialect helpers (ipe.dialect.sqlite / .clickhouse).
--
--   ipe_named_ranges() -> Name, Category, Cidr: the named IP ranges (action ip-ranges), the
--     current version of each range's network (one row per network); an empty table on a
--     workspace without them. Compile option named_ranges = function() -> bool says whether
--     the workspace has them (unknown: assumed).
--
--   FUNCTIONS[name](compiler, node, env) -> a relation
if jit then jit.off(true, true) end   -- as ipe.kql.compile explains
local err = require "ipe.kql.err"

local M = {}

local RANGE_COLS = { { name = "Name", type = "string" }, { name = "Category", type = "string" },
  { name = "Cidr", type = "string" } }

M.FUNCTIONS = {}

function M.FUNCTIONS.ipe_named_ranges(self, node)
  if #node.args > 0 then err.raise(node, "'ipe_named_ranges' takes no arguments, got %d", #node.args) end
  local cols, list = {}, {}
  for i, c in ipairs(RANGE_COLS) do
    cols[i] = { name = c.name, type = c.type }
    list[i] = self:q(c.name)
  end
  if self.named_ranges and not self.named_ranges() then
    for i, c in ipairs(RANGE_COLS) do list[i] = (self.f.typed and self.f.typed("NULL", c.type) or "NULL") .. " AS " .. self:q(c.name) end
    return { name = self:cte("SELECT " .. table.concat(list, ", ") .. " WHERE 0"), cols = cols, exact = true }
  end
  return { name = self:cte(self:sel(list, self.f.named_ranges())), cols = cols, exact = true }
end

return M
