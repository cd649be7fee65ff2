"""Requests from the people in the CRM in the API: `exportDataSubject`, `eraseDataSubject` and
`restrictProcessing`.

All three need `privacy:manage` (OWNER and ADMIN) and a person: an API token cannot carry it.
The README's Privacy section says what each does.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from auth.permissions import Permission
from models import leads as lead_models
from resolvers import data_subjects as resolvers
from schema.base import Info
from schema.leads import Lead
from schema.permissions import (
    HasPermission,
    global_uuid,
    org_from_argument,
    org_of,
    requires,
)

OrganizationId = Annotated[relay.GlobalID, strawberry.argument(
    description="The organization that holds the data.")]
Email = Annotated[str, strawberry.argument(
    description="The person's email address; leads match it as stored (normalised, "
                "lower-cased).")]


@strawberry.type(description="Everything an organization holds about one person, for answering "
                             "their access request.")
class DataSubjectExport:
    email: str = strawberry.field(description="The email matched, normalised.")
    lead_count: int = strawberry.field(description="How many leads have this email.")
    note_count: int = strawberry.field(description="How many notes are on those leads.")
    document: JSON = strawberry.field(
        description="The machine-readable copy to hand over: `{email, organization, "
                    "generatedAt, leads, notes, activity, formSubmissions}`. `activity` lists "
                    "what was done to the person's leads and notes (action, time, target), "
                    "without who did it; `formSubmissions` stays empty until forms exist.")


@strawberry.type(description="What erasing a person removed.")
class DataSubjectErasure:
    email: str = strawberry.field(description="The email erased, normalised (not stored).")
    leads_deleted: int = strawberry.field(description="Leads deleted, with their tags.")
    notes_deleted: int = strawberry.field(description="Notes on those leads deleted.")
    events_scrubbed: int = strawberry.field(
        description="Activity events about them reduced to a tombstone (action, time and "
                    "actor kept, details dropped).")
    mentions_redacted: int = strawberry.field(
        description="Other notes of the organization in which the email was replaced by "
                    "`[erased]`.")


_PRIVACY = requires(HasPermission(Permission.PRIVACY_MANAGE,
                                  org=org_from_argument("organization_id")))


@strawberry.type
class DataSubjectMutations:
    @strawberry.mutation(
        description="Export every lead, note and activity record the organization holds about "
                    "a person, found by email (`privacy:manage`, a person). Restricted leads "
                    "are included. The export is logged without the email.",
        extensions=[_PRIVACY])
    async def export_data_subject(self, info: Info, organization_id: OrganizationId,
                                  email: Email) -> DataSubjectExport:
        org_id = global_uuid(organization_id, "Organization", "organizationId")
        document = await resolvers.export_data_subject(info.context, org_id, email)
        return DataSubjectExport(email=document["email"], lead_count=len(document["leads"]),
                                 note_count=len(document["notes"]), document=document)

    @strawberry.mutation(
        description="Erase a person from the organization, found by email (`privacy:manage`, "
                    "a person): their leads and notes are deleted, activity about them keeps "
                    "a tombstone, and the erasure is logged without the email. Irreversible.",
        extensions=[_PRIVACY])
    async def erase_data_subject(self, info: Info, organization_id: OrganizationId,
                                 email: Email) -> DataSubjectErasure:
        org_id = global_uuid(organization_id, "Organization", "organizationId")
        erasure = await resolvers.erase_data_subject(info.context, org_id, email)
        return DataSubjectErasure(
            email=resolvers.subject_email(email), leads_deleted=erasure.leads,
            notes_deleted=erasure.notes, events_scrubbed=erasure.events,
            mentions_redacted=erasure.mentions)

    @strawberry.mutation(
        description="Restrict processing of a lead at the person's request, or lift it "
                    "(`privacy:manage`, a person). A restricted lead stays stored and visible "
                    "to the organization's people, flagged, but cannot be changed (edits, "
                    "assignment, notes: CONFLICT) and is left out of CSV exports, of API-token "
                    "reads and of imports.",
        extensions=[requires(HasPermission(
            Permission.PRIVACY_MANAGE, org=org_of(lead_models.Lead, "Lead", "lead_id")))])
    async def restrict_processing(
        self, info: Info,
        lead_id: Annotated[relay.GlobalID, strawberry.argument(description="The lead.")],
        restricted: Annotated[bool, strawberry.argument(
            description="Restrict (true) or lift the restriction (false).")],
    ) -> Lead:
        return await resolvers.restrict_processing(  # type: ignore[return-value]
            info.context, global_uuid(lead_id, "Lead", "leadId"), restricted)
