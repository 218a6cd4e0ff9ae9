-- ipe.concurrent: several scripts in one worker process with their network waits
-- overlapped — how a page runs its external panels (seven threat-intelligence lookups
-- cost one round trip and one process, not seven processes).
--
--   concurrent.run(fns) -> results: runs every fn() as a coroutine and returns what each
--       returned (results[i] = fn_i's first return value). Whenever a member waits on the
--       network (concurrent.wait) or sleeps (concurrent.sleep) the next member runs; a
--       member resumes as soon as its own batch of requests is done, whatever the others
--       wait for. A member that raises gets results[i] = nil and errors[i] = the message
--       (second return value); one that yields anything else is stopped with the error
--       "attempt to yield from outside a coroutine" (what it would get when run alone).
--   concurrent.wait(batch) -> responses: a batch of ipe.curl.start. Inside run(): yields
--       until the batch is done. Elsewhere (or inside a coroutine of the script's own):
--       batch:wait(). A batch that is not a curl batch (a test double with :wait()) is
--       waited for directly.
--   concurrent.perform_many(requests) -> responses (ipe.curl.start + wait)
--   concurrent.sleep(seconds): inside run(), the member sleeps and the others go on;
--       elsewhere ipe.curl.sleep.
--
-- Members share one process: one memory budget, and a member that loops without
-- waiting holds the others until the worker's time runs out (ipe.runner re-runs the
-- members of a group that failed as a whole one by one, so one bad script cannot
-- take the others' answers with it).
local M = {}

local WAIT, SLEEP = {}, {}         -- yield tokens (unique tables)
local members = setmetatable({}, { __mode = "k" })   -- coroutine -> true while run() drives it

local function inside()
  local co = coroutine.running()
  return co ~= nil and members[co] == true
end

local function curl() return require "ipe.curl" end

function M.wait(batch)
  if type(batch) ~= "userdata" or not inside() then return batch:wait() end
  return coroutine.yield(WAIT, batch)
end

function M.perform_many(reqs)
  return M.wait(curl().start(reqs))
end

function M.sleep(seconds)
  if not (type(seconds) == "number" and seconds > 0) then return end
  if not inside() then return curl().sleep(seconds) end
  coroutine.yield(SLEEP, require("ipe.proc").monotonic() + seconds)
end

-- step(co, ...) -> what the member wants next: "done", value | "error", msg | WAIT, batch | SLEEP, t
local function step(co, ...)
  local ok, token, arg = coroutine.resume(co, ...)
  if not ok then return "error", token end
  if coroutine.status(co) == "dead" then return "done", token end
  if token == WAIT or token == SLEEP then return token, arg end
  return "error", "attempt to yield from outside a coroutine"
end

function M.run(fns)
  local monotonic = require("ipe.proc").monotonic
  local results, errors, waiting, live, started = {}, {}, {}, 0, 0
  local function settle(i, co, what, arg)
    if what == "done" or what == "error" then
      members[co] = nil
      if what == "done" then results[i] = arg else errors[i] = tostring(arg) end
      waiting[i] = nil
      live = live - 1
    else
      waiting[i] = { co = co, what = what, arg = arg }
    end
  end
  -- resume the members whose batch is done or whose sleep is over -> any resumed, next wake time,
  -- members waiting on the network
  local function resume_ready()
    local progressed, wake, net = false, math.huge, 0
    for i = 1, started do
      local w = waiting[i]
      if w and w.what == WAIT then
        if w.arg:done() then
          progressed = true
          settle(i, w.co, step(w.co, w.arg:wait()))
        else
          net = net + 1
        end
      elseif w and w.what == SLEEP then
        if monotonic() >= w.arg then
          progressed = true
          settle(i, w.co, step(w.co))
        else
          wake = math.min(wake, w.arg)
        end
      end
    end
    return progressed, wake, net
  end
  while started < #fns do
    started = started + 1
    local co = coroutine.create(fns[started])
    members[co] = true
    live = live + 1
    settle(started, co, step(co))
    -- an answer already in goes before the next member starts: a follow-up request
    -- (a token, then the lookup) leaves sooner
    local _, _, net = resume_ready()
    if net > 0 then curl().step(0) resume_ready() end
  end
  while live > 0 do
    local progressed, wake, net = resume_ready()
    if live > 0 and not progressed then
      local left = wake == math.huge and 0.2 or math.max(0, math.min(0.2, wake - monotonic()))
      -- let the transfers move (returns early on network activity)
      if net == 0 or curl().step(left) == 0 then
        -- nothing in flight: a batch still not done never will be; its wait() says so
        for i = 1, started do
          local w = waiting[i]
          if w and w.what == WAIT then settle(i, w.co, step(w.co, w.arg:wait())) end
        end
        if net == 0 and wake ~= math.huge then curl().sleep(math.max(0, wake - monotonic())) end
      end
    end
  end
  return results, errors
end

return M
