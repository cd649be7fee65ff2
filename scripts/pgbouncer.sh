#!/usr/bin/env bash
# Make sure PgBouncer is there for `make serve` (scripts/fleet.py) and for
# tests/fleet/test_pgbouncer.py, which put it in transaction pooling mode in front of PostgreSQL.
# Installs Debian's `pgbouncer` with apt-get when it is missing (CI runs as root on a fresh
# machine). `make pgbouncer` runs it, and `make test` and `make serve` run that first.
# RELLEKS_SKIP_PGBOUNCER=1: the PgBouncer test is skipped (and `make serve` cannot run).
set -euo pipefail

found() { command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }; }

if found >/dev/null; then
    echo "pgbouncer: $(found) is there"
    exit 0
fi
if [ "${RELLEKS_SKIP_PGBOUNCER:-}" = "1" ]; then
    echo "pgbouncer: none; RELLEKS_SKIP_PGBOUNCER=1, so the PgBouncer test is skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "pgbouncer: no pgbouncer and no apt-get to install Debian's: install PgBouncer," \
         "or set RELLEKS_SKIP_PGBOUNCER=1 to skip its test" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "pgbouncer: installing PgBouncer needs root (run: apt-get install pgbouncer)" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "pgbouncer: installing Debian's pgbouncer with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends pgbouncer
# The package may start a system service on port 6432; ours run with their own configuration.
"${sudo[@]}" systemctl disable --now pgbouncer >/dev/null 2>&1 || true
"${sudo[@]}" service pgbouncer stop >/dev/null 2>&1 || true
found >/dev/null || { echo "pgbouncer: apt-get finished but pgbouncer is missing" >&2; exit 1; }
echo "pgbouncer: $(found) installed"
