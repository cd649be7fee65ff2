"""Scheduled checks, as jobs: the sweep queues each domain whose check is due, a job checks it.
PENDING domains back off (1, 5, 15 minutes, 1, 3, then every 6 hours) and are FAILED after 72
hours; VERIFIED ones are checked daily and LAPSED (no longer served) when their records are
gone; DNS trouble alone lapses nothing for 72 hours. `checkCustomDomain` starts the checks of a
FAILED or LAPSED domain again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.sweep import sweep
from models.activity import ActivityEvent
from models.custom_domains import DomainStatus
from models.orgs import Role
from models.tenancy import system_scope
from resolvers.custom_domains import BACKOFF
from tests.conftest import Api
from tests.domains.conftest import (
    REMOVE,
    added,
    check,
    on_host,
    publish,
    row,
    row_id,
    set_row,
    verified,
)
from tests.jobs.conftest import lose_queued_jobs
from tests.nameserver import Zone
from tests.orgs.conftest import Team
from tests.privacy.conftest import run_jobs, services_of

HOST = "forms.acme-shop.com"


def near(value: datetime | None, expected: datetime, slack: timedelta = timedelta(seconds=30)
         ) -> bool:
    return value is not None and abs(value - expected) < slack


async def due_now(app: Any, domain: dict[str, Any]) -> list[str]:
    """Make the domain's check due, sweep (queues it) and run the jobs; what the sweep queued."""
    await set_row(domain["id"], next_check_at=datetime.now(UTC) - timedelta(seconds=1))
    queued = (await sweep(services_of(app))).domain_checks
    await run_jobs(app)
    return queued


async def events(team: Team, action: str) -> list[ActivityEvent]:
    return list(await system_scope(team.org.id, reason="test").scoped(ActivityEvent).filter(
        action=action))


async def test_the_sweep_queues_a_due_check_and_the_job_verifies(app: Any, api: Api,
                                                                 team: Team,
                                                                 zone: Zone) -> None:
    domain = await added(api, team, HOST)
    publish(zone, domain)
    assert (await sweep(services_of(app))).domain_checks == []  # due in a minute, not yet
    assert await due_now(app, domain) == [str(row_id(domain["id"]))]
    stored = await row(domain["id"])
    assert stored.status is DomainStatus.VERIFIED and stored.served_hostname == HOST
    assert near(stored.next_check_at, datetime.now(UTC) + timedelta(days=1))
    (event,) = await events(team, "custom_domain.verified")
    assert event.actor_id is None and event.summary == {"hostname": HOST,
                                                        "verdict": "verified"}
    page = await api.http.get("/", headers=on_host(HOST))
    assert page.status_code == 200


async def test_pending_checks_back_off_then_fail_after_72_hours(app: Any, api: Api, team: Team,
                                                                zone: Zone) -> None:
    domain = await added(api, team, HOST)
    for step, delay in enumerate([*BACKOFF[1:], BACKOFF[-1]], start=1):
        await due_now(app, domain)
        stored = await row(domain["id"])
        assert stored.status is DomainStatus.PENDING and stored.pending_checks == step
        assert stored.verdict is not None and stored.verdict.value == "token_missing"
        assert near(stored.next_check_at, datetime.now(UTC) + delay), (step, delay)
    await set_row(domain["id"], pending_since=datetime.now(UTC) - timedelta(hours=72,
                                                                             minutes=1))
    await due_now(app, domain)
    stored = await row(domain["id"])
    assert stored.status is DomainStatus.FAILED and stored.next_check_at is None
    assert [e.summary["hostname"] for e in await events(team, "custom_domain.failed")] == [HOST]
    assert (await sweep(services_of(app))).domain_checks == []  # no more scheduled checks
    # Checking by hand starts again: PENDING, a fresh 72 hours, the backoff from its start.
    body = await check(api, team, domain["id"])
    assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "PENDING"
    stored = await row(domain["id"])
    assert stored.pending_checks == 0 and near(stored.pending_since, datetime.now(UTC))
    assert near(stored.next_check_at, datetime.now(UTC) + BACKOFF[0])


async def test_a_verified_domain_whose_record_is_gone_lapses_and_stops_serving(
        app: Any, api: Api, team: Team, zone: Zone) -> None:
    domain = await verified(api, team, zone, HOST)
    assert (await api.http.get("/internal/tls-ask", params={"domain": HOST})).status_code == 200
    zone.remove(f"_relleks-challenge.{HOST}")  # the tenant cleaned up their DNS
    await due_now(app, domain)
    stored = await row(domain["id"])
    assert stored.status is DomainStatus.LAPSED and stored.served_hostname is None
    assert stored.next_check_at is None and near(stored.lapsed_at, datetime.now(UTC))
    assert stored.verdict is not None and stored.verdict.value == "token_missing"
    assert stored.observed_records[0]["outcome"] == "nxdomain"
    assert (await api.http.get("/", headers=on_host(HOST))).status_code == 404
    assert (await api.http.get("/internal/tls-ask", params={"domain": HOST})).status_code == 404
    (event,) = await events(team, "custom_domain.lapsed")
    assert event.summary == {"hostname": HOST, "verdict": "token_missing"}
    # The records back and a check by hand: it serves again.
    publish(zone, domain)
    body = await check(api, team, domain["id"])
    assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "VERIFIED"
    assert (await api.http.get("/", headers=on_host(HOST))).status_code == 200


async def test_a_cname_pointed_elsewhere_lapses_too(app: Any, api: Api, team: Team,
                                                   zone: Zone) -> None:
    domain = await verified(api, team, zone, HOST)
    zone.cname(HOST, "someone-else.example.net")  # a dangling record someone could take
    await due_now(app, domain)
    stored = await row(domain["id"])
    assert stored.status is DomainStatus.LAPSED
    assert stored.verdict is not None and stored.verdict.value == "target_mismatch"


async def test_dns_trouble_keeps_a_verified_domain_serving_for_72_hours(
        app: Any, api: Api, team: Team, zone: Zone) -> None:
    domain = await verified(api, team, zone, HOST)
    zone.servfail(f"_relleks-challenge.{HOST}")
    await due_now(app, domain)
    stored = await row(domain["id"])
    assert stored.status is DomainStatus.VERIFIED and stored.served_hostname == HOST
    assert stored.verdict is not None and stored.verdict.value == "dns_error"
    assert near(stored.next_check_at, datetime.now(UTC) + timedelta(hours=1))
    assert (await api.http.get("/", headers=on_host(HOST))).status_code == 200
    await set_row(domain["id"], confirmed_at=datetime.now(UTC) - timedelta(hours=73))
    await due_now(app, domain)
    assert (await row(domain["id"])).status is DomainStatus.LAPSED


async def test_a_lost_check_job_is_queued_again_after_the_lease(app: Any, api: Api, team: Team,
                                                                zone: Zone) -> None:
    domain = await added(api, team, HOST)
    publish(zone, domain)
    await set_row(domain["id"], next_check_at=datetime.now(UTC) - timedelta(seconds=1))
    services = services_of(app)
    assert len((await sweep(services)).domain_checks) == 1
    assert (await sweep(services)).domain_checks == []  # queued: not again within the lease
    await lose_queued_jobs(app)
    later = datetime.now(UTC) + timedelta(seconds=services.settings.jobs_lease + 1)
    assert len((await sweep(services, now=later)).domain_checks) == 1
    await run_jobs(app)
    assert (await row(domain["id"])).status is DomainStatus.VERIFIED


async def test_a_check_queued_for_a_removed_domain_does_nothing(app: Any, api: Api,
                                                                team: Team, zone: Zone) -> None:
    domain = await added(api, team, HOST)
    publish(zone, domain)
    await set_row(domain["id"], next_check_at=datetime.now(UTC) - timedelta(seconds=1))
    assert len((await sweep(services_of(app))).domain_checks) == 1
    body = await api.gql(REMOVE, {"id": domain["id"]}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body
    asked = zone.asked(f"_relleks-challenge.{HOST}")
    await run_jobs(app)
    assert zone.asked(f"_relleks-challenge.{HOST}") == asked
    assert await events(team, "custom_domain.verified") == []
