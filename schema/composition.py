"""The two types every domain adds to, composed here and nowhere else: `Me` and `Organization`.

Each domain module declares the fields it contributes as a mixin (`MeOrgFields` in
`schema/orgs.py`, `OrganizationLeadFields` in `schema/leads.py`...), a `@strawberry.type` that is
not in the schema itself, next to the types those fields return. This module inherits them into
the final types, so imports run one way: this module imports the domains, and no domain imports
this module or another domain above it. A domain type that returns `Me` or `Organization` names
it with `Annotated[Me, strawberry.lazy("schema.composition")]`, which Strawberry resolves when the
schema is built; type checkers see the base class instead (`MeBase`, `OrganizationBase`).
`tests/test_schema_imports.py` keeps the import graph of `schema/` free of cycles.

The order of the bases is the order of the fields in the schema.
"""

from __future__ import annotations

import strawberry

from schema.accounts import MeBase
from schema.activity import OrganizationActivityFields
from schema.ai import OrganizationAiFields
from schema.billing import OrganizationBillingFields
from schema.consents import MeConsentFields
from schema.custom_domains import OrganizationDomainFields
from schema.deletions import MeDeletionFields
from schema.exports import MeExportFields
from schema.forms import OrganizationFormFields
from schema.leads import OrganizationLeadFields
from schema.oauth import MeOAuthFields, OrganizationOAuthFields
from schema.orgs import MeOrgFields, OrganizationBase, OrganizationMemberFields
from schema.policies import MePolicyFields
from schema.privacy_requests import OrganizationPrivacyRequestFields
from schema.social import MeSocialFields
from schema.support import MeSupportFields, OrganizationSupportFields
from schema.tokens import OrganizationTokenFields
from schema.usage import OrganizationUsageFields
from schema.webhooks import OrganizationWebhookFields


@strawberry.type(description="You, the signed-in person: your account with what only you see of "
                             "it (your organizations, partner apps, sign-in methods, consents, "
                             "policy acceptances, exports and deletion). `me` returns it, and so "
                             "do the mutations that act on your own account. Other people see "
                             "you as a `User`, whose `id` is this `id`.")
class Me(MeBase, MeOrgFields, MeOAuthFields, MeSocialFields, MeConsentFields, MePolicyFields,
         MeExportFields, MeDeletionFields, MeSupportFields):
    pass


@strawberry.type(description="A team using Relleks: the tenant that owns leads and members. "
                             "Any credential of the organization (a member of any role, an "
                             "API token or partner app of it, whatever its scopes) reads its "
                             "identity (`id`, `name`, `slug`); every other field names the "
                             "permission it needs.")
class Organization(OrganizationBase, OrganizationLeadFields, OrganizationBillingFields,
                   OrganizationMemberFields, OrganizationTokenFields, OrganizationOAuthFields,
                   OrganizationActivityFields, OrganizationFormFields,
                   OrganizationDomainFields, OrganizationWebhookFields, OrganizationAiFields,
                   OrganizationUsageFields, OrganizationSupportFields,
                   OrganizationPrivacyRequestFields):
    pass
