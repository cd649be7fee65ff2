"""Rate limits of the public form endpoint: per client network (an IPv4 address, an IPv6 /64)
and per form. The one refusal a sender sees (429 with Retry-After), answered before anything
is stored; a person's page comes back with what they typed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.forms import LeadForm, SubmissionStatus
from models.orgs import Organization
from server import create_app
from tests.forms_web.conftest import PERSON, good_fields, post_form, post_json, submissions

Clients = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def clients(app: Any, settings: Settings) -> AsyncIterator[Clients]:
    """`clients(ip)`: a client from `ip` of one app whose limits are 3 submissions a minute
    per network and 5 per form."""
    application = create_app(dataclasses.replace(
        settings, form_rate_per_ip="3/minute", form_rate_per_form="5/minute"),
        manage_database=False)
    opened: list[httpx.AsyncClient] = []

    def client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(ip, 40000))
        made = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(made)
        return made

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with application.router.lifespan_context(application):
            yield

    async with running():
        yield client
        for made in opened:
            await made.aclose()


async def test_a_network_past_its_budget_gets_429_and_nothing_is_stored(
        clients: Clients, settings: Settings, org: Organization, form: LeadForm) -> None:
    first = clients("2001:db8:5:6::1")
    sibling = clients("2001:db8:5:6:ffff::9")  # same /64: the same subscriber
    neighbour = clients("2001:db8:5:7::1")  # another /64
    for http in (first, first, sibling):
        response = await post_form(http, form, await good_fields(http, settings, form))
        assert response.status_code == 200
    refused = await post_form(first, form, await good_fields(first, settings, form))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The person's page comes back with what they typed and says why.
    assert "Too many submissions" in refused.text
    assert 'value="Ada Lovelace"' in refused.text
    as_json = await post_json(sibling, form, PERSON)
    assert as_json.status_code == 429
    error = as_json.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] >= 1
    assert as_json.headers["access-control-allow-origin"] == "https://www.acme.test"
    ok = await post_form(neighbour, form, await good_fields(neighbour, settings, form))
    assert ok.status_code == 200
    assert [s.status for s in await submissions(org)] == [SubmissionStatus.ACCEPTED] * 4


async def test_a_form_past_its_budget_gets_429_from_everyone(
        clients: Clients, settings: Settings, org: Organization, form: LeadForm) -> None:
    senders = [clients(f"198.51.100.{n}") for n in range(1, 8)]
    statuses = []
    for http in senders:
        fields = await good_fields(http, settings, form, email=f"p{len(statuses)}@example.com")
        statuses.append((await post_form(http, form, fields)).status_code)
    assert statuses == [200] * 5 + [429] * 2
    assert len(await submissions(org)) == 5


async def test_ipv4_mapped_addresses_count_as_their_ipv4_address(
        clients: Clients, settings: Settings, org: Organization, form: LeadForm) -> None:
    plain, mapped = clients("192.0.2.10"), clients("::ffff:192.0.2.10")
    codes = []
    for http in (plain, mapped, plain, mapped):
        codes.append((await post_form(http, form, await good_fields(
            http, settings, form))).status_code)
    assert codes == [200, 200, 200, 429]
