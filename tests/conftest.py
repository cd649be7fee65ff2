"""The test harness: one database per run, migrated from the committed migrations, and the real
ASGI app driven over HTTP.

The suite runs once per database (`make test` runs it on SQLite, then on PostgreSQL): Tortoise
caches dialect-specific SQL on the models, so one process cannot serve both. `RELLEKS_TEST_DB`
picks the database; the PostgreSQL leg reads `TEST_POSTGRES_URL` and is skipped, with that reason
printed, when it is unset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from tortoise import Tortoise, connections
from tortoise.contrib.test import truncate_all_models

from core.settings import Settings
from database import close_database, init_database, migrate_database
from engine.compiler import MISMATCHES, STATS
from server import create_app
from tests.smtp import Inbox, free_port, token_in

TEST_DB = os.environ.get("RELLEKS_TEST_DB", "sqlite")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
STRONG_PASSWORD = "plum-orbit-canvas-87-tide"


def pytest_report_header(config: pytest.Config) -> str:
    return f"relleks database leg: {TEST_DB}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DB == "postgres" and not POSTGRES_URL:
        skip = pytest.mark.skip(reason="TEST_POSTGRES_URL is not set: PostgreSQL leg skipped "
                                       "(.ci/run starts a PostgreSQL and sets it)")
        for item in items:
            item.add_marker(skip)
    elif TEST_DB == "postgres":
        # Tests that never touch the database ran in the SQLite leg already.
        skip = pytest.mark.skip(reason="database-free test: runs in the SQLite leg")
        for item in items:
            if "no_db" in item.keywords:
                item.add_marker(skip)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database with every migration applied, for the whole run."""
    if TEST_DB == "postgres":
        assert POSTGRES_URL, "collection skips PostgreSQL tests without TEST_POSTGRES_URL"
        name = f"relleks_test_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(POSTGRES_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = _with_database(POSTGRES_URL, name)
        try:
            await migrate_database(url)
            await init_database(url)
            yield url
            await close_database()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            # The keystore beside it (`core.settings.default_keystore_url`).
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}_keystore" WITH (FORCE)')
            await admin.close()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite://{Path(tmp) / 'test.sqlite3'}"
            await migrate_database(url)
            await init_database(url)
            yield url
            await close_database()


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(database_url: str, media_root: Path, smtp_server: tuple[Inbox, int]) -> Settings:
    """Mail goes to the run's SMTP server (`inbox`): signing up needs the link it mails."""
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        media_root=media_root,
        public_url="http://testserver",
        smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        login_rate_per_account="5/minute",
        login_rate_per_ip="30/minute",
        # Every test client comes from one IP; tests/accounts/test_sign_up.py tests the limit.
        signup_rate_per_ip="200/minute",
        # Usage counts are flushed at the app's shutdown only: a periodic flush landing inside
        # a `count_sql()` block (a slow machine) would add its statements to the count.
        usage_flush_seconds=3600.0,
        # Every operation the compiler handles is also run by the ordinary executor and the
        # answers compared (`compiled_answers_match` fails the run on a mismatch).
        compiled_operations="check",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many of the run's operations a compiled plan answered (each compared with the
    ordinary executor's answer), abandoned, or left to the ordinary executor."""
    terminalreporter.write_line(
        f"compiled operations: {STATS.answered} answered by plans (compared; "
        f"{STATS.direct} without Strawberry's execute), "
        f"{STATS.abandoned} abandoned, {STATS.compiled} plans, {STATS.uncompilable} documents "
        f"left to the ordinary executor, {STATS.mismatches} mismatches")


@pytest.fixture(autouse=True, scope="session")
def compiled_answers_match() -> Iterator[None]:
    """Fails the run when a compiled operation answered otherwise than the ordinary executor
    (`COMPILED_OPERATIONS=check`): the mismatches are logged too."""
    yield
    assert not MISMATCHES, "compiled operations differ from the ordinary executor:\n" + \
        "\n".join(MISMATCHES)


async def _truncate_all_models() -> None:
    """Tortoise's `truncate_all_models`, per connection on PostgreSQL: the keystore is a
    database of its own (its TRUNCATE runs on the default connection only)."""
    models = list(Tortoise.apps.get_models_iterable())
    if models[0]._meta.db.capabilities.dialect != "postgres":
        await truncate_all_models()
        return
    by_db: dict[Any, list[str]] = {}
    for model in models:
        by_db.setdefault(model._meta.db, []).append(f'"{model._meta.db_table}"')
    for db, tables in by_db.items():
        await db.execute_script(f"TRUNCATE {', '.join(tables)} CASCADE")


async def empty_database() -> None:
    """Every table emptied. On PostgreSQL a connection left holding a lock (a bug somewhere in
    the previous test) would make TRUNCATE wait forever: fail the test instead, naming it."""
    try:
        await asyncio.wait_for(_truncate_all_models(), timeout=60)
    except TimeoutError:
        rows = await connections.get("default").execute_query_dict(
            "SELECT pid, state, wait_event, left(query, 200) AS query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pytest.fail(f"emptying the test database waited 60 s on locks held by: {rows}")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    await empty_database()
    application = create_app(settings, manage_database=False)
    await application.state.services.limiter.reset()
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class Api:
    """A client of the API: `await api.gql(query, variables)` returns the JSON body."""

    http: httpx.AsyncClient
    token: str | None = None
    inbox: Inbox | None = None
    """Where the app's mail arrives: `sign_up` reads its confirmation link there."""
    headers: dict[str, str] = field(default_factory=dict)
    last_cost: dict[str, Any] | None = None
    """`extensions.cost` of the last response (see `engine/cost.py`), set aside from the body."""

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *,
                  token: str | None = None, expect_status: int | None = 200,
                  **kwargs: Any) -> dict[str, Any]:
        headers = dict(self.headers)
        bearer = token or self.token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        headers.update(kwargs.pop("headers", {}))
        response = await self.http.post("/graphql", json={"query": query, "variables": variables},
                                        headers=headers, **kwargs)
        if expect_status is not None:
            assert response.status_code == expect_status, response.text
        body = response.json()
        # Every response reports its cost (tests/cost checks it); it is set aside here so that
        # other tests compare bodies by their data and errors alone.
        extensions = body.get("extensions") if isinstance(body, dict) else None
        if isinstance(extensions, dict) and "cost" in extensions:
            self.last_cost = extensions.pop("cost")
            if not extensions:
                del body["extensions"]
        return body

    async def sign_up(self, email: str = "ada@example.com", name: str = "Ada Lovelace",
                      password: str = STRONG_PASSWORD) -> dict[str, Any]:
        """Sign up as a person does: signUp, then confirmSignUp with the token of the link
        mailed to the address (the mail is taken out of the inbox). Returns confirmSignUp's
        AuthPayload: accessToken refreshToken expiresAt user { id email name }."""
        body = await self.gql(SIGN_UP, {"input": {
            "email": email, "password": password, "name": name, "birthDate": "1990-05-17",
            "acceptTerms": True}})
        assert "errors" not in body, body
        token = self.sign_up_token(body["data"]["signUp"]["email"])
        body = await self.gql(CONFIRM_SIGN_UP, {"input": {"token": token}})
        assert "errors" not in body, body
        return body["data"]["confirmSignUp"]

    def sign_up_token(self, address: str) -> str:
        """The token of the newest sign-up link mailed to `address`, whose mail is taken out of
        the inbox. The mail is sent once signUp's response is out; the test client returns when
        the app has finished, so it is there."""
        assert self.inbox is not None, "this Api has no inbox: use the `api` fixture"
        mails = self.inbox.to(address, SIGN_UP_SUBJECT)
        assert mails, f"no sign-up link mailed to {address}: {self.inbox.messages}"
        self.inbox.messages.remove(mails[-1])
        return token_in(mails[-1], "confirm-sign-up")


SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { email message }
}"""
CONFIRM_SIGN_UP = """
mutation ConfirmSignUp($input: ConfirmSignUpInput!) {
  confirmSignUp(input: $input) { accessToken refreshToken expiresAt user { id email name } }
}"""
SIGN_UP_SUBJECT = "to finish signing up"


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient, smtp_server: tuple[Inbox, int]) -> Api:
    return Api(http, inbox=smtp_server[0])


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    """The body without `extensions.cost`, which every response carries (`engine/cost.py`), for
    tests that compare whole bodies."""
    extensions = {k: v for k, v in (body.get("extensions") or {}).items() if k != "cost"}
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


def errors_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body.get("errors"), f"expected errors, got {body}"
    return body["errors"]


def error_code(body: dict[str, Any]) -> str:
    return errors_of(body)[0]["extensions"]["code"]


class _StatementCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@dataclass
class SqlCount:
    statements: list[str]

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_sql() -> Iterator[SqlCount]:
    """Count the SQL statements run inside the block (Tortoise logs each one at DEBUG on
    `tortoise.db_client`; BEGIN/COMMIT are not logged, so only data statements count)."""
    logger = logging.getLogger("tortoise.db_client")
    handler = _StatementCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield SqlCount(handler.statements)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 for the whole run; modules that send mail point
    `settings.smtp_url` at it (see `tests/smtp.py`)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    smtp_server[0].messages.clear()
    return smtp_server[0]
