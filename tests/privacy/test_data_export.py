"""requestDataExport and exportOrganization end to end over HTTP: the request records the work,
a job builds the ZIP, an email and `me.dataExports` give a single-use, expiring link."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.accounts import User
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.orgs import Role
from tests.conftest import Api, error_code
from tests.leads.conftest import create_lead
from tests.leads.test_export import export as export_leads
from tests.leads.test_export import rows as lead_rows
from tests.orgs.conftest import Team, add_invitation
from tests.privacy.conftest import data_json, download, run_jobs, services_of, unzip
from tests.smtp import Inbox, body_of, token_in

REQUEST = "mutation { requestDataExport { dataExport { id status kind downloadUrl } } }"
EXPORTS = """{ me { dataExports { nodes { id kind status requestedAt finishedAt expiresAt
  sizeBytes error downloadUrl organizationId } } } }"""
EXPORT_ORG = """mutation($id: ID!) { exportOrganization(input: {organizationId: $id}) {
  dataExport { id status kind
  organizationId } } }"""
CREATE_LEAD = "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }"
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }"


async def _lead_with_notes(api: Api, team: Team) -> str:
    member, admin = team.people[Role.MEMBER], team.people[Role.ADMIN]
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Lena Lead",
                                             "email": "lena@lead.example"}},
                         token=member.token)
    lead = body["data"]["createLead"]["lead"]["id"]
    for who, text in ((member, "Mia called Lena"), (admin, "Adam's private thought")):
        body = await api.gql(ADD_NOTE, {"i": {"leadId": lead, "body": text}}, token=who.token)
        assert "errors" not in body, body
    return lead


def _link(inbox: Inbox, to: str) -> str:
    (mail,) = inbox.to(to, "export is ready")
    (line,) = [line for line in body_of(mail).splitlines() if "/exports/" in line]
    return line.strip()


async def test_a_user_gets_everything_about_them_once_and_nothing_about_others(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    member = team.people[Role.MEMBER]
    await _lead_with_notes(api, team)
    await add_invitation(team, "friend@example.com", invited_by=member.user)

    body = await api.gql(REQUEST, token=member.token)
    assert body["data"]["requestDataExport"]["dataExport"]["status"] == "PENDING"
    assert body["data"]["requestDataExport"]["dataExport"]["kind"] == "PERSONAL"
    assert body["data"]["requestDataExport"]["dataExport"]["downloadUrl"] is None
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert work.status is WorkStatus.PENDING and work.user_id == member.user.id
    # Asking again while it is being prepared gives the same export.
    again = await api.gql(REQUEST, token=member.token)
    assert again["data"]["requestDataExport"]["dataExport"]["id"] == \
        body["data"]["requestDataExport"]["dataExport"]["id"]

    await run_jobs(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE and work.archive_key and work.download_token_hash
    link = _link(inbox, member.email)
    assert link.split("/exports/")[1] not in str(await ScheduledWork.all().values())  # hashed

    response = await download(http, link)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    files = unzip(response.content)
    data = data_json(files)
    assert data["account"]["email"] == member.email
    assert "password" not in str(data["account"]).lower()
    assert [m["organization_slug"] for m in data["memberships"]] == ["acme"]
    assert len(data["sessions"]) == 1
    assert [i["organization_slug"] for i in data["invitationsSent"]] == ["acme"]
    assert [n["body"] for n in data["notes"]] == ["Mia called Lena"]
    assert {a["action"] for a in data["activity"]} >= {"lead.created", "note.added"}
    text = files["data.json"]
    # Nobody else's personal data: not the admin's note, name or email, not the lead's email.
    for other in ("Adam's private thought", team.people[Role.ADMIN].email, "Adam Admin",
                  "Olive Owner", "lena@lead.example", "friend@example.com"):
        assert other not in text, other

    # The link works once.
    assert (await download(http, link)).status_code == 404
    # me.dataExports shows it, with a fresh single-use link.
    listed = (await api.gql(EXPORTS, token=member.token))["data"]["me"]["dataExports"]["nodes"]
    (export,) = listed
    assert export["status"] == "DONE" and export["sizeBytes"] == len(response.content)
    assert export["error"] is None and export["organizationId"] is None
    fresh = export["downloadUrl"]
    assert (await download(http, fresh)).status_code == 200
    assert (await download(http, fresh)).status_code == 404
    # Someone else sees none of it.
    others = await api.gql(EXPORTS, token=team.people[Role.ADMIN].token)
    assert others["data"]["me"]["dataExports"]["nodes"] == []


async def test_an_expired_export_has_no_link_and_the_sweep_deletes_its_archive(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox,
        media_root: Path) -> None:
    from jobs.sweep import sweep

    member = team.people[Role.MEMBER]
    await api.gql(REQUEST, token=member.token)
    await run_jobs(app)
    link = _link(inbox, member.email)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert (media_root / work.archive_key).is_file()
    await ScheduledWork.filter(id=work.id).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert (await download(http, link)).status_code == 404
    (export,) = (await api.gql(EXPORTS, token=member.token))["data"]["me"]["dataExports"]["nodes"]
    assert export["downloadUrl"] is None
    report = await sweep(services_of(app))
    assert report.retention and report.retention.deleted["export_archives"] == 1
    assert not (media_root / work.archive_key).exists()
    work = await ScheduledWork.get(id=work.id)
    assert work.archive_key is None and work.download_token_hash is None
    (export,) = (await api.gql(EXPORTS, token=member.token))["data"]["me"]["dataExports"]["nodes"]
    assert export["status"] == "DONE" and export["expiresAt"] is None


async def test_a_bad_or_unknown_download_token_is_a_plain_404(http: httpx.AsyncClient) -> None:
    for token in ("nope", "rlk_exp_" + "x" * 43, "x" * 500):
        response = await http.get(f"/exports/{token}")
        assert response.status_code == 404
        assert "unknown, used or expired" in response.json()["error"]


async def test_an_archive_is_never_served_as_media(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team) -> None:
    await api.gql(REQUEST, token=team.people[Role.MEMBER].token)
    await run_jobs(app)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert (await http.get(f"/media/{work.archive_key}")).status_code == 404
    assert (await http.get(f"/media/avatars/../{work.archive_key}")).status_code == 404


async def test_the_owner_exports_the_organization_as_json_and_csv(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    await _lead_with_notes(api, team)
    owner = team.people[Role.OWNER]
    body = await api.gql(EXPORT_ORG, {"id": team.org_id}, token=owner.token)
    assert "errors" not in body, body
    assert body["data"]["exportOrganization"]["dataExport"]["kind"] == "ORGANIZATION"
    assert body["data"]["exportOrganization"]["dataExport"]["organizationId"] == team.org_id
    await run_jobs(app)
    files = unzip((await download(http, _link(inbox, owner.email))).content)
    for table in ("organization", "members", "leads", "notes", "activity", "invitations",
                  "api_tokens", "billing", "invoices"):
        assert f"{table}.json" in files and f"{table}.csv" in files, table
    leads = list(csv.DictReader(io.StringIO(files["leads.csv"])))
    assert [(lead["name"], lead["email"]) for lead in leads] == [("Lena Lead",
                                                                 "lena@lead.example")]
    assert sorted(n["body"] for n in list(csv.DictReader(io.StringIO(files["notes.csv"])))) \
        == ["Adam's private thought", "Mia called Lena"]
    assert "token_hash" not in files["api_tokens.csv"] and "password" not in files["members.csv"]
    assert {m["role"] for m in list(csv.DictReader(io.StringIO(files["members.csv"])))} == \
        {"owner", "admin", "member", "viewer"}
    (export,) = (await api.gql(EXPORTS, token=owner.token))["data"]["me"]["dataExports"]["nodes"]
    assert export["kind"] == "ORGANIZATION" and export["status"] == "DONE"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
async def test_only_the_owner_exports_the_organization(api: Api, team: Team,
                                                       role: Role) -> None:
    body = await api.gql(EXPORT_ORG, {"id": team.org_id}, token=team.people[role].token)
    assert error_code(body) == "FORBIDDEN"
    assert await ScheduledWork.all().count() == 0


async def test_another_org_is_not_found(api: Api, team: Team, settings: Settings) -> None:
    from tests.orgs.conftest import make_team

    rival = await make_team(api, settings, "globex", prefix="rival.")
    body = await api.gql(EXPORT_ORG, {"id": rival.org_id}, token=team.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"


async def test_a_failing_export_is_retried_then_failed_and_visible(
        api: Api, app: Any, team: Team, media_root: Path, inbox: Inbox) -> None:
    def break_the_disk() -> None:  # a file where the media directory should be
        media_root.parent.mkdir(parents=True, exist_ok=True)
        media_root.write_bytes(b"not a directory")
    break_the_disk()
    member = team.people[Role.MEMBER]
    await api.gql(REQUEST, token=member.token)
    await run_jobs(app)  # the first attempt and both retries (no wait between them here)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert work.status is WorkStatus.FAILED
    assert work.attempts == 3 and work.last_error and work.archive_key is None
    (export,) = (await api.gql(EXPORTS, token=member.token))["data"]["me"]["dataExports"]["nodes"]
    assert export["status"] == "FAILED" and export["error"] and export["downloadUrl"] is None
    assert "not a directory" not in export["error"]  # no internals
    assert inbox.to(member.email) == []
    # A new request starts afresh.
    body = await api.gql(REQUEST, token=member.token)
    assert body["data"]["requestDataExport"]["dataExport"]["status"] == "PENDING"


async def _personal_export(api: Api, http: httpx.AsyncClient, app: Any, inbox: Inbox,
                           email: str, token: str) -> dict[str, Any]:
    inbox.messages.clear()
    body = await api.gql(REQUEST, token=token)
    assert "errors" not in body, body
    await run_jobs(app)
    response = await download(http, _link(inbox, email))
    assert response.status_code == 200
    return data_json(unzip(response.content))


async def test_an_unverified_address_sees_no_invitations_in_its_export(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    await add_invitation(team, "newbie@example.com", role=Role.ADMIN)
    signed_up = await api.sign_up(email="newbie@example.com", name="Nina Newbie")
    # An address never proved, as accounts were made before signUp confirmed the address.
    await User.filter(email="newbie@example.com").update(email_verified=False)
    body = await api.gql("mutation { requestEmailVerification { sent } }",
                         token=signed_up["accessToken"])
    assert body == {"data": {"requestEmailVerification": {"sent": True}}}
    (verification,) = inbox.to("newbie@example.com", "Confirm your email")
    data = await _personal_export(api, http, app, inbox, "newbie@example.com",
                                  signed_up["accessToken"])
    assert data["account"]["emailVerified"] is False
    assert data["invitationsReceived"] == []
    assert "Team acme" not in json.dumps(data) and "admin" not in json.dumps(data)

    # Once the address is theirs, the invitations to it are theirs too.
    body = await api.gql("mutation($t: String!) { verifyEmail(input: {token: $t}) "
                         "{ user { id } } }",
                         {"t": token_in(verification, "verify-email")})
    assert "errors" not in body, body
    data = await _personal_export(api, http, app, inbox, "newbie@example.com",
                                  signed_up["accessToken"])
    assert [(i["organization_name"], i["role"]) for i in data["invitationsReceived"]] == [
        ("Team acme", "admin")]


async def test_invitations_sent_keep_the_senders_data_not_the_invitees_address(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    member = team.people[Role.MEMBER]
    await add_invitation(team, "friend@example.com", role=Role.VIEWER, invited_by=member.user)
    data = await _personal_export(api, http, app, inbox, member.email, member.token)
    (sent,) = data["invitationsSent"]
    assert sent["role"] == "viewer" and sent["organization_slug"] == "acme"
    assert sent["created_at"] and sent["expires_at"]
    assert "friend@example.com" not in json.dumps(data)
    assert "email" not in sent


async def test_the_organization_export_csv_runs_no_formula(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    """As in exportLeads: a trigger after a separator is neutralised too, for spreadsheets that
    split on `;`."""
    owner = team.people[Role.OWNER]
    body = await api.gql("mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
                         {"i": {"organizationId": team.org_id, "name": "Acme;=1+2;",
                                "tags": ["=cmd|' /c calc'!a0"]}}, token=owner.token)
    assert "errors" not in body, body
    assert "errors" not in await api.gql(EXPORT_ORG, {"id": team.org_id}, token=owner.token)
    await run_jobs(app)
    files = unzip((await download(http, _link(inbox, owner.email))).content)
    (lead,) = list(csv.DictReader(io.StringIO(files["leads.csv"])))
    assert lead["name"] == "Acme;'=1+2;"
    for line in files["leads.csv"].splitlines():
        for piece in line.replace(",", ";").split(";"):
            assert not piece.strip(' "').startswith(("=", "+", "@")), line


async def test_both_csv_exports_escape_a_cell_the_same_way(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, inbox: Inbox) -> None:
    """exportLeads and the organization export share one cell escaper: the same tricky lead
    reads the same in both files, column by column (tags aside: a list there, `;`-joined here)."""
    owner = team.people[Role.OWNER]
    await create_lead(api, team, name="=HYPERLINK(\"http://evil\")", company="Navy, -1+1",
                      title="Boss;@sum(a1)", phone="+1 415 555 2671",
                      address={"city": "Springfield; +1", "line1": 'Main;"=1'})
    (lead_row,) = lead_rows(await export_leads(api, team, Role.OWNER))
    assert "errors" not in await api.gql(EXPORT_ORG, {"id": team.org_id}, token=owner.token)
    await run_jobs(app)
    files = unzip((await download(http, _link(inbox, owner.email))).content)
    (org_row,) = list(csv.DictReader(io.StringIO(files["leads.csv"])))
    columns = ["name", "company", "title", "phone", "address_city", "address_line1"]
    assert {c: org_row[c] for c in columns} == {c: lead_row[c] for c in columns}
    assert lead_row["phone"] == "'+14155552671" and lead_row["name"].startswith("'=")
