"""Batch loaders for leads: the first page of notes of many leads in two statements.

`lead.notes(first: 3)` under a page of 50 leads must not run 50 queries. `NotesFirstPageLoader`
takes every lead asked for in one tick and ranks their notes with a window function
(ROW_NUMBER per lead, on both SQLite and PostgreSQL) in one statement. The statement goes through
the request's tenant scope (`Access.raw`), which writes its org condition and refuses an org
whose permission check has not passed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.loading import Loader
from database.rows import build
from models.leads import Note

if TYPE_CHECKING:
    from auth.access import Access

_RANKED_NOTES = """
SELECT * FROM (
  SELECT {table}.*,
         ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY created_at DESC, id DESC) AS rn
  FROM {table} WHERE {tenant} AND lead_id IN ({leads})
) ranked WHERE rn <= {limit} ORDER BY rn
"""
# `{table}` and `{tenant}` are the scope's to fill (see `models.tenancy.tenant_sql`).


class NotesFirstPageLoader(Loader[uuid.UUID, list[Note]]):
    """The newest `limit` notes of each lead of one org (whose access was checked)."""

    def __init__(self, access: Access, org_id: uuid.UUID, limit: int) -> None:
        super().__init__()
        self.access = access
        self.org_id = org_id
        self.limit = limit

    async def batch_load_fn(self, lead_ids: Sequence[uuid.UUID]) -> list[list[Note]]:
        postgres = Note._meta.db.capabilities.dialect == "postgres"
        params = [lead_id if postgres else str(lead_id) for lead_id in lead_ids]
        sql = _RANKED_NOTES.replace("{leads}", ", ".join("?" for _ in params)) \
            .replace("{limit}", str(int(self.limit)))
        rows, postgres = await self.access.raw(Note, self.org_id, sql, params)
        by_lead: dict[uuid.UUID, list[Note]] = defaultdict(list)
        # Ordered by rank, so each lead's list comes out newest first.
        notes = build(Note, rows, native_types=postgres)
        await Note.after_load(notes)  # decrypted, as every select through our engines is
        for note in notes:
            by_lead[note.lead_id].append(note)
        return [by_lead.get(lead_id, []) for lead_id in lead_ids]
