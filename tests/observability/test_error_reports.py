"""Error reports and the one redaction policy end to end: the real Sentry SDK posts to a fake
ingest server on loopback; a mutation full of personal data and secrets that ends in an
INTERNAL error leaves none of them in the logs, the exported spans or the Sentry event."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_trace_id

from core import error_reports
from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import refusing_inserts
from tests.observability.conftest import by_name, log_lines, span_dump
from tests.orgs.conftest import Team, make_team
from tests.sentry_ingest import SentryIngest

CREATE_LEAD = """mutation NewLead($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id name email phone } } }"""

SECRET_PASSWORD = "Hunter2-Correct-Horse-Battery"
SECRET_TOKEN = "rlk_pat_Zm9vYmFyYmF6cXV4c2VjcmV0"
PERSONAL = {
    "email": "ada.private@lovelace.example.com",
    "phone": "+1 415 555 0134",
    "address": "12 Babbage Row",
}


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


async def test_an_internal_error_is_one_event_with_ids_and_no_personal_data(
        api: Api, team: Team, ingest: SentryIngest, exporter: InMemorySpanExporter,
        capsys: pytest.CaptureFixture[str]) -> None:
    bearer = team.people[Role.MEMBER].token
    variables = {"input": {
        "organizationId": team.org_id, "name": "Augusta Ada King",
        "email": PERSONAL["email"], "phone": PERSONAL["phone"],
        "company": f"password: {SECRET_PASSWORD}", "title": f"token {SECRET_TOKEN}",
        "address": {"line1": PERSONAL["address"], "city": "Marylebone", "country": "GB"}}}
    capsys.readouterr()
    exporter.clear()
    async with refusing_inserts("activity_events", "NEW.action = 'lead.created'"):
        body = await api.gql(CREATE_LEAD, variables, token=bearer,
                             headers={"x-request-id": "internal-err-1"})
    assert error_code(body) == "INTERNAL"
    [error] = errors_of(body)
    assert error["extensions"]["requestId"] == "internal-err-1"
    error_reports.flush()
    logs = capsys.readouterr().out
    spans = list(exporter.get_finished_spans())

    [event] = ingest.events()
    assert event["tags"]["request_id"] == "internal-err-1"
    assert event["tags"]["where"] == "request"
    request = by_name([s for s in spans if dict(s.attributes or {}).get("relleks.request_id")
                       == "internal-err-1"], "POST /graphql")
    assert request.context is not None
    trace_id = format_trace_id(request.context.trace_id)
    assert event["tags"]["trace_id"] == trace_id
    assert event["exception"]["values"][-1]["type"]  # the type and the stack, not the message
    assert "user" not in event and "request" not in event
    operation = by_name(spans, "mutation NewLead")
    assert dict(operation.attributes or {})["relleks.error_codes"] == ["INTERNAL"]
    # The log line of the error names the same request and trace.
    [logged] = [line for line in log_lines(logs) if line["event"] == "graphql.internal_error"]
    assert logged["request_id"] == "internal-err-1" and logged["trace_id"] == trace_id

    sinks = {"logs": logs, "spans": span_dump(spans), "sentry": ingest.raw()}
    secrets = [*PERSONAL.values(), SECRET_PASSWORD, SECRET_TOKEN, bearer, "Augusta Ada King"]
    for sink, text in sinks.items():
        for secret in secrets:
            assert secret not in text, (sink, secret)
    assert json.dumps(event)


def _break_storage(media_root: Path) -> None:
    """The export's archive cannot be stored: where the media directory was is a file."""
    shutil.rmtree(media_root, ignore_errors=True)
    media_root.write_text("not a directory")


async def test_a_failed_job_is_reported_with_its_task(
        api: Api, app: Any, ingest: SentryIngest, media_root: Path) -> None:
    me = await api.sign_up("ada@example.com")
    body = await api.gql("mutation { requestDataExport { dataExport { id } } }",
                         token=me["accessToken"])
    assert "errors" not in body, body
    _break_storage(media_root)
    await app.state.services.jobs.run_worker(wait=False)
    error_reports.flush()
    events = [e for e in ingest.events() if e["tags"].get("where") == "job"]
    assert events, ingest.events()
    assert events[0]["tags"]["task"] == "relleks.run_work"
    assert "ada@example.com" not in ingest.raw()


async def test_no_report_without_a_dsn(api: Api, ingest: SentryIngest,
                                       settings: Settings) -> None:
    assert settings.sentry_dsn == ingest.dsn
    assert not error_reports.configure_error_reports(
        Settings(env="test", database_url=settings.database_url))
    error_reports.report_exception(RuntimeError("never sent"), request_id="x" * 8)
    error_reports.flush()
    assert ingest.events() == []
