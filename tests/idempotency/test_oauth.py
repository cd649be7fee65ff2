"""Idempotency keys sent by a partner app with an OAuth access token (the real flow:
registerOAuthApp, approval, code exchange at /oauth/token): a retried createLead with one key
makes one lead and replays the response; the key is the grant's, so another app's grant, or the
approving person themselves, using the same key run on their own."""

from __future__ import annotations

import httpx

from core.settings import Settings
from models.idempotency import IdempotencyKey
from models.orgs import Role
from tests.conftest import Api
from tests.idempotency.conftest import create_lead
from tests.idempotency.test_replay import leads_of
from tests.oauth.conftest import register, tokens_for
from tests.orgs.conftest import Team, signed_in


async def test_a_partner_apps_retry_makes_one_lead_and_keys_are_per_grant(
        api: Api, http: httpx.AsyncClient, team: Team, settings: Settings) -> None:
    partner = await signed_in(settings, "dev@partner.example.com", "Paula Partner")
    zapier = await register(api, partner, name="Zapier")
    make = await register(api, partner, name="Make")
    first_token = (await tokens_for(api, http, zapier, team,
                                    scope="org:read leads:write"))["access_token"]
    other_token = (await tokens_for(api, http, make, team,
                                    scope="org:read leads:write"))["access_token"]

    first = await create_lead(api, team, key="sync-42", token=first_token)
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    retry = await create_lead(api, team, key="sync-42", token=first_token)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert len(await leads_of(team)) == 1
    [row] = await IdempotencyKey.all()
    assert row.caller.startswith("grant:") and row.user_id is None

    # Another app's grant: the same key is its own, the mutation runs.
    other = await create_lead(api, team, key="sync-42", token=other_token)
    assert other.status_code == 200 and "errors" not in other.json(), other.text
    assert "idempotent-replayed" not in other.headers
    assert other.json()["data"]["createLead"]["lead"]["id"] != \
        first.json()["data"]["createLead"]["lead"]["id"]
    # So is the person who approved the grant, with their own session.
    mine = await create_lead(api, team, key="sync-42", role=Role.ADMIN)
    assert "idempotent-replayed" not in mine.headers and "errors" not in mine.json()
    assert len(await leads_of(team)) == 3
    callers = sorted(row.caller.split(":")[0] for row in await IdempotencyKey.all())
    assert callers == ["grant", "grant", "user"]
