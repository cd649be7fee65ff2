#!/usr/bin/env bash
# Make sure Caddy is there for tests/domains/test_caddy.py, which runs the Caddyfile that
# docs/custom-domains.md documents (on-demand TLS asking /internal/tls-ask). Installs Debian's
# `caddy` with apt-get when it is missing (CI runs as root on a fresh machine). `make caddy`
# runs it, and `make test` runs that first. RELLEKS_SKIP_CADDY=1: the Caddy test is skipped.
set -euo pipefail

if command -v caddy >/dev/null 2>&1; then
    echo "caddy: $(command -v caddy) is there"
    exit 0
fi
if [ "${RELLEKS_SKIP_CADDY:-}" = "1" ]; then
    echo "caddy: none; RELLEKS_SKIP_CADDY=1, so the Caddy test is skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "caddy: no caddy and no apt-get to install Debian's: install Caddy 2," \
         "or set RELLEKS_SKIP_CADDY=1 to skip its test" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "caddy: installing Caddy needs root (run: apt-get install caddy)" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "caddy: installing Debian's caddy with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends caddy
# The package starts a system service on port 80; the test runs its own Caddy.
"${sudo[@]}" systemctl disable --now caddy >/dev/null 2>&1 || true
command -v caddy >/dev/null 2>&1 || { echo "caddy: apt-get finished but caddy is missing" >&2; exit 1; }
echo "caddy: $(command -v caddy) installed"
