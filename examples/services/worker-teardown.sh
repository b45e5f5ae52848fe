#!/bin/sh
# bulkhead --worker-teardown: runs on the host after the worker's last sandbox, however the run
# ended, with what worker-setup.sh wrote to $BULKHEAD_ENV (WORKER_DB, DATABASE_URL, REDIS_URL).
set -eu
[ -n "${WORKER_DB:-}" ] || exit 0  # the setup never got that far
# --force ends sessions a killed worker left open.
dropdb --force --if-exists --maintenance-db="${DATABASE_URL%/*}/postgres" "$WORKER_DB"
case $REDIS_URL in
  */[1-9]*) redis-cli -u "$REDIS_URL" flushdb >/dev/null ;;  # never db 0
esac
