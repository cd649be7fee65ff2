"""Requests from the people in the CRM in the API: `exportDataSubject`, `eraseDataSubject` and
`restrictProcessing`.

All three need `privacy:manage` (OWNER and ADMIN) and a person: an API token cannot carry it.
The README's Privacy section says what each does.
"""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from auth.permissions import Permission
from engine.fields import Info, decode_id
from engine.permissions import (
    HasPermission,
    org_from_argument,
    org_of,
    requires,
)
from models import leads as lead_models
from resolvers import data_subjects as resolvers
from schema.leads import Lead

ORGANIZATION = "The organization that holds the data."
EMAIL = ("The person's email address; leads match it as stored (normalised, lower-cased).")


@strawberry.input(description="Whose data to export, and from which organization.")
class ExportDataSubjectInput:
    organization_id: relay.GlobalID = strawberry.field(description=ORGANIZATION)
    email: str = strawberry.field(description=EMAIL)


@strawberry.input(description="Whom to erase, and from which organization.")
class EraseDataSubjectInput:
    organization_id: relay.GlobalID = strawberry.field(description=ORGANIZATION)
    email: str = strawberry.field(description=EMAIL)


@strawberry.input(description="The lead, and whether its processing is restricted.")
class RestrictProcessingInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead.")
    restricted: bool = strawberry.field(description="Restrict (true) or lift the restriction "
                                                    "(false).")


@strawberry.type(description="Everything an organization holds about one person, for answering "
                             "their access request.")
class DataSubjectExport:
    email: str = strawberry.field(description="The email matched, normalised.")
    lead_count: int = strawberry.field(description="How many leads have this email.")
    note_count: int = strawberry.field(description="How many notes are on those leads.")
    document: JSON = strawberry.field(
        description="The machine-readable copy to hand over: `{email, organization, "
                    "generatedAt, leads, notes, activity, formSubmissions, consentReceipts, "
                    "aiGenerations}`. "
                    "`activity` lists "
                    "what was done to the person's leads and notes (action, time, target), "
                    "without who did it; `formSubmissions` holds what the person sent through "
                    "the organization's lead forms (any status), `consentReceipts` the proof "
                    "kept of their consents, `aiGenerations` the AI outputs about their leads "
                    "with the provider, model and fields sent.")


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
    submissions_deleted: int = strawberry.field(
        description="Lead form submissions of the person deleted (any status).")
    receipts_deleted: int = strawberry.field(
        description="Consent receipts of the person deleted.")


@strawberry.type(description="The result of `exportDataSubject`.")
class ExportDataSubjectPayload:
    data_subject_export: DataSubjectExport = strawberry.field(
        description="What the organization holds about the person.")


@strawberry.type(description="The result of `eraseDataSubject`.")
class EraseDataSubjectPayload:
    data_subject_erasure: DataSubjectErasure = strawberry.field(
        description="What was erased.")


@strawberry.type(description="The result of `restrictProcessing`.")
class RestrictProcessingPayload:
    lead: Lead = strawberry.field(description="The lead, with its new `restricted` flag.")


_PRIVACY = requires(HasPermission(Permission.PRIVACY_MANAGE,
                                  org=org_from_argument("input.organization_id")))


@strawberry.type
class DataSubjectMutations:
    @strawberry.mutation(
        description="Export every lead, note, activity record, form submission and consent "
                    "receipt the organization holds about a person, found by email "
                    "(`privacy:manage`, a person). Restricted leads are included. The export "
                    "is logged without the email.",
        extensions=[_PRIVACY])
    async def export_data_subject(self, info: Info, input: ExportDataSubjectInput
                                  ) -> ExportDataSubjectPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        document = await resolvers.export_data_subject(info.context, org_id, input.email)
        return ExportDataSubjectPayload(data_subject_export=DataSubjectExport(
            email=document["email"], lead_count=len(document["leads"]),
            note_count=len(document["notes"]), document=JSON(document)))

    @strawberry.mutation(
        description="Erase a person from the organization, found by email (`privacy:manage`, "
                    "a person): their leads, notes, form submissions and consent receipts are "
                    "deleted, activity about them keeps a tombstone, and the erasure is logged "
                    "without the email. Irreversible.",
        extensions=[_PRIVACY])
    async def erase_data_subject(self, info: Info, input: EraseDataSubjectInput
                                 ) -> EraseDataSubjectPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        erasure = await resolvers.erase_data_subject(info.context, org_id, input.email)
        return EraseDataSubjectPayload(data_subject_erasure=DataSubjectErasure(
            email=resolvers.subject_email(input.email), leads_deleted=erasure.leads,
            notes_deleted=erasure.notes, events_scrubbed=erasure.events,
            mentions_redacted=erasure.mentions, submissions_deleted=erasure.submissions,
            receipts_deleted=erasure.receipts))

    @strawberry.mutation(
        description="Restrict processing of a lead at the person's request, or lift it "
                    "(`privacy:manage`, a person). A restricted lead stays stored and visible "
                    "to the organization's people, flagged, but cannot be changed (edits, "
                    "assignment, notes: CONFLICT) and is left out of CSV exports, of API-token "
                    "reads and of imports.",
        extensions=[requires(HasPermission(
            Permission.PRIVACY_MANAGE, org=org_of(lead_models.Lead, "Lead", "input.lead_id")))])
    async def restrict_processing(self, info: Info, input: RestrictProcessingInput
                                  ) -> RestrictProcessingPayload:
        return RestrictProcessingPayload(lead=cast("Lead", await resolvers.restrict_processing(
            info.context, decode_id(input.lead_id, "Lead", field="leadId"),
            input.restricted)))
