"""Loaders of promised work (`scheduled_work`): a support ticket's work read from its row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.loading import Loader
from database.rows import by_ids
from models.jobs import ScheduledWork


class ScheduledWorkLoader(Loader[uuid.UUID, ScheduledWork | None]):
    """`scheduled_work` rows by id. Not tenant rows: callers pass ids they reached through
    their own records (a ticket's `work_id`)."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[ScheduledWork | None]:
        rows = await by_ids(ScheduledWork, keys)
        return [rows.get(key) for key in keys]
