#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and Redis on this machine's loopback (as a CI runner's
# `services:` would), each on a free port, with everything in DIR; stops them again.
#   servers.sh start DIR   -> writes DIR/env: DATABASE_URL=..., REDIS_URL=..., PG_BIN=..., ...
#   servers.sh stop DIR    -> stops both and removes DIR
# PostgreSQL refuses to run as root: as root, its server runs as the `postgres` user.
set -euo pipefail
action=${1:-}
dir=${2:-}
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "$action" = stop ]; then
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if redis_pid=$(cat "$dir/redis.pid" 2>/dev/null); then
    kill "$redis_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir"
  exit 0
fi

if [ -z "$pg_bin" ] || ! command -v redis-server >/dev/null; then
  echo "servers.sh: needs PostgreSQL and Redis (apt-get install postgresql redis-server)" >&2
  exit 2
fi
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mkdir -p "$dir/pg/sock"
chmod 755 "$dir"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$dir/pg"; fi
pg_port=$(free_port)
as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust --no-sync >"$dir/pg/initdb.log" 2>&1 ||
  { cat "$dir/pg/initdb.log" >&2; exit 1; }
as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 30 \
  -o "-p $pg_port -k $dir/pg/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
  { cat "$dir/pg/server.log" >&2; exit 1; }
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
cat >"$dir/env" <<ENV
DATABASE_URL=postgresql://postgres@localhost:$pg_port/app
REDIS_URL=redis://localhost:$redis_port/0
PG_PORT=$pg_port
PG_SOCKET_DIR=$dir/pg/sock
PG_BIN=$pg_bin
REDIS_PORT=$redis_port
ENV
