-- Every ingest parser is linear in its input: each format's worst case of
-- tests/lib/worst_cases.lua (a value of about 1 MiB shaped to hit what made
-- parsers quadratic) goes through the format's driver and the real mapper
-- (tests/fuzz/driver.lua, an in-memory workspace) and must finish — in a child
-- process with a generous CPU limit (120 s; linear parsing takes well under a
-- second, the quadratic one took hours) — with the rows and values it should
-- give. The time per MiB is measured by tests/bench/bench_parsers, not here.
local T = require "ipe.testing"
local proc = require "ipe.proc"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local driver = dofile(here .. "/tests/fuzz/driver.lua")
local cases = dofile(here .. "/tests/lib/worst_cases.lua")()


local jobs = {}
for i, c in ipairs(cases) do
  jobs[i] = function()
    local stored
    local s = driver.run_format(c.format, c.bytes, c.opts, function(db)
      stored = db:query(c.query)[1]
    end)
    return cjson.encode({ rows = s.rows, rejected = #s.reasons, reasons = s.reasons, failed = s.failed,
      stored = stored })
  end
end
local results = proc.run_jobs(jobs, { parallel = 1, cpu = 120, timeout = 900 })

for i, c in ipairs(cases) do
  T.case(c.format .. ": a value of about 1 MiB finishes and is stored whole", function()
    local r = results[i]
    T.ok(r.ok, "the child: " .. tostring(r.why) .. " " .. tostring(r.out))
    local got = cjson.decode(r.out)
    T.eq(got.failed, false, "the file was not refused")
    T.eq(got.rows, c.rows, "rows per table")
    T.eq(got.rejected, c.rejected or 0, "records rejected: " .. table.concat(got.reasons, " | "))
    T.eq(got.stored, c.want, "the stored values")
  end)
end
