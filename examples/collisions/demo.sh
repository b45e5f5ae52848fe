#!/usr/bin/env bash
# The collisions demo (`make demo`): runs this suite under `pytest -n 2`, where its tests collide
# over a port, /tmp, the working directory and a database, then under `bulkhead run -n 2`, where
# each worker has its own. Exits 0 only when pytest-xdist failed and bulkhead passed.
# usage: examples/collisions/demo.sh BULKHEAD_BINARY
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

# A python that has pytest and pytest-xdist: $PYTHON first, then what is on PATH, then the
# system's. (A pyenv python first on PATH often lacks them.)
python=""
for candidate in ${PYTHON:-} python3 python /usr/bin/python3 /usr/local/bin/python3; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import pytest, xdist' >/dev/null 2>&1; then
    python=$path
    break
  fi
done
if [ -z "$python" ]; then
  echo "demo: no python with pytest and pytest-xdist found (tried \$PYTHON, python3, python," \
    "/usr/bin/python3, /usr/local/bin/python3); on Debian: apt-get install python3-pytest-xdist" >&2
  exit 2
fi

clean() {
  rm -f /tmp/bulkhead_demo.json bulkhead_demo.db bulkhead_demo_output.txt demo_gw*.db
}
last_line() {  # pytest's closing line: the last non-blank line, without the ===== rulers
  grep -v '^[[:space:]]*$' "$1" | tail -n 1 | sed -e 's/^=* *//' -e 's/ *=*$//'
}

log=$(mktemp -d)
trap 'rm -rf "$log"; clean' EXIT

echo "== 1/2: $python -m pytest -n 2 (pytest-xdist: workers share /tmp, ports, cwd, database)"
clean
COLUMNS=200 timeout 120 "$python" -m pytest -n 2 --tb=line -q >"$log/xdist.txt" 2>&1
xdist_rc=$?
grep -E '^(FAILED|ERROR) ' "$log/xdist.txt" | sed 's/^/   /'
xdist_line=$(last_line "$log/xdist.txt")

echo
echo "== 2/2: bulkhead run -n 2 (each worker: private /tmp, network, cwd, DATABASE_URL)"
clean
python_flag=()
if "$bulkhead" run --help 2>/dev/null | grep -q -- '--python'; then
  python_flag=(--python "$python")
fi
timeout 300 "$bulkhead" run -n 2 "${python_flag[@]}" >"$log/bulkhead.txt" 2>&1
bulkhead_rc=$?
sed 's/^/   /' "$log/bulkhead.txt" | tail -n 25
bulkhead_line=$(last_line "$log/bulkhead.txt")

echo
echo "pytest -n 2:         ${xdist_line}   (exit $xdist_rc)"
echo "bulkhead run -n 2:   ${bulkhead_line}   (exit $bulkhead_rc)"
echo

if [ "$xdist_rc" -ne 1 ]; then
  if [ "$xdist_rc" -eq 0 ]; then
    echo "demo: UNEXPECTED: pytest -n 2 passed, so the tests did not collide this time" \
      "(is the machine so loaded that the two workers started more than a second apart?)" >&2
  else
    echo "demo: UNEXPECTED: pytest -n 2 exited $xdist_rc (1 = tests failed was expected):" >&2
    tail -n 20 "$log/xdist.txt" >&2
  fi
  exit 1
fi
if [ "$bulkhead_rc" -ne 0 ]; then
  echo "demo: FAILED: bulkhead run -n 2 exited $bulkhead_rc; the sandboxed run should pass" >&2
  exit 1
fi
echo "demo: OK: the suite collides under pytest-xdist and passes under bulkhead."
