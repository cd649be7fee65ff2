"""`recordClientEvents`: what a person's own client may report, what is stored of it (no
person, no IP, no query string), its bounds and rate limit, who is refused, and how the events
show in `organization.usage`."""

from __future__ import annotations

import datetime
from typing import Any

from models.orgs import Role
from models.tenancy import system_scope
from models.usage import ClientEvent
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token
from tests.usage.conftest import CLIENT_EVENTS_RATE, RECORD, USAGE


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def event(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": "PAGE_VIEW", "page": "/leads", "deviceClass": "DESKTOP",
                              "browser": "Firefox", "appVersion": "1.4.2",
                              "occurredAt": now().isoformat()}
    return values | overrides


async def record(api: Api, team: Team, events: list[dict[str, Any]],
                 token: str | None = None) -> dict[str, Any]:
    return await api.gql(RECORD, {"input": {"organizationId": team.org_id, "events": events}},
                         token=token or team.people[Role.MEMBER].token)


async def stored(team: Team) -> list[ClientEvent]:
    return await system_scope(team.org.id, reason="test").scoped(ClientEvent).order_by("page")


async def test_events_are_stored_without_person_ip_or_query(
        api: Api, app: Any, team: Team) -> None:
    body = await record(api, team, [
        event(page="https://app.relleks.example/leads/42?email=ada@example.com#notes"),
        event(page="/leads/42?token=secret"),
        event(kind="CLIENT_ERROR", page="/settings", deviceClass="MOBILE", browser="Safari"),
    ])
    assert body == {"data": {"recordClientEvents": {"recorded": 3}}}
    rows = await stored(team)
    assert [(r.kind, r.page, r.device_class) for r in rows] == [
        ("page_view", "/leads/42", "desktop"), ("page_view", "/leads/42", "desktop"),
        ("client_error", "/settings", "mobile")]
    columns = set(ClientEvent._meta.fields_map)
    assert not columns & {"ip", "user", "user_id", "session_id", "user_agent"}
    text = repr([r.__dict__ for r in rows])
    assert "ada@example.com" not in text and "secret" not in text and "203.0.113" not in text


async def test_events_show_in_the_usage_view(api: Api, app: Any, team: Team) -> None:
    await record(api, team, [event(page="/leads"), event(page="/leads"),
                             event(page="/dashboard"),
                             event(kind="CLIENT_ERROR", page="/leads")])
    today = now().date().isoformat()
    body = await api.gql(USAGE, {"slug": team.slug, "from": today, "to": today},
                         token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    report = body["data"]["organization"]["usage"]
    assert (report["days"][0]["pageViews"], report["days"][0]["clientErrors"]) == (3, 1)
    assert [(p["name"], p["count"]) for p in report["topPages"]] == [
        ("/leads", 2), ("/dashboard", 1)]


async def test_tokens_and_partner_apps_are_refused(api: Api, app: Any, team: Team) -> None:
    token = await make_token(team, ["org:read"])
    body = await record(api, team, [event()], token=token.secret)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN", "reason": "PERSON_ONLY"}
    assert await stored(team) == []


async def test_another_orgs_id_is_not_found(api: Api, app: Any, team: Team,
                                            rival: Team) -> None:
    body = await record(api, rival, [event()], token=team.people[Role.MEMBER].token)
    assert error_code(body) == "NOT_FOUND"
    assert await stored(rival) == []


async def test_bounds(api: Api, app: Any, team: Team) -> None:
    too_many = errors_of(await record(api, team, [event()] * 51))[0]
    assert too_many["extensions"]["fields"] == {"events": "at most 50 items"}
    bad = errors_of(await record(api, team, [
        event(page="leads"), event(page="/" + "x" * 200), event(browser="<script>"),
        event(appVersion="9" * 33),
        event(occurredAt=(now() - datetime.timedelta(days=2)).isoformat()),
        event(occurredAt=(now() + datetime.timedelta(hours=1)).isoformat())]))[0]
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(bad["extensions"]["fields"]) == {
        "events.0.page", "events.1.page", "events.2.browser", "events.3.appVersion",
        "events.4.occurredAt", "events.5.occurredAt"}
    assert await stored(team) == []


async def test_calls_are_rate_limited_per_session(api: Api, app: Any, team: Team) -> None:
    for _ in range(CLIENT_EVENTS_RATE):
        assert "errors" not in await record(api, team, [event()])
    refused = errors_of(await record(api, team, [event()]))[0]
    assert refused["extensions"]["code"] == "RATE_LIMITED"
    assert refused["extensions"]["reason"] == "CLIENT_EVENTS"
    # Another person's session has its own budget.
    assert "errors" not in await record(api, team, [event()],
                                        token=team.people[Role.VIEWER].token)
    assert len(await stored(team)) == CLIENT_EVENTS_RATE + 1
