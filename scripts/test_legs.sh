#!/usr/bin/env bash
# The suite's two database legs (SQLite, then PostgreSQL when TEST_POSTGRES_URL is set), one
# after the other, their output streamed; with TEST_LEGS_AT_ONCE=1 both at once (each leg is one
# Python process that mostly waits, so two share a 2-core machine well).
#
# Each leg writes its own log (var/test-logs/<leg>.log), printed whole when it ends, so the two
# legs' output never interleaves. The SQLite leg gets the next Redis database number: the rate
# limiter's reset between tests empties its whole Redis database, which would race the other leg.
# Arguments are passed to both pytest runs (e.g. `scripts/test_legs.sh -x tests/leads`).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LOGS=var/test-logs
mkdir -p "$LOGS"
rm -f "$LOGS"/*.rc

sqlite_redis=""
if [ -n "${REDIS_URL:-}" ]; then
  if [[ "$REDIS_URL" =~ ^(.*)/([0-9]+)$ ]]; then
    sqlite_redis="${BASH_REMATCH[1]}/$((BASH_REMATCH[2] + 1))"
  else
    sqlite_redis="${REDIS_URL%/}/1"
  fi
fi

run_leg() {  # leg name, Redis URL for it
  local leg=$1 redis=$2 started=$SECONDS rc
  if [ "$STREAM" = 1 ]; then
    RELLEKS_TEST_DB=$leg REDIS_URL=$redis "$BIN/pytest" "${@:3}" 2>&1 | tee "$LOGS/$leg.log"
    rc=${PIPESTATUS[0]}
  else
    RELLEKS_TEST_DB=$leg REDIS_URL=$redis "$BIN/pytest" "${@:3}" >"$LOGS/$leg.log" 2>&1
    rc=$?
  fi
  echo "$rc $((SECONDS - started))" >"$LOGS/$leg.rc"
}

STREAM=0
if [ "${TEST_LEGS_AT_ONCE:-0}" != 1 ]; then
  STREAM=1
  # One after the other (the default): with both legs at once, the SQLite leg's realtime tests
  # that talk to separate server processes failed in CI (sessions not found) for a reason not
  # yet found; TEST_LEGS_AT_ONCE=1 runs them together for a local run.
  echo "test legs: sqlite, then postgres; logs in $LOGS/"
  run_leg sqlite "$sqlite_redis" "$@"
  run_leg postgres "${REDIS_URL:-}" "$@"
  sqlite_pid=0 postgres_pid=0
else
  echo "test legs: sqlite and postgres at once; logs in $LOGS/"
  run_leg sqlite "$sqlite_redis" "$@" &
  sqlite_pid=$!
  run_leg postgres "${REDIS_URL:-}" "$@" &
  postgres_pid=$!
fi

# A line a minute, so a CI log shows the run is alive.
while [ "$sqlite_pid" != 0 ] && { kill -0 "$sqlite_pid" 2>/dev/null || kill -0 "$postgres_pid" 2>/dev/null; }; do
  sleep 60
  for leg in sqlite postgres; do
    [ -f "$LOGS/$leg.rc" ] || printf '%s: %s  ' "$leg" "$(grep -o '\[ *[0-9]*%\]' "$LOGS/$leg.log" | tail -1)"
  done
  echo
done
wait

status=0
for leg in sqlite postgres; do
  read -r rc took <"$LOGS/$leg.rc"
  echo "================ $leg leg: exit $rc after ${took}s ================"
  [ "$STREAM" = 1 ] || cat "$LOGS/$leg.log"
  [ "$rc" = 0 ] || status=1
done
exit $status
