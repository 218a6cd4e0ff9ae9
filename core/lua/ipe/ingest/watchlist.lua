-- ipe.ingest.watchlist: a watchlist from CSV -> Watchlist, as Sentinel keeps it.
--
-- --search-key COL names the key column (exact, else case-insensitive); the
-- alias (and name) is --alias, else the file name without its extension.
-- Rows: one "watchlist" row (_DTItemType "watchlist", WatchlistItem
-- {"SearchKey": COL}) and one "watchlist-item" row per record: SearchKey = the
-- key (normalized when it is an IP), WatchlistItem = the record as a JSON object
-- (columns in file order, values as text), _DTItemId = WatchlistItemId a stable
-- id from the alias and the key (re-ingesting a list updates its items),
-- _DTItemStatus "Create" (or "Update" for an item already live), times = the
-- ingestion time, Provider "Custom", Source = the file name, DefaultDuration
-- P1000Y, CreatedBy / UpdatedBy {"name": <user>}. Items of an earlier upload of
-- the same alias that the new file no longer holds get a "Delete" row, so
-- _GetWatchlist-style queries (latest row per item, not deleted) see the new list.
-- A record whose key is empty, or with the wrong number of fields, is malformed.
-- Errors: malformed records are rejected through sink.reject; a --search-key
-- that names no column fails the file (sink.fail).
local csv = require "ipe.ingest.csv"
local coerce = require "ipe.ingest.coerce"
local fingerprint = require "ipe.ingest.fingerprint"
local jsonscan = require "ipe.ingest.jsonscan"
local cjson = require "cjson"

local match, lower, sub = string.match, string.lower, string.sub
local trim = require("ipe.ipaddr").trim

local M = {}

-- guid(text) -> a stable GUID-shaped id
function M.guid(text)
  local h = fingerprint.of(text)
  return sub(h, 1, 8) .. "-" .. sub(h, 9, 12) .. "-" .. sub(h, 13, 16) .. "-" .. sub(h, 17, 20) .. "-" .. sub(h, 21, 32)
end

local function item_json(names, fields)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = coerce.encode(name) .. ":" .. coerce.encode(fields[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- live(db, alias) -> { [item id] = latest row {id, status, key, item} }, created time of the list
local function live(db, alias)
  local rows = db:query("SELECT _DTItemId, _DTItemStatus, SearchKey, WatchlistItem, _DTItemType, CreatedTimeUTC " ..
    "FROM Watchlist WHERE WatchlistAlias = :a ORDER BY _DTTimestamp, rowid", { a = alias })
  local latest, created = {}, nil
  for _, r in ipairs(rows) do
    if r[5] == "watchlist-item" then latest[r[1]] = { id = r[1], status = r[2], key = r[3], item = r[4] } end
    if r[5] == "watchlist" and created == nil and r[6] ~= cjson.null then created = r[6] end
  end
  return latest, created
end

function M.run(src, sink)
  local opts = sink.opts
  local names, records = csv.records(src, sink)
  local keycol
  for i, n in ipairs(names) do if n == opts.search_key then keycol = i end end
  if not keycol then
    for i, n in ipairs(names) do if lower(n) == lower(opts.search_key) then keycol = i end end
  end
  if not keycol then
    sink.fail("--search-key '" .. opts.search_key .. "' is not a column of the file (columns: " ..
      table.concat(names, ", ") .. ")")
  end
  local alias = opts.alias
  if not alias then
    if sink.name == "<stdin>" then sink.fail("give --alias NAME for a watchlist read from standard input") end
    alias = match(sink.name, "([^/]+)$"):gsub("%.[^.]*$", "")
  end
  local now = sink.now_text
  local wid = M.guid("watchlist:" .. alias)
  local latest, created = live(sink.db, alias)
  local who = coerce.encode({ name = require("ipe.proc").user() or "ipe" })
  local source = sink.name == "<stdin>" and "<stdin>" or match(sink.name, "([^/]+)$")
  local kinds = { WatchlistItem = jsonscan.RAW, CreatedBy = jsonscan.RAW, UpdatedBy = jsonscan.RAW }
  local function row(id, kind, status, key, item)
    return { TimeGenerated = now, _DTTimestamp = now, CreatedTimeUTC = created or now, LastUpdatedTimeUTC = now,
      WatchlistId = wid, WatchlistName = alias, WatchlistAlias = alias, _DTItemId = id, WatchlistItemId = id,
      _DTItemType = kind, _DTItemStatus = status, SearchKey = key, WatchlistItem = item, Provider = "Custom",
      Source = source, DefaultDuration = "P1000Y", CreatedBy = who, UpdatedBy = who }
  end
  sink.row("Watchlist", 1, row(M.guid("watchlist-header:" .. alias), "watchlist", created and "Update" or "Create",
    nil, coerce.encode({ SearchKey = names[keycol] })), kinds)
  local count, now_ids = {}, {}
  for fields, ln in records do
    local raw = trim(fields[keycol])
    if raw == "" then
      sink.reject(ln, "the SearchKey column '" .. names[keycol] .. "' is empty")
    else
      local key = coerce.ip(raw) or raw
      count[key] = (count[key] or 0) + 1
      local id = M.guid("watchlist-item:" .. alias .. "\0" .. key .. "\0" .. count[key])
      now_ids[id] = true
      local prev = latest[id]
      local status = prev and prev.status ~= "Delete" and "Update" or "Create"
      sink.row("Watchlist", ln, row(id, "watchlist-item", status, key, item_json(names, fields)), kinds)
    end
  end
  local gone = {}
  for id, prev in pairs(latest) do
    if prev.status ~= "Delete" and not now_ids[id] then gone[#gone + 1] = prev end
  end
  table.sort(gone, function(a, b) return a.id < b.id end)
  for _, prev in ipairs(gone) do
    sink.row("Watchlist", nil, row(prev.id, "watchlist-item", "Delete", prev.key ~= cjson.null and prev.key or nil,
      prev.item ~= cjson.null and prev.item or nil), kinds)
  end
end

return M
