"""The Starlette app: routes, middleware and lifespan. Run it with `make run`, or
`uvicorn server:app` with the environment described in the README."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute

from billing.webhooks import stripe_webhook
from database import close_database, init_database
from logs import configure_logging
from schema import build_schema
from services import Services
from settings import Settings
from web.graphql_view import GraphQLView
from web.middleware import BodySizeLimit, RequestLog, SecurityHeaders
from web.routes import healthz, media, readyz


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """Build the app; tests that share one database connection pass `manage_database=False`."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    services = Services.build(settings)
    schema = build_schema(introspection=settings.introspection)
    graphql = GraphQLView(schema, services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.broker.start()
        try:
            if not manage_database:
                yield
                return
            await init_database(settings.database_url, global_fallback=True)
            try:
                yield
            finally:
                await close_database()
        finally:
            await services.broker.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql),  # the view answers other methods with a JSON 405
            WebSocketRoute("/graphql", graphql),  # subscriptions (`web/graphql_ws.py`)
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/media/{key:path}", media, methods=["GET"]),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
        ],
        middleware=[
            Middleware(RequestLog),
            Middleware(SecurityHeaders),
            Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                       allow_methods=["GET", "POST"], allow_credentials=True,
                       allow_headers=["authorization", "content-type", "x-csrf-token",
                                      "x-request-id"], max_age=600),
            Middleware(BodySizeLimit, settings=settings),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def __getattr__(name: str) -> Starlette:
    # `uvicorn server:app` builds the app on first access, not at import (tests build their own).
    if name == "app":
        return create_app()
    raise AttributeError(name)
