"""Usage analytics on the request path: counters in process memory, added to the daily
aggregates (`models/usage.py`) by a flush every `USAGE_FLUSH_SECONDS` and at shutdown.

A request costs a few dictionary updates and no SQL statement; a flush costs one or two
statements per bucket (an organization, a day and a client, or an operation name) however many
requests it holds. The trade-off: a process that dies without its shutdown loses at most the
last `USAGE_FLUSH_SECONDS` of counts, which an analytics view can afford (billing does not
read these rows). Several processes each flush their own counters; the updates add, so they
never overwrite each other.

    usage = UsageRecorder(settings)
    usage.record(orgs={org_id}, kind=ClientKind.PERSON, client_id="", operation="Q1",
                 failed=False, cost=12)
    await usage.flush()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid
from collections.abc import Iterable
from typing import Any

import structlog
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from core.settings import Settings
from models.tenancy import system_scope
from models.usage import (
    ANONYMOUS_OPERATION,
    MAX_OPERATIONS_PER_DAY,
    OTHER_OPERATION,
    ClientKind,
    UsageDay,
    UsageOperationDay,
)

log = structlog.get_logger("relleks.usage")

DayKey = tuple[uuid.UUID, datetime.date, ClientKind, str]
OperationKey = tuple[uuid.UUID, datetime.date, str]
MAX_OPERATION_NAME = 100


class UsageRecorder:
    """This process's counters since the last flush, and the task that flushes them."""

    def __init__(self, settings: Settings) -> None:
        self.interval = settings.usage_flush_seconds
        self._days: dict[DayKey, list[int]] = {}
        self._operations: dict[OperationKey, list[int]] = {}
        self._names: dict[tuple[uuid.UUID, datetime.date], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def record(self, *, orgs: Iterable[uuid.UUID], kind: ClientKind, client_id: str,
               operation: str | None, failed: bool, cost: int,
               now: datetime.datetime | None = None) -> None:
        """Count one request in each of `orgs` (no I/O: it runs on the request path)."""
        day = (now or datetime.datetime.now(datetime.UTC)).date()
        name = (operation or ANONYMOUS_OPERATION)[:MAX_OPERATION_NAME]
        error = 1 if failed else 0
        for org_id in orgs:
            counts = self._days.setdefault((org_id, day, kind, client_id), [0, 0, 0])
            counts[0] += 1
            counts[1] += error
            counts[2] += cost
            key = (org_id, day, name)
            if key not in self._operations:
                # Bounded in memory as in the table: past the cap, names count as `other`.
                seen = self._names.get((org_id, day), 0)
                if seen >= MAX_OPERATIONS_PER_DAY:
                    key = (org_id, day, OTHER_OPERATION)
                else:
                    self._names[(org_id, day)] = seen + 1
            op_counts = self._operations.setdefault(key, [0, 0])
            op_counts[0] += 1
            op_counts[1] += error

    @property
    def pending(self) -> int:
        """Buckets waiting for the next flush."""
        return len(self._days) + len(self._operations)

    async def flush(self) -> int:
        """Add the counters to the daily rows; returns the number of buckets written. A bucket
        that fails (its organization deleted meanwhile) is logged and dropped."""
        async with self._flushing:
            days, self._days = self._days, {}
            operations, self._operations = self._operations, {}
            self._names = {}
            for day_key, counts in days.items():
                await self._guarded(self._add_day(day_key, counts))
            for op_key, op_counts in operations.items():
                await self._guarded(self._add_operation(op_key, op_counts))
            return len(days) + len(operations)

    @staticmethod
    async def _guarded(step: Any) -> None:
        try:
            await step
        except Exception:
            log.exception("usage.flush_failed")

    @staticmethod
    async def _add_day(key: DayKey, counts: list[int]) -> None:
        org_id, day, kind, client_id = key
        rows = system_scope(org_id, reason="usage: adding counted requests").scoped(UsageDay)
        match: dict[str, Any] = {"day": day, "client_kind": kind, "client_id": client_id}
        change = {"requests": F("requests") + counts[0], "errors": F("errors") + counts[1],
                  "cost": F("cost") + counts[2]}
        if await rows.filter(**match).update(**change):
            return
        try:
            await UsageDay.create(organization_id=org_id, requests=counts[0], errors=counts[1],
                                  cost=counts[2], **match)
        except IntegrityError:  # another process created it meanwhile (or the org is gone)
            await rows.filter(**match).update(**change)

    @staticmethod
    async def _add_operation(key: OperationKey, counts: list[int]) -> None:
        org_id, day, name = key
        rows = system_scope(org_id, reason="usage: adding counted operations").scoped(
            UsageOperationDay)
        change = {"requests": F("requests") + counts[0], "errors": F("errors") + counts[1]}
        if await rows.filter(day=day, operation=name).update(**change):
            return
        if name != OTHER_OPERATION and \
                await rows.filter(day=day).count() >= MAX_OPERATIONS_PER_DAY:
            name = OTHER_OPERATION  # other processes filled the day's names
            if await rows.filter(day=day, operation=name).update(**change):
                return
        try:
            await UsageOperationDay.create(organization_id=org_id, day=day, operation=name,
                                           requests=counts[0], errors=counts[1])
        except IntegrityError:
            await rows.filter(day=day, operation=name).update(**change)

    def start(self) -> None:
        """Flush every `interval` seconds until `close`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-flush")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def close(self) -> None:
        """Stop the periodic flush and flush what is left (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
