"""Browser clients on an allowed origin may send `Idempotency-Key` (the preflight allows it) and
read `Idempotent-Replayed` and `Retry-After` (exposed)."""

from __future__ import annotations

import httpx

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.idempotency.conftest import CREATE_LEAD, send
from tests.orgs.conftest import Team


async def test_the_preflight_allows_the_header(http: httpx.AsyncClient,
                                               settings: Settings) -> None:
    origin = settings.allowed_origins[0]
    response = await http.options("/graphql", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization, idempotency-key"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].lower()
               .split(",")}
    assert "idempotency-key" in allowed


async def test_a_replay_exposes_its_header_to_the_page(api: Api, team: Team,
                                                       settings: Settings) -> None:
    origin = settings.allowed_origins[0]
    variables = {"input": {"organizationId": team.org_id, "name": "Ada"}}
    token = team.people[Role.MEMBER].token
    await send(api, CREATE_LEAD, variables, key="web", token=token, headers={"origin": origin})
    replay = await send(api, CREATE_LEAD, variables, key="web", token=token,
                        headers={"origin": origin})
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["access-control-allow-origin"] == origin
    exposed = {h.strip() for h in replay.headers["access-control-expose-headers"].lower()
               .split(",")}
    assert {"idempotent-replayed", "retry-after"} <= exposed
