#!/bin/sh
# bulkhead --worker-setup: runs on the host once per worker (BULKHEAD_WORKER=gw0, gw1, ...)
# before its first sandbox. Gives the worker a PostgreSQL database of its own, copied from the
# one DATABASE_URL names (schema, fixtures and all), and a Redis database index of its own.
# The new URLs reach the worker (and its teardown) through $BULKHEAD_ENV.
set -eu
base=${DATABASE_URL%/*}            # postgresql://postgres@localhost:5432
template=${DATABASE_URL##*/}       # app
mine=${template}_$BULKHEAD_WORKER  # app_gw0
# Written first, so the teardown drops the database even if this script fails half-way.
echo "WORKER_DB=$mine" >>"$BULKHEAD_ENV"
createdb --maintenance-db="$base/postgres" --template="$template" "$mine"
echo "DATABASE_URL=$base/$mine" >>"$BULKHEAD_ENV"

# redis://host:port[/db] -> redis://host:port/<worker index + 1> (db 0 stays the developer's)
case ${REDIS_URL#*://} in
  */*) redis_base=${REDIS_URL%/*} ;;
  *) redis_base=$REDIS_URL ;;
esac
echo "REDIS_URL=$redis_base/$((${BULKHEAD_WORKER#gw} + 1))" >>"$BULKHEAD_ENV"
