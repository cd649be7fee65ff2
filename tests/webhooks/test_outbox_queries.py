"""The webhook outbox reads the org's endpoints once per transaction: a change that records
several webhook events (an update of a lead's fields and status) or an import of many leads
costs at most one SELECT on `webhook_endpoints`, and every event still gets its message."""

from __future__ import annotations

from typing import Any

import httpx

from models.orgs import Role
from models.webhooks import WebhookMessage
from tests.conftest import Api, count_sql
from tests.leads.test_import import import_csv, result
from tests.orgs.conftest import Team
from tests.webhooks.conftest import EVERYTHING, create_endpoint
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead

UPDATE_LEAD = """mutation($input: UpdateLeadInput!) {
  updateLead(input: $input) { lead { id status } } }"""
TYPES = ["LEAD_CREATED", "LEAD_UPDATED", "LEAD_STATUS_CHANGED", "LEADS_IMPORTED"]


def endpoint_selects(statements: list[str]) -> int:
    return sum(1 for s in statements
               if s.lstrip().upper().startswith("SELECT") and "webhook_endpoints" in s)


async def test_an_update_with_two_events_reads_the_endpoints_once(
        api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url, types=TYPES)
    await create_endpoint(api, team, hook.url + "/second", types=TYPES)
    lead_id = await make_lead(api, team)
    with count_sql() as sql:
        body = await api.gql(UPDATE_LEAD, {"input": {"id": lead_id, "name": "Ada King",
                                                     "status": "CONTACTED"}},
                             token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    assert endpoint_selects(sql.statements) == 1
    types = sorted(await EVERYTHING.scoped(WebhookMessage).filter(
        event_type__in=["lead.updated", "lead.status_changed"]).values_list(
        "event_type", flat=True))
    # Both events, to both endpoints.
    assert types == ["lead.status_changed"] * 2 + ["lead.updated"] * 2


async def test_importing_several_leads_reads_the_endpoints_at_most_once(
        api: Api, http: httpx.AsyncClient, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url, types=TYPES)
    rows = "".join(f"Lead {n},lead{n}@example.com\n" for n in range(12))
    with count_sql() as sql:
        imported = result(await import_csv(http, team, "name,email\n" + rows,
                                           role=Role.ADMIN))
    assert imported["imported"] == 12
    assert endpoint_selects(sql.statements) <= 1
    messages: list[Any] = await EVERYTHING.scoped(WebhookMessage).filter(
        event_type="leads.imported").all()
    assert len(messages) == 1
