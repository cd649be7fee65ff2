"""Form submissions' values and email and consent receipts' email and text are encrypted at rest
like a lead's fields (docs/encryption.md): the API returns them, the raw database holds none of
them; rows stored in plain text before are read as they are, then encrypted by the job."""

from __future__ import annotations

import json
from typing import Any

from tortoise import connections

from jobs.encryption import encrypt_org
from models.forms import SubmissionStatus
from models.orgs import Role
from tests.conftest import Api
from tests.encryption.conftest import raw_bytes, raw_rows
from tests.forms.conftest import CONSENT, make_form
from tests.forms.test_submissions_api import RECEIPTS, SUBMISSIONS, submit
from tests.leads.conftest import token
from tests.orgs.conftest import Team, gid

EMAIL = "ada.lovelace@analytical-engine.example"
PHONE = "+442079460958"
MESSAGE = "Bernoulli numbers program note G attached"
HELD_NAME = "Augusta Byron King"


async def shown(api: Api, team: Team, form_id: Any) -> list[dict[str, Any]]:
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form_id)},
                         token=token(team, Role.MEMBER))
    assert "errors" not in body, body
    return list(body["data"]["leadForm"]["submissions"]["nodes"])


async def test_submissions_and_receipts_are_only_encrypted_in_the_database(
        app: Any, api: Api, team: Team, database_url: str) -> None:
    form = await make_form(team.org)
    accepted = await submit(app, form, email=EMAIL, phone=PHONE, message=MESSAGE)
    await submit(app, form, SubmissionStatus.HELD, ["no_challenge"], name=HELD_NAME,
                 email="held." + EMAIL)
    nodes = await shown(api, team, form.id)
    held, taken = nodes
    assert taken["values"]["email"] == EMAIL and taken["values"]["phone"] == PHONE
    assert taken["values"]["message"] == MESSAGE
    assert held["values"]["name"] == HELD_NAME and held["values"]["email"] == "held." + EMAIL
    assert accepted.lead_id is not None
    body = await api.gql(RECEIPTS, {"id": gid("Lead", accepted.lead_id)},
                         token=token(team, Role.MEMBER))
    [receipt] = body["data"]["lead"]["consentReceipts"]["nodes"]
    assert receipt["consentText"] == CONSENT
    stored = await raw_bytes(database_url)
    # The held submission made no lead: its name is in its (encrypted) values only. The
    # accepted one's message became a note (encrypted too); its email and phone are the lead's.
    for secret in (EMAIL, "analytical-engine", PHONE, "2079460958", MESSAGE, "Bernoulli",
                   HELD_NAME):
        assert secret.encode() not in stored, secret
    for row in await raw_rows("form_submissions"):
        values = row["values"] if isinstance(row["values"], str) else json.dumps(row["values"])
        assert json.loads(values).startswith("enc:v1:1:")
        assert str(row["email"]).startswith("enc:v1:1:") and row["email_bidx"]
    [raw_receipt] = await raw_rows("consent_receipts")
    assert str(raw_receipt["consent_text"]).startswith("enc:v1:1:")
    assert str(raw_receipt["email"]).startswith("enc:v1:1:") and raw_receipt["email_bidx"]


async def test_plain_submissions_are_read_then_encrypted_by_the_job(
        app: Any, api: Api, team: Team) -> None:
    form = await make_form(team.org)
    accepted = await submit(app, form, email=EMAIL, message=MESSAGE)
    # As an older version stored them: plain values, email and consent text.
    db = connections.get("default")
    postgres = db.capabilities.dialect == "postgres"
    plain = json.dumps({"name": "Grace Hopper", "email": EMAIL, "message": MESSAGE})
    mark = "$1" if postgres else "?"
    cast = "::jsonb" if postgres else ""
    await db.execute_query(f"UPDATE form_submissions SET \"values\" = {mark}{cast}, "
                           f"email = '{EMAIL}'", [plain])
    await db.execute_query(f"UPDATE consent_receipts SET email = '{EMAIL}', "
                           f"consent_text = {mark}", [CONSENT])
    [node] = await shown(api, team, form.id)
    assert node["values"]["email"] == EMAIL and node["values"]["message"] == MESSAGE
    assert await encrypt_org(team.org.id, batch=1) == 2  # the submission and the receipt
    [row] = await raw_rows("form_submissions")
    values = row["values"] if isinstance(row["values"], str) else json.dumps(row["values"])
    assert json.loads(values).startswith("enc:v1:") and str(row["email"]).startswith("enc:v1:")
    [receipt] = await raw_rows("consent_receipts")
    assert str(receipt["consent_text"]).startswith("enc:v1:")
    [node] = await shown(api, team, form.id)
    assert node["values"]["email"] == EMAIL and node["values"]["message"] == MESSAGE
    body = await api.gql(RECEIPTS, {"id": gid("Lead", accepted.lead_id)},
                         token=token(team, Role.MEMBER))
    assert body["data"]["lead"]["consentReceipts"]["nodes"][0]["consentText"] == CONSENT
    assert await encrypt_org(team.org.id, batch=1) == 0  # resumed: nothing left
