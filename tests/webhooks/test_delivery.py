"""End to end over HTTP: a lead created over GraphQL reaches a receiver on loopback, signed per
Standard Webhooks (verified with the `standardwebhooks` package); failures are retried, 410
disables, failing endpoints are disabled and their admins mailed, and nothing is lost."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.settings import Settings
from models.orgs import Role
from models.webhooks import MessageStatus, WebhookEndpoint, WebhookMessage
from realtime.outbox import in_transaction
from resolvers.activity import write_event
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.webhooks.conftest import (
    CREATE_LEAD,
    DISABLE,
    ENABLE,
    EVERYTHING,
    LIST,
    create_endpoint,
    run_jobs,
    stored,
)
from tests.webhooks.receiver import Receiver


async def make_lead(api: Api, team: Team, name: str = "Ada Lovelace",
                    email: str = "ada@example.com") -> str:
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id, "name": name,
                                                 "email": email}},
                         token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    return str(body["data"]["createLead"]["lead"]["id"])


async def test_a_created_lead_is_delivered_signed_and_verifiable(app: Any, api: Api,
                                                                  team: Team,
                                                                  hook: Receiver) -> None:
    made = await create_endpoint(api, team, hook.url)
    assert "errors" not in made, made
    secret = made["data"]["createWebhookEndpoint"]["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    lead_id = await make_lead(api, team)
    await run_jobs(app)
    assert len(hook.requests) == 1
    received = hook.requests[0]
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "lead.created"
    assert payload["data"]["id"] == lead_id
    assert payload["data"]["organizationId"] == team.org_id
    assert "ada" not in received.body.decode().lower()  # thin: no name, no email
    assert abs(int(received.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    # The secret is never stored in the clear nor shown again.
    endpoints, _, _ = await stored()
    assert secret not in endpoints[0].secret_sealed
    listed = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    assert "errors" not in listed, listed
    assert secret not in orjson.dumps(listed).decode()
    node = listed["data"]["organization"]["webhookEndpoints"]["nodes"][0]
    message = node["messages"]["nodes"][0]
    assert message["status"] == "DELIVERED" and message["attemptCount"] == 1
    assert message["attempts"]["nodes"][0]["statusCode"] == 200
    assert message["attempts"]["nodes"][0]["responseExcerpt"] == "ok"
    assert message["attempts"]["nodes"][0]["success"] is True


async def test_only_wanted_event_types_make_messages(app: Any, api: Api, team: Team,
                                                     hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url, types=["NOTE_ADDED"])
    await make_lead(api, team)
    await run_jobs(app)
    assert hook.requests == []
    assert await EVERYTHING.scoped(WebhookMessage).count() == 0


async def test_a_failing_receiver_is_retried_with_a_fresh_signature(app: Any, api: Api,
                                                                    team: Team,
                                                                    hook: Receiver) -> None:
    secret = (await create_endpoint(api, team, hook.url))["data"]["createWebhookEndpoint"][
        "secret"]
    hook.answers = [500, 503]
    await make_lead(api, team)
    await run_jobs(app)
    assert len(hook.requests) == 3
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert len(ids) == 1  # the same message each time
    assert len({r.headers["webhook-signature"] for r in hook.requests}) >= 1
    for received in hook.requests:
        Webhook(secret).verify(received.body, received.headers)
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    assert message.status == MessageStatus.DELIVERED and message.attempts == 3
    endpoint = (await EVERYTHING.scoped(WebhookEndpoint).all())[0]
    assert endpoint.failing_since is None and endpoint.enabled


async def test_the_schedule_runs_out_then_failed(app: Any, api: Api, team: Team,
                                                 hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    hook.default = 500
    await make_lead(api, team)
    await run_jobs(app)
    assert len(hook.requests) == 3  # the (shrunk) schedule: three attempts
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    assert message.status == MessageStatus.FAILED and message.next_attempt_at is None


async def test_gone_disables_at_once_and_enabling_sends_what_waited(app: Any, api: Api,
                                                                    team: Team,
                                                                    hook: Receiver) -> None:
    made = await create_endpoint(api, team, hook.url)
    endpoint_id = made["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    hook.answers = [410]
    await make_lead(api, team)
    await run_jobs(app)
    assert len(hook.requests) == 1
    listed = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    node = listed["data"]["organization"]["webhookEndpoints"]["nodes"][0]
    assert node["enabled"] is False and node["disabledReason"] == "GONE"
    # Messages keep queuing while it is off.
    await make_lead(api, team, "Grace", "grace@example.com")
    await run_jobs(app)
    assert len(hook.requests) == 1
    assert await EVERYTHING.scoped(WebhookMessage).filter(
        status=MessageStatus.PENDING).count() == 2
    enabled = await api.gql(ENABLE, {"id": endpoint_id}, token=team.people[Role.ADMIN].token)
    assert enabled["data"]["enableWebhookEndpoint"]["webhookEndpoint"]["enabled"] is True
    await run_jobs(app)
    assert len(hook.requests) == 3
    assert await EVERYTHING.scoped(WebhookMessage).filter(
        status=MessageStatus.DELIVERED).count() == 2


@pytest.fixture
def quick_disable(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_disable_after=0)


async def test_failing_endpoint_is_disabled_and_admins_are_mailed(
        app: Any, api: Api, team: Team, hook: Receiver, settings: Settings) -> None:
    await create_endpoint(api, team, hook.url)
    hook.default = 500
    await make_lead(api, team)
    services = services_of(app)
    # Pretend the endpoint has failed for longer than WEBHOOK_DISABLE_AFTER.
    await EVERYTHING.scoped(WebhookEndpoint).update(
        failing_since=datetime.now(UTC) - timedelta(seconds=settings.webhook_disable_after + 5))
    api.inbox.messages.clear()
    await run_jobs(app)
    assert len(hook.requests) == 1
    endpoint = (await EVERYTHING.scoped(WebhookEndpoint).all())[0]
    assert endpoint.enabled is False and endpoint.disabled_reason == "failing"
    recipients = sorted(str(mail["To"]) for mail in api.inbox.messages
                        if "webhook" in str(mail["Subject"]))
    assert recipients == ["admin.acme@example.com", "owner.acme@example.com"]
    assert services is not None
    # Re-enabled after the receiver is fixed: the waiting message goes out.
    hook.default = 200
    await api.gql(DISABLE, {"id": _gid(endpoint)}, token=team.people[Role.ADMIN].token)
    body = await api.gql(ENABLE, {"id": _gid(endpoint)}, token=team.people[Role.ADMIN].token)
    assert body["data"]["enableWebhookEndpoint"]["webhookEndpoint"]["failingSince"] is None
    await run_jobs(app)
    assert len(hook.requests) == 2
    assert (await EVERYTHING.scoped(WebhookMessage).all())[0].status == MessageStatus.DELIVERED


def _gid(endpoint: WebhookEndpoint) -> str:
    return base64.b64encode(f"WebhookEndpoint:{endpoint.id}".encode()).decode()


async def test_retry_after_is_honoured_within_its_bound(app: Any, api: Api, team: Team,
                                                        hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    hook.answers = [(429, {"retry-after": "999999"}, b"slow down")]
    await make_lead(api, team)
    await run_jobs(app)
    assert len(hook.requests) == 1  # the next attempt waits
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    wait = (message.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 3500 < wait <= 3600  # WEBHOOK_RETRY_AFTER_MAX


async def test_a_rolled_back_change_makes_no_message_and_a_committed_one_does(
        app: Any, api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    broker = services_of(app).broker
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await write_event(broker, team.org.id, "lead.updated", target_type="lead",
                              target_id=team.org.id, summary={"fields": ["name"]})
            assert await EVERYTHING.scoped(WebhookMessage).count() == 1  # inside: written
            raise RuntimeError("the change failed")
    assert await EVERYTHING.scoped(WebhookMessage).count() == 0
    async with in_transaction():
        await write_event(broker, team.org.id, "lead.updated", target_type="lead",
                          target_id=team.org.id, summary={"fields": ["name", "email"]})
    messages = await EVERYTHING.scoped(WebhookMessage).all()
    assert len(messages) == 1
    assert messages[0].payload["data"]["changedFields"] == ["email", "name"]


async def test_another_secret_does_not_verify(app: Any, api: Api, team: Team,
                                              hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await make_lead(api, team)
    await run_jobs(app)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(hook.requests[0].body, hook.requests[0].headers)
