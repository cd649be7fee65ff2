#!/usr/bin/env bash
# CI's restore drill (`.ci/run`), on SQLite and, with TEST_POSTGRES_URL, on PostgreSQL: a demo
# database made for it, `make backup`, then `make restore-drill` (the tests replay erasures:
# tests/backups). Every database and file it makes goes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pg_names=()
cleanup() {
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    for name in "${pg_names[@]}"; do
      psql -q "$TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

drill() {  # DATABASE_URL KEYSTORE_URL BACKUP_DIR
  export DATABASE_URL=$1 KEYSTORE_URL=$2 BACKUP_DIR=$3 JOBS_IN_PROCESS= RELLEKS_ENV=development
  make --no-print-directory demo >"$BACKUP_DIR.demo.log" 2>&1 || { cat "$BACKUP_DIR.demo.log"; exit 1; }
  make --no-print-directory backup
  make --no-print-directory restore-drill
}

mkdir -p "$work/sqlite"
drill "sqlite://$work/sqlite/relleks.sqlite3" "sqlite://$work/sqlite/keystore.sqlite3" "$work/sqlite/backups"

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  name="relleks_ci_drill_$$"
  pg_names=("$name" "${name}_keystore")
  for db in "${pg_names[@]}"; do psql -q "$TEST_POSTGRES_URL" -c "CREATE DATABASE \"$db\""; done
  base=${TEST_POSTGRES_URL%/*}
  drill "$base/$name" "$base/${name}_keystore" "$work/postgres-backups"
fi
