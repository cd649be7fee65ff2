"""Fixtures for the idempotency tests: the org "acme" on the PRO plan (`tests/tokens/conftest.py`),
and a client that sends a mutation with an `Idempotency-Key` header and returns the raw response,
since replays are compared byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import subscribe


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    team = await make_team(api, settings, "acme")
    await subscribe(team.org)
    return team

CREATE_LEAD = """
mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id name email } } }"""


async def send(api: Api, query: str, variables: dict[str, Any] | None = None, *,
               key: str | bytes | None = None, token: str | None = None,
               headers: dict[str, Any] | None = None) -> httpx.Response:
    """POST one operation as a client would, with the key (if any) and a bearer token."""
    sent: dict[str, Any] = dict(headers or {})
    if key is not None:
        sent["idempotency-key"] = key
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return await api.http.post("/graphql", json={"query": query, "variables": variables},
                               headers=sent)


async def create_lead(api: Api, team: Team, *, key: str | bytes | None, name: str = "Ada",
                      email: str = "ada@example.com", role: Role = Role.MEMBER,
                      token: str | None = None) -> httpx.Response:
    return await send(api, CREATE_LEAD, {"input": {
        "organizationId": team.org_id, "name": name, "email": email}},
        key=key, token=token or team.people[role].token)
