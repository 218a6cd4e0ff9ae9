-- ipe.discover: where scripts live and which ones exist.
--
-- Roots, in order: the folder beside the binary in a source tree (or
-- $PREFIX/share/ipe once installed; $IPE_HOME overrides both), then every folder
-- of IPE_PATH (colon-separated), then the user's $XDG_DATA_HOME/ipe. Never the
-- current directory implicitly.
-- In each root, every *.lua under insights/, hunts/, actions/ and one level of
-- sub-folders is a script (names starting with "_" or "." and *_test.lua files
-- are not). A script's identity is kind + file stem; two files with one identity
-- are both marked broken, naming each other.
local fs = require "ipe.fs"
local proc = require "ipe.proc"

local M = {}

M.KIND_DIRS = { { "insight", "insights" }, { "hunt", "hunts" }, { "action", "actions" } }
M.NAME = "^[a-z0-9][a-z0-9-]*$"

local function isdir(p)
  local st = fs.stat(p)
  return st and st.type == "dir"
end

local function dirname(p) return (p:gsub("/[^/]*$", "")) end

-- The runtime's own root.
function M.home()
  local env = proc.getenv("IPE_HOME")
  if env and env ~= "" then return env end
  local exe = proc.exe_path()
  if not exe then return nil end
  local dir = dirname(exe)
  if isdir(dir .. "/insights") then return dir end
  local share = dirname(dir) .. "/share/ipe"
  if isdir(share) then return share end
  return nil
end

function M.roots()
  local roots = {}
  local home = M.home()
  if home then roots[#roots + 1] = { dir = home, origin = "built-in" } end
  for dir in (proc.getenv("IPE_PATH") or ""):gmatch("[^:]+") do
    roots[#roots + 1] = { dir = dir, origin = "IPE_PATH" }
  end
  -- the user's own folder, where `hunt --edit` puts its copies when IPE_PATH is unset
  local user = require("ipe.workspace").data_dir()
  if isdir(user) and not (roots[1] and roots[1].dir == user) then
    local dup = false
    for _, r in ipairs(roots) do if r.dir == user then dup = true end end
    if not dup then roots[#roots + 1] = { dir = user, origin = "user" } end
  end
  return roots
end

local function is_script_file(name)
  return name:sub(-4) == ".lua" and not name:match("^[_.]") and not name:match("_test%.lua$")
end

local function add(index, kind, path, root)
  local stem = path:match("([^/]+)%.lua$")
  local entry = { kind = kind, name = stem, path = path, root = root.dir, origin = root.origin }
  if not stem:match(M.NAME) then
    entry.broken = "file name '" .. stem .. ".lua' is not kebab-case (a-z, 0-9, -)"
  end
  local key = kind .. "/" .. stem
  local other = index.by_key[key]
  if other then
    entry.broken = "duplicate " .. kind .. " name '" .. stem .. "': also defined in " .. other.path
    other.broken = "duplicate " .. kind .. " name '" .. stem .. "': also defined in " .. path
  else
    index.by_key[key] = entry
  end
  index.list[#index.list + 1] = entry
end

local function scan_dir(index, kind, dir, root, depth)
  local names = fs.list(dir)
  if not names then return end
  table.sort(names)
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    if is_script_file(name) then
      add(index, kind, path, root)
    elseif depth == 0 and not name:match("^[_.]") and isdir(path) then
      scan_dir(index, kind, path, root, 1)
    end
  end
end

-- scan(roots) -> index {list = {entries in order}, by_key = {"insight/name" = entry}}
function M.scan(roots)
  local index = { list = {}, by_key = {} }
  for _, root in ipairs(roots or M.roots()) do
    for _, kd in ipairs(M.KIND_DIRS) do scan_dir(index, kd[1], root.dir .. "/" .. kd[2], root, 0) end
  end
  return index
end

function M.find(index, kind, name) return index.by_key[kind .. "/" .. name] end

-- The names of one kind, closest to `name` first (for "did you mean").
local distance = require("ipe.textutil").distance
M.distance = distance

function M.suggest(index, kind, name, max)
  local cands = {}
  for _, e in ipairs(index.list) do
    if e.kind == kind then
      local d = distance(name, e.name)
      if e.name:find(name, 1, true) then d = math.min(d, 1) end
      cands[#cands + 1] = { e.name, d }
    end
  end
  table.sort(cands, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  local out = {}
  for i = 1, math.min(max or 3, #cands) do
    if cands[i][2] <= math.max(3, math.floor(#name / 2)) then out[#out + 1] = cands[i][1] end
  end
  return out
end

-- kind_of_path("x/insights/foo.lua") -> "insight" (folder or its parent names the kind)
function M.kind_of_path(path)
  for _, kd in ipairs(M.KIND_DIRS) do
    if path:match("/" .. kd[2] .. "/[^/]+%.lua$") or path:match("^" .. kd[2] .. "/[^/]+%.lua$")
      or path:match("/" .. kd[2] .. "/[^/]+/[^/]+%.lua$") or path:match("^" .. kd[2] .. "/[^/]+/[^/]+%.lua$") then
      return kd[1]
    end
  end
end

return M
