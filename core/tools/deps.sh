#!/bin/sh
# deps.sh — make sure the Debian 12 packages ipe needs are installed.
# usage: deps.sh build|test|bench|check|html|fuzz
# As root it installs what is missing with apt-get; otherwise it prints the
# exact apt-get line and fails, so `make` and `make test` never half-run.
set -eu
build="gcc make pkg-config libluajit-5.1-dev libsqlite3-dev libcurl4-openssl-dev libmaxminddb-dev lua-cjson-dev zlib1g-dev libpcre2-dev libmicrohttpd-dev"
case "${1:-build}" in
  build) want="$build" ;;
  test)  want="$build perl sqlite3 bsdutils openssl curl clickhouse-server clickhouse-client" ;;
  bench) want="$build perl sqlite3 python3-maxminddb hyperfine clickhouse-server clickhouse-client" ;;
  check) want="$build perl sqlite3 valgrind clickhouse-server clickhouse-client" ;;
  html)  want="chromium" ;;
  fuzz)  want="$build clang-14 libclang-rt-14-dev" ;;
  *) echo "deps.sh: unknown set '$1' (build, test, bench, check, html, fuzz)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "ipe: missing Debian packages:$missing" >&2
  echo "ipe: install them with:  sudo sh -c '$line'" >&2
  exit 1
fi
echo "ipe: installing missing Debian packages:$missing" >&2
apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o DPkg::Lock::Timeout=600 $missing >&2
