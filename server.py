"""The Starlette app: routes, middleware and lifespan. Run it with `make run`, or
`python -m scripts.serve` (uvicorn with limits on request heads) with the environment described
in the README."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from billing.budgets import CostBudgets
from core.error_reports import configure_error_reports
from core.logs import configure_logging
from core.memory import tune_allocator
from core.settings import Settings
from core.tracing import configure_tracing
from database import close_database, init_database
from engine.documents import TrustedDocuments
from jobs.tasks import register as register_tasks
from keystore import keys
from keystore.kek import kek_from_settings
from oauth import routes as oauth
from observability.exposition import Backlog, metrics_endpoint, start_listener, stop_listener
from observability.metrics import mark_process_dead
from resolvers.ai import finish_runs as finish_ai_runs
from schema import build_schema
from services import Services
from web.exports import download_export
from web.forms import form_routes
from web.graphiql import graphiql_routes
from web.graphql_view import GraphQLView
from web.middleware import BodySizeLimit, CORSExcept, HeaderSizeLimit, RequestLog, SecurityHeaders
from web.privacy_requests import privacy_routes
from web.routes import healthz, media, readyz, root
from web.sites import TenantSites, tls_ask
from web.social import social_routes
from web.stripe_webhooks import stripe_webhook
from web.support import download_attachment


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """Build the app; tests that share one database connection pass `manage_database=False`."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    tune_allocator()  # freed buffers go back to the system (core/memory.py)
    keys.use(kek_from_settings(settings), ttl=settings.key_cache_seconds)  # docs/encryption.md
    traced = configure_tracing(settings)  # docs/observability.md
    configure_error_reports(settings)
    services = Services.build(settings, cost_budgets=CostBudgets)
    register_tasks(services)
    schema = build_schema(introspection=settings.introspection, tracing=traced)
    # Trusted documents (docs/trusted-documents.md): a bad manifest stops the start here.
    documents = TrustedDocuments.load(settings.trusted_documents_file, schema.prepare_document) \
        if settings.trusted_documents_file is not None else None
    graphql = GraphQLView(schema, services, documents)
    backlog = Backlog(services.jobs.backlog)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        jobs = services.jobs
        await services.broker.start()
        # Metrics on a port of their own (observability/exposition.py); the first worker
        # process of a machine to bind it serves every process's values.
        listener = await start_listener(settings.metrics_host, settings.metrics_port, backlog) \
            if settings.metrics_port else None
        services.usage.start()
        try:
            if not manage_database:
                # Tests share one database connection and run the job worker themselves,
                # unless they ask for the embedded one (JOBS_IN_PROCESS).
                if settings.jobs_in_process:
                    jobs.start_worker()
                try:
                    yield
                finally:
                    await finish_ai_runs(services)
                    await services.usage.close()
                    await jobs.close()
                return
            await init_database(settings.database_url, keystore_url=settings.keystore_url,
                                global_fallback=True, pooler=settings.database_pooler)
            if settings.run_jobs_in_process:
                jobs.start_worker()
            # Everything built so far (modules, the schema, the ORM's metadata: most of the
            # heap) lives as long as the process: out of the collector's sight, a full
            # collection walks only what requests made. Those walks of the whole heap were a
            # tenth of Q1's CPU and most of its p99.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await finish_ai_runs(services)
                await services.usage.close()  # the last seconds' counts, before the database
                await jobs.close()
                await close_database()
        finally:
            await stop_listener(listener)
            await services.broker.close()
            await services.sockets.close()
            mark_process_dead()  # its live gauges leave the multiprocess view

    app = Starlette(
        routes=[
            Route("/graphql", graphql),  # the view answers other methods with a JSON 405
            WebSocketRoute("/graphql", graphql),  # subscriptions (`web/graphql_ws.py`)
            Route("/", root, methods=["GET"]),  # 307 to /graphql; a tenant's site: its forms
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            # Prometheus, behind METRICS_TOKEN (404 without one): observability/exposition.py
            Route("/metrics", metrics_endpoint(settings.metrics_token, backlog),
                  methods=["GET"]),
            Route("/media/{key:path}", media, methods=["GET"]),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
            # OAuth 2 for partner apps (docs/oauth.md): form posts, outside GraphQL and its CSRF
            # guard; each rate limited per IP.
            Route("/oauth/authorize", oauth.authorize, methods=["GET"]),
            Route("/oauth/token", oauth.token, methods=["POST"]),
            Route("/oauth/revoke", oauth.revoke, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", oauth.server_metadata,
                  methods=["GET"]),
            social_routes(settings),
            *graphiql_routes(settings),  # GraphiQL's assets, served here (no CDN)
            Route("/exports/{token}", download_export, methods=["GET"]),
            # Support attachments (docs/support.md): the requester and staff only.
            Route("/support/attachments/{id}", download_attachment, methods=["GET"]),
            # Public lead capture (docs/forms.md): the hosted page, its submit endpoint and
            # the double opt-in link; no credentials, no cookies, CORS per form.
            *form_routes(services),
            # A person's data-rights requests to an organization (docs/privacy-requests.md).
            *privacy_routes(services),
            # Caddy's on-demand TLS asks which hostnames to get certificates for
            # (docs/custom-domains.md); 200 only for a verified custom domain.
            Route("/internal/tls-ask", tls_ask, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestLog),
            Middleware(SecurityHeaders),
            # The public form pages answer CORS themselves; the privacy page answers none.
            Middleware(CORSExcept, skip=("/f/", "/p/"),
                       allow_origins=list(settings.allowed_origins),
                       allow_methods=["GET", "POST"], allow_credentials=True,
                       allow_headers=["authorization", "content-type", "x-csrf-token",
                                      "x-request-id", "idempotency-key"],
                       expose_headers=["idempotent-replayed", "retry-after"], max_age=600),
            Middleware(HeaderSizeLimit, settings=settings),
            Middleware(BodySizeLimit, settings=settings),
            # A request on a tenant's custom domain reaches its form pages only (`web/sites.py`).
            Middleware(TenantSites, settings=settings),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.schema = schema  # its compiled operations' cache (`engine.compiler`) lives on it
    app.state.graphql = graphql
    return app


def __getattr__(name: str) -> Starlette:
    # `uvicorn server:app` builds the app on first access, not at import (tests build their own).
    if name == "app":
        return create_app()
    raise AttributeError(name)
