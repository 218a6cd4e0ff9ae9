#!/bin/sh
# The Lua unit tests of the bundled modules, run inside the runtime (ipe-run test).
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "${IPE_RUN:-$root/ipe-run}" test "$root/tests/lua"
