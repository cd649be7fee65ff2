"""The retention sweep deletes client events after 90 days and usage aggregates after 400."""

from __future__ import annotations

import datetime
from typing import Any

from jobs.retention import apply_retention
from models.tenancy import system_scope
from models.usage import ClientEvent, ClientKind, UsageDay, UsageOperationDay
from tests.orgs.conftest import Team


async def test_old_usage_rows_are_swept(app: Any, team: Team) -> None:
    now = datetime.datetime.now(datetime.UTC)
    scope = system_scope(team.org.id, reason="test")
    for age in (91, 89):
        when = now - datetime.timedelta(days=age)
        row = await ClientEvent.create(organization_id=team.org.id, kind="page_view",
                                       page=f"/{age}", device_class="desktop",
                                       occurred_at=when, day=when.date())
        await scope.scoped(ClientEvent).filter(id=row.id).update(created_at=when)
    for age in (401, 399):
        day = (now - datetime.timedelta(days=age)).date()
        await UsageDay.create(organization_id=team.org.id, day=day,
                              client_kind=ClientKind.PERSON, requests=1)
        await UsageOperationDay.create(organization_id=team.org.id, day=day, operation="Q1",
                                       requests=1)

    report = await apply_retention(app.state.services, now)

    assert report.deleted["client_events"] == 1
    assert report.deleted["usage_days"] == 1
    assert report.deleted["usage_operation_days"] == 1
    assert await scope.scoped(ClientEvent).values_list("page", flat=True) == ["/89"]
    kept = (now - datetime.timedelta(days=399)).date()
    assert await scope.scoped(UsageDay).values_list("day", flat=True) == [kept]
