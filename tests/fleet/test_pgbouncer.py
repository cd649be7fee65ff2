"""The API behind PgBouncer in transaction pooling mode, as `make serve` and production run it.

PgBouncer (started by `scripts.fleet.start_pgbouncer`, the one `make serve` runs, with a pool of
POOL server connections) sits in front of the tests' PostgreSQL and a fresh database. A server
process reaches it with DATABASE_POOLER=transaction and a job worker process takes the queue
straight from PostgreSQL (JOBS_DATABASE_URL). Real requests go through it: sign-up and login,
writes and reads in many transactions, more concurrent requests than the pool has connections,
and an export built by the worker; nothing fails, and no "prepared statement" error is logged.

The first test shows what the setting prevents: asyncpg's default statement cache, through the
same PgBouncer, breaks as soon as two clients share a server connection.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from scripts.fleet import PG_BIN, pgbouncer_binary, start_pgbouncer
from tests.conftest import POSTGRES_URL, STRONG_PASSWORD, TEST_DB
from tests.realtime.conftest import Server, start_server, stop_server
from tests.smtp import Inbox, free_port, token_in

pytestmark = [
    pytest.mark.skipif(TEST_DB != "postgres",
                       reason="PgBouncer pools PostgreSQL connections: the SQLite leg has none"),
    pytest.mark.skipif(pgbouncer_binary() is None,
                       reason="no pgbouncer binary (`make pgbouncer` installs Debian's)"),
]

POOL = 3
"""PgBouncer's server connections per database: fewer than the API's pool and the requests."""
CONCURRENT = 40

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { email } }"""
CONFIRM = """mutation($input: ConfirmSignUpInput!) {
  confirmSignUp(input: $input) { accessToken user { email } } }"""
LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }"""
CREATE_ORG = """mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { organization { id } } }"""
CREATE_LEAD = """mutation($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id name email } } }"""
LEADS = """query($id: ID!) { node(id: $id) { ... on Organization {
  leads(first: 100) { totalCount edges { node { id name email } } } } } }"""
ME = """{ me { email } }"""
EXPORT = """mutation { requestDataExport { dataExport { id status } } }"""
EXPORTS = """{ me { dataExports(first: 5) { edges { node { id status } } } } }"""


@dataclass
class Pooled:
    server: Server
    bouncer_port: int
    database: str
    logs: list[Path]


def _url(name: str, port: int | None = None, query: str = "") -> str:
    assert POSTGRES_URL
    parts = urlsplit(POSTGRES_URL)
    netloc = parts.netloc if port is None else f"{parts.netloc.rsplit(':', 1)[0]}:{port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}", query=query))


@pytest.fixture(scope="module")
def pooled(database_url: str, tmp_path_factory: pytest.TempPathFactory,
           smtp_server: tuple[Inbox, int]) -> Iterator[Pooled]:
    """PgBouncer in front of the run's fresh, migrated database (`tests/conftest.py`; migrating
    another one takes longer than this whole test), a server and a worker behind it."""
    assert POSTGRES_URL
    tmp = tmp_path_factory.mktemp("pgbouncer")
    name = urlsplit(database_url).path.lstrip("/")
    direct = _url(name)
    bouncer_port = free_port()
    bouncer = start_pgbouncer(tmp / "pgbouncer", bouncer_port,
                              urlsplit(POSTGRES_URL).port or 5432, pool_size=POOL)
    # The API's own pool (maxsize) is larger than PgBouncer's: clients outnumber servers.
    pooled_url = _url(name, bouncer_port, "maxsize=8")
    env = {"DATABASE_POOLER": "transaction", "PUBLIC_URL": "http://testserver",
           "SMTP_URL": f"smtp://127.0.0.1:{smtp_server[1]}",
           "KEYSTORE_URL": _url(f"{name}_keystore", bouncer_port)}
    worker_log = tmp / "worker.log"
    server = worker = None
    try:
        # The server only queues jobs: through PgBouncer too (no JOBS_DATABASE_URL).
        server = start_server(pooled_url, tmp, "pooled", **env)
        with worker_log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "jobs.worker", "--concurrency", "1",
                 "--webhook-concurrency", "1"],
                env={**os.environ, **env, "DATABASE_URL": pooled_url, "JOBS_DATABASE_URL": direct,
                     "MEDIA_ROOT": str(tmp / "pooled"), "LOG_LEVEL": "WARNING"},
                stdout=out, stderr=subprocess.STDOUT)
        yield Pooled(server, bouncer_port, name,
                     [server.log, worker_log, tmp / "pgbouncer" / "pgbouncer.log"])
    finally:
        for process in (worker, server.process if server else None):
            if process is not None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if server is not None:
            stop_server(server)
        bouncer.terminate()
        bouncer.wait(10)


def show_pools(port: int, database: str) -> dict[str, int]:
    """PgBouncer's `SHOW POOLS` row of `database` (its admin console speaks only the simple
    query protocol, which psql uses)."""
    psql = shutil.which("psql") or str(PG_BIN / "psql")
    out = subprocess.run([psql, "-X", "-A", "-F", "|", "-h", "127.0.0.1", "-p", str(port),
                          "-U", "postgres", "-c", "SHOW POOLS", "pgbouncer"],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    header, *rows = out.strip().splitlines()
    columns = header.split("|")
    for row in rows:
        values = dict(zip(columns, row.split("|"), strict=False))
        if values.get("database") == database:
            return {k: int(v) for k, v in values.items() if v.isdigit()}
    raise AssertionError(f"no pool for {database}: {out}")


async def test_asyncpg_statement_cache_breaks_behind_transaction_pooling(
        pooled: Pooled) -> None:
    """What DATABASE_POOLER=transaction is for: asyncpg's statement cache prepares a named
    statement on the server connection PgBouncer lent for that transaction; the next
    transaction may get another one (PgBouncer lends the last one given back first), where the
    statement does not exist."""
    url = _url(pooled.database, pooled.bouncer_port)
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        holding = first.transaction()
        await holding.start()
        await first.execute("SELECT 1")  # `first` holds a server connection
        assert await second.fetchval("SELECT $1::int + 1", 1) == 2  # prepared on another
        await holding.commit()  # first's server connection is now the last given back
        with pytest.raises(asyncpg.exceptions.PostgresError, match="prepared statement"):
            await second.fetchval("SELECT $1::int + 1", 1)
    finally:
        await first.close()
        await second.close()
    # Without the cache (what the setting does), the same steps are fine.
    first = await asyncpg.connect(url, statement_cache_size=0)
    second = await asyncpg.connect(url, statement_cache_size=0)
    try:
        holding = first.transaction()
        await holding.start()
        await first.execute("SELECT 1")
        assert await second.fetchval("SELECT $1::int + 1", 1) == 2
        await holding.commit()
        assert await second.fetchval("SELECT $1::int + 1", 2) == 3
    finally:
        await first.close()
        await second.close()


async def _gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
               token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables},
                                 headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_the_api_works_through_pgbouncer(pooled: Pooled, smtp_server: tuple[Inbox, int]
                                               ) -> None:
    inbox = smtp_server[0]
    email = f"pooled-{secrets.token_hex(3)}@example.com"
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=pooled.server.url, timeout=60, limits=limits) as client:
        # Sign up, confirm with the mailed link, log in again.
        await _gql(client, SIGN_UP, {"input": {
            "email": email, "password": STRONG_PASSWORD, "name": "Pat Pooled",
            "birthDate": "1990-05-17", "acceptTerms": True}})
        for _ in range(100):
            if inbox.to(email, "to finish signing up"):
                break
            await asyncio.sleep(0.05)
        (mail,) = inbox.to(email, "to finish signing up")
        confirmed = await _gql(client, CONFIRM, {"input": {
            "token": token_in(mail, "confirm-sign-up")}})
        assert confirmed["confirmSignUp"]["user"] == {"email": email}
        token = str((await _gql(client, LOG_IN, {"input": {
            "email": email, "password": STRONG_PASSWORD}}))["logIn"]["accessToken"])
        assert (await _gql(client, ME, token=token))["me"] == {"email": email}

        # Writes and reads, each request its own transactions.
        slug = f"pooled-{secrets.token_hex(3)}"
        org = (await _gql(client, CREATE_ORG, {"input": {"name": "Pooled", "slug": slug}},
                          token))["createOrganization"]["organization"]["id"]
        for n in range(5):
            await _gql(client, CREATE_LEAD, {"input": {
                "organizationId": org, "name": f"Serial {n}", "email": f"s{n}@example.com"}},
                token)
            leads = (await _gql(client, LEADS, {"id": org}, token))["node"]["leads"]
            assert leads["totalCount"] == n + 1

        # More requests at once than PgBouncer has server connections (and than the API's
        # pool): writes and reads interleaved.
        async def one(n: int) -> Any:
            if n % 2:
                return await _gql(client, LEADS, {"id": org}, token)
            return await _gql(client, CREATE_LEAD, {"input": {
                "organizationId": org, "name": f"Parallel {n}", "email": f"p{n}@example.com"}},
                token)
        answers = await asyncio.gather(*(one(n) for n in range(CONCURRENT)))
        assert len(answers) == CONCURRENT
        final = (await _gql(client, LEADS, {"id": org}, token))["node"]["leads"]
        assert final["totalCount"] == 5 + CONCURRENT // 2
        names = {edge["node"]["name"] for edge in final["edges"]}
        assert names == {f"Serial {n}" for n in range(5)} | {
            f"Parallel {n}" for n in range(0, CONCURRENT, 2)}
        # The encrypted fields came back through the keystore (also behind PgBouncer).
        assert {edge["node"]["email"] for edge in final["edges"]} >= {"s0@example.com"}

        # A job: the server queues it (through PgBouncer), the worker runs it.
        export = (await _gql(client, EXPORT, token=token))["requestDataExport"]["dataExport"]
        status = export["status"]
        for _ in range(300):
            edges = (await _gql(client, EXPORTS, token=token))["me"]["dataExports"]["edges"]
            status = next(e["node"]["status"] for e in edges if e["node"]["id"] == export["id"])
            if status in {"DONE", "FAILED"}:
                break
            await asyncio.sleep(0.1)
        assert status == "DONE", [path.read_text()[-2000:] for path in pooled.logs]

    # The API held more client connections than PgBouncer had server connections for them.
    pools = show_pools(pooled.bouncer_port, pooled.database)
    servers = sum(pools.get(k, 0) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested",
                                             "sv_login"))
    clients = pools.get("cl_active", 0) + pools.get("cl_waiting", 0)
    assert servers <= POOL < clients, pools
    for log in pooled.logs:
        text = log.read_text(errors="replace")
        assert "prepared statement" not in text, text[-3000:]
        assert '"level":"error"' not in text, text[-3000:]
