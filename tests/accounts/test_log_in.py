"""logIn: the payload, one answer for every bad credential, argon2id rehashing and rate limits."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from limits.aio.storage import MemoryStorage, RedisStorage

from core.settings import Settings
from models.accounts import RefreshToken, Session, User
from models.jobs import ScheduledWork
from server import create_app
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken expiresAt user { id email name } }
}"""


def _creds(email: str = "ada@example.com", password: str = STRONG_PASSWORD) -> dict[str, Any]:
    return {"input": {"email": email, "password": password}}


def _client(app: Any, ip: str) -> httpx.AsyncClient:
    """A client that the app sees connecting from `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _db_state() -> tuple[list[Any], list[Any], list[Any]]:
    users = await User.all().order_by("id").values_list("id", "password_hash", "updated_at")
    sessions = await Session.all().order_by("id").values_list("id", "revoked_at")
    tokens = await RefreshToken.all().order_by("id").values_list("id", "used_at")
    return users, sessions, tokens


async def test_log_in_returns_auth_payload_and_a_new_session(api: Api) -> None:
    signed_up = await api.sign_up()
    before = datetime.now(UTC)
    body = await api.gql(LOG_IN, _creds(), headers={"user-agent": "pytest-browser/1.0"})
    payload = body["data"]["logIn"]
    assert payload["user"] == signed_up["user"]
    assert payload["accessToken"] and payload["accessToken"] != signed_up["accessToken"]
    assert payload["refreshToken"].startswith("rlk_rt_")
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    assert 14 * 60 <= (expires_at - before).total_seconds() <= 15 * 60 + 5
    sessions = await Session.filter(user__email="ada@example.com").order_by("created_at")
    assert len(sessions) == 2
    assert sessions[1].ip == "203.0.113.7" and sessions[1].user_agent == "pytest-browser/1.0"
    me = await api.gql("{ me { email } }", token=payload["accessToken"])
    assert me["data"]["me"] == {"email": "ada@example.com"}


async def test_email_is_matched_case_insensitively_and_trimmed(api: Api) -> None:
    await api.sign_up()
    body = await api.gql(LOG_IN, _creds(email="  ADA@Example.com "))
    assert body["data"]["logIn"]["user"]["email"] == "ada@example.com"


async def test_email_is_normalised_as_at_sign_up(api: Api) -> None:
    """Another Unicode form of the same address, or its punycode domain, is the same account."""
    signed_up = await api.sign_up(email="Zo\u00eb@Ex\u00e4mple.com", name="Zoe Quinn")
    for typed in ("zoe\u0308@exa\u0308mple.com", "ZO\u00cb@xn--exmple-cua.com"):
        body = await api.gql(LOG_IN, _creds(email=typed))
        assert body["data"]["logIn"]["user"]["id"] == signed_up["user"]["id"], typed


async def test_wrong_email_and_wrong_password_get_the_same_answer(api: Api) -> None:
    await api.sign_up()
    state = await _db_state()
    wrong_password = await api.gql(LOG_IN, _creds(password=STRONG_PASSWORD + "x"))
    wrong_email = await api.gql(LOG_IN, _creds(email="nobody@example.com"))
    not_an_email = await api.gql(LOG_IN, _creds(email="not an email"))
    for body in (wrong_password, wrong_email, not_an_email):
        assert body["data"] is None
        assert errors_of(body) == [{
            "message": "Wrong email or password.",
            "locations": [{"line": 3, "column": 3}],
            "path": ["logIn"],
            "extensions": {"code": "UNAUTHENTICATED"},
        }]
    assert await _db_state() == state


async def test_wrong_email_and_wrong_password_take_about_as_long(api: Api) -> None:
    """Both run argon2 once, so timing does not tell which accounts exist."""
    await api.sign_up()

    async def timed(creds: dict[str, Any]) -> float:
        started = time.perf_counter()
        await api.gql(LOG_IN, creds)
        return time.perf_counter() - started

    await timed(_creds(email="warmup@example.com"))
    wrong_password = min([await timed(_creds(password="not-the-password-1")) for _ in range(3)])
    wrong_email = min([await timed(_creds(email=f"x{i}@example.com")) for i in range(3)])
    # An unknown email that skipped argon2 would answer many times faster.
    assert wrong_email > wrong_password / 3
    assert wrong_password > wrong_email / 3


async def test_password_is_stored_as_argon2id_with_current_parameters(api: Api) -> None:
    await api.sign_up()
    user = await User.get(email="ada@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in user.password_hash
    assert not PasswordHasher().check_needs_rehash(user.password_hash)


async def test_log_in_rehashes_a_hash_with_old_parameters(api: Api) -> None:
    await api.sign_up()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(STRONG_PASSWORD)
    await User.filter(email="ada@example.com").update(password_hash=weak)

    wrong = await api.gql(LOG_IN, _creds(password="not-the-password-1"))
    assert error_code(wrong) == "UNAUTHENTICATED"
    assert (await User.get(email="ada@example.com")).password_hash == weak

    body = await api.gql(LOG_IN, _creds())
    assert body["data"]["logIn"]["accessToken"]
    stored = (await User.get(email="ada@example.com")).password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$")
    assert "m=8192,t=1,p=1" not in stored
    current = PasswordHasher()
    assert f"m={current.memory_cost},t={current.time_cost},p={current.parallelism}" in stored
    assert not current.check_needs_rehash(stored)
    assert current.verify(stored, STRONG_PASSWORD)
    again = await api.gql(LOG_IN, _creds())
    assert again["data"]["logIn"]["accessToken"]
    assert (await User.get(email="ada@example.com")).password_hash == stored


async def test_log_in_with_an_unknown_field_or_wrong_type_is_bad_user_input(api: Api) -> None:
    await api.sign_up()
    state = await _db_state()
    body = await api.gql(LOG_IN, {"input": {"email": "ada@example.com",
                                            "password": STRONG_PASSWORD, "admin": True}})
    assert error_code(body) == "BAD_USER_INPUT"
    body = await api.gql(LOG_IN, {"input": {"email": "ada@example.com", "password": 12345}})
    assert error_code(body) == "BAD_USER_INPUT"
    assert await _db_state() == state


async def test_attempts_are_limited_per_account(app: Any, api: Api) -> None:
    await api.sign_up()
    for _ in range(5):
        body = await api.gql(LOG_IN, _creds(password="not-the-password-1"))
        assert error_code(body) == "UNAUTHENTICATED"
    sessions = await Session.all().count()
    # The right password no longer helps, whichever way the email is spelt, from any address.
    for email in ("ada@example.com", "ADA@example.com "):
        async with _client(app, "198.51.100.20") as other_ip:
            body = await Api(other_ip).gql(LOG_IN, _creds(email=email))
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= error["extensions"]["retryAfter"] <= 60
        assert f"{error['extensions']['retryAfter']} seconds" in error["message"]
        assert body["data"] is None
    assert await Session.all().count() == sessions
    # Another account is not affected.
    await api.sign_up(email="grace@example.com", name="Grace Hopper")
    body = await api.gql(LOG_IN, _creds(email="grace@example.com"))
    assert body["data"]["logIn"]["accessToken"]


async def test_attempts_are_limited_per_ip(app: Any, api: Api) -> None:
    await api.sign_up()
    async with _client(app, "198.51.100.30") as attacker:
        for i in range(30):
            body = await Api(attacker).gql(LOG_IN, _creds(email=f"guess{i}@example.com"))
            assert error_code(body) == "UNAUTHENTICATED", i
        body = await Api(attacker).gql(LOG_IN, _creds())
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= error["extensions"]["retryAfter"] <= 60
    # The account itself is fine from another address.
    async with _client(app, "198.51.100.31") as owner:
        body = await Api(owner).gql(LOG_IN, _creds())
    assert body["data"]["logIn"]["accessToken"]


async def test_limiter_storage_is_redis_when_configured(settings: Settings, app: Any) -> None:
    storage = app.state.services.limiter.storage
    if settings.redis_url:
        assert isinstance(storage, RedisStorage)
        assert await storage.check()
    else:
        assert isinstance(storage, MemoryStorage)


async def test_limits_are_shared_between_processes_through_redis(
    settings: Settings, app: Any, api: Api
) -> None:
    """Two app instances stand in for two server processes: with Redis they share counters."""
    await api.sign_up()
    for _ in range(5):
        await api.gql(LOG_IN, _creds(password="not-the-password-1"))
    second = create_app(settings, manage_database=False)
    async with _client(second, "198.51.100.40") as client:
        body = await Api(client).gql(LOG_IN, _creds())
    if settings.redis_url:
        assert error_code(body) == "RATE_LIMITED"
    else:
        assert body["data"]["logIn"]["accessToken"]


@pytest.mark.parametrize("email", ["", " ", "x" * 5000, "ada@example.com\x00", "\x00"])
async def test_odd_emails_are_refused_without_a_crash(api: Api, email: str) -> None:
    body = await api.gql(LOG_IN, _creds(email=email))
    # NUL is refused in any text input, before anything runs (tests/http/test_nul.py).
    assert error_code(body) == ("BAD_USER_INPUT" if "\x00" in email else "UNAUTHENTICATED")
    assert await Session.all().count() == 0


async def test_a_lone_surrogate_in_the_body_is_refused(api: Api) -> None:
    """No UTF-8 text holds one, so it could only fail later, inside argon2 or the database."""
    await api.sign_up()
    state = await _db_state()
    for field in ("email", "password"):
        variables = _creds()
        variables["input"][field] += "\ud800"
        body = json.dumps({"query": LOG_IN, "variables": variables})  # keeps the \ud800 escape
        response = await api.http.post("/graphql", content=body,
                                       headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert error_code(response.json()) == "BAD_USER_INPUT"
    assert await _db_state() == state


CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { user { id } } }"""
DELETE_ACCOUNT = """mutation($p: String!) {
  deleteAccount(input: {password: $p}) { scheduledDeletion { status } } }"""
NEW_PASSWORD = "harbor-lantern-quartz-52-moss"


def _change(current: str, new: str = NEW_PASSWORD) -> dict[str, Any]:
    return {"input": {"currentPassword": current, "newPassword": new}}


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification in the process, counted (the library's, passed through)."""
    checks: list[str] = []
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str, password: str) -> bool:
        checks.append(password)
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return checks


async def test_password_confirmations_share_the_sign_in_limit_per_account(
        app: Any, api: Api, argon2_checks: list[str]) -> None:
    """changePassword and deleteAccount take the current password: guesses there and at logIn
    spend one budget per account, so a stolen access token cannot try passwords unthrottled."""
    token = (await api.sign_up())["accessToken"]
    wrong = "not-the-password-1"
    assert error_code(await api.gql(LOG_IN, _creds(password=wrong))) == "UNAUTHENTICATED"
    assert error_code(await api.gql(CHANGE_PASSWORD, _change(wrong), token=token)) \
        == "BAD_USER_INPUT"
    assert error_code(await api.gql(DELETE_ACCOUNT, {"p": wrong}, token=token)) \
        == "BAD_USER_INPUT"
    assert error_code(await api.gql(CHANGE_PASSWORD, _change(wrong), token=token)) \
        == "BAD_USER_INPUT"
    # The fifth attempt, with the right password: not refused before the limit is reached.
    body = await api.gql(CHANGE_PASSWORD, _change(STRONG_PASSWORD), token=token)
    assert body["data"]["changePassword"]["user"]["id"], body
    stored = (await User.get(email="ada@example.com")).password_hash
    checked = len(argon2_checks)
    assert checked == 5
    # The budget is spent: the right password no longer helps, through any door, and not one
    # more password reaches argon2.
    for query, variables in ((CHANGE_PASSWORD, _change(NEW_PASSWORD, STRONG_PASSWORD)),
                             (DELETE_ACCOUNT, {"p": NEW_PASSWORD}),
                             (CHANGE_PASSWORD, _change(wrong)),
                             (DELETE_ACCOUNT, {"p": wrong})):
        body = await api.gql(query, variables, token=token)
        assert body["data"] is None
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "RATE_LIMITED", body
        assert 1 <= error["extensions"]["retryAfter"] <= 60
        assert f"{error['extensions']['retryAfter']} seconds" in error["message"]
    async with _client(app, "198.51.100.50") as other_ip:
        body = await Api(other_ip).gql(LOG_IN, _creds(password=NEW_PASSWORD))
    assert error_code(body) == "RATE_LIMITED"
    assert len(argon2_checks) == checked
    assert (await User.get(email="ada@example.com")).password_hash == stored
    assert await ScheduledWork.all().count() == 0
    # Another account is not affected.
    grace = (await api.sign_up(email="grace@example.com", name="Grace Hopper"))["accessToken"]
    body = await api.gql(DELETE_ACCOUNT, {"p": wrong}, token=grace)
    assert error_code(body) == "BAD_USER_INPUT"


async def test_sign_in_guesses_spend_the_budget_of_password_confirmations(
        api: Api, argon2_checks: list[str]) -> None:
    """The other way round: five wrong sign-ins leave no confirmation to try."""
    token = (await api.sign_up())["accessToken"]
    for _ in range(5):
        body = await api.gql(LOG_IN, _creds(password="not-the-password-1"))
        assert error_code(body) == "UNAUTHENTICATED"
    checked = len(argon2_checks)
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=token)
    assert error_code(body) == "RATE_LIMITED"
    body = await api.gql(CHANGE_PASSWORD, _change(STRONG_PASSWORD), token=token)
    assert error_code(body) == "RATE_LIMITED"
    assert len(argon2_checks) == checked
    assert await ScheduledWork.all().count() == 0
