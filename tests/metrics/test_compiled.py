"""Compiled operations (`engine/compiler/`) as a scrape shows them: plans built and documents
left uncompiled, answers given and abandoned by plans, and check-mode mismatches, moving as the
process's `engine.compiler.STATS` does."""

from __future__ import annotations

import dataclasses
import secrets

import httpx

from core.settings import Settings
from engine.compiler import STATS
from models.orgs import Role
from tests.conftest import Api
from tests.metrics.conftest import scrape, value
from tests.orgs.conftest import make_team

PLANS = "relleks_compiled_plans_total"
OPERATIONS = "relleks_compiled_operations_total"
MISMATCHES = "relleks_compiled_mismatches_total"


async def test_compiled_operations_are_counted(api: Api, http: httpx.AsyncClient,
                                               settings: Settings) -> None:
    team = await make_team(api, settings, "compiled-metrics")
    token = team.people[Role.MEMBER].token
    # Documents of their own: the plan cache (one per schema) has never seen them.
    tag = secrets.token_hex(4)
    compilable = f"query Org{tag}($slug: String!) {{ organization(slug: $slug) {{ name }} }}"
    uncompilable = compilable.replace("Org", "Created").replace("name", "createdAt")
    stats = dataclasses.replace(STATS)
    before = await scrape(http)

    for _ in range(2):  # compiled once, answered twice
        body = await api.gql(compilable, {"slug": team.slug}, token=token)
        assert body["data"] == {"organization": {"name": "Team compiled-metrics"}}, body
    # Another org's slug: the plan abandons, the ordinary executor says NOT_FOUND.
    body = await api.gql(compilable, {"slug": "nowhere"}, token=token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # A field with a resolver and no compiled form: the ordinary executor alone.
    body = await api.gql(uncompilable, {"slug": team.slug}, token=token)
    assert body["data"]["organization"]["createdAt"]
    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(PLANS, result="compiled") == 1 == STATS.compiled - stats.compiled
    assert moved(PLANS, result="uncompilable") == 1 == STATS.uncompilable - stats.uncompilable
    assert moved(OPERATIONS, outcome="answered") == 2 == STATS.answered - stats.answered
    assert moved(OPERATIONS, outcome="abandoned") == 1 == STATS.abandoned - stats.abandoned
    assert moved(MISMATCHES) == 0 == STATS.mismatches - stats.mismatches
