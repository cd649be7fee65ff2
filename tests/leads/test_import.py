"""importLeads over a real GraphQL multipart request: valid rows imported in one transaction,
bad rows reported by line and column, dry runs, refused files, 10,000 rows, and who may."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from models.leads import Lead, LeadSource, LeadStatus, LeadTag
from models.orgs import Role
from tests.conftest import error_code, errors_of
from tests.leads.conftest import (
    events,
    lead_rows,
    make_room,
    refusing_inserts,
    table_state,
    token,
)
from tests.orgs.conftest import Team

IMPORT = """
mutation($input: ImportLeadsInput!) {
  importLeads(input: $input) { importResult { dryRun imported errors { line field message } } }
}"""


async def import_csv(http: httpx.AsyncClient, team: Team, data: bytes | str, *,
                     role: Role = Role.MEMBER, dry_run: bool | None = None,
                     organization_id: str | None = None, person_token: str | None = None,
                     ) -> dict[str, Any]:
    """POST a GraphQL multipart request (operations, map, then the file part): the file is
    `input.file`, mapped as `variables.input.file`."""
    given: dict[str, Any] = {"organizationId": organization_id or team.org_id, "file": None}
    if dry_run is not None:
        given["dryRun"] = dry_run
    variables = {"input": given}
    raw = data.encode() if isinstance(data, str) else data
    response = await http.post(
        "/graphql",
        files={"operations": (None, json.dumps({"query": IMPORT, "variables": variables})),
               "map": (None, json.dumps({"0": ["variables.input.file"]})),
               "0": ("leads.csv", raw, "text/csv")},
        headers={"authorization": f"Bearer {person_token or token(team, role)}"})
    assert response.status_code == 200, response.text
    return response.json()


def result(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]["importLeads"]["importResult"]


async def test_a_valid_file_imports_every_row(http: httpx.AsyncClient, team: Team) -> None:
    admin = team.people[Role.ADMIN]
    csv = (
        "name,email,phone,company,title,status,tags,owner_email,address_line1,address_city,"
        "address_country\r\n"
        "Grace Hopper, Grace@Navy.example ,(415) 555-2671,US Navy,Admiral,won,VIP;cobol,"
        f"{admin.email.upper()},1 Main St,Arlington,us\r\n"
        'Ada Lovelace,,,"Engines, Analytical",,,,,,,\r\n'
        "Alan Turing,alan@example.com,,,,CONTACTED,  ;crypto;,,,,GB\r\n"
    )
    outcome = result(await import_csv(http, team, csv))
    assert outcome == {"dryRun": False, "imported": 3, "errors": []}
    leads = {lead.name: lead for lead in await lead_rows(team.org)}
    assert set(leads) == {"Grace Hopper", "Ada Lovelace", "Alan Turing"}
    grace = leads["Grace Hopper"]
    assert (grace.email, grace.phone, grace.company, grace.title, grace.status) == (
        "grace@navy.example", "+14155552671", "US Navy", "Admiral", LeadStatus.WON)
    assert (grace.owner_id, grace.tags, grace.address_city, grace.address_country) == (
        admin.user.id, ["vip", "cobol"], "Arlington", "US")
    assert leads["Ada Lovelace"].company == "Engines, Analytical"
    assert leads["Ada Lovelace"].status is LeadStatus.NEW
    assert leads["Ada Lovelace"].owner_id is None
    assert leads["Alan Turing"].tags == ["crypto"]
    assert {lead.source for lead in leads.values()} == {LeadSource.IMPORT}
    assert sorted(await LeadTag._scoped(team.org.id).values_list("tag", flat=True)) == [
        "cobol", "crypto", "vip"]
    (event,) = await events(team.org, "leads.")
    assert (event.action, event.summary, event.actor_id) == (
        "leads.imported", {"imported": 3, "skipped": 0}, team.people[Role.MEMBER].user.id)


async def test_columns_may_come_in_any_order_with_a_bom_and_any_case(
        http: httpx.AsyncClient, team: Team) -> None:
    csv = "\ufeffCompany, NAME ,Email\nNavy,Grace,grace@example.com\n"
    assert result(await import_csv(http, team, csv))["imported"] == 1
    (lead,) = await lead_rows(team.org)
    assert (lead.name, lead.company, lead.email) == ("Grace", "Navy", "grace@example.com")


async def test_bad_rows_are_reported_by_line_and_valid_rows_imported(
        http: httpx.AsyncClient, team: Team) -> None:
    csv = (
        "name,email,phone,status,owner_email,address_country,address_postal_code\n"   # 1
        "Good One,one@example.com,,,,,\n"                                            # 2
        ",nobody@example.com,,,,,\n"                                                 # 3
        "\n"                                                                         # 4
        "Bad Email,not-an-email,,,,,\n"                                              # 5
        '"Multi\nLine Name",,,,,,\n'                                                  # 6-7
        "Bad Phone,,12,,,,\n"                                                        # 8
        "Bad Status,,,maybe,,,\n"                                                    # 9
        "Stranger Owner,,,,eve@example.com,,\n"                                      # 10
        "Bad Country,,,,,Germany,1234567890123456789012\n"                           # 11
        "Good Two,,+1 212 555 0199,lost,,DE,10115\n"                                 # 12
        "Too,Many,Cells,new,,,,extra\n"                                              # 13
    )
    outcome = result(await import_csv(http, team, csv))
    assert outcome["imported"] == 3
    errors = [(e["line"], e["field"]) for e in outcome["errors"]]
    assert errors == [(3, "name"), (5, "email"), (8, "phone"), (9, "status"),
                      (10, "owner_email"), (11, "address_country"),
                      (11, "address_postal_code"), (13, None)]
    assert all(e["message"] for e in outcome["errors"])
    assert "new" in outcome["errors"][3]["message"]   # says what a status may be
    assert {lead.name for lead in await lead_rows(team.org)} == {
        "Good One", "Multi Line Name", "Good Two"}
    (event,) = await events(team.org, "leads.")
    assert event.summary == {"imported": 3, "skipped": 7}


async def test_a_dry_run_reports_and_writes_nothing(http: httpx.AsyncClient,
                                                    team: Team) -> None:
    before = await table_state(team.org)
    csv = "name,email\nGood,good@example.com\nBad,nope\n"
    outcome = result(await import_csv(http, team, csv, dry_run=True))
    assert outcome == {"dryRun": True, "imported": 1, "errors": [
        {"line": 3, "field": "email", "message": outcome["errors"][0]["message"]}]}
    assert await table_state(team.org) == before


async def test_a_file_with_no_valid_row_writes_nothing(http: httpx.AsyncClient,
                                                       team: Team) -> None:
    before = await table_state(team.org)
    outcome = result(await import_csv(http, team, "name,email\n,\nX,bad\n"))
    assert outcome["imported"] == 0 and len(outcome["errors"]) == 2
    assert result(await import_csv(http, team, "name\n"))["imported"] == 0
    assert await table_state(team.org) == before


@pytest.mark.parametrize(("data", "problem"), [
    ("name,email,shoe_size\nGrace,,42\n", "shoe_size"),
    ("email,phone\ngrace@example.com,\n", "name"),
    ("name,email,name\nGrace,,Hopper\n", "name"),
    ("name,,email\nGrace,,\n", "blank"),
    ("".encode("utf-16"), "UTF-8"),
    ("name\nJos\xe9\n".encode("latin-1"), "UTF-8"),
    (b"\xff\xfe\x00n\x00a\x00m\x00e", "UTF-8"),
    (b"", "empty"),
    ('name\n"' + "x" * 200_000 + '"\n', "CSV"),
])
async def test_a_file_we_cannot_read_is_bad_user_input_naming_file(
        http: httpx.AsyncClient, team: Team, data: str | bytes, problem: str) -> None:
    before = await table_state(team.org)
    body = await import_csv(http, team, data)
    assert error_code(body) == "BAD_USER_INPUT", body
    fields = errors_of(body)[0]["extensions"]["fields"]
    assert set(fields) == {"file"}
    assert problem.lower() in fields["file"].lower()
    assert await table_state(team.org) == before


async def test_ten_thousand_rows_import_in_one_request(http: httpx.AsyncClient,
                                                       team: Team) -> None:
    await make_room(team.org)
    member = team.people[Role.MEMBER]
    lines = ["name,email,phone,company,tags,owner_email,address_country"]
    lines += [f"Lead {i},lead{i}@example.com,+1 415 555 {i % 10_000:04d},Company {i % 97},"
              f"batch;t{i % 7},{member.email},US" for i in range(10_000)]
    outcome = result(await import_csv(http, team, "\n".join(lines) + "\n"))
    assert outcome == {"dryRun": False, "imported": 10_000, "errors": []}
    assert await Lead._scoped(team.org.id).count() == 10_000
    assert await Lead._scoped(team.org.id).filter(owner_id=member.user.id,
                                                 source=LeadSource.IMPORT).count() == 10_000
    assert await LeadTag._scoped(team.org.id).count() == 20_000
    assert await LeadTag._scoped(team.org.id).filter(tag="batch").count() == 10_000
    (event,) = await events(team.org, "leads.")
    assert event.summary == {"imported": 10_000, "skipped": 0}


async def test_more_than_ten_thousand_rows_are_refused(http: httpx.AsyncClient,
                                                       team: Team) -> None:
    lines = ["name"] + [f"Lead {i}" for i in range(10_001)]
    body = await import_csv(http, team, "\n".join(lines))
    assert error_code(body) == "BAD_USER_INPUT"
    assert set(errors_of(body)[0]["extensions"]["fields"]) == {"file"}
    assert await Lead._scoped(team.org.id).count() == 0


async def test_an_import_is_one_transaction(http: httpx.AsyncClient, team: Team) -> None:
    """A database failure in a late batch (a trigger refusing the 1,200th row) leaves no lead,
    tag or event of the import behind: the batches before it are rolled back too."""
    await make_room(team.org)
    before = await table_state(team.org)
    lines = ["name,tags"] + [f"Lead {i},imported" for i in range(1_199)] + ["Explode,boom"]
    async with refusing_inserts("leads", "NEW.name = 'Explode'"):
        body = await import_csv(http, team, "\n".join(lines))
    assert error_code(body) == "INTERNAL"
    assert await table_state(team.org) == before
    assert result(await import_csv(http, team, "\n".join(lines)))["imported"] == 1_200


async def test_a_viewer_cannot_import(http: httpx.AsyncClient, team: Team) -> None:
    before = await table_state(team.org)
    body = await import_csv(http, team, "name\nGrace\n", role=Role.VIEWER)
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:write"
    body = await import_csv(http, team, "name\nGrace\n", role=Role.VIEWER, dry_run=True)
    assert error_code(body) == "FORBIDDEN"
    assert await table_state(team.org) == before


async def test_outsiders_cannot_import_into_an_org(http: httpx.AsyncClient, team: Team,
                                                   rival: Team) -> None:
    before = await table_state(team.org, rival.org)
    body = await import_csv(http, team, "name\nPlanted\n",
                            person_token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "organizationId"
    # An owner_email of another org's member is not a member here.
    outcome = result(await import_csv(
        http, team, f"name,owner_email\nGrace,{rival.people[Role.MEMBER].email}\n"))
    assert [(e["line"], e["field"]) for e in outcome["errors"]] == [(2, "owner_email")]
    assert await table_state(team.org, rival.org) == before


BOUNDED_IMPORT = """
mutation($input: ImportLeadsInput!) {
  importLeads(input: $input) { importResult {
    imported skipped errorCount errorsTruncated errors { line field message }
  } }
}"""


async def test_the_error_list_is_bounded_and_says_how_many_there_are(
        http: httpx.AsyncClient, team: Team) -> None:
    """10,000 bad lines (5,000 malformed, 5,000 with two bad cells each) answer the first 100
    problems by line, with the total and the fact that the list stops there."""
    lines = ["name,email,phone"]
    for i in range(5_000):
        lines.append(f"Lead {i},a,b,extra")           # more cells than the header
        lines.append(f"Lead {i},not-an-email,12")     # two bad cells
    data = ("\n".join(lines) + "\n").encode()
    response = await http.post(
        "/graphql",
        files={"operations": (None, json.dumps({"query": BOUNDED_IMPORT, "variables": {
                   "input": {"organizationId": team.org_id, "file": None}}})),
               "map": (None, json.dumps({"0": ["variables.input.file"]})),
               "0": ("leads.csv", data, "text/csv")},
        headers={"authorization": f"Bearer {token(team, Role.MEMBER)}"})
    assert response.status_code == 200
    assert len(response.content) < 30_000, len(response.content)
    outcome = result(response.json())
    assert outcome["imported"] == 0
    assert outcome["skipped"] == 10_000
    assert outcome["errorCount"] == 15_000
    assert outcome["errorsTruncated"] is True
    errors = outcome["errors"]
    assert len(errors) == 100
    assert [(e["line"], e["field"]) for e in errors[:5]] == [
        (2, None), (3, "email"), (3, "phone"), (4, None), (5, "email")]
    assert [e["line"] for e in errors] == sorted(e["line"] for e in errors)
    assert await Lead._scoped(team.org.id).count() == 0
    # A file with few problems lists them all.
    small = await http.post(
        "/graphql",
        files={"operations": (None, json.dumps({"query": BOUNDED_IMPORT, "variables": {
                   "input": {"organizationId": team.org_id, "file": None}}})),
               "map": (None, json.dumps({"0": ["variables.input.file"]})),
               "0": ("leads.csv", b"name,email\nGood,\nBad,nope\n", "text/csv")},
        headers={"authorization": f"Bearer {token(team, Role.MEMBER)}"})
    outcome = result(small.json())
    assert (outcome["imported"], outcome["skipped"], outcome["errorCount"],
            outcome["errorsTruncated"], len(outcome["errors"])) == (1, 1, 1, False, 1)


@pytest.mark.parametrize("bad", ["malformed", "invalid", "blank"])
async def test_every_line_counts_against_the_row_limit(http: httpx.AsyncClient, team: Team,
                                                       bad: str) -> None:
    """Lines that are not imported (more cells than the header, invalid values, blank) count
    against the 10,000-line limit too: a bigger file is refused, whatever its lines hold."""
    line = {"malformed": "Lead,a@example.com,extra", "invalid": ",not-an-email",
            "blank": ""}[bad]
    lines = ["name,email"] + ["Good,good@example.com"] * 2 + [line] * 9_999
    before = await table_state(team.org)
    body = await import_csv(http, team, "\n".join(lines) + "\n")
    assert error_code(body) == "BAD_USER_INPUT", str(body)[:500]
    fields = errors_of(body)[0]["extensions"]["fields"]
    assert set(fields) == {"file"} and "10,000" in fields["file"]
    assert await table_state(team.org) == before
    # Exactly at the limit, the file is read.
    outcome = result(await import_csv(http, team, "\n".join(lines[:-1]) + "\n"))
    assert outcome["imported"] == 2


async def test_the_file_is_read_and_checked_in_worker_threads(
        http: httpx.AsyncClient, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing and validating a file is CPU work proportional to its size: it runs in worker
    threads, so the event loop keeps serving other requests meanwhile."""
    ran: list[str] = []
    to_thread = asyncio.to_thread

    async def recording(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        ran.append(func.__name__)
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", recording)
    outcome = result(await import_csv(http, team, "name,email\nGood,\nBad,nope\n"))
    assert outcome["imported"] == 1
    assert {"_read_csv", "_validate_rows"} <= set(ran), ran
