"""Fixtures and helpers for the leads and notes tests.

The orgs are made by `make_team` from `tests/orgs/conftest.py`: `team` is the org "acme" with an
OWNER, ADMIN, MEMBER and VIEWER; `rival` is a second org ("globex") with its own four people, for
tenant-isolation checks. Leads are made over HTTP (`create_lead`) unless a test needs many, when
`seed_leads` writes the rows directly (the API's own validation is tested elsewhere in this folder).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from core.settings import Settings
from models.activity import ActivityEvent
from models.leads import Lead, LeadTag, Note
from models.orgs import Organization, Role
from tests.conftest import TEST_DB, Api
from tests.orgs.conftest import Team, make_team

LEAD_FIELDS = """
  id name email phone company title status source tags createdAt updatedAt
  address { line1 line2 city region postalCode country }
  owner { id name }
"""

CREATE_LEAD = f"""
mutation($input: CreateLeadInput!) {{ createLead(input: $input) {{ lead {{ {LEAD_FIELDS} }} }} }}"""

UPDATE_LEAD = f"""
mutation($input: UpdateLeadInput!) {{ updateLead(input: $input) {{ lead {{ {LEAD_FIELDS} }} }} }}"""

ASSIGN_LEAD = """
mutation($input: AssignLeadInput!) {
  assignLead(input: $input) { lead { id owner { id name } } } }"""

DELETE_LEAD = "mutation($id: ID!) { deleteLead(input: {id: $id}) { deletedId } }"

LEAD = f"query($id: ID!) {{ lead(id: $id) {{ {LEAD_FIELDS} }} }}"

NODE = "query($id: ID!) { node(id: $id) { id ... on Lead { name } } }"

LEADS = """
query($slug: String!, $first: Int, $after: String, $last: Int, $before: String,
      $filter: LeadFilter, $orderBy: LeadOrder) {
  organization(slug: $slug) {
    leads(first: $first, after: $after, last: $last, before: $before, filter: $filter,
          orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id name } }
    }
  }
}"""


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    """The org "acme" with an OWNER, ADMIN, MEMBER and VIEWER (as in tests/orgs)."""
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    """Another org, whose people belong to nothing of `team`'s."""
    return await make_team(api, settings, "globex", prefix="g.")


def token(team: Team, role: Role) -> str:
    return team.people[role].token


async def create_lead(api: Api, team: Team, role: Role = Role.MEMBER, **fields: Any
                      ) -> dict[str, Any]:
    """Create a lead over HTTP as `role`; it must succeed. Returns the Lead as the API shows it."""
    fields.setdefault("name", "Grace Hopper")
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id, **fields}},
                         token=token(team, role))
    assert "errors" not in body, body
    return body["data"]["createLead"]["lead"]


def db_id(global_id: str) -> uuid.UUID:
    """The UUID inside a global id the API returned."""
    from strawberry import relay

    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


async def lead_rows(org: Organization) -> list[Lead]:
    return list(await Lead._scoped(org.id).order_by("created_at", "id"))


async def note_rows(org: Organization) -> list[Note]:
    return list(await Note._scoped(org.id).order_by("created_at", "id"))


async def events(org: Organization, prefix: str = "") -> list[ActivityEvent]:
    """The org's activity events whose action starts with `prefix`, oldest first."""
    rows = await ActivityEvent._scoped(org.id).order_by("created_at", "id")
    return [e for e in rows if e.action.startswith(prefix)]


async def table_state(*orgs: Organization) -> dict[str, Any]:
    """Every lead, tag, note and event of these orgs, for "nothing changed" assertions."""
    ids = [o.id for o in orgs]
    return {
        "leads": sorted(map(tuple, await Lead._scoped(ids).values_list(
            "id", "name", "email", "phone", "company", "title", "status", "owner_id",
            "address_city", "address_country", "tags", "updated_at"))),
        "tags": sorted(await LeadTag._scoped(ids).values_list("lead_id", "tag")),
        "notes": sorted(map(tuple, await Note._scoped(ids).values_list(
            "id", "body", "edited_at", "author_id"))),
        "events": sorted(await ActivityEvent._scoped(ids).values_list("id", flat=True)),
    }


async def seed_leads(org: Organization, count: int, *, owners: list[uuid.UUID] | None = None,
                     start: datetime | None = None, prefix: str = "Lead") -> list[Lead]:
    """`count` leads written directly, one second apart (oldest first), names zero-padded."""
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    leads = []
    for i in range(count):
        lead = await Lead.create(
            organization_id=org.id, name=f"{prefix} {i:03d}", email=f"lead{i}@example.com",
            owner_id=owners[i % len(owners)] if owners else None)
        stamp = start + timedelta(seconds=i)
        await Lead._scoped(org.id).filter(id=lead.id).update(created_at=stamp, updated_at=stamp)
        lead.created_at = lead.updated_at = stamp
        leads.append(lead)
    return leads


async def make_room(org: Organization) -> None:
    """Put the org on the biggest plan when plan limits exist (tests/billing tests them), so a
    10,000-lead import tests importing, not the FREE plan's lead limit."""
    try:
        from models.billing import BillingAccount, Plan, SubscriptionStatus
    except ImportError:  # no plan limits in this tree
        return
    await BillingAccount.create(organization_id=org.id, subscription_plan=Plan.BUSINESS,
                                status=SubscriptionStatus.ACTIVE)


@asynccontextmanager
async def refusing_inserts(table: str, condition: str) -> AsyncIterator[None]:
    """A trigger that makes the database refuse to insert into `table` the rows where
    `condition` (SQL over NEW) holds: a real failure in the middle of a write, to show that the
    writes before it in the same transaction are rolled back."""
    db = connections.get("default")
    if TEST_DB == "postgres":
        await db.execute_script(f"""CREATE FUNCTION refuse_insert() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN IF {condition} THEN RAISE EXCEPTION 'refused';
            END IF; RETURN NEW; END $$""")
        await db.execute_script(f"""CREATE TRIGGER refuse_insert BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION refuse_insert()""")
        drop = ["DROP TRIGGER refuse_insert ON " + table, "DROP FUNCTION refuse_insert()"]
    else:
        await db.execute_script(f"""CREATE TRIGGER refuse_insert BEFORE INSERT ON {table}
            WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused'); END""")
        drop = ["DROP TRIGGER refuse_insert"]
    try:
        yield
    finally:
        for statement in drop:
            await db.execute_script(statement)
