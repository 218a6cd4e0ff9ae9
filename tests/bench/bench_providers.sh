#!/bin/sh
# bench_providers: the seven threat-intelligence insights run the way a page
# runs them — ipe.page's run(), which puts the external panels together in one
# worker whose lookups are all in flight at once (ipe.concurrent) —
# against the mock vendor APIs (tests/lib/MockTI.pm) with every provider
# delayed 300 ms. Goals: the seven live answers together in <= 1.2 x 300 ms,
# and a re-run answered from the workspace cache in <= 20 ms. Medians of
# ROUNDS rounds (default 7), each round with fresh IPs for the live case.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${IPE_RUN:-$root/ipe-run}"
rounds="${ROUNDS:-7}"
delay=300
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ipe-bench-providers-XXXXXX")"
mock_pid=""
cleanup() {
  # the mock is its own process group: stop the leader and every worker
  [ -n "$mock_pid" ] && { kill -KILL "-$mock_pid" 2>/dev/null || kill -KILL "$mock_pid" 2>/dev/null; }
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

perl "$root/tests/lib/MockTI.pm" --port-file "$tmp/port" --log "$tmp/requests.log" --watch $$ >/dev/null 2>&1 &
mock_pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$tmp/port" ] || { echo "bench_providers: FAIL (the mock server did not start)"; exit 1; }
port="$(cat "$tmp/port")"
base="http://127.0.0.1:$port/delay$delay"

cat > "$tmp/config" <<EOF
[provider.mdti]
tenant_id = bench
client_id = bench-app
client_secret = bench-secret-0001
login_url = http://127.0.0.1:$port/ok/mdti-login
base_url = $base/mdti
rate = off
[provider.virustotal]
key = bench-vt-0002
base_url = $base/virustotal
rate = off
[provider.recorded-future]
key = bench-rf-0003
base_url = $base/recorded-future
[provider.anomali]
user = bench
key = bench-anomali-0004
base_url = $base/anomali
[provider.abuseipdb]
key = bench-abuse-0005
base_url = $base/abuseipdb
rate = off
[provider.greynoise]
base_url = $base/greynoise
[provider.otx]
base_url = $base/otx
EOF
chmod 600 "$tmp/config"

"$bin" demo --db "$tmp/ws.db" --events 20000 --seed 1 >/dev/null 2>&1 || { echo "bench_providers: FAIL (demo workspace)"; exit 1; }

cat > "$tmp/bench_providers_test.lua" <<'EOF'
-- Seven provider insights through the page engine (page.run), live and cached.
local T = require "ipe.testing"
local proc = require "ipe.proc"
local discover = require "ipe.discover"
local runner = require "ipe.runner"
local timeutil = require "ipe.timeutil"

local NAMES = { "defender-ti-reputation", "virustotal-ip", "recorded-future-ip", "anomali-ip", "abuseipdb-ip",
                "greynoise-ip", "otx-ip" }
local rounds = tonumber(proc.getenv("BENCH_ROUNDS")) or 7
local index = discover.scan()
local now = proc.now()
local window = assert(timeutil.window{ now = now })

local page = require "ipe.page"
local panels = page.select((page.collect(index)), NAMES)
assert(#panels == #NAMES, "the seven provider panels")
local parallel = page.parallelism(panels, false)

local function requests(ip)
  local reqs = {}
  for i, p in ipairs(panels) do
    reqs[i] = { entry = p.entry, given = page.given(p, ip, {}), index = index,
                window = window, now = now, now_text = timeutil.format_time(now), db_path = proc.getenv("BENCH_DB"),
                timeout = 10 }
  end
  return reqs
end

if proc.getenv("BENCH_PRELOAD") == "1" then -- what a page verb could do before forking its workers
  local intel = require "ipe.intel"
  for _, id in ipairs(intel.PROVIDERS) do intel.provider(id) end
  require "ipe.intel.cache"; require "ipe.intel.quota"; require "ipe.result"
end

-- The runtime's floor: a small offline insight (one workspace query) seven times in one
-- worker, together like the page's external panels.
local function floor_round(ip)
  local reqs = {}
  for i = 1, #NAMES do
    reqs[i] = { entry = assert(discover.find(index, "insight", "anomalies-count")), given = { ip = ip }, index = index,
                window = window, now = now, now_text = timeutil.format_time(now), db_path = proc.getenv("BENCH_DB"),
                timeout = 10, together = "floor" }
  end
  local t0 = proc.monotonic()
  runner.run_many(reqs, #reqs)
  return (proc.monotonic() - t0) * 1000
end

local function round(ip)
  local reqs = requests(ip)
  local t0 = proc.monotonic()
  local recs = page.run(panels, reqs, parallel, false, {})
  local ms = (proc.monotonic() - t0) * 1000
  local statuses = {}
  for i, rec in ipairs(recs) do
    local st
    for _, it in ipairs(rec.sections[1] and rec.sections[1].items or {}) do if it.key == "Status" then st = it.value end end
    statuses[i] = panels[i].id .. "=" .. tostring(st)
  end
  return ms, table.concat(statuses, " ")
end

local live, cached, floor = {}, {}, {}
local all_ok = true
for r = 1, rounds do
  floor[r] = floor_round("8.8." .. (100 + r) .. ".8")
  local ip = "8.8." .. (100 + r) .. ".8"
  local ms, st = round(ip)
  live[r] = ms
  if st:find("=[^o]") or st:find("=o[^k]") then all_ok = false; T.diag("live round " .. r .. ": " .. st) end
  local cms, cst = round(ip)
  cached[r] = cms
  if cst:find("=[^o]") or cst:find("=o[^k]") then all_ok = false; T.diag("cached round " .. r .. ": " .. cst) end
end
local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end
T.diag(string.format("bench live_median_ms %.1f", median(live)))
T.diag(string.format("bench cached_median_ms %.1f", median(cached)))
T.diag(string.format("bench floor_median_ms %.1f", median(floor)))
T.diag("bench live_all_ms " .. table.concat((function() local o = {} for i, v in ipairs(live) do o[i] = string.format("%.0f", v) end return o end)(), ","))
T.diag("bench cached_all_ms " .. table.concat((function() local o = {} for i, v in ipairs(cached) do o[i] = string.format("%.1f", v) end return o end)(), ","))
T.case("every provider answered ok, live and from the cache", function() T.ok(all_ok) end)
T.done()
EOF

out="$(IPE_CONFIG="$tmp/config" XDG_STATE_HOME="$tmp/state" BENCH_DB="$tmp/ws.db" BENCH_ROUNDS="$rounds" \
       BENCH_PRELOAD="${BENCH_PRELOAD:-0}" \
       "$bin" test "$tmp/bench_providers_test.lua" 2>&1)"
rc=$?
live="$(echo "$out" | sed -n 's/^# bench live_median_ms //p')"
cached="$(echo "$out" | sed -n 's/^# bench cached_median_ms //p')"
floor="$(echo "$out" | sed -n 's/^# bench floor_median_ms //p')"
if [ -z "$live" ] || [ -z "$cached" ]; then
  echo "$out"
  echo "bench_providers: FAIL (no measurement)"; exit 1
fi
echo "$out" | grep -E '^# (bench (live|cached)_all_ms|live round|cached round)' | sed 's/^# /  /'
limit_live=$(awk "BEGIN { printf \"%.0f\", 1.2 * $delay }")
verdict=$(awk -v l="$live" -v c="$cached" -v ll="$limit_live" -v ok="$rc" \
  'BEGIN { print (l <= ll && c <= 20 && ok == 0) ? "PASS" : "FAIL" }')
echo "bench_providers: 7 providers x ${delay} ms delay, run as a page runs them (one worker, lookups in flight together), median of $rounds rounds:" \
     "live ${live} ms (goal <= ${limit_live} ms), cached re-run ${cached} ms (goal <= 20 ms) — $verdict" \
     "[runtime floor: the offline insight anomalies-count 7 times in one worker ${floor} ms; $(nproc 2>/dev/null || echo '?') CPUs]"
[ "$verdict" = PASS ]
