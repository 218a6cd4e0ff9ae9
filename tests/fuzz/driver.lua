-- tests/fuzz/driver.lua: the fuzz targets' Lua side, shared by the libFuzzer
-- harnesses (tests/fuzz/fuzz_<target>.c through fuzz_common.c) and the corpus
-- regression test (tests/lua/fuzz_corpus_test.lua).
--
--   local targets = dofile("tests/fuzz/driver.lua")
--   targets.<name>(bytes)   -- returns when the parser gave a result or a clean
--                           -- "bad record" reason; raises on anything else
-- A clean failure is what a user would see as one line: a reason string from
-- parse, a sink.reject(line, reason) or a sink.fail(msg) (a file error). Any
-- other Lua error (a bug: "attempt to index a nil value", a traceback) is raised
-- as "internal: ..." for the harness to abort on. Rows go through the real
-- mapper (ipe.ingest.load) into an in-memory workspace (without the per-IP
-- rollup's triggers, as a big ingest runs), rolled back after each input, so
-- coercion of every value is exercised too.
local schema = require "ipe.schema"
local load = require "ipe.ingest.load"
local source = require "ipe.ingest.source"
local ipaddr = require "ipe.ipaddr"
local coerce = require "ipe.ingest.coerce"
local timeutil = require "ipe.timeutil"

local NOW_TEXT = "2026-11-27T12:00:00.000Z"
local NOW = timeutil.parse_time(NOW_TEXT)

local M = {}

local db
local mappers = {}
local summary

local function workspace()
  if db then return db end
  local sqlite = require "ipe.sqlite"
  db = assert(sqlite.open(":memory:", "rwc"))
  schema.migrate(db)
  require("ipe.migrations.ingest").up(db)
  -- the parsers, not the per-IP rollup's triggers (which a big ingest drops too)
  require("ipe.rollup.sqlite").drop_triggers(db)
  return db
end

local function mapper(tname)
  local m = mappers[tname]
  if not m then
    m = load.mapper(workspace(), tname, { now_text = NOW_TEXT, route_type = true })
    mappers[tname] = m
  end
  return m
end

local function check_reason(reason, where)
  if type(reason) ~= "string" or reason == "" then
    error("internal: " .. where .. " gave a reason that is not a message: " .. tostring(reason), 0)
  end
  if summary then summary.reasons[#summary.reasons + 1] = reason end
end

local FILE_ERROR = {}

-- a sink as ipe.ingest.load gives the format drivers, writing through the real mappers
local function new_sink(opts)
  local sink = { opts = opts or {}, now = NOW, now_text = NOW_TEXT, name = "fuzz-input", db = workspace() }
  function sink.fail(msg)
    check_reason(msg, "sink.fail")
    error(FILE_ERROR, 0)
  end
  function sink.reject(_, reason) check_reason(reason, "sink.reject") end
  function sink.skip() end
  function sink.mapper(tname) return mapper(tname) end
  function sink.mapper_for(keys, first)
    local tname = require("ipe.ingest.detect").table_for(keys, first, sink.name, sink.opts)
    return mapper(tname or "CommonSecurityLog")
  end
  function sink.retype(m, value)
    if value == m.table or not schema.table(value) then return m end
    return mapper(value)
  end
  local function counted(ok, tname)
    if ok and summary then summary.rows[tname] = (summary.rows[tname] or 0) + 1 end
  end
  function sink.finish(m)
    local ok, why = m.finish()
    if not ok then check_reason(why, "mapper.finish") end
    counted(ok, m.table)
  end
  function sink.row(tname, lineno, rec, kinds)
    local ok, why = mapper(tname).record(lineno, rec, kinds)
    if not ok then check_reason(why, "mapper.record") end
    counted(ok, tname)
  end
  function sink.switch() end
  function sink.announce() end
  return sink
end

-- guarded(fn, inspect): runs fn inside a transaction that is rolled back (inspect(db)
-- sees the rows first); clean failures return
local function guarded(fn, inspect)
  local d = workspace()
  d:exec("BEGIN")
  local ok, err = xpcall(fn, function(e)
    if e == FILE_ERROR then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok and inspect then ok, err = pcall(inspect, d) end
  d:exec("ROLLBACK")
  if not ok and err ~= FILE_ERROR then error("internal: " .. tostring(err), 0) end
  return ok
end

-- run_format(format, bytes, opts, inspect) -> { rows = {table = n}, reasons = {...}, failed = bool }:
-- the format's driver (ipe.ingest.<format>) over bytes, as ingest runs it
function M.run_format(format, bytes, opts, inspect)
  summary = { rows = {}, reasons = {} }
  local s = summary
  local ok = guarded(function()
    local src = source.from_string(bytes, "fuzz-input")
    require("ipe.ingest." .. format).run(src, new_sink(opts), {})
  end, inspect)
  summary = nil
  s.failed = not ok
  return s
end

local function driver(format, opts)
  return function(bytes)
    guarded(function()
      local src = source.from_string(bytes, "fuzz-input")
      require("ipe.ingest." .. format).run(src, new_sink(opts), {})
    end)
  end
end

M.cef = driver("cef")
M.syslog = driver("syslog")
M.csv = driver("csv", { table = "CommonSecurityLog" })
M.jsonl = driver("jsonl")

-- STIX patterns: both readers (ingest's comparisons/observables and ipe.stix's)
function M.stix_pattern(bytes)
  local function run()
    for _, f in ipairs({ require("ipe.ingest.stix").comparisons, require("ipe.ingest.stix").observables,
      require("ipe.stix").observables }) do
      local list, why = f(bytes)
      if list == nil then check_reason(why, "a STIX pattern reader") end
    end
  end
  local ok, err = xpcall(run, function(e) return debug.traceback(tostring(e), 2) end)
  if not ok then error("internal: " .. tostring(err), 0) end
end

-- IP addresses: every reader, and what must hold of what they give
function M.ipaddr(bytes)
  local function run()
    local a = ipaddr.parse(bytes)
    local n, why = ipaddr.normalize(bytes)
    if n then
      assert(a and a.text == n, "parse and normalize disagree")
      assert(ipaddr.normalize(n) == n, "normalize is not idempotent: " .. n)
      assert(ipaddr.classify(n), "classify fails on a normalized address")
      local net = assert(ipaddr.parse_cidr(n), "parse_cidr fails on a normalized address")
      assert(net.network == n, "the network of an address is not the address")
      assert(ipaddr.contains(net, n) == true, "an address is not in its own /32 or /128")
    else
      check_reason(why, "ipaddr.normalize")
    end
    local net, cwhy = ipaddr.parse_cidr(bytes)
    if net then
      assert(ipaddr.parse_cidr(net.text).text == net.text, "parse_cidr is not idempotent: " .. net.text)
    else
      check_reason(cwhy, "ipaddr.parse_cidr")
    end
    local host, port = ipaddr.split_host_port(bytes)
    if host then
      assert(ipaddr.normalize(host) == host, "split_host_port gives a host that is not normalized")
      assert(port == nil or (port >= 0 and port <= 65535), "port out of range")
    else
      check_reason(port, "ipaddr.split_host_port")
    end
    coerce.ip(bytes)
  end
  local ok, err = xpcall(run, function(e) return debug.traceback(tostring(e), 2) end)
  if not ok then error("internal: " .. tostring(err), 0) end
end

M.NAMES = { "cef", "syslog", "csv", "jsonl", "stix_pattern", "ipaddr" }

workspace()

return M
