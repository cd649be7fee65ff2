#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 and a Redis on loopback for the test suite, idempotently.
# Prints the environment to export (TEST_POSTGRES_URL, REDIS_URL); `.ci/run` evals it.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${PG_PORT:-54329}
REDIS_PORT=${REDIS_PORT:-63799}
STATE=${SERVICES_DIR:-/tmp/relleks-services}
PGDATA="$STATE/pg"

mkdir -p "$STATE"

if [ ! -x "$PG_BIN/initdb" ] || ! command -v redis-server >/dev/null 2>&1; then
  echo "installing postgresql-15 and redis-server with apt-get" >&2
  apt-get update -qq >"$STATE/apt.log" 2>&1
  apt-get install -y -qq postgresql-15 redis-server >>"$STATE/apt.log" 2>&1
fi

if ! id relleks-ci >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin relleks-ci
fi
chown relleks-ci "$STATE"
as_ci() { runuser -u relleks-ci -- "$@"; }

if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_ci "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
fi
if ! as_ci "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  as_ci "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$STATE/pg.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$STATE -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --logfile "$STATE/redis.log" >/dev/null
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
