"""The activity log in the API: `ActivityEvent` and its filter."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from auth.permissions import Permission
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.permissions import HasPermission, org_from_source, requires
from models import activity as models
from models import orgs as org_models
from models.billing import BillingInterval, InvoiceStatus, Plan, SubscriptionStatus
from models.leads import LeadSource, LeadStatus
from models.orgs import Role
from resolvers import activity as resolvers
from schema.accounts import User

A = models.ActivityAction
ActivityAction = A
described_enum(
    A, description="What an activity event records: the object, then what happened to it.",
    values={
        A.ORGANIZATION_CREATED: "The organization was created (`summary`: name, slug).",
        A.ORGANIZATION_UPDATED: "Its name or slug changed (`summary`: each as [old, new]).",
        A.ORGANIZATION_EXPORT_REQUESTED: "An export of all its data was asked for.",
        A.ORGANIZATION_DELETION_SCHEDULED: "Its deletion was scheduled (`summary.dueAt`).",
        A.ORGANIZATION_DELETION_CANCELED: "Its scheduled deletion was called off.",
        A.ORGANIZATION_RENEWAL_STOPPED: "Its subscription stopped renewing because its only "
                                        "member's account deletion would delete it "
                                        "(`summary.reason`).",
        A.ORGANIZATION_RENEWAL_RESUMED: "Its subscription renews again: the account deletion "
                                        "was canceled or someone joined (`summary.reason`).",
        A.ORGANIZATION_OWNERSHIP_TRANSFERRED: "Ownership passed to another member (by an "
                                              "OWNER, or when the last OWNER's account was "
                                              "deleted: `summary.reason`).",
        A.ORGANIZATION_KEY_ROTATED: "Its data encryption key was rotated "
                                    "(`summary.keyVersion`: the new key's version).",
        A.INVITATION_CREATED: "Someone was invited (`summary.role`).",
        A.INVITATION_RESENT: "An invitation was mailed again.",
        A.INVITATION_REVOKED: "An invitation was withdrawn, or ended with its inviter.",
        A.MEMBER_JOINED: "Someone accepted an invitation and joined (`summary.role`).",
        A.MEMBER_ROLE_CHANGED: "A member's role changed (`summary.role`: [old, new]).",
        A.MEMBER_REMOVED: "A member was removed by another.",
        A.MEMBER_LEFT: "A member left.",
        A.LEAD_CREATED: "A lead was created (`summary.source`).",
        A.LEAD_UPDATED: "Fields of a lead changed (`summary.fields` names them, never their "
                        "values).",
        A.LEAD_STATUS_CHANGED: "A lead's status changed (`summary.status`: [old, new], e.g. "
                               "[\"NEW\", \"CONTACTED\"]).",
        A.LEAD_ASSIGNED: "A lead was given to a member, or to nobody (`summary.owner`).",
        A.LEAD_DELETED: "A lead and its notes were deleted.",
        A.LEAD_RESTRICTED: "Processing of a lead was restricted at the person's request.",
        A.LEAD_UNRESTRICTED: "That restriction was lifted.",
        A.LEADS_IMPORTED: "Leads were imported from a CSV file (`summary`: counts).",
        A.LEADS_EXPORTED: "Leads were exported as CSV (`summary.rows`).",
        A.NOTE_ADDED: "A note was added to a lead (`summary.lead`; never the note's text).",
        A.NOTE_UPDATED: "A note was edited.",
        A.NOTE_DELETED: "A note was deleted.",
        A.API_TOKEN_CREATED: "An API token was created (`summary`: name, scopes).",
        A.API_TOKEN_REVOKED: "An API token was revoked, or ended with its creator.",
        A.OAUTH_APP_AUTHORIZED: "A partner app was authorised (`summary`: app, scopes).",
        A.OAUTH_APP_REVOKED: "A partner app's authorisation was revoked.",
        A.CUSTOM_DOMAIN_ADDED: "A custom domain was added (`summary.hostname`).",
        A.CUSTOM_DOMAIN_VERIFIED: "A check saw a custom domain's records: it serves the "
                                  "organization's pages (`summary.hostname`).",
        A.CUSTOM_DOMAIN_FAILED: "A custom domain's records were not seen within 72 hours of "
                                "checks (`summary.hostname`).",
        A.CUSTOM_DOMAIN_LAPSED: "A verified custom domain's records are gone: it stopped "
                                "serving (`summary`: hostname, verdict).",
        A.CUSTOM_DOMAIN_REMOVED: "A custom domain was removed (`summary.hostname`).",
        A.WEBHOOK_ENDPOINT_CREATED: "A webhook endpoint was created (`summary.eventTypes`).",
        A.WEBHOOK_ENDPOINT_UPDATED: "A webhook endpoint was changed (`summary.fields`).",
        A.WEBHOOK_ENDPOINT_ENABLED: "A webhook endpoint was enabled: its waiting messages are "
                                    "sent.",
        A.WEBHOOK_ENDPOINT_DISABLED: "A webhook endpoint was disabled (`summary.reason`: "
                                     "manual, gone or failing).",
        A.WEBHOOK_ENDPOINT_DELETED: "A webhook endpoint was deleted with its delivery log.",
        A.AI_ENABLED: "The organization's AI features were turned on "
                      "(`setOrganizationAiEnabled`).",
        A.AI_DISABLED: "The organization's AI features were turned off.",
        A.SUPPORT_ACCESS_GRANTED: "Relleks staff were granted read access to the organization "
                                  "from a support ticket (`summary`: hours, expiresAt).",
        A.SUPPORT_ACCESS_REVOKED: "A support access grant was revoked before it ended.",
        A.WEBHOOK_SECRET_ROTATED: "A webhook endpoint's secret was replaced (the previous one "
                                  "signs for 24 hours more).",
        A.BILLING_CHECKOUT_STARTED: "A Stripe Checkout was started (`summary`: plan, "
                                    "interval).",
        A.BILLING_CHECKOUT_COMPLETED: "A Stripe Checkout was paid and the plan applies.",
        A.BILLING_PORTAL_OPENED: "Stripe's billing portal was opened.",
        A.BILLING_SUBSCRIPTION_CREATED: "Stripe reported a new subscription.",
        A.BILLING_SUBSCRIPTION_UPDATED: "Stripe reported a change of the subscription "
                                        "(`summary.changed`).",
        A.BILLING_SUBSCRIPTION_CANCELED: "Stripe reported the subscription ended.",
        A.BILLING_INVOICE_PAID: "An invoice was paid.",
        A.BILLING_PAYMENT_FAILED: "A payment failed; Stripe retries it.",
        A.BILLING_PAYMENT_METHOD_UPDATED: "The payment method Stripe charges changed "
                                          "(`summary.brand`, `summary.last4`).",
        A.LEAD_FORM_CREATED: "A lead form was created (`summary.name`).",
        A.LEAD_FORM_UPDATED: "Settings of a lead form changed (`summary.fields` names them).",
        A.LEAD_FORM_PAUSED: "A lead form was paused: it takes no submissions.",
        A.LEAD_FORM_RESUMED: "A paused lead form takes submissions again.",
        A.LEAD_FORM_DELETED: "A lead form and its submissions were deleted.",
        A.FORM_SUBMISSION_RELEASED: "A held or spam submission was accepted by a person "
                                    "(`summary.form`).",
        A.FORM_SUBMISSION_DISCARDED: "A submission was thrown away (`summary.form`).",
        A.DATA_SUBJECT_EXPORTED: "Data about a person was exported at their request.",
        A.DATA_SUBJECT_ERASED: "Data about a person was erased at their request.",
        A.PRIVACY_REQUEST_COMPLETED: "A person's verified privacy request (from the public "
                                     "privacy page) was carried out.",
        A.PRIVACY_REQUEST_REJECTED: "A person's verified privacy request was turned down.",
    })

SUMMARY_ENUMS: dict[str, type[Enum]] = {
    "status": LeadStatus, "source": LeadSource, "role": Role, "plan": Plan,
    "interval": BillingInterval, "invoiceStatus": InvoiceStatus,
}
"""Summary keys whose values are stored as database values, and the enum whose GraphQL
spelling the API shows instead (`new` becomes `NEW`, as `LeadStatus` spells it)."""
BILLING_SUMMARY_ENUMS: dict[str, type[Enum]] = {**SUMMARY_ENUMS, "status": SubscriptionStatus}


def _spelled(value: Any, enum: type[Enum]) -> Any:
    if isinstance(value, list):
        return [_spelled(item, enum) for item in value]
    try:
        return enum(value).name
    except ValueError:
        return value


def spelled_summary(action: models.ActivityAction, summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with every enum value spelled as the schema spells it, [old, new] pairs and
    billing's `changed` included."""
    enums = BILLING_SUMMARY_ENUMS if action.value.startswith("billing.") else SUMMARY_ENUMS
    spelled: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "changed" and isinstance(value, dict):
            value = spelled_summary(action, value)
        elif key in enums:
            value = _spelled(value, enums[key])
        spelled[key] = value
    return spelled


@strawberry.type(description="One change to an organization's data: who, what, when, from where.")
class ActivityEvent(ModelNode):
    model = models.ActivityEvent

    id: relay.NodeID[str]
    target_type: str = strawberry.field(description="The kind of object changed.")
    ip: str | None = strawberry.field(description="IP address of the request.")
    user_agent: str | None = strawberry.field(description="User-Agent of the request.")
    created_at: datetime.datetime = strawberry.field(description="When it happened.")

    @strawberry.field(description="What happened, e.g. MEMBER_ROLE_CHANGED.")
    def action(self, root: strawberry.Parent[models.ActivityEvent]) -> ActivityAction:
        return models.action_of(root.action)

    @strawberry.field(description="What changed, e.g. `{\"role\": [\"MEMBER\", \"ADMIN\"]}` "
                                  "([old, new]); enum values are spelled as the schema's enums "
                                  "spell them (LeadStatus, Role, PlanCode...).")
    def summary(self, root: strawberry.Parent[models.ActivityEvent]) -> JSON:
        return JSON(spelled_summary(models.action_of(root.action), root.summary or {}))

    @strawberry.field(description="Global id of the object changed, when it has one.")
    def target_id(self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.target_id is None:
            return None
        type_name = {"organization": "Organization", "membership": "Membership",
                     "invitation": "Invitation", "lead_form": "LeadForm",
                     "form_submission": "FormSubmission",
                     "support_access_grant": "SupportAccessGrant",
                     "privacy_request": "PrivacyRequest"}.get(root.target_type,
                                                              root.target_type)
        return strawberry.ID(str(relay.GlobalID(type_name, str(root.target_id))))

    @strawberry.field(description="The API token that did it (the id `organization.apiTokens` "
                                  "lists); null when a person or the system did.")
    def actor_token_id(self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.api_token_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("ApiToken", str(root.api_token_id))))

    @strawberry.field(name="actorAuthorizedAppId",
                      description="The partner app (OAuth grant) that did it: the id "
                                  "`organization.authorizedApps` lists; null otherwise.")
    def actor_authorized_app_id(
            self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.oauth_grant_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("AuthorizedApp", str(root.oauth_grant_id))))

    @strawberry.field(description="The lead form whose public submission did it (the id "
                                  "`organization.leadForms` lists); null otherwise.")
    def actor_form_id(self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.form_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("LeadForm", str(root.form_id))))

    actor = relation(
        "actor_id", "user", graphql_type=User | None,
        description="Who did it; null for the system, a deleted account, an "
                    "API token (see `actorTokenId`), a partner app (see "
                    "`actorAuthorizedAppId`) or a lead form (see `actorFormId`).")



@strawberry.input(description="Narrow the activity log.")
class ActivityFilter:
    action: ActivityAction | None = strawberry.field(
        default=None, description="Only events of this action.")
    actor_id: relay.GlobalID | None = strawberry.field(default=None,
                                                       description="Only this user's actions.")
    since: datetime.datetime | None = strawberry.field(default=None,
                                                       description="Only events at or after.")


@strawberry.type(description="What `Organization` holds of the activity log "
                             "(`schema/composition.py` composes `Organization`). Not in the "
                             "schema itself.")
class OrganizationActivityFields:
    @relay.connection(Connection[ActivityEvent], description="The activity log, newest first.",
                      extensions=[requires(HasPermission(Permission.ACTIVITY_READ,
                                                         org=org_from_source()))])
    def activity(self, root: strawberry.Parent[org_models.Organization], info: Info,
                 filter: Annotated[ActivityFilter | None, strawberry.argument(
                     description="Only the events matching every condition given.")] = None,
                 ) -> list[ActivityEvent]:
        filter = filter or ActivityFilter()
        actor_id = decode_id(filter.actor_id, "User", field="actorId") if filter.actor_id else None
        return cast("list[ActivityEvent]", Rows(resolvers.activity_query(
            info.context, root.id, action=filter.action, actor_id=actor_id, since=filter.since)))
