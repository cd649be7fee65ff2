"""A response larger than IDEMPOTENCY_RESPONSE_MAX (here 350 bytes) is sent but not kept: the
key is marked too_large, a retry is CONFLICT `IDEMPOTENCY_RESPONSE_TOO_LARGE` (409) and runs
nothing (one lead), another request under the key is still IDEMPOTENCY_KEY_REUSED, and a
response under the cap replays as before."""

from __future__ import annotations

import dataclasses

import pytest

from core.settings import Settings
from models.idempotency import IdempotencyKey, KeyStatus
from tests.conftest import Api
from tests.idempotency.conftest import create_lead
from tests.idempotency.test_replay import leads_of
from tests.orgs.conftest import Team

CAP = 350


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, idempotency_response_max=CAP)


async def test_a_response_over_the_cap_is_not_kept_and_never_runs_twice(
        api: Api, team: Team) -> None:
    name = "Ada " + "Lovelace " * 20  # the response echoes the name: over the cap
    first = await create_lead(api, team, key="big-1", name=name)
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    assert len(first.content) > CAP
    assert "idempotent-replayed" not in first.headers
    [row] = await IdempotencyKey.all()
    assert (row.status, row.response_status, row.response_body) == (
        KeyStatus.TOO_LARGE, 200, None)
    for _ in range(2):
        retry = await create_lead(api, team, key="big-1", name=name)
        assert retry.status_code == 409
        [error] = retry.json()["errors"]
        assert error["extensions"] == {"code": "CONFLICT",
                                       "reason": "IDEMPOTENCY_RESPONSE_TOO_LARGE"}
        assert "idempotent-replayed" not in retry.headers
    other = await create_lead(api, team, key="big-1", name="Grace")
    assert other.json()["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert [lead.name for lead in await leads_of(team)] == [name.strip()]


async def test_a_response_under_the_cap_still_replays(api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="small-1", name="Ada")
    assert len(first.content) <= CAP
    again = await create_lead(api, team, key="small-1", name="Ada")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert len(await leads_of(team)) == 1
