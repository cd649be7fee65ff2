"""Helpers for the HTTP-level tests: an app built from changed settings, and a database that
cannot be reached for one request."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from tortoise import connections
from tortoise.backends.base.config_generator import expand_db_url

from core.settings import Settings
from server import create_app
from tests.conftest import TEST_DB

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(app: Any, settings: Settings) -> Serve:
    """`async with serve(introspection=False) as http:` runs a second app whose settings differ
    from the test settings by the given fields (the `app` fixture has emptied the database)."""

    @asynccontextmanager
    async def run(base_url: str = "http://testserver", **changes: Any
                  ) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(dataclasses.replace(settings, **changes),
                                 manage_database=False)
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50001))
        async with application.router.lifespan_context(application), \
                httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client

    return run


@contextmanager
def database_unreachable() -> Iterator[None]:
    """For the code running in this task (httpx's ASGI transport runs the app in it), the
    `default` connection points at a database that does not exist: a real driver error, raised
    from wherever the next query happens, without replacing any of our code."""
    url = ("sqlite:///nonexistent-relleks-dir/secret-path/db.sqlite3" if TEST_DB == "sqlite"
           else "postgres://relleks:hunter2-db-password@127.0.0.1:9/relleks_gone")
    info = expand_db_url(url)
    client_class = importlib.import_module(info["engine"]).client_class
    dead = client_class(connection_name="default", **info["credentials"])
    token = connections.set("default", dead)
    try:
        yield
    finally:
        connections.reset(token)
