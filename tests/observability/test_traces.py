"""Traces end to end over HTTP, exported to the in-memory exporter: the span tree of a query
and of a mutation (the request, the operation, its parse, validate and execute phases, one span
per SQL statement, never one per field), statements without their parameters, a job linked to
the request that queued it, and the trace id in the request's log line."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api, count_sql
from tests.observability.conftest import by_name, children, log_lines, span_dump
from tests.orgs.conftest import Team, make_team

PHASES = {"graphql.parse", "graphql.validate", "graphql.execute"}
SQL = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}

ME = "query Me { me { id email name memberships { edges { node { role } } } } }"
CREATE_LEAD = """mutation NewLead($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id name email phone } } }"""
LEADS = """query Leads($slug: String!) { organization(slug: $slug) {
  leads(first: 20) { totalCount edges { node { id name email owner { id name } } } } } }"""


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


def _request(spans: list[ReadableSpan], request_id: str) -> list[ReadableSpan]:
    """The spans of one request's trace."""
    root = [s for s in spans if s.attributes and s.attributes.get("relleks.request_id")
            == request_id and s.kind is SpanKind.SERVER and s.name.startswith("POST")]
    assert len(root) == 1, [s.name for s in spans]
    assert root[0].context is not None
    trace_id = root[0].context.trace_id
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


async def test_a_query_is_one_span_per_phase_and_per_statement(
        api: Api, exporter: InMemorySpanExporter) -> None:
    me = await api.sign_up("ada@example.com")
    exporter.clear()
    body = await api.gql(ME, token=me["accessToken"], headers={"x-request-id": "trace-query-1"})
    assert "errors" not in body, body
    spans = _request(list(exporter.get_finished_spans()), "trace-query-1")
    request = by_name(spans, "POST /graphql")
    operation = by_name(spans, "query Me")
    assert request.parent is None
    assert operation.parent is not None and request.context is not None
    assert operation.parent.span_id == request.context.span_id
    assert {s.name for s in children(spans, operation)} >= PHASES
    attributes = dict(operation.attributes or {})
    assert attributes["graphql.operation.name"] == "Me"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["relleks.request_id"] == "trace-query-1"
    assert isinstance(attributes["relleks.cost"], int) and attributes["relleks.cost"] >= 1
    assert dict(request.attributes or {})["http.response.status_code"] == 200
    # No span per field: only the request, the operation, its phases and SQL statements.
    names = {s.name for s in spans}
    assert names - {"POST /graphql", "query Me"} - PHASES <= SQL, names
    execute = by_name(spans, "graphql.execute")
    assert any(s.name == "SELECT" for s in children(spans, execute))
    # Neither the document's values nor the answer's are on any span.
    dumped = span_dump(spans)
    for value in ("ada@example.com", "Ada Lovelace", me["user"]["id"]):
        assert value not in dumped


async def test_a_mutation_span_has_its_type_and_cost_and_no_variables(
        api: Api, team: Team, exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    body = await api.gql(CREATE_LEAD, {"input": {
        "organizationId": team.org_id, "name": "Grace Hopper", "email": "grace@navy.example.com",
        "phone": "+1 415 555 0134"}}, token=team.people[Role.MEMBER].token,
        headers={"x-request-id": "trace-mutation-1"})
    assert "errors" not in body, body
    spans = _request(list(exporter.get_finished_spans()), "trace-mutation-1")
    operation = by_name(spans, "mutation NewLead")
    attributes = dict(operation.attributes or {})
    assert attributes["graphql.operation.type"] == "mutation"
    assert attributes["graphql.operation.name"] == "NewLead"
    assert "relleks.cost" in attributes
    assert {s.name for s in children(spans, operation)} >= PHASES
    inserts = [s for s in spans if s.name == "INSERT"]
    assert inserts, [s.name for s in spans]
    for statement in inserts:
        text = str(dict(statement.attributes or {})["db.query.text"])
        assert "?" in text or "$1" in text  # placeholders, never the values
    dumped = span_dump(spans)
    for value in ("Grace Hopper", "grace@navy.example.com", "555 0134", "variables"):
        assert value not in dumped


async def test_sql_spans_are_the_statements_run_and_carry_no_parameters(
        api: Api, team: Team, exporter: InMemorySpanExporter) -> None:
    token = team.people[Role.MEMBER].token
    for name in ("Lin Parameter", "Kay Parameter"):
        body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                     "name": name}}, token=token)
        assert "errors" not in body, body
    exporter.clear()
    with count_sql() as counted:
        body = await api.gql(LEADS, {"slug": "acme"}, token=token,
                             headers={"x-request-id": "trace-leads-1"})
    assert body["data"]["organization"]["leads"]["totalCount"] == 2
    spans = _request(list(exporter.get_finished_spans()), "trace-leads-1")
    statements = [s for s in spans if dict(s.attributes or {}).get("db.query.text")]
    # Tracing adds no statement: one span per statement Tortoise ran, no more, no fewer.
    assert len(statements) == counted.count
    for statement in statements:
        attributes = dict(statement.attributes or {})
        assert attributes["db.system.name"] in {"sqlite", "postgresql"}
        assert statement.kind is SpanKind.CLIENT
        assert "Parameter" not in str(attributes["db.query.text"])
        assert "acme" not in str(attributes["db.query.text"])


async def test_a_job_links_to_the_request_that_queued_it(
        api: Api, app: Any, exporter: InMemorySpanExporter) -> None:
    me = await api.sign_up("ada@example.com")
    exporter.clear()
    body = await api.gql("mutation Export { requestDataExport { dataExport { id } } }",
                         token=me["accessToken"], headers={"x-request-id": "trace-job-1"})
    assert "errors" not in body, body
    request = by_name(_request(list(exporter.get_finished_spans()), "trace-job-1"),
                      "POST /graphql")
    await app.state.services.jobs.run_worker(wait=False)
    assert request.context is not None
    # Exactly one job span links to the request (on PostgreSQL the queue may hold others).
    [job] = [s for s in exporter.get_finished_spans() if s.name == "job relleks.run_work"
             and [link.context.trace_id for link in s.links] == [request.context.trace_id]]
    assert job.kind is SpanKind.CONSUMER
    assert job.context is not None and job.context.trace_id != request.context.trace_id
    # The job's statements are its own trace's, under its span.
    assert any(s.context is not None and s.context.trace_id == job.context.trace_id
               and s.name in SQL for s in exporter.get_finished_spans())


async def test_the_request_log_line_carries_the_trace_id(
        api: Api, exporter: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    await api.gql("query Plans { plans { id } }", headers={"x-request-id": "trace-log-1"})
    request = by_name(_request(list(exporter.get_finished_spans()), "trace-log-1"),
                      "POST /graphql")
    [line] = [line for line in log_lines(capsys.readouterr().out)
              if line.get("event") == "request" and line.get("request_id") == "trace-log-1"]
    assert request.context is not None
    assert line["trace_id"] == format_trace_id(request.context.trace_id)
    assert line["operation"] == "Plans"
