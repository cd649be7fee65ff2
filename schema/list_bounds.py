"""The most items each plain list of the schema can hold, for the cost model (`engine/cost.py`).

A connection is priced by its page size; a plain list (a small fixed set: a user's consents,
one per kind) by its bound here, per parent item. A list without an entry is priced as a whole
page and fails `tests/cost/test_cost.py::test_every_plain_list_has_a_declared_bound`.
"""

from __future__ import annotations

from auth.permissions import TOKEN_SCOPES, Permission
from billing.plans import PLANS
from models.billing import BillingInterval
from models.consents import ConsentKind
from models.forms import FormField
from models.leads import Lead
from models.social import SocialProvider
from models.usage import ClientKind
from models.webhooks import WebhookEventType
from resolvers.custom_domains import RECORD_TYPES
from resolvers.form_intake import MAX_SIGNALS
from resolvers.forms import MAX_ORIGINS
from resolvers.lead_transfer import MAX_IMPORT_ERRORS
from resolvers.leads import MAX_TAGS
from resolvers.oauth import MAX_REDIRECT_URIS
from resolvers.support_attachments import MAX_PER_MESSAGE as MAX_ATTACHMENTS
from resolvers.usage import MAX_CLIENTS, MAX_DAYS, TOP
from services.ai.minimise import MANIFEST_FIELDS
from services.ai.prompts import MAX_STEPS
from services.dns import MAX_VALUES as MAX_DNS_VALUES

LIST_BOUNDS: dict[str, int] = {
    # A support message's files (SUPPORT_ATTACHMENTS_PER_MESSAGE, at most 10).
    "SupportMessage.attachments": MAX_ATTACHMENTS,
    # Usage analytics: a day per day of the range, a kind per client kind, the top 10s.
    "OrganizationUsage.days": MAX_DAYS,
    "UsageDayTotals.byKind": len(ClientKind),
    "OrganizationUsage.topOperations": TOP,
    "OrganizationUsage.topPages": TOP,
    "OrganizationUsage.clients": MAX_CLIENTS,
    # The fields of a lead sent to the AI provider, plus the notes and a draft's purpose.
    "AiProvenance.dataManifest": len(MANIFEST_FIELDS) + 2,
    "AiGeneration.nextSteps": MAX_STEPS,
    # Lists of objects: each item is priced, and multiplies what it holds.
    "Me.linkedIdentities": len(SocialProvider),  # one per provider (unique)
    "Me.consents": len(ConsentKind),  # one per kind
    "Query.plans": len(PLANS),  # the catalog
    "Plan.prices": len(BillingInterval),  # one per interval
    "Query.scopes": len(TOKEN_SCOPES),  # the catalog
    "Query.socialProviders": len(SocialProvider),  # the catalog
    "OAuthAuthorizationRequest.scopes": len(Permission),  # distinct scopes
    "ImportResult.errors": MAX_IMPORT_ERRORS,  # the first 100 problems
    "LeadForm.fields": len(FormField),  # each field once
    "CustomDomain.records": len(RECORD_TYPES),  # the TXT and the CNAME
    "DomainCheck.expected": len(RECORD_TYPES),
    "DomainCheck.observed": len(RECORD_TYPES),  # one lookup per record
    # Lists of scalars: free, bounded all the same.
    "Lead.tags": MAX_TAGS,
    "WebhookEndpoint.eventTypes": len(WebhookEventType),  # distinct types
    "LeadEvent.changedFields": len(Lead._meta.fields_map),  # distinct lead fields
    "ApiToken.scopes": len(Permission),  # distinct scopes
    "AuthorizedApp.scopes": len(Permission),
    "OAuthApp.scopes": len(Permission),
    "OAuthApp.redirectUris": MAX_REDIRECT_URIS,
    "Organization.viewerPermissions": len(Permission),
    "LeadForm.allowedOrigins": MAX_ORIGINS,
    "FormSubmission.signals": MAX_SIGNALS,
    "ObservedDnsRecord.values": MAX_DNS_VALUES,  # the first ten answers
}
"""The most items each plain list (`Type.field`) can hold: its price per parent item. A list
without an entry is priced as a whole page (DEFAULT_PAGE), and fails
`tests/cost/test_cost.py::test_every_plain_list_has_a_declared_bound`."""
