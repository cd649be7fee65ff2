"""A public form submission that makes a lead reaches an endpoint that asked for
`form_submission.received`, naming the form and the lead by global id and no personal data."""

from __future__ import annotations

from typing import Any

import httpx
from standardwebhooks import Webhook

from core.settings import Settings
from tests.conftest import Api
from tests.forms_web.conftest import good_fields, make_form, post_form
from tests.orgs.conftest import Team
from tests.webhooks.conftest import create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead


async def test_a_form_submission_is_delivered_as_received(
        app: Any, api: Api, http: httpx.AsyncClient, settings: Settings, team: Team,
        hook: Receiver) -> None:
    made = await create_endpoint(api, team, hook.url, types=["FORM_SUBMISSION_RECEIVED"])
    secret = made["data"]["createWebhookEndpoint"]["secret"]
    form = await make_form(team.org)
    response = await post_form(http, form, await good_fields(http, settings, form))
    assert response.status_code == 200
    await make_lead(api, team, "Grace", "grace@example.com")  # not a submission: not sent
    await run_jobs(app)
    assert len(hook.requests) == 1
    payload = Webhook(secret).verify(hook.requests[0].body, hook.requests[0].headers)
    assert payload["type"] == "form_submission.received"
    assert payload["data"]["objectType"] == "Lead" and payload["data"]["formId"]
    body = hook.requests[0].body.decode().lower()
    assert "ada" not in body and "lovelace" not in body and "@" not in body
