"""Requests from the people in an organization's CRM (data subjects): access, erasure and
restriction of processing.

A person is found by email, normalised as lead emails are stored (`resolvers.leads`), among the
leads of one organization. The log never holds that email: the activity events of an export or
an erasure carry counts and a keyed fingerprint (HMAC-SHA-256 with the server's secret), which
lets the org later check "did you erase x@example.com?" by recomputing it, and which nobody
without the secret can turn back into an address. What the person sent through the org's lead
forms (submissions, whatever their status, and the consent receipts kept for them) is found by
the same email, and by the leads it joined, and goes with the export and the erasure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from core.validation import validate
from engine.context import Context
from keystore.fields import blind_index
from keystore.ledger import record_erasure, subject_hash
from models.activity import ActivityEvent
from models.ai import AiGeneration
from models.forms import ConsentReceipt, FormSubmission
from models.idempotency import IdempotencyKey
from models.leads import Lead, Note
from models.webhooks import WebhookAttempt
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.exports import ERASED, forget_org_exports
from resolvers.leads import ADDRESS_FIELDS, get_lead

TOMBSTONE = {"erased": True}
"""What an activity event about an erased person keeps of its summary."""
REDACTED = "[erased]"


def subject_email(email: str) -> str:
    """The email as leads store it; BAD_USER_INPUT naming `email` when it is no email."""
    with validate() as check:
        address = check.email("email", email)
    return address


def fingerprint(secret_key: str, email: str) -> str:
    """A keyed fingerprint of a normalised email, for the activity log."""
    digest = hmac.new(secret_key.encode(), b"data-subject:" + email.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def _global_id(type_name: str, row_id: uuid.UUID) -> str:
    """The id the API shows for a row (a Relay global id)."""
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


@dataclass
class Subject:
    """Everything one org holds about one person."""

    leads: list[Lead]
    notes: list[Note]
    events: list[ActivityEvent]
    submissions: list[FormSubmission]
    receipts: list[ConsentReceipt]
    generations: list[AiGeneration]


async def _notes_mentioning(ctx: Context, org_id: uuid.UUID, pattern: re.Pattern[str],
                            batch: int = 500) -> list[Note]:
    """The org's notes whose body mentions the address: bodies are encrypted, so they are read
    (decrypted) a batch at a time and matched here, not by the database."""
    found: list[Note] = []
    after: uuid.UUID | None = None
    while True:
        query = ctx.access.scoped(Note, org_id).order_by("id").limit(batch)
        rows = list(await (query.filter(id__gt=after) if after else query))
        found += [note for note in rows if note.body and pattern.search(note.body)]
        if len(rows) < batch:
            return found
        after = rows[-1].id


async def _find(ctx: Context, org_id: uuid.UUID, email: str) -> Subject:
    index = await blind_index(org_id, "email", email)
    leads = list(await ctx.access.scoped(Lead, org_id).filter(email_bidx=index)
                 .order_by("created_at", "id")) if index else []
    lead_ids = [lead.id for lead in leads]
    notes = list(await ctx.access.scoped(Note, org_id).filter(lead_id__in=lead_ids)
                 .order_by("created_at", "id")) if lead_ids else []
    # Submissions and receipts by their email's blind index (the email is encrypted).
    by_email = Q(email_bidx=index) if index else Q(id__isnull=True)
    about = by_email | Q(lead_id__in=lead_ids) if lead_ids else by_email
    submissions = list(await ctx.access.scoped(FormSubmission, org_id).filter(about)
                       .order_by("created_at", "id"))
    receipts = list(await ctx.access.scoped(ConsentReceipt, org_id).filter(about)
                    .order_by("created_at", "id"))
    generations = list(await ctx.access.scoped(AiGeneration, org_id).filter(
        lead_id__in=lead_ids).order_by("created_at", "id")) if lead_ids else []
    return Subject(leads, notes, await _events_about(ctx, org_id, leads, notes), submissions,
                   receipts, generations)


HOLDINGS = ("leads", "notes", "formSubmissions", "consentReceipts")


async def subject_counts(ctx: Context, org_id: uuid.UUID,
                         emails: Iterable[str]) -> dict[str, dict[str, int]]:
    """How many records of each kind the org holds about each person, by email, counted
    without decrypting them (privacy requests' tasks show it before anyone answers):
    `leads`, `notes` (on those leads), `formSubmissions` and `consentReceipts` (by the email's
    blind index or joined to those leads). Four statements, however many emails."""
    indexes = {email: await blind_index(org_id, "email", email) for email in set(emails)}
    counts = {email: dict.fromkeys(HOLDINGS, 0) for email in indexes}
    owner_of_index = {index: email for email, index in indexes.items() if index}
    if not owner_of_index:
        return counts
    wanted = list(owner_of_index)
    owner_of_lead = {lead_id: owner_of_index[index] for lead_id, index in await ctx.access
                     .scoped(Lead, org_id).filter(email_bidx__in=wanted)
                     .values_list("id", "email_bidx")}
    for email in owner_of_lead.values():
        counts[email]["leads"] += 1
    if owner_of_lead:
        for lead_id in await ctx.access.scoped(Note, org_id).filter(
                lead_id__in=list(owner_of_lead)).values_list("lead_id", flat=True):
            counts[owner_of_lead[lead_id]]["notes"] += 1
    about = Q(email_bidx__in=wanted)
    if owner_of_lead:
        about |= Q(lead_id__in=list(owner_of_lead))
    for model, key in ((FormSubmission, "formSubmissions"), (ConsentReceipt, "consentReceipts")):
        for index, lead_id in await ctx.access.scoped(model, org_id).filter(about).values_list(
                "email_bidx", "lead_id"):
            for owner in {owner_of_index.get(index), owner_of_lead.get(lead_id)}:
                if owner is not None:
                    counts[owner][key] += 1
    return counts


async def _events_about(ctx: Context, org_id: uuid.UUID, leads: list[Lead],
                        notes: list[Note]) -> list[ActivityEvent]:
    """Events whose target is one of the leads or notes, and events of notes since deleted
    (they name their lead in `summary.lead`; notes never predate their lead, which bounds the
    scan)."""
    if not leads:
        return []
    events = ctx.access.scoped(ActivityEvent, org_id)
    found = {e.id: e for e in await events.filter(
        target_type="lead", target_id__in=[lead.id for lead in leads])}
    lead_ids = {str(lead.id) for lead in leads}
    earliest = min(lead.created_at for lead in leads)
    note_ids = {note.id for note in notes}
    for event in await events.filter(target_type="note", created_at__gte=earliest):
        summary = event.summary if isinstance(event.summary, dict) else {}
        if event.target_id in note_ids or summary.get("lead") in lead_ids:
            found[event.id] = event
    return sorted(found.values(), key=lambda e: (e.created_at, str(e.id)))


def _lead_document(lead: Lead) -> dict[str, Any]:
    return {
        "id": _global_id("Lead", lead.id), "name": lead.name, "email": lead.email,
        "phone": lead.phone, "company": lead.company, "title": lead.title,
        "address": {part: getattr(lead, f"address_{part}") for part in ADDRESS_FIELDS},
        "status": lead.status.value, "source": lead.source.value, "tags": list(lead.tags or []),
        "restricted": lead.restricted,
        "restrictedAt": lead.restricted_at.isoformat() if lead.restricted_at else None,
        "createdAt": lead.created_at.isoformat(), "updatedAt": lead.updated_at.isoformat(),
    }


def _note_document(note: Note) -> dict[str, Any]:
    return {"id": _global_id("Note", note.id), "leadId": _global_id("Lead", note.lead_id),
            "body": note.body, "createdAt": note.created_at.isoformat(),
            "editedAt": note.edited_at.isoformat() if note.edited_at else None}


def _submission_document(submission: FormSubmission) -> dict[str, Any]:
    return {"id": _global_id("FormSubmission", submission.id),
            "formId": _global_id("LeadForm", submission.form_id),
            "status": submission.status.name, "values": dict(submission.values or {}),
            "consentGiven": submission.consent_given, "origin": submission.origin,
            "userAgent": submission.user_agent, "ipHash": submission.ip_hash,
            "leadId": _global_id("Lead", submission.lead_id) if submission.lead_id else None,
            "createdAt": submission.created_at.isoformat(),
            "confirmedAt": submission.confirmed_at.isoformat() if submission.confirmed_at
            else None}


def _receipt_document(receipt: ConsentReceipt) -> dict[str, Any]:
    return {"id": _global_id("ConsentReceipt", receipt.id), "formName": receipt.form_name,
            "consentText": receipt.consent_text,
            "consentTextSha256": receipt.consent_text_sha256,
            "consentGiven": receipt.consent_given, "policyVersion": receipt.policy_version,
            "submittedAt": receipt.submitted_at.isoformat(), "origin": receipt.origin,
            "userAgent": receipt.user_agent, "ipHash": receipt.ip_hash,
            "confirmedAt": receipt.confirmed_at.isoformat() if receipt.confirmed_at else None,
            "confirmIpHash": receipt.confirm_ip_hash,
            "leadId": _global_id("Lead", receipt.lead_id) if receipt.lead_id else None}


def _generation_document(generation: AiGeneration) -> dict[str, Any]:
    """An AI generation about the person: what was asked, what came back, and which fields
    of theirs went to which provider and model (the data manifest: names, never values)."""
    return {"id": _global_id("AiGeneration", generation.id),
            "leadId": _global_id("Lead", generation.lead_id),
            "feature": generation.feature.name, "status": generation.status.name,
            "text": generation.output_text, "nextSteps": generation.output_json,
            "purpose": generation.purpose, "provider": generation.provider,
            "model": generation.model, "promptVersion": generation.prompt_version,
            "dataManifest": list(generation.data_manifest or []),
            "createdAt": generation.created_at.isoformat(),
            "finishedAt": generation.finished_at.isoformat() if generation.finished_at
            else None}


def _event_document(event: ActivityEvent) -> dict[str, Any]:
    target = {"lead": "Lead", "note": "Note"}.get(event.target_type, event.target_type)
    return {"action": event.action, "at": event.created_at.isoformat(),
            "targetType": event.target_type,
            "targetId": _global_id(target, event.target_id) if event.target_id else None}


async def export_data_subject(ctx: Context, org_id: uuid.UUID, email: str) -> dict[str, Any]:
    """Everything the org holds about the person, as one JSON document, for an access request.
    Restricted leads are included (restriction limits use, not the person's access). Who in
    the org wrote or changed what is left out: that is the staff's data, not the person's."""
    email = subject_email(email)
    subject = await _find(ctx, org_id, email)
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None  # the field's permission check found it
    document = {
        "email": email,
        "organization": {"id": _global_id("Organization", org_id), "name": org.name},
        "generatedAt": datetime.now(UTC).isoformat(),
        "leads": [_lead_document(lead) for lead in subject.leads],
        "notes": [_note_document(note) for note in subject.notes],
        "activity": [_event_document(event) for event in subject.events],
        "formSubmissions": [_submission_document(s) for s in subject.submissions],
        "consentReceipts": [_receipt_document(r) for r in subject.receipts],
        "aiGenerations": [_generation_document(g) for g in subject.generations],
    }
    async with in_transaction():
        await record(ctx, org_id, "data_subject.exported", target_type="organization",
                     target_id=org_id, summary={
                         "subject": fingerprint(ctx.services.settings.secret_key, email),
                         "leads": len(subject.leads), "notes": len(subject.notes)})
    return document


@dataclass(frozen=True)
class Erasure:
    leads: int
    notes: int
    events: int
    """Activity events reduced to a tombstone."""
    mentions: int
    """Other notes of the org that mentioned the email, where it was replaced."""
    submissions: int = 0
    """Form submissions of the person (by email, or joined to their leads) deleted."""
    receipts: int = 0
    """Their consent receipts deleted."""


async def erase_data_subject(ctx: Context, org_id: uuid.UUID, email: str) -> Erasure:
    """Erase the person from the org in one transaction: their leads (tags, notes and AI
    generations with them) are deleted, the activity events about them keep action, time and
    actor but lose their
    summary, the email is replaced in any other note (and webhook attempt excerpt) that
    mentions it, and the erasure is
    logged without the email (and appended to the erasure ledger, by a keyed hash of the email,
    so that restoring an older backup erases the person again). Then every export of the
    organization made before it (which may hold the person) loses its link and its archive."""
    email = subject_email(email)
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    # In the ledger first (keystore/ledger.py): a backup's restore replays it.
    await record_erasure("data_subject", org_id=org_id, at=datetime.now(UTC),
                         subject_hash=subject_hash(ctx.services.settings.ledger_key, email))
    async with in_transaction():
        subject = await _find(ctx, org_id, email)
        lead_ids = [lead.id for lead in subject.leads]
        event_ids = [event.id for event in subject.events]
        if event_ids:
            await ctx.access.scoped(ActivityEvent, org_id).filter(id__in=event_ids) \
                .update(summary=TOMBSTONE)
        if subject.receipts:
            await ctx.access.scoped(ConsentReceipt, org_id).filter(
                id__in=[r.id for r in subject.receipts]).delete()
        if subject.submissions:
            await ctx.access.scoped(FormSubmission, org_id).filter(
                id__in=[s.id for s in subject.submissions]).delete()
        if lead_ids:
            await ctx.access.scoped(AiGeneration, org_id).filter(lead_id__in=lead_ids).delete()
            await ctx.access.scoped(Note, org_id).filter(lead_id__in=lead_ids).delete()
            await ctx.access.scoped(Lead, org_id).filter(id__in=lead_ids).delete()
        # Webhook payloads hold ids only; a receiver's answer may have echoed the address.
        await ctx.access.scoped(WebhookAttempt, org_id).filter(
            response_excerpt__icontains=email).update(response_excerpt=REDACTED)
        mentions = await _notes_mentioning(ctx, org_id, pattern)
        for note in mentions:
            note.body = pattern.sub(REDACTED, note.body)
            await note.save(update_fields=["body"])
        await forget_stored_responses(email, lead_ids)
        erasure = Erasure(leads=len(lead_ids), notes=len(subject.notes), events=len(event_ids),
                          mentions=len(mentions), submissions=len(subject.submissions),
                          receipts=len(subject.receipts))
        await record(ctx, org_id, ERASED, target_type="organization",
                     target_id=org_id, summary={
                         "subject": fingerprint(ctx.services.settings.secret_key, email),
                         "leads": erasure.leads, "notes": erasure.notes,
                         "events": erasure.events, "mentions": erasure.mentions,
                         "submissions": erasure.submissions, "receipts": erasure.receipts})
    if erasure.leads or erasure.mentions or erasure.submissions:
        # After the commit, the exports requested until then (a job building one meanwhile
        # notices the erasure and rebuilds it; later ones are built without the person).
        await forget_org_exports(ctx.services, org_id, made_before=datetime.now(UTC))
    return erasure


async def forget_stored_responses(email: str, lead_ids: list[uuid.UUID]) -> int:
    """Delete the idempotency keys (`web/idempotency.py`, at most 24 hours old) whose stored
    response names the person: their email, or the global id of one of their leads. A retry
    under such a key runs again rather than replaying their data."""
    mentions = Q(response_body__icontains=email)
    for lead_id in lead_ids:
        mentions |= Q(response_body__contains=_global_id("Lead", lead_id))
    return await IdempotencyKey.filter(mentions).delete()


async def restrict_processing(ctx: Context, lead_id: uuid.UUID, restricted: bool) -> Lead:
    """Restrict (or lift the restriction of) processing of one lead; see the README's Privacy
    section for what a restricted lead is left out of. Setting the state it has changes
    nothing."""
    lead = await get_lead(ctx, lead_id)
    if lead.restricted == restricted:
        return lead
    lead.restricted = restricted
    lead.restricted_at = datetime.now(UTC) if restricted else None
    async with in_transaction():
        await lead.save(update_fields=["restricted", "restricted_at", "updated_at"])
        await record(ctx, lead.organization_id,
                     "lead.restricted" if restricted else "lead.unrestricted",
                     target_type="lead", target_id=lead.id)
    return lead
