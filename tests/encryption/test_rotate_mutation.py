"""rotateOrganizationKey over HTTP: the OWNER rotates, the data is re-encrypted by the job, the
activity log says so; others are refused, another org's id is NOT_FOUND, one at a time."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from keystore.models import DataKey, KeyState
from models.activity import ActivityEvent
from models.jobs import ScheduledWork, WorkStatus
from models.orgs import Role
from tests.conftest import Api, error_code
from tests.domains.conftest import api_with
from tests.encryption.conftest import raw_rows
from tests.encryption.test_at_rest import LEAD
from tests.leads.conftest import create_lead, token
from tests.orgs.conftest import Team
from tests.privacy.conftest import run_jobs
from tests.tokens.conftest import make_token

ROTATE = """mutation($id: ID!) { rotateOrganizationKey(input: {organizationId: $id}) {
  keyVersion reencryption } }"""


async def test_the_owner_rotates_and_the_data_follows(api: Api, app: Any, team: Team) -> None:
    lead = await create_lead(api, team, name="Hedy", email="hedy@example.com")
    body = await api.gql(ROTATE, {"id": team.org_id}, token=token(team, Role.OWNER))
    assert body["data"]["rotateOrganizationKey"] == {"keyVersion": 2, "reencryption": "PENDING"}
    # One at a time: the re-encryption is still open.
    again = await api.gql(ROTATE, {"id": team.org_id}, token=token(team, Role.OWNER))
    assert error_code(again) == "CONFLICT"
    await run_jobs(app)
    assert all(str(r["email"]).startswith("enc:v1:2:") for r in await raw_rows("leads"))
    shown = await api.gql(LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] == "hedy@example.com"
    states = {k.version: k.state for k in await DataKey.filter(organization_id=team.org.id)}
    assert states == {1: KeyState.RETIRED, 2: KeyState.ACTIVE}
    [event] = await ActivityEvent._scoped(team.org.id).filter(
        action="organization.key_rotated")
    assert event.summary == {"keyVersion": 2}
    body = await api.gql(ROTATE, {"id": team.org_id}, token=token(team, Role.OWNER))
    assert "errors" not in body, body  # the job is done: another rotation may start
    assert body["data"]["rotateOrganizationKey"]["keyVersion"] == 3


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
async def test_only_the_owner_rotates(api: Api, team: Team, role: Role) -> None:
    body = await api.gql(ROTATE, {"id": team.org_id}, token=token(team, role))
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "permission": "org:keys"}


async def test_another_org_and_tokens_are_refused(api: Api, team: Team, rival: Team) -> None:
    assert error_code(await api.gql(ROTATE, {"id": team.org_id},
                                    token=token(rival, Role.OWNER))) == "NOT_FOUND"
    scoped = await make_token(team, ["org:read"])
    assert error_code(await api.gql(ROTATE, {"id": team.org_id},
                                    token=scoped.secret)) == "FORBIDDEN"
    assert error_code(await api.gql(ROTATE, {"id": "not-an-id"},
                                    token=token(team, Role.OWNER))) in {"BAD_USER_INPUT",
                                                                        "NOT_FOUND"}
    assert await DataKey.filter(organization_id=team.org.id, version=2).count() == 0


async def test_rotations_are_rate_limited_per_organization(settings: Settings,
                                                           team: Team, rival: Team) -> None:
    async with api_with(settings, key_rotation_rate="2/day") as limited:
        for version in (2, 3):
            body = await limited.gql(ROTATE, {"id": team.org_id}, token=token(team, Role.OWNER))
            assert "errors" not in body, body
            assert body["data"]["rotateOrganizationKey"]["keyVersion"] == version
            # The re-encryption done (no data to re-encrypt): only the rate stands in the way.
            await ScheduledWork.filter(organization_id=team.org.id).update(
                status=WorkStatus.DONE)
        (error,) = (await limited.gql(ROTATE, {"id": team.org_id},
                                      token=token(team, Role.OWNER)))["errors"]
        # Another organization has its own budget.
        other = await limited.gql(ROTATE, {"id": rival.org_id}, token=token(rival, Role.OWNER))
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["reason"] == "KEY_ROTATIONS"
    assert 0 < error["extensions"]["retryAfter"] <= 86400
    assert await DataKey.filter(organization_id=team.org.id, version=4).count() == 0
    assert other["data"]["rotateOrganizationKey"]["keyVersion"] == 2, other
