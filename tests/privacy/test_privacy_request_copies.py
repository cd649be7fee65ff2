"""The copy handed to a privacy request's requester (docs/privacy-requests.md) goes with its
organization: deleting the organization deletes the stored copies before its rows go."""

from __future__ import annotations

from typing import Any

from strawberry import relay

from core.settings import Settings
from models.jobs import ScheduledWork
from models.orgs import Role
from resolvers.privacy_requests import export_key_of
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import pass_grace_period, run_due_work, services_of
from tests.privacy.test_org_deletion import DELETE
from tests.privacy_requests.conftest import COMPLETE, verified_request
from tests.smtp import Inbox


async def test_deleting_the_organization_deletes_its_access_copies(
        app: Any, api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    request = await verified_request(api.http, settings, inbox, team.org)
    done = await api.gql(COMPLETE, {"id": str(relay.GlobalID("PrivacyRequest", str(request.id)))},
                         token=team.people[Role.ADMIN].token)
    assert done["data"]["completePrivacyRequest"]["privacyRequest"]["status"] == "COMPLETED"
    storage = services_of(app).storage
    key = export_key_of(request.id)
    assert await storage.load(key) is not None

    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    (work,) = await ScheduledWork.filter(organization_id=team.org.id)
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert (await ScheduledWork.get(id=work.id)).status.value == "done"
    assert await storage.load(key) is None
