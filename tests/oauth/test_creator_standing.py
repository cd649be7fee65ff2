"""API tokens and partner-app grants act with their creator's standing in the organization:
when the person who made them is demoted below their scopes, they end; when that person leaves or
is removed, all of them end. Others' tokens and grants, and those within the new role, stay."""

from __future__ import annotations

import httpx

from models.activity import ActivityEvent
from models.oauth import OAuthGrant
from models.orgs import Role
from models.tokens import ApiToken
from tests.conftest import STRONG_PASSWORD, Api, error_code
from tests.oauth.conftest import App, register, tokens_for
from tests.orgs.conftest import Person, Team
from tests.tokens.conftest import make_token

ROLE = """mutation($input: UpdateMemberRoleInput!) {
  updateMemberRole(input: $input) { membership { role } } }"""
REMOVE = "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }"
LEAVE = "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }"
READ = '{ organization(slug: "acme") { name } }'


async def works(api: Api, secret: str) -> bool:
    body = await api.gql(READ, token=secret)
    if "errors" in body:
        assert error_code(body) == "UNAUTHENTICATED", body
        return False
    return body["data"]["organization"]["name"] == "Team acme"


async def revocations(team: Team) -> list[tuple[str, str]]:
    events = await ActivityEvent._scoped(team.org.id).filter(
        action__in=["api_token.revoked", "oauth_app.revoked"]).order_by("created_at")
    return [(e.action, e.summary["reason"]) for e in events]


async def test_a_demotion_ends_what_the_new_role_cannot_do_and_removal_the_rest(
        api: Api, http: httpx.AsyncClient, team: Team, partner: Person) -> None:
    app = await register(api, partner, scopes=["org:read", "leads:read"])
    within = await make_token(team, ["org:read", "leads:read"])
    beyond = await make_token(team, ["org:read", "members:write"])
    others = await make_token(team, ["org:read", "members:write"], creator=Role.OWNER)
    small_grant = await tokens_for(api, http, app, team, scope="org:read leads:read")
    big_app = await register(api, partner, scopes=["org:read", "activity:read"],
                             name="Auditor")
    big_grant = await tokens_for(api, http, big_app, team, scope="org:read activity:read")
    owner = team.people[Role.OWNER].token
    for secret in (within.secret, beyond.secret, others.secret,
                   small_grant["access_token"], big_grant["access_token"]):
        assert await works(api, secret)

    body = await api.gql(ROLE, {"input": {"membershipId": team.memberships[Role.ADMIN],
                                          "role": "MEMBER"}}, token=owner)
    assert body["data"]["updateMemberRole"]["membership"] == {"role": "MEMBER"}
    # What a MEMBER may do stays; what needs more ends, with its app's tokens.
    assert await works(api, within.secret)
    assert await works(api, small_grant["access_token"])
    assert not await works(api, beyond.secret)
    assert not await works(api, big_grant["access_token"])
    assert await works(api, others.secret)  # the OWNER's token is not the ADMIN's
    assert (await ApiToken._scoped(team.org.id).get(id=beyond.row.id)).revoked_at is not None
    assert await revocations(team) == [("api_token.revoked", "creator_demoted"),
                                       ("oauth_app.revoked", "creator_demoted")]
    refreshed = await http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": big_grant["refresh_token"]},
        auth=httpx.BasicAuth(big_app.client_id, big_app.secret))
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"

    # Removed: everything they made ends.
    body = await api.gql(REMOVE, {"id": team.memberships[Role.ADMIN]}, token=owner)
    assert "errors" not in body, body
    assert not await works(api, within.secret)
    assert not await works(api, small_grant["access_token"])
    assert await works(api, others.secret)
    assert (await revocations(team))[2:] == [("api_token.revoked", "creator_removed"),
                                            ("oauth_app.revoked", "creator_removed")]
    assert await OAuthGrant._scoped(team.org.id).filter(revoked_at__isnull=True).count() == 0


async def test_leaving_ends_what_you_made(api: Api, team: Team) -> None:
    mine = await make_token(team, ["org:read"])
    theirs = await make_token(team, ["org:read"], creator=Role.OWNER)
    body = await api.gql(LEAVE, {"id": team.org_id}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    assert not await works(api, mine.secret)
    assert await works(api, theirs.secret)
    assert await revocations(team) == [("api_token.revoked", "creator_left")]


async def test_a_promotion_or_a_sideways_change_ends_nothing(api: Api, team: Team) -> None:
    token = await make_token(team, ["org:read", "members:write"])
    owner = team.people[Role.OWNER].token
    body = await api.gql(ROLE, {"input": {"membershipId": team.memberships[Role.ADMIN],
                                          "role": "OWNER"}}, token=owner)
    assert body["data"]["updateMemberRole"]["membership"] == {"role": "OWNER"}
    assert await works(api, token.secret)
    assert await revocations(team) == []



async def test_deleting_your_account_ends_the_grants_you_approved(
        api: Api, http: httpx.AsyncClient, team: Team, app_: App) -> None:
    grant = await tokens_for(api, http, app_, team)
    token = await make_token(team, ["org:read"])
    assert await works(api, grant["access_token"])
    body = await api.gql("mutation($p: String!) { deleteAccount(input: {password: $p}) "
                         "{ scheduledDeletion { status } } }",
                         {"p": STRONG_PASSWORD}, token=team.people[Role.ADMIN].token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"] == {"status": "PENDING"}
    assert not await works(api, grant["access_token"])
    assert not await works(api, token.secret)
    assert sorted(await revocations(team)) == [("api_token.revoked", "account_deletion"),
                                               ("oauth_app.revoked", "account_deletion")]
