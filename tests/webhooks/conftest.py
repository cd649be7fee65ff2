"""Fixtures for the webhook tests: loopback endpoints allowed, a retry schedule shrunk to no
waiting, jobs run when a test says so, the org "acme" and its rival "globex"."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.settings import Settings
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from models.webhooks import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.privacy.conftest import services_of
from tests.webhooks.receiver import Receiver, receiver

EVERYTHING = system_scope(EVERY_ORG, reason="tests read what webhooks stored")

ENDPOINT_FIELDS = """id url description eventTypes enabled disabledReason disabledAt
  failingSince createdAt previousSecretExpiresAt"""
CREATE = f"""mutation($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{ secret webhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{ webhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}"""
ROTATE = f"""mutation($id: ID!) {{
  rotateWebhookSecret(input: {{id: $id}}) {{ secret webhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}"""
ENABLE = f"""mutation($id: ID!) {{
  enableWebhookEndpoint(input: {{id: $id}}) {{ webhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}"""
DISABLE = f"""mutation($id: ID!) {{
  disableWebhookEndpoint(input: {{id: $id}}) {{ webhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}"""
DELETE = "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedId } }"
REDELIVER = """mutation($id: ID!) { redeliverWebhookMessage(input: {messageId: $id}) {
  webhookMessage { id status attemptCount } } }"""
REPLAY = """mutation($id: ID!, $since: DateTime!) {
  replayWebhookMessages(input: {endpointId: $id, since: $since}) { queued } }"""
LIST = f"""query($slug: String!, $status: WebhookMessageStatus) {{
  organization(slug: $slug) {{ webhookEndpoints(first: 5) {{ totalCount nodes {{
    {ENDPOINT_FIELDS}
    messages(first: 20, status: $status) {{ totalCount nodes {{
      id eventType status attemptCount createdAt deliveredAt nextAttemptAt payload
      attempts(first: 10) {{ nodes {{ createdAt statusCode latencyMs responseExcerpt error
                                      success }} }} }} }} }} }} }} }}"""
CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, webhook_allow_loopback=True, webhook_retry_schedule="0,0,0",
        webhook_timeout=2.0, jobs_in_process=False, jobs_retry_wait=0, jobs_max_attempts=2)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


async def run_jobs(app: Any, rounds: int = 6) -> None:
    """Run the queued jobs (and the retries they queue) until none is left."""
    for _ in range(rounds):
        await services_of(app).jobs.run_worker(wait=False)


async def create_endpoint(api: Api, team: Team, url: str, types: list[str] | None = None,
                          token: str | None = None) -> dict[str, Any]:
    return await api.gql(CREATE, {"input": {
        "organizationId": team.org_id, "url": url, "description": "CRM sync",
        "eventTypes": ["LEAD_CREATED", "LEAD_UPDATED"] if types is None else types}},
        token=token or team.people[Role.ADMIN].token)


async def stored() -> tuple[list[WebhookEndpoint], list[WebhookMessage], list[WebhookAttempt]]:
    return (await EVERYTHING.scoped(WebhookEndpoint).all(),
            await EVERYTHING.scoped(WebhookMessage).all(),
            await EVERYTHING.scoped(WebhookAttempt).all())
