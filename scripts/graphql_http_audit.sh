#!/usr/bin/env bash
# GraphQL over HTTP conformance: runs the `graphql-http` npm package's server audits against a
# local server on a throw-away SQLite database. Exits non-zero when any audit is an error.
#
#   bash scripts/graphql_http_audit.sh        (or `make audit`; CI runs it too)
#
# Needs Node 18+ and npm. graphql-http is pinned in scripts/audit/package-lock.json and installed
# into scripts/audit/node_modules (git-ignored) only when missing or stale.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUDIT_DIR="$ROOT/scripts/audit"
VENV="${VENV:-$ROOT/.venv}"
cd "$ROOT"

command -v node >/dev/null || { echo "graphql_http_audit: node is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "graphql_http_audit: npm is required" >&2; exit 2; }

# Install the pinned audit suite once; `npm ci` again only when the lock file changed.
STAMP="$AUDIT_DIR/node_modules/.relleks-lock-$(cksum <"$AUDIT_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" ]]; then
  (cd "$AUDIT_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$STAMP"
fi

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$TMP/audit.sqlite3"
export RELLEKS_ENV=development MEDIA_ROOT="$TMP/media" LOG_LEVEL=WARNING
unset REDIS_URL SMTP_URL
"$VENV/bin/tortoise" -c database.TORTOISE_ORM migrate >"$TMP/migrate.log" 2>&1 \
  || { cat "$TMP/migrate.log" >&2; exit 1; }

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$VENV/bin/uvicorn" server:app --host 127.0.0.1 --port "$PORT" --no-access-log \
  >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Wait (up to 15 s) for /healthz, giving up early if the server process dies.
if ! "$VENV/bin/python" - "$PORT" "$SERVER_PID" <<'PY'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            sys.exit(0 if answer.status == 200 else 1)
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(1)
        time.sleep(0.1)
sys.exit(1)
PY
then
  echo "graphql_http_audit: the server did not become healthy:" >&2
  cat "$TMP/server.log" >&2
  exit 1
fi

status=0
node "$AUDIT_DIR/audit.mjs" "http://127.0.0.1:$PORT/graphql" || status=$?
exit "$status"
