"""The clock: the sweep (a periodic procrastinate task, `jobs/tasks.py`) mails the OWNERs of
an organization once about a verified request past its deadline, and records that it did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.settings import Settings
from jobs.sweep import sweep
from models.orgs import Role
from models.privacy_requests import PrivacyRequest
from models.tenancy import system_scope
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.privacy_requests.conftest import REQUESTS, verified_request
from tests.smtp import Inbox, body_of


async def test_an_overdue_request_is_flagged_to_the_owner_once(
        app: Any, api: Api, settings: Settings, team: Team, rival: Team, inbox: Inbox) -> None:
    request = await verified_request(api.http, settings, inbox, team.org)
    await verified_request(api.http, settings, inbox, rival.org, email="other@example.com")
    services = services_of(app)
    assert (await sweep(services)).privacy_overdue == 0  # not due yet
    owner = team.people[Role.OWNER].email
    assert inbox.to(owner) == []

    # The deadline passes: the request's due_at is moved back (the sweep reads the clock).
    scope = system_scope(team.org.id, reason="tests move a deadline")
    await scope.scoped(PrivacyRequest).filter(id=request.id).update(
        due_at=datetime.now(UTC) - timedelta(hours=1))
    report = await sweep(services)
    assert report.privacy_overdue == 1
    (mail,) = inbox.to(owner, "overdue")
    assert "access request to the organization acme" in body_of(mail)
    assert "grace" not in body_of(mail).lower()  # the requester's email stays in the app
    assert inbox.to(team.people[Role.ADMIN].email) == []
    assert inbox.to(rival.people[Role.OWNER].email) == []

    assert (await sweep(services)).privacy_overdue == 0
    assert len(inbox.to(owner, "overdue")) == 1
    body = await api.gql(REQUESTS, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    (task,) = body["data"]["organization"]["privacyRequests"]["nodes"]
    assert task["overdue"] is True and task["timeLeft"] < 0
    assert task["overdueNotifiedAt"] is not None
