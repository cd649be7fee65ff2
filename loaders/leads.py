"""Batch loaders for leads: the first page of notes of many leads in two statements.

`lead.notes(first: 3)` under a page of 50 leads must not run 50 queries. `NotesFirstPageLoader`
takes every lead asked for in one tick and ranks their notes with a window function
(ROW_NUMBER per lead, on both SQLite and PostgreSQL) in one statement.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from tortoise import connections

from core.loading import Loader
from database.rows import build
from models.leads import Note

_RANKED_NOTES = """
SELECT * FROM (
  SELECT notes.*,
         ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY created_at DESC, id DESC) AS rn
  FROM notes WHERE organization_id = {org} AND lead_id IN ({leads})
) ranked WHERE rn <= {limit} ORDER BY rn
"""


class NotesFirstPageLoader(Loader[uuid.UUID, list[Note]]):
    """The newest `limit` notes of each lead of one org (whose access was checked)."""

    def __init__(self, org_id: uuid.UUID, limit: int) -> None:
        super().__init__()
        self.org_id = org_id
        self.limit = limit

    async def batch_load_fn(self, lead_ids: Sequence[uuid.UUID]) -> list[list[Note]]:
        connection = connections.get("default")
        postgres = connection.capabilities.dialect == "postgres"
        params: list[object] = [self.org_id if postgres else str(self.org_id)]
        params += [lead_id if postgres else str(lead_id) for lead_id in lead_ids]
        marks = [f"${i}" if postgres else "?" for i in range(1, len(params) + 1)]
        sql = _RANKED_NOTES.format(org=marks[0], leads=", ".join(marks[1:]), limit=int(self.limit))
        _, rows = await connection.execute_query(sql, params)
        by_lead: dict[uuid.UUID, list[Note]] = defaultdict(list)
        # Ordered by rank, so each lead's list comes out newest first.
        for note in build(Note, rows, native_types=postgres):
            by_lead[note.lead_id].append(note)
        return [by_lead.get(lead_id, []) for lead_id in lead_ids]
