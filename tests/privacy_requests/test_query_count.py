"""The task list's statements do not grow with its page: `holdings` is counted for the whole
page at once (four statements), not per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from models.orgs import Role
from models.privacy_requests import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from tests.conftest import Api, count_sql
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team
from tests.privacy_requests.conftest import REQUESTS


async def open_request(team: Team, email: str) -> None:
    now = datetime.now(UTC)
    await PrivacyRequest.create(
        organization_id=team.org.id, email=email, kind=PrivacyRequestKind.ACCESS,
        status=PrivacyRequestStatus.OPEN, verify_expires_at=now, verified_at=now,
        due_at=now + timedelta(days=30))


async def statements(api: Api, team: Team) -> tuple[list[str], list[dict[str, Any]]]:
    with count_sql() as counted:
        body = await api.gql(REQUESTS, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    # The plan's limits are cached between requests (read once in a while): not this list's.
    shown = [s for s in counted.statements if "billing_accounts" not in s]
    return shown, body["data"]["organization"]["privacyRequests"]["nodes"]


async def test_holdings_cost_the_same_for_one_request_as_for_six(api: Api, team: Team) -> None:
    await create_lead(api, team, email="p0@example.com")
    await open_request(team, "p0@example.com")
    one, nodes = await statements(api, team)
    assert nodes[0]["holdings"]["leads"] == 1
    for n in range(1, 6):
        await create_lead(api, team, email=f"p{n}@example.com")
        await open_request(team, f"p{n}@example.com")
    six, nodes = await statements(api, team)
    assert len(nodes) == 6 and all(node["holdings"]["leads"] == 1 for node in nodes)
    assert len(six) == len(one), (one, six)
    assert sum('FROM "leads"' in statement for statement in six) == 1
