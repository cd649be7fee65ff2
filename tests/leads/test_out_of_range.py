"""Dates and cursors a database cannot hold are the client's bad input (BAD_USER_INPUT naming
the field), never INTERNAL: `9999-12-31T23:59:59-14:00` is past year 9999 in UTC and
`0001-01-01T00:00:00+14:00` before year 1, which PostgreSQL's driver cannot encode. Cursors are
sealed, so a hand-made one never opens; sealed positions at and past the edges of time are
tested in `test_cursors.py`."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
import pytest

from models.orgs import Role
from tests.conftest import Api, error_code
from tests.leads.conftest import LEADS, create_lead, token
from tests.orgs.conftest import Team

TOO_LATE = "9999-12-31T23:59:59-14:00"
TOO_EARLY = "0001-01-01T00:00:00+14:00"
ACTIVITY = """query($filter: ActivityFilter) {
  organization(slug: "acme") { activity(first: 5, filter: $filter) { totalCount } } }"""


def field_named(body: dict[str, Any], name: str) -> str:
    """The key of `extensions.fields` that names `name` (a variable's path ends with it)."""
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    fields = error["extensions"].get("fields") or {}
    named = [key for key in fields if key.split(".")[-1] == name]
    assert named, body
    return named[0]


@pytest.mark.parametrize("when", [TOO_LATE, TOO_EARLY])
@pytest.mark.parametrize("name", ["createdAfter", "createdBefore"])
async def test_a_lead_filter_date_out_of_range_is_bad_input(api: Api, team: Team, when: str,
                                                            name: str) -> None:
    member = token(team, Role.MEMBER)
    body = await api.gql(LEADS, {"slug": "acme", "filter": {name: when}}, token=member)
    assert field_named(body, name) == name
    assert "range" in body["errors"][0]["message"]
    inline = await api.gql(
        f'{{ organization(slug: "acme") {{ leads(filter: {{{name}: "{when}"}}) '
        "{ totalCount } } }", token=member)
    assert field_named(inline, name) == name
    assert "range" in inline["errors"][0]["message"]


async def test_the_day_after_the_last_one_is_bad_input(api: Api, team: Team) -> None:
    member = token(team, Role.MEMBER)
    when = "9999-12-31T24:00:00Z"  # Python reads it as the next day, which it cannot hold
    body = await api.gql(LEADS, {"slug": "acme", "filter": {"createdAfter": when}},
                         token=member)
    assert field_named(body, "createdAfter") == "createdAfter"
    inline = await api.gql(
        f'{{ organization(slug: "acme") {{ leads(filter: {{createdAfter: "{when}"}}) '
        "{ totalCount } } }", token=member)
    assert error_code(inline) == "BAD_USER_INPUT"
    assert "range" in inline["errors"][0]["message"]


@pytest.mark.parametrize("when", [TOO_LATE, TOO_EARLY])
async def test_an_activity_since_out_of_range_is_bad_input(api: Api, team: Team,
                                                           when: str) -> None:
    owner = token(team, Role.OWNER)
    body = await api.gql(ACTIVITY, {"filter": {"since": when}}, token=owner)
    assert field_named(body, "since") == "since"
    inline = await api.gql(
        f'{{ organization(slug: "acme") {{ activity(filter: {{since: "{when}"}}) '
        "{ totalCount } } }", token=owner)
    assert field_named(inline, "since") == "since"


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+00:00", "9999-12-31T09:00:00-14:00",
                                  "0001-01-01T00:00:00+00:00", "0001-01-01T14:00:00+14:00",
                                  "2024-02-29T12:00:00Z"])
async def test_dates_at_the_edges_of_the_range_are_accepted(api: Api, team: Team,
                                                            when: str) -> None:
    await create_lead(api, team, name="Grace")
    body = await api.gql(LEADS, {"slug": "acme", "filter": {"createdAfter": when}},
                         token=token(team, Role.MEMBER))
    assert "errors" not in body, body
    body = await api.gql(ACTIVITY, {"filter": {"since": when}}, token=token(team, Role.OWNER))
    assert "errors" not in body, body


@pytest.mark.parametrize("position", [
    ["created_at", TOO_LATE, str(uuid.uuid4())],
    ["created_at", TOO_EARLY, str(uuid.uuid4())],
    ["created_at", "2024-01-01T00:00:00+24:00", str(uuid.uuid4())],
    ["created_at", 20240101, str(uuid.uuid4())],
    ["created_at", None, str(uuid.uuid4())],
    ["created_at", "2024-01-01T00:00:00+00:00", 5],
    ["created_at", "2024-01-01T00:00:00+00:00", "not-a-uuid"],
    ["created_at", "2024-01-01T00:00:00+00:00"],
    ["created_at", "2024-01-01T00:00:00+00:00", str(uuid.uuid4()), "more"],
    {"field": "created_at"},
    "created_at",
])
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_a_hand_made_cursor_with_an_impossible_position_is_bad_input(
        api: Api, team: Team, position: Any, argument: str) -> None:
    await create_lead(api, team, name="Grace")
    made = base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")
    body = await api.gql(LEADS, {"slug": "acme", argument: made},
                         token=token(team, Role.MEMBER))
    assert field_named(body, argument) == argument
    assert error_code(body) == "BAD_USER_INPUT"
