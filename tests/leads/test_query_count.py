"""Batching: Q1 (the mobile home screen, `bench/q1.graphql`) costs the same number of SQL
statements for an org with 5 leads as for one with 50, each lead with 3 notes, and leads and
notes spread over many owners and authors. Also for the `edges { node }` form of Q1, which the
compiler does not handle (the ordinary executor's batching).

Compiled operations run `on` here, not in the suite's `check` mode (which runs the ordinary
executor too): the counts are those of the path that answers. Q1 compiled costs the
hand-written floor's 4 statements (`bench/floor.py`) plus the credential's lookup, which the
floor does not make (it authenticates nobody)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from engine.compiler import STATS
from models.leads import Lead, Note
from models.orgs import Membership, Role
from tests.conftest import Api, count_sql
from tests.orgs.conftest import Team, make_team, signed_in

Q1 = (Path(__file__).parents[2] / "bench" / "q1.graphql").read_text()

Q1_EDGES = """
query Q1($slug: String!) {
  organization(slug: $slug) {
    name
    slug
    members(first: 20) { edges { node { role user { name email } } } }
    leads(first: 50) {
      edges {
        node {
          name email phone status
          owner { name }
          notes(first: 3) { edges { node { body author { name } } } }
        }
      }
    }
  }
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, compiled_operations="on")


async def populate(settings: Settings, team: Team, leads: int) -> None:
    """16 more members (with the team's 4, the 20 that Q1 lists), then 30 members who own the
    leads and write their notes (owners taking turns, 3 authors per lead), so that in a small
    org as in a large one the owners and authors are users the members page did not load."""
    for i in range(16):
        user = (await signed_in(settings, f"m{i}.{team.slug}@example.com", f"Member {i}")).user
        await Membership.create(organization=team.org, user=user, role=Role.MEMBER)
    workers = []
    for i in range(30):
        user = (await signed_in(settings, f"w{i}.{team.slug}@example.com", f"Worker {i}")).user
        await Membership.create(organization=team.org, user=user, role=Role.MEMBER)
        workers.append(user)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    for i in range(leads):
        lead = await Lead.create(organization_id=team.org.id, name=f"Lead {i:03d}",
                                 email=f"lead{i}@example.com", phone=f"+1415555{i:04d}",
                                 owner_id=workers[i % 30].id)
        await Lead._scoped(team.org.id).filter(id=lead.id).update(
            created_at=start + timedelta(seconds=i))
        for n in range(3):
            note = await Note.create(organization_id=team.org.id, lead_id=lead.id,
                                     author_id=workers[(i * 3 + n + 1) % 30].id,
                                     body=f"Note {n} on {i}")
            await Note._scoped(team.org.id).filter(id=note.id).update(
                created_at=start + timedelta(seconds=i, milliseconds=n))


async def run(api: Api, team: Team, query: str) -> tuple[int, dict[str, Any]]:
    with count_sql() as sql:
        body = await api.gql(query, {"slug": team.slug}, token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    return sql.count, body["data"]["organization"]


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    if "nodes" in connection:
        return connection["nodes"]
    return [edge["node"] for edge in connection["edges"]]


@pytest.mark.parametrize("query", [Q1, Q1_EDGES], ids=["nodes", "edges"])
async def test_q1_costs_the_same_for_5_and_for_50_leads(api: Api, settings: Settings,
                                                        query: str) -> None:
    small = await make_team(api, settings, "small", prefix="s.")
    large = await make_team(api, settings, "large", prefix="l.")
    await populate(settings, small, 5)
    await populate(settings, large, 50)

    small_count, small_org = await run(api, small, query)
    large_count, large_org = await run(api, large, query)
    assert small_count == large_count, (small_count, large_count)
    assert large_count <= 12, large_count

    # And the answer is right: 20 members with their users, the 50 newest leads with their
    # owners and 3 newest notes with their authors.
    members = nodes(large_org["members"])
    assert len(members) == 20 and all(m["user"]["email"] for m in members)
    leads = nodes(large_org["leads"])
    assert [lead["name"] for lead in leads] == [f"Lead {i:03d}" for i in range(49, -1, -1)]
    assert leads[0]["owner"] == {"name": f"Worker {49 % 30}"}
    assert leads[0]["phone"] == "+14155550049" and leads[0]["status"] == "NEW"
    assert [(n["body"], n["author"]["name"]) for n in nodes(leads[0]["notes"])] == [
        (f"Note {n} on 49", f"Worker {(49 * 3 + n + 1) % 30}") for n in (2, 1, 0)]
    assert all(len(nodes(lead["notes"])) == 3 for lead in leads)
    assert len(nodes(small_org["leads"])) == 5


async def test_q1_for_an_org_without_leads_is_cheap(api: Api, settings: Settings) -> None:
    empty = await make_team(api, settings, "empty", prefix="e.")
    count, org = await run(api, empty, Q1)
    assert nodes(org["leads"]) == []
    assert count <= 12


async def test_q1_compiled_costs_what_the_floor_costs(api: Api, settings: Settings) -> None:
    """The floor's four: the org (with the viewer's membership), the members with their users,
    the leads with their owners, the notes with their authors; and the session with its user,
    which authenticates the request."""
    team = await make_team(api, settings, "floor", prefix="f.")
    await populate(settings, team, 50)
    await run(api, team, Q1)  # compiles the plan (and loads the org's keys)
    answered = STATS.answered
    count, org = await run(api, team, Q1)
    assert STATS.answered == answered + 1  # the plan answered
    assert count == 4 + 1, count
    assert len(nodes(org["leads"])) == 50
