"""AI generations kept for provenance: the draft's purpose and the outputs (text and next steps)
are encrypted at rest (docs/encryption.md), the hash, manifest and counters are not. Made
through the built-in local provider, over HTTP, with AI enabled for the org."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.settings import Settings
from jobs.encryption import encrypt_org
from models.orgs import Role
from tests.ai.conftest import (
    DRAFT,
    NEXT_STEPS,
    finished,
    lead_of,
    team,  # noqa: F401 (fixture: an org on PRO with AI on)
)
from tests.conftest import Api
from tests.encryption.conftest import raw_bytes, raw_rows
from tests.orgs.conftest import Team

PURPOSE = "the Zanzibar clove shipment renegotiation"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ai_base_url=None, ai_model=None, ai_api_key=None)


async def test_ai_inputs_and_outputs_are_only_encrypted_in_the_database(
        api: Api, team: Team, database_url: str) -> None:  # noqa: F811
    admin = team.people[Role.ADMIN].token
    lead = await lead_of(api, team, company="Navy", email="grace@navy.example")
    draft = await api.gql(DRAFT, {"lead": lead, "purpose": PURPOSE}, token=admin)
    done = await finished(api, draft["data"]["draftEmail"]["generation"]["id"], admin,
                          provenance=True)
    assert done["status"] == "SUCCEEDED" and PURPOSE in done["text"]
    assert done["purpose"] == PURPOSE
    steps = await api.gql(NEXT_STEPS, {"lead": lead}, token=admin)
    listed = await finished(api, steps["data"]["suggestNextSteps"]["generation"]["id"], admin)
    assert listed["status"] == "SUCCEEDED" and listed["nextSteps"][0]["action"]
    stored = await raw_bytes(database_url)
    for secret in (PURPOSE, "Zanzibar", listed["nextSteps"][0]["action"]):
        assert secret.encode() not in stored, secret
    rows = await raw_rows("ai_generations")
    assert len(rows) == 2
    for row in rows:
        assert str(row["output_text"]).startswith("enc:v1:1:")
        assert len(str(row["input_hash"])) == 64  # provenance stays plain
    [with_steps] = [r for r in rows if r["output_json"] is not None]
    raw_json = with_steps["output_json"]
    raw_json = raw_json if isinstance(raw_json, str) else json.dumps(raw_json)
    assert json.loads(raw_json).startswith("enc:v1:1:")
    [with_purpose] = [r for r in rows if r["purpose"] is not None]
    assert str(with_purpose["purpose"]).startswith("enc:v1:1:")
    assert await encrypt_org(team.org.id) == 0  # nothing left in plain text
