"""Every token scope against every guarded field, over HTTP.

What each field needs is read from its own declaration in the schema (`HasPermission`,
`HasPermissionOrOwns`, `IsAuthenticated`, `SeesPeople`, `BelongsToOrg` on the field), so this
walk cannot drift from the code:
a token with scope S may run a field exactly when S covers everything the field declares, and
otherwise gets FORBIDDEN naming a missing scope. Fields for people (`IsAuthenticated`) and
person-only permissions refuse every token. A new guarded field fails
`test_every_guarded_field_is_walked` until it gets a runner here.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry.permission import PermissionExtension

import schema as api_schema
from auth.permissions import PERSON_ONLY, TOKEN_SCOPES, Permission
from core.settings import Settings
from engine.permissions import (
    BelongsToOrg,
    HasPermission,
    HasPermissionOrOwns,
    IsAuthenticated,
    IsStaff,
    SeesPeople,
)
from models.ai import AiFeature, AiGeneration, AiStatus
from models.custom_domains import CustomDomain
from models.forms import FormSubmission, LeadForm, SubmissionStatus
from models.leads import Lead, Note
from models.oauth import OAuthApp, OAuthGrant
from models.orgs import Role
from models.privacy_requests import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from models.support import SupportAccessGrant, SupportTicket, TicketCategory
from models.webhooks import WebhookEndpoint, WebhookMessage
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team, add_invitation, add_member, gid, snapshot
from tests.tokens.conftest import Token, make_token


@dataclass(frozen=True)
class Needs:
    """What a field declares: the permissions it checks, and whether it is for people only."""

    permissions: frozenset[Permission]
    person: bool


def declarations() -> dict[str, Needs]:
    """`Type.field` -> what it needs, for every field of the schema with a permission."""
    found: dict[str, Needs] = {}
    for type_name, type_ in api_schema.schema._schema.type_map.items():
        for name, field in (getattr(type_, "fields", None) or {}).items():
            definition = (field.extensions or {}).get("strawberry-definition")
            for extension in getattr(definition, "extensions", ()):
                if not isinstance(extension, PermissionExtension):
                    continue
                needs: set[Permission] = set()
                person = False
                for permission in extension.permissions:
                    if isinstance(permission, HasPermissionOrOwns):
                        needs |= {permission.permission, permission.elevated}
                    elif isinstance(permission, HasPermission):
                        needs.add(permission.permission)
                    elif isinstance(permission, IsAuthenticated | IsStaff):
                        person = True
                    elif isinstance(permission, SeesPeople):
                        needs.add(Permission.MEMBERS_READ)
                    elif not isinstance(permission, BelongsToOrg):  # needs no scope at all
                        raise AssertionError(f"{type_name}.{name}: unknown {permission!r}")
                found[f"{type_name}.{name}"] = Needs(frozenset(needs), person)
    return found


@dataclass
class World:
    """An org with something for every field to act on."""

    team: Team
    target: str  # a VIEWER's membership
    invitations: list[str]
    lead: str
    note: str
    token: str  # a token to revoke
    grant: str  # an OAuth grant (authorized app) to revoke
    form: str  # a lead form
    held: list[str]  # two HELD submissions of it, to release and to discard
    domain: str  # a custom domain to check and remove
    endpoint: str = ""  # a webhook endpoint (https://1.1.1.1: public, never called here)
    message: str = ""  # a webhook message of it, to redeliver
    ticket: str = ""  # a support ticket of the OWNER naming the org
    support_grant: str = ""  # a support access grant given from it
    privacy_request: str = ""  # a verified request from the org's privacy page


Run = Callable[[httpx.AsyncClient, str, World], Awaitable[dict[str, Any]]]


def gql(document: str, variables: Callable[[World], dict[str, Any]] = lambda w: {}) -> Run:
    async def run(http: httpx.AsyncClient, secret: str, world: World) -> dict[str, Any]:
        return await Api(http).gql(document, variables(world), token=secret)
    return run


def org_field(selection: str) -> Run:
    return gql(f"query($slug: String!) {{ organization(slug: $slug) {{ {selection} }} }}",
               lambda w: {"slug": w.team.slug})


def multipart(document: str, variables: Callable[[World], dict[str, Any]], file: bytes,
              filename: str, content_type: str, at: str = "file") -> Run:
    """A GraphQL multipart request whose file is the variable at the dotted path `at`
    (`input.file`: inside the `input` variable)."""
    async def run(http: httpx.AsyncClient, secret: str, world: World) -> dict[str, Any]:
        given = variables(world)
        *parents, name = at.split(".")
        holder = given
        for parent in parents:
            holder = holder.setdefault(parent, {})
        holder[name] = None
        operations = {"query": document, "variables": given}
        response = await http.post("/graphql", files={
            "operations": (None, json.dumps(operations)),
            "map": (None, json.dumps({"0": [f"variables.{at}"]})),
            "0": (filename, file, content_type),
        }, headers={"authorization": f"Bearer {secret}"})
        assert response.status_code == 200, response.text
        return response.json()
    return run


def org_id(w: World) -> dict[str, Any]:
    return {"id": w.team.org_id}


def oauth_input(w: World) -> dict[str, Any]:
    return {"organizationId": w.team.org_id, "clientId": "x", "redirectUri": "y"}


RUNNERS: dict[str, Run] = {
    "Query.organization": org_field("id name slug"),
    "Organization.createdAt": org_field("createdAt"),
    "Organization.viewerRole": org_field("viewerRole"),
    "Organization.viewerPermissions": org_field("viewerPermissions"),
    "Organization.members": org_field("members(first: 5) { totalCount }"),
    "Organization.invitations": org_field("invitations(first: 5) { totalCount }"),
    "Organization.activity": org_field("activity(first: 5) { totalCount }"),
    "Organization.leads": org_field("leads(first: 5) { totalCount }"),
    "Organization.billing": org_field("billing { __typename }"),
    "Organization.apiTokens": org_field("apiTokens(first: 5) { totalCount }"),
    "Organization.authorizedApps": org_field("authorizedApps(first: 5) { totalCount }"),
    "Organization.customDomains": org_field("customDomains(first: 5) { totalCount }"),
    "Organization.webhookEndpoints": org_field("webhookEndpoints(first: 5) { totalCount }"),
    "WebhookEndpoint.messages": org_field(
        "webhookEndpoints(first: 1) { nodes { messages(first: 5) { totalCount } } }"),
    "WebhookMessage.attempts": org_field(
        "webhookEndpoints(first: 1) { nodes { messages(first: 1) { nodes { "
        "attempts(first: 5) { totalCount } } } } }"),
    "Query.lead": gql("query($id: ID!) { lead(id: $id) { name } }", lambda w: {"id": w.lead}),
    # A User is reached through a lead (its owner), a note, an event, an invitation...
    "User.email": gql("query($id: ID!) { lead(id: $id) { owner { email } } }",
                      lambda w: {"id": w.lead}),
    "Query.me": gql("{ me { id } }"),
    "Me.email": gql("{ me { email } }"),  # `me` behind a token is its creator
    "Query.sessions": gql("{ sessions(first: 1) { totalCount } }"),
    "Mutation.updateOrganization": gql(
        "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { "
        "name } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "name": "Renamed"}}),
    "Mutation.inviteMember": gql(
        "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { email } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "email": "new@example.com",
                         "role": "VIEWER"}}),
    "Mutation.resendInvitation": gql(
        "mutation($id: ID!) { resendInvitation(input: {id: $id}) { invitation { email } } }",
        lambda w: {"id": w.invitations[0]}),
    "Mutation.revokeInvitation": gql(
        "mutation($id: ID!) { revokeInvitation(input: {id: $id}) { invitation { email } } }",
        lambda w: {"id": w.invitations[1]}),
    "Mutation.updateMemberRole": gql(
        "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { membership { "
        "role } } }",
        lambda w: {"i": {"membershipId": w.target, "role": "MEMBER"}}),
    "Mutation.removeMember": gql("mutation($id: ID!) { removeMember(input: {membershipId: $id}) { "
                                 "deletedId } }",
                                 lambda w: {"id": w.target}),
    "Mutation.transferOwnership": gql(
        "mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { organization { "
        "slug } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "membershipId": w.target}}),
    "Mutation.leaveOrganization": gql(
        "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { "
        "deletedId } }", org_id),
    "Mutation.createLead": gql(
        "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { name } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "name": "From a script"}}),
    "Mutation.updateLead": gql(
        "mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { name } } }",
        lambda w: {"i": {"id": w.lead, "name": "Edited"}}),
    "Mutation.assignLead": gql(
        "mutation($i: AssignLeadInput!) { assignLead(input: $i) { lead { name } } }",
        lambda w: {"i": {"id": w.lead, "ownerId": None}}),
    "Mutation.deleteLead": gql("mutation($id: ID!) { deleteLead(input: {id: $id}) { deletedId } }",
                               lambda w: {"id": w.lead}),
    "Mutation.addNote": gql("mutation($i: AddNoteInput!) { addNote(input: $i) { note { body } } }",
                            lambda w: {"i": {"leadId": w.lead, "body": "Called them"}}),
    "Mutation.updateNote": gql(
        "mutation($i: UpdateNoteInput!) { updateNote(input: $i) { note { body } } }",
        lambda w: {"i": {"id": w.note, "body": "Edited"}}),
    "Mutation.deleteNote": gql("mutation($id: ID!) { deleteNote(input: {id: $id}) { deletedId } }",
                               lambda w: {"id": w.note}),
    "Mutation.importLeads": multipart(
        "mutation($input: ImportLeadsInput!) { importLeads(input: $input) "
        "{ importResult { imported } } }",
        lambda w: {"input": {"organizationId": w.team.org_id}}, b"name\r\nImported\r\n",
        "leads.csv", "text/csv", at="input.file"),
    "Mutation.exportLeads": gql(
        "mutation($id: ID!) { exportLeads(input: {organizationId: $id}) { leadExport { "
        "rowCount } } }", org_id),
    "Mutation.startCheckout": gql(
        "mutation($i: StartCheckoutInput!) { startCheckout(input: $i) { billingSession { url } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "plan": "BUSINESS",
                         "interval": "MONTH"}}),
    "Mutation.openBillingPortal": gql(
        "mutation($id: ID!) { openBillingPortal(input: {organizationId: $id}) { billingSession { "
        "url } } }", org_id),
    "Mutation.createApiToken": gql(
        "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { secret } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "name": "child",
                         "scopes": ["org:read"]}}),
    "Mutation.revokeApiToken": gql("mutation($id: ID!) { revokeApiToken(input: {id: $id}) { "
                                   "apiToken { id } } }",
                                   lambda w: {"id": w.token}),
    "Mutation.addCustomDomain": gql(
        "mutation($i: AddCustomDomainInput!) { addCustomDomain(input: $i) { customDomain { "
        "status } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "hostname": "new.acme-shop.com"}}),
    "Mutation.checkCustomDomain": gql(
        "mutation($id: ID!) { checkCustomDomain(input: {id: $id}) { customDomain { "
        "lastCheck { verdict } } } }", lambda w: {"id": w.domain}),
    "Mutation.removeCustomDomain": gql(
        "mutation($id: ID!) { removeCustomDomain(input: {id: $id}) { deletedId } }",
        lambda w: {"id": w.domain}),
    "Mutation.createWebhookEndpoint": gql(
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { "
        "secret } }", lambda w: {"i": {"organizationId": w.team.org_id,
                                       "url": "https://1.1.1.1/hook",
                                       "eventTypes": ["LEAD_CREATED"]}}),
    "Mutation.updateWebhookEndpoint": gql(
        "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { "
        "webhookEndpoint { description } } }",
        lambda w: {"i": {"id": w.endpoint, "description": "walked"}}),
    "Mutation.rotateWebhookSecret": gql(
        "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret } }",
        lambda w: {"id": w.endpoint}),
    "Mutation.enableWebhookEndpoint": gql(
        "mutation($id: ID!) { enableWebhookEndpoint(input: {id: $id}) { webhookEndpoint { "
        "enabled } } }", lambda w: {"id": w.endpoint}),
    "Mutation.disableWebhookEndpoint": gql(
        "mutation($id: ID!) { disableWebhookEndpoint(input: {id: $id}) { webhookEndpoint { "
        "enabled } } }", lambda w: {"id": w.endpoint}),
    "Mutation.deleteWebhookEndpoint": gql(
        "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedId } }",
        lambda w: {"id": w.endpoint}),
    "Mutation.redeliverWebhookMessage": gql(
        "mutation($id: ID!) { redeliverWebhookMessage(input: {messageId: $id}) { "
        "webhookMessage { status } } }", lambda w: {"id": w.message}),
    "Mutation.replayWebhookMessages": gql(
        "mutation($id: ID!, $since: DateTime!) { replayWebhookMessages(input: "
        "{endpointId: $id, since: $since}) { queued } }",
        lambda w: {"id": w.endpoint, "since": datetime.now(UTC).isoformat()}),
    "Query.oauthAuthorizationRequest": gql(
        "query($org: ID!) { oauthAuthorizationRequest(clientId: \"x\", redirectUri: \"y\", "
        "organizationId: $org) { state } }", lambda w: {"org": w.team.org_id}),
    "Mutation.approveOAuthAuthorization": gql(
        "mutation($i: ApproveOAuthAuthorizationInput!) { approveOAuthAuthorization(input: $i) "
        "{ oauthRedirect { redirectUrl } } }", lambda w: {"i": oauth_input(w)}),
    "Mutation.denyOAuthAuthorization": gql(
        "mutation($i: DenyOAuthAuthorizationInput!) { denyOAuthAuthorization(input: $i) "
        "{ oauthRedirect { redirectUrl } } }", lambda w: {"i": oauth_input(w)}),
    "Mutation.revokeOAuthGrant": gql("mutation($id: ID!) { revokeOAuthGrant(input: {id: $id}) { "
                                     "authorizedApp { id } } }",
                                     lambda w: {"id": w.grant}),
    "Mutation.registerOAuthApp": gql(
        'mutation { registerOAuthApp(input: {name: "A", redirectUris: ["https://a.example/cb"], '
        'scopes: ["org:read"]}) { clientSecret } }'),
    "Mutation.deleteOAuthApp": gql("mutation($id: ID!) { deleteOAuthApp(input: {id: $id}) { "
                                   "deletedId } }",
                                   lambda w: {"id": gid("OAuthApp", uuid.uuid4())}),
    "Mutation.exportDataSubject": gql(
        "mutation($id: ID!) { exportDataSubject(input: {organizationId: $id, "
        "email: \"a@example.com\"}) { dataSubjectExport { leadCount } } }", org_id),
    "Mutation.eraseDataSubject": gql(
        "mutation($id: ID!) { eraseDataSubject(input: {organizationId: $id, "
        "email: \"a@example.com\"}) { dataSubjectErasure { leadsDeleted } } }", org_id),
    "Mutation.restrictProcessing": gql(
        "mutation($id: ID!) { restrictProcessing(input: {leadId: $id, restricted: true}) "
        "{ lead { id } } }",
        lambda w: {"id": w.lead}),
    # Fields for people: the check runs before the arguments are used.
    "Mutation.setConsent": gql("mutation { setConsent(input: {kind: AI_TRAINING, granted: true}) "
                               "{ consent { granted } } }"),
    "Mutation.acceptPolicy": gql('mutation { acceptPolicy(input: {version: "x"}) '
                                 '{ user { id } } }'),
    "Mutation.logOut": gql("mutation { logOut { endedSessionId } }"),
    "Mutation.logOutEverywhere": gql("mutation { logOutEverywhere { endedSessions } }"),
    "Mutation.revokeSession": gql("mutation($id: ID!) { revokeSession(input: {id: $id}) "
                                  "{ deletedId } }",
                                  lambda w: {"id": gid("Session", "x")}),
    "Mutation.updateProfile": gql(
        'mutation { updateProfile(input: {name: "Bot"}) { user { name } } }'),
    "Mutation.changePassword": gql(
        'mutation { changePassword(input: {currentPassword: "a", newPassword: "b"}) '
        '{ user { id } } }'),
    "Mutation.requestEmailVerification": gql("mutation { requestEmailVerification { sent } }"),
    "Mutation.uploadAvatar": multipart(
        "mutation($input: UploadAvatarInput!) { uploadAvatar(input: $input) { user { id } } }",
        lambda w: {}, b"\x89PNG\r\n", "a.png", "image/png", at="input.file"),
    "Mutation.removeAvatar": gql("mutation { removeAvatar { deletedId } }"),
    "Mutation.createOrganization": gql(
        'mutation { createOrganization(input: {name: "Side project"}) { organization { id } } }'),
    "Mutation.acceptInvitation": gql(
        'mutation { acceptInvitation(input: {token: "whatever"}) { membership { id } } }'),
    "Mutation.unlinkIdentity": gql("mutation { unlinkIdentity(input: {provider: GOOGLE}) "
                                   "{ provider } }"),
    "Mutation.requestDataExport": gql("mutation { requestDataExport { dataExport { id } } }"),
    "Mutation.deleteAccount": gql('mutation { deleteAccount(input: {password: "x"}) '
                                  '{ deletedId } }'),
    "Mutation.cancelAccountDeletion": gql(
        "mutation { cancelAccountDeletion { scheduledDeletion { id } } }"),
    "Mutation.exportOrganization": gql(
        "mutation($id: ID!) { exportOrganization(input: {organizationId: $id}) "
        "{ dataExport { id } } }", org_id),
    "Mutation.deleteOrganization": gql(
        "mutation($id: ID!) { deleteOrganization(input: {organizationId: $id, "
        "confirmSlug: \"x\"}) { deletedId } }", org_id),
    "Mutation.rotateOrganizationKey": gql(
        "mutation($id: ID!) { rotateOrganizationKey(input: {organizationId: $id}) "
        "{ keyVersion } }", org_id),
    "Mutation.cancelOrganizationDeletion": gql(
        "mutation($id: ID!) { cancelOrganizationDeletion(input: {organizationId: $id}) "
        "{ scheduledDeletion { id } } }", org_id),
    "Organization.leadForms": org_field("leadForms(first: 5) { totalCount }"),
    "Query.leadForm": gql("query($id: ID!) { leadForm(id: $id) { name } }",
                          lambda w: {"id": w.form}),
    "LeadForm.submissions": gql(
        "query($id: ID!) { leadForm(id: $id) { submissions(first: 5) { totalCount } } }",
        lambda w: {"id": w.form}),
    "Lead.aiGenerations": gql(
        "query($id: ID!) { lead(id: $id) { aiGenerations(first: 5) { totalCount } } }",
        lambda w: {"id": w.lead}),
    "Organization.aiEnabled": org_field("aiEnabled"),
    "Organization.aiUsage": org_field("aiUsage { creditsUsed calls }"),
    "AiGeneration.provenance": org_field(
        "aiUsage { generations(first: 1) { nodes { provenance { model } } } }"),
    "Mutation.generateLeadSummary": gql(
        "mutation($id: ID!) { generateLeadSummary(input: {leadId: $id}) { generation { id } } }",
        lambda w: {"id": w.lead}),
    "Mutation.suggestNextSteps": gql(
        "mutation($id: ID!) { suggestNextSteps(input: {leadId: $id}) { generation { id } } }",
        lambda w: {"id": w.lead}),
    "Mutation.draftEmail": gql(
        "mutation($id: ID!) { draftEmail(input: {leadId: $id, purpose: \"Follow up\"}) { "
        "generation { id } } }", lambda w: {"id": w.lead}),
    "Mutation.setOrganizationAiEnabled": gql(
        "mutation($id: ID!) { setOrganizationAiEnabled(input: {organizationId: $id, "
        "enabled: true}) { organization { id } } }", org_id),
    "Lead.consentReceipts": gql(
        "query($id: ID!) { lead(id: $id) { consentReceipts(first: 5) { totalCount } } }",
        lambda w: {"id": w.lead}),
    "Organization.usage": org_field(
        "usage(from: \"2026-01-01\", to: \"2026-01-31\") { days { requests } }"),
    "Mutation.recordClientEvents": gql(
        "mutation($id: ID!) { recordClientEvents(input: {organizationId: $id, events: []}) "
        "{ recorded } }", org_id),
    "Mutation.createLeadForm": gql(
        "mutation($i: CreateLeadFormInput!) { createLeadForm(input: $i) { leadForm { id } } }",
        lambda w: {"i": {"organizationId": w.team.org_id, "name": "New form",
                         "fields": [{"name": "EMAIL", "required": True}]}}),
    "Mutation.updateLeadForm": gql(
        "mutation($i: UpdateLeadFormInput!) { updateLeadForm(input: $i) { leadForm { id } } }",
        lambda w: {"i": {"id": w.form, "name": "Renamed form"}}),
    "Mutation.pauseLeadForm": gql(
        "mutation($id: ID!) { pauseLeadForm(input: {id: $id}) { leadForm { status } } }",
        lambda w: {"id": w.form}),
    "Mutation.resumeLeadForm": gql(
        "mutation($id: ID!) { resumeLeadForm(input: {id: $id}) { leadForm { status } } }",
        lambda w: {"id": w.form}),
    "Mutation.deleteLeadForm": gql(
        "mutation($id: ID!) { deleteLeadForm(input: {id: $id}) { deletedId } }",
        lambda w: {"id": w.form}),
    "Mutation.releaseSubmission": gql(
        "mutation($id: ID!) { releaseSubmission(input: {id: $id}) { submission { status } } }",
        lambda w: {"id": w.held[0]}),
    "Mutation.discardSubmission": gql(
        "mutation($id: ID!) { discardSubmission(input: {id: $id}) { submission { status } } }",
        lambda w: {"id": w.held[1]}),
    "Query.organizationDeletion": gql(
        "query($id: ID!) { organizationDeletion(organizationId: $id) { status } }", org_id),
    "Query.supportQueue": gql("query { supportQueue(first: 1) { totalCount } }"),
    "Mutation.openSupportTicket": gql(
        "mutation { openSupportTicket(input: {category: QUESTION, subject: \"s\", "
        "body: \"b\"}) { ticket { id } } }"),
    "Mutation.replyToTicket": gql(
        "mutation($id: ID!) { replyToTicket(input: {ticketId: $id, body: \"b\"}) "
        "{ message { id } } }", lambda w: {"id": w.ticket}),
    "Mutation.setTicketStatus": gql(
        "mutation($id: ID!) { setTicketStatus(input: {ticketId: $id, status: RESOLVED}) "
        "{ ticket { id } } }", lambda w: {"id": w.ticket}),
    "Mutation.grantSupportAccess": gql(
        "mutation($id: ID!) { grantSupportAccess(input: {ticketId: $id, hours: 1}) "
        "{ grant { id } } }", lambda w: {"id": w.ticket}),
    "Mutation.revokeSupportAccess": gql(
        "mutation($id: ID!) { revokeSupportAccess(input: {id: $id}) { grant { id } } }",
        lambda w: {"id": w.support_grant}),
    "Mutation.confirmTicketWork": gql(
        "mutation($id: ID!) { confirmTicketWork(input: {ticketId: $id}) { ticket { id } } }",
        lambda w: {"id": w.ticket}),
    "Organization.privacyRequests": org_field("privacyRequests(first: 1) { totalCount }"),
    "Mutation.completePrivacyRequest": gql(
        "mutation($id: ID!) { completePrivacyRequest(input: {id: $id}) "
        "{ privacyRequest { id } } }", lambda w: {"id": w.privacy_request}),
    "Mutation.rejectPrivacyRequest": gql(
        "mutation($id: ID!) { rejectPrivacyRequest(input: {id: $id, reason: \"No.\"}) "
        "{ privacyRequest { id } } }", lambda w: {"id": w.privacy_request}),
    "Organization.supportAccessGrants": org_field(
        "supportAccessGrants(first: 1) { totalCount }"),
    "SupportAccessGrant.reads": org_field(
        "supportAccessGrants(first: 1) { nodes { reads(first: 1) { totalCount } } }"),
}
DECLARED = declarations()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Custom domains configured, their DNS questions sent to a loopback port where nothing
    listens: refused at once, a DNS_ERROR verdict, nothing leaves the machine."""
    return dataclasses.replace(settings, custom_domain_target="sites.relleks-test.net",
                               dns_nameservers=("127.0.0.1:9",), dns_timeout=1.0)


def needs_of(field: str) -> Needs:
    """What running the field needs, including the path to it: an `Organization` field is
    reached through `organization(slug:)`, which any credential of the org may run
    (`BelongsToOrg`: it adds no scope)."""
    needs = DECLARED[field]
    # `User.email` is reached through `lead(id:)`, `Me.email` through `me` (see their runners).
    reached_by = {"User.email": "Query.lead", "Me.email": "Query.me",
                  "Lead.consentReceipts": "Query.lead",
                  "Lead.aiGenerations": "Query.lead",
                  "AiGeneration.provenance": "Organization.aiUsage",
                  "LeadForm.submissions": "Query.leadForm",
                  "WebhookEndpoint.messages": "Organization.webhookEndpoints",
                  "WebhookMessage.attempts": "Organization.webhookEndpoints",
                  "SupportAccessGrant.reads": "Organization.supportAccessGrants"}.get(field)
    if reached_by is not None:
        path = DECLARED[reached_by]
        return Needs(needs.permissions | path.permissions, needs.person or path.person)
    if field.startswith("Organization."):
        path = DECLARED["Query.organization"]
        return Needs(needs.permissions | path.permissions, needs.person or path.person)
    return needs


@pytest.mark.no_db
def test_every_guarded_field_is_walked() -> None:
    # Subscriptions run over WebSocket: tests/realtime/test_scope_walk.py walks them.
    assert set(RUNNERS) == {f for f in DECLARED if not f.startswith("Subscription.")}


async def make_world(team: Team, settings: Settings) -> World:
    _, target = await add_member(settings, team, "target@example.com", Role.VIEWER, "Tara Get")
    invitations = []
    for n in range(2):
        invitation = await add_invitation(team, f"invited{n}@example.com")
        invitations.append(gid("Invitation", invitation.id))
    member = team.people[Role.MEMBER].user
    lead = await Lead.create(organization=team.org, name="Ada Lead", owner=member)
    note = await Note.create(organization=team.org, lead=lead, author=member, body="Hello")
    revocable = await make_token(team, ["org:read"], name="to revoke")
    app = await OAuthApp.create(owner=team.people[Role.OWNER].user, name="Partner",
                                client_id=f"rlkapp_{uuid.uuid4().hex}", client_secret_hash="x",
                                secret_prefix="rlk_ocs_x", redirect_uris=[], scopes=[])
    grant = await OAuthGrant.create(organization=team.org, app=app, scopes=["org:read"])
    domain = await CustomDomain.create(organization=team.org, hostname="walk.acme-shop.com",
                                       verification_token="rlk-dv-walk",
                                       pending_since=datetime.now(UTC))
    form = await LeadForm.create(organization=team.org, name="Contact us",
                                 fields_asked=[{"name": "email", "required": True}])
    held = [await FormSubmission.create(organization=team.org, form=form,
                                        status=SubmissionStatus.HELD, email=f"h{n}@example.com",
                                        values={"email": f"h{n}@example.com"})
            for n in range(2)]
    endpoint = await WebhookEndpoint.create(organization=team.org, url="https://1.1.1.1/hook",
                                            event_types=["lead.created"], secret_sealed="x")
    message = await WebhookMessage.create(organization=team.org, endpoint=endpoint,
                                          event_type="lead.created", payload={})
    # AI on (the org is on a paid plan), and one finished generation to read.
    team.org.ai_enabled = True
    await team.org.save(update_fields=["ai_enabled"])
    await AiGeneration.create(organization=team.org, lead=lead, feature=AiFeature.SUMMARY,
                              status=AiStatus.SUCCEEDED, output_text="A summary.")
    ticket = await SupportTicket.create(requester=team.people[Role.OWNER].user,
                                        organization=team.org, category=TicketCategory.BUG,
                                        subject="Walk")
    support_grant = await SupportAccessGrant.create(
        organization=team.org, ticket=ticket, expires_at=datetime.now(UTC) + timedelta(hours=1))
    now = datetime.now(UTC)
    privacy_request = await PrivacyRequest.create(
        organization_id=team.org.id, email="ada@example.com", kind=PrivacyRequestKind.ACCESS,
        status=PrivacyRequestStatus.OPEN, verify_expires_at=now, verified_at=now,
        due_at=now + timedelta(days=30))
    return World(team=team, target=target, invitations=invitations,
                 lead=gid("Lead", lead.id), note=gid("Note", note.id),
                 token=gid("ApiToken", revocable.row.id), grant=gid("AuthorizedApp", grant.id),
                 form=gid("LeadForm", form.id),
                 held=[gid("FormSubmission", row.id) for row in held],
                 domain=gid("CustomDomain", domain.id),
                 endpoint=gid("WebhookEndpoint", endpoint.id),
                 message=gid("WebhookMessage", message.id),
                 ticket=gid("SupportTicket", ticket.id),
                 support_grant=gid("SupportAccessGrant", support_grant.id),
                 privacy_request=gid("PrivacyRequest", privacy_request.id))


def _refused_for(needs: Needs, scopes: frozenset[Permission]) -> set[str] | None:
    """The scope names a refusal may name, or None when the token may run the field."""
    missing = {p.value for p in needs.permissions - scopes}
    if needs.person or needs.permissions & PERSON_ONLY:
        return missing | {"PERSON_ONLY"}
    return missing or None


def _assert_refused(body: dict[str, Any], allowed_names: set[str], label: str) -> None:
    errors = errors_of(body)
    assert len(errors) == 1, (label, body)
    extensions = errors[0]["extensions"]
    assert extensions["code"] == "FORBIDDEN", (label, body)
    if extensions.get("reason") == "PERSON_ONLY":
        assert "PERSON_ONLY" in allowed_names, (label, body)
    else:
        assert extensions["permission"] in allowed_names, (label, body)
        assert extensions.get("scope", extensions["permission"]) == extensions["permission"]


@pytest.mark.parametrize("field", sorted(RUNNERS))
async def test_each_scope_against_the_field(http: httpx.AsyncClient, settings: Settings,
                                           team: Team, field: str) -> None:
    world = await make_world(team, settings)
    needs, run = needs_of(field), RUNNERS[field]
    tokens: dict[Permission, Token] = {s: await make_token(team, [s.value]) for s in TOKEN_SCOPES}
    before = await snapshot()
    for scope, token in tokens.items():
        refused = _refused_for(needs, frozenset({scope}))
        if refused is None:
            continue  # run below, once: it changes the org
        _assert_refused(await run(http, token.secret, world), refused, f"{field} with {scope}")
    assert await snapshot() == before, "a refusal changed nothing"
    grantable = needs.permissions - PERSON_ONLY
    exact = await make_token(team, [p.value for p in grantable] or ["org:read"])
    refused = _refused_for(needs, grantable)
    body = await run(http, exact.secret, world)
    if refused is not None:
        _assert_refused(body, refused, f"{field} with every scope it names")
    else:
        assert "errors" not in body, (field, body)
        assert body["data"] and all(value is not None for value in body["data"].values())


async def test_a_token_of_any_single_scope_reads_its_orgs_identity(
        http: httpx.AsyncClient, team: Team) -> None:
    """`organization(slug:)` declares no scope (the walk above then runs it once): here every
    scope alone reads the org's identity, as GitHub's metadata permission is always granted."""
    assert DECLARED["Query.organization"] == Needs(frozenset(), person=False)
    for scope in TOKEN_SCOPES:
        token = await make_token(team, [scope.value])
        body = await Api(http).gql("query($slug: String!) { organization(slug: $slug) "
                                   "{ id name slug } }", {"slug": team.slug}, token=token.secret)
        assert body == {"data": {"organization": {
            "id": team.org_id, "name": team.org.name, "slug": team.slug}}}, (scope, body)
