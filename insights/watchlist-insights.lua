-- Watchlist insights (Sentinel entity insight, insights.md 2.11): the live watchlist items
-- that name the IP, in every watchlist.
local result = require "ipe.result"
local cjson = require "cjson"

-- Latest version of every watchlist item that names the IP (as its SearchKey or as any
-- value of the item), up to the end of the window; deleted items are left out.
local function sql(db)
  return table.concat({
    "SELECT WatchlistName AS Watchlist, WatchlistAlias AS Alias, SearchKey, WatchlistItem AS Item,",
    "       " .. db:time_text("LastUpdatedTimeUTC") .. " AS LastUpdated, _DTItemId AS ItemId",
    "FROM (",
    "  " .. db:latest("Watchlist", "w", { "WatchlistAlias", "_DTItemId" }, "_DTItemType = 'watchlist-item' AND " .. db:at_or_before("TimeGenerated", "to")
      .. " AND (SearchKey = :ip OR " .. db:json_has_value("WatchlistItem", "ip") .. ")", { "_DTTimestamp", "TimeGenerated" }),
    ")",
    "WHERE COALESCE(_DTItemStatus, '') <> 'Delete'",
    "ORDER BY Watchlist, SearchKey",
  }, "\n")
end

-- {"IPAddress":"10.0.1.20","Role":"SQL Server"} -> "IPAddress: 10.0.1.20; Role: SQL Server" (keys sorted)
local function item_text(json)
  local ok, t = pcall(cjson.decode, json)
  if not ok or type(t) ~= "table" then return json end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = t[k]
    parts[i] = k .. ": " .. (type(v) == "table" and cjson.encode(v) or tostring(v == cjson.null and "" or v))
  end
  return table.concat(parts, "; ")
end

return {
  name = "watchlist-insights",
  kind = "insight",
  title = "Watchlist insights",
  summary = "Watchlists whose live items name the IP, with the item's fields",
  description = [[
Which watchlists hold the IP: every watchlist item whose SearchKey is the IP,
or that has the IP as the value of one of its fields, taken as its latest
version up to the end of the window — items deleted since are left out
(watchlists are state, not events, so an item added before the window still
counts). For each, the watchlist's name and alias, the item's fields and when
it was last updated.]],
  categories = { "offline", "watchlist" },
  sources = { "Watchlist" },
  page = { group = "insights", order = 110 },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to investigate" },
  },
  run = function(ctx, p)
    local rows = ctx.db:query(sql(ctx.db), { ip = p.ip })
    local out = {}
    for i, r in ipairs(rows) do
      out[i] = { r[1], r[2], r[3], type(r[4]) == "string" and item_text(r[4]) or r[4], r[5], r[6] }
    end
    return result.table{ id = "watchlists", title = "Watchlist items naming " .. p.ip,
      columns = { { "Watchlist", "text" }, { "Alias", "text" }, { "SearchKey", "ip" }, { "Item", "text" },
                  { "LastUpdated", "time" }, { "ItemId", "text" } },
      rows = out }
  end,
}
