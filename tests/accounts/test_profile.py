"""The viewer: `me`, opaque ids, `node`, `updateProfile` and `changePassword`."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from models.accounts import Session, User
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of

NEW_PASSWORD = "harbor-lantern-quietly-42-moss"
LOG_IN = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken refreshToken } }"
UPDATE = """mutation($i: UpdateProfileInput!) {
  updateProfile(input: $i) { user { id name email } } }"""
CHANGE = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { user { email } } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on User { email name } } }"


def _decode(global_id: str) -> str:
    return base64.b64decode(global_id).decode()


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _log_in(api: Api, password: str = STRONG_PASSWORD, **kwargs: Any) -> dict[str, Any]:
    return await api.gql(LOG_IN, {"i": {"email": "ada@example.com", "password": password}},
                         **kwargs)


async def test_me_returns_the_viewer(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    body = await api.gql("{ me { id name email emailVerified avatarUrl createdAt } }",
                         token=token)
    me = body["data"]["me"]
    user = await User.get(email="ada@example.com")
    assert me["name"] == "Ada Lovelace" and me["email"] == "ada@example.com"
    # The sign-up link proved the address.
    assert me["emailVerified"] is True and me["avatarUrl"] is None
    assert datetime.fromisoformat(me["createdAt"]) == user.created_at
    assert datetime.fromisoformat(me["createdAt"]).tzinfo is not None


async def test_me_without_a_token_is_unauthenticated(api: Api) -> None:
    body = await api.gql("{ me { id } }")
    assert body["data"] == {"me": None}  # `me` is nullable: an error there nulls only it
    assert errors_of(body)[0] == {"message": "Sign in first.", "locations": [
        {"line": 1, "column": 3}], "path": ["me"], "extensions": {"code": "UNAUTHENTICATED"}}


async def test_ids_are_opaque_global_ids(api: Api) -> None:
    payload = await api.sign_up()
    user = await User.get(email="ada@example.com")
    global_id = (await api.gql("{ me { id } }", token=payload["accessToken"]))["data"]["me"]["id"]
    assert global_id == payload["user"]["id"]
    assert _decode(global_id) == f"User:{user.id}"
    assert uuid.UUID(_decode(global_id).split(":", 1)[1]).version == 4
    # Nothing sequential: a second user's id has nothing in common with the first one's.
    other = await api.sign_up(email="grace@example.com", name="Grace Hopper")
    assert _decode(other["user"]["id"]).startswith("User:")
    assert other["user"]["id"] != global_id
    for number in ("1", "2"):
        assert number != _decode(other["user"]["id"]).split(":", 1)[1]


async def test_node_returns_the_viewers_own_user(api: Api) -> None:
    payload = await api.sign_up()
    body = await api.gql(NODE, {"id": payload["user"]["id"]}, token=payload["accessToken"])
    assert body == {"data": {"node": {"id": payload["user"]["id"], "email": "ada@example.com",
                                      "name": "Ada Lovelace"}}}


async def test_node_for_someone_else_is_not_found(api: Api) -> None:
    ada = await api.sign_up()
    grace = await api.sign_up(email="grace@example.com", name="Grace Hopper")
    cases = {
        "another user": grace["user"]["id"],
        "nobody": _encode(f"User:{uuid.uuid4()}"),
        "not a uuid": _encode("User:1"),
        "unknown type": _encode(f"Lead:{uuid.uuid4()}"),
    }
    for what, global_id in cases.items():
        body = await api.gql(NODE, {"id": global_id}, token=ada["accessToken"])
        assert body["data"] is None, what
        assert error_code(body) == "NOT_FOUND", what
    # Nor without signing in, even one's own id.
    assert error_code(await api.gql(NODE, {"id": ada["user"]["id"]})) == "NOT_FOUND"


async def test_update_profile_changes_the_name(api: Api) -> None:
    payload = await api.sign_up()
    body = await api.gql(UPDATE, {"i": {"name": "  Ada   King  "}}, token=payload["accessToken"])
    assert body["data"]["updateProfile"]["user"] == {
        "id": payload["user"]["id"], "name": "Ada King", "email": "ada@example.com"}
    assert (await User.get(email="ada@example.com")).name == "Ada King"


async def test_update_profile_leaves_absent_fields_alone(api: Api) -> None:
    payload = await api.sign_up()
    before = await User.get(email="ada@example.com")
    body = await api.gql(UPDATE, {"i": {}}, token=payload["accessToken"])
    assert body["data"]["updateProfile"]["user"]["name"] == "Ada Lovelace"
    after = await User.get(email="ada@example.com")
    assert (after.name, after.email, after.password_hash, after.updated_at) == \
        (before.name, before.email, before.password_hash, before.updated_at)


@pytest.mark.parametrize(("name", "problem"), [(None, "null"), ("   ", "empty"),
                                               ("x" * 201, "200"), ("Ada\x00", "control"),
                                               ("Ada\x07King", "control")])
async def test_update_profile_refuses_a_bad_name(api: Api, name: str | None,
                                                 problem: str) -> None:
    payload = await api.sign_up()
    body = await api.gql(UPDATE, {"i": {"name": name}}, token=payload["accessToken"])
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert problem in error["extensions"]["fields"]["name"]
    assert (await User.get(email="ada@example.com")).name == "Ada Lovelace"


async def test_update_profile_needs_a_viewer(api: Api) -> None:
    await api.sign_up()
    assert error_code(await api.gql(UPDATE, {"i": {"name": "Eve"}})) == "UNAUTHENTICATED"
    assert (await User.get(email="ada@example.com")).name == "Ada Lovelace"


async def test_change_password_needs_the_current_one(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    hash_before = (await User.get(email="ada@example.com")).password_hash
    body = await api.gql(CHANGE, {"i": {"currentPassword": "not-my-password-99",
                                        "newPassword": NEW_PASSWORD}}, token=token)
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["fields"]) == {"currentPassword"}
    assert (await User.get(email="ada@example.com")).password_hash == hash_before


@pytest.mark.parametrize("new_password", ["short", "password1234", "adalovelace2024"])
async def test_change_password_refuses_a_weak_one(api: Api, new_password: str) -> None:
    token = (await api.sign_up())["accessToken"]
    hash_before = (await User.get(email="ada@example.com")).password_hash
    body = await api.gql(CHANGE, {"i": {"currentPassword": STRONG_PASSWORD,
                                        "newPassword": new_password}}, token=token)
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["fields"]) == {"newPassword"}
    assert (await User.get(email="ada@example.com")).password_hash == hash_before


async def test_change_password_ends_other_sessions_and_keeps_this_one(
    api: Api, app: Any
) -> None:
    token = (await api.sign_up())["accessToken"]
    transport = httpx.ASGITransport(app=app, client=("198.51.100.3", 40002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        phone = (await _log_in(Api(client)))["data"]["logIn"]
    grace = (await api.sign_up(email="grace@example.com", name="Grace Hopper"))["accessToken"]

    body = await api.gql(CHANGE, {"i": {"currentPassword": STRONG_PASSWORD,
                                        "newPassword": NEW_PASSWORD}}, token=token)
    assert body == {"data": {"changePassword": {"user": {"email": "ada@example.com"}}}}
    user = await User.get(email="ada@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert (await api.gql("{ me { email } }", token=token))["data"]["me"]
    assert error_code(await api.gql("{ me { email } }", token=phone["accessToken"])) == \
        "UNAUTHENTICATED"
    refresh = await api.gql("mutation($t: String) { refreshSession(input: {refreshToken: $t}) "
                            "{ accessToken } }", {"t": phone["refreshToken"]})
    assert error_code(refresh) == "UNAUTHENTICATED"
    assert await Session.filter(user=user, revoked_at__isnull=True).count() == 1
    assert (await api.gql("{ me { email } }", token=grace))["data"]["me"]
    # The new password signs in, the old one no longer does.
    assert error_code(await _log_in(api)) == "UNAUTHENTICATED"
    assert (await _log_in(api, NEW_PASSWORD))["data"]["logIn"]["accessToken"]


async def test_change_password_needs_a_viewer(api: Api) -> None:
    await api.sign_up()
    body = await api.gql(CHANGE, {"i": {"currentPassword": STRONG_PASSWORD,
                                        "newPassword": NEW_PASSWORD}})
    assert error_code(body) == "UNAUTHENTICATED"
    assert await Session.filter(revoked_at__isnull=False).count() == 0


async def test_updated_at_moves_on_profile_change(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    before = (await User.get(email="ada@example.com")).updated_at
    await api.gql(UPDATE, {"i": {"name": "Ada King"}}, token=token)
    after = (await User.get(email="ada@example.com")).updated_at
    assert after >= before and after <= datetime.now(UTC)
