"""Configuration from the environment, read once at start-up.

Every setting has a default that is safe for local use (`make run`); the README's table lists them.
Production (`RELLEKS_ENV=production`) refuses to start on the development secret, so a forgotten
variable cannot ship tokens signed with a key that is printed in this file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent  # the repository: core/settings.py sits one down
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789"
DEV_KEK_BASE64 = "ZGV2LW9ubHktaW5zZWN1cmUta2VrLWNoYW5nZS1tZSE="
"""The development key-encryption key (32 bytes, printed here): production refuses it."""


class ConfigurationError(RuntimeError):
    """Raised at start-up when the environment describes an unsafe or impossible set-up."""


CLIENT_KINDS = ("person", "api_token", "partner_app", "anonymous")
"""The kinds of client `PERSISTED_ONLY` names (`auth.viewer.Viewer.kind`)."""


STRIPE_VARIABLES = {
    "stripe_secret_key": "STRIPE_SECRET_KEY",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "stripe_api_base": "STRIPE_API_BASE",
    "stripe_price_pro_month": "STRIPE_PRICE_PRO_MONTH",
    "stripe_price_pro_year": "STRIPE_PRICE_PRO_YEAR",
    "stripe_price_business_month": "STRIPE_PRICE_BUSINESS_MONTH",
    "stripe_price_business_year": "STRIPE_PRICE_BUSINESS_YEAR",
}

SOCIAL_VARIABLES = {
    "google_client_id": "GOOGLE_CLIENT_ID",
    "google_client_secret": "GOOGLE_CLIENT_SECRET",
    "google_discovery_url": "GOOGLE_DISCOVERY_URL",
    "github_client_id": "GITHUB_CLIENT_ID",
    "github_client_secret": "GITHUB_CLIENT_SECRET",
    "github_oauth_url": "GITHUB_OAUTH_URL",
    "github_api_url": "GITHUB_API_URL",
}


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def local_url(host: str | None, port: str | None) -> str:
    """The URL of a server bound to `host` and `port` (`scripts/serve.py`'s defaults when
    unset), seen from this machine: a wildcard address (0.0.0.0, ::) names 127.0.0.1."""
    host = (host or "").strip()
    if host in {"", "0.0.0.0", "::", "[::]"}:  # noqa: S104 (recognised, not bound)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{(port or '').strip() or '8000'}"


def default_keystore_url(database_url: str) -> str:
    """The keystore beside `database_url`: `keystore.sqlite3` in a SQLite file's directory, or
    the database `<name>_keystore` on the same PostgreSQL server."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        path = database_url.removeprefix("sqlite://")
        if path in {"", ":memory:"}:
            return "sqlite://:memory:"
        return f"sqlite://{Path(path).parent / 'keystore.sqlite3'}"
    name = parts.path.lstrip("/") or "relleks"
    return urlunsplit(parts._replace(path=f"/{name}_keystore"))


def scanner_address(url: str) -> tuple[str, int]:
    """VIRUS_SCANNER_URL, `tcp://host:port`, as (host, port); ConfigurationError otherwise."""
    scheme, _, rest = url.strip().partition("://")
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if scheme != "tcp" or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"VIRUS_SCANNER_URL: {url!r} is not `tcp://host:port` (a "
                                 "clamd listening on TCP, e.g. tcp://127.0.0.1:3310)")
    return host, int(port)


def nameserver(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or a bare IP (port 53) of DNS_NAMESERVERS as (ip, port);
    ConfigurationError unless the host is an IP address (a resolver is not found by name)."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError as exc:
        raise ConfigurationError(f"DNS_NAMESERVERS: {text!r} is not an IP address with an "
                                 "optional port, e.g. 127.0.0.1:5353 or [::1]:53") from exc
    if not 0 < number < 65536:
        raise ConfigurationError(f"DNS_NAMESERVERS: {text!r} has no valid port")
    return host, number


TLS_SSLMODES = ("require", "verify-ca", "verify-full")
"""PostgreSQL `sslmode`s that refuse a plain-text connection."""
SSLMODES = ("disable", "allow", "prefer", *TLS_SSLMODES)


def postgres_url(url: str) -> bool:
    return url.startswith(("postgres:", "postgresql:", "asyncpg:"))


def url_sslmode(url: str) -> str | None:
    """The `sslmode` (or asyncpg's `ssl`) a PostgreSQL URL asks for, None when it says none."""
    query = dict(parse_qsl(urlsplit(url).query))
    return query.get("sslmode") or query.get("ssl")


def with_sslmode(url: str, sslmode: str) -> str:
    """`url` with `sslmode=...` (what libpq, pg_dump and `database._connection` read), replacing
    one it names; a SQLite URL is returned as it is."""
    if not postgres_url(url):
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"sslmode", "ssl"}]
    return urlunsplit(parts._replace(query=urlencode([*query, ("sslmode", sslmode)])))


def limits_storage_uri(redis_url: str | None) -> str:
    """The `limits` library's asyncio storage for REDIS_URL: `async+redis://` or, over TLS,
    `async+rediss://`; in memory without Redis."""
    return f"async+{redis_url}" if redis_url else "async+memory://"


@dataclass(frozen=True)
class Retention:
    """How many backups to keep: the newest of each of the last `daily` days, `weekly` ISO
    weeks and `monthly` months (pgBackRest's and restic's kind of schedule). Written in
    configuration as `daily=7,weekly=4,monthly=0`."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 0

    @classmethod
    def parse(cls, text: str, name: str = "BACKUP_RETENTION") -> Retention:
        counts: dict[str, int] = {}
        for part in _list(text):
            key, _, value = part.partition("=")
            key = key.strip().lower()
            if key not in {"daily", "weekly", "monthly"} or key in counts:
                raise ConfigurationError(f"{name}: {part!r} is not daily=N, weekly=N or "
                                         "monthly=N (each once), e.g. daily=7,weekly=4")
            try:
                counts[key] = int(value)
            except ValueError as exc:
                raise ConfigurationError(f"{name}: {part!r} needs a whole number") from exc
            if counts[key] < 0:
                raise ConfigurationError(f"{name}: {part!r} cannot be negative")
        retention = cls(**{"daily": 0, "weekly": 0, "monthly": 0, **counts})
        if not (retention.daily or retention.weekly or retention.monthly):
            raise ConfigurationError(f"{name} must keep at least one backup, e.g. daily=1")
        return retention


@dataclass(frozen=True)
class Settings:
    """All configuration; build it with `Settings.from_env()`."""

    env: str = "development"
    database_url: str = f"sqlite://{ROOT / 'var' / 'relleks.sqlite3'}"
    database_pooler: str = "session"
    """What DATABASE_URL (and KEYSTORE_URL) reach: `session`, PostgreSQL itself or a pooler
    keeping one server connection per client connection; `transaction`, a pooler handing out
    server connections per transaction (PgBouncer's `pool_mode = transaction`), where a
    statement prepared on one server connection is gone on the next: asyncpg's statement cache
    is off (`database._connection`) and psycopg never prepares (`services.queue`)."""
    jobs_database_url: str | None = None
    """Where the job queue (procrastinate) connects, when not DATABASE_URL: PostgreSQL itself,
    since its workers LISTEN for new jobs, which needs a session of their own (a transaction
    pooler in front of DATABASE_URL). Required with DATABASE_POOLER=transaction wherever a
    worker runs (`python -m jobs.worker`, JOBS_IN_PROCESS)."""
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    allowed_origins: tuple[str, ...] = ("http://localhost:3000", "http://127.0.0.1:3000")
    public_url: str = "http://127.0.0.1:8000"
    """Base of every link the API gives out. `from_env` outside production: from HOST and PORT
    when PUBLIC_URL is unset."""
    introspection: bool = True
    graphiql: bool = True
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    jwt_issuer: str = "relleks"
    jwt_audience: str = "relleks-api"
    cookie_secure: bool = False
    smtp_url: str | None = None
    mail_from: str = "Relleks <no-reply@relleks.test>"
    storage_backend: str = "local"
    media_root: Path = field(default=ROOT / "var" / "media")
    s3_bucket: str = "relleks-media"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    login_rate_per_account: str = "5/minute"
    login_rate_per_ip: str = "20/minute"
    signup_rate_per_ip: str = "10/hour"
    """`signUp` requests per IP (`limits` notation), whatever their outcome."""
    terms_version: str = "2026-11-01"
    """The version of the terms and privacy policy in force (`currentPolicy`)."""
    terms_url: str | None = None
    """Where that version is published; unset: `PUBLIC_URL/legal/privacy?version=...`."""
    terms_date: date | None = None
    """When that version took effect; unset: `terms_version` read as an ISO date."""
    max_body_bytes: int = 100_000
    max_header_bytes: int = 16_384
    """The request line and headers together, bytes; over it: 431 (or the connection closed)."""
    header_timeout: float = 10.0
    """Seconds a connection has to send a complete request head (`scripts/serve.py`)."""
    keepalive_timeout: int = 75
    """Seconds an idle keep-alive connection stays open between two requests
    (`scripts/serve.py`): longer than any client's or proxy's idle expiry, or a client may send
    a request on a connection the server is closing at that moment (docs/deployment.md)."""
    max_upload_bytes: int = 6_000_000
    execution_timeout: float = 10.0
    idempotency_response_max: int = 1 << 20
    """The largest response, bytes, kept for an `Idempotency-Key`'s replays; a larger one is
    not kept and a retry gets CONFLICT `IDEMPOTENCY_RESPONSE_TOO_LARGE` (docs/idempotency.md)."""
    cost_budget_scale: float = 1.0
    compiled_operations: str = "on"
    """`on`: a query seen before is answered by its compiled plan (`engine/compiler/`) when the
    compiler handles it; `off`: always the ordinary executor; `check`: both, answers compared
    (a mismatch is logged and recorded: the test suite runs so)."""
    compiled_operations_max: int = 500
    """How many compiled plans (and refusals) each schema keeps, least recently used dropped."""
    oauth_consent_url: str = "http://localhost:3000/oauth/consent"
    """The web app's consent page: `/oauth/authorize` sends the browser there (docs/oauth.md)."""
    oauth_rate_per_ip: str = "120/minute"
    """Requests to each OAuth endpoint per IP."""
    invite_rate_per_org: str = "50/hour"
    """Invitation mails (inviteMember and resendInvitation together) per organization."""
    invite_rate_per_inviter: str = "20/hour"
    """Invitation mails per person sending them, across all their organizations."""
    invite_rate_per_address: str = "3/day"
    """Invitation mails per recipient address, across all organizations."""
    """Multiplies every per-caller query budget (`engine/cost.py`), e.g. for load tests."""
    log_level: str = "INFO"
    # Observability (docs/observability.md): traces and error reports, both off by default.
    otel_exporter_otlp_endpoint: str | None = None
    """An OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`: spans go to its `/v1/traces`."""
    otel_service_name: str = "relleks-api"
    sentry_dsn: str | None = None
    """Where unhandled errors of requests and jobs are reported (Sentry's SDK)."""
    trace_exporter: Any = field(default=None, compare=False, repr=False)
    """Tests only: an OpenTelemetry `SpanExporter` (the in-memory one) that gets every span,
    whatever OTEL_EXPORTER_OTLP_ENDPOINT says. No variable sets it."""
    # Data rights and background jobs (jobs/, docs/jobs.md).
    account_deletion_grace_days: int = 14
    """Days between asking to delete an account or organization and the deletion."""
    export_ttl_hours: int = 72
    """How long a finished export's archive and download link last."""
    jobs_in_process: bool | None = None
    """Run a job worker inside the server process. None: yes on SQLite (its in-memory queue
    is visible to no other process), no on PostgreSQL (run `python -m jobs.worker`)."""
    jobs_max_attempts: int = 5
    """Retries of a failed job before its work is recorded FAILED."""
    jobs_retry_wait: int = 3
    """Base of the exponential backoff between retries, seconds (3, 9, 27, 81, 243)."""
    jobs_lease: int = 600
    """Seconds after which the sweep re-queues work whose job went silent."""
    shutdown_timeout: float = 30.0
    """After SIGTERM, how long a server process lets requests in flight finish, and a job
    worker its running jobs, before cutting them (docs/shutdown.md)."""
    # Realtime (README "Realtime"): GraphQL subscriptions over WebSocket.
    realtime_channel_prefix: str = "relleks:"
    """Prefix of the Redis pub/sub channels (pub/sub ignores the database number)."""
    realtime_buffer: int = 1000
    """Events held for one subscriber who reads slower than they come; past it the stream ends.
    The hub queues the same message object for every local subscriber, so a full buffer costs a
    socket 1,000 references (8 kB), not 1,000 copies. 100 was 3.4 s of lag at the soak's 29
    events a second: a busy org's subscribers were ended by a few seconds' load spike."""
    ws_init_timeout: float = 10.0
    ws_max_subscriptions: int = 20
    ws_max_message_bytes: int = 64_000
    ws_max_sockets_per_credential: int = 10
    """Open WebSockets per session, API token or OAuth grant; one more is closed with 4429."""
    ws_max_sockets_per_ip: int = 50
    """Open WebSockets per client IP (authenticated or not); one more is closed with 4429."""
    ws_socket_lease: float = 60.0
    """Seconds an open socket's place in the Redis count lasts unless renewed (every third of
    it while the socket lives): the places of a process that died come back after it."""
    # Metrics (observability/, docs/metrics.md): never public.
    metrics_token: str | None = None
    """Bearer token for `/metrics` on the API port; unset: that route answers 404."""
    metrics_port: int | None = None
    """Port of a metrics listener of its own (no token); unset: none."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics listener binds to."""
    ws_recheck_seconds: float = 60.0
    """How often an open WebSocket re-reads its credential when nothing told it to sooner: the
    backstop behind the notices that logout, revocation and removal publish."""
    # Billing (docs/billing.md): unset key = billing mutations answer "billing is not configured".
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None  # tests point the stripe library at a local fake
    stripe_timeout: float = 5.0
    stripe_max_network_retries: int = 2
    stripe_webhook_tolerance: int = 300
    stripe_price_pro_month: str | None = None
    stripe_price_pro_year: str | None = None
    stripe_price_business_month: str | None = None
    stripe_price_business_year: str | None = None
    # Custom domains (docs/custom-domains.md): tenants' form pages on their own hostnames.
    custom_domain_target: str | None = None
    """The hostname custom domains CNAME to (the proxy with on-demand TLS in front of us);
    unset: `addCustomDomain` answers UNAVAILABLE (CUSTOM_DOMAINS_NOT_CONFIGURED)."""
    dns_nameservers: tuple[str, ...] = ()
    """`host:port` (or bare IP) of the resolvers the domain checks ask; empty: the system's."""
    dns_timeout: float = 3.0
    """Seconds one domain check may spend on DNS, all its lookups together."""
    custom_domains_per_org: int = 10
    custom_domain_check_rate: str = "20/hour"
    """`checkCustomDomain` calls per organization (`limits` notation)."""
    key_rotation_rate: str = "3/day"
    """`rotateOrganizationKey` calls per organization (`limits` notation)."""
    tls_ask_rate_per_ip: str = "600/minute"
    """Requests to `/internal/tls-ask` per client IP (the proxy asking)."""
    # Webhooks (docs/webhooks.md): signed deliveries of an org's events to its endpoints.
    webhook_timeout: float = 15.0
    """Seconds one delivery attempt may take (connect, send and read the answer)."""
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    """Seconds before each attempt of a message, comma-separated (Standard Webhooks' schedule,
    about 28 hours in all); tests shrink it. Read it as `webhook_retry_delays`."""
    webhook_disable_after: int = 3 * 24 * 3600
    """Seconds an endpoint may fail without a single success before it is disabled."""
    webhook_retry_after_max: int = 3600
    """The longest `Retry-After` honoured, in seconds."""
    webhook_replay_rate: str = "10/hour"
    """`replayWebhookMessages` calls per organization (`limits` notation)."""
    webhook_redeliver_rate: str = "60/hour"
    """`redeliverWebhookMessage` calls per organization (`limits` notation)."""
    ai_rate_per_user: str = "30/hour"
    """AI feature calls (`generateLeadSummary`, `suggestNextSteps`, `draftEmail`) per person
    (across their organizations), `limits` notation: one member cannot drain the credits."""
    webhook_lanes_per_endpoint: int = 4
    """Delivery lanes of one endpoint: at most this many of its attempts run at once (a
    procrastinate lock per lane), so a slow endpoint holds at most this many worker slots."""
    webhook_concurrency: int = 16
    """Worker slots for webhook deliveries (the `webhooks` queue), per worker process and in
    the embedded worker: keep it above lanes x the slow endpoints you expect."""
    # Usage analytics (docs/usage.md).
    usage_flush_seconds: float = 5.0
    """How often each process adds its in-memory request counters to the daily aggregates; a
    crash loses at most this many seconds of counts."""
    client_events_rate_per_session: str = "20/minute"
    """`recordClientEvents` calls per signed-in session (`limits` notation)."""
    # The help center (docs/support.md).
    support_mailbox: str = "support@relleks.test"
    """Where staff are mailed when a requester opens a ticket or writes in one."""
    support_ticket_rate_per_user: str = "5/day"
    """`openSupportTicket` calls per person (`limits` notation)."""
    support_messages_per_ticket: int = 200
    """Messages a ticket may hold; then a new ticket is needed."""
    support_attachment_max_bytes: int = 5 * 1024 * 1024
    """The largest file attached to a support message (5 MiB); at most MAX_UPLOAD_BYTES, which
    bounds the whole multipart request (every file of a message together)."""
    support_attachments_per_message: int = 5
    """Files a support message may carry (1 to 10)."""
    virus_scanner_url: str | None = None
    """A clamd to scan support attachments with (`tcp://host:port`, the INSTREAM protocol);
    unset: no scan. Set, an attachment is stored only once clamd answered OK."""
    virus_scanner_timeout: float = 15.0
    """Seconds to wait for the scanner (connecting, sending and its answer together)."""
    # Social sign-in (docs/social-sign-in.md): a provider without both credentials is disabled.
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    github_client_id: str | None = None
    github_client_secret: str | None = None
    github_oauth_url: str = "https://github.com"
    """Where GitHub's authorize and token endpoints live (`/login/oauth/...`); tests use a fake."""
    github_api_url: str = "https://api.github.com"
    # Public lead forms (`web/forms.py`, docs/forms.md "Putting a form on your site").
    form_rate_per_ip: str = "10/minute"
    """Submissions of any form per client network (an IPv4 address, an IPv6 /64)."""
    form_rate_per_form: str = "120/minute"
    """Submissions of one form, from everyone together."""
    form_min_seconds: float = 2.0
    """A submission sent sooner after its page was rendered is taken for a bot's."""
    form_max_age_hours: int = 24
    """A page (its signed render time and its challenge) older than this is taken for a bot's."""
    form_challenge_digits: int = 4
    """Leading zero hex digits the proof of work must find: about 16**N SHA-256 on average."""
    form_max_body_bytes: int = 16_384
    """Largest body of a form submission (urlencoded or JSON)."""
    # AI features (docs/ai.md, docs/ai-providers.md): an OpenAI-compatible chat completions API.
    ai_base_url: str | None = None
    """The provider's API root, e.g. `https://api.openai.com/v1` or a self-hosted
    `http://vllm:8000/v1`; with AI_MODEL. Unset (both): the built-in local extractive provider
    outside production, UNAVAILABLE in production."""
    ai_api_key: str | None = field(default=None, repr=False)
    """The provider's API key (a secret: never logged nor shown); optional for self-hosted."""
    ai_model: str | None = None
    """The model asked, e.g. `gpt-4o-mini`; with AI_BASE_URL."""
    ai_timeout_seconds: float = 30.0
    """Seconds to connect, and of silence while an answer streams, before a call fails."""
    # Outbound HTTP to tenants' servers (`services/outbound.py`, docs/webhooks-ssrf.md).
    webhook_allow_loopback: bool = False
    """Let webhook URLs reach loopback (127.0.0.0/8, ::1) on any port, and use http://: for
    tests and local development only; production refuses to start with it on."""
    webhook_ports: tuple[int, ...] = (443,)
    """Ports a webhook URL may name (http:// also 80, when allowed at all)."""
    # Backups and restores (docs/backups.md) and encryption in transit.
    backup_dir: Path = field(default=ROOT / "var" / "backups")
    """Where `make backup` writes the backups and their manifests, and prunes them."""
    backup_retention: str = "daily=7,weekly=4"
    """Data backups kept (`Retention`): the newest of each of the last N days, ISO weeks, months."""
    keystore_backup_retention: str = "daily=3,weekly=1"
    """Keystore backups kept: shorter, so a destroyed key is gone from every backup sooner."""
    erasure_ledger_key: str | None = None
    """Key of the HMAC that names an erased person in the erasure ledger (`keystore/ledger.py`);
    unset: derived from SECRET_KEY. Changing it makes older entries unmatchable."""
    database_sslmode: str | None = None
    """PostgreSQL `sslmode` added to DATABASE_URL and KEYSTORE_URL (unset: theirs is kept)."""
    allow_plaintext_internal: bool = False
    """Let production reach PostgreSQL and Redis without TLS (a private network you trust)."""

    # Encryption at rest (docs/encryption.md): per-organization data keys in their own keystore.
    keystore_url: str = ""
    """Where the data keys live, apart from the data. Empty: next to the data, a
    `keystore.sqlite3` file beside a SQLite DATABASE_URL, or the database `<name>_keystore` on
    the same PostgreSQL server (`default_keystore_url`). Production requires it set."""
    kek_file: Path | None = None
    """A file holding the key-encryption key (32 random bytes, base64), which wraps every data
    key; or KEK_BASE64. Unset both: the development key, refused in production."""
    kek_base64: str | None = None
    key_cache_seconds: float = 60.0
    """How long an organization's unwrapped data keys stay in a process's memory before they are
    read again (a destroyed key stops decrypting within this time in other processes)."""
    # Trusted documents (docs/trusted-documents.md): operations first-party clients send by id.
    trusted_documents_file: Path | None = None
    """A JSON manifest of the trusted documents (Relay's persisted queries or Apollo's
    persisted-query manifest), loaded and validated at start. Unset: no document id is known."""
    persisted_only: tuple[str, ...] = ()
    """Kinds of client (`CLIENT_KINDS`) refused a free-text `query`: they must name a trusted
    document by its id (PERSISTED_QUERY_REQUIRED otherwise)."""

    def __post_init__(self) -> None:
        if not self.keystore_url:
            object.__setattr__(self, "keystore_url", default_keystore_url(self.database_url))

    @property
    def queue_database_url(self) -> str:
        """Where procrastinate's connections go: JOBS_DATABASE_URL, else DATABASE_URL."""
        return self.jobs_database_url or self.database_url

    @property
    def queue_through_pooler(self) -> bool:
        """The job queue reaches PostgreSQL through a transaction pooler (no LISTEN, no
        prepared statements): only deferring jobs works there, no worker."""
        return self.database_pooler == "transaction" and not self.jobs_database_url

    @property
    def run_jobs_in_process(self) -> bool:
        if self.jobs_in_process is not None:
            return self.jobs_in_process
        return not self.database_url.startswith(("postgres:", "postgresql:", "asyncpg:"))

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def policy_url(self) -> str:
        """Where the terms and privacy policy in force are published."""
        if self.terms_url:
            return self.terms_url
        return f"{self.public_url.rstrip('/')}/legal/privacy?version={self.terms_version}"

    @property
    def policy_date(self) -> date:
        """When the terms and privacy policy in force took effect (`check` makes sure there
        is one)."""
        if self.terms_date is not None:
            return self.terms_date
        return date.fromisoformat(self.terms_version)

    @property
    def ledger_key(self) -> bytes:
        """The erasure ledger's HMAC key: ERASURE_LEDGER_KEY, or one derived from SECRET_KEY."""
        if self.erasure_ledger_key:
            return self.erasure_ledger_key.encode()
        return hashlib.sha256(b"relleks erasure ledger:" + self.secret_key.encode()).digest()

    @property
    def backup_schedule(self) -> Retention:
        return Retention.parse(self.backup_retention)

    @property
    def keystore_backup_schedule(self) -> Retention:
        return Retention.parse(self.keystore_backup_retention, "KEYSTORE_BACKUP_RETENTION")

    def plaintext_connections(self) -> list[str]:
        """The internal connections that would travel without TLS: PostgreSQL URLs without a
        refusing `sslmode`, a `redis://` (not `rediss://`) REDIS_URL."""
        found = []
        if postgres_url(self.database_url) and url_sslmode(self.database_url) not in TLS_SSLMODES:
            found.append("DATABASE_URL (set DATABASE_SSLMODE=verify-full, or sslmode= in the URL)")
        if postgres_url(self.keystore_url) and url_sslmode(self.keystore_url) not in TLS_SSLMODES:
            found.append("KEYSTORE_URL (set DATABASE_SSLMODE=verify-full, or sslmode= in the URL)")
        jobs = self.jobs_database_url
        if jobs and postgres_url(jobs) and url_sslmode(jobs) not in TLS_SSLMODES:
            found.append("JOBS_DATABASE_URL (set DATABASE_SSLMODE=verify-full, or sslmode= in "
                         "the URL)")
        if self.redis_url and not self.redis_url.startswith(("rediss://", "unix://")):
            found.append("REDIS_URL (use a rediss:// URL)")
        return found

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """WEBHOOK_RETRY_SCHEDULE as numbers: the seconds before each attempt."""
        return tuple(float(part) for part in _list(self.webhook_retry_schedule))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        text = {
            "env": "RELLEKS_ENV",
            "database_url": "DATABASE_URL",
            "database_pooler": "DATABASE_POOLER",
            "jobs_database_url": "JOBS_DATABASE_URL",
            "secret_key": "SECRET_KEY",
            "public_url": "PUBLIC_URL",
            "jwt_issuer": "JWT_ISSUER",
            "jwt_audience": "JWT_AUDIENCE",
            "mail_from": "MAIL_FROM",
            "storage_backend": "STORAGE_BACKEND",
            "s3_bucket": "S3_BUCKET",
            "s3_region": "S3_REGION",
            "login_rate_per_account": "LOGIN_RATE_PER_ACCOUNT",
            "login_rate_per_ip": "LOGIN_RATE_PER_IP",
            "signup_rate_per_ip": "SIGNUP_RATE_PER_IP",
            "terms_version": "TERMS_VERSION",
            "terms_url": "TERMS_URL",
            "log_level": "LOG_LEVEL",
            "otel_exporter_otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
            "otel_service_name": "OTEL_SERVICE_NAME",
            "sentry_dsn": "SENTRY_DSN",
            "oauth_consent_url": "OAUTH_CONSENT_URL",
            "oauth_rate_per_ip": "OAUTH_RATE_PER_IP",
            "invite_rate_per_org": "INVITE_RATE_PER_ORG",
            "invite_rate_per_inviter": "INVITE_RATE_PER_INVITER",
            "invite_rate_per_address": "INVITE_RATE_PER_ADDRESS",
            "realtime_channel_prefix": "REALTIME_CHANNEL_PREFIX",
            "form_rate_per_ip": "FORM_RATE_PER_IP",
            "form_rate_per_form": "FORM_RATE_PER_FORM",
            "custom_domain_target": "CUSTOM_DOMAIN_TARGET",
            "custom_domain_check_rate": "CUSTOM_DOMAIN_CHECK_RATE",
            "key_rotation_rate": "KEY_ROTATION_RATE",
            "tls_ask_rate_per_ip": "TLS_ASK_RATE_PER_IP",
            "webhook_replay_rate": "WEBHOOK_REPLAY_RATE",
            "webhook_redeliver_rate": "WEBHOOK_REDELIVER_RATE",
            "ai_rate_per_user": "AI_RATE_PER_USER",
            "client_events_rate_per_session": "CLIENT_EVENTS_RATE_PER_SESSION",
            "support_mailbox": "SUPPORT_MAILBOX",
            "support_ticket_rate_per_user": "SUPPORT_TICKET_RATE_PER_USER",
            "virus_scanner_url": "VIRUS_SCANNER_URL",
            "webhook_retry_schedule": "WEBHOOK_RETRY_SCHEDULE",
            "ai_base_url": "AI_BASE_URL",
            "ai_api_key": "AI_API_KEY",
            "ai_model": "AI_MODEL",
            "backup_retention": "BACKUP_RETENTION",
            "keystore_backup_retention": "KEYSTORE_BACKUP_RETENTION",
            "erasure_ledger_key": "ERASURE_LEDGER_KEY",
            "database_sslmode": "DATABASE_SSLMODE",
            "keystore_url": "KEYSTORE_URL",
            "kek_base64": "KEK_BASE64",
            "metrics_host": "METRICS_HOST",
            "compiled_operations": "COMPILED_OPERATIONS",
        }
        for attr, var in text.items():
            if env.get(var):
                kwargs[attr] = env[var]
        for attr, var in {"redis_url": "REDIS_URL", "smtp_url": "SMTP_URL",
                          "metrics_token": "METRICS_TOKEN",
                          "s3_endpoint_url": "S3_ENDPOINT_URL", **STRIPE_VARIABLES,
                          **SOCIAL_VARIABLES}.items():
            if env.get(var):
                kwargs[attr] = env[var]
        for attr, var in {"introspection": "INTROSPECTION", "graphiql": "GRAPHIQL",
                          "cookie_secure": "COOKIE_SECURE",
                          "webhook_allow_loopback": "WEBHOOK_ALLOW_LOOPBACK",
                          "allow_plaintext_internal": "ALLOW_PLAINTEXT_INTERNAL"}.items():
            if env.get(var):
                kwargs[attr] = _bool(env[var])
        for attr, var in {"access_token_ttl": "ACCESS_TOKEN_TTL",
                          "refresh_token_ttl": "REFRESH_TOKEN_TTL",
                          "max_body_bytes": "MAX_BODY_BYTES",
                          "max_upload_bytes": "MAX_UPLOAD_BYTES",
                          "stripe_max_network_retries": "STRIPE_MAX_NETWORK_RETRIES",
                          "stripe_webhook_tolerance": "STRIPE_WEBHOOK_TOLERANCE",
                          "account_deletion_grace_days": "ACCOUNT_DELETION_GRACE_DAYS",
                          "export_ttl_hours": "EXPORT_TTL_HOURS",
                          "jobs_max_attempts": "JOBS_MAX_ATTEMPTS",
                          "jobs_retry_wait": "JOBS_RETRY_WAIT",
                          "jobs_lease": "JOBS_LEASE",
                          "idempotency_response_max": "IDEMPOTENCY_RESPONSE_MAX",

                          "realtime_buffer": "REALTIME_BUFFER",
                          "ws_max_subscriptions": "WS_MAX_SUBSCRIPTIONS",
                          "ws_max_message_bytes": "WS_MAX_MESSAGE_BYTES",
                          "ws_max_sockets_per_credential": "WS_MAX_SOCKETS_PER_CREDENTIAL",
                          "ws_max_sockets_per_ip": "WS_MAX_SOCKETS_PER_IP",
                          "max_header_bytes": "MAX_HEADER_BYTES",
                          "form_max_age_hours": "FORM_MAX_AGE_HOURS",
                          "form_challenge_digits": "FORM_CHALLENGE_DIGITS",
                          "form_max_body_bytes": "FORM_MAX_BODY_BYTES",
                          "custom_domains_per_org": "CUSTOM_DOMAINS_PER_ORG",
                          "support_messages_per_ticket": "SUPPORT_MESSAGES_PER_TICKET",
                          "support_attachment_max_bytes": "SUPPORT_ATTACHMENT_MAX_BYTES",
                          "support_attachments_per_message":
                              "SUPPORT_ATTACHMENTS_PER_MESSAGE",
                          "webhook_disable_after": "WEBHOOK_DISABLE_AFTER",
                          "webhook_lanes_per_endpoint": "WEBHOOK_LANES_PER_ENDPOINT",
                          "webhook_concurrency": "WEBHOOK_CONCURRENCY",
                          "webhook_retry_after_max": "WEBHOOK_RETRY_AFTER_MAX",
                          "metrics_port": "METRICS_PORT",
                          "compiled_operations_max": "COMPILED_OPERATIONS_MAX"}.items():
            if env.get(var):
                kwargs[attr] = int(env[var])
        if env.get("JOBS_IN_PROCESS"):
            kwargs["jobs_in_process"] = _bool(env["JOBS_IN_PROCESS"])
        if env.get("VIRUS_SCANNER_TIMEOUT"):
            kwargs["virus_scanner_timeout"] = float(env["VIRUS_SCANNER_TIMEOUT"])
        if env.get("EXECUTION_TIMEOUT"):
            kwargs["execution_timeout"] = float(env["EXECUTION_TIMEOUT"])
        if env.get("COST_BUDGET_SCALE"):
            kwargs["cost_budget_scale"] = float(env["COST_BUDGET_SCALE"])
        if env.get("SHUTDOWN_TIMEOUT"):
            kwargs["shutdown_timeout"] = float(env["SHUTDOWN_TIMEOUT"])
        if env.get("WS_INIT_TIMEOUT"):
            kwargs["ws_init_timeout"] = float(env["WS_INIT_TIMEOUT"])
        if env.get("WS_RECHECK_SECONDS"):
            kwargs["ws_recheck_seconds"] = float(env["WS_RECHECK_SECONDS"])
        if env.get("WS_SOCKET_LEASE_SECONDS"):
            kwargs["ws_socket_lease"] = float(env["WS_SOCKET_LEASE_SECONDS"])
        if env.get("USAGE_FLUSH_SECONDS"):
            kwargs["usage_flush_seconds"] = float(env["USAGE_FLUSH_SECONDS"])
        if env.get("FORM_MIN_SECONDS"):
            kwargs["form_min_seconds"] = float(env["FORM_MIN_SECONDS"])
        if env.get("HEADER_TIMEOUT"):
            kwargs["header_timeout"] = float(env["HEADER_TIMEOUT"])
        if env.get("KEEPALIVE_TIMEOUT"):
            kwargs["keepalive_timeout"] = int(env["KEEPALIVE_TIMEOUT"])
        if env.get("STRIPE_TIMEOUT"):
            kwargs["stripe_timeout"] = float(env["STRIPE_TIMEOUT"])
        if env.get("WEBHOOK_TIMEOUT"):
            kwargs["webhook_timeout"] = float(env["WEBHOOK_TIMEOUT"])
        if env.get("AI_TIMEOUT_SECONDS"):
            kwargs["ai_timeout_seconds"] = float(env["AI_TIMEOUT_SECONDS"])
        if env.get("DNS_TIMEOUT"):
            kwargs["dns_timeout"] = float(env["DNS_TIMEOUT"])
        if env.get("DNS_NAMESERVERS"):
            kwargs["dns_nameservers"] = _list(env["DNS_NAMESERVERS"])
        if env.get("WEBHOOK_PORTS"):
            try:
                kwargs["webhook_ports"] = tuple(int(p) for p in _list(env["WEBHOOK_PORTS"]))
            except ValueError as exc:
                raise ConfigurationError("WEBHOOK_PORTS must be port numbers separated by "
                                         "commas, e.g. 443,8443") from exc
        if "ALLOWED_ORIGINS" in env:
            kwargs["allowed_origins"] = _list(env["ALLOWED_ORIGINS"])
        if env.get("TERMS_DATE"):
            try:
                kwargs["terms_date"] = date.fromisoformat(env["TERMS_DATE"])
            except ValueError as exc:
                raise ConfigurationError("TERMS_DATE must be a date, e.g. 2026-11-01") from exc
        if env.get("KEK_FILE"):
            kwargs["kek_file"] = Path(env["KEK_FILE"])
        if env.get("TRUSTED_DOCUMENTS_FILE"):
            kwargs["trusted_documents_file"] = Path(env["TRUSTED_DOCUMENTS_FILE"])
        if "PERSISTED_ONLY" in env:
            kwargs["persisted_only"] = _list(env["PERSISTED_ONLY"].lower())
        if env.get("KEY_CACHE_SECONDS"):
            kwargs["key_cache_seconds"] = float(env["KEY_CACHE_SECONDS"])
        if env.get("MEDIA_ROOT"):
            kwargs["media_root"] = Path(env["MEDIA_ROOT"])
        if env.get("BACKUP_DIR"):
            kwargs["backup_dir"] = Path(env["BACKUP_DIR"])
        if kwargs.get("database_sslmode") in SSLMODES:  # both PostgreSQL connections
            kwargs["database_url"] = with_sslmode(kwargs.get("database_url", cls.database_url),
                                                  kwargs["database_sslmode"])
            for other in ("keystore_url", "jobs_database_url"):
                if kwargs.get(other):
                    kwargs[other] = with_sslmode(kwargs[other], kwargs["database_sslmode"])
        if "public_url" not in kwargs and kwargs.get("env") != "production":
            # Links name the server that is running (`PORT=8200 make run`); production says
            # where it is reached from (its proxy) with PUBLIC_URL.
            kwargs["public_url"] = local_url(env.get("HOST"), env.get("PORT"))
        if kwargs.get("env") == "production":
            # Secure cookies; no schema tour for strangers unless asked for (INTROSPECTION=true,
            # GRAPHIQL=true).
            kwargs.setdefault("cookie_secure", True)
            for attr in ("introspection", "graphiql"):
                kwargs.setdefault(attr, False)
        settings = cls(**kwargs)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse configurations that would be unsafe in production."""
        try:
            delays = self.webhook_retry_delays
        except ValueError:
            delays = ()
        if not delays or min(delays) < 0:
            raise ConfigurationError("WEBHOOK_RETRY_SCHEDULE must list seconds, e.g. 0,5,300")
        if self.compiled_operations not in {"on", "off", "check"}:
            raise ConfigurationError(f"COMPILED_OPERATIONS must be on, off or check, not "
                                     f"{self.compiled_operations!r}")
        if self.env not in {"development", "test", "production"}:
            raise ConfigurationError(f"RELLEKS_ENV must be development, test or production, "
                                     f"not {self.env!r}")
        if self.production:
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise ConfigurationError(
                    "SECRET_KEY must be set to a random value of at least 32 characters in "
                    "production, e.g. from `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`"
                )
            if not self.smtp_url:
                raise ConfigurationError("SMTP_URL must be set in production")
            if not self.cookie_secure:
                raise ConfigurationError("COOKIE_SECURE cannot be off in production")
            if self.stripe_secret_key and not self.stripe_webhook_secret:
                raise ConfigurationError("STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY "
                                         "in production, or plans never follow payments")
            if self.webhook_allow_loopback:
                raise ConfigurationError("WEBHOOK_ALLOW_LOOPBACK is for tests and local "
                                         "development: unset it in production")
            if self.stripe_api_base:
                raise ConfigurationError("STRIPE_API_BASE is for tests: unset it in production")
            if self.keystore_url == default_keystore_url(self.database_url) \
                    or self.keystore_url == self.database_url:
                raise ConfigurationError("KEYSTORE_URL must be set in production, to a database "
                                         "apart from DATABASE_URL (docs/encryption.md)")
            if not self.kek_file and (not self.kek_base64 or self.kek_base64 == DEV_KEK_BASE64):
                raise ConfigurationError("KEK_FILE or KEK_BASE64 must hold a random 32-byte "
                                         "key-encryption key in production (docs/encryption.md)")
            plaintext = self.plaintext_connections()
            if plaintext and not self.allow_plaintext_internal:
                raise ConfigurationError(
                    "Connections must use TLS in production: " + "; ".join(plaintext)
                    + ". Or set ALLOW_PLAINTEXT_INTERNAL=1 on a private network you trust")
            for name, url in (("GOOGLE_DISCOVERY_URL", self.google_discovery_url),
                              ("GITHUB_OAUTH_URL", self.github_oauth_url),
                              ("GITHUB_API_URL", self.github_api_url)):
                if not url.startswith("https://"):
                    raise ConfigurationError(f"{name} must be an https:// URL in production")
        if self.metrics_token is not None and len(self.metrics_token) < 24:
            raise ConfigurationError("METRICS_TOKEN must be a random value of at least 24 "
                                     "characters")
        if not self.terms_version.strip() or len(self.terms_version) > 32:
            raise ConfigurationError("TERMS_VERSION must be 1 to 32 characters")
        if self.terms_date is None:
            try:
                date.fromisoformat(self.terms_version)
            except ValueError as exc:
                raise ConfigurationError("TERMS_DATE must be set when TERMS_VERSION is not a "
                                         "date such as 2026-11-01") from exc
        if self.account_deletion_grace_days < 0:
            raise ConfigurationError("ACCOUNT_DELETION_GRACE_DAYS cannot be negative")
        if self.database_pooler not in {"session", "transaction"}:
            raise ConfigurationError("DATABASE_POOLER must be session (PostgreSQL itself, or a "
                                     "session pooler) or transaction (PgBouncer's transaction "
                                     "pooling)")
        if self.jobs_database_url and not postgres_url(self.jobs_database_url):
            raise ConfigurationError("JOBS_DATABASE_URL must be a PostgreSQL URL (the job queue "
                                     "of a SQLite database lives in the server process)")
        if self.jobs_in_process and self.queue_through_pooler:
            raise ConfigurationError("JOBS_IN_PROCESS with DATABASE_POOLER=transaction needs "
                                     "JOBS_DATABASE_URL: a job worker LISTENs for new jobs, "
                                     "which a transaction pooler cannot carry")
        if self.jobs_in_process is False and not self.database_url.startswith(
                ("postgres:", "postgresql:", "asyncpg:")):
            raise ConfigurationError("JOBS_IN_PROCESS cannot be off on SQLite: its job queue "
                                     "lives in the server process")
        for name, value in (("WS_MAX_SOCKETS_PER_CREDENTIAL", self.ws_max_sockets_per_credential),
                            ("WS_MAX_SOCKETS_PER_IP", self.ws_max_sockets_per_ip),
                            ("WS_SOCKET_LEASE_SECONDS", self.ws_socket_lease),
                            ("HEADER_TIMEOUT", self.header_timeout),
                            ("KEEPALIVE_TIMEOUT", self.keepalive_timeout),
                            ("SHUTDOWN_TIMEOUT", self.shutdown_timeout),
                            ("WEBHOOK_LANES_PER_ENDPOINT", self.webhook_lanes_per_endpoint),
                            ("WEBHOOK_CONCURRENCY", self.webhook_concurrency)):
            if value <= 0:
                raise ConfigurationError(f"{name} must be positive")
        if not 0 <= self.form_challenge_digits <= 8:
            raise ConfigurationError("FORM_CHALLENGE_DIGITS must be 0 to 8")
        if self.form_min_seconds < 0 or self.form_max_age_hours < 1:
            raise ConfigurationError("FORM_MIN_SECONDS cannot be negative and "
                                     "FORM_MAX_AGE_HOURS must be at least 1")
        if not 1024 <= self.form_max_body_bytes <= self.max_body_bytes:
            raise ConfigurationError("FORM_MAX_BODY_BYTES must be 1024 to MAX_BODY_BYTES")
        if self.max_header_bytes < 1024:
            raise ConfigurationError("MAX_HEADER_BYTES must be at least 1024")
        for server in self.dns_nameservers:
            nameserver(server)  # raises ConfigurationError
        if not 0 < self.dns_timeout <= 30:
            raise ConfigurationError("DNS_TIMEOUT must be more than 0 and at most 30 seconds")
        if self.support_messages_per_ticket < 1:
            raise ConfigurationError("SUPPORT_MESSAGES_PER_TICKET must be at least 1")
        if not 1 <= self.support_attachment_max_bytes <= self.max_upload_bytes:
            raise ConfigurationError("SUPPORT_ATTACHMENT_MAX_BYTES must be 1 to "
                                     "MAX_UPLOAD_BYTES")
        if not 1 <= self.support_attachments_per_message <= 10:
            raise ConfigurationError("SUPPORT_ATTACHMENTS_PER_MESSAGE must be 1 to 10")
        if self.virus_scanner_url is not None:
            scanner_address(self.virus_scanner_url)  # raises ConfigurationError
        if not 0 < self.virus_scanner_timeout <= 120:
            raise ConfigurationError("VIRUS_SCANNER_TIMEOUT must be more than 0 and at most "
                                     "120 seconds")
        if self.custom_domains_per_org < 0:
            raise ConfigurationError("CUSTOM_DOMAINS_PER_ORG cannot be negative")
        if self.custom_domain_target is not None and (
                "/" in self.custom_domain_target or ":" in self.custom_domain_target
                or "." not in self.custom_domain_target.strip(".")):
            raise ConfigurationError("CUSTOM_DOMAIN_TARGET must be a hostname such as "
                                     "`sites.relleks.com` (no scheme, port or path)")
        if not self.webhook_ports or not all(0 < p < 65536 for p in self.webhook_ports):
            raise ConfigurationError("WEBHOOK_PORTS must list ports from 1 to 65535")
        if bool(self.ai_base_url) != bool(self.ai_model):
            raise ConfigurationError("AI_BASE_URL and AI_MODEL go together: set both for an "
                                     "AI provider, or neither for the local one")
        if self.ai_base_url and not self.ai_base_url.startswith(("https://", "http://")):
            raise ConfigurationError("AI_BASE_URL must be an http:// or https:// URL, e.g. "
                                     "https://api.openai.com/v1")
        if not 0 < self.ai_timeout_seconds <= 600:
            raise ConfigurationError("AI_TIMEOUT_SECONDS must be more than 0 and at most 600")
        if self.database_sslmode is not None and self.database_sslmode not in SSLMODES:
            raise ConfigurationError(f"DATABASE_SSLMODE must be one of {', '.join(SSLMODES)}")
        if url_sslmode(self.database_url) not in {None, "true", "True", *SSLMODES}:
            raise ConfigurationError(f"DATABASE_URL's sslmode must be one of {', '.join(SSLMODES)}")
        Retention.parse(self.backup_retention)  # each raises ConfigurationError
        Retention.parse(self.keystore_backup_retention, "KEYSTORE_BACKUP_RETENTION")
        if self.kek_file and self.kek_base64:
            raise ConfigurationError("Set KEK_FILE or KEK_BASE64, not both")
        unknown = sorted(set(self.persisted_only) - set(CLIENT_KINDS))
        if unknown:
            raise ConfigurationError(f"PERSISTED_ONLY: {', '.join(unknown)} is no kind of "
                                     f"client; use {', '.join(CLIENT_KINDS)}")
        if not 0 < self.key_cache_seconds <= 3600:
            raise ConfigurationError("KEY_CACHE_SECONDS must be more than 0 and at most 3600")
        if self.storage_backend not in {"local", "s3"}:
            raise ConfigurationError("STORAGE_BACKEND must be local or s3")
