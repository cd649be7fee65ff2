"""A code, and every refresh of the grant it becomes, stands on its approver's standing: the
approver still a member whose role grants every scope, their account not scheduled for deletion,
and the organization not scheduled for deletion. Lose any of it and the exchange (or the refresh)
answers `invalid_grant`; a refresh also ends the grant. Lowering a person's standing through the
API ends their unexchanged codes at once, with their tokens and grants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.jobs import ScheduledWork, WorkKind
from models.oauth import OAuthCode, OAuthGrant
from models.orgs import Membership, Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.oauth.conftest import App, code_for, exchange, pkce, refresh, register
from tests.oauth.test_creator_standing import LEAVE, REMOVE, ROLE, works
from tests.orgs.conftest import Person, Team

DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { status } } }"""
DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    status } } }"""
CANCEL_ORG = """mutation($id: ID!) { cancelOrganizationDeletion(input: {organizationId: $id}) {
  scheduledDeletion { status } } }"""
BIG = "org:read members:write"


@pytest.fixture
async def admin_app(api: Api, partner: Person) -> App:
    return await register(api, partner, scopes=["org:read", "leads:read", "members:write"])


def refused(response: httpx.Response) -> bool:
    return response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def live_codes(team: Team) -> int:
    return await OAuthCode._scoped(team.org.id).filter(used_at__isnull=True).count()


async def remove(api: Api, team: Team) -> None:
    body = await api.gql(REMOVE, {"id": team.memberships[Role.ADMIN]},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body


async def leave(api: Api, team: Team) -> None:
    body = await api.gql(LEAVE, {"id": team.org_id}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body


async def demote(api: Api, team: Team) -> None:
    body = await api.gql(ROLE, {"input": {"membershipId": team.memberships[Role.ADMIN],
                                          "role": "MEMBER"}},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["updateMemberRole"]["membership"] == {"role": "MEMBER"}, body


async def delete_account(api: Api, team: Team) -> None:
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"] == {"status": "PENDING"}, body


async def delete_org(api: Api, team: Team) -> None:
    body = await api.gql(DELETE_ORG, {"id": team.org_id, "slug": team.slug},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"] == {"status": "PENDING"}, body


Step = Callable[[Api, Team], Awaitable[None]]


@pytest.mark.parametrize("lower", [remove, leave, demote, delete_account, delete_org],
                         ids=["removal", "leaving", "demotion", "account_deletion",
                              "org_deletion"])
async def test_a_code_ends_with_its_approvers_standing(
        api: Api, http: httpx.AsyncClient, team: Team, admin_app: App, lower: Step) -> None:
    challenge = pkce()
    code = await code_for(api, admin_app, team, challenge, scope=BIG)
    assert await live_codes(team) == 1

    await lower(api, team)

    assert await live_codes(team) == 0  # ended with the change, in its transaction
    assert refused(await exchange(http, admin_app, code, challenge.verifier))
    assert await OAuthGrant._scoped(team.org.id).count() == 0


async def test_a_demotion_ends_only_the_codes_beyond_the_new_role(
        api: Api, http: httpx.AsyncClient, team: Team, admin_app: App) -> None:
    big, small = pkce(), pkce()
    big_code = await code_for(api, admin_app, team, big, scope=BIG)
    small_code = await code_for(api, admin_app, team, small, scope="org:read leads:read")
    other = pkce()  # the OWNER's code is not the ADMIN's
    owner_code = await code_for(api, admin_app, team, other, scope=BIG, role=Role.OWNER)

    await demote(api, team)

    assert refused(await exchange(http, admin_app, big_code, big.verifier))
    for code, challenge in ((small_code, small), (owner_code, other)):
        response = await exchange(http, admin_app, code, challenge.verifier)
        assert response.status_code == 200, response.text
        assert await works(api, response.json()["access_token"])


async def test_a_code_stays_ended_when_the_org_deletion_is_canceled(
        api: Api, http: httpx.AsyncClient, team: Team, admin_app: App) -> None:
    challenge = pkce()
    code = await code_for(api, admin_app, team, challenge)
    await delete_org(api, team)
    body = await api.gql(CANCEL_ORG, {"id": team.org_id}, token=team.people[Role.OWNER].token)
    assert body["data"]["cancelOrganizationDeletion"]["scheduledDeletion"] == {
        "status": "CANCELED"}, body
    assert refused(await exchange(http, admin_app, code, challenge.verifier))


# The same standing, checked by the token endpoint itself: these change it in the database
# directly, as a change racing the exchange would, or as a grant minted before codes followed
# their approver's standing left it (nothing the API does now ended the code or the grant).

async def _removed(team: Team) -> None:
    await Membership._scoped(team.org.id).filter(user_id=team.people[Role.ADMIN].user.id).delete()


async def _demoted(team: Team) -> None:
    await Membership._scoped(team.org.id).filter(user_id=team.people[Role.ADMIN].user.id) \
        .update(role=Role.MEMBER)


async def _account_deleting(team: Team) -> None:
    due = datetime.now(UTC) + timedelta(days=14)
    await ScheduledWork.create(kind=WorkKind.ACCOUNT_DELETION,
                               user_id=team.people[Role.ADMIN].user.id, due_at=due)


async def _org_deleting(team: Team) -> None:
    due = datetime.now(UTC) + timedelta(days=14)
    await ScheduledWork.create(kind=WorkKind.ORG_DELETION, organization_id=team.org.id,
                               user_id=team.people[Role.OWNER].user.id, due_at=due)


STANDING_LOST = pytest.mark.parametrize(
    "lose", [_removed, _demoted, _account_deleting, _org_deleting],
    ids=["removal", "demotion", "account_deletion", "org_deletion"])


@STANDING_LOST
async def test_the_exchange_checks_the_approvers_standing(
        http: httpx.AsyncClient, api: Api, team: Team, admin_app: App,
        lose: Callable[[Team], Awaitable[None]]) -> None:
    challenge = pkce()
    code = await code_for(api, admin_app, team, challenge, scope=BIG)
    await lose(team)
    response = await exchange(http, admin_app, code, challenge.verifier)
    assert refused(response), response.text
    assert await OAuthGrant._scoped(team.org.id).count() == 0
    assert await live_codes(team) == 0  # spent on the refusal: it cannot be tried again


@STANDING_LOST
async def test_a_refresh_checks_the_approvers_standing_and_ends_the_grant(
        http: httpx.AsyncClient, api: Api, team: Team, admin_app: App,
        lose: Callable[[Team], Awaitable[None]]) -> None:
    challenge = pkce()
    code = await code_for(api, admin_app, team, challenge, scope=BIG)
    response = await exchange(http, admin_app, code, challenge.verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    await lose(team)

    answer = await refresh(http, admin_app, tokens["refresh_token"])
    assert refused(answer), answer.text
    (grant,) = await OAuthGrant._scoped(team.org.id)
    assert grant.revoked_at is not None
    assert not await works(api, tokens["access_token"])
    # Ended for good: the standing coming back does not bring it back.
    assert refused(await refresh(http, admin_app, tokens["refresh_token"]))


async def test_a_refresh_within_the_approvers_standing_still_works(
        http: httpx.AsyncClient, api: Api, team: Team, admin_app: App) -> None:
    challenge = pkce()
    code = await code_for(api, admin_app, team, challenge, scope="org:read leads:read")
    tokens = (await exchange(http, admin_app, code, challenge.verifier)).json()
    await _demoted(team)  # a MEMBER may still read leads
    answer = await refresh(http, admin_app, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    assert await works(api, answer.json()["access_token"])
