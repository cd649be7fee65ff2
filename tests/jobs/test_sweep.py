"""The sweep: a lost job, a restart or a duplicate delays work but never drops or repeats it;
and retention deletes what is past its documented period, and nothing younger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.retention import ACTIVITY, INVITATIONS_AFTER_END, SESSIONS_AFTER_END
from jobs.sweep import sweep
from models.accounts import Session
from models.activity import ActivityEvent
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.orgs import Invitation, Role
from tests.conftest import Api
from tests.jobs.conftest import lose_queued_jobs
from tests.orgs.conftest import Team, add_invitation
from tests.privacy.conftest import run_jobs, services_of
from tests.smtp import Inbox

REQUEST = "mutation { requestDataExport { dataExport { status } } }"


async def test_work_whose_job_was_lost_is_finished_by_the_sweep(
        api: Api, app: Any, team: Team, inbox: Inbox) -> None:
    member = team.people[Role.MEMBER]
    await api.gql(REQUEST, token=member.token)
    await lose_queued_jobs(app)
    await run_jobs(app)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert work.status is WorkStatus.PENDING  # nothing ran it
    # Within the lease the sweep leaves it alone (its job may just be waiting its turn).
    assert (await sweep(services_of(app))).requeued == []
    # Past the lease it queues the work again, and it gets done.
    report = await sweep(services_of(app), now=datetime.now(UTC) + timedelta(minutes=11))
    assert report.requeued == [str(work.id)]
    await run_jobs(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE and work.attempts == 1
    assert len(inbox.to(member.email, "export is ready")) == 1


async def test_running_work_whose_worker_died_is_queued_again(
        api: Api, app: Any, team: Team) -> None:
    await api.gql(REQUEST, token=team.people[Role.MEMBER].token)
    await lose_queued_jobs(app)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    started = datetime.now(UTC) - timedelta(minutes=30)
    # As a worker leaves it when killed mid-job: claimed, started, never finished.
    await ScheduledWork.filter(id=work.id).update(status=WorkStatus.RUNNING, attempts=1,
                                                  started_at=started, dispatched_at=started)
    assert (await sweep(services_of(app))).requeued == [str(work.id)]
    await run_jobs(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE and work.attempts == 2


async def test_a_duplicate_job_finds_nothing_left_to_do(
        api: Api, app: Any, team: Team, inbox: Inbox) -> None:
    member = team.people[Role.MEMBER]
    await api.gql(REQUEST, token=member.token)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    await services_of(app).jobs.defer(work.id)
    await services_of(app).jobs.defer(work.id)
    await run_jobs(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE and work.attempts == 1
    assert len(inbox.to(member.email, "export is ready")) == 1


async def test_retention_deletes_what_is_past_its_period_and_keeps_the_rest(
        app: Any, team: Team) -> None:
    now = datetime.now(UTC)
    viewer = team.people[Role.VIEWER].user
    old = await Session.create(user=viewer, last_used_at=now - timedelta(days=60),
                               expires_at=now - SESSIONS_AFTER_END - timedelta(days=1))
    recent = await Session.create(user=viewer, last_used_at=now,
                                  expires_at=now - timedelta(days=1))
    stale = await add_invitation(team, "stale@example.com")
    await Invitation._scoped(team.org.id).filter(id=stale.id).update(
        expires_at=now - INVITATIONS_AFTER_END - timedelta(days=1))
    fresh = await add_invitation(team, "fresh@example.com")
    ancient = await ActivityEvent.create(organization=team.org, action="lead.created",
                                         target_type="lead")
    await ActivityEvent._scoped(team.org.id).filter(id=ancient.id).update(
        created_at=now - ACTIVITY - timedelta(days=1))
    kept_events = await ActivityEvent._scoped(team.org.id).exclude(id=ancient.id).count()

    report = await sweep(services_of(app))
    assert report.retention is not None
    deleted = report.retention.deleted
    assert deleted["sessions"] == 1 and deleted["invitations"] == 1
    assert deleted["activity_events"] == 1
    assert not await Session.exists(id=old.id) and await Session.exists(id=recent.id)
    assert await Invitation._scoped(team.org.id).filter(id=fresh.id).exists()
    assert not await Invitation._scoped(team.org.id).filter(id=stale.id).exists()
    assert await ActivityEvent._scoped(team.org.id).count() == kept_events
