"""Consent receipts in the API: the `ConsentReceipt` type and `Lead.consentReceipts`
(`LeadReceiptFields`, which `schema/leads.py` gives `Lead`).

A receipt is the proof of a consent given through a lead form (see `models/forms.py`). It lives
below `schema/leads.py` so that `Lead` can list them while `schema/forms.py`, which names `Lead`,
stays above it.
"""

from __future__ import annotations

import datetime
from typing import cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Connection, Info, ModelNode, Rows
from engine.permissions import HasPermission, org_from_source, requires
from models import forms as models
from models import leads as lead_models
from resolvers import forms as resolvers


@strawberry.type(description="The proof of a consent given through a lead form: what the "
                             "person was shown, under which policy, when and from where. "
                             "Kept as written: a later edit of the form changes no receipt.")
class ConsentReceipt(ModelNode):
    model = models.ConsentReceipt

    id: relay.NodeID[str]
    form_name: str = strawberry.field(description="The form's name when it was sent.")
    consent_text: str | None = strawberry.field(
        description="The exact consent text shown; null when the form showed none (or the "
                    "page that posted it did not show ours).")
    consent_text_sha256: str | None = strawberry.field(
        description="SHA-256 (hex) of `consentText` as UTF-8, to match it with a copy.")
    consent_given: bool = strawberry.field(description="Whether the consent box was ticked.")
    policy_version: str = strawberry.field(
        description="The version of the terms and privacy policy in force (`currentPolicy`).")
    submitted_at: datetime.datetime = strawberry.field(description="When the form was sent.")
    origin: str | None = strawberry.field(description="The page's origin, as the browser "
                                                      "sent it.")
    user_agent: str | None = strawberry.field(description="The browser's User-Agent.")
    ip_hash: str | None = strawberry.field(
        description="HMAC-SHA-256 of the sender's IP with a server key (hex): it matches a "
                    "later complaint about one address, and gives no address back.")
    confirmed_at: datetime.datetime | None = strawberry.field(
        description="Double opt-in: when the mailed link was opened; null otherwise.")
    confirm_ip_hash: str | None = strawberry.field(
        description="Double opt-in: the keyed hash of the IP that opened the link.")
    created_at: datetime.datetime = strawberry.field(description="When the receipt was made "
                                                                 "(the submission accepted).")

    @strawberry.field(description="The form's id; null once the form is deleted.")
    def form_id(self, root: strawberry.Parent[models.ConsentReceipt]) -> strawberry.ID | None:
        if root.form_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("LeadForm", str(root.form_id))))


@strawberry.type(description="What `Lead` holds of consent receipts. Not in the schema itself.")
class LeadReceiptFields:
    @relay.connection(Connection[ConsentReceipt],
                      description="Consent receipts of the form submissions that made or "
                                  "joined this lead, newest first.",
                      extensions=[requires(HasPermission(Permission.LEADS_READ,
                                                         org=org_from_source()))])
    def consent_receipts(self, root: strawberry.Parent[lead_models.Lead],
                         info: Info) -> list[ConsentReceipt]:
        return cast("list[ConsentReceipt]", Rows(resolvers.receipts_query(
            info.context, root.organization_id, root.id)))
