"""While a person's account, or an organization, is scheduled for deletion, nobody mints a
credential that would have to end with it: approving a partner app and creating an API token
are refused (CONFLICT) until the deletion is canceled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from core.settings import Settings
from models.oauth import OAuthCode
from models.orgs import Role
from models.tokens import ApiToken
from tests.conftest import STRONG_PASSWORD, Api, errors_of
from tests.oauth.conftest import APPROVE, register, request_input
from tests.orgs.conftest import Team, signed_in
from tests.tokens.conftest import subscribe

DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { status } } }"""
CANCEL_ACCOUNT = "mutation { cancelAccountDeletion { scheduledDeletion { status } } }"
DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    status } } }"""
CANCEL_ORG = """mutation($id: ID!) { cancelOrganizationDeletion(input: {organizationId: $id}) {
  scheduledDeletion { status } } }"""
LOG_IN = """mutation($e: String!, $p: String!) {
  logIn(input: {email: $e, password: $p}) { accessToken } }"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { secret } }"""

Schedule = Callable[[Api, Team], Awaitable[str]]
Cancel = Callable[[Api, Team, str], Awaitable[None]]


async def _schedule_account(api: Api, team: Team) -> str:
    """The ADMIN schedules their account's deletion and signs in again (the grace period
    allows it): their new access token."""
    admin = team.people[Role.ADMIN]
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=admin.token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"] == {"status": "PENDING"}, body
    login = await api.gql(LOG_IN, {"e": admin.email, "p": STRONG_PASSWORD})
    return login["data"]["logIn"]["accessToken"]


async def _cancel_account(api: Api, team: Team, token: str) -> None:
    body = await api.gql(CANCEL_ACCOUNT, token=token)
    assert body["data"]["cancelAccountDeletion"]["scheduledDeletion"] == {
        "status": "CANCELED"}, body


async def _schedule_org(api: Api, team: Team) -> str:
    body = await api.gql(DELETE_ORG, {"id": team.org_id, "slug": team.slug},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"] == {"status": "PENDING"}, body
    return team.people[Role.ADMIN].token


async def _cancel_org(api: Api, team: Team, token: str) -> None:
    body = await api.gql(CANCEL_ORG, {"id": team.org_id}, token=team.people[Role.OWNER].token)
    assert body["data"]["cancelOrganizationDeletion"]["scheduledDeletion"] == {
        "status": "CANCELED"}, body


@pytest.mark.parametrize(("schedule", "cancel", "reason"), [
    (_schedule_account, _cancel_account, "ACCOUNT_DELETION_PENDING"),
    (_schedule_org, _cancel_org, "ORG_DELETION_PENDING"),
], ids=["account", "organization"])
async def test_no_app_approval_nor_api_token_while_a_deletion_is_pending(
        api: Api, team: Team, settings: Settings, schedule: Schedule, cancel: Cancel,
        reason: str) -> None:
    await subscribe(team.org)  # a plan with API tokens
    partner = await signed_in(settings, "dev@partner.example.com", "Paula Partner")
    app = await register(api, partner, scopes=["org:read"])
    approve = {"input": request_input(app, team, scope="org:read")}
    create = {"input": {"organizationId": team.org_id, "name": "Sync", "scopes": ["org:read"]}}

    token = await schedule(api, team)
    for mutation, variables in ((APPROVE, approve), (CREATE_TOKEN, create)):
        (error,) = errors_of(await api.gql(mutation, variables, token=token))
        assert error["extensions"]["code"] == "CONFLICT", error
        assert error["extensions"]["reason"] == reason, error
    assert await OAuthCode._scoped(team.org.id).count() == 0
    assert await ApiToken._scoped(team.org.id).count() == 0

    await cancel(api, team, token)  # called off: both work again
    for mutation, variables in ((APPROVE, approve), (CREATE_TOKEN, create)):
        body = await api.gql(mutation, variables, token=token)
        assert "errors" not in body, body
