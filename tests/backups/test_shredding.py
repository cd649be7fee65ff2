"""Crypto-shredding reaches real backups: a backup of the data taken with the backups tooling
(SQLite's backup API / pg_dump), then one org deleted through the API and the deletion job (its
keys DESTROYED); the backup restored into a scratch database and the app started on it (its own
process, `scripts.serve`) with the CURRENT keystore: the deleted org's personal fields read as
unreadable, plainly, the other org's normally."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.settings import ROOT, Settings
from database import backups
from keystore.models import DataKey, KeyState
from models.orgs import Role
from scripts.restore_drill import drop_scratch, scratch_database
from tests.backups.test_ledger import delete_org
from tests.conftest import Api
from tests.encryption.test_at_rest import LEAD, add_note
from tests.leads.conftest import create_lead, token
from tests.orgs.conftest import Team


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def served(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in its own process on `database_url`, with the test's keystore and keys."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "KEYSTORE_URL", "BACKUP_DIR", "DATABASE_SSLMODE"}}
    env.update(DATABASE_URL=database_url, KEYSTORE_URL=settings.keystore_url,
               SECRET_KEY=settings.secret_key, RELLEKS_ENV="development")
    if settings.kek_base64:
        env["KEK_BASE64"] = settings.kek_base64
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scripts.serve", "--host", "127.0.0.1", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the app on the restored database did not start")
            if process.returncode is not None:
                assert process.stderr is not None
                raise AssertionError((await process.stderr.read()).decode()[-3000:])
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def read_lead(client: httpx.AsyncClient, lead_id: str, bearer: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": LEAD, "variables": {"id": lead_id}},
                                 headers={"Authorization": f"Bearer {bearer}"})
    body = response.json()
    assert "errors" not in body, body  # no crash, no INTERNAL
    return dict(body["data"]["node"])


async def test_a_real_backup_restored_shows_the_deleted_org_unreadable(
        api: Api, app: Any, team: Team, rival: Team, settings: Settings) -> None:
    ours = await create_lead(api, team, name="Hedy Lamarr", email="hedy@example.com",
                             phone="+14155552671", address={"line1": "Mandlgasse 17"})
    await add_note(api, team, ours["id"], "Frequency hopping")
    theirs = await create_lead(api, rival, name="Grace Hopper", email="grace@example.com")
    await add_note(api, rival, theirs["id"], "COBOL")
    manifest = await backups.take(settings.database_url, "data", settings.backup_dir)

    await delete_org(api, app, team)
    destroyed = await DataKey.filter(organization_id=team.org.id)
    assert destroyed and all(k.state is KeyState.DESTROYED and k.wrapped is None
                             for k in destroyed)

    scratch, name = await scratch_database(settings.database_url)
    try:
        await backups.restore(settings.backup_dir, manifest, scratch)
        async with served(settings, scratch) as client:
            lead = await read_lead(client, ours["id"], token(team, Role.MEMBER))
            other = await read_lead(client, theirs["id"], token(rival, Role.MEMBER))
    finally:
        await drop_scratch(settings.database_url, scratch, name)
    assert lead is not None and lead["personalDataUnreadable"] is True
    assert lead["email"] is None and lead["phone"] is None and lead["address"] is None
    assert lead["notes"]["nodes"] == [{"body": "", "bodyUnreadable": True}]
    assert other["personalDataUnreadable"] is False
    assert other["email"] == "grace@example.com"
    assert other["notes"]["nodes"] == [{"body": "COBOL", "bodyUnreadable": False}]
