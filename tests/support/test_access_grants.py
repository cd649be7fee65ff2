"""Support access grants: an OWNER lets Relleks staff read their organization from a ticket for
a chosen time. Staff read as a VIEWER would before nothing, during everything readable, after
expiry and after revocation nothing again; every write is refused; every read is logged and
the OWNER sees it; the grant and its revocation are in the activity log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.leads import Lead
from models.orgs import Role
from models.support import SupportAccessGrant, SupportAccessRead
from models.tenancy import system_scope
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import events_of
from tests.support.conftest import Cast, open_ticket

GRANT = """mutation($input: GrantSupportAccessInput!) { grantSupportAccess(input: $input) {
  grant { id active expiresAt revokedAt ticketId grantedBy { name } } } }"""
REVOKE = """mutation($id: ID!) { revokeSupportAccess(input: {id: $id}) {
  grant { id active revokedAt } } }"""
LEADS = """query Peek($slug: String!) { organization(slug: $slug) { name
  leads(first: 5) { nodes { name } } } }"""
GRANTS = """query($slug: String!) { organization(slug: $slug) { supportAccessGrants(first: 10) {
  nodes { id active reads(first: 50) { totalCount nodes { field path operation createdAt
    staffUser { name } } } } } } }"""
CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"
TICKET_UNTIL = """query { supportQueue(first: 5) { nodes { id supportAccessUntil } } }"""


async def _setup(api: Api, cast: Cast) -> str:
    """A lead in acme and a ticket of its OWNER naming acme: the ticket's id."""
    owner = cast.team.people[Role.OWNER]
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": cast.team.org_id,
                                                 "name": "Lena Lead"}}, token=owner.token)
    assert "errors" not in body, body
    # A lead whose processing is restricted: staff never see it.
    await Lead.create(organization=cast.team.org, name="Rex Restricted", restricted=True)
    ticket = await open_ticket(api, owner, organizationId=cast.team.org_id)
    return ticket["id"]


async def _grant(api: Api, cast: Cast, ticket_id: str, hours: int = 2) -> dict:
    body = await api.gql(GRANT, {"input": {"ticketId": ticket_id, "hours": hours}},
                         token=cast.team.people[Role.OWNER].token)
    assert "errors" not in body, body
    return body["data"]["grantSupportAccess"]["grant"]


async def test_staff_read_only_while_the_grant_is_live(api: Api, cast: Cast) -> None:
    ticket_id = await _setup(api, cast)
    slug = {"slug": cast.team.slug}
    # Before: nothing.
    body = await api.gql(LEADS, slug, token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
    grant = await _grant(api, cast, ticket_id, hours=3)
    assert grant["active"] is True and grant["ticketId"] == ticket_id
    assert grant["grantedBy"]["name"] == "Olive Owner"
    # During: the org reads as a VIEWER reads it.
    body = await api.gql(LEADS, slug, token=cast.staff.token)
    assert "errors" not in body, body
    assert body["data"]["organization"]["leads"]["nodes"] == [{"name": "Lena Lead"}]
    body = await api.gql(LEADS, slug, token=cast.team.people[Role.VIEWER].token)
    assert len(body["data"]["organization"]["leads"]["nodes"]) == 2  # members see both
    body = await api.gql(TICKET_UNTIL, token=cast.staff.token)
    assert body["data"]["supportQueue"]["nodes"][0]["supportAccessUntil"] is not None
    # Every write is refused, even one a VIEWER's role would not reach anyway.
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": cast.team.org_id,
                                                 "name": "Sneaky"}}, token=cast.staff.token)
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["reason"] == "SUPPORT_READ_ONLY"
    # What a VIEWER may not read stays out of reach: the grants and their reads.
    body = await api.gql(GRANTS, slug, token=cast.staff.token)
    assert error_code(body) == "FORBIDDEN"
    # The OWNER sees each read: field, path, operation, who.
    body = await api.gql(GRANTS, slug, token=cast.team.people[Role.OWNER].token)
    (listed,) = body["data"]["organization"]["supportAccessGrants"]["nodes"]
    reads = listed["reads"]["nodes"]
    fields = {(r["field"], r["path"], r["operation"]) for r in reads}
    assert ("Query.organization", "organization", "Peek") in fields
    assert ("Organization.leads", "organization.leads", "Peek") in fields
    assert {r["staffUser"]["name"] for r in reads} == {"Sam Staff"}
    # Other members see no grants (OWNER only).
    body = await api.gql(GRANTS, slug, token=cast.team.people[Role.ADMIN].token)
    assert error_code(body) == "FORBIDDEN"


async def test_the_grant_ends_by_itself(api: Api, cast: Cast) -> None:
    ticket_id = await _setup(api, cast)
    await _grant(api, cast, ticket_id)
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.staff.token)
    assert "errors" not in body, body
    scope = system_scope(cast.team.org.id, reason="the test moves the grant's end")
    await scope.scoped(SupportAccessGrant).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql(GRANTS, {"slug": cast.team.slug},
                         token=cast.team.people[Role.OWNER].token)
    assert body["data"]["organization"]["supportAccessGrants"]["nodes"][0]["active"] is False


async def test_revoking_ends_it_and_both_are_in_the_activity_log(api: Api, cast: Cast) -> None:
    ticket_id = await _setup(api, cast)
    grant = await _grant(api, cast, ticket_id)
    owner = cast.team.people[Role.OWNER]
    body = await api.gql(REVOKE, {"id": grant["id"]}, token=owner.token)
    revoked = body["data"]["revokeSupportAccess"]["grant"]
    assert revoked["active"] is False and revoked["revokedAt"] is not None
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
    actions = [event.action for event in await events_of(cast.team.org)]
    assert actions[-2:] == ["support_access.granted", "support_access.revoked"]
    # Revoking again changes nothing and logs nothing.
    body = await api.gql(REVOKE, {"id": grant["id"]}, token=owner.token)
    assert body["data"]["revokeSupportAccess"]["grant"]["revokedAt"] == revoked["revokedAt"]
    assert len(await events_of(cast.team.org)) == len(actions)


@pytest.mark.parametrize("hours", [0, -1, 169, 10_000])
async def test_hours_are_bounded(api: Api, cast: Cast, hours: int) -> None:
    ticket_id = await _setup(api, cast)
    body = await api.gql(GRANT, {"input": {"ticketId": ticket_id, "hours": hours}},
                         token=cast.team.people[Role.OWNER].token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert "hours" in errors_of(body)[0]["extensions"]["fields"]
    scope = system_scope(cast.team.org.id, reason="the test counts grants")
    assert await scope.scoped(SupportAccessGrant).count() == 0


async def test_only_the_owner_grants_and_other_tickets_are_not_found(api: Api,
                                                                    cast: Cast) -> None:
    ticket_id = await _setup(api, cast)
    for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        body = await api.gql(GRANT, {"input": {"ticketId": ticket_id, "hours": 1}},
                             token=cast.team.people[role].token)
        assert error_code(body) == "FORBIDDEN", role
    for who in (cast.stranger, cast.staff):
        body = await api.gql(GRANT, {"input": {"ticketId": ticket_id, "hours": 1}},
                             token=who.token)
        assert error_code(body) == "NOT_FOUND"
        assert errors_of(body)[0]["extensions"]["field"] == "ticketId"
    # A ticket naming no organization grants nothing.
    loose = await open_ticket(api, cast.team.people[Role.OWNER])
    body = await api.gql(GRANT, {"input": {"ticketId": loose["id"], "hours": 1}},
                         token=cast.team.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    # Another org's grant cannot be revoked from outside it.
    grant = await _grant(api, cast, ticket_id)
    body = await api.gql(REVOKE, {"id": grant["id"]}, token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"
    scope = system_scope(cast.team.org.id, reason="the test counts grants")
    assert await scope.scoped(SupportAccessGrant).count() == 1
    assert await scope.scoped(SupportAccessRead).count() == 0


async def test_a_non_staff_user_gets_nothing_from_a_grant(api: Api, cast: Cast) -> None:
    ticket_id = await _setup(api, cast)
    await _grant(api, cast, ticket_id)
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"


DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    status } } }"""


async def test_the_owner_can_end_staff_access_while_the_org_is_pending_deletion(
        api: Api, cast: Cast) -> None:
    """Scheduling the deletion leaves a support grant standing: revoking it stays allowed
    (the org is otherwise read-only: granting again is refused)."""
    ticket_id = await _setup(api, cast)
    grant = await _grant(api, cast, ticket_id)
    owner = cast.team.people[Role.OWNER].token
    body = await api.gql(DELETE_ORG, {"id": cast.team.org_id, "slug": cast.team.slug},
                         token=owner)
    assert "errors" not in body, body
    body = await api.gql(REVOKE, {"id": grant["id"]}, token=owner)
    assert "errors" not in body, body
    assert body["data"]["revokeSupportAccess"]["grant"]["active"] is False
    assert body["data"]["revokeSupportAccess"]["grant"]["revokedAt"]
    body = await api.gql(GRANT, {"input": {"ticketId": ticket_id, "hours": 1}}, token=owner)
    assert errors_of(body)[0]["extensions"]["reason"] == "ORG_DELETION_PENDING"
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
