"""An organization pending deletion is read-only: the walk calls every mutation of the schema
whose permission locates an organization, aimed at that organization, and each one answers
CONFLICT naming the pending deletion, except cancelling the deletion, exporting, and the four
that protect someone (revoking a token, erasing a data subject, leaving, the billing portal),
each called here. The check lives in one place
(`engine.permissions.refuse_writes_while_deleting`), so a mutation added later is covered, and
walked here, without a line of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from strawberry.relay import to_base64
from strawberry.schema.schema_converter import GraphQLCoreConverter

from core.settings import Settings
from engine.permissions import WRITABLE_WHILE_DELETING, OrgLocator, _locators
from models.forms import LeadForm
from models.leads import Lead, Note
from models.orgs import Invitation, Role
from models.privacy_requests import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from models.tokens import ApiToken
from schema import schema
from tests.billing.conftest import OPEN_PORTAL, subscribe
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import Api, errors_of
from tests.oauth.conftest import App, app_, partner, tokens_for  # noqa: F401
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import make_token

DELETE = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    status } } }"""
NOT_WALKED = ["checkCustomDomain", "deleteWebhookEndpoint", "disableWebhookEndpoint",
              "discardSubmission", "enableWebhookEndpoint", "grantSupportAccess",
              "redeliverWebhookMessage", "releaseSubmission", "removeCustomDomain",
              "replayWebhookMessages", "rotateWebhookSecret", "updateWebhookEndpoint"]
CREATE_LEAD = "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }"


def org_mutations() -> dict[str, OrgLocator]:
    mutation = schema._schema.type_map["Mutation"]
    found = {}
    for name, field in mutation.fields.items():
        definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        locators = [loc for loc in _locators(definition) if isinstance(loc, OrgLocator)]
        if locators:
            found[name] = locators[0]
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _value(type_: Any, ids: dict[str, str]) -> Any:
    """A value of `type_` that passes GraphQL's validation (the locator reads the real id)."""
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, ids)
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type, ids)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {name: _value(field.type, ids) for name, field in type_.fields.items()
                if isinstance(field.type, GraphQLNonNull)}
    assert isinstance(type_, GraphQLScalarType)
    return {"Int": 1, "Float": 1.0, "Boolean": False, "ID": ids["Organization"],
            "DateTime": "2030-01-01T00:00:00+00:00", "Date": "2030-01-01",
            "JSON": {}, "EmailAddress": "someone@example.com"}.get(type_.name, "x1")


def _input(name: str, locator: OrgLocator, ids: dict[str, str]) -> dict[str, Any]:
    field = schema._schema.type_map["Mutation"].fields[name]
    args = {arg: _value(spec.type, ids) for arg, spec in field.args.items()
            if isinstance(spec.type, GraphQLNonNull)}
    assert locator.path and locator.type_name
    node: Any = args
    *parents, last = locator.path.split(".")
    for part in parents:
        node = node.setdefault(_camel(part), {})
    node[_camel(last)] = ids[locator.type_name]
    return args


async def _rows(api: Api, team: Team) -> dict[str, str]:
    """A row of each type a locator reads, in the team's org."""
    owner = team.people[Role.OWNER]
    lead = await Lead.create(organization=team.org, name="Ada")
    note = await Note.create(organization=team.org, lead=lead, body="hello",
                             author_id=owner.user.id)
    invitation = await Invitation.create(
        organization=team.org, email="new@example.com", role=Role.MEMBER,
        token_hash="f" * 64, invited_by_id=owner.user.id,
        expires_at=datetime.now(UTC) + timedelta(days=1))
    token = await make_token(team, ["org:read"])
    ids = {"Organization": team.org_id, "Membership": team.memberships[Role.MEMBER],
           "Lead": to_base64("Lead", lead.id), "Note": to_base64("Note", note.id),
           "Invitation": to_base64("Invitation", invitation.id),
           "ApiToken": to_base64("ApiToken", token.row.id)}
    form = await LeadForm.create(organization=team.org, name="Form")
    ids["LeadForm"] = to_base64("LeadForm", form.id)
    now = datetime.now(UTC)
    request = await PrivacyRequest.create(
        organization_id=team.org.id, email="ada@example.com", kind=PrivacyRequestKind.ACCESS,
        status=PrivacyRequestStatus.OPEN, verify_expires_at=now, verified_at=now,
        due_at=now + timedelta(days=30))
    ids["PrivacyRequest"] = to_base64("PrivacyRequest", request.id)
    return ids


async def test_every_org_mutation_answers_conflict_while_deletion_is_pending(
        api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER].token
    ids = await _rows(api, team)
    body = await api.gql(DELETE, {"id": team.org_id, "slug": team.slug}, token=owner)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING"

    walked, unwalked = [], []
    for name, locator in sorted(org_mutations().items()):
        if name in WRITABLE_WHILE_DELETING:
            continue
        if locator.type_name not in ids:
            unwalked.append(name)
            continue
        args = _input(name, locator, ids)
        spec = schema._schema.type_map["Mutation"].fields[name].args
        variables = ", ".join(f"${arg}: {spec[arg].type}" for arg in args)
        call = ", ".join(f"{arg}: ${arg}" for arg in args)
        query = f"mutation({variables}) {{ {name}({call}) {{ __typename }} }}"
        response = await api.gql(query, args, token=owner)
        (error,) = errors_of(response)
        assert error["extensions"]["code"] == "CONFLICT", (name, response)
        assert error["extensions"]["reason"] == "ORG_DELETION_PENDING", name
        assert "pending deletion" in error["message"], name
        walked.append(name)
    # These locate their org through rows this test does not make (webhook endpoints and
    # messages, custom domains, form submissions, support tickets); they pass the same check.
    # revokeSupportAccess is called in tests/support/test_access_grants.py.
    assert sorted(unwalked) == NOT_WALKED, unwalked
    assert len(walked) == 34, walked
    # Nothing was written: the lead is as it was, no new lead.
    assert await Lead._scoped(team.org.id).count() == 1

    # Reading still works, and so do exporting and calling the deletion off.
    body = await api.gql("query($s: String!) { organization(slug: $s) { name } }",
                         {"s": team.slug}, token=owner)
    assert "errors" not in body, body
    body = await api.gql("mutation($id: ID!) { cancelOrganizationDeletion(input: "
                         "{organizationId: $id}) { scheduledDeletion { status } } }",
                         {"id": team.org_id}, token=owner)
    assert "errors" not in body, body
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Bo"}},
                         token=owner)
    assert "errors" not in body, body  # writable again


async def test_another_org_is_not_affected(api: Api, team: Team, settings: Settings) -> None:
    other = await make_team(api, settings, "other", prefix="o.")
    owner = team.people[Role.OWNER].token
    await api.gql(DELETE, {"id": team.org_id, "slug": team.slug}, token=owner)
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": other.org_id, "name": "Bo"}},
                         token=other.people[Role.OWNER].token)
    assert "errors" not in body, body
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Bo"}},
                         token=owner)
    assert errors_of(body)[0]["extensions"]["code"] == "CONFLICT"


LEAVE = "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }"
REVOKE_TOKEN = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { revokedAt } } }"
AUTHORIZED = """query($slug: String!) { organization(slug: $slug) {
  authorizedApps { nodes { id } } } }"""
REVOKE_GRANT = "mutation($id: ID!) { revokeOAuthGrant(input: {id: $id}) { authorizedApp { id } } }"
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted } } }"""


async def test_safety_and_rights_stay_allowed_while_deletion_is_pending(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team,
        app_: App) -> None:  # noqa: F811
    owner = team.people[Role.OWNER].token
    assert WRITABLE_WHILE_DELETING >= {"revokeApiToken", "eraseDataSubject",
                                       "leaveOrganization", "openBillingPortal",
                                       "revokeOAuthGrant", "revokeSupportAccess"}
    await subscribe(api, http, stripe, team)
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Grace",
                                             "email": "grace@navy.example"}}, token=owner)
    assert "errors" not in body, body
    token = await make_token(team, ["leads:read"])
    await tokens_for(api, http, app_, team)
    body = await api.gql(AUTHORIZED, {"slug": team.slug}, token=owner)
    (grant,) = body["data"]["organization"]["authorizedApps"]["nodes"]
    body = await api.gql(DELETE, {"id": team.org_id, "slug": team.slug}, token=owner)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING"

    # Revoking a token (the deletion revoked it already: the answer says so, no CONFLICT).
    body = await api.gql(REVOKE_TOKEN, {"id": to_base64("ApiToken", token.row.id)},
                         token=owner)
    assert body["data"]["revokeApiToken"]["apiToken"]["revokedAt"], body
    row = await ApiToken._scoped(team.org.id).get(id=token.row.id)
    assert row.revoked_at is not None

    # Revoking a partner app's grant (revoked by the deletion too).
    body = await api.gql(REVOKE_GRANT, {"id": grant["id"]}, token=owner)
    assert body["data"]["revokeOAuthGrant"]["authorizedApp"]["id"] == grant["id"], body

    # Erasing what the org holds about a person.
    body = await api.gql(ERASE, {"org": team.org_id, "email": "grace@navy.example"},
                         token=owner)
    assert body["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1, body
    assert await Lead._scoped(team.org.id).count() == 0

    # The billing portal, for the card of the period still served.
    body = await api.gql(OPEN_PORTAL, {"id": team.org_id}, token=owner)
    assert body["data"]["openBillingPortal"]["billingSession"]["url"], body
    assert stripe.asked("/v1/billing_portal/sessions")

    # A member leaving.
    body = await api.gql(LEAVE, {"id": team.org_id}, token=team.people[Role.MEMBER].token)
    assert body["data"]["leaveOrganization"]["deletedId"] == team.memberships[Role.MEMBER], body

    # The rest stays refused.
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Bo"}},
                         token=owner)
    assert errors_of(body)[0]["extensions"]["reason"] == "ORG_DELETION_PENDING"
