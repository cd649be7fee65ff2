#!/usr/bin/env bash
# `make bench`: Q1 on the API and on the hand-written floor, side by side (bench/harness.py).
#
# Starts the PostgreSQL it needs as .ci/run does (scripts/services.sh) unless BENCH_DATABASE_URL
# names a database, installs wrk if it is missing, loads the data set once (bench/load_data.py:
# later runs reuse it), starts the API (one uvicorn worker) and the floor on loopback ports, then
# checks that both answer Q1 alike and times them. Everything it started is stopped on exit.
#
# `make bench-tracing` (BENCH_TRACING=1) also starts a second API process with tracing on, its
# spans exported over OTLP/HTTP to a local receiver (bench/otlp_receiver.py), and times the API
# with tracing off and on against the floor (bench/tracing_cost.py: bench/results/q1-tracing.json).
# OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, when set, reach the traced process.
#
# Knobs: BENCH_DATABASE_URL, BENCH_API_PORT (18081), BENCH_FLOOR_PORT (18082), BENCH_ROUNDS (3),
# BENCH_TRACED_PORT (18083), BENCH_RECEIVER_PORT (18084),
# BENCH_ROUND_SECONDS (10), BENCH_WARMUP_SECONDS (5), BENCH_LOG_DIR (/tmp/relleks-bench),
# BENCH_KEYSTORE_URL (the keystore beside the bench database: `<name>_keystore`).
#
# The data is encrypted as production's is (bench/load_data.py): the loader, the API and the floor
# share the bench's own fixed KEK below (bench data only: never a deployment's) and keystore.
# Arguments are passed on to bench/harness.py.
#
# The other benchmarks run on their own: `make bench-fanout` (subscriptions' fan-out,
# bench/fanout.py) and `make bench-webhooks` (webhook deliveries with one job worker,
# bench/webhooks.py, about five minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
API_PORT=${BENCH_API_PORT:-18081}
FLOOR_PORT=${BENCH_FLOOR_PORT:-18082}
TRACED_PORT=${BENCH_TRACED_PORT:-18083}
RECEIVER_PORT=${BENCH_RECEIVER_PORT:-18084}
TRACING=${BENCH_TRACING:-}
LOGS=${BENCH_LOG_DIR:-/tmp/relleks-bench}
mkdir -p "$LOGS"

if [ -z "${BENCH_DATABASE_URL:-}" ]; then
  eval "$(bash scripts/services.sh)"
  BENCH_DATABASE_URL="${TEST_POSTGRES_URL%/*}/relleks_bench"
fi
export BENCH_DATABASE_URL
# The bench's KEK: base64 of "relleks-bench-only-kek-not-prod!" (32 bytes), fixed so that a
# loaded bench database stays readable from run to run.
export KEK_BASE64="cmVsbGVrcy1iZW5jaC1vbmx5LWtlay1ub3QtcHJvZCE="
export KEYSTORE_URL="${BENCH_KEYSTORE_URL:-$("$VENV/bin/python" -c \
  'import sys; from core.settings import default_keystore_url as k; print(k(sys.argv[1]))' \
  "$BENCH_DATABASE_URL")}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk with apt-get" >&2
  apt-get update -qq >"$LOGS/apt.log" 2>&1
  apt-get install -y -qq wrk >>"$LOGS/apt.log" 2>&1
fi

"$VENV/bin/python" -m bench.load_data --url "$BENCH_DATABASE_URL"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ports=("$API_PORT" "$FLOOR_PORT")
if [ -n "$TRACING" ]; then ports+=("$TRACED_PORT" "$RECEIVER_PORT"); fi
for port in "${ports[@]}"; do
  if listening "$port"; then
    echo "bench: port $port is already in use: set BENCH_API_PORT / BENCH_FLOOR_PORT" >&2
    exit 1
  fi
done

api_env=(env -u REDIS_URL -u SMTP_URL -u OTEL_EXPORTER_OTLP_ENDPOINT DATABASE_URL="$BENCH_DATABASE_URL"
  LOG_LEVEL=WARNING LOGIN_RATE_PER_ACCOUNT=1000/minute LOGIN_RATE_PER_IP=1000/minute
  ACCESS_TOKEN_TTL=3600 COST_BUDGET_SCALE=1000)

# The API as it ships, on the bench database. Log-in limits and the cost budget are raised only so
# that a run's thousands of Q1 requests from one account never hit them (the budget is still
# computed and charged on every request); the in-memory limiter (no REDIS_URL) keeps the run
# self-contained.
"${api_env[@]}" "$VENV/bin/uvicorn" server:app --host 127.0.0.1 --port "$API_PORT" --workers 1 \
  --no-access-log >"$LOGS/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")

# The floor talks to asyncpg directly, which refuses Tortoise's URL options (`?maxsize=`).
BENCH_DSN="${BENCH_DATABASE_URL%%\?*}" BENCH_KEYSTORE_DSN="${KEYSTORE_URL%%\?*}" \
  "$VENV/bin/uvicorn" bench.floor:app --host 127.0.0.1 \
  --port "$FLOOR_PORT" --workers 1 --no-access-log >"$LOGS/floor.log" 2>&1 &
floor_pid=$!
pids+=("$floor_pid")

wait_ready() {  # name pid port
  for _ in $(seq 150); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench: the $1 server exited; the end of $LOGS/$1.log:" >&2
      tail -n 30 "$LOGS/$1.log" >&2
      exit 1
    fi
    listening "$3" && return 0
    sleep 0.2
  done
  echo "bench: the $1 server is not listening on port $3 after 30 s" >&2
  exit 1
}
wait_ready api "$api_pid" "$API_PORT"
wait_ready floor "$floor_pid" "$FLOOR_PORT"

if [ -n "$TRACING" ]; then
  "$VENV/bin/uvicorn" bench.otlp_receiver:app --host 127.0.0.1 --port "$RECEIVER_PORT" \
    --workers 1 --no-access-log >"$LOGS/receiver.log" 2>&1 &
  receiver_pid=$!
  pids+=("$receiver_pid")
  wait_ready receiver "$receiver_pid" "$RECEIVER_PORT"
  # The same API with tracing on: every span exported to the receiver in batches.
  "${api_env[@]}" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RECEIVER_PORT" \
    "$VENV/bin/uvicorn" server:app --host 127.0.0.1 --port "$TRACED_PORT" --workers 1 \
    --no-access-log >"$LOGS/traced.log" 2>&1 &
  traced_pid=$!
  pids+=("$traced_pid")
  wait_ready traced "$traced_pid" "$TRACED_PORT"
  "$VENV/bin/python" -m bench.tracing_cost --api "http://127.0.0.1:$API_PORT" \
    --traced "http://127.0.0.1:$TRACED_PORT" --floor "http://127.0.0.1:$FLOOR_PORT" \
    --receiver "http://127.0.0.1:$RECEIVER_PORT" --api-pid "$api_pid" \
    --traced-pid "$traced_pid" --floor-pid "$floor_pid" "$@"
  exit 0
fi

"$VENV/bin/python" -m bench.harness --api "http://127.0.0.1:$API_PORT" \
  --floor "http://127.0.0.1:$FLOOR_PORT" --api-pid "$api_pid" --floor-pid "$floor_pid" "$@"
