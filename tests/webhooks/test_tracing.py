"""A webhook delivery traced (docs/observability.md): the delivery job's span links to the
request whose change queued it, and the POST to the receiver is a client span under it, with
the receiver's host and the answer's status, and nothing of the payload or the secret. No
trace context is sent to the receiver."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.webhooks.conftest import CREATE_LEAD, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def settings(settings: Settings, exporter: InMemorySpanExporter) -> Settings:
    return dataclasses.replace(settings, trace_exporter=exporter)


async def test_a_delivery_is_a_job_span_linked_to_its_request_with_a_post_under_it(
        app: Any, api: Api, team: Team, hook: Receiver, exporter: InMemorySpanExporter) -> None:
    made = await create_endpoint(api, team, hook.url)
    secret = made["data"]["createWebhookEndpoint"]["secret"]
    exporter.clear()
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                 "name": "Webhook Wanda"}},
                         token=team.people[Role.MEMBER].token,
                         headers={"x-request-id": "trace-webhook-1"})
    assert "errors" not in body, body
    [request] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER
                 and dict(s.attributes or {}).get("relleks.request_id") == "trace-webhook-1"
                 and s.name == "POST /graphql"]
    await run_jobs(app)
    assert len(hook.requests) == 1
    spans = list(exporter.get_finished_spans())
    assert request.context is not None
    # (On PostgreSQL the queue may also hold an earlier test's jobs: this request's is the one
    # linked to it.)
    [job] = [s for s in spans if s.name == "job relleks.deliver_webhook"
             and [link.context.trace_id for link in s.links] == [request.context.trace_id]]
    assert job.context is not None
    [post] = [s for s in spans if s.name == "POST" and s.kind is SpanKind.CLIENT
              and s.parent is not None and s.parent.span_id == job.context.span_id]
    attributes = dict(post.attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["server.address"] in {"127.0.0.1", "localhost"}
    assert attributes["http.response.status_code"] == 200
    dumped = repr([dict(s.attributes or {}) for s in spans])
    assert "Webhook Wanda" not in dumped and secret not in dumped
    assert "traceparent" not in hook.requests[0].headers
