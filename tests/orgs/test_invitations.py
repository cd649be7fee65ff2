"""Invitations over HTTP, followed from the mail (a real aiosmtpd server) to the membership."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from core.settings import Settings
from models.accounts import User
from models.activity import ActivityEvent
from models.orgs import Invitation, Membership, Organization, Role
from server import create_app
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import (
    Team,
    events_of,
    gid,
    make_team,
    signed_in,
)
from tests.smtp import Inbox, body_of, free_port, token_in

INVITE = """mutation($i: InviteMemberInput!) {
  inviteMember(input: $i) { invitation { id email role createdAt expiresAt invitedBy { name } } }
}"""
RESEND = ("mutation($id: ID!) { resendInvitation(input: {id: $id}) { invitation { "
          "id email expiresAt } } }")
REVOKE = "mutation($id: ID!) { revokeInvitation(input: {id: $id}) { invitation { id email } } }"
ACCEPT = """mutation($t: String!) {
  acceptInvitation(input: {token: $t}) {
    membership { id role user { email } organization { slug } } }
}"""
PENDING = """query { organization(slug: "acme") { invitations(first: 20) {
  totalCount nodes { id email role invitedBy { name } } } } }"""
PAGE = "invitations/accept"


async def invite(api: Api, team: Team, email: str, role: str = "MEMBER",
                 by: Role = Role.ADMIN) -> dict[str, Any]:
    return await api.gql(INVITE, {"i": {"organizationId": team.org_id, "email": email,
                                        "role": role}}, token=team.people[by].token)


SUBJECT = "You have been invited to an organization on Relleks"


def invitation_mail(inbox: Inbox, email: str) -> list[Any]:
    return inbox.to(email, SUBJECT)


async def invited(api: Api, team: Team, inbox: Inbox, email: str,
                  role: str = "MEMBER") -> tuple[str, str]:
    """Invite `email`; returns the invitation's global id and the token from the mail."""
    body = await invite(api, team, email, role)
    assert "errors" not in body, body
    invitation = body["data"]["inviteMember"]["invitation"]
    return invitation["id"], token_in(invitation_mail(inbox, email)[-1], PAGE)


async def test_invitation_mail_token_and_joining(api: Api, settings: Settings, team: Team,
                                                 inbox: Inbox) -> None:
    admin = team.people[Role.ADMIN]
    before = datetime.now(UTC)
    body = await invite(api, team, "  NewBie@Example.COM ", "MEMBER")
    assert "errors" not in body, body
    sent = body["data"]["inviteMember"]["invitation"]
    assert sent["email"] == "newbie@example.com"
    assert sent["role"] == "MEMBER"
    assert sent["invitedBy"] == {"name": "Adam Admin"}

    (mail,) = invitation_mail(inbox, "newbie@example.com")
    assert mail["Subject"] == SUBJECT  # ours alone: no name anyone typed
    text = body_of(mail)
    assert '"Team acme" (as its members named it)' in text
    assert 'A person who calls themselves "Adam Admin" invited newbie@example.com' in text
    assert "MEMBER" in text and "7 days" in text
    token = token_in(mail, PAGE)

    invitation = await Invitation._scoped(team.org.id).get(email="newbie@example.com")
    assert sent["id"] == gid("Invitation", invitation.id)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(await Invitation._scoped(team.org.id).values())  # hashed at rest
    assert invitation.invited_by_id == admin.user.id
    assert timedelta(days=7) <= invitation.expires_at - before <= timedelta(days=7, minutes=1)
    created = (await events_of(team.org))[-1]
    assert (created.action, created.actor_id, created.target_id) == (
        "invitation.created", admin.user.id, invitation.id)
    assert token not in str(created.summary)

    newbie = await signed_in(settings, "newbie@example.com", "New Bie")
    body = await api.gql(ACCEPT, {"t": token}, token=newbie.token)
    assert "errors" not in body, body
    joined = body["data"]["acceptInvitation"]["membership"]
    assert joined["role"] == "MEMBER"
    assert joined["user"] == {"email": "newbie@example.com"}
    assert joined["organization"] == {"slug": "acme"}
    membership = await Membership._scoped(team.org.id).get(user_id=newbie.user.id)
    assert membership.role is Role.MEMBER
    assert joined["id"] == gid("Membership", membership.id)
    await invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    event = (await events_of(team.org))[-1]
    assert (event.action, event.actor_id, event.target_id) == (
        "member.joined", newbie.user.id, membership.id)
    assert event.summary == {"role": "member", "invitation": str(invitation.id)}

    # They are in, at once; the invitation is no longer pending.
    body = await api.gql('{ organization(slug: "acme") { viewerRole } }', token=newbie.token)
    assert body["data"]["organization"]["viewerRole"] == "MEMBER"
    body = await api.gql(PENDING, token=admin.token)
    assert body["data"]["organization"]["invitations"]["totalCount"] == 0


@pytest.mark.parametrize(("by", "role", "allowed"), [
    (Role.ADMIN, "OWNER", False), (Role.ADMIN, "ADMIN", True), (Role.ADMIN, "VIEWER", True),
    (Role.OWNER, "OWNER", True),
])
async def test_nobody_invites_above_their_own_role(api: Api, team: Team, inbox: Inbox,
                                                   by: Role, role: str, allowed: bool) -> None:
    body = await invite(api, team, "someone@example.com", role, by=by)
    if allowed:
        assert body["data"]["inviteMember"]["invitation"]["role"] == role
        assert len(invitation_mail(inbox, "someone@example.com")) == 1
        return
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["reason"] == "ROLE_ABOVE_OWN"
    assert await Invitation._scoped(team.org.id).count() == 0
    assert invitation_mail(inbox, "someone@example.com") == []


async def test_members_and_pending_emails_are_conflicts(api: Api, team: Team,
                                                        inbox: Inbox) -> None:
    await invited(api, team, inbox, "pending@example.com")
    events_before = await ActivityEvent._scoped(team.org.id).count()
    inbox.messages.clear()
    for email in ("pending@example.com", "PENDING@example.com", team.people[Role.VIEWER].email):
        body = await invite(api, team, email)
        assert error_code(body) == "CONFLICT", body
        assert errors_of(body)[0]["extensions"]["field"] == "email"
    assert await Invitation._scoped(team.org.id).count() == 1
    assert await ActivityEvent._scoped(team.org.id).count() == events_before
    assert inbox.messages == []


async def test_a_bad_email_names_the_field(api: Api, team: Team, inbox: Inbox) -> None:
    body = await invite(api, team, "not an email")
    assert error_code(body) == "BAD_USER_INPUT"
    assert "email" in errors_of(body)[0]["extensions"]["fields"]
    assert await Invitation._scoped(team.org.id).count() == 0


async def test_the_list_holds_pending_invitations_only_newest_first(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    ids = {}
    for name in ("one", "two", "three", "four", "five"):
        ids[name], _ = await invited(api, team, inbox, f"{name}@example.com")
    _, token = ids["one"], token_in(invitation_mail(inbox, "one@example.com")[-1], PAGE)
    one = await signed_in(settings, "one@example.com")
    assert "errors" not in await api.gql(ACCEPT, {"t": token}, token=one.token)
    await api.gql(REVOKE, {"id": ids["two"]}, token=team.people[Role.ADMIN].token)
    three = await Invitation._scoped(team.org.id).get(email="three@example.com")
    three.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await three.save(update_fields=["expires_at"])

    body = await api.gql(PENDING, token=team.people[Role.OWNER].token)
    listed = body["data"]["organization"]["invitations"]
    assert listed["totalCount"] == 2
    assert [n["email"] for n in listed["nodes"]] == ["five@example.com", "four@example.com"]
    assert listed["nodes"][0] == {"id": ids["five"], "email": "five@example.com",
                                  "role": "MEMBER", "invitedBy": {"name": "Adam Admin"}}


async def test_resend_kills_the_old_link_and_mails_a_new_one(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    invitation_id, old_token = await invited(api, team, inbox, "late@example.com")
    row = await Invitation._scoped(team.org.id).get(email="late@example.com")
    row.expires_at = datetime.now(UTC) + timedelta(days=1)
    await row.save(update_fields=["expires_at"])

    body = await api.gql(RESEND, {"id": invitation_id}, token=team.people[Role.ADMIN].token)
    assert body["data"]["resendInvitation"]["invitation"]["id"] == invitation_id
    mails = invitation_mail(inbox, "late@example.com")
    assert len(mails) == 2
    new_token = token_in(mails[-1], PAGE)
    assert new_token != old_token
    await row.refresh_from_db()
    assert row.token_hash == hashlib.sha256(new_token.encode()).hexdigest()
    assert row.expires_at > datetime.now(UTC) + timedelta(days=6, hours=23)  # a fresh 7 days
    event = (await events_of(team.org))[-1]
    assert (event.action, event.target_id) == ("invitation.resent", row.id)

    late = await signed_in(settings, "late@example.com")
    body = await api.gql(ACCEPT, {"t": old_token}, token=late.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["reason"] == "INVITATION_INVALID"
    assert not await Membership._scoped(team.org.id).filter(user_id=late.user.id).exists()
    body = await api.gql(ACCEPT, {"t": new_token}, token=late.token)
    assert body["data"]["acceptInvitation"]["membership"]["role"] == "MEMBER"


async def test_revoke_cancels_the_invitation(api: Api, settings: Settings, team: Team,
                                             inbox: Inbox) -> None:
    invitation_id, token = await invited(api, team, inbox, "gone@example.com")
    body = await api.gql(REVOKE, {"id": invitation_id}, token=team.people[Role.OWNER].token)
    assert body["data"]["revokeInvitation"]["invitation"] == {"id": invitation_id,
                                                              "email": "gone@example.com"}
    row = await Invitation._scoped(team.org.id).get(email="gone@example.com")
    assert row.revoked_at is not None
    event = (await events_of(team.org))[-1]
    assert (event.action, event.target_id) == ("invitation.revoked", row.id)

    gone = await signed_in(settings, "gone@example.com")
    body = await api.gql(ACCEPT, {"t": token}, token=gone.token)
    assert error_code(body) == "BAD_USER_INPUT"
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "INVITATION_REVOKED"
    assert "token" in error["extensions"]["fields"]
    for document in (REVOKE, RESEND):  # no longer pending
        body = await api.gql(document, {"id": invitation_id}, token=team.people[Role.OWNER].token)
        assert error_code(body) == "NOT_FOUND"
    assert not await Membership._scoped(team.org.id).filter(user_id=gone.user.id).exists()


async def test_expired_and_used_tokens_are_refused_with_their_reason(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    _, expired_token = await invited(api, team, inbox, "slow@example.com")
    row = await Invitation._scoped(team.org.id).get(email="slow@example.com")
    row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    await row.save(update_fields=["expires_at"])
    slow = await signed_in(settings, "slow@example.com")
    body = await api.gql(ACCEPT, {"t": expired_token}, token=slow.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["reason"] == "INVITATION_EXPIRED"

    _, token = await invited(api, team, inbox, "fast@example.com")
    fast = await signed_in(settings, "fast@example.com")
    assert "errors" not in await api.gql(ACCEPT, {"t": token}, token=fast.token)
    body = await api.gql(ACCEPT, {"t": token}, token=fast.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["reason"] == "INVITATION_USED"

    body = await api.gql(ACCEPT, {"t": "rlk_inv_made-up"}, token=fast.token)
    assert errors_of(body)[0]["extensions"]["reason"] == "INVITATION_INVALID"
    assert await Membership._scoped(team.org.id).filter(
        user_id__in=[slow.user.id, fast.user.id]).count() == 1


async def test_only_the_invited_verified_email_may_accept(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    _, token = await invited(api, team, inbox, "right@example.com")
    stranger = await signed_in(settings, "wrong@example.com")
    body = await api.gql(ACCEPT, {"t": token}, token=stranger.token)
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["reason"] == "EMAIL_MISMATCH"

    unverified = await signed_in(settings, "right@example.com", verified=False)
    body = await api.gql(ACCEPT, {"t": token}, token=unverified.token)
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["reason"] == "EMAIL_NOT_VERIFIED"

    body = await api.gql(ACCEPT, {"t": token})
    assert error_code(body) == "UNAUTHENTICATED"
    assert await Membership._scoped(team.org.id).count() == 4
    row = await Invitation._scoped(team.org.id).get(email="right@example.com")
    assert row.accepted_at is None  # still usable by the right person
    unverified.user.email_verified = True
    await unverified.user.save(update_fields=["email_verified"])
    body = await api.gql(ACCEPT, {"t": token}, token=unverified.token)
    assert body["data"]["acceptInvitation"]["membership"]["user"] == {"email": "right@example.com"}


async def test_accepting_when_already_a_member_saves_nothing(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    _, token = await invited(api, team, inbox, "twice@example.com")
    twice = await signed_in(settings, "twice@example.com")
    await Membership.create(organization=team.org, user=twice.user, role=Role.VIEWER)
    events_before = await ActivityEvent._scoped(team.org.id).count()
    body = await api.gql(ACCEPT, {"t": token}, token=twice.token)
    assert error_code(body) == "CONFLICT"
    row = await Invitation._scoped(team.org.id).get(email="twice@example.com")
    assert row.accepted_at is None  # the claim was rolled back with the failed insert
    assert await ActivityEvent._scoped(team.org.id).count() == events_before
    membership = await Membership._scoped(team.org.id).get(user_id=twice.user.id)
    assert membership.role is Role.VIEWER


@pytest.fixture
async def api_without_smtp(settings: Settings, team: Team) -> AsyncIterator[Api]:
    """The app with an SMTP_URL where nothing listens: every mail fails."""
    broken = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    application = create_app(broken, manage_database=False)
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50000))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


async def test_an_invitation_survives_a_mail_failure(api_without_smtp: Api, team: Team) -> None:
    """SMTP down: the invitation exists, the failure is logged, it can be resent later."""
    with capture_logs() as logs:
        body = await invite(api_without_smtp, team, "offline@example.com")
    assert body["data"]["inviteMember"]["invitation"]["email"] == "offline@example.com"
    assert await Invitation._scoped(team.org.id).filter(email="offline@example.com").exists()
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["invitation.mail_failed"]


# Invitation mail: what the recipient reads as ours, and how many they get.

async def test_names_people_typed_are_quoted_never_in_the_subject_nor_linkable(
        api: Api, team: Team, inbox: Inbox) -> None:
    """An organization named (before names were checked) like a notice from us, and an inviter
    whose name holds an address: the subject names neither, the body quotes both as typed,
    with their dots and colons bracketed so that no mail client links them."""
    phishing = "URGENT: mailbox closing, sign in at https://evil.example/login"
    await Organization.filter(id=team.org.id).update(name=phishing)
    await User.filter(id=team.people[Role.ADMIN].user.id).update(name='Evil.Example "Support"')
    assert "errors" not in await invite(api, team, "target@example.com")
    (mail,) = inbox.to("target@example.com")
    assert mail["Subject"] == SUBJECT
    text = body_of(mail)
    assert ('named "URGENT[:] mailbox closing, sign in at https[:]//evil[.]example/login" '
            "(as its members named it)") in text
    assert "A person who calls themselves \"Evil[.]Example 'Support'\" invited" in text
    assert "evil.example" not in text.lower() and "https://evil" not in text
    token_in(mail, PAGE)  # our own link is still there, whole


async def test_an_invitation_is_mailed_at_most_3_times_a_day_to_an_address_in_all_orgs(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    """Default limits: 16 resends used to send 16 mails in 0.09 s."""
    invitation_id, _ = await invited(api, team, inbox, "target@example.com")
    bodies = [await api.gql(RESEND, {"id": invitation_id}, token=team.people[Role.ADMIN].token)
              for _ in range(16)]
    assert ["errors" not in b for b in bodies] == [True, True] + [False] * 14
    assert len(invitation_mail(inbox, "target@example.com")) == 3
    row = await Invitation._scoped(team.org.id).get(email="target@example.com")
    events = len(await events_of(team.org))
    last_token = token_in(invitation_mail(inbox, "target@example.com")[-1], PAGE)

    body = await api.gql(RESEND, {"id": invitation_id}, token=team.people[Role.OWNER].token)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["reason"] == "INVITATIONS_PER_ADDRESS"
    assert 23 * 3600 < error["extensions"]["retryAfter"] <= 24 * 3600
    assert "to this address" in error["message"] and "3 per day" in error["message"]
    # Nothing half-done: the link mailed last still works, nothing was logged.
    await row.refresh_from_db()
    assert row.token_hash == hashlib.sha256(last_token.encode()).hexdigest()
    assert len(await events_of(team.org)) == events

    # Another organization cannot mail the address either, and writes no invitation.
    globex = await make_team(api, settings, "globex", prefix="g.")
    body = await invite(api, globex, "Target@Example.com")
    assert error_code(body) == "RATE_LIMITED", body
    assert errors_of(body)[0]["extensions"]["reason"] == "INVITATIONS_PER_ADDRESS"
    assert await Invitation._scoped(globex.org.id).count() == 0
    assert len(invitation_mail(inbox, "target@example.com")) == 3
    # Other addresses are not affected.
    assert "errors" not in await invite(api, globex, "other@example.com")


@contextlib.asynccontextmanager
async def api_with(settings: Settings, **changes: Any) -> AsyncIterator[Api]:
    """The app with other settings (small limits), sharing the test's database."""
    application = create_app(dataclasses.replace(settings, **changes), manage_database=False)
    await application.state.services.limiter.reset()
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50000))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


async def test_invitations_are_limited_per_inviter(settings: Settings, team: Team,
                                                   inbox: Inbox) -> None:
    async with api_with(settings, invite_rate_per_inviter="3/hour") as api:
        for email in ("a@example.com", "b@example.com"):
            assert "errors" not in await invite(api, team, email)
        (invitation,) = await Invitation._scoped(team.org.id).filter(email="a@example.com")
        body = await api.gql(RESEND, {"id": gid("Invitation", invitation.id)},
                             token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body  # resending counts too: 3 mails
        before = await ActivityEvent._scoped(team.org.id).count()
        body = await invite(api, team, "c@example.com")
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["reason"] == "INVITATIONS_PER_INVITER"
        assert 0 < error["extensions"]["retryAfter"] <= 3600
        assert "You have sent too many invitations (at most 3 per hour)" in error["message"]
        assert not await Invitation._scoped(team.org.id).filter(email="c@example.com").exists()
        assert await ActivityEvent._scoped(team.org.id).count() == before
        assert inbox.to("c@example.com") == []
        # Someone else in the org still may, and the refusal spent nothing of theirs.
        assert "errors" not in await invite(api, team, "c@example.com", by=Role.OWNER)
        assert len(invitation_mail(inbox, "c@example.com")) == 1


async def test_invitations_are_limited_per_organization(api: Api, settings: Settings,
                                                        team: Team, inbox: Inbox) -> None:
    globex = await make_team(api, settings, "globex", prefix="g.")
    async with api_with(settings, invite_rate_per_org="3/hour") as limited:
        assert "errors" not in await invite(limited, team, "a@example.com")
        assert "errors" not in await invite(limited, team, "b@example.com")
        assert "errors" not in await invite(limited, team, "c@example.com", by=Role.OWNER)
        body = await invite(limited, team, "d@example.com", by=Role.OWNER)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["reason"] == "INVITATIONS_PER_ORGANIZATION"
        assert 0 < error["extensions"]["retryAfter"] <= 3600
        assert "from this organization (at most 3 per hour)" in error["message"]
        assert not await Invitation._scoped(team.org.id).filter(email="d@example.com").exists()
        assert inbox.to("d@example.com") == []
        # Another organization has its own budget.
        assert "errors" not in await invite(limited, globex, "d@example.com")
        assert len(invitation_mail(inbox, "d@example.com")) == 1


@pytest.mark.no_db
def test_invitation_limits_default_and_come_from_the_environment() -> None:
    defaults = Settings()
    assert (defaults.invite_rate_per_org, defaults.invite_rate_per_inviter,
            defaults.invite_rate_per_address) == ("50/hour", "20/hour", "3/day")
    configured = Settings.from_env({"INVITE_RATE_PER_ORG": "10/minute",
                                    "INVITE_RATE_PER_INVITER": "5/hour",
                                    "INVITE_RATE_PER_ADDRESS": "1/day"})
    assert (configured.invite_rate_per_org, configured.invite_rate_per_inviter,
            configured.invite_rate_per_address) == ("10/minute", "5/hour", "1/day")
