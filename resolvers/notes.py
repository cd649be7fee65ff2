"""Notes on leads: adding, editing, deleting, and one lead's notes page by page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from core.validation import validate
from engine.context import Context
from engine.keyset import Order
from models.leads import Lead, Note
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.leads import EventWriter, get_lead, refuse_if_restricted

BODY_MAX = 10_000
NOTE_ORDER = Order("created_at", descending=True, is_datetime=True)


def clean_body(body: str) -> str:
    """A note's body (`Checks.multiline`): line breaks and tabs kept, at most 10,000 characters;
    BAD_USER_INPUT naming `body` otherwise."""
    with validate() as check:
        body = check.multiline("body", body, max_length=BODY_MAX)
    return body


async def add_note(ctx: Context, lead_id: uuid.UUID, body: str) -> Note:
    body = clean_body(body)
    lead = await get_lead(ctx, lead_id)
    refuse_if_restricted(lead.restricted)
    async with in_transaction():
        note = await insert_note(lead, body, author_id=ctx.user.id,
                                 log=lambda *a, **kw: record(ctx, lead.organization_id, *a, **kw))
    return note


async def insert_note(lead: Lead, body: str, *, author_id: uuid.UUID | None,
                      log: EventWriter) -> Note:
    """Write a checked note on `lead` and its `note.added` event (heard by `leadEvents`), inside
    `realtime.outbox.in_transaction()`: `add_note` does, and so does a form submission that
    merges into a known lead (no author: the form wrote it)."""
    note = await Note.create(organization_id=lead.organization_id, lead_id=lead.id,
                             author_id=author_id, body=body)
    await log("note.added", target_type="note", target_id=note.id,
              summary={"lead": str(lead.id)})
    return note


async def get_note(ctx: Context, note_id: uuid.UUID) -> Note:
    """A note whose org passed its permission check; NOT_FOUND also for a note on a restricted
    lead asked for by an API token or partner app (the tenant scope hides it)."""
    return await ctx.row(Note, note_id, what="note")


async def update_note(ctx: Context, note_id: uuid.UUID, body: str) -> Note:
    body = clean_body(body)
    note = await get_note(ctx, note_id)
    refuse_if_restricted(await ctx.access.scoped(Lead, note.organization_id).filter(
        id=note.lead_id, restricted=True).exists())
    if body == note.body:
        return note
    async with in_transaction():
        note.body = body
        note.edited_at = datetime.now(UTC)
        await note.save(update_fields=["body", "edited_at"])
        await record(ctx, note.organization_id, "note.updated", target_type="note",
                     target_id=note.id, summary={"lead": str(note.lead_id)})
    return note


async def delete_note(ctx: Context, note_id: uuid.UUID) -> uuid.UUID:
    note = await get_note(ctx, note_id)
    async with in_transaction():
        await ctx.access.scoped(Note, note.organization_id).filter(id=note.id).delete()
        await record(ctx, note.organization_id, "note.deleted", target_type="note",
                     target_id=note.id, summary={"lead": str(note.lead_id)})
    return note.id


def notes_query(ctx: Context, org_id: uuid.UUID, lead_id: uuid.UUID) -> QuerySet[Note]:
    return ctx.access.scoped(Note, org_id).filter(lead_id=lead_id)
