"""exportLeads: the matching leads as CSV (the import's columns), for MEMBER+ only, with cells
that a spreadsheet would run as formulas neutralised, and an activity event."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import create_lead, events, table_state, token
from tests.leads.test_import import import_csv, result
from tests.orgs.conftest import Team

EXPORT = """
mutation($organizationId: ID!, $filter: LeadFilter) {
  exportLeads(input: {organizationId: $organizationId, filter: $filter}) { leadExport {
    filename contentType rowCount csv
  } }
}"""
COLUMNS = ["name", "email", "phone", "company", "title", "status", "tags", "owner_email",
           "address_line1", "address_line2", "address_city", "address_region",
           "address_postal_code", "address_country"]


async def export(api: Api, team: Team, role: Role = Role.MEMBER,
                 flt: dict[str, Any] | None = None) -> dict[str, Any]:
    body = await api.gql(EXPORT, {"organizationId": team.org_id, "filter": flt},
                         token=token(team, role))
    assert "errors" not in body, body
    return body["data"]["exportLeads"]["leadExport"]


def rows(export: dict[str, Any]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(export["csv"], newline=""))
    assert reader.fieldnames == COLUMNS
    return list(reader)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_member_and_above_export_every_lead(api: Api, team: Team, role: Role) -> None:
    admin = team.people[Role.ADMIN]
    await create_lead(api, team, name="Grace Hopper", email="grace@example.com",
                      phone="+1 415 555 2671", company="US Navy", title="Admiral",
                      status="WON", tags=["vip", "cobol"], ownerId=admin.id,
                      address={"line1": "1 Main St", "city": "Arlington", "region": "VA",
                               "postalCode": "22201", "country": "US"})
    await create_lead(api, team, name="Ada Lovelace")
    exported = await export(api, team, role)
    assert exported["contentType"] == "text/csv; charset=utf-8"
    assert exported["filename"].startswith("acme-leads-") and exported["filename"].endswith(
        ".csv")
    assert exported["rowCount"] == 2
    assert exported["csv"].endswith("\r\n")
    assert rows(exported) == [
        dict.fromkeys(COLUMNS, "") | {"name": "Ada Lovelace", "status": "new"},
        {"name": "Grace Hopper", "email": "grace@example.com", "phone": "'+14155552671",
         "company": "US Navy", "title": "Admiral", "status": "won", "tags": "vip;cobol",
         "owner_email": admin.email, "address_line1": "1 Main St", "address_line2": "",
         "address_city": "Arlington", "address_region": "VA", "address_postal_code": "22201",
         "address_country": "US"},
    ]
    (event,) = await events(team.org, "leads.")
    assert (event.action, event.summary, event.actor_id) == (
        "leads.exported", {"rows": 2}, team.people[role].user.id)
    assert "Grace" not in str(event.summary)


async def test_the_filter_applies(api: Api, team: Team) -> None:
    await create_lead(api, team, name="Grace Hopper", status="WON", tags=["vip"])
    await create_lead(api, team, name="Ada Lovelace", status="WON")
    await create_lead(api, team, name="Alan Turing", tags=["vip"])
    exported = await export(api, team, flt={"status": ["WON"], "tags": ["vip"]})
    assert [r["name"] for r in rows(exported)] == ["Grace Hopper"]
    assert exported["rowCount"] == 1
    exported = await export(api, team, flt={"search": "ALAN"})
    assert [r["name"] for r in rows(exported)] == ["Alan Turing"]
    exported = await export(api, team, flt={"search": "nobody"})
    assert (rows(exported), exported["rowCount"]) == ([], 0)


async def test_formula_cells_are_neutralised(api: Api, team: Team) -> None:
    await create_lead(api, team, name="=HYPERLINK(\"http://evil\")", company="=cmd",
                      title="+1+1", tags=["@sum(a1)", "-2"],
                      address={"city": "-Springfield", "line1": "\t=1"},
                      phone="+1 415 555 2671")
    (row,) = rows(await export(api, team))
    assert row["name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["company"] == "'=cmd"
    assert row["title"] == "'+1+1"
    assert row["tags"] == "'@sum(a1);'-2"
    assert row["address_city"] == "'-Springfield"
    assert row["address_line1"] == "'=1"     # the tab was collapsed away on the way in
    assert row["phone"] == "'+14155552671"   # no column is exempt, a phone number included


async def test_formulas_after_a_separator_are_neutralised(api: Api, team: Team) -> None:
    """A spreadsheet that splits lines on `;` (or `,`, a tab, a line break) sees each piece of a
    cell as a cell of its own: every piece that starts like a formula gets its quote."""
    await create_lead(api, team, name="Acme;=1+2;", company="Navy, =HYPERLINK(\"x\")",
                      title="Boss;@sum(a1)", tags=["vip", "=cmd|' /c calc'!a0"],
                      address={"city": "Springfield; -1+1", "line1": 'Main;"+1'})
    await create_lead(api, team, name="Safe - Name; with, separators", company="A=B;C+D")
    exported = await export(api, team)
    safe, risky = rows(exported)
    assert risky["name"] == "Acme;'=1+2;"
    assert risky["company"] == "Navy, '=HYPERLINK(\"x\")"
    assert risky["title"] == "Boss;'@sum(a1)"
    assert risky["tags"] == "vip;'=cmd|' /c calc'!a0"
    assert risky["address_city"] == "Springfield; '-1+1"
    assert risky["address_line1"] == 'Main;"\'+1'
    # A trigger that starts no piece is left alone.
    assert safe["name"] == "Safe - Name; with, separators"
    assert safe["company"] == "A=B;C+D"
    # However a spreadsheet splits the file's lines, no cell starts like a formula.
    for separator in (";", ",", "\t"):
        for line in exported["csv"].splitlines():
            for cell in line.split(separator):
                assert not cell.lstrip(' "').startswith(("=", "+", "-", "@")), (cell, line)


async def test_an_export_reimports_to_the_same_leads(api: Api, http: httpx.AsyncClient,
                                                     team: Team) -> None:
    await create_lead(api, team, name="Grace Hopper", email="grace@example.com",
                      phone="+1 415 555 2671", company="Navy", tags=["vip", "cobol"],
                      ownerId=team.people[Role.MEMBER].id, status="QUALIFIED",
                      address={"city": "Arlington", "country": "US"})
    exported = await export(api, team)
    # Importing the file back gives a second, identical lead.
    outcome = result(await import_csv(http, team, exported["csv"]))
    assert outcome == {"dryRun": False, "imported": 1, "errors": []}
    again = rows(await export(api, team))
    assert again[0] == again[1] == rows(exported)[0]


async def test_a_viewer_cannot_export(api: Api, team: Team) -> None:
    await create_lead(api, team, name="Grace Hopper")
    before = await table_state(team.org)
    body = await api.gql(EXPORT, {"organizationId": team.org_id},
                         token=token(team, Role.VIEWER))
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:export"
    assert "Grace" not in str(body)
    assert await table_state(team.org) == before


async def test_outsiders_cannot_export(api: Api, team: Team, rival: Team) -> None:
    await create_lead(api, team, name="Grace Hopper")
    before = await table_state(team.org, rival.org)
    for caller in [*(p.token for p in rival.people.values()), None]:
        body = await api.gql(EXPORT, {"organizationId": team.org_id}, token=caller)
        assert error_code(body) == "NOT_FOUND"
        assert "Grace" not in str(body)
    assert await table_state(team.org, rival.org) == before
