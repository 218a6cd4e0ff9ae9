#!/bin/sh
# make bench: runs every tests/bench/bench_* (each prints its own result lines:
# medians and ratios against the baseline it names, measured in the same run).
set -u
cd "$(dirname "$0")/../.."
status=0
for b in tests/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $b"
  "$b" || { echo "!! $b failed"; status=1; }
done
exit $status
