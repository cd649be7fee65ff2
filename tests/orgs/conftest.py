"""Fixtures for organization tests: signed-in people and an org with a member of every role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from models.accounts import User
from models.orgs import Membership, Organization, Role
from tests.conftest import Api

CREATE_ORG = """
mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { id name slug viewerRole }
}"""


@dataclass
class Person:
    """A signed-in user: their token, global id and database id."""

    token: str
    id: str
    email: str
    user: User


async def person(api: Api, email: str, name: str = "Some Body", *,
                 verified: bool = True) -> Person:
    payload = await api.sign_up(email=email, name=name)
    user = await User.get(email=email)
    if verified:
        user.email_verified = True
        await user.save(update_fields=["email_verified"])
    return Person(token=payload["accessToken"], id=payload["user"]["id"], email=email, user=user)


@dataclass
class Team:
    org_id: str
    slug: str
    org: Organization
    people: dict[Role, Person]
    memberships: dict[Role, str]  # global ids of each role's membership


async def make_team(api: Api, slug: str, prefix: str = "") -> Team:
    """An org whose OWNER created it, plus an ADMIN, a MEMBER and a VIEWER added directly."""
    owner = await person(api, f"{prefix}owner.{slug}@example.com", "Olive Owner")
    body = await api.gql(CREATE_ORG, {"input": {"name": f"Team {slug}", "slug": slug}},
                         token=owner.token)
    assert "errors" not in body, body
    org = await Organization.get(slug=slug)
    people = {Role.OWNER: owner}
    for role, name in ((Role.ADMIN, "Adam Admin"), (Role.MEMBER, "Mia Member"),
                       (Role.VIEWER, "Vic Viewer")):
        someone = await person(api, f"{prefix}{role.value}.{slug}@example.com", name)
        await Membership.create(organization=org, user=someone.user, role=role)
        people[role] = someone
    rows = await Membership.scoped(org.id)
    memberships = {m.role: _gid("Membership", m.id) for m in rows}
    return Team(org_id=body["data"]["createOrganization"]["id"], slug=slug, org=org,
                people=people, memberships=memberships)


def _gid(type_name: str, value: Any) -> str:
    from strawberry import relay

    return str(relay.GlobalID(type_name, str(value)))


@pytest.fixture
async def team(api: Api) -> Team:
    return await make_team(api, "acme")
