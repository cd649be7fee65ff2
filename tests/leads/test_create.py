"""createLead: every value validated and normalised, every problem reported at once, nothing
written on error, and a `lead.created` event in the same transaction."""

from __future__ import annotations

from typing import Any

import pytest

from models.leads import LeadSource, LeadStatus, LeadTag
from models.orgs import Organization, Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import (
    CREATE_LEAD,
    create_lead,
    db_id,
    events,
    lead_rows,
    table_state,
    token,
)
from tests.orgs.conftest import Team


async def attempt(api: Api, team: Team, role: Role = Role.MEMBER, **fields: Any
                  ) -> dict[str, Any]:
    fields.setdefault("name", "Grace Hopper")
    return await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id, **fields}},
                         token=token(team, role))


def bad_fields(body: dict[str, Any]) -> dict[str, str]:
    assert error_code(body) == "BAD_USER_INPUT", body
    return errors_of(body)[0]["extensions"]["fields"]


async def test_a_member_creates_a_lead_with_every_field_normalised(api: Api, team: Team) -> None:
    owner = team.people[Role.ADMIN]
    lead = await create_lead(
        api, team, name="  Grace   Hopper ", email="  Grace.Hopper@EXAMPLE.com ",
        phone="(415) 555-2671", company=" Navy ", title="Rear Admiral",
        address={"line1": "1 Main St", "city": "Arlington", "region": "VA",
                 "postalCode": "22201", "country": "us"},
        status="CONTACTED", tags=[" VIP ", "vip", "Hot  Lead", ""], ownerId=owner.id)
    assert lead["name"] == "Grace Hopper"
    assert lead["email"] == "grace.hopper@example.com"
    assert lead["phone"] == "+14155552671"
    assert lead["company"] == "Navy"
    assert lead["address"] == {"line1": "1 Main St", "line2": None, "city": "Arlington",
                               "region": "VA", "postalCode": "22201", "country": "US"}
    assert lead["status"] == "CONTACTED"
    assert lead["source"] == "MANUAL"
    assert lead["tags"] == ["vip", "hot lead"]
    assert lead["owner"] == {"id": owner.id, "name": "Adam Admin"}

    (row,) = await lead_rows(team.org)
    assert row.id == db_id(lead["id"])
    assert (row.email, row.phone, row.address_country) == (
        "grace.hopper@example.com", "+14155552671", "US")
    assert row.status is LeadStatus.CONTACTED and row.source is LeadSource.MANUAL
    assert row.owner_id == owner.user.id
    assert sorted(await LeadTag._scoped(team.org.id).values_list("tag", flat=True)) == [
        "hot lead", "vip"]
    (event,) = await events(team.org, "lead.")
    assert (event.action, event.target_id, event.actor_id) == (
        "lead.created", row.id, team.people[Role.MEMBER].user.id)
    # The event says what happened, not who the lead is.
    assert "Grace" not in str(event.summary) and "example.com" not in str(event.summary)


async def test_only_a_name_is_required(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, name="Ada")
    assert lead["email"] is lead["phone"] is lead["address"] is lead["owner"] is None
    assert (lead["status"], lead["tags"]) == ("NEW", [])


async def test_phones_parse_with_the_orgs_default_region(api: Api, team: Team) -> None:
    assert team.org.default_region == "US"
    us = await create_lead(api, team, phone="415.555.2671")
    assert us["phone"] == "+14155552671"
    international = await create_lead(api, team, phone="+49 30 901820")
    assert international["phone"] == "+4930901820"

    await Organization.filter(id=team.org.id).update(default_region="DE")
    german = await create_lead(api, team, phone="030 901820")
    assert german["phone"] == "+4930901820"
    # The same digits mean another number in another region.
    assert (await create_lead(api, team, phone="(415) 555-2671"))["phone"] == "+494155552671"
    body = await attempt(api, team, phone="12")
    assert set(bad_fields(body)) == {"phone"}
    assert "DE" in bad_fields(body)["phone"]


@pytest.mark.parametrize("phone", ["not a phone", "12", "+1 555 000 0000 0000 0000",
                                   "555-0100"])
async def test_a_bad_phone_names_the_phone_field(api: Api, team: Team, phone: str) -> None:
    before = await table_state(team.org)
    body = await attempt(api, team, phone=phone)
    assert set(bad_fields(body)) == {"phone"}
    assert body["data"] is None
    assert await table_state(team.org) == before


@pytest.mark.parametrize(("fields", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b@c.com"}, "email"),
    ({"address": {"country": "USA"}}, "address.country"),
    ({"address": {"country": "XX"}}, "address.country"),
    ({"address": {"country": "1"}}, "address.country"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"company": "x" * 201}, "company"),
    ({"title": "x" * 201}, "title"),
    ({"address": {"line1": "x" * 201}}, "address.line1"),
    ({"address": {"city": "x" * 101}}, "address.city"),
    ({"address": {"region": "x" * 101}}, "address.region"),
    ({"address": {"postalCode": "1" * 21}}, "address.postalCode"),
    ({"tags": ["x" * 51]}, "tags"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"name": "Nul\x00Byte"}, "name"),
    ({"company": "bell\x07"}, "company"),
    ({"tags": ["a\x00b"]}, "tags"),
])
async def test_each_bad_value_is_bad_user_input_naming_its_field(
        api: Api, team: Team, fields: dict[str, Any], field: str) -> None:
    before = await table_state(team.org)
    body = await attempt(api, team, **fields)
    assert bad_fields(body) == {field: bad_fields(body)[field]}
    assert field.split(".")[-1] in errors_of(body)[0]["message"]
    assert await table_state(team.org) == before


async def test_maximum_lengths_are_accepted(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, name="n" * 200, company="c" * 200, title="t" * 200,
                             address={"line1": "l" * 200, "line2": "m" * 200, "city": "c" * 100,
                                      "region": "r" * 100, "postalCode": "p" * 20},
                             tags=[f"{i:02d}" + "t" * 48 for i in range(20)])
    assert len(lead["name"]) == 200 and len(lead["tags"]) == 20
    (row,) = await lead_rows(team.org)
    assert row.address_postal_code == "p" * 20


async def test_status_is_an_enum(api: Api, team: Team) -> None:
    body = await attempt(api, team, status="MAYBE")
    assert error_code(body) == "BAD_USER_INPUT"
    assert await lead_rows(team.org) == []
    for status in ("NEW", "CONTACTED", "QUALIFIED", "WON", "LOST"):
        assert (await create_lead(api, team, status=status))["status"] == status


async def test_the_owner_must_be_a_member_of_the_same_org(api: Api, team: Team,
                                                          rival: Team) -> None:
    before = await table_state(team.org, rival.org)
    for outsider in (rival.people[Role.OWNER].id, rival.people[Role.MEMBER].id):
        body = await attempt(api, team, ownerId=outsider)
        assert set(bad_fields(body)) == {"ownerId"}
    body = await attempt(api, team, ownerId=team.org_id)  # not a user id at all
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "ownerId"
    assert await table_state(team.org, rival.org) == before
    # Every role of the org can own leads, viewers included.
    lead = await create_lead(api, team, ownerId=team.people[Role.VIEWER].id)
    assert lead["owner"]["id"] == team.people[Role.VIEWER].id


async def test_all_problems_are_reported_together(api: Api, team: Team, rival: Team) -> None:
    before = await table_state(team.org)
    body = await attempt(api, team, name="", email="nope", phone="nope",
                         address={"country": "Germany", "postalCode": "9" * 30},
                         tags=["y" * 60], ownerId=rival.people[Role.ADMIN].id)
    assert set(bad_fields(body)) == {"name", "email", "phone", "address.country",
                                     "address.postalCode", "tags", "ownerId"}
    assert len(errors_of(body)) == 1
    assert await table_state(team.org) == before


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_member_and_above_create(api: Api, team: Team, role: Role) -> None:
    lead = await create_lead(api, team, role, name=f"By {role.value}")
    assert lead["name"] == f"By {role.value}"


async def test_a_viewer_cannot_create(api: Api, team: Team) -> None:
    before = await table_state(team.org)
    body = await attempt(api, team, Role.VIEWER)
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:write"
    assert await table_state(team.org) == before


async def test_outsiders_and_anonymous_callers_get_not_found(api: Api, team: Team,
                                                             rival: Team) -> None:
    before = await table_state(team.org, rival.org)
    for caller in (rival.people[Role.OWNER].token, None):
        body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                     "name": "X"}}, token=caller)
        assert error_code(body) == "NOT_FOUND"
        assert errors_of(body)[0]["extensions"]["field"] == "organizationId"
    assert await table_state(team.org, rival.org) == before
