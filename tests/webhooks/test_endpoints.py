"""Managing endpoints over HTTP: permissions (roles and token scopes), another org's endpoint
NOT_FOUND, URL refusals, input bounds, the plan limit, secret rotation, redelivery, replay
(bounded and rate limited), deletion, and the erased data subject's email stored nowhere."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from models.orgs import Role
from models.webhooks import MessageStatus, WebhookEndpoint, WebhookMessage
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token
from tests.webhooks.conftest import (
    DELETE,
    DISABLE,
    EVERYTHING,
    LIST,
    REDELIVER,
    REPLAY,
    ROTATE,
    UPDATE,
    create_endpoint,
    run_jobs,
    stored,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead


def endpoint_of(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]["createWebhookEndpoint"]["webhookEndpoint"]


async def test_members_and_viewers_may_not_manage_or_read(api: Api, team: Team,
                                                          hook: Receiver) -> None:
    for role in (Role.MEMBER, Role.VIEWER):
        body = await create_endpoint(api, team, hook.url, token=team.people[role].token)
        assert error_code(body) == "FORBIDDEN"
    endpoint_of(await create_endpoint(api, team, hook.url))
    body = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.MEMBER].token)
    assert error_code(body) == "FORBIDDEN"
    owner = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    assert owner["data"]["organization"]["webhookEndpoints"]["totalCount"] == 1


async def test_token_scopes_grant_read_and_write(api: Api, team: Team, hook: Receiver) -> None:
    reader = await make_token(team, ["webhooks:read"])
    writer = await make_token(team, ["webhooks:write", "webhooks:read"])
    assert error_code(await create_endpoint(api, team, hook.url, token=reader.secret)) == \
        "FORBIDDEN"
    endpoint_of(await create_endpoint(api, team, hook.url, token=writer.secret))
    body = await api.gql(LIST, {"slug": team.slug}, token=reader.secret)
    assert body["data"]["organization"]["webhookEndpoints"]["totalCount"] == 1


async def test_another_orgs_endpoint_and_message_are_not_found(app: Any, api: Api, team: Team,
                                                               rival: Team,
                                                               hook: Receiver) -> None:
    endpoint = endpoint_of(await create_endpoint(api, team, hook.url))
    await make_lead(api, team)
    await run_jobs(app)
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    message_gid = base64.b64encode(f"WebhookMessage:{message.id}".encode()).decode()
    stranger = rival.people[Role.OWNER].token
    for query, variables in (
            (ROTATE, {"id": endpoint["id"]}), (DISABLE, {"id": endpoint["id"]}),
            (DELETE, {"id": endpoint["id"]}), (REDELIVER, {"id": message_gid}),
            (UPDATE, {"input": {"id": endpoint["id"], "url": hook.url}}),
            (REPLAY, {"id": endpoint["id"], "since": datetime.now(UTC).isoformat()})):
        assert error_code(await api.gql(query, variables, token=stranger)) == "NOT_FOUND"
    assert (await EVERYTHING.scoped(WebhookEndpoint).all())[0].enabled


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/hook", "https://10.0.0.8/hook", "https://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data", "https://user:pw@127.0.0.1/x", "not a url",
    "https://[fd00::1]/hook", "http://0.0.0.0/", "https://" + "a" * 2100 + ".example/",
])
async def test_refused_urls_are_bad_user_input_naming_url(api: Api, team: Team,
                                                          url: str) -> None:
    body = await create_endpoint(api, team, url)
    assert error_code(body) == "BAD_USER_INPUT"
    assert "url" in errors_of(body)[0]["extensions"]["fields"]
    assert await EVERYTHING.scoped(WebhookEndpoint).count() == 0


async def test_update_checks_the_url_and_the_event_types(api: Api, team: Team,
                                                         hook: Receiver) -> None:
    endpoint = endpoint_of(await create_endpoint(api, team, hook.url))
    admin = team.people[Role.ADMIN].token
    refused = await api.gql(UPDATE, {"input": {"id": endpoint["id"],
                                               "url": "https://10.1.1.1/"}}, token=admin)
    assert "url" in errors_of(refused)[0]["extensions"]["fields"]
    empty = await api.gql(UPDATE, {"input": {"id": endpoint["id"], "eventTypes": []}},
                          token=admin)
    assert "eventTypes" in errors_of(empty)[0]["extensions"]["fields"]
    changed = await api.gql(UPDATE, {"input": {"id": endpoint["id"], "eventTypes": [
        "NOTE_ADDED", "FORM_SUBMISSION_RECEIVED"], "description": "notes"}}, token=admin)
    node = changed["data"]["updateWebhookEndpoint"]["webhookEndpoint"]
    assert node["eventTypes"] == ["FORM_SUBMISSION_RECEIVED", "NOTE_ADDED"]
    assert node["description"] == "notes"
    long = await api.gql(UPDATE, {"input": {"id": endpoint["id"], "description": "x" * 501}},
                         token=admin)
    assert error_code(long) == "BAD_USER_INPUT"


async def test_the_plan_limits_endpoints(api: Api, team: Team, hook: Receiver) -> None:
    for _ in range(2):  # Free: 2
        endpoint_of(await create_endpoint(api, team, hook.url))
    body = await create_endpoint(api, team, hook.url)
    assert error_code(body) == "PLAN_LIMIT"
    assert errors_of(body)[0]["extensions"]["resource"] == "webhook_endpoints"


async def test_rotation_signs_with_both_secrets_for_a_day(app: Any, api: Api, team: Team,
                                                          hook: Receiver) -> None:
    made = await create_endpoint(api, team, hook.url)
    old = made["data"]["createWebhookEndpoint"]["secret"]
    endpoint = endpoint_of(made)
    rotated = await api.gql(ROTATE, {"id": endpoint["id"]}, token=team.people[Role.ADMIN].token)
    new = rotated["data"]["rotateWebhookSecret"]["secret"]
    assert new != old and new.startswith("whsec_")
    assert rotated["data"]["rotateWebhookSecret"]["webhookEndpoint"][
        "previousSecretExpiresAt"] is not None
    await make_lead(api, team)
    await run_jobs(app)
    first = hook.requests[-1]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(first.body, first.headers)
    Webhook(new).verify(first.body, first.headers)
    # A day later only the new one signs.
    await EVERYTHING.scoped(WebhookEndpoint).update(
        previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await make_lead(api, team, "Grace", "grace@example.com")
    await run_jobs(app)
    second = hook.requests[-1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(second.body, second.headers)


async def test_redelivery_sends_the_same_message_again(app: Any, api: Api, team: Team,
                                                       hook: Receiver) -> None:
    endpoint_of(await create_endpoint(api, team, hook.url))
    await make_lead(api, team)
    await run_jobs(app)
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    gid = base64.b64encode(f"WebhookMessage:{message.id}".encode()).decode()
    body = await api.gql(REDELIVER, {"id": gid}, token=team.people[Role.ADMIN].token)
    assert body["data"]["redeliverWebhookMessage"]["webhookMessage"]["status"] == "PENDING"
    await run_jobs(app)
    assert len(hook.requests) == 2
    assert hook.requests[0].headers["webhook-id"] == hook.requests[1].headers["webhook-id"]
    assert hook.requests[0].body == hook.requests[1].body
    member = await api.gql(REDELIVER, {"id": gid}, token=team.people[Role.MEMBER].token)
    assert error_code(member) == "FORBIDDEN"


async def test_replay_sends_the_failed_messages_of_a_window(app: Any, api: Api, team: Team,
                                                            hook: Receiver) -> None:
    endpoint = endpoint_of(await create_endpoint(api, team, hook.url))
    hook.default = 500
    await make_lead(api, team)
    await make_lead(api, team, "Grace", "grace@example.com")
    await run_jobs(app)
    assert await EVERYTHING.scoped(WebhookMessage).filter(status=MessageStatus.FAILED
                                                          ).count() == 2
    hook.default = 200
    admin = team.people[Role.ADMIN].token
    too_old = await api.gql(REPLAY, {"id": endpoint["id"], "since": (
        datetime.now(UTC) - timedelta(days=8)).isoformat()}, token=admin)
    assert "since" in errors_of(too_old)[0]["extensions"]["fields"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = await api.gql(REPLAY, {"id": endpoint["id"], "since": since}, token=admin)
    assert body["data"]["replayWebhookMessages"]["queued"] == 2
    await run_jobs(app)
    assert await EVERYTHING.scoped(WebhookMessage).filter(status=MessageStatus.DELIVERED
                                                          ).count() == 2
    listed = await api.gql(LIST, {"slug": team.slug, "status": "DELIVERED"}, token=admin)
    assert listed["data"]["organization"]["webhookEndpoints"]["nodes"][0]["messages"][
        "totalCount"] == 2
    codes = []
    for _ in range(10):
        reply = await api.gql(REPLAY, {"id": endpoint["id"], "since": since}, token=admin)
        if "errors" in reply:
            codes.append(error_code(reply))
            break
    assert "RATE_LIMITED" in codes


async def test_delete_removes_the_endpoint_and_its_log(app: Any, api: Api, team: Team,
                                                       hook: Receiver) -> None:
    endpoint = endpoint_of(await create_endpoint(api, team, hook.url))
    await make_lead(api, team)
    await run_jobs(app)
    body = await api.gql(DELETE, {"id": endpoint["id"]}, token=team.people[Role.ADMIN].token)
    assert body["data"]["deleteWebhookEndpoint"]["deletedId"] == endpoint["id"]
    assert await stored() == ([], [], [])


ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted } } }"""


async def test_an_erased_subjects_email_is_in_no_message_or_attempt(
        app: Any, api: Api, team: Team, hook: Receiver) -> None:
    endpoint_of(await create_endpoint(api, team, hook.url))
    email = "grace.hopper@navy.example"
    # A receiver that echoes what it looked up: its answer holds the address.
    hook.answers = [(500, {}, f"no such lead {email}".encode())]
    await make_lead(api, team, "Grace Hopper", email)
    await run_jobs(app)
    _, _, attempts = await stored()
    assert any(email in attempt.response_excerpt for attempt in attempts)
    body = await api.gql(ERASE, {"org": team.org_id, "email": email},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    endpoints, messages, attempts = await stored()
    everything = orjson.dumps([[m.payload for m in messages],
                               [a.response_excerpt for a in attempts],
                               [e.url for e in endpoints]]).decode().lower()
    assert email not in everything and "grace" not in everything
    assert messages  # the messages stay (they hold ids only)


async def test_event_type_lists_are_bounded(api: Api, team: Team, hook: Receiver) -> None:
    body = await create_endpoint(api, team, hook.url, types=["LEAD_CREATED"] * 19)
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["limit"] == 18
    empty = await create_endpoint(api, team, hook.url, types=[])
    assert error_code(empty) == "BAD_USER_INPUT"
    assert await EVERYTHING.scoped(WebhookEndpoint).count() == 0


async def test_changes_to_endpoints_are_in_the_activity_log(app: Any, api: Api, team: Team,
                                                            hook: Receiver) -> None:
    from models.activity import ActivityEvent

    endpoint = endpoint_of(await create_endpoint(api, team, hook.url))
    admin = team.people[Role.ADMIN].token
    await api.gql(ROTATE, {"id": endpoint["id"]}, token=admin)
    await api.gql(DISABLE, {"id": endpoint["id"]}, token=admin)
    await api.gql(UPDATE, {"input": {"id": endpoint["id"], "description": "x"}}, token=admin)
    await api.gql(DELETE, {"id": endpoint["id"]}, token=admin)
    actions = sorted(e.action for e in await EVERYTHING.scoped(ActivityEvent).filter(
        target_type="webhook_endpoint"))
    assert actions == ["webhook_endpoint.created", "webhook_endpoint.deleted",
                       "webhook_endpoint.disabled", "webhook_endpoint.secret_rotated",
                       "webhook_endpoint.updated"]
    secret_free = orjson.dumps([e.summary for e in await EVERYTHING.scoped(
        ActivityEvent).filter(target_type="webhook_endpoint")]).decode()
    assert "whsec_" not in secret_free
