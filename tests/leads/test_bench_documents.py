"""The bench's three documents (bench/operations.py: Q1, LeadDetail, LeadSearch) are valid in our
schema, the trusted-documents manifest names each by its text's SHA-256, and the API answers each
with the shape and the rows `make bench` expects of it, on a small org of the test database
(never the bench database): 20 members and 50 leads with 3 notes each for Q1, a lead's 20 newest
notes for LeadDetail, the 50 most recently updated leads of a status with `totalCount` for
LeadSearch."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import graphql
import pytest

import schema as api_schema
from bench.operations import OPERATIONS, global_id, manifest
from core.settings import Settings
from engine.compiler import STATS
from models.leads import Lead, LeadStatus, Note
from models.orgs import Role
from tests.conftest import Api, count_sql
from tests.leads.test_query_count import populate
from tests.orgs.conftest import make_team


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Compiled operations `on`, not the suite's `check` (which runs the ordinary executor too):
    the statement counts below are those of the path that answers, as in the benchmark."""
    return dataclasses.replace(settings, compiled_operations="on")


@pytest.mark.no_db
def test_the_bench_documents_are_valid_in_our_schema() -> None:
    for op in OPERATIONS.values():
        document = graphql.parse(op.document)
        assert graphql.validate(api_schema.schema._schema, document) == [], op.name
        names = [d.name.value for d in document.definitions
                 if isinstance(d, graphql.OperationDefinitionNode) and d.name]
        assert names == [op.name]  # the floor and the peers are told the operation by its name
        assert op.body("api") == {"query": op.document, "variables": op.variables,
                                  "operationName": op.name}
    assert manifest() == {hashlib.sha256(op.document.encode()).hexdigest(): op.document
                          for op in OPERATIONS.values()}
    assert OPERATIONS["LeadDetail"].body("trusted") == {
        "documentId": "sha256:" + hashlib.sha256(OPERATIONS["LeadDetail"].document.encode())
        .hexdigest(), "variables": OPERATIONS["LeadDetail"].variables}


async def test_the_api_answers_the_bench_documents(api: Api, settings: Settings) -> None:
    team = await make_team(api, settings, "benchdocs", prefix="bd.")
    await populate(settings, team, 60)  # "Lead 000".."Lead 059", created in that order
    leads = await Lead._scoped(team.org.id).all().order_by("created_at")
    # 55 QUALIFIED (every 12th is not), updated in an order of their own (7 is prime to 60).
    start = datetime(2026, 6, 1, tzinfo=UTC)
    updated = {lead.id: start + timedelta(minutes=(i * 7) % 60) for i, lead in enumerate(leads)}
    for i, lead in enumerate(leads):
        await Lead._scoped(team.org.id).filter(id=lead.id).update(
            status=LeadStatus.NEW if i % 12 == 0 else LeadStatus.QUALIFIED,
            updated_at=updated[lead.id])
    # The newest lead gets 22 notes more, newer than its first 3: LeadDetail lists 20 of 25.
    detail = leads[-1]
    workers = [n.author_id for n in await Note._scoped(team.org.id).filter(lead_id=detail.id)]
    for n in range(3, 25):
        note = await Note.create(organization_id=team.org.id, lead_id=detail.id,
                                 author_id=workers[n % len(workers)], body=f"Later note {n}")
        await Note._scoped(team.org.id).filter(id=note.id).update(
            created_at=datetime(2026, 7, 1, tzinfo=UTC) + timedelta(minutes=n))
    token = team.people[Role.MEMBER].token

    async def ask(name: str, variables: dict[str, object]) -> tuple[int, dict]:
        with count_sql() as sql:
            body = await api.gql(OPERATIONS[name].document, variables, token=token)
        assert "errors" not in body, body
        return sql.count, body

    answered = STATS.answered
    op = OPERATIONS["Q1"]
    _, body = await ask("Q1", {"slug": team.slug})
    assert op.expected(op.digest(body)) is None, op.digest(body)

    op = OPERATIONS["LeadDetail"]
    count, body = await ask("LeadDetail", {"id": global_id("Lead", detail.id)})
    assert op.expected(op.digest(body)) is None, op.digest(body)
    lead = body["data"]["lead"]
    assert (lead["name"], lead["email"], lead["status"]) == (
        "Lead 059", "lead59@example.com", "QUALIFIED")
    assert lead["owner"]["name"] == "Worker 29" and lead["owner"]["email"]
    assert [n["body"] for n in lead["notes"]["nodes"]] == [
        f"Later note {n}" for n in range(24, 4, -1)]
    assert all(n["author"]["name"].startswith("Worker ") for n in lead["notes"]["nodes"])
    # 4 on SQLite and PostgreSQL, as the compiled plan runs it: the session with its user, the
    # lead's org by its id with the viewer's membership there (`Access.owner_orgs`), the
    # lead with its owner, its 20 newest notes with their authors. (The person's plan behind the
    # cost budget was read by Q1 and is cached for a minute, billing/budgets.py's
    # PLAN_CACHE_SECONDS: a cold one adds a statement.)
    assert count == 4, count

    op = OPERATIONS["LeadSearch"]
    count, body = await ask("LeadSearch", {"slug": team.slug, "status": ["QUALIFIED"]})
    digest = op.digest(body)
    assert digest["total"] == 55 and len(digest["leads"]) == 50
    qualified = sorted((lead for i, lead in enumerate(leads) if i % 12),
                       key=lambda lead: updated[lead.id], reverse=True)
    assert [name for name, _ in digest["leads"]] == [lead.name for lead in qualified[:50]]
    nodes = body["data"]["organization"]["leads"]["nodes"]
    assert {n["status"] for n in nodes} == {"QUALIFIED"}
    assert all(n["owner"]["name"].startswith("Worker ") and n["email"] for n in nodes)
    # 3 on SQLite and PostgreSQL: the session with its user, the viewer's membership with the org
    # found by its slug, and the page of leads with their owners and `totalCount` (a window
    # count on each row, as the floor counts).
    assert count == 3, count
    assert STATS.answered - answered == 3  # each answered by its compiled plan
