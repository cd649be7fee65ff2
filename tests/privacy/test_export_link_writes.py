"""A query's shared connection (`database.asyncpg_client.Session`) is for reads: reading
`downloadUrl` stores the fresh link's hash, and that UPDATE goes to `writer()`, the pool, never
to the session. On SQLite there is no session (one connection anyway); the link's rules still
hold there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from database.asyncpg_client import Session
from models.orgs import Role
from tests.conftest import TEST_DB, Api, count_sql
from tests.orgs.conftest import Team
from tests.privacy.conftest import download, run_jobs
from tests.smtp import Inbox, body_of

REQUEST = "mutation { requestDataExport { dataExport { id } } }"
EXPORTS = "{ me { dataExports { nodes { downloadUrl } } } }"
WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE")


def _is_write(statement: str) -> bool:
    return statement.lstrip().upper().startswith(WRITES)


@pytest.fixture
def session_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run on a query's `Session`."""
    seen: list[str] = []

    def recording(name: str) -> Callable[..., Any]:
        original = getattr(Session, name)

        async def run(self: Session, query: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(query)
            return await original(self, query, *args, **kwargs)
        return run

    for name in ("execute_query", "execute_query_dict", "execute_insert", "execute_many",
                 "execute_script"):
        monkeypatch.setattr(Session, name, recording(name))
    return seen


async def test_reading_a_download_url_writes_nothing_on_the_query_connection(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox,
        session_statements: list[str]) -> None:
    member = team.people[Role.MEMBER]
    assert "errors" not in await api.gql(REQUEST, token=member.token)
    await run_jobs(app)
    (mail,) = inbox.to(member.email, "export is ready")
    (mailed,) = [line.strip() for line in body_of(mail).splitlines() if "/exports/" in line]

    session_statements.clear()
    with count_sql() as sql:
        body = await api.gql(EXPORTS, token=member.token)
    (export,) = body["data"]["me"]["dataExports"]["nodes"]
    fresh = export["downloadUrl"]
    assert fresh and fresh != mailed

    # The query wrote once (the fresh link's hash), and not on its shared connection.
    assert [s for s in sql.statements if _is_write(s)] and \
        all("download_token_hash" in s for s in sql.statements if _is_write(s))
    if TEST_DB == "postgres":
        assert session_statements, "the query did not run on a Session: the test sees nothing"
    assert [s for s in session_statements if _is_write(s)] == []

    # The write took effect: the mailed link ended, the fresh one works once.
    assert (await download(http, mailed)).status_code == 404
    assert (await download(http, fresh)).status_code == 200
    assert (await download(http, fresh)).status_code == 404
