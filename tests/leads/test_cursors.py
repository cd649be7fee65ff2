"""Keyset cursors are sealed: they carry no readable personal data or id, they still page both
ways and stay put while leads are added or deleted, and a cursor altered, forged, or taken from
another list or order is BAD_USER_INPUT naming the argument it came in."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from strawberry import relay

from engine.keyset import Order, encode_cursor, scope_of
from models.leads import Lead
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import LEADS, create_lead, db_id, seed_leads, token
from tests.leads.test_notes import NOTES, add, notes
from tests.orgs.conftest import Team

ORDERS = [{"field": field, "direction": direction}
          for field in ("NAME", "CREATED_AT", "UPDATED_AT") for direction in ("ASC", "DESC")]
COLUMNS = {"NAME": "name", "CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}


async def leads(api: Api, team: Team, **variables: Any) -> dict[str, Any]:
    body = await api.gql(LEADS, {"slug": team.slug, **variables},
                         token=token(team, Role.VIEWER))
    assert "errors" not in body, body
    return body["data"]["organization"]["leads"]


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def refused(body: dict[str, Any], argument: str) -> None:
    assert error_code(body) == "BAD_USER_INPUT", body
    error = errors_of(body)[0]
    assert set(error["extensions"]["fields"]) == {argument}, body
    assert error["message"].startswith(f"{argument}: is not a cursor of this list")


@pytest.mark.parametrize("order_by", ORDERS)
async def test_a_cursor_shows_neither_the_name_nor_the_id(api: Api, team: Team,
                                                          order_by: dict[str, str]) -> None:
    lead = await create_lead(api, team, name="Ada Allen")
    page = await leads(api, team, orderBy=order_by)
    row_id = db_id(lead["id"])
    cursors = [page["edges"][0]["cursor"], page["pageInfo"]["startCursor"],
               page["pageInfo"]["endCursor"]]
    assert len(set(cursors)) == 1  # one position, one cursor
    decoded = raw(cursors[0])
    for secret in (b"Ada", b"Allen", b"ada allen", row_id.bytes, str(row_id).encode(),
                   row_id.hex.encode(), lead["id"].encode()):
        assert secret.lower() not in decoded.lower(), (secret, decoded)
    assert b"name" not in decoded and b"created" not in decoded


async def test_a_note_cursor_shows_neither_the_note_nor_the_lead(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, name="Ada Allen")
    note = await add(api, team, lead["id"], "Secret plans")
    page = await notes(api, team, lead["id"])
    decoded = raw(page["edges"][0]["cursor"])
    for global_id in (lead["id"], note["id"]):
        row_id = db_id(global_id)
        for secret in (row_id.bytes, str(row_id).encode(), global_id.encode()):
            assert secret not in decoded
    assert b"Secret" not in decoded


@pytest.mark.parametrize("order_by", ORDERS)
async def test_paging_both_ways_is_stable_across_inserts_and_deletes(
        api: Api, team: Team, order_by: dict[str, str]) -> None:
    """Forward with `first`/`after` and backward with `last`/`before`, two at a time, while a
    lead is added next to each boundary and the boundary's own lead is deleted: every lead that
    existed at the start and still exists is seen once, in order."""
    column = COLUMNS[order_by["field"]]
    start = datetime(2026, 4, 1, tzinfo=UTC)
    for i in range(7):
        lead = await create_lead(api, team, name=f"Lead {i * 10:03d}")
        await Lead._scoped(team.org.id).filter(id=db_id(lead["id"])).update(
            created_at=start + timedelta(seconds=10 * i),
            updated_at=start + timedelta(seconds=100 - 10 * i))
    original = ids(await leads(api, team, orderBy=order_by))
    for forward in (True, False):
        seen: list[str] = []
        deleted: set[str] = set()
        cursor = None
        while True:
            if forward:
                page = await leads(api, team, first=2, after=cursor, orderBy=order_by)
                seen += ids(page)
                more, cursor = page["pageInfo"]["hasNextPage"], page["pageInfo"]["endCursor"]
            else:
                page = await leads(api, team, last=2, before=cursor, orderBy=order_by)
                seen = ids(page) + seen
                more = page["pageInfo"]["hasPreviousPage"]
                cursor = page["pageInfo"]["startCursor"]
            if not more:
                break
            boundary = db_id(page["edges"][-1 if forward else 0]["node"]["id"])
            value = getattr(await Lead._scoped(team.org.id).get(id=boundary), column)
            tie = await create_lead(api, team, name="Tie")
            await Lead._scoped(team.org.id).filter(id=db_id(tie["id"])).update(**{column: value})
            await Lead._scoped(team.org.id).filter(id=boundary).delete()
            deleted.add(relay.to_base64("Lead", str(boundary)))
        assert len(seen) == len(set(seen)), seen
        assert [lead_id for lead_id in seen if lead_id in original] == original
        original = [lead_id for lead_id in original if lead_id not in deleted]


async def test_notes_page_backward_with_last_and_before(api: Api, team: Team) -> None:
    lead = await create_lead(api, team)
    for i in range(5):
        await add(api, team, lead["id"], f"Note {i}")
    body = await api.gql(NOTES_BACKWARD, {"id": lead["id"], "last": 2},
                         token=token(team, Role.VIEWER))
    page = body["data"]["lead"]["notes"]
    assert [e["node"]["body"] for e in page["edges"]] == ["Note 1", "Note 0"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
    body = await api.gql(NOTES_BACKWARD, {"id": lead["id"], "last": 2,
                                          "before": page["pageInfo"]["startCursor"]},
                         token=token(team, Role.VIEWER))
    page = body["data"]["lead"]["notes"]
    assert [e["node"]["body"] for e in page["edges"]] == ["Note 3", "Note 2"]
    assert page["pageInfo"]["hasNextPage"] is True
    body = await api.gql(NOTES_BACKWARD, {"id": lead["id"], "first": 2,
                                          "after": page["pageInfo"]["endCursor"]},
                         token=token(team, Role.VIEWER))
    assert [e["node"]["body"] for e in body["data"]["lead"]["notes"]["edges"]] == [
        "Note 1", "Note 0"]


NOTES_BACKWARD = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  lead(id: $id) {
    notes(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { body } }
    }
  }
}"""


def tampered(cursor: str) -> list[str]:
    """The cursor with one bit flipped in its version, its tag and its last byte, cut short,
    and lengthened."""
    data = raw(cursor)
    variants = []
    for index in (0, 1, len(data) - 1):
        changed = bytearray(data)
        changed[index] ^= 0x01
        variants.append(bytes(changed))
    variants += [data[:-1], data + b"\x00"]
    return [base64.urlsafe_b64encode(v).decode().rstrip("=") for v in variants]


@pytest.mark.parametrize("argument", ["after", "before"])
async def test_a_tampered_cursor_is_bad_user_input(api: Api, team: Team, argument: str) -> None:
    await seed_leads(team.org, 3)
    cursor = (await leads(api, team, first=1))["pageInfo"]["endCursor"]
    size = "first" if argument == "after" else "last"
    for bad in [*tampered(cursor), cursor + "!", "é" + cursor, cursor * 40]:
        body = await api.gql(LEADS, {"slug": team.slug, size: 1, argument: bad},
                             token=token(team, Role.VIEWER))
        refused(body, argument)


async def test_a_cursor_of_another_list_or_order_is_bad_user_input(
        api: Api, team: Team, rival: Team) -> None:
    await seed_leads(team.org, 3)
    await seed_leads(rival.org, 3)
    lead = await create_lead(api, team)
    other = await create_lead(api, team)
    await add(api, team, lead["id"], "One")
    by_name = (await leads(api, team, first=1, orderBy={"field": "NAME"}))["pageInfo"]  # DESC
    newest = (await leads(api, team, first=1))["pageInfo"]["endCursor"]
    note_cursor = (await notes(api, team, lead["id"]))["pageInfo"]["endCursor"]
    viewer = token(team, Role.VIEWER)
    for argument, size in (("after", "first"), ("before", "last")):
        # Another direction or field of the same list.
        for cursor, order in ((by_name["endCursor"], {"field": "NAME", "direction": "ASC"}),
                              (by_name["endCursor"], None),
                              (newest, {"field": "UPDATED_AT"}),
                              (newest, {"field": "CREATED_AT", "direction": "ASC"})):
            body = await api.gql(LEADS, {"slug": team.slug, size: 1, argument: cursor,
                                         "orderBy": order}, token=viewer)
            refused(body, argument)
        # A notes cursor on leads, and another org's leads.
        body = await api.gql(LEADS, {"slug": team.slug, size: 1, argument: note_cursor},
                             token=viewer)
        refused(body, argument)
        body = await api.gql(LEADS, {"slug": rival.slug, size: 1, argument: newest},
                             token=token(rival, Role.VIEWER))
        refused(body, argument)
        # A leads cursor on notes, and another lead's notes cursor.
        for lead_id, cursor in ((lead["id"], newest), (other["id"], note_cursor)):
            body = await api.gql(NOTES_BACKWARD, {"id": lead_id, size: 1, argument: cursor},
                                 token=viewer)
            refused(body, argument)
    # The cursor still works where it came from.
    body = await api.gql(NOTES, {"id": lead["id"], "after": note_cursor}, token=viewer)
    assert body["data"]["lead"]["notes"]["edges"] == [], body


def sealed(app: Any, team: Team, when: datetime | int) -> str:
    """A cursor our server could have sealed for the newest-first leads of `team`, at `when`
    (or at a raw count of microseconds since 1970)."""
    order = Order("created_at", descending=True, is_datetime=True)
    seal = app.state.services.cursors
    scope = scope_of("leads", team.org.id, order)
    if isinstance(when, int):
        from engine.keyset import MICROSECONDS
        return seal.seal(uuid.uuid4().bytes + MICROSECONDS.pack(when), scope)
    return encode_cursor(seal, scope, order, SimpleNamespace(id=uuid.uuid4(), created_at=when))


async def test_sealed_positions_at_and_past_the_edges_of_time(app: Any, api: Api,
                                                              team: Team) -> None:
    await create_lead(api, team, name="Grace")
    member = token(team, Role.MEMBER)
    late = await api.gql(LEADS, {"slug": team.slug, "after": sealed(
        app, team, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))}, token=member)
    assert late["data"]["organization"]["leads"]["edges"][0]["node"]["name"] == "Grace", late
    early = await api.gql(LEADS, {"slug": team.slug, "after": sealed(
        app, team, datetime(1, 1, 1, tzinfo=UTC))}, token=member)
    assert early["data"]["organization"]["leads"]["edges"] == [], early
    for micros in (2**62, -(2**62)):
        body = await api.gql(LEADS, {"slug": team.slug, "after": sealed(app, team, micros)},
                             token=member)
        refused(body, "after")
