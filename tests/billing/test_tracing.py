"""Stripe calls traced (docs/observability.md): each is a client span under the operation that
made it, named after the call, without its parameters (the customer's name and email)."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core.settings import Settings
from models.orgs import Role
from tests.billing.conftest import start_checkout
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import Api
from tests.orgs.conftest import Team


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def settings(settings: Settings, exporter: InMemorySpanExporter) -> Settings:
    return dataclasses.replace(settings, trace_exporter=exporter)


async def test_each_stripe_call_is_a_client_span_under_the_operation(
        api: Api, stripe: FakeStripe, team: Team, exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    body = await start_checkout(api, team, "PRO", "MONTH")
    assert "errors" not in body, body
    spans = list(exporter.get_finished_spans())
    calls = [s for s in spans if s.name.startswith("stripe ")]
    assert [s.name for s in calls] == ["stripe customers.create",
                                       "stripe checkout.sessions.create"]
    [operation] = [s for s in spans if dict(s.attributes or {}).get(
        "graphql.operation.type") == "mutation"]
    assert operation.context is not None
    for call in calls:
        assert call.kind is SpanKind.CLIENT
        assert dict(call.attributes or {})["rpc.system"] == "stripe"
        assert call.parent is not None and call.context is not None
        assert call.context.trace_id == operation.context.trace_id
    dumped = repr([dict(s.attributes or {}) for s in spans])
    assert team.people[Role.OWNER].email not in dumped and "Team acme" not in dumped
