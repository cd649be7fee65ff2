"""Fixtures for the custom-domain tests: a real DNS server on loopback (`tests/nameserver.py`)
that the app asks through dnspython, its zone (emptied for each test), and the org "acme" and
its rival "globex" (OWNER, ADMIN, MEMBER, VIEWER each, from `tests/orgs/conftest.py`).

Jobs run when a test says so (`run_jobs`), as in tests/privacy.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from strawberry import relay

from core.settings import Settings
from models.custom_domains import CustomDomain
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from server import create_app
from tests.conftest import Api
from tests.nameserver import Zone, dns_server
from tests.orgs.conftest import Team, make_team

TARGET = "sites.relleks-test.net"

DOMAIN_FIELDS = """
  id hostname status createdAt verifiedAt lapsedAt nextCheckAt
  records { type name value }
  lastCheck { checkedAt verdict resolver expected { type name value }
              observed { type name outcome values error } }
  createdBy { id }
"""
ADD = f"""mutation($input: AddCustomDomainInput!) {{
  addCustomDomain(input: $input) {{ customDomain {{ {DOMAIN_FIELDS} }} }} }}"""
CHECK = f"""mutation($id: ID!) {{
  checkCustomDomain(input: {{id: $id}}) {{ customDomain {{ {DOMAIN_FIELDS} }} }} }}"""
REMOVE = "mutation($id: ID!) { removeCustomDomain(input: {id: $id}) { deletedId } }"
LIST = f"""query($slug: String!) {{ organization(slug: $slug) {{
  customDomains(first: 20) {{ totalCount nodes {{ {DOMAIN_FIELDS} }} }} }} }}"""


@pytest.fixture(scope="session")
def nameserver() -> Iterator[tuple[Zone, int]]:
    with dns_server() as server:
        yield server


@pytest.fixture
def zone(nameserver: tuple[Zone, int]) -> Zone:
    nameserver[0].reset()
    return nameserver[0]


@pytest.fixture
def settings(settings: Settings, nameserver: tuple[Zone, int]) -> Settings:
    return dataclasses.replace(
        settings, custom_domain_target=TARGET, dns_nameservers=(f"127.0.0.1:{nameserver[1]}",),
        dns_timeout=2.0, jobs_in_process=False, jobs_retry_wait=0, jobs_max_attempts=2)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


async def add_domain(api: Api, team: Team, hostname: str, role: Role = Role.ADMIN
                     ) -> dict[str, Any]:
    """addCustomDomain's body (errors included)."""
    return await api.gql(ADD, {"input": {"organizationId": team.org_id, "hostname": hostname}},
                         token=team.people[role].token)


async def added(api: Api, team: Team, hostname: str) -> dict[str, Any]:
    """A domain added by the team's ADMIN: its `customDomain`."""
    body = await add_domain(api, team, hostname)
    assert "errors" not in body, body
    return body["data"]["addCustomDomain"]["customDomain"]


def publish(zone: Zone, domain: dict[str, Any]) -> None:
    """Create the records the domain lists, as the tenant would."""
    for record in domain["records"]:
        if record["type"] == "TXT":
            zone.txt(record["name"], record["value"])
        else:
            zone.cname(record["name"], record["value"])


async def check(api: Api, team: Team, domain_id: str, role: Role = Role.ADMIN
                ) -> dict[str, Any]:
    return await api.gql(CHECK, {"id": domain_id}, token=team.people[role].token)


async def verified(api: Api, team: Team, zone: Zone, hostname: str) -> dict[str, Any]:
    """A domain added, its records published and checked: VERIFIED."""
    domain = await added(api, team, hostname)
    publish(zone, domain)
    body = await check(api, team, domain["id"])
    assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "VERIFIED", body
    return body["data"]["checkCustomDomain"]["customDomain"]


def row_id(global_id: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


async def row(global_id: str) -> CustomDomain:
    found = await system_scope(EVERY_ORG, reason="tests read what a check wrote") \
        .scoped(CustomDomain).filter(id=row_id(global_id)).first()
    assert found is not None
    return found


async def set_row(global_id: str, **columns: Any) -> None:
    """Move a domain's clock (due times, when checks began), as time passing would."""
    await system_scope(EVERY_ORG, reason="tests move a domain's clock") \
        .scoped(CustomDomain).filter(id=row_id(global_id)).update(**columns)


@asynccontextmanager
async def api_with(settings: Settings, **changes: Any) -> AsyncIterator[Api]:
    """The app with other settings (small limits), sharing the test's database."""
    application = create_app(dataclasses.replace(settings, **changes), manage_database=False)
    await application.state.services.limiter.reset()
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50000))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


def on_host(host: str) -> dict[str, str]:
    """Headers of a request that came on `host` (as the proxy passes it)."""
    return {"host": host}
