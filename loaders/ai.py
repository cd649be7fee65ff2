"""Batch loader for AI generations: the first page of generations of many leads in one
statement, so `lead.aiGenerations` under a page of leads costs one query, not one per lead.
Ranked per lead with a window function like `loaders.leads.NotesFirstPageLoader`, through the
request's tenant scope (`Access.raw`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.loading import Loader
from database.rows import build
from models.ai import AiGeneration

if TYPE_CHECKING:
    from auth.access import Access

_RANKED = """
SELECT * FROM (
  SELECT {table}.*,
         ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY created_at DESC, id DESC) AS rn
  FROM {table} WHERE {tenant} AND lead_id IN ({leads})
) ranked WHERE rn <= {limit} ORDER BY rn
"""


class GenerationsFirstPageLoader(Loader[uuid.UUID, list[AiGeneration]]):
    """The newest `limit` generations of each lead of one org (whose access was checked)."""

    def __init__(self, access: Access, org_id: uuid.UUID, limit: int) -> None:
        super().__init__()
        self.access = access
        self.org_id = org_id
        self.limit = limit

    async def batch_load_fn(self, lead_ids: Sequence[uuid.UUID]) -> list[list[AiGeneration]]:
        postgres = AiGeneration._meta.db.capabilities.dialect == "postgres"
        params = [lead_id if postgres else str(lead_id) for lead_id in lead_ids]
        sql = _RANKED.replace("{leads}", ", ".join("?" for _ in params)) \
            .replace("{limit}", str(int(self.limit)))
        rows, postgres = await self.access.raw(AiGeneration, self.org_id, sql, params)
        by_lead: dict[uuid.UUID, list[AiGeneration]] = defaultdict(list)
        generations = build(AiGeneration, rows, native_types=postgres)
        await AiGeneration.after_load(generations)  # decrypted, as through our engines
        for generation in generations:
            by_lead[generation.lead_id].append(generation)
        return [by_lead.get(lead_id, []) for lead_id in lead_ids]
