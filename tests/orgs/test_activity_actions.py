"""Activity events name their action with the `ActivityAction` enum, and `summary` spells enum
values as the schema's enums do (`NEW`, not the stored `new`); the stored values are unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core.settings import ROOT
from models.activity import ActivityAction, ActivityEvent
from models.orgs import Role
from resolvers.activity import write_event
from tests.conftest import Api
from tests.leads.conftest import UPDATE_LEAD, create_lead, db_id
from tests.orgs.conftest import Team

ACTIVITY = """query($filter: ActivityFilter) {
  organization(slug: "acme") { activity(first: 50, filter: $filter) {
    totalCount nodes { action summary }
  } } }"""
ENUM = """{ __type(name: "ActivityAction") { enumValues { name description } } }"""


async def log(api: Api, team: Team, **filter: Any) -> list[dict[str, Any]]:
    body = await api.gql(ACTIVITY, {"filter": filter or None}, token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    return body["data"]["organization"]["activity"]["nodes"]


async def test_a_status_change_reads_as_the_enum_spells_it(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, name="Grace Hopper")
    body = await api.gql(UPDATE_LEAD, {"input": {"id": lead["id"], "status": "CONTACTED"}},
                         token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    (changed,) = await log(api, team, action="LEAD_STATUS_CHANGED")
    assert changed == {"action": "LEAD_STATUS_CHANGED", "summary": {"status": ["NEW", "CONTACTED"]}}
    (created,) = await log(api, team, action="LEAD_CREATED")
    assert created["summary"] == {"source": "MANUAL"}
    (updated,) = await log(api, team, action="LEAD_UPDATED")
    assert updated["summary"] == {"fields": ["status"]}
    # Stored as before: the database keeps its values.
    stored = await ActivityEvent._scoped(team.org.id).get(action="lead.status_changed")
    assert stored.summary == {"status": ["new", "contacted"]}
    assert stored.target_id == db_id(lead["id"])


async def test_billing_summaries_spell_plans_and_statuses(api: Api, team: Team) -> None:
    await ActivityEvent.create(
        organization_id=team.org.id, action="billing.subscription_updated",
        target_type="organization", target_id=team.org.id,
        summary={"plan": "pro", "status": "past_due", "cancelAtPeriodEnd": False,
                 "changed": {"status": ["active", "past_due"]}})
    await ActivityEvent.create(
        organization_id=team.org.id, action="billing.checkout_started",
        target_type="organization", target_id=team.org.id,
        summary={"plan": "business", "interval": "year"})
    (updated,) = await log(api, team, action="BILLING_SUBSCRIPTION_UPDATED")
    assert updated["summary"] == {"plan": "PRO", "status": "PAST_DUE", "cancelAtPeriodEnd": False,
                                  "changed": {"status": ["ACTIVE", "PAST_DUE"]}}
    (started,) = await log(api, team, action="BILLING_CHECKOUT_STARTED")
    assert started["summary"] == {"plan": "BUSINESS", "interval": "YEAR"}


async def test_an_older_spelling_reads_and_filters_as_its_action(api: Api, team: Team) -> None:
    await ActivityEvent.create(organization_id=team.org.id, action="ownership.transferred",
                               target_type="membership", target_id=None,
                               summary={"reason": "account_deleted"})
    (event,) = await log(api, team, action="ORGANIZATION_OWNERSHIP_TRANSFERRED")
    assert event["action"] == "ORGANIZATION_OWNERSHIP_TRANSFERRED"


async def test_an_unknown_action_is_never_written(app: Any, team: Team) -> None:
    before = await ActivityEvent._scoped(team.org.id).count()
    with pytest.raises(ValueError):
        await write_event(app.state.services.broker, team.org.id, "lead.vanished",
                          target_type="lead", target_id=None)
    assert await ActivityEvent._scoped(team.org.id).count() == before


@pytest.mark.no_db
def test_every_action_the_code_writes_is_in_the_enum() -> None:
    """Each literal `<object>.<verb>` passed to record()/write_event() (or kept in a constant
    for them) is an ActivityAction value."""
    written: set[str] = set()
    pattern = re.compile(r'"([a-z_]+\.[a-z_]+)"')
    for folder in ("resolvers", "jobs", "billing"):
        for path in (ROOT / folder).rglob("*.py"):
            text = Path(path).read_text()
            for call in re.finditer(r"(?:record|write_event)\((.*?)target_type", text, re.S):
                written |= set(pattern.findall(call.group(1)))
    written |= {"billing.subscription_created", "billing.subscription_updated",
                "billing.subscription_canceled", "data_subject.erased"}  # via constants
    values = {action.value for action in ActivityAction}
    assert written, "no record() call found"
    assert written <= values, written - values


async def test_every_action_has_a_description(api: Api) -> None:
    body = await api.gql(ENUM)
    values = body["data"]["__type"]["enumValues"]
    assert {v["name"] for v in values} == {a.name for a in ActivityAction}
    assert all(v["description"] for v in values)
