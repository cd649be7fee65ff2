"""Rows stored in plain text before encryption came are read as they are, then encrypted by the
resumable job (`jobs.encryption`, also run by `make migrate`)."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise import connections

from jobs.encryption import encrypt_org
from models.orgs import Role
from tests.conftest import Api
from tests.encryption.conftest import raw_rows
from tests.encryption.test_at_rest import LEAD, SEARCH
from tests.leads.conftest import token
from tests.orgs.conftest import Team, gid


async def plain_lead(team: Team, name: str, email: str) -> uuid.UUID:
    """A lead as an older version stored it: email in plain text, no blind index."""
    lead_id = uuid.uuid4()
    db = connections.get("default")
    postgres = db.capabilities.dialect == "postgres"
    values: list[Any] = [lead_id, team.org.id, name, email]
    if not postgres:
        values = [str(v) for v in values]
    marks = "$1, $2, $3, $4" if postgres else "?, ?, ?, ?"
    await db.execute_query(
        "INSERT INTO leads (id, organization_id, name, email, status, source, tags, restricted,"
        f" created_at, updated_at) VALUES ({marks}, 'new', 'manual', '[]', false, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", values)
    return lead_id


async def test_plain_rows_are_read_then_encrypted_by_the_job(api: Api, team: Team) -> None:
    ids = [await plain_lead(team, f"Old {i}", f"old{i}@example.com") for i in range(5)]
    first = gid("Lead", ids[0])
    shown = await api.gql(LEAD, {"id": first}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] == "old0@example.com"  # read as it is meanwhile
    assert await encrypt_org(team.org.id, batch=2) == 5  # in batches of 2: 3 batches
    rows = {r["id"] if isinstance(r["id"], uuid.UUID) else uuid.UUID(r["id"]): r
            for r in await raw_rows("leads")}
    assert all(str(rows[i]["email"]).startswith("enc:v1:") and rows[i]["email_bidx"]
               for i in ids)
    shown = await api.gql(LEAD, {"id": first}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] == "old0@example.com"
    found = await api.gql(SEARCH, {"slug": team.slug, "term": "old3@example.com"},
                          token=token(team, Role.MEMBER))
    assert [n["id"] for n in found["data"]["organization"]["leads"]["nodes"]] == [
        gid("Lead", ids[3])]
    # Run again (a resumed job): nothing is left to do.
    assert await encrypt_org(team.org.id, batch=2) == 0
