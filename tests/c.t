#!/bin/sh
# Runs the C unit tests (one per binding) as TAP subtests.
dir="${IPE_C_TESTS:-$(dirname "$0")/../build}"
n=0; fail=0
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  n=$((n + 1))
  out=$("$t" 2>&1); rc=$?
  echo "$out" | sed 's/^/    /'
  if [ $rc -eq 0 ]; then echo "ok $n - $(basename "$t")"; else echo "not ok $n - $(basename "$t")"; fail=1; fi
done
[ $n -gt 0 ] || { echo "1..0 # SKIP no C tests built in $dir"; exit 0; }
echo "1..$n"
exit $fail
