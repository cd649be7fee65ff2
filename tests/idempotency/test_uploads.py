"""A multipart request (importLeads with its CSV file) under a key: the file counts by its content,
so a retry with the same file replays and another file under the key is a CONFLICT."""

from __future__ import annotations

import json

import httpx

from models.idempotency import IdempotencyKey
from models.leads import Lead
from models.orgs import Role
from models.tenancy import system_scope
from tests.conftest import Api
from tests.orgs.conftest import Team

IMPORT = """
mutation($input: ImportLeadsInput!) { importLeads(input: $input) { importResult { imported } } }"""


async def import_csv(api: Api, team: Team, data: bytes, key: str) -> httpx.Response:
    variables = {"input": {"organizationId": team.org_id, "file": None}}
    return await api.http.post(
        "/graphql",
        files={"operations": (None, json.dumps({"query": IMPORT, "variables": variables})),
               "map": (None, json.dumps({"0": ["variables.input.file"]})),
               "0": ("leads.csv", data, "text/csv")},
        headers={"authorization": f"Bearer {team.people[Role.MEMBER].token}",
                 "idempotency-key": key})


async def test_an_import_retried_with_the_same_file_imports_once(api: Api, team: Team) -> None:
    csv = b"name,email\nAda,ada@example.com\nGrace,grace@example.com\n"
    first = await import_csv(api, team, csv, "import-1")
    assert first.json()["data"]["importLeads"]["importResult"]["imported"] == 2, first.text
    second = await import_csv(api, team, csv, "import-1")
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    other = await import_csv(api, team, csv + b"Linus,linus@example.com\n", "import-1")
    assert other.status_code == 409
    assert other.json()["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    leads = await system_scope(team.org.id, reason="test").scoped(Lead).all()
    assert sorted(lead.name for lead in leads) == ["Ada", "Grace"]
    assert await IdempotencyKey.all().count() == 1
