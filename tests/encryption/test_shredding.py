"""Crypto-shredding: an organization's deletion destroys its keys first, so a backup of the data
taken before, restored with the current keystore, shows that org's personal fields as
unreadable (plainly, no crash) while another org reads normally."""

from __future__ import annotations

from typing import Any

from keystore.models import DataKey, KeyState
from models.jobs import ScheduledWork
from models.orgs import Role
from tests.conftest import Api
from tests.encryption.conftest import restore, snapshot
from tests.encryption.test_at_rest import LEAD, add_note
from tests.forms.conftest import make_form
from tests.forms.test_submissions_api import SUBMISSIONS, submit
from tests.leads.conftest import create_lead, token
from tests.orgs.conftest import Team, gid
from tests.privacy.conftest import pass_grace_period, run_due_work

DELETE = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    id } } }"""


async def test_a_backup_of_a_deleted_org_restored_is_unreadable(
        api: Api, app: Any, team: Team, rival: Team) -> None:
    ours = await create_lead(api, team, name="Hedy Lamarr", email="hedy@example.com",
                             phone="+14155552671", address={"line1": "Mandlgasse 17"})
    await add_note(api, team, ours["id"], "Frequency hopping")
    theirs = await create_lead(api, rival, name="Grace Hopper", email="grace@example.com")
    await add_note(api, rival, theirs["id"], "COBOL")
    form = await make_form(team.org)
    await submit(app, form, email="h.kiesler@example.com", message="Spread spectrum")
    backup = await snapshot()  # taken before the deletion

    body = await api.gql(DELETE, {"id": team.org_id, "slug": team.slug},
                         token=token(team, Role.OWNER))
    assert "errors" not in body, body
    work = await ScheduledWork.filter(organization_id=team.org.id).first()
    assert work is not None
    await pass_grace_period(work.id)
    await run_due_work(app)
    # Keys destroyed first: their wrapped bytes are gone; the other org's are untouched.
    destroyed = await DataKey.filter(organization_id=team.org.id)
    assert destroyed and all(k.state is KeyState.DESTROYED and k.wrapped is None
                             and k.destroyed_at for k in destroyed)
    assert all(k.state is KeyState.ACTIVE
               for k in await DataKey.filter(organization_id=rival.org.id))

    await restore(backup)  # the old copy of the data, with the keystore as it is now
    shown = await api.gql(LEAD, {"id": ours["id"]}, token=token(team, Role.MEMBER))
    assert "errors" not in shown, shown
    lead = shown["data"]["node"]
    assert lead["personalDataUnreadable"] is True
    assert lead["email"] is None and lead["phone"] is None and lead["address"] is None
    assert lead["notes"]["nodes"] == [{"body": "", "bodyUnreadable": True}]
    # The submission and its consent receipt: unreadable values read as nothing, no error.
    listed = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)},
                           token=token(team, Role.MEMBER))
    assert "errors" not in listed, listed
    [node] = listed["data"]["leadForm"]["submissions"]["nodes"]
    assert set(node["values"].values()) == {None}
    other = (await api.gql(LEAD, {"id": theirs["id"]}, token=token(rival, Role.MEMBER)))
    assert other["data"]["node"]["email"] == "grace@example.com"
    assert other["data"]["node"]["personalDataUnreadable"] is False
    assert other["data"]["node"]["notes"]["nodes"] == [{"body": "COBOL",
                                                        "bodyUnreadable": False}]
