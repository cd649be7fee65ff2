"""Key rotation: a new ACTIVE data key with the old one RETIRED and the data re-encrypted under
it; and the KEK rotated by rewrapping every data key."""

from __future__ import annotations

import base64
import os

import pytest

from jobs.encryption import encrypt_org
from keystore import keys
from keystore.kek import LocalKek, kek_from_settings
from keystore.models import DataKey, KeyState
from models.orgs import Role
from tests.conftest import Api
from tests.encryption.conftest import raw_rows
from tests.encryption.test_at_rest import LEAD, SEARCH, add_note
from tests.leads.conftest import create_lead, token
from tests.orgs.conftest import Team


async def test_a_rotation_retires_the_old_key_and_reencrypts(
        api: Api, team: Team) -> None:
    lead = await create_lead(api, team, name="Hedy", email="hedy@example.com")
    await add_note(api, team, lead["id"], "before the rotation")
    assert await keys.rotate(team.org.id) == 2
    states = {k.version: k.state for k in await DataKey.filter(organization_id=team.org.id)}
    assert states == {1: KeyState.RETIRED, 2: KeyState.ACTIVE}
    # Still readable meanwhile (v1 decrypts), then re-encrypted under v2.
    shown = await api.gql(LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] == "hedy@example.com"
    assert await encrypt_org(team.org.id) == 2  # the lead and its note
    assert all(str(r["email"]).startswith("enc:v1:2:") for r in await raw_rows("leads"))
    assert all(str(r["body"]).startswith("enc:v1:2:") for r in await raw_rows("notes"))
    shown = await api.gql(LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] == "hedy@example.com"
    assert shown["data"]["node"]["notes"]["nodes"][0]["body"] == "before the rotation"
    # The blind index outlives the rotation: exact search still finds the lead.
    found = await api.gql(SEARCH, {"slug": team.slug, "term": "hedy@example.com"},
                          token=token(team, Role.MEMBER))
    assert [n["id"] for n in found["data"]["organization"]["leads"]["nodes"]] == [lead["id"]]


async def test_the_kek_is_rotated_by_rewrapping(api: Api, team: Team, settings) -> None:
    lead = await create_lead(api, team, name="Hedy", email="hedy@example.com")
    old = kek_from_settings(settings)
    new = LocalKek.from_base64(base64.b64encode(os.urandom(32)).decode())
    assert await keys.rewrap(new, old) >= 1
    assert await keys.rewrap(new, old) == 0  # resumable: nothing left
    assert {k.kek_id for k in await DataKey.all()} == {new.key_id}
    with pytest.raises(ValueError):  # the old KEK no longer unwraps them
        old.unwrap(bytes((await DataKey.filter(organization_id=team.org.id).first()).wrapped))
    keys.use(new, ttl=settings.key_cache_seconds)
    try:
        shown = await api.gql(LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER))
        assert shown["data"]["node"]["email"] == "hedy@example.com"
    finally:
        await keys.rewrap(old, new)
        keys.use(old, ttl=settings.key_cache_seconds)
