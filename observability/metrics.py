"""Prometheus metrics: what the API counts, and how a scrape renders them.

Every metric is declared here, once per process, so that docs/observability.md ("Every
metric") and the Grafana dashboard (`ops/grafana/relleks-api.json`) have one list to follow.
The code that counts calls the small functions below (`record_request`,
`count_webhook_attempt`...): none of them touches the database, the network or a lock shared
between processes, so counting adds no SQL statement and no wait to a request.

Labels never hold personal data or tenant ids: an organization, user or token id as a label would
be one time series per customer (millions of series, a scrape that grows with the customer base,
Prometheus' memory with it) and would make the metrics store a record of who used the API when,
which the privacy policy does not allow it to be. Per-organization usage is `organization.usage`'s
job (stored aggregates, with retention). The label values come from closed sets (operation types,
`ErrorCode`, enums of our models) or, for operation names, from `OperationNames`, which bounds them.

Several worker processes (`WEB_CONCURRENCY` > 1) share one view through prometheus-client's
multiprocess mode: with `PROMETHEUS_MULTIPROC_DIR` set before this module is imported (as
`scripts/serve.py` does), each process writes its values to memory-mapped files in that
directory and a scrape sums them (`render`). Gauges of things a process holds (connections in
use, open WebSockets) are `livesum`: a process that stops is dropped from them
(`mark_process_dead`, called when the app shuts down).

    record_request("LeadList", "query", 0.012, ("NOT_FOUND",), cost=42)
    body, content_type = render(extra=[queue_families])
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import REGISTRY, Collector

OTHER = "other"
"""The operation name of anonymous operations, names that are not GraphQL names or too long, and
names past the bound."""

OPERATION_TYPES = frozenset({"query", "mutation", "subscription"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)

REQUESTS = Counter(
    "relleks_graphql_requests", "GraphQL operations, over HTTP and started on WebSockets, by "
    "operation name and type.",
    ["operation", "type"])
LATENCY = Histogram(
    "relleks_graphql_request_duration_seconds",
    "Time from receiving a GraphQL HTTP request to its response, by operation name and type.",
    ["operation", "type"], buckets=LATENCY_BUCKETS)
ERRORS = Counter(
    "relleks_graphql_errors", "GraphQL errors sent to clients, by `extensions.code`.", ["code"])
COST = Counter(
    "relleks_graphql_cost", "Query cost spent (the `extensions.cost.requested` of each response), "
    "by operation type.", ["type"])
POOL_IN_USE = Gauge(
    "relleks_db_connections_in_use", "Database connections taken from the pool (PostgreSQL) or "
    "holding the connection's lock (SQLite), summed over live processes.", ["engine"],
    multiprocess_mode="livesum")
POOL_WAITS = Counter(
    "relleks_db_pool_waits", "Times a statement or transaction found no free connection and "
    "waited for one.", ["engine"])
POOL_WAIT_SECONDS = Histogram(
    "relleks_db_pool_acquire_seconds", "Time to take a database connection (or SQLite's lock).",
    ["engine"], buckets=WAIT_BUCKETS)
WEBHOOK_ATTEMPTS = Counter(
    "relleks_webhook_attempts", "Webhook delivery attempts, by outcome: delivered, retry (a "
    "failure that will be retried), failed (retries exhausted), gone (410), disabled (the "
    "endpoint was switched off).", ["outcome"])
WS_CONNECTIONS = Gauge(
    "relleks_websocket_connections", "Open GraphQL WebSocket connections.",
    multiprocess_mode="livesum")
WS_SUBSCRIPTIONS = Gauge(
    "relleks_websocket_subscriptions", "Operations running on open WebSocket connections "
    "(subscriptions).", multiprocess_mode="livesum")
AI_CREDITS = Counter(
    "relleks_ai_credits", "AI credits charged for finished generations, by feature.", ["feature"])
AI_GENERATIONS = Counter(
    "relleks_ai_generations", "Finished AI generations, by feature and status.",
    ["feature", "status"])
CLIENT_DISCONNECTS = Counter(
    "relleks_http_client_disconnects", "GraphQL HTTP requests whose client went away before "
    "its body had arrived: nothing ran and no answer was sent (not an error of the API).")
FORM_SUBMISSIONS = Counter(
    "relleks_form_submissions", "Lead form submissions, by verdict: accepted, pending (double "
    "opt-in), held, spam (stored), or rejected (refused before storing: invalid, limited).",
    ["verdict"])
SUBSCRIPTION_CHECKS = Counter(
    "relleks_subscription_checks", "Subscription events' checks of the subscriber's credential "
    "and permission: read (the rows read again) or covered (the event was already waiting when "
    "a check under a second old ran: a stream catching up on a backlog).", ["outcome"])
COMPILED_PLANS = Counter(
    "relleks_compiled_plans", "Operations the compiler saw for the first time (a miss of the "
    "plan cache), by result: compiled (a plan was built) or uncompilable (left to the ordinary "
    "executor).", ["result"])
COMPILED_OPERATIONS = Counter(
    "relleks_compiled_operations", "Operations run by a compiled plan, by outcome: answered (the "
    "plan's answer) or abandoned (the ordinary executor answered instead).", ["outcome"])
COMPILED_MISMATCHES = Counter(
    "relleks_compiled_mismatches", "Compiled answers that differed from the ordinary executor's "
    "(COMPILED_OPERATIONS=check only).")
PRIVACY_REQUEST_CLOSE_SECONDS = Histogram("relleks_privacy_request_close_seconds", "Seconds from a verified data-rights request to its completion.", ["source"], buckets=(3600, 86400, 7*86400, 14*86400, 30*86400, 60*86400))  # noqa: E501


GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationNames:
    """The operation names that may become label values: at most `limit` distinct names per
    process, first come first kept; anonymous operations, names over 64 characters or not
    GraphQL names, and any name past the limit become `other`. Clients choose names, so without
    the bound a client sending a new name per request would make a new time series per request.

    >>> names = OperationNames(limit=1)
    >>> names.label("LeadList"), names.label("Another"), names.label(None)
    ('LeadList', 'other', 'other')
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name or not GRAPHQL_NAME.fullmatch(name):
            return OTHER
        if name in self._known:
            return name
        with self._lock:
            if len(self._known) >= self.limit:
                return OTHER
            self._known.add(name)
        return name


OPERATION_NAMES = OperationNames(limit=200)


def record_request(operation: str | None, operation_type: str | None, seconds: float,
                   error_codes: Iterable[str] = (), *, cost: float | None = None) -> None:
    """Count one GraphQL request over HTTP (its name is bounded by `OPERATION_NAMES`)."""
    kind = operation_type if operation_type in OPERATION_TYPES else OTHER
    name = OPERATION_NAMES.label(operation)
    REQUESTS.labels(name, kind).inc()
    LATENCY.labels(name, kind).observe(seconds)
    for code in error_codes:
        ERRORS.labels(code).inc()
    if cost:
        COST.labels(kind).inc(cost)


def count_client_disconnect() -> None:
    CLIENT_DISCONNECTS.inc()


def record_operation(operation: str | None, operation_type: str | None,
                     error_codes: Iterable[str] = ()) -> None:
    """Count one operation started on a WebSocket (a subscription, or a query or mutation sent
    over it) and the errors of its start. No latency: a subscription lasts as long as its
    client listens."""
    kind = operation_type if operation_type in OPERATION_TYPES else OTHER
    REQUESTS.labels(OPERATION_NAMES.label(operation), kind).inc()
    for code in error_codes:
        ERRORS.labels(code).inc()


def count_errors(codes: Iterable[str]) -> None:
    """Count errors sent outside an HTTP request (a WebSocket operation's)."""
    for code in codes:
        ERRORS.labels(code).inc()


def count_webhook_attempt(outcome: str) -> None:
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def count_ai_generation(feature: str, status: str, credits: int) -> None:
    AI_GENERATIONS.labels(feature, status).inc()
    if credits:
        AI_CREDITS.labels(feature).inc(credits)


def count_form_submission(verdict: str) -> None:
    FORM_SUBMISSIONS.labels(verdict).inc()


# Bound once: these count on hot paths (a compiled answer on Q1's, a check on every event),
# without a label lookup.
_CHECK_OUTCOMES = {outcome: SUBSCRIPTION_CHECKS.labels(outcome) for outcome in ("read", "covered")}
_PLAN_RESULTS = {result: COMPILED_PLANS.labels(result) for result in ("compiled", "uncompilable")}
_OPERATION_OUTCOMES = {outcome: COMPILED_OPERATIONS.labels(outcome)
                       for outcome in ("answered", "abandoned")}


def count_subscription_check(outcome: str) -> None:
    """A subscription event's check: `read` (the rows read again) or `covered`."""
    _CHECK_OUTCOMES[outcome].inc()


def count_compiled_plan(result: str) -> None:
    """An operation first seen by the compiler: `compiled` or `uncompilable`."""
    _PLAN_RESULTS[result].inc()


def count_compiled_operation(outcome: str) -> None:
    """An operation run by its plan: `answered`, or `abandoned` for the ordinary executor."""
    _OPERATION_OUTCOMES[outcome].inc()


def count_compiled_mismatch() -> None:
    COMPILED_MISMATCHES.inc()


def observe_privacy_request_closed(source: str, seconds: float) -> None:
    """A data-rights request was completed `seconds` after it was received (verified):
    `source` is "ticket" (a user's support ticket) or "public" (a privacy-request page)."""
    PRIVACY_REQUEST_CLOSE_SECONDS.labels(source).observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Families(Collector):
    """Metric families computed at scrape time (the job queue), added to one scrape."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def render(extra: Sequence[Metric] = ()) -> tuple[bytes, str]:
    """The scrape's body and content type: every process's values (multiprocess mode) or this
    process's, followed by `extra`."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra:
        scraped = CollectorRegistry()
        scraped.register(Families(extra))
        body += generate_latest(scraped)
    return body, CONTENT_TYPE_LATEST


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this process's live gauges from the multiprocess view (the app's shutdown)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid)
