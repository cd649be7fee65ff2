"""Batch loaders for lead forms: the leads a page of submissions made or joined, in one query.

`leadForm.submissions { nodes { lead { name } } }` must not read one lead per submission. The
leads are read through the request's tenant scope (`Access.scoped`), so a lead an API token may
not see (a restricted one) loads as None, as it reads everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.loading import Loader
from models.leads import Lead

if TYPE_CHECKING:
    from auth.access import Access


class LeadsOfOrgLoader(Loader[uuid.UUID, Lead | None]):
    """Leads of one org (whose access was checked) by id."""

    def __init__(self, access: Access, org_id: uuid.UUID) -> None:
        super().__init__()
        self.access = access
        self.org_id = org_id

    async def batch_load_fn(self, lead_ids: Sequence[uuid.UUID]) -> list[Lead | None]:
        found = {lead.id: lead for lead in await self.access.scoped(Lead, self.org_id)
                 .filter(id__in=list(lead_ids))}
        return [found.get(lead_id) for lead_id in lead_ids]
