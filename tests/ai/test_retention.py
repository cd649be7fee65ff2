"""The retention sweep: AI generations go after 180 days; one left PENDING or STREAMING by a
dead process for 15 minutes is stored FAILED (UNAVAILABLE), charging nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.retention import AI_GENERATIONS, AI_STALE, apply_retention
from models.ai import AiFeature, AiGeneration, AiStatus
from models.tenancy import EVERY_ORG, system_scope
from tests.ai.conftest import lead_of
from tests.conftest import Api
from tests.leads.conftest import db_id
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of


async def test_old_generations_go_and_stale_ones_fail(app: Any, api: Api, team: Team) -> None:
    rows = system_scope(EVERY_ORG, reason="test").scoped
    lead = db_id(await lead_of(api, team))
    now = datetime.now(UTC)

    async def generation(status: AiStatus, age: timedelta) -> AiGeneration:
        row = await AiGeneration.create(organization_id=team.org.id, lead_id=lead,
                                        feature=AiFeature.SUMMARY, status=status,
                                        credits_charged=3 if status is AiStatus.SUCCEEDED
                                        else 0)
        await rows(AiGeneration).filter(id=row.id).update(created_at=now - age)
        return row

    old = await generation(AiStatus.SUCCEEDED, AI_GENERATIONS + timedelta(days=1))
    kept = await generation(AiStatus.SUCCEEDED, AI_GENERATIONS - timedelta(days=1))
    stale = await generation(AiStatus.STREAMING, AI_STALE + timedelta(minutes=1))
    running = await generation(AiStatus.PENDING, timedelta(minutes=1))
    report = await apply_retention(services_of(app), now)
    assert report.deleted["ai_generations"] == 1
    assert report.deleted["ai_generations_interrupted"] == 1
    left = {row.id: row for row in await rows(AiGeneration).all()}
    assert old.id not in left and kept.id in left
    assert (left[stale.id].status, left[stale.id].error_code,
            left[stale.id].credits_charged) == (AiStatus.FAILED, "UNAVAILABLE", 0)
    assert left[stale.id].finished_at is not None
    assert left[running.id].status is AiStatus.PENDING
