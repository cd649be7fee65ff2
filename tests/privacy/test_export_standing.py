"""An export archive lives no longer than the standing and the data it was made for: a download
re-checks its requester's standing, and an organization's deletion, an account's deletion and
a data subject's erasure delete the archives they make obsolete (files and links)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Membership, Role
from tests.conftest import STRONG_PASSWORD, TEST_DB, Api
from tests.orgs.conftest import Team, add_member
from tests.privacy.conftest import (
    download,
    pass_grace_period,
    run_due_work,
    run_jobs,
    unzip,
)
from tests.smtp import Inbox, body_of

EXPORT_ORG = """mutation($id: ID!) { exportOrganization(input: {organizationId: $id}) {
  dataExport { id } } }"""
EXPORTS = "{ me { dataExports { nodes { id kind status downloadUrl } } } }"
REMOVE = "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }"
DEMOTE = """mutation($id: ID!) {
  updateMemberRole(input: {membershipId: $id, role: ADMIN}) { membership { id } } }"""
LEAVE = "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }"
DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    id } } }"""
DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { id } } }"""
CREATE_LEAD = "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }"
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted } } }"""
GRACE = "grace.hopper@navy.example"


def _links(inbox: Inbox, to: str) -> list[str]:
    return [line.strip() for mail in inbox.to(to, "export is ready")
            for line in body_of(mail).splitlines() if "/exports/" in line]


async def _unknown(http: httpx.AsyncClient) -> dict[str, Any]:
    """What a stranger with a made-up link gets: the answer every refused link must match."""
    response = await http.get("/exports/rlk_exp_" + "x" * 43)
    assert response.status_code == 404
    return response.json()


async def _export_org(api: Api, app: Any, team: Team, token: str, inbox: Inbox,
                      email: str) -> tuple[str, ScheduledWork]:
    body = await api.gql(EXPORT_ORG, {"id": team.org_id}, token=token)
    assert "errors" not in body, body
    await run_jobs(app)
    work = await ScheduledWork.get(
        id=_raw_id(body["data"]["exportOrganization"]["dataExport"]["id"]))
    assert work.archive_key, work.last_error
    (link,) = _links(inbox, email)
    inbox.messages.clear()
    return link, work


def _raw_id(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]


@pytest.mark.parametrize("how", ["removed", "demoted", "left"])
async def test_a_co_owner_who_lost_their_standing_cannot_download_the_org_export(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, settings: Settings,
        inbox: Inbox, how: str) -> None:
    co, membership = await add_member(settings, team, "co.owner@example.com", Role.OWNER,
                                      "Coco Owner")
    link, _ = await _export_org(api, app, team, co.token, inbox, co.email)
    owner = team.people[Role.OWNER].token
    if how == "removed":
        body = await api.gql(REMOVE, {"id": membership}, token=owner)
    elif how == "demoted":
        body = await api.gql(DEMOTE, {"id": membership}, token=owner)
    else:
        body = await api.gql(LEAVE, {"id": team.org_id}, token=co.token)
    assert "errors" not in body, body
    response = await download(http, link)
    assert response.status_code == 404
    assert response.json() == await _unknown(http)  # nothing says why
    (export,) = (await api.gql(EXPORTS, token=co.token))["data"]["me"]["dataExports"]["nodes"]
    assert export["downloadUrl"] is None


async def test_a_co_owner_still_in_standing_downloads_the_org_export(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, settings: Settings,
        inbox: Inbox) -> None:
    co, _ = await add_member(settings, team, "co.owner@example.com", Role.OWNER, "Coco Owner")
    link, _ = await _export_org(api, app, team, co.token, inbox, co.email)
    response = await download(http, link)
    assert response.status_code == 200
    assert "members.json" in unzip(response.content)


async def test_the_org_deletion_deletes_its_export_archives_and_links(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, settings: Settings,
        inbox: Inbox, media_root: Path) -> None:
    owner = team.people[Role.OWNER]
    co, _ = await add_member(settings, team, "co.owner@example.com", Role.OWNER, "Coco Owner")
    await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Lena Lead",
                                      "email": "lena@lead.example"}}, token=owner.token)
    owner_link, owner_work = await _export_org(api, app, team, owner.token, inbox, owner.email)
    co_link, co_work = await _export_org(api, app, team, co.token, inbox, co.email)
    # A personal export of a member is theirs, not the organization's: it stays.
    await api.gql("mutation { requestDataExport { dataExport { id } } }", token=co.token)
    await run_jobs(app)
    (personal,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    for work in (owner_work, co_work, personal):
        assert (media_root / work.archive_key).is_file()

    body = await api.gql(DELETE_ORG, {"id": team.org_id, "slug": "acme"}, token=owner.token)
    assert "errors" not in body, body
    # The grace period: the organization is still there, and so are its owners' copies.
    (deletion,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await pass_grace_period(deletion.id)
    await run_due_work(app)
    assert (await ScheduledWork.get(id=deletion.id)).status.value == "done"

    for work in (owner_work, co_work):
        assert not (media_root / work.archive_key).exists()
        row = await ScheduledWork.get(id=work.id)
        assert row.archive_key is None and row.download_token_hash is None
    unknown = await _unknown(http)
    for link in (owner_link, co_link):
        response = await download(http, link)
        assert response.status_code == 404 and response.json() == unknown
    assert (media_root / personal.archive_key).is_file()
    for person in (owner, co):
        listed = (await api.gql(EXPORTS, token=person.token))["data"]["me"]["dataExports"]["nodes"]
        assert all(e["downloadUrl"] is None for e in listed if e["kind"] == "ORGANIZATION")


async def test_an_org_deleted_with_its_only_members_account_takes_its_archives(
        api: Api, http: httpx.AsyncClient, app: Any, settings: Settings, inbox: Inbox,
        media_root: Path) -> None:
    from tests.orgs.conftest import make_team

    solo = await make_team(api, settings, "solo")
    owner = solo.people[Role.OWNER]
    link, work = await _export_org(api, app, solo, owner.token, inbox, owner.email)
    # A former member's copy of the same organization goes too.
    admin = solo.people[Role.ADMIN].user
    await ScheduledWork.filter(id=work.id).update(user_id=admin.id)
    await Membership._scoped(solo.org.id).exclude(role=Role.OWNER).delete()
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=owner.token)
    assert "errors" not in body, body
    (deletion,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(deletion.id)
    await run_due_work(app)
    assert not (media_root / work.archive_key).exists()
    assert (await ScheduledWork.get(id=work.id)).archive_key is None
    assert (await download(http, link)).status_code == 404


async def test_an_account_deletion_deletes_the_persons_export_archives_and_links(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox,
        media_root: Path) -> None:
    member = team.people[Role.MEMBER]
    await api.gql("mutation { requestDataExport { dataExport { id } } }", token=member.token)
    await run_jobs(app)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    (link,) = _links(inbox, member.email)
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=member.token)
    assert "errors" not in body, body
    (deletion,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(deletion.id)
    await run_due_work(app)
    assert not (media_root / work.archive_key).exists()
    row = await ScheduledWork.get(id=work.id)
    assert row.archive_key is None and row.download_token_hash is None
    response = await download(http, link)
    assert response.status_code == 404 and response.json() == await _unknown(http)


async def test_a_personal_export_link_dies_with_the_account(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    """Even with its archive still stored (a deletion that has not cleaned up yet), the link of
    a deleted account opens nothing."""
    from models.accounts import User

    member = team.people[Role.MEMBER]
    await api.gql("mutation { requestDataExport { dataExport { id } } }", token=member.token)
    await run_jobs(app)
    (link,) = _links(inbox, member.email)
    await User.filter(id=member.user.id).delete()
    response = await download(http, link)
    assert response.status_code == 404 and response.json() == await _unknown(http)


async def test_an_org_export_link_dies_with_the_organization(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    """Even with its archive still stored, the link to a deleted organization's export opens
    nothing."""
    from models.orgs import Organization

    owner = team.people[Role.OWNER]
    link, _ = await _export_org(api, app, team, owner.token, inbox, owner.email)
    await Organization.filter(id=team.org.id).delete()
    response = await download(http, link)
    assert response.status_code == 404 and response.json() == await _unknown(http)


async def test_an_erasure_deletes_the_org_exports_made_before_it(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, settings: Settings,
        inbox: Inbox, media_root: Path) -> None:
    owner = team.people[Role.OWNER]
    co, _ = await add_member(settings, team, "co.owner@example.com", Role.OWNER, "Coco Owner")
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id,
                                             "name": "Grace Hopper", "email": GRACE}},
                         token=owner.token)
    assert "errors" not in body, body
    link, work = await _export_org(api, app, team, owner.token, inbox, owner.email)
    co_link, co_work = await _export_org(api, app, team, co.token, inbox, co.email)
    await api.gql("mutation { requestDataExport { dataExport { id } } }", token=owner.token)
    await run_jobs(app)
    personal = await ScheduledWork.get(kind=WorkKind.USER_EXPORT)
    inbox.messages.clear()

    body = await api.gql(ERASE, {"org": team.org_id, "email": GRACE},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1, body

    unknown = await _unknown(http)
    for old, old_link in ((work, link), (co_work, co_link)):
        assert not (media_root / old.archive_key).exists()
        row = await ScheduledWork.get(id=old.id)
        assert row.archive_key is None and row.download_token_hash is None
        response = await download(http, old_link)
        assert response.status_code == 404 and response.json() == unknown
    listed = (await api.gql(EXPORTS, token=owner.token))["data"]["me"]["dataExports"]["nodes"]
    assert all(e["downloadUrl"] is None for e in listed if e["kind"] == "ORGANIZATION")
    # The personal export holds nothing of Grace's: it stays.
    assert (media_root / personal.archive_key).is_file()

    # An export made after the erasure works, without her.
    fresh, _ = await _export_org(api, app, team, owner.token, inbox, owner.email)
    response = await download(http, fresh)
    assert response.status_code == 200
    files = unzip(response.content)
    assert GRACE not in files["leads.json"] and "Grace Hopper" not in files["leads.json"]


async def test_an_erasure_that_finds_nobody_keeps_the_org_exports(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox,
        media_root: Path) -> None:
    owner = team.people[Role.OWNER]
    link, work = await _export_org(api, app, team, owner.token, inbox, owner.email)
    body = await api.gql(ERASE, {"org": team.org_id, "email": GRACE},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 0, body
    assert (media_root / work.archive_key).is_file()
    assert (await download(http, link)).status_code == 200


@pytest.mark.skipif(TEST_DB != "postgres", reason="holds a job mid-export with a table lock "
                                                  "(PostgreSQL)")
async def test_an_erasure_while_the_org_export_is_built_is_not_in_its_archive(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox,
        database_url: str) -> None:
    import asyncpg

    owner = team.people[Role.OWNER]
    await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Grace Hopper",
                                      "email": GRACE}}, token=owner.token)
    body = await api.gql(EXPORT_ORG, {"id": team.org_id}, token=owner.token)
    assert "errors" not in body, body
    # The job reads the leads, then waits for the invoices (read later) while Grace is erased.
    blocker = await asyncpg.connect(database_url)
    try:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE billing_invoices IN ACCESS EXCLUSIVE MODE")
        job = asyncio.create_task(run_jobs(app))
        for _ in range(200):
            if await blocker.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the export job never waited for the invoices")
        body = await api.gql(ERASE, {"org": team.org_id, "email": GRACE},
                             token=team.people[Role.ADMIN].token)
        assert body["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1, body
        await lock.rollback()
        await asyncio.wait_for(job, 30)
    finally:
        await blocker.close()
    (link,) = _links(inbox, owner.email)
    response = await download(http, link)
    assert response.status_code == 200
    files = unzip(response.content)
    assert "leads.json" in files and GRACE not in str(files) and "Grace Hopper" not in str(files)
