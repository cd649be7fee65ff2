"""Access and refresh tokens: JWT claims, every kind of bad token, rotation and theft detection."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from auth.tokens import _signing_key, hash_secret, issue_access_token
from core.settings import Settings
from models.accounts import RefreshToken, Session, User
from tests.conftest import Api, error_code, errors_of

ME = "{ me { id email } }"
REFRESH = """
mutation Refresh($token: String) {
  refreshSession(input: {refreshToken: $token}) { accessToken refreshToken expiresAt user {
    email } }
}"""


async def _db_state() -> tuple[list[Any], list[Any], list[Any]]:
    users = await User.all().order_by("id").values_list("id", "name", "password_hash",
                                                       "updated_at")
    sessions = await Session.all().order_by("id").values_list("id", "revoked_at", "last_used_at",
                                                             "ip", "user_agent")
    tokens = await RefreshToken.all().order_by("id").values_list("id", "used_at")
    return users, sessions, tokens


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_access_token_claims(api: Api, settings: Settings) -> None:
    payload = await api.sign_up()
    token = payload["accessToken"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = _claims_of(token)
    assert set(claims) >= {"exp", "iat", "iss", "aud", "sub", "typ", "sid"}
    user = await User.get(email="ada@example.com")
    session = await Session.get(user=user)
    assert claims["sub"] == str(user.id)
    assert claims["sid"] == str(session.id)
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 30
    assert datetime.fromisoformat(payload["expiresAt"]).timestamp() == pytest.approx(
        claims["exp"], abs=1)
    # The key is not the secret itself (it is derived for this one use) and not the password.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, settings.secret_key, algorithms=["HS256"],
                   audience=settings.jwt_audience)


async def test_refresh_token_is_opaque_and_stored_hashed(api: Api) -> None:
    payload = await api.sign_up()
    refresh = payload["refreshToken"]
    assert refresh.startswith("rlk_rt_") and len(refresh) > 40
    stored = await RefreshToken.all().values_list("token_hash", flat=True)
    assert stored == [hash_secret(refresh)]
    assert refresh not in stored


def _bad_tokens(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID,
                good: str) -> dict[str, str]:
    """Every way an access token can be wrong, keyed by what is wrong with it."""
    key = _signing_key(settings)
    now = datetime.now(UTC)
    claims = _claims_of(good)
    header, body, signature = good.split(".")

    def signed(**changes: Any) -> str:
        values = {**claims, **changes}
        return jwt.encode({k: v for k, v in values.items() if v is not None}, key,
                          algorithm="HS256")

    none_alg = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{body}."
    with warnings.catch_warnings():  # our 32-byte key is short for HS512, which is the point
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        hs512 = jwt.encode(claims, key, algorithm="HS512")
    return {
        "expired": issue_access_token(settings, user_id, session_id,
                                      now=now - timedelta(hours=1))[0],
        "forged signature": jwt.encode(claims, "attacker-chosen-key-0123456789abcdef",
                                       algorithm="HS256"),
        "signed with the raw secret": jwt.encode(claims, settings.secret_key, algorithm="HS256"),
        "tampered payload": f"{header}.{_b64({**claims, 'sub': str(uuid.uuid4())})}.{signature}",
        "alg none": none_alg,
        "alg none, with signature": f"{_b64({'alg': 'none'})}.{body}.{signature}",
        "alg HS512": hs512,
        "wrong audience": issue_access_token(replace(settings, jwt_audience="other-api"),
                                             user_id, session_id)[0],
        "wrong issuer": issue_access_token(replace(settings, jwt_issuer="someone-else"),
                                           user_id, session_id)[0],
        "wrong type": signed(typ="refresh"),
        "no session id": signed(sid=None),
        "no expiry": signed(exp=None),
        "session id not a uuid": signed(sid="1"),
        "unknown session": signed(sid=str(uuid.uuid4())),
        "garbage": "not-a-jwt",
        "empty segments": "..",
        "truncated": good[:-5],
    }


async def test_bad_access_tokens_are_unauthenticated_and_change_nothing(
    api: Api, settings: Settings
) -> None:
    payload = await api.sign_up()
    user = await User.get(email="ada@example.com")
    session = await Session.get(user=user)
    bad = _bad_tokens(settings, user.id, session.id, payload["accessToken"])
    state = await _db_state()
    for what, token in bad.items():
        body = await api.gql(ME, token=token)
        assert body["data"] == {"me": None}, what
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", what
        assert error["message"] != "Sign in first.", what  # it says why the token failed
        body = await api.gql("mutation { logOutEverywhere { endedSessions } }", token=token)
        assert error_code(body) == "UNAUTHENTICATED", what
        body = await api.gql("mutation($i: UpdateProfileInput!) { updateProfile(input: $i) "
                             "{ user { name } } }", {"i": {"name": "Mallory"}}, token=token)
        assert error_code(body) == "UNAUTHENTICATED", what
    assert await _db_state() == state
    assert (await api.gql(ME, token=payload["accessToken"]))["data"]["me"]["email"] == \
        "ada@example.com"


async def test_expired_token_says_so(api: Api, settings: Settings) -> None:
    await api.sign_up()
    session = await Session.get(user__email="ada@example.com")
    token, _ = issue_access_token(settings, session.user_id, session.id,  # type: ignore[attr-defined]
                                  now=datetime.now(UTC) - timedelta(hours=1))
    body = await api.gql(ME, token=token)
    assert error_code(body) == "UNAUTHENTICATED"
    assert "expired" in errors_of(body)[0]["message"]


async def test_a_token_accepted_before_is_refused_once_it_expires(
        api: Api, settings: Settings) -> None:
    """A verified token's claims are kept in memory (`auth/tokens.py`): its expiry still
    counts on every request, and its session is still read every time."""
    await api.sign_up()
    session = await Session.get(user__email="ada@example.com")
    soon = datetime.now(UTC) - timedelta(seconds=settings.access_token_ttl - 2)
    token, expires_at = issue_access_token(settings, session.user_id,  # type: ignore[attr-defined]
                                           session.id, now=soon)
    assert (await api.gql(ME, token=token))["data"]["me"]["email"] == "ada@example.com"
    assert (await api.gql(ME, token=token))["data"]["me"]["email"] == "ada@example.com"
    await asyncio.sleep(max(0.0, expires_at.timestamp() - datetime.now(UTC).timestamp()) + 1.1)
    body = await api.gql(ME, token=token)
    assert error_code(body) == "UNAUTHENTICATED"
    assert "expired" in errors_of(body)[0]["message"]


async def test_a_token_accepted_before_is_refused_once_its_session_ends(api: Api) -> None:
    payload = await api.sign_up()
    token = payload["accessToken"]
    assert (await api.gql(ME, token=token))["data"]["me"]["email"] == "ada@example.com"
    await Session.filter(user__email="ada@example.com").update(revoked_at=datetime.now(UTC))
    body = await api.gql(ME, token=token)
    assert error_code(body) == "UNAUTHENTICATED"
    assert "session has ended" in errors_of(body)[0]["message"]


@pytest.mark.parametrize("header", ["Basic YWRhOnB3", "Bearer", "Bearer    ", "Token abc"])
async def test_malformed_authorization_header(api: Api, header: str) -> None:
    body = await api.gql(ME, headers={"authorization": header})
    assert error_code(body) == "UNAUTHENTICATED"
    assert "Bearer" in errors_of(body)[0]["message"]


async def test_public_fields_still_answer_with_a_bad_token(api: Api) -> None:
    body = await api.gql("{ __typename }", token="not-a-jwt")
    assert body == {"data": {"__typename": "Query"}}


async def test_refresh_rotates_the_refresh_token(api: Api) -> None:
    payload = await api.sign_up()
    first = payload["refreshToken"]
    body = await api.gql(REFRESH, {"token": first})
    renewed = body["data"]["refreshSession"]
    assert renewed["user"] == {"email": "ada@example.com"}
    assert renewed["refreshToken"] != first and renewed["refreshToken"].startswith("rlk_rt_")
    assert renewed["accessToken"] != payload["accessToken"]
    assert _claims_of(renewed["accessToken"])["sid"] == _claims_of(payload["accessToken"])["sid"]
    assert (await api.gql(ME, token=renewed["accessToken"]))["data"]["me"]
    old = await RefreshToken.get(token_hash=hash_secret(first))
    assert old.used_at is not None
    new = await RefreshToken.get(token_hash=hash_secret(renewed["refreshToken"]))
    assert new.used_at is None and new.session_id == old.session_id  # type: ignore[attr-defined]
    # A second rotation works from the newest token.
    again = await api.gql(REFRESH, {"token": renewed["refreshToken"]})
    assert again["data"]["refreshSession"]["refreshToken"]
    assert await Session.all().count() == 1


async def test_reusing_an_old_refresh_token_ends_the_whole_session(api: Api) -> None:
    payload = await api.sign_up()
    other = await api.sign_up(email="grace@example.com", name="Grace Hopper")
    stolen = payload["refreshToken"]
    renewed = (await api.gql(REFRESH, {"token": stolen}))["data"]["refreshSession"]

    body = await api.gql(REFRESH, {"token": stolen})
    error = errors_of(body)[0]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "REFRESH_TOKEN_REUSED"}
    assert body["data"] is None

    session = await Session.get(user__email="ada@example.com")
    assert session.revoked_at is not None
    # The thief's (or the owner's) newest tokens are dead too.
    body = await api.gql(REFRESH, {"token": renewed["refreshToken"]})
    assert error_code(body) == "UNAUTHENTICATED"
    for token in (renewed["accessToken"], payload["accessToken"]):
        assert error_code(await api.gql(ME, token=token)) == "UNAUTHENTICATED"
    # No new session or token was made, and other users are untouched.
    assert await RefreshToken.filter(session=session).count() == 2
    assert await RefreshToken.filter(session=session, used_at__isnull=True).count() == 1
    other_session = await Session.get(user__email="grace@example.com")
    assert other_session.revoked_at is None
    assert (await api.gql(ME, token=other["accessToken"]))["data"]["me"]["email"] == \
        "grace@example.com"


@pytest.mark.parametrize("token", ["", "rlk_rt_unknown", "x" * 2000])
async def test_unknown_refresh_token_is_unauthenticated(api: Api, token: str) -> None:
    await api.sign_up()
    state = await _db_state()
    body = await api.gql(REFRESH, {"token": token})
    assert error_code(body) == "UNAUTHENTICATED"
    assert await _db_state() == state


async def test_refresh_without_token_or_cookie(api: Api) -> None:
    body = await api.gql("mutation { refreshSession(input: {}) { accessToken } }")
    assert error_code(body) == "UNAUTHENTICATED"
    assert "refreshToken" in errors_of(body)[0]["message"]


async def test_refresh_after_log_out_or_expiry_is_refused(api: Api) -> None:
    payload = await api.sign_up()
    await api.gql("mutation { logOut { endedSessionId } }", token=payload["accessToken"])
    body = await api.gql(REFRESH, {"token": payload["refreshToken"]})
    assert error_code(body) == "UNAUTHENTICATED"
    assert await RefreshToken.filter(used_at__isnull=False).count() == 0

    second = await api.gql("mutation($i: LogInInput!) { logIn(input: $i) { refreshToken } }",
                           {"i": {"email": "ada@example.com",
                                  "password": "plum-orbit-canvas-87-tide"}})
    refresh = second["data"]["logIn"]["refreshToken"]
    token = await RefreshToken.get(token_hash=hash_secret(refresh))
    await Session.filter(id=token.session_id).update(  # type: ignore[attr-defined]
        expires_at=datetime.now(UTC) - timedelta(seconds=1))
    state = await _db_state()
    body = await api.gql(REFRESH, {"token": refresh})
    assert error_code(body) == "UNAUTHENTICATED"
    assert await _db_state() == state


async def test_expired_session_refuses_its_access_token(api: Api) -> None:
    payload = await api.sign_up()
    await Session.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert error_code(await api.gql(ME, token=payload["accessToken"])) == "UNAUTHENTICATED"


async def test_two_concurrent_refreshes_with_one_token_end_the_session(api: Api) -> None:
    """Only one can claim the token (a conditional UPDATE); the other is a reuse."""
    payload = await api.sign_up()
    bodies = await asyncio.gather(*(api.gql(REFRESH, {"token": payload["refreshToken"]})
                                    for _ in range(2)))
    winners = [body for body in bodies if body.get("data")]
    losers = [body for body in bodies if body.get("errors")]
    assert len(winners) == 1 and len(losers) == 1
    assert errors_of(losers[0])[0]["extensions"]["reason"] == "REFRESH_TOKEN_REUSED"
    assert (await Session.get()).revoked_at is not None
    token = winners[0]["data"]["refreshSession"]["accessToken"]
    assert error_code(await api.gql(ME, token=token)) == "UNAUTHENTICATED"
