# The two commands: `make run` (set up, migrate, load demo data, serve with GraphiQL) and
# `make test` (set up and run the whole suite, on SQLite and, with TEST_POSTGRES_URL, PostgreSQL).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup migrate demo lint schema audit bench bench-memory bench-fanout bench-webhooks bench-tracing services clean browser caddy vendor-graphiql js-client backup restore-drill \
	serve serve-start serve-stop serve-check pgbouncer wrk soak

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

migrate: setup
	@mkdir -p var
	$(BIN)/python -m scripts.migrate

demo: migrate
	$(BIN)/python -m scripts.load_demo

run: demo
	$(BIN)/python -m scripts.serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

schema: setup
	$(BIN)/strawberry export-schema schema:schema --output schema.graphql

test: setup browser caddy pgbouncer js-client
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	BIN=$(BIN) bash scripts/test_legs.sh

audit: setup
	bash scripts/graphql_http_audit.sh

bench: setup
	bash bench/run.sh

# The API's memory under Q1: RSS after 1,000 requests and after 100,000 more (issue 24's goal: within
# 10%), bench/results/q1-memory.json. About ten minutes on 2 cores.
bench-memory: setup
	BENCH_MEMORY=1 bash bench/run.sh

# Q1 with tracing off and on (a second API process exporting to a local OTLP receiver), against
# the floor: bench/tracing_cost.py, bench/results/q1-tracing.json.
bench-tracing: setup
	BENCH_TRACING=1 bash bench/run.sh

# Subscriptions' fan-out (bench/fanout.py); BENCH_DATABASE_URL picks the database (default: a
# fresh SQLite file), e.g. the PostgreSQL that `make services` prints.
bench-fanout: setup
	$(BIN)/python -m bench.fanout

# Webhook deliveries with one job worker (bench/webhooks.py): deliveries per second, commit to
# delivery p50/p95/p99, a slow endpoint mixed in. PostgreSQL: BENCH_DATABASE_URL, else a scratch
# database on the server TEST_POSTGRES_URL names (`make services`). About five minutes.
bench-webhooks: setup
	$(BIN)/python -m bench.webhooks

# The soak (bench/soak.py): Q1's peak on 1 and 2 API processes, then `make serve`'s fleet (2 API
# processes, PgBouncer, Redis, a job worker, on ports of its own) under a realistic mix at 70% of
# its measured peak for SOAK_SECONDS (600), RSS every 30 s: bench/results/soak.json.
# SOAK_FLEET=stand-in: scripts.serve and a worker on SOAK_DATABASE_URL, without PgBouncer.
soak: setup pgbouncer wrk
	$(BIN)/python -m bench.soak

services:
	@bash scripts/services.sh

# Back up the data and the keystore into BACKUP_DIR (var/backups), then prune by
# BACKUP_RETENTION / KEYSTORE_BACKUP_RETENTION; production schedulers run
# `python -m scripts.backup` (docs/backups.md).
backup: setup
	$(BIN)/python -m scripts.backup

# Restore the newest backup into a scratch database, replay the erasure ledger, check it.
restore-drill: setup
	$(BIN)/python -m scripts.restore_drill

# The production shape on this machine (scripts/fleet.py, docs/deployment.md): PostgreSQL,
# PgBouncer (transaction pooling), Redis, WEB_CONCURRENCY API processes (2) and job workers;
# Ctrl-C stops it all. serve-start/serve-stop: the same in the background.
serve: setup pgbouncer
	$(BIN)/python -m scripts.fleet run

serve-start: setup pgbouncer
	$(BIN)/python -m scripts.fleet start

serve-stop:
	$(BIN)/python -m scripts.fleet stop

# Against a running `make serve`: sign-up, leads, subscriptions across processes, a job.
serve-check: setup
	$(BIN)/python -m scripts.fleet_check

# Debian's PgBouncer for `make serve` and the PgBouncer test (installed with apt-get when missing).
pgbouncer:
	@bash scripts/pgbouncer.sh

# wrk, which times Q1 in `make soak` (bench/run.sh installs it for itself too).
wrk:
	@command -v wrk >/dev/null 2>&1 || (echo "installing wrk with apt-get" >&2 && apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null)

# Debian's Chromium for the GraphiQL browser tests (installed with apt-get when missing).
browser:
	@bash scripts/browser.sh

# Caddy for the custom-domain TLS test (installed with apt-get when missing).
caddy:
	@bash scripts/caddy.sh

# The JavaScript client the realtime tests run under Node (graphql-ws), from its lock file.
js-client: clients/js/node_modules/.package-lock.json

clients/js/node_modules/.package-lock.json: clients/js/package.json clients/js/package-lock.json
	cd clients/js && npm ci --no-audit --no-fund

# Re-vendor GraphiQL's assets at the versions pinned in scripts/vendor_graphiql.py (needs npm).
vendor-graphiql: setup
	$(BIN)/python -m scripts.vendor_graphiql

clean:
	rm -rf $(VENV) var
