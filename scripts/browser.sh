#!/usr/bin/env bash
# Make sure a Chromium is there for the browser tests (tests/http/test_graphiql_browser.py), which
# drive it with Playwright for Python. Playwright's own browser download cannot be reached from
# our machines, so this installs Debian's `chromium` with apt-get when it is missing (CI runs as
# root on a fresh machine). `make browser` runs it, and `make test` runs that first.
#
#   CHROMIUM=/path/to/chromium   another browser binary (default /usr/bin/chromium)
#   RELLEKS_SKIP_BROWSER=1       no browser needed: the browser tests are skipped
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "browser: $CHROMIUM is there"
    exit 0
fi
if [ "${RELLEKS_SKIP_BROWSER:-}" = "1" ]; then
    echo "browser: none at $CHROMIUM; RELLEKS_SKIP_BROWSER=1, so the browser tests are skipped"
    exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
    echo "browser: CHROMIUM=$CHROMIUM does not exist" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser: no Chromium at $CHROMIUM and no apt-get to install Debian's: install Chromium" \
         "and set CHROMIUM, or set RELLEKS_SKIP_BROWSER=1 to skip the browser tests" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "browser: installing Chromium needs root (run: apt-get install chromium)" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "browser: installing Debian's chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation
if [ ! -x "$CHROMIUM" ]; then
    echo "browser: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "browser: $CHROMIUM installed"
