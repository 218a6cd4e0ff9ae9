-- ipe.hunting: the --edit / --as-hunt copies (source rewriting, names, the
-- wrapper fallback, the scripted $EDITOR round trip), the IP predicates of every
-- kind of place, and proof that hunts and insights cannot write.
local T = require "ipe.testing"
local H = require "ipe.harness"
local hunting = require "ipe.hunting"
local discover = require "ipe.discover"
local fs = require "ipe.fs"

local made = {}
local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(fs.mkdir_p(d))
  made[#made + 1] = d
  return d
end

local function write(path, text, mode) assert(fs.write_atomic(path, text, mode or 420)) end
local function read(path) return assert(fs.read(path)) end

---------------------------------------------------------------------------
-- rewrite (pure)
---------------------------------------------------------------------------
local SRC = [==[
-- a hunt { with braces in a comment }
local helper = { name = "not-this" }
return {
  name = "demo-hunt",
  kind = "insight",
  title = "t { not a brace }", summary = [[s { ]] .. "}",
  params = {
    { name = "ip", type = "ip", required = true, help = "the ip { x" },
    { name = "min", type = "int", default = 20, min = 1, help = "a 'quoted' } help" },
    { name = "mode", type = "choice", choices = { "a", "b" }, help = "no default yet", default = "a" },
    { type = "bool", name = "flag", help = "not required" , required = false },
    { name = "extra", type = "int", help = "neither" },
  },
  run = function(ctx, p) return { name = "inner" } end,
}
]==]

T.case("rewrite: name and kind of the returned table, defaults replaced, added or set", function()
  local out = assert(hunting.rewrite(SRC, { name = "demo-hunt-1-2-3-4", kind = "hunt",
    defaults = { ip = '"1.2.3.4"', min = "5", mode = '"b"', flag = "true", extra = "3" } }))
  T.like(out, '\n  name = "demo%-hunt%-1%-2%-3%-4",\n  kind = "hunt",\n')
  T.like(out, '{ name = "ip", type = "ip", default = "1.2.3.4", help = "the ip { x" }', "required became a default")
  T.like(out, '{ name = "min", type = "int", default = 5, min = 1,', "a default replaced")
  T.like(out, 'choices = { "a", "b" }, help = "no default yet", default = "b" }', "a default after the choices")
  T.like(out, '{ type = "bool", name = "flag", help = "not required" , default = true }', "required = false replaced")
  T.like(out, '{ default = 3, name = "extra", type = "int", help = "neither" }', "a default added in front")
  T.like(out, 'local helper = { name = "not%-this" }', "other tables untouched")
  T.like(out, 'return { name = "inner" }', "tables inside functions untouched")
  local chunk = assert(loadstring(out))
  local s = setfenv(chunk, {})()
  T.eq({ s.name, s.kind, s.params[1].default, s.params[2].default, s.params[3].default, s.params[4].default,
         s.params[5].default }, { "demo-hunt-1-2-3-4", "hunt", "1.2.3.4", 5, "b", true, 3 })
end)

T.case("rewrite: comments between and after fields (the README's style)", function()
  local src = [==[
return {
  name = "signin-apps",                 -- the file stem, kebab-case
  kind = "insight",
  -- typed parameters
  params = {                              -- an insight's first is the ip
    { name = "ip", type = "ip", required = true, help = "the IP address" }, -- the IP
    { name = "min_users", type = "int", default = 1, min = 1, help = "..." --[[ at least one ]] },
  },
}
]==]
  local out = assert(hunting.rewrite(src, { name = "signin-apps-x", kind = "hunt",
    defaults = { ip = '"1.2.3.4"', min_users = "3" } }))
  T.eq(out, [==[
return {
  name = "signin-apps-x",                 -- the file stem, kebab-case
  kind = "hunt",
  -- typed parameters
  params = {                              -- an insight's first is the ip
    { name = "ip", type = "ip", default = "1.2.3.4", help = "the IP address" }, -- the IP
    { name = "min_users", type = "int", default = 3, min = 1, help = "..." --[[ at least one ]] },
  },
}
]==])
end)

T.case("rewrite: refuses what it cannot edit, with the reason", function()
  local a, why = hunting.rewrite("local s = { name = 'x' }\nreturn s\n", { name = "y" })
  T.eq({ a, why }, { nil, "no 'return { ... }' table found" })
  a, why = hunting.rewrite(SRC, { defaults = { nope = "1" } })
  T.eq({ a, why }, { nil, "parameter 'nope' not found in params" })
  a, why = hunting.rewrite('return { name = NAME, params = {} }', { name = "y" })
  T.eq({ a, why }, { nil, "field 'name' is not a plain string" })
end)

T.case("wrapper: the fallback copy sets name, kind and defaults around the original", function()
  local src = "local s = { name = 'x', kind = 'insight', params = { { name = 'ip', required = true } } }\nreturn s\n"
  local out = hunting.wrapper(src, { name = "x-custom", kind = "hunt", defaults = { ip = '"9.9.9.9"' } })
  local s = setfenv(assert(loadstring(out)), { ipairs = ipairs })()
  T.eq({ s.name, s.kind, s.params[1].default, s.params[1].required }, { "x-custom", "hunt", "9.9.9.9", nil })
end)

T.case("literal and copy names", function()
  T.eq({ hunting.literal("a\"b"), hunting.literal(20), hunting.literal(true), hunting.literal({ "1.2.3.4", "::1" }) },
       { '"a\\"b"', "20", "true", '{ "1.2.3.4", "::1" }' })
  local dir = tmpdir()
  local index = { by_key = { ["hunt/beaconing-to-ip-89-160-20-128"] = {} }, list = {} }
  T.eq(hunting.copy_name(index, "beaconing-to-ip", { ip = "89.160.20.128" }, dir), "beaconing-to-ip-89-160-20-128-2")
  write(dir .. "/beaconing-to-ip-89-160-20-128-2.lua", "x")
  T.eq(hunting.copy_name(index, "beaconing-to-ip", { ip = "89.160.20.128" }, dir), "beaconing-to-ip-89-160-20-128-3")
  T.eq(hunting.copy_name(index, "ip-everywhere", { ip = "2001:db8::1" }, dir), "ip-everywhere-2001-db8--1")
  T.eq(hunting.copy_name(index, "subnet-sweep", { cidr = "10.0.1.0/24" }, dir), "subnet-sweep-custom")
  T.ok(("ip-everywhere-2001-db8--1"):match(discover.NAME), "copy names are valid script names")
end)

---------------------------------------------------------------------------
-- The $EDITOR round trip
---------------------------------------------------------------------------
local db = H.workspace{ demo = { events = 20000 } }
local C2 = "89.160.20.128"

local function editor(dir, body)
  local path = dir .. "/editor.sh"
  write(path, "#!/bin/sh\n" .. body .. "\n", 493)
  return path
end

local function edit_opts(dir, ed, extra)
  local o = { db = db, now = "2026-11-27T00:00:00Z", editor = ed, hunt_dir = dir .. "/hunts",
              output = dir .. "/out.txt", format = "csv" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

T.case("--edit: a copy with the new defaults, edited by $EDITOR, then run", function()
  local dir = tmpdir()
  local ed = editor(dir, [[sed -i 's/default = 20, min = 3/default = 1500, min = 3/' "$1"]])
  local index = discover.scan()
  local code, rec, path = hunting.edit(edit_opts(dir, ed), index, discover.find(index, "hunt", "beaconing-to-ip"),
    { ip = C2, max_jitter_pct = "5" }, "hunt")
  T.eq(path, dir .. "/hunts/beaconing-to-ip-89-160-20-128.lua")
  T.eq(code, 1, "the edited threshold (1500 connections) leaves nothing")
  T.eq({ rec.script, rec.status }, { "beaconing-to-ip-89-160-20-128", "empty" })
  local copy = read(path)
  T.like(copy, "^%-%- Copy of .*/hunts/beaconing%-to%-ip%.lua\n%-%- made by 'ipe%-run hunt beaconing%-to%-ip %-%-edit' at "
    .. "2026%-11%-27T00:00:00%.000Z,\n%-%- with new defaults: ip=89%.160%.20%.128, max_jitter_pct=5%.\n")
  T.like(copy, '{ name = "ip", type = "ip", default = "89.160.20.128", help = ')
  T.like(copy, '{ name = "max_jitter_pct", type = "int", default = 5, ')
  T.like(copy, 'name = "beaconing%-to%-ip%-89%-160%-20%-128",')
  T.eq(read(dir .. "/out.txt"), "Source,Host,Connections,IntervalSec,StdDevSec,JitterPct,FirstSeen,LastSeen\r\n")
end)

T.case("--edit of a copy in the user's folder edits it in place", function()
  local dir = tmpdir()
  local ed = editor(dir, "true")
  local index = discover.scan()
  local opts = edit_opts(dir, ed)
  local _, _, path = hunting.edit(opts, index, discover.find(index, "hunt", "beaconing-to-ip"), { ip = C2 }, "hunt")
  local entry = { kind = "hunt", name = "beaconing-to-ip-89-160-20-128", path = path }
  local code, rec, again = hunting.edit(opts, index, entry, { min_connections = "1440" }, "hunt")
  T.eq({ again, code, rec.status, rec.script }, { path, 0, "ok", "beaconing-to-ip-89-160-20-128" })
  local copy = read(path)
  T.like(copy, "default = 1440, min = 3")
  local _, headers = copy:gsub("%-%- Copy of ", "")
  T.eq(headers, 1, "no second header")
  T.like(read(dir .. "/out.txt"), "\r\nDeviceNetworkEvents,wks%-0%d%d%.contoso%.com,1440,300,")
end)

T.case("$EDITOR exiting non-zero: the copy is kept and not run (exit 1)", function()
  local dir = tmpdir()
  local ed = editor(dir, "exit 3")
  local index = discover.scan()
  local err = T.raises(function()
    hunting.edit(edit_opts(dir, ed), index, discover.find(index, "hunt", "ip-everywhere"), { ip = C2 }, "hunt")
  end, "exited with status 3")
  T.eq(err, "the editor '" .. ed .. "' exited with status 3; the copy " .. dir
    .. "/hunts/ip-everywhere-89-160-20-128.lua is kept and was not run")
  T.ok(fs.stat(dir .. "/hunts/ip-everywhere-89-160-20-128.lua"), "the copy is kept")
  T.ok(not fs.stat(dir .. "/out.txt"), "nothing ran")
end)

T.case("a bad new default is refused before anything is copied (exit 2)", function()
  local dir = tmpdir()
  local index = discover.scan()
  local ok, e = pcall(hunting.edit, edit_opts(dir, editor(dir, "true")), index,
    discover.find(index, "hunt", "beaconing-to-ip"), { ip = "1.2.3.999" }, "hunt")
  T.eq({ ok, e.code, e.msg }, { false, 2, "hunt 'beaconing-to-ip': parameter 'ip': '1.2.3.999' is not an IP address" })
  T.ok(not fs.stat(dir .. "/hunts"), "no folder, no copy")
end)

T.case("--as-hunt: an insight copied as a hunt with the IP as default, then run as a hunt", function()
  local dir = tmpdir()
  local index = discover.scan()
  local code, rec, path = hunting.as_hunt(edit_opts(dir, editor(dir, "true")), index,
    discover.find(index, "insight", "remote-connections"), { ip = C2, limit = "2" })
  T.eq({ path, code, rec.kind, rec.script }, { dir .. "/hunts/remote-connections-89-160-20-128.lua", 0, "hunt",
                                               "remote-connections-89-160-20-128" })
  local copy = read(path)
  T.like(copy, 'kind = "hunt",')
  T.like(copy, "made by 'ipe%-run insight remote%-connections %-%-as%-hunt'")
  T.like(copy, 'default = 2, min = 1')
  local _, rows = read(dir .. "/out.txt"):gsub("\r\n", "")
  T.eq(rows, 3, "header and the 2 rows of the new default limit")
end)

T.case("a hunt whose source cannot be rewritten is copied as a wrapper", function()
  local dir = tmpdir()
  local src = dir .. "/hunts/odd-hunt.lua"
  assert(fs.mkdir_p(dir .. "/hunts"))
  write(src, [[
local result = require "ipe.result"
local s = { name = "odd-hunt", kind = "hunt", title = "t", summary = "s", description = "d",
  categories = { "offline" }, sources = {},
  params = { { name = "ip", type = "ip", required = true, help = "ip" } } }
s.run = function(ctx, p) return result.kv{ items = { { "ip", p.ip } } } end
return s
]])
  local index = { by_key = {}, list = {} }
  local path, name = hunting.make_copy(index, { kind = "hunt", name = "odd-hunt", path = src }, { ip = "1.2.3.4" },
    "hunt", "2026-11-27T00:00:00.000Z", { dir = dir .. "/copies/hunts" })
  T.eq({ path, name }, { dir .. "/copies/hunts/odd-hunt-1-2-3-4.lua", "odd-hunt-1-2-3-4" })
  T.like(read(path), "\nlocal script = %(function%(%)\n")
  local rec = H.run_file(path, {}, { db = db })
  T.eq(rec.status, "ok", rec.message)
  T.eq(rec.sections[1].items[1].value, "1.2.3.4")
end)

---------------------------------------------------------------------------
-- IP predicates of each kind of place
---------------------------------------------------------------------------
T.case("ip predicates: ports and brackets, JSON fields, lists, entities, bookmarks, free text", function()
  local t = "2026-11-26T10:00:00.000Z"
  local ws = H.workspace{ rows = {
    OfficeActivity = { { TimeGenerated = t, ClientIP = "216.160.83.56:51234" }, { TimeGenerated = t, ClientIP = "[2001:db8::1]:443" },
                       { TimeGenerated = t, ClientIP = "216.160.83.5:1" }, { TimeGenerated = t, ClientIP = "216.160.83.56" } },
    AuditLogs = { { TimeGenerated = t, InitiatedBy = '{"user":{"ipAddress":"216.160.83.56"}}' },
                  { TimeGenerated = t, InitiatedBy = '{"app":{"displayName":"x"}}' } },
    Syslog = { { TimeGenerated = t, SyslogMessage = "Failed password for root from 216.160.83.56 port 22 ssh2" },
               { TimeGenerated = t, SyslogMessage = "from 216.160.83.567 port 22" } },
    Heartbeat = { { TimeGenerated = t, ComputerPrivateIPs = '["10.0.0.5","216.160.83.56"]' } },
    HuntingBookmark = { { TimeGenerated = t, QueryResultRow = '{"__entityMapping":{"216.160.83.56":"IP"}}' },
                        { TimeGenerated = t, QueryResultRow = '{"__entityMapping":{"216.160.83.56":"Host"}}' } },
  } }
  local got = {}
  for _, r in ipairs(H.records(H.run("hunt", "ip-everywhere", { ip = "216.160.83.56" }, { db = ws }))) do
    got[r.TableName .. "." .. r.ColumnName] = r.Events
  end
  T.eq(got, { ["OfficeActivity.ClientIP"] = 2, ["AuditLogs.InitiatedBy"] = 1, ["Syslog.SyslogMessage"] = 1,
              ["Heartbeat.ComputerPrivateIPs"] = 1, ["HuntingBookmark.QueryResultRow"] = 1 })
  local v6 = H.records(H.run("hunt", "ip-everywhere", { ip = "2001:db8::1" }, { db = ws }))
  T.eq({ #v6, v6[1].TableName, v6[1].Events }, { 1, "OfficeActivity", 1 })
end)

---------------------------------------------------------------------------
-- Hunts and insights cannot write
---------------------------------------------------------------------------
local function fixture(kind, name, body)
  local dir = tmpdir()
  assert(fs.mkdir_p(dir .. "/" .. kind .. "s"))
  local path = dir .. "/" .. kind .. "s/" .. name .. ".lua"
  write(path, string.format([[
return { name = %q, kind = %q, title = "t", summary = "s", description = "d", categories = { "offline" },
  sources = {}, params = { { name = "ip", type = "ip", required = true, help = "ip" } },
  run = function(ctx, p) %s end }
]], name, kind, body))
  return path
end

local function first_line(s) return (tostring(s):match("[^\n]*")) end

T.case("a hunt that touches ctx.actions fails with a clear error", function()
  local rec = H.run_file(fixture("hunt", "sneaky", "ctx.actions.indicator_add{ ip = p.ip }"), { ip = "1.2.3.4" }, { db = db })
  T.eq(rec.status, "error")
  T.eq(first_line(rec.message), "ctx.actions is only for actions: a hunt cannot change anything (insights and hunts "
    .. "are read-only; write an action in actions/ and run it with 'ipe-run action')")
  local irec = H.run_file(fixture("insight", "sneaky", "return ctx.actions"), { ip = "1.2.3.4" }, { db = db })
  T.like(first_line(irec.message), "^ctx%.actions is only for actions: an insight cannot change anything")
end)

T.case("a hunt that writes through ctx.db is refused and the workspace is unchanged", function()
  local before = H.records(H.run("hunt", "ip-everywhere", { ip = C2 }, { db = db }))
  for _, sql in ipairs({ "DELETE FROM CommonSecurityLog", "INSERT INTO Syslog (SyslogMessage) VALUES ('x')",
                         "DROP TABLE Syslog", "PRAGMA query_only=0", "ATTACH DATABASE '/tmp/x.db' AS x",
                         "CREATE TABLE evil (a)" }) do
    local rec = H.run_file(fixture("hunt", "writer", "ctx.db:query(" .. string.format("%q", sql) .. ")"),
      { ip = "1.2.3.4" }, { db = db })
    T.eq(rec.status, "error", sql)
    T.like(first_line(rec.message), "/hunts/writer%.lua:3: not authorized$", sql)
  end
  T.eq(H.records(H.run("hunt", "ip-everywhere", { ip = C2 }, { db = db })), before)
end)

for _, d in ipairs(made) do os.execute("rm -rf '" .. d .. "'") end
T.done()
