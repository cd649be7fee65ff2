"""Sessions: logging out here or everywhere, listing and revoking devices, and what they cost."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from models.accounts import Session
from tests.conftest import STRONG_PASSWORD, Api, count_sql, error_code, errors_of

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken }
}"""
SESSIONS = """
{ sessions { totalCount edges { node { id createdAt lastUsedAt ip userAgent current } } } }
"""
REVOKE = "mutation Revoke($id: ID!) { revokeSession(input: {id: $id}) { deletedId } }"
LOG_OUT = "mutation { logOut { endedSessionId } }"


def _decode(global_id: str) -> str:
    return base64.b64decode(global_id).decode()


async def _log_in(app: Any, ip: str, agent: str, email: str = "ada@example.com") -> str:
    """Sign in from another device; returns its access token."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = await Api(client).gql(LOG_IN, {"input": {"email": email,
                                                        "password": STRONG_PASSWORD}},
                                     headers={"user-agent": agent})
    return body["data"]["logIn"]["accessToken"]


async def _nodes(api: Api, token: str) -> list[dict[str, Any]]:
    body = await api.gql(SESSIONS, token=token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["sessions"]["edges"]]


async def test_log_out_ends_the_current_session_at_once(api: Api, app: Any) -> None:
    token = (await api.sign_up())["accessToken"]
    other = await _log_in(app, "198.51.100.1", "phone")
    [current] = [node["id"] for node in await _nodes(api, token) if node["current"]]
    assert await api.gql(LOG_OUT, token=token) == {"data": {"logOut": {"endedSessionId": current}}}
    body = await api.gql("{ me { email } }", token=token)
    assert error_code(body) == "UNAUTHENTICATED"
    assert "ended" in errors_of(body)[0]["message"]
    assert error_code(await api.gql(LOG_OUT, token=token)) == "UNAUTHENTICATED"
    assert await Session.filter(revoked_at__isnull=False).count() == 1
    # The other device is still signed in.
    assert (await api.gql("{ me { email } }", token=other))["data"]["me"]


async def test_log_out_everywhere_ends_every_session(api: Api, app: Any) -> None:
    token = (await api.sign_up())["accessToken"]
    others = [await _log_in(app, f"198.51.100.{i}", f"device-{i}") for i in range(3)]
    grace = (await api.sign_up(email="grace@example.com", name="Grace Hopper"))["accessToken"]
    body = await api.gql("mutation { logOutEverywhere { endedSessions } }", token=token)
    assert body == {"data": {"logOutEverywhere": {"endedSessions": 4}}}
    for dead in (token, *others):
        assert error_code(await api.gql("{ me { email } }", token=dead)) == "UNAUTHENTICATED"
    assert await Session.filter(user__email="ada@example.com", revoked_at__isnull=True).count() == 0
    assert (await api.gql("{ me { email } }", token=grace))["data"]["me"]


async def test_sessions_lists_active_sessions_with_their_details(api: Api, app: Any) -> None:
    await api.sign_up()
    phone = await _log_in(app, "198.51.100.7", "Phone/2.0")
    laptop = await _log_in(app, "2001:db8::1", "Laptop/1.0")
    dead = await _log_in(app, "198.51.100.8", "Old/0.1")
    await api.gql(LOG_OUT, token=dead)
    await _log_in(app, "198.51.100.9", "Grace", email="ada@example.com")  # a 4th live one
    await Session.filter(user_agent="Grace").update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1))  # expired: not listed

    nodes = await _nodes(api, laptop)
    assert len(nodes) == 3
    sign_up_agent = f"python-httpx/{httpx.__version__}"
    assert {node["userAgent"] for node in nodes} == {sign_up_agent, "Phone/2.0", "Laptop/1.0"}
    by_agent = {node["userAgent"]: node for node in nodes}
    assert by_agent["Laptop/1.0"]["current"] is True
    assert by_agent["Laptop/1.0"]["ip"] == "2001:db8::1"
    assert by_agent["Phone/2.0"]["current"] is False and by_agent["Phone/2.0"]["ip"] == \
        "198.51.100.7"
    for node in nodes:
        assert _decode(node["id"]).startswith("Session:")
        created = datetime.fromisoformat(node["createdAt"])
        last_used = datetime.fromisoformat(node["lastUsedAt"])
        assert created.tzinfo is not None and last_used >= created - timedelta(seconds=1)
    body = await api.gql("{ sessions { totalCount } }", token=phone)
    assert body["data"]["sessions"]["totalCount"] == 3
    # Most recently used first.
    last_used = [node["lastUsedAt"] for node in nodes]
    assert last_used == sorted(last_used, reverse=True)


async def test_sessions_needs_a_viewer(api: Api) -> None:
    assert error_code(await api.gql(SESSIONS)) == "UNAUTHENTICATED"


async def test_last_used_is_touched_at_most_once_a_minute(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    stale = datetime.now(UTC) - timedelta(minutes=10)
    await Session.all().update(last_used_at=stale)
    await api.gql("{ me { email } }", token=token)
    touched = (await Session.get()).last_used_at
    assert touched > stale + timedelta(minutes=9)
    with count_sql() as sql:
        await api.gql("{ me { email } }", token=token)
    assert not any(statement.lstrip().upper().startswith("UPDATE") for statement in sql.statements)
    assert (await Session.get()).last_used_at == touched


async def test_revoke_session_ends_that_one_only(api: Api, app: Any) -> None:
    token = (await api.sign_up())["accessToken"]
    phone = await _log_in(app, "198.51.100.7", "Phone/2.0")
    nodes = await _nodes(api, token)
    phone_id = next(node["id"] for node in nodes if node["userAgent"] == "Phone/2.0")
    assert await api.gql(REVOKE, {"id": phone_id}, token=token) == {
        "data": {"revokeSession": {"deletedId": phone_id}}}
    assert error_code(await api.gql("{ me { email } }", token=phone)) == "UNAUTHENTICATED"
    assert (await api.gql("{ me { email } }", token=token))["data"]["me"]
    assert [node["current"] for node in await _nodes(api, token)] == [True]
    # Revoking it twice: it is no longer there.
    body = await api.gql(REVOKE, {"id": phone_id}, token=token)
    assert error_code(body) == "NOT_FOUND"


async def test_revoke_the_current_session(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    current = (await _nodes(api, token))[0]["id"]
    body = await api.gql(REVOKE, {"id": current}, token=token)
    assert body["data"]["revokeSession"] == {"deletedId": current}
    assert error_code(await api.gql("{ me { email } }", token=token)) == "UNAUTHENTICATED"


async def test_revoking_another_users_session_is_not_found(api: Api) -> None:
    ada = (await api.sign_up())["accessToken"]
    grace = (await api.sign_up(email="grace@example.com", name="Grace Hopper"))["accessToken"]
    grace_session = (await _nodes(api, grace))[0]["id"]
    user_id = (await api.gql("{ me { id } }", token=ada))["data"]["me"]["id"]
    for global_id in (grace_session, user_id,
                      base64.b64encode(b"Session:not-a-uuid").decode(),
                      base64.b64encode(b"Session:00000000-0000-0000-0000-000000000000").decode()):
        body = await api.gql(REVOKE, {"id": global_id}, token=ada)
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "NOT_FOUND", global_id
        assert error["extensions"]["field"] == "id"
    assert await Session.filter(revoked_at__isnull=False).count() == 0
    assert (await api.gql("{ me { email } }", token=grace))["data"]["me"]


async def test_revoke_session_with_a_malformed_id(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    body = await api.gql(REVOKE, {"id": "%%%"}, token=token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert await Session.filter(revoked_at__isnull=False).count() == 0


async def test_session_node_is_visible_to_its_owner_only(api: Api) -> None:
    ada = (await api.sign_up())["accessToken"]
    grace = (await api.sign_up(email="grace@example.com", name="Grace Hopper"))["accessToken"]
    session_id = (await _nodes(api, ada))[0]["id"]
    query = "query($id: ID!) { node(id: $id) { id ... on Session { current } } }"
    body = await api.gql(query, {"id": session_id}, token=ada)
    assert body == {"data": {"node": {"id": session_id, "current": True}}}
    assert error_code(await api.gql(query, {"id": session_id}, token=grace)) == "NOT_FOUND"
    assert error_code(await api.gql(query, {"id": session_id})) == "NOT_FOUND"


async def test_me_and_sessions_cost_a_constant_number_of_statements(api: Api, app: Any) -> None:
    token = (await api.sign_up())["accessToken"]
    query = "{ me { id email name } " + SESSIONS.strip()[1:]

    async def statements() -> int:
        with count_sql() as sql:
            body = await api.gql(query, token=token)
        assert "errors" not in body, body
        return sql.count

    await statements()  # touches last_used_at once; later requests within the minute do not
    one = await statements()
    user = (await Session.get()).user_id  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    for i in range(6):  # more sign-ins than the rate limit allows in a minute
        await Session.create(user_id=user, last_used_at=now - timedelta(hours=i),
                             expires_at=now + timedelta(days=1), ip=f"198.51.100.{i}",
                             user_agent=f"device-{i}")
    seven = await statements()
    assert seven == one
    assert one <= 3  # the session with its user, and the page of sessions (and its count)
