#!/usr/bin/env bash
# The services demo (`make demo-services`): starts a PostgreSQL and a Redis on this machine's
# loopback (as a CI runner's `services:` would), runs this suite under `pytest -n 2`, where the
# workers share one database and one Redis db, then under `bulkhead run -n 2`, where each worker
# has its own. Exits 0 only when pytest-xdist failed, bulkhead passed, and no worker database
# is left behind.
# usage: examples/services/demo.sh BULKHEAD_BINARY
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 BULKHEAD_BINARY" >&2
  exit 2
fi
bulkhead=$(realpath -- "$1" 2>/dev/null || echo "$1")
if [ ! -x "$bulkhead" ]; then
  echo "demo: $1 is not an executable (build it first: make)" >&2
  exit 2
fi
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
cd "$here" || exit 2
python=/usr/bin/python3
if ! "$python" -c 'import pytest, xdist, psycopg2, redis, pytest_django' >/dev/null 2>&1; then
  echo "demo: $python lacks pytest, pytest-xdist, psycopg2, redis or pytest-django; on Debian:" \
    "apt-get install python3-pytest-xdist python3-psycopg2 python3-redis python3-pytest-django" >&2
  exit 2
fi

work=$(mktemp -d)
chmod 755 "$work"
trap '"$here/servers.sh" stop "$work/servers"; rm -rf "$work"' EXIT
"$here/servers.sh" start "$work/servers" || exit 2
set -a
. "$work/servers/env"
set +a
# What the project's CI does before its tests: create the database, run the migrations.
createdb --maintenance-db="${DATABASE_URL%/*}/postgres" app || exit 2
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f schema.sql || exit 2
echo "services: DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL"

last_line() {  # pytest's closing line without the ===== rulers
  grep -v '^[[:space:]]*$' "$1" | tail -n 1 | sed -e 's/^=* *//' -e 's/ *=*$//'
}

echo
echo "== 1/2: pytest -n 2 (pytest-xdist: both workers use one database and one Redis db)"
COLUMNS=300 timeout 180 "$python" -m pytest -n 2 --tb=no -q -rfE >"$work/xdist.txt" 2>&1
xdist_rc=$?
grep -E '^(FAILED|ERROR) ' "$work/xdist.txt" | sed 's/^/   /'
xdist_line=$(last_line "$work/xdist.txt")

echo
echo "== 2/2: bulkhead run -n 2 (forward auto; a database and a Redis db per worker)"
timeout 300 "$bulkhead" run -n 2 --python "$python" >"$work/bulkhead.txt" 2>&1
bulkhead_rc=$?
sed 's/^/   /' "$work/bulkhead.txt" | grep -v -e '^ *$' | tail -n 20
bulkhead_line=$(last_line "$work/bulkhead.txt")

left=$(psql -At "${DATABASE_URL%/*}/postgres" -c \
  "SELECT datname FROM pg_database WHERE datname LIKE 'app\_%'" 2>&1)
keys=0
for db in 1 2; do keys=$((keys + $(redis-cli -p "$REDIS_PORT" -n "$db" dbsize))); done

echo
echo "pytest -n 2:         ${xdist_line}   (exit $xdist_rc)"
echo "bulkhead run -n 2:   ${bulkhead_line}   (exit $bulkhead_rc)"
echo "left behind:         databases: ${left:-none}; keys in the workers' Redis dbs: $keys"
echo

status=0
# What collided, not only that something failed: each test of the shared database and cache
# found the other worker's value (the workers meet before their first test, so every one
# does), and nothing else failed.
collided=$(grep -cE '^FAILED test_services\.py::test_database_and_cache\[[a-d]\] - AssertionError: another worker wrote to this' "$work/xdist.txt")
failed=$(grep -cE '^(FAILED|ERROR) ' "$work/xdist.txt")
if [ "$xdist_rc" -ne 1 ] || [ "$collided" -ne 4 ] || [ "$failed" -ne 4 ]; then
  echo "demo: UNEXPECTED: pytest -n 2 exited $xdist_rc with $failed failures, $collided of them" \
    "the 4 expected collisions (test_database_and_cache[a-d] seeing the other worker's value)" >&2
  tail -n 20 "$work/xdist.txt" >&2
  status=1
fi
if [ "$bulkhead_rc" -ne 0 ]; then
  echo "demo: FAILED: bulkhead run -n 2 exited $bulkhead_rc; the sandboxed run should pass" >&2
  status=1
fi
if [ -n "$left" ] || [ "$keys" != 0 ]; then
  echo "demo: FAILED: the worker teardown left databases or keys behind" >&2
  status=1
fi
[ "$status" -eq 0 ] && echo "demo: OK: the suite collides under pytest-xdist and passes under bulkhead."
exit "$status"
