-- Tests for examples/insights/signin-apps.lua: run with
--   ipe-run test examples/tests
-- They build a throwaway workspace from a few rows and run the insight through
-- the real runtime (sandbox, parameters, worker process).
local T = require "ipe.testing"
local H = require "ipe.harness"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/[^/]*$")
local script = here .. "/insights/signin-apps.lua"

local function signin(t, upn, app, result)
  return { TimeGenerated = t, IPAddress = "216.160.83.56", UserPrincipalName = upn, AppDisplayName = app,
           ResultType = result }
end

local db = H.workspace{ rows = { SigninLogs = {
  signin("2026-11-26T10:00:00.000Z", "ann@contoso.com", "Office 365", "50126"),
  signin("2026-11-26T10:01:00.000Z", "bob@contoso.com", "Office 365", "50126"),
  signin("2026-11-26T10:02:00.000Z", "cid@contoso.com", "Office 365", "0"),
  signin("2026-11-26T11:00:00.000Z", "ann@contoso.com", "Azure Portal", "0"),
  signin("2026-11-01T11:00:00.000Z", "old@contoso.com", "Azure Portal", "0"),
} } }
local now = H.time("2026-11-27T00:00:00Z")

T.case("groups sign-ins by application within the window", function()
  local rec = H.run_file(script, { ip = "216.160.83.56" }, { db = db, now = now, since = "7d" })
  T.eq(rec.status, "ok", rec.message)
  local rows = H.records(rec)
  T.eq(#rows, 2)
  T.eq({ rows[1].App, rows[1].Users, rows[1].Succeeded, rows[1].Failed }, { "Office 365", 3, 1, 2 })
  T.eq({ rows[2].App, rows[2].Users, rows[2].Succeeded, rows[2].Failed }, { "Azure Portal", 1, 1, 0 })
  T.eq(rows[1].FirstSeen, "2026-11-26T10:00:00.000Z")
end)

T.case("min_users filters applications", function()
  local rec = H.run_file(script, { ip = "216.160.83.56", min_users = "2" }, { db = db, now = now })
  T.eq(#H.records(rec), 1)
end)

T.case("an IP with no sign-ins is empty", function()
  local rec = H.run_file(script, { ip = "192.0.2.1" }, { db = db, now = now })
  T.eq(rec.status, "empty")
end)

T.case("a bad parameter is refused before the script runs", function()
  local rec = H.run_file(script, { ip = "216.160.83.56", min_users = "0" }, { db = db, now = now })
  T.eq(rec.outcome, "param")
  T.eq(rec.message, "insight 'signin-apps': parameter 'min_users': 0 is below the minimum 1")
end)

T.done()
