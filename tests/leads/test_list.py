"""organization.leads: filters, orders, totalCount, keyset pages in both directions, limits, and
cursors that stay correct while leads are added between pages."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.leads import Lead, LeadSource, LeadStatus
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import LEADS, create_lead, db_id, seed_leads, token
from tests.orgs.conftest import Team, gid


async def leads(api: Api, team: Team, role: Role = Role.VIEWER, **variables: Any
                ) -> dict[str, Any]:
    body = await api.gql(LEADS, {"slug": team.slug, **variables}, token=token(team, role))
    assert "errors" not in body, body
    return body["data"]["organization"]["leads"]


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_a_viewer_lists_leads_newest_first(api: Api, team: Team) -> None:
    await seed_leads(team.org, 3)
    page = await leads(api, team)
    assert names(page) == ["Lead 002", "Lead 001", "Lead 000"]
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is page["pageInfo"]["hasPreviousPage"] is False


async def test_an_empty_list(api: Api, team: Team) -> None:
    page = await leads(api, team, first=10)
    assert page == {"totalCount": 0, "edges": [], "pageInfo": {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}}


@pytest.mark.parametrize(("order_by", "expected"), [
    ({"field": "CREATED_AT", "direction": "DESC"}, ["Cy", "Bo", "Al"]),
    ({"field": "CREATED_AT", "direction": "ASC"}, ["Al", "Bo", "Cy"]),
    ({"field": "UPDATED_AT", "direction": "DESC"}, ["Bo", "Al", "Cy"]),
    ({"field": "UPDATED_AT", "direction": "ASC"}, ["Cy", "Al", "Bo"]),
    ({"field": "NAME", "direction": "ASC"}, ["Al", "Bo", "Cy"]),
    ({"field": "NAME", "direction": "DESC"}, ["Cy", "Bo", "Al"]),
    ({"field": "NAME"}, ["Cy", "Bo", "Al"]),
])
async def test_orders(api: Api, team: Team, order_by: dict[str, str],
                      expected: list[str]) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i, name in enumerate(["Al", "Bo", "Cy"]):
        await seed_leads(team.org, 1, start=start + timedelta(days=i), prefix=name)
    updated = {"Al 000": 5, "Bo 000": 9, "Cy 000": 1}
    for lead in await Lead._scoped(team.org.id):
        await Lead._scoped(team.org.id).filter(id=lead.id).update(
            name=lead.name[:2], updated_at=start + timedelta(days=updated[lead.name]))
    page = await leads(api, team, orderBy=order_by)
    assert names(page) == expected


async def test_name_order_breaks_ties_on_the_id_and_pages_through_them(api: Api,
                                                                       team: Team) -> None:
    for _ in range(5):
        await Lead.create(organization_id=team.org.id, name="Same Name")
    ids = sorted(lead.id for lead in await Lead._scoped(team.org.id))
    seen: list[str] = []
    after = None
    while True:
        page = await leads(api, team, first=2, after=after,
                           orderBy={"field": "NAME", "direction": "ASC"})
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5
    assert seen == [gid("Lead", i) for i in ids]


# Filters

async def filter_fixture(api: Api, team: Team) -> dict[str, dict[str, Any]]:
    admin, member = team.people[Role.ADMIN], team.people[Role.MEMBER]
    return {
        "grace": await create_lead(api, team, name="Grace Hopper", email="grace@navy.example",
                                   company="US Navy", status="WON", tags=["vip", "cobol"],
                                   ownerId=admin.id),
        "ada": await create_lead(api, team, name="Ada Lovelace", phone="+44 20 7946 0958",
                                 company="Analytical Engines", status="NEW", tags=["vip"],
                                 ownerId=member.id),
        "alan": await create_lead(api, team, name="Alan Turing", email="alan@bletchley.example",
                                  company="GCHQ", status="CONTACTED", tags=["cobol"]),
        "zoe": await create_lead(api, team, name="Zoë Ødegård", company="Ærø Øl",
                                 email="zoe@aero.example"),
    }


async def matching(api: Api, team: Team, flt: dict[str, Any]) -> set[str]:
    page = await leads(api, team, filter=flt)
    assert page["totalCount"] == len(page["edges"])
    return set(names(page))


async def test_filter_by_status_owner_source_and_tags(api: Api, team: Team) -> None:
    await filter_fixture(api, team)
    await Lead._scoped(team.org.id).filter(name="Alan Turing").update(source=LeadSource.IMPORT)
    assert await matching(api, team, {"status": ["WON", "CONTACTED"]}) == {
        "Grace Hopper", "Alan Turing"}
    assert await matching(api, team, {"status": []}) == {
        "Grace Hopper", "Ada Lovelace", "Alan Turing", "Zoë Ødegård"}
    assert await matching(api, team, {"ownerId": team.people[Role.ADMIN].id}) == {
        "Grace Hopper"}
    assert await matching(api, team, {"ownerId": team.people[Role.VIEWER].id}) == set()
    assert await matching(api, team, {"source": ["IMPORT"]}) == {"Alan Turing"}
    assert await matching(api, team, {"source": ["MANUAL", "FORM"]}) == {
        "Grace Hopper", "Ada Lovelace", "Zoë Ødegård"}
    # Tags: leads having all the given tags, matched like they are stored.
    assert await matching(api, team, {"tags": ["vip"]}) == {"Grace Hopper", "Ada Lovelace"}
    assert await matching(api, team, {"tags": ["VIP ", "cobol"]}) == {"Grace Hopper"}
    assert await matching(api, team, {"tags": ["vip", "nope"]}) == set()
    # Conditions combine.
    assert await matching(api, team, {"tags": ["cobol"], "status": ["CONTACTED"]}) == {
        "Alan Turing"}


@pytest.mark.parametrize(("term", "expected"), [
    ("grace", {"Grace Hopper"}),
    ("HOPPER", {"Grace Hopper"}),
    # Email and phone are encrypted: found by their exact value (a blind index), any case for
    # email, any spacing for an E.164 phone; a part of either finds nothing.
    ("Grace@NAVY.example", {"Grace Hopper"}),
    ("alan@bletchley.example", {"Alan Turing"}),
    ("bletchley", set()),
    ("+442079460958", {"Ada Lovelace"}),
    ("+44 20 7946 0958", {"Ada Lovelace"}),
    ("7946", set()),
    ("analytical", {"Ada Lovelace"}),              # company
    ("a", {"Grace Hopper", "Ada Lovelace", "Alan Turing"}),  # not zoe@aero.example
    ("  turing  ", {"Alan Turing"}),
    ("zoË", {"Zoë Ødegård"}),                      # non-ASCII, case-insensitively
    ("ødegård", {"Zoë Ødegård"}),
    ("ÆRØ", {"Zoë Ødegård"}),
    ("%", set()),                                  # LIKE wildcards are literal
    ("_", set()),
    ("nobody", set()),
])
async def test_search_matches_name_and_company_and_exact_email_and_phone(
        api: Api, team: Team, term: str, expected: set[str]) -> None:
    await filter_fixture(api, team)
    assert await matching(api, team, {"search": term}) == expected


async def test_a_search_with_a_nul_character_is_refused(api: Api, team: Team) -> None:
    await filter_fixture(api, team)
    # No text input may hold NUL, which PostgreSQL refuses (tests/http/test_nul.py).
    for flt, field in (({"search": "gr\x00ace"}, "search"), ({"tags": ["v\x00ip"]}, "tags"),
                       ({"search": "\x00"}, "search")):
        body = await api.gql(LEADS, {"slug": team.slug, "filter": flt},
                             token=token(team, Role.MEMBER))
        assert body["errors"][0]["extensions"]["fields"] == {
            field: "may not contain the NUL control character (U+0000)"}, body


async def test_filter_by_creation_time(api: Api, team: Team) -> None:
    await seed_leads(team.org, 5, start=datetime(2026, 2, 1, tzinfo=UTC))
    after = (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(seconds=1)).isoformat()
    before = (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(seconds=4)).isoformat()
    assert await matching(api, team, {"createdAfter": after}) == {
        "Lead 001", "Lead 002", "Lead 003", "Lead 004"}
    assert await matching(api, team, {"createdBefore": before}) == {
        "Lead 000", "Lead 001", "Lead 002", "Lead 003"}
    assert await matching(api, team, {"createdAfter": after, "createdBefore": before}) == {
        "Lead 001", "Lead 002", "Lead 003"}


async def test_filters_apply_to_the_total_and_to_every_page(api: Api, team: Team) -> None:
    await seed_leads(team.org, 6)
    await Lead._scoped(team.org.id).filter(name__in=["Lead 001", "Lead 003", "Lead 005"]) \
        .update(status=LeadStatus.WON)
    page = await leads(api, team, first=2, filter={"status": ["WON"]})
    assert (names(page), page["totalCount"]) == (["Lead 005", "Lead 003"], 3)
    page = await leads(api, team, first=2, after=page["pageInfo"]["endCursor"],
                       filter={"status": ["WON"]})
    assert (names(page), page["totalCount"], page["pageInfo"]["hasNextPage"]) == (
        ["Lead 001"], 3, False)


async def test_a_bad_owner_id_in_a_filter_is_not_found(api: Api, team: Team) -> None:
    for owner_id in (gid("Lead", uuid.uuid4()), gid("User", "not-a-uuid")):
        body = await api.gql(LEADS, {"slug": team.slug, "filter": {"ownerId": owner_id}},
                             token=token(team, Role.VIEWER))
        assert error_code(body) == "NOT_FOUND"
        assert errors_of(body)[0]["extensions"]["field"] == "ownerId"


# Pages

async def test_first_after_and_last_before(api: Api, team: Team) -> None:
    await seed_leads(team.org, 5)
    first = await leads(api, team, first=2)
    assert names(first) == ["Lead 004", "Lead 003"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    second = await leads(api, team, first=2, after=first["pageInfo"]["endCursor"])
    assert names(second) == ["Lead 002", "Lead 001"]
    assert second["pageInfo"]["hasPreviousPage"] is True
    third = await leads(api, team, first=2, after=second["pageInfo"]["endCursor"])
    assert names(third) == ["Lead 000"]
    assert third["pageInfo"]["hasNextPage"] is False

    last = await leads(api, team, last=2)
    assert names(last) == ["Lead 001", "Lead 000"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    back = await leads(api, team, last=2, before=last["pageInfo"]["startCursor"])
    assert names(back) == ["Lead 003", "Lead 002"]
    assert back["pageInfo"]["hasNextPage"] is True
    front = await leads(api, team, last=2, before=back["pageInfo"]["startCursor"])
    assert names(front) == ["Lead 004"]
    assert front["pageInfo"]["hasPreviousPage"] is False
    assert front["totalCount"] == 5


async def test_page_size_is_capped_at_100(api: Api, team: Team) -> None:
    await seed_leads(team.org, 101)
    page = await leads(api, team, first=100)
    assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"] is True
    unasked = await leads(api, team)
    assert len(unasked["edges"]) == 100
    for argument, value in (("first", 101), ("last", 101), ("first", -1), ("last", -1)):
        body = await api.gql(LEADS, {"slug": team.slug, argument: value},
                             token=token(team, Role.VIEWER))
        assert error_code(body) == "BAD_USER_INPUT"
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {argument}


def crafted(*parts: Any) -> str:
    """A cursor as a client could forge one: base64 of any JSON."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


SOME_ID = str(uuid.uuid4())
BAD_CURSORS = {
    "not base64": "zzz", "empty": "", "not json": "bm90IGpzb24",
    "too short": crafted("name", "Lead"), "too long": crafted("name", "Lead", SOME_ID, 1),
    "no uuid": crafted("name", "Lead", "x"), "uuid not text": crafted("name", "Lead", 5),
    "null value": crafted("name", None, SOME_ID), "number value": crafted("name", 5, SOME_ID),
    "list value": crafted("name", ["a"], SOME_ID), "object value": crafted("name", {}, SOME_ID),
    "longer than a name": crafted("name", "x" * 201, SOME_ID),
    "nul in value": crafted("name", "Lead\x00", SOME_ID),
    "not a time": crafted("created_at", "not a date", SOME_ID),
    "time as number": crafted("created_at", 5, SOME_ID),
    "time without zone": crafted("created_at", "2026-01-01T00:00:00", SOME_ID),
}


@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
async def test_a_bad_cursor_is_bad_user_input(api: Api, team: Team, cursor: str) -> None:
    await seed_leads(team.org, 3)
    # Forged name cursors are sent with the name order, so only their content is wrong.
    order = {"field": "NAME"} if cursor.startswith(crafted("name")[:8]) else None
    for argument in ("after", "before"):
        body = await api.gql(LEADS, {"slug": team.slug, "first" if argument == "after"
                                     else "last": 1, argument: cursor, "orderBy": order},
                             token=token(team, Role.VIEWER))
        assert error_code(body) == "BAD_USER_INPUT", body
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {argument}


async def test_a_cursor_of_another_order_is_bad_user_input(api: Api, team: Team) -> None:
    await seed_leads(team.org, 3)
    page = await leads(api, team, first=1, orderBy={"field": "NAME"})
    body = await api.gql(LEADS, {"slug": team.slug, "first": 1,
                                 "after": page["pageInfo"]["endCursor"]},
                         token=token(team, Role.VIEWER))
    assert error_code(body) == "BAD_USER_INPUT"


def shifted(value: Any, field: str, *, ahead: bool, descending: bool) -> Any:
    """A sort value just after (`ahead`) or just before the given one, in the list's order."""
    later = ahead != descending
    if field == "NAME":
        return value + "a" if later else value[:-1] + chr(ord(value[-1]) - 1)
    return value + timedelta(seconds=1.5) if later else value - timedelta(seconds=1.5)


@pytest.mark.parametrize("order_by", [{"field": "CREATED_AT", "direction": "DESC"},
                                      {"field": "CREATED_AT", "direction": "ASC"},
                                      {"field": "NAME", "direction": "ASC"},
                                      {"field": "NAME", "direction": "DESC"}])
async def test_leads_added_while_paging_are_never_skipped_or_repeated(
        api: Api, team: Team, order_by: dict[str, str]) -> None:
    """Page with first: 2 and, between pages, add a lead that sorts into the part already
    seen, one that sorts into the part still ahead, and one tying with the cursor's row: every
    lead that existed at the start is seen exactly once and in order, the one ahead is seen,
    the one behind is not, and nothing is seen twice."""
    column = "created_at" if order_by["field"] == "CREATED_AT" else "name"
    descending = order_by["direction"] == "DESC"
    start = datetime(2026, 4, 1, tzinfo=UTC)
    for i in range(8):
        lead = await create_lead(api, team, name=f"Lead {i * 10:03d}")
        await Lead._scoped(team.org.id).filter(id=db_id(lead["id"])).update(
            created_at=start + timedelta(seconds=10 * i))
    original = ids(await leads(api, team, first=100, orderBy=order_by))
    assert len(original) == 8
    seen: list[str] = []
    added: dict[str, list[str]] = {"ahead": [], "behind": [], "tie": []}
    after = None
    while True:
        page = await leads(api, team, first=2, after=after, orderBy=order_by)
        seen += ids(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        if len(added["ahead"]) == 3:
            continue
        cursor_row = await Lead._scoped(team.org.id).get(id=db_id(seen[-1]))
        value = getattr(cursor_row, column)
        for where in added:
            lead = await create_lead(api, team, name=f"New {where}")
            key = value if where == "tie" else shifted(
                value, order_by["field"], ahead=where == "ahead", descending=descending)
            await Lead._scoped(team.org.id).filter(id=db_id(lead["id"])).update(**{column: key})
            added[where].append(lead["id"])
    assert len(seen) == len(set(seen)), seen
    assert [lead_id for lead_id in seen if lead_id in original] == original
    assert all(lead_id in seen for lead_id in added["ahead"]), (added, seen)
    assert not any(lead_id in seen for lead_id in added["behind"]), (added, seen)
    # A lead tying with the cursor's row sorts by id: before or after it, seen at most once.
    assert len(added["ahead"]) == 3


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_outsiders_cannot_list(api: Api, team: Team, rival: Team) -> None:
    await seed_leads(team.org, 2)
    body = await api.gql(LEADS, {"slug": team.slug}, token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    assert "Lead 00" not in str(body)
