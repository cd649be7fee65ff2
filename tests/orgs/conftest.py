"""Fixtures for organization tests: signed-in people, an org with a member of every role, and a
real SMTP server (aiosmtpd on 127.0.0.1) that receives what the app mails.

`person` signs up over HTTP, the way a user does. `signed_in` makes the same rows (a user, a
session, an access token issued by `auth/tokens.py`) without the sign-up's argon2 hash, so tests
that need dozens of people stay fast; the sign-up itself is tested in tests/accounts.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from strawberry import relay

from auth.passwords import hash_password
from auth.tokens import hash_secret, issue_access_token
from core.settings import Settings
from models.accounts import Session, User
from models.activity import ActivityEvent
from models.orgs import Invitation, Membership, Organization, Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.smtp import Inbox

CREATE_ORG = """
mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { organization { id name slug viewerRole } }
}"""


def gid(type_name: str, value: Any) -> str:
    """The global id the API shows for a row."""
    return str(relay.GlobalID(type_name, str(value)))


@dataclass
class Person:
    """A signed-in user: their token, global id and database id."""

    token: str
    id: str
    email: str
    user: User


async def person(api: Api, email: str, name: str = "Some Body", *,
                 verified: bool = True) -> Person:
    """Sign up over HTTP (slow: one argon2 hash)."""
    payload = await api.sign_up(email=email, name=name)
    user = await User.get(email=email)
    if verified:
        user.email_verified = True
        await user.save(update_fields=["email_verified"])
    return Person(token=payload["accessToken"], id=payload["user"]["id"], email=email, user=user)


@cache
def _password_hash() -> str:
    return hash_password(STRONG_PASSWORD)


async def signed_in(settings: Settings, email: str, name: str = "Some Body", *,
                    verified: bool = True) -> Person:
    """A user with a live session and its access token, made without the HTTP sign-up."""
    now = datetime.now(UTC)
    user = await User.create(email=email, name=name, password_hash=_password_hash(),
                             email_verified=verified, age_check_passed_at=now,
                             terms_version=settings.terms_version, terms_accepted_at=now)
    session = await Session.create(user=user, last_used_at=now,
                                   expires_at=now + timedelta(seconds=settings.refresh_token_ttl))
    token, _ = issue_access_token(settings, user.id, session.id)
    return Person(token=token, id=gid("User", user.id), email=email, user=user)


@dataclass
class Team:
    org_id: str
    slug: str
    org: Organization
    people: dict[Role, Person]
    memberships: dict[Role, str]  # global ids of each role's membership


async def make_team(api: Api, settings: Settings, slug: str, prefix: str = "") -> Team:
    """An org whose OWNER created it over HTTP, plus an ADMIN, a MEMBER and a VIEWER added
    directly."""
    owner = await signed_in(settings, f"{prefix}owner.{slug}@example.com", "Olive Owner")
    body = await api.gql(CREATE_ORG, {"input": {"name": f"Team {slug}", "slug": slug}},
                         token=owner.token)
    assert "errors" not in body, body
    org = await Organization.get(slug=slug)
    people = {Role.OWNER: owner}
    for role, name in ((Role.ADMIN, "Adam Admin"), (Role.MEMBER, "Mia Member"),
                       (Role.VIEWER, "Vic Viewer")):
        someone = await signed_in(settings, f"{prefix}{role.value}.{slug}@example.com", name)
        await Membership.create(organization=org, user=someone.user, role=role)
        people[role] = someone
    rows = await Membership._scoped(org.id)
    memberships = {m.role: gid("Membership", m.id) for m in rows}
    return Team(org_id=body["data"]["createOrganization"]["organization"]["id"], slug=slug, org=org,
                people=people, memberships=memberships)


async def add_member(settings: Settings, team: Team, email: str, role: Role,
                     name: str = "Extra Person") -> tuple[Person, str]:
    """Another member of the team's org; returns them and their membership's global id."""
    someone = await signed_in(settings, email, name)
    membership = await Membership.create(organization=team.org, user=someone.user, role=role)
    return someone, gid("Membership", membership.id)


async def add_invitation(team: Team, email: str, role: Role = Role.VIEWER,
                         invited_by: User | None = None) -> Invitation:
    """A pending invitation of the team's org, written directly (its token is not needed)."""
    return await Invitation.create(
        organization=team.org, email=email, role=role,
        token_hash=hash_secret(secrets.token_urlsafe(16)),
        invited_by=invited_by or team.people[Role.OWNER].user,
        expires_at=datetime.now(UTC) + timedelta(days=7))


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


async def snapshot() -> dict[str, Any]:
    """Every org-owned row, for "nothing changed" assertions."""
    orgs = sorted(await Organization.all().values_list("id", "name", "slug"))
    memberships = sorted(await Membership._scoped([o[0] for o in orgs])
                         .values_list("id", "organization_id", "user_id", "role"))
    invitations = sorted(await Invitation._scoped([o[0] for o in orgs]).values_list(
        "id", "organization_id", "email", "role", "token_hash", "expires_at", "accepted_at",
        "revoked_at"))
    events = sorted(await ActivityEvent._scoped([o[0] for o in orgs]).values_list("id"))
    return {"orgs": orgs, "memberships": memberships, "invitations": invitations,
            "events": events}


async def events_of(org: Organization) -> list[ActivityEvent]:
    """The org's activity, oldest first."""
    return await ActivityEvent._scoped(org.id).order_by("created_at", "id")


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[Inbox, int]) -> Settings:
    """Every org test mails through the local SMTP server."""
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}")
