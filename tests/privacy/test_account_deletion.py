"""deleteAccount end to end over HTTP: refusals, what ends at once, cancelling in the grace
period, and what the deletion leaves (anonymised) when it runs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from auth.oauth_credentials import ACCESS_PREFIX, digest, new_code, new_secret
from core.settings import Settings
from models.accounts import Session, User
from models.activity import ActivityEvent
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.leads import Note
from models.oauth import OAuthApp, OAuthCode, OAuthGrant, OAuthToken, TokenKind
from models.orgs import Membership, Organization, Role
from models.tokens import ApiToken
from realtime.events import user_topic
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of
from tests.oauth.conftest import register
from tests.oauth.test_creator_standing import works
from tests.orgs.conftest import CREATE_ORG, Team, signed_in
from tests.privacy.conftest import pass_grace_period, run_due_work, run_jobs
from tests.tokens.conftest import make_token

DELETE = """mutation($p: String!) { deleteAccount(input: {password: $p}) { scheduledDeletion {
  id status dueAt } } }"""
CANCEL = "mutation { cancelAccountDeletion { scheduledDeletion { status canceledAt } } }"
ME = "{ me { id accountDeletion { status dueAt } } }"
LOG_IN = """mutation($e: String!, $p: String!) {
  logIn(input: {email: $e, password: $p}) { accessToken } }"""
CREATE_LEAD = "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }"
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }"


async def test_a_wrong_password_is_refused_and_changes_nothing(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER]
    body = await api.gql(DELETE, {"p": "not-my-password-at-all"}, token=member.token)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"] == {"password": "is not your password"}
    assert await ScheduledWork.all().count() == 0
    assert "errors" not in await api.gql(ME, token=member.token)


async def test_the_only_owner_of_an_org_with_members_must_hand_it_over_first(
        api: Api, team: Team) -> None:
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=team.people[Role.OWNER].token)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["organization"] == "acme"
    assert await ScheduledWork.all().count() == 0
    assert await Session.filter(user_id=team.people[Role.OWNER].user.id,
                                revoked_at__isnull=True).count() == 1


async def test_an_api_token_cannot_delete_an_account(api: Api, team: Team) -> None:
    token = await make_token(team, ["org:read"])
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=token.secret)
    assert error_code(body) == "FORBIDDEN"


async def test_sessions_and_tokens_end_at_once_and_signing_in_again_cancels(
        api: Api, app: Any, team: Team, settings: Settings) -> None:
    admin = team.people[Role.ADMIN]
    token = await make_token(team, ["org:read"], creator=Role.ADMIN)
    other = await make_token(team, ["org:read"], creator=Role.OWNER)
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=admin.token)
    scheduled = body["data"]["deleteAccount"]["scheduledDeletion"]
    assert scheduled["status"] == "PENDING"
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    grace = work.due_at - work.created_at
    assert abs(grace.total_seconds() - 14 * 86400) < 5
    assert settings.account_deletion_grace_days == 14
    # Every session and every token the person created ended; others' tokens did not.
    assert error_code(await api.gql(ME, token=admin.token)) == "UNAUTHENTICATED"
    assert error_code(await api.gql("{ me { id } }", token=token.secret)) in {
        "UNAUTHENTICATED", "FORBIDDEN"}
    assert (await ApiToken._scoped(team.org.id).get(id=token.row.id)).revoked_at is not None
    assert (await ApiToken._scoped(team.org.id).get(id=other.row.id)).revoked_at is None
    revoked = await ActivityEvent._scoped(team.org.id).filter(action="api_token.revoked")
    assert [e.summary["reason"] for e in revoked] == ["account_deletion"]

    # Signing in again is allowed; the account shows its deletion, and it can be called off.
    login = await api.gql(LOG_IN, {"e": admin.email, "p": STRONG_PASSWORD})
    fresh = login["data"]["logIn"]["accessToken"]
    me = await api.gql(ME, token=fresh)
    assert me["data"]["me"]["accountDeletion"]["status"] == "PENDING"
    canceled = await api.gql(CANCEL, token=fresh)
    assert canceled["data"]["cancelAccountDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    assert error_code(await api.gql(CANCEL, token=fresh)) == "NOT_FOUND"
    me = await api.gql(ME, token=fresh)
    assert me["data"]["me"]["accountDeletion"] is None

    # The day comes and goes: nothing happens to a canceled deletion.
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert await User.exists(id=admin.user.id)
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.CANCELED


async def test_the_deletion_removes_the_person_and_keeps_their_work_anonymised(
        api: Api, http: httpx.AsyncClient, app: Any, team: Team, settings: Settings) -> None:
    member = team.people[Role.MEMBER]
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Lena"}},
                         token=member.token)
    lead = body["data"]["createLead"]["lead"]["id"]
    body = await api.gql(ADD_NOTE, {"i": {"leadId": lead, "body": "Mia's note"}},
                         token=member.token)
    assert "errors" not in body, body
    # An org where the member is alone goes with the account.
    body = await api.gql(CREATE_ORG, {"input": {"name": "Solo", "slug": "solo"}},
                         token=member.token)
    assert "errors" not in body, body
    solo = await Organization.get(slug="solo")

    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=member.token)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await run_jobs(app)  # not due yet: nothing happens
    assert await User.exists(id=member.user.id)
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.PENDING

    await pass_grace_period(work.id)
    await run_due_work(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE, work.last_error
    assert not await User.exists(id=member.user.id)
    assert not await Session.exists(user_id=member.user.id)
    assert not await Membership.of_user(member.user.id).exists()
    assert not await Organization.exists(id=solo.id)
    (note,) = await Note._scoped(team.org.id)
    assert note.body == "Mia's note" and note.author_id is None
    events = await ActivityEvent._scoped(team.org.id).filter(action__in=["lead.created",
                                                                        "note.added"])
    assert len(events) == 2
    assert all(e.actor_id is None and e.ip is None and e.user_agent is None for e in events)
    # Others see the note with no author.
    notes = await api.gql("query($id: ID!) { lead(id: $id) { notes(first: 5) { nodes { body "
                          "author { id } } } } }", {"id": lead},
                          token=team.people[Role.ADMIN].token)
    assert notes["data"]["lead"]["notes"]["nodes"] == [{"body": "Mia's note", "author": None}]
    # The email appears nowhere any more.
    for row in await ActivityEvent._scoped(team.org.id).values("summary"):
        assert member.email not in str(row)


async def test_a_last_owner_whose_org_gained_members_hands_it_over_when_deleted(
        api: Api, app: Any, settings: Settings) -> None:
    owner = await signed_in(settings, "owner@example.com", "Olive")
    body = await api.gql(CREATE_ORG, {"input": {"name": "Shop", "slug": "shop"}},
                         token=owner.token)
    assert "errors" not in body
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=owner.token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING"
    org = await Organization.get(slug="shop")
    joiner = await signed_in(dataclasses.replace(settings), "joiner@example.com", "Jo")
    await Membership.create(organization=org, user=joiner.user, role=Role.MEMBER)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(work.id)
    broker = app.state.services.broker  # Redis when REDIS_URL is set, else in process
    async with broker.subscribe([user_topic(joiner.user.id)]) as events:
        await asyncio.sleep(0.2)  # let a Redis subscription settle
        await run_due_work(app)
        # The new OWNER's own membership events hear of it, as of any other change.
        message = await asyncio.wait_for(anext(events), timeout=5)
    assert message["action"] == "organization.ownership_transferred"
    assert message["organizationId"] == str(org.id) and message["actorId"] is None
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.DONE
    assert await Organization.exists(id=org.id)
    (membership,) = await Membership._scoped(org.id)
    assert membership.user_id == joiner.user.id and membership.role is Role.OWNER


async def _tables() -> list[str]:
    from tortoise import connections

    from tests.conftest import TEST_DB
    connection = connections.get("default")
    if TEST_DB == "postgres":
        rows = await connection.execute_query_dict(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
    else:
        rows = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'")
    return [row["name"] for row in rows]


async def test_after_the_deletion_the_email_and_name_appear_nowhere(
        api: Api, app: Any, team: Team, settings: Settings, media_root: Path) -> None:
    from tortoise import connections

    from tests.orgs.conftest import add_invitation
    member = await signed_in(settings, "zelda.unique@example.com", "Zelda Uniquename")
    await Membership.create(organization=team.org, user=member.user, role=Role.MEMBER)
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Lena"}},
                         token=member.token)
    lead = body["data"]["createLead"]["lead"]["id"]
    await api.gql(ADD_NOTE, {"i": {"leadId": lead, "body": "A note"}}, token=member.token)
    await add_invitation(team, "zelda.unique@example.com")  # addressed to her
    await api.gql("mutation { requestDataExport { dataExport { id } } }", token=member.token)
    await run_jobs(app)
    assert len(list((media_root / "exports").iterdir())) == 1
    await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=member.token)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.DONE
    assert list((media_root / "exports").iterdir()) == []  # her export archive went too
    connection = connections.get("default")
    for table in await _tables():
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        text = str(rows).lower()
        for secret in ("zelda.unique", "uniquename"):
            assert secret not in text, f"{secret} in {table}"


async def test_the_deletion_ends_credentials_made_in_the_grace_period(
        api: Api, app: Any, team: Team, settings: Settings) -> None:
    """Whatever the person made that still works when the deletion runs ends with them, however
    it got made: here in the grace period, after deleteAccount had ended what they had (written
    directly, as the API made them before it refused to, or as a request racing the deletion
    can). Others' credentials stay."""
    admin = team.people[Role.ADMIN]
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=admin.token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING"
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    login = await api.gql(LOG_IN, {"e": admin.email, "p": STRONG_PASSWORD})
    assert "errors" not in login, login

    token = await make_token(team, ["org:read"], creator=Role.ADMIN)
    others = await make_token(team, ["org:read"], creator=Role.OWNER)
    partner = await signed_in(settings, "dev@partner.example.com", "Paula Partner")
    partner_app = await register(api, partner, scopes=["org:read"])
    app_row = await OAuthApp.get(client_id=partner_app.client_id)
    now = datetime.now(UTC)
    grant = await OAuthGrant.create(organization=team.org, app_id=app_row.id,
                                    created_by_id=admin.user.id, scopes=["org:read"])
    access = new_secret(ACCESS_PREFIX)
    await OAuthToken.create(organization=team.org, grant=grant, kind=TokenKind.ACCESS,
                            token_hash=digest(access), expires_at=now + timedelta(hours=1))
    await OAuthCode.create(organization=team.org, app_id=app_row.id, user_id=admin.user.id,
                           code_hash=digest(new_code()), redirect_uri=partner_app.redirect_uri,
                           scopes=["org:read"], code_challenge="x" * 43,
                           code_challenge_method="S256", expires_at=now + timedelta(minutes=5))
    assert await works(api, token.secret) and await works(api, access)

    await pass_grace_period(work.id)
    await run_due_work(app)
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.DONE, work.last_error
    assert not await works(api, token.secret)
    assert not await works(api, access)
    assert await works(api, others.secret)
    row = await ApiToken._scoped(team.org.id).get(id=token.row.id)
    assert row.revoked_at is not None and row.created_by_id is None
    row = await OAuthGrant._scoped(team.org.id).get(id=grant.id)
    assert row.revoked_at is not None and row.created_by_id is None
    assert await OAuthCode._scoped(team.org.id).filter(used_at__isnull=True).count() == 0
    assert not await Session.exists(user_id=admin.user.id)
    ended = await ActivityEvent._scoped(team.org.id).filter(
        action__in=["api_token.revoked", "oauth_app.revoked"], target_id__in=[token.row.id,
                                                                              grant.id])
    assert sorted((e.action, e.summary["reason"]) for e in ended) == [
        ("api_token.revoked", "account_deleted"), ("oauth_app.revoked", "account_deleted")]
