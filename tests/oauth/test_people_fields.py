"""A User's sign-in email is about a person: it needs `members:read` whichever path reaches the
User (a lead's owner, a note's author, an activity event's actor, an invitation's sender). An API
token or partner app without that scope gets FORBIDDEN on `email`, naming the scope, and still
reads the name; with the scope, and for every person in the org, nothing changes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from auth.permissions import ROLE_GRANTS, Permission
from models.orgs import Invitation, Role
from tests.conftest import Api
from tests.leads.conftest import create_lead
from tests.oauth.conftest import partner, register, tokens_for  # noqa: F401
from tests.orgs.conftest import Person, Team
from tests.tokens.conftest import make_token

LEADS = """query($slug: String!) {
  organization(slug: $slug) { leads(first: 10) { nodes {
    name owner { name email } notes(first: 5) { nodes { body author { name email } } } } } }
}"""
NAMES = """query($slug: String!) {
  organization(slug: $slug) { leads(first: 10) { nodes {
    name owner { name } notes(first: 5) { nodes { body author { name } } } } } }
}"""
LEAD = "query($id: ID!) { lead(id: $id) { name owner { name email } } }"
ACTIVITY = """query($slug: String!) {
  organization(slug: $slug) { activity(first: 20) { nodes { action actor { name email } } } }
}"""
INVITATIONS = """query($slug: String!) {
  organization(slug: $slug) { invitations(first: 5) { nodes { email invitedBy { name email } } } }
}"""
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }"


async def seed(api: Api, team: Team) -> dict[str, Any]:
    """A lead owned by the MEMBER, with a note by the MEMBER; an invitation sent by the ADMIN."""
    member = team.people[Role.MEMBER]
    lead = await create_lead(api, team, name="Grace Hopper", ownerId=member.id)
    body = await api.gql(ADD_NOTE, {"i": {"leadId": lead["id"], "body": "Called"}},
                         token=member.token)
    assert "errors" not in body, body
    await Invitation.create(organization=team.org, email="new@example.com", role=Role.VIEWER,
                            token_hash=secrets.token_hex(32),
                            invited_by=team.people[Role.ADMIN].user,
                            expires_at=datetime.now(UTC) + timedelta(days=7))
    return lead


def refused_paths(body: dict[str, Any]) -> list[list[Any]]:
    """The paths of the errors, each asserted to be the members:read refusal."""
    paths = []
    for error in body.get("errors") or []:
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "members:read",
                                       "scope": "members:read"}, error
        assert "members:read" in error["message"]
        paths.append(error["path"])
    return paths


async def test_a_partner_app_without_members_read_gets_no_email_of_owners_or_authors(
        api: Api, http: httpx.AsyncClient, team: Team, partner: Person) -> None:  # noqa: F811
    lead = await seed(api, team)
    member = team.people[Role.MEMBER]
    app = await register(api, partner, scopes=["org:read", "leads:read", "members:read"])
    without = (await tokens_for(api, http, app, team, scope="org:read leads:read")
               )["access_token"]

    body = await api.gql(LEADS, {"slug": team.slug}, token=without)
    assert sorted(refused_paths(body)) == [
        ["organization", "leads", "nodes", 0, "notes", "nodes", 0, "author", "email"],
        ["organization", "leads", "nodes", 0, "owner", "email"]]
    [node] = body["data"]["organization"]["leads"]["nodes"]
    assert node == {"name": "Grace Hopper", "owner": None,
                    "notes": {"nodes": [{"body": "Called", "author": None}]}}
    body = await api.gql(LEAD, {"id": lead["id"]}, token=without)
    assert refused_paths(body) == [["lead", "owner", "email"]]
    assert body["data"]["lead"] == {"name": "Grace Hopper", "owner": None}
    # Names need no scope of their own.
    body = await api.gql(NAMES, {"slug": team.slug}, token=without)
    assert "errors" not in body, body
    [node] = body["data"]["organization"]["leads"]["nodes"]
    assert node["owner"] == {"name": member.user.name}

    # With members:read, the emails are there.
    with_scope = (await tokens_for(api, http, app, team,
                                   scope="org:read leads:read members:read"))["access_token"]
    body = await api.gql(LEADS, {"slug": team.slug}, token=with_scope)
    assert "errors" not in body, body
    [node] = body["data"]["organization"]["leads"]["nodes"]
    assert node["owner"] == {"name": member.user.name, "email": member.email}
    assert node["notes"]["nodes"][0]["author"] == {"name": member.user.name,
                                                   "email": member.email}


async def test_an_api_token_without_members_read_gets_no_email_of_actors_or_senders(
        api: Api, team: Team) -> None:
    await seed(api, team)
    token = (await make_token(team, ["org:read", "leads:read", "activity:read",
                                     "members:invite"])).secret
    body = await api.gql(LEADS, {"slug": team.slug}, token=token)
    assert len(refused_paths(body)) == 2
    body = await api.gql(ACTIVITY, {"slug": team.slug}, token=token)
    paths = refused_paths(body)
    assert paths and all(path[-2:] == ["actor", "email"] for path in paths)
    assert all(node["actor"] is None for node in body["data"]["organization"]["activity"]["nodes"])
    body = await api.gql(INVITATIONS, {"slug": team.slug}, token=token)
    assert refused_paths(body) == [
        ["organization", "invitations", "nodes", 0, "invitedBy", "email"]]
    assert body["data"]["organization"]["invitations"]["nodes"] == [
        {"email": "new@example.com", "invitedBy": None}]

    scoped = (await make_token(team, ["org:read", "leads:read", "activity:read",
                                      "members:invite", "members:read"])).secret
    for document in (LEADS, ACTIVITY, INVITATIONS):
        body = await api.gql(document, {"slug": team.slug}, token=scoped)
        assert "errors" not in body, (document, body)
    body = await api.gql(INVITATIONS, {"slug": team.slug}, token=scoped)
    admin = team.people[Role.ADMIN]
    assert body["data"]["organization"]["invitations"]["nodes"][0]["invitedBy"] == {
        "name": admin.user.name, "email": admin.email}


async def test_people_of_every_role_still_read_owners_and_authors_emails(
        api: Api, team: Team) -> None:
    await seed(api, team)
    member = team.people[Role.MEMBER]
    for role in Role:
        body = await api.gql(LEADS, {"slug": team.slug}, token=team.people[role].token)
        assert "errors" not in body, (role, body)
        [node] = body["data"]["organization"]["leads"]["nodes"]
        assert node["owner"]["email"] == member.email
        assert node["notes"]["nodes"][0]["author"]["email"] == member.email


@pytest.mark.no_db
def test_every_role_grants_members_read() -> None:
    """People are never asked for members:read on a User's email (`SeesPeople`): that holds
    only while every role grants it. A role without it needs the check made per org."""
    assert all(Permission.MEMBERS_READ in grants for grants in ROLE_GRANTS.values())
