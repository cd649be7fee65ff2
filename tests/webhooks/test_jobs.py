"""The promise is the message row: a lost delivery job is queued again by the sweep, a
duplicate job sends nothing twice, and retention deletes old messages and blanks excerpts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.retention import apply_retention
from jobs.sweep import sweep
from jobs.webhooks import deliver
from models.webhooks import MessageStatus, WebhookAttempt, WebhookMessage
from tests.conftest import Api
from tests.jobs.conftest import lose_queued_jobs
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.webhooks.conftest import EVERYTHING, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead


async def test_a_lost_job_is_queued_again_by_the_sweep(app: Any, api: Api, team: Team,
                                                       hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await make_lead(api, team)
    await lose_queued_jobs(app)
    await run_jobs(app)
    assert hook.requests == []
    services = services_of(app)
    # Within the lease nothing is queued again; after it, the sweep queues the message.
    report = await sweep(services)
    assert report.webhook_messages == []
    later = datetime.now(UTC) + timedelta(seconds=services.settings.jobs_lease + 1)
    report = await sweep(services, now=later)
    assert len(report.webhook_messages) == 1
    await run_jobs(app)
    assert len(hook.requests) == 1
    assert (await EVERYTHING.scoped(WebhookMessage).all())[0].status == MessageStatus.DELIVERED


async def test_a_duplicate_job_sends_nothing_twice(app: Any, api: Api, team: Team,
                                                   hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await make_lead(api, team)
    message = (await EVERYTHING.scoped(WebhookMessage).all())[0]
    services = services_of(app)
    assert await deliver(services, message.id) == "delivered"
    assert await deliver(services, message.id) == "settled"
    await run_jobs(app)  # the job queued by the mutation finds it delivered
    assert len(hook.requests) == 1


async def test_a_slow_endpoint_does_not_hold_up_another(app: Any, api: Api, team: Team,
                                                        hook: Receiver) -> None:
    from tests.webhooks.receiver import receiver
    async with receiver() as slow:
        slow.delay = 5.0  # past WEBHOOK_TIMEOUT (2 s in tests)
        await create_endpoint(api, team, slow.url)
        await create_endpoint(api, team, hook.url)
        await make_lead(api, team)
        messages = await EVERYTHING.scoped(WebhookMessage).all()
        services = services_of(app)
        started = datetime.now(UTC)
        outcomes = [await deliver(services, m.id) for m in messages]
        assert sorted(outcomes) == ["delivered", "retry"]
        assert (datetime.now(UTC) - started).total_seconds() < 4.5  # bounded by the timeout
        assert len(hook.requests) == 1
        attempt = await EVERYTHING.scoped(WebhookAttempt).filter(success=False).first()
        assert attempt is not None and attempt.error == "timeout"


async def test_retention_deletes_old_messages_and_blanks_old_excerpts(
        app: Any, api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await make_lead(api, team)
    await make_lead(api, team, "Grace", "grace@example.com")
    await run_jobs(app)
    old, recent = await EVERYTHING.scoped(WebhookMessage).all().order_by("created_at")
    await EVERYTHING.scoped(WebhookMessage).filter(id=old.id).update(
        created_at=datetime.now(UTC) - timedelta(days=31))
    await EVERYTHING.scoped(WebhookAttempt).filter(message_id=recent.id).update(
        created_at=datetime.now(UTC) - timedelta(days=8))
    report = await apply_retention(services_of(app))
    assert report.deleted["webhook_messages"] >= 1  # SQLite counts the cascaded attempts
    assert report.deleted["webhook_excerpts"] == 1
    left = await EVERYTHING.scoped(WebhookMessage).all()
    assert [m.id for m in left] == [recent.id]
    attempts = await EVERYTHING.scoped(WebhookAttempt).all()
    assert [a.response_excerpt for a in attempts] == [""]
