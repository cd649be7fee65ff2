"""Email verification and password reset, followed from the mail to the API.

Accounts made through signUp start verified (tests/accounts/test_sign_up.py); verification is
tested on an account made unverified, as accounts were before signUp confirmed the address.

A real aiosmtpd server on 127.0.0.1 receives what the app sends with aiosmtplib; each test reads
the link out of the mail and uses its token through the API, and checks the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from tortoise import connections

from auth.passwords import hash_password
from core.settings import Settings
from models.accounts import EmailToken, Session, SignUpRequest, TokenPurpose, User
from server import create_app
from tests.conftest import SIGN_UP, STRONG_PASSWORD, Api, error_code, errors_of, without_cost
from tests.smtp import Inbox, free_port, token_in

NEW_PASSWORD = "violet-harbor-quartz-52-lamp"

REQUEST_VERIFICATION = "mutation { requestEmailVerification { sent } }"
VERIFY = """mutation V($token: String!) {
  verifyEmail(input: {token: $token}) { user { id email emailVerified } } }"""
REQUEST_RESET = """mutation R($email: String!) {
  requestPasswordReset(input: {email: $email}) { accepted } }"""
RESET = """mutation P($token: String!, $newPassword: String!) {
  resetPassword(input: {token: $token, newPassword: $newPassword}) { passwordChanged }
}"""
LOG_IN = """mutation L($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { accessToken refreshToken }
}"""
REFRESH = "mutation F($t: String!) { refreshSession(input: {refreshToken: $t}) { accessToken } }"
ME = "{ me { email emailVerified } }"


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[Inbox, int]) -> Settings:
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}")




async def signed_up(api: Api, inbox: Inbox, email: str = "ada@example.com") -> dict[str, Any]:
    """Sign up (`api.sign_up` takes the sign-up link out of the inbox: nothing else is sent)."""
    payload = await api.sign_up(email=email)
    assert inbox.messages == []
    return payload


async def unverified(api: Api, email: str = "ada@example.com") -> dict[str, Any]:
    """An account whose address is not verified, made as accounts were before signUp confirmed
    the address, signed in: the logIn payload."""
    now = datetime.now(UTC)
    await User.create(email=email, name="Ada Lovelace",
                      password_hash=hash_password(STRONG_PASSWORD), age_check_passed_at=now,
                      terms_version=Settings().terms_version, terms_accepted_at=now)
    body = await api.gql(LOG_IN, {"email": email, "password": STRONG_PASSWORD})
    return body["data"]["logIn"]


async def verification_token(api: Api, inbox: Inbox, payload: dict[str, Any]) -> str:
    body = await api.gql(REQUEST_VERIFICATION, token=payload["accessToken"])
    assert body == {"data": {"requestEmailVerification": {"sent": True}}}
    return token_in(inbox.messages.pop(), "verify-email")


async def reset_token(api: Api, inbox: Inbox, email: str = "ada@example.com") -> str:
    body = await api.gql(REQUEST_RESET, {"email": email})
    assert body == {"data": {"requestPasswordReset": {"accepted": True}}}
    message = inbox.messages.pop()
    assert message["To"] == email
    return token_in(message, "reset-password")


def token_problem(body: dict[str, Any]) -> str:
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "token" in error["extensions"]["fields"]
    return error["extensions"]["reason"]


async def test_the_verification_link_verifies(api: Api, inbox: Inbox) -> None:
    payload = await unverified(api)
    assert await api.gql(REQUEST_VERIFICATION, token=payload["accessToken"]) == \
        {"data": {"requestEmailVerification": {"sent": True}}}
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "ada@example.com"
    assert "Confirm your email" in message["Subject"]
    token = token_in(message, "verify-email")
    assert token.startswith("rlk_ev_")
    me = await api.gql(ME, token=payload["accessToken"])
    assert me["data"]["me"]["emailVerified"] is False

    body = await api.gql(VERIFY, {"token": token})  # no session needed: any device
    assert body["data"]["verifyEmail"]["user"]["email"] == "ada@example.com"
    assert body["data"]["verifyEmail"]["user"]["emailVerified"] is True
    me = await api.gql(ME, token=payload["accessToken"])
    assert me["data"]["me"] == {"email": "ada@example.com", "emailVerified": True}
    row = await EmailToken.get(purpose=TokenPurpose.VERIFY_EMAIL)
    assert row.used_at is not None
    assert (await User.get(email="ada@example.com")).email_verified


async def test_tokens_are_stored_only_as_their_hash(api: Api, inbox: Inbox) -> None:
    verify = await verification_token(api, inbox, await unverified(api))
    reset = await reset_token(api, inbox)
    rows = await connections.get("default").execute_query_dict("SELECT * FROM email_tokens")
    assert {row["token_hash"] for row in rows} == {hashlib.sha256(t.encode()).hexdigest()
                                                   for t in (verify, reset)}
    dumped = repr(rows)
    for token in (verify, reset):
        assert token not in dumped
        assert token.split("_", 2)[-1] not in dumped  # the secret body, past `rlk_xx_`


async def test_request_email_verification_sends_a_new_working_link(api: Api,
                                                                   inbox: Inbox) -> None:
    payload = await unverified(api)
    await verification_token(api, inbox, payload)
    token = await verification_token(api, inbox, payload)
    assert await EmailToken.filter(purpose=TokenPurpose.VERIFY_EMAIL).count() == 2
    body = await api.gql(VERIFY, {"token": token})
    assert body["data"]["verifyEmail"]["user"]["emailVerified"] is True

    # Already verified: a clear false, and no mail and no token.
    body = await api.gql(REQUEST_VERIFICATION, token=payload["accessToken"])
    assert body == {"data": {"requestEmailVerification": {"sent": False}}}
    assert inbox.messages == []
    assert await EmailToken.filter(purpose=TokenPurpose.VERIFY_EMAIL).count() == 2


async def test_request_email_verification_needs_a_session(api: Api, inbox: Inbox) -> None:
    body = await api.gql(REQUEST_VERIFICATION)
    assert error_code(body) == "UNAUTHENTICATED"
    assert inbox.messages == []
    assert await EmailToken.all().count() == 0


async def test_verification_token_is_single_use(api: Api, inbox: Inbox) -> None:
    token = await verification_token(api, inbox, await unverified(api))
    assert "errors" not in await api.gql(VERIFY, {"token": token})
    used_at = (await EmailToken.get()).used_at
    body = await api.gql(VERIFY, {"token": token})
    assert token_problem(body) == "TOKEN_USED"
    assert body["data"] is None
    assert (await EmailToken.get()).used_at == used_at


async def test_concurrent_uses_of_one_token_let_only_one_through(api: Api,
                                                                  inbox: Inbox) -> None:
    token = await verification_token(api, inbox, await unverified(api))
    bodies = await asyncio.gather(*(api.gql(VERIFY, {"token": token}) for _ in range(3)))
    succeeded = [b for b in bodies if "errors" not in b]
    assert len(succeeded) == 1
    assert sorted(token_problem(b) for b in bodies if "errors" in b) == ["TOKEN_USED"] * 2


async def test_expired_verification_token_is_refused(api: Api, inbox: Inbox) -> None:
    token = await verification_token(api, inbox, await unverified(api))
    row = await EmailToken.get()
    assert timedelta(hours=47) < row.expires_at - datetime.now(UTC) <= timedelta(hours=48)
    await EmailToken.filter(id=row.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(VERIFY, {"token": token})
    assert token_problem(body) == "TOKEN_EXPIRED"
    assert (await EmailToken.get()).used_at is None
    assert not (await User.get()).email_verified


@pytest.mark.parametrize("token", ["", "rlk_ev_forged", "x" * 500])
async def test_unknown_verification_token_is_refused(api: Api, inbox: Inbox, token: str) -> None:
    await unverified(api)
    body = await api.gql(VERIFY, {"token": token})
    assert token_problem(body) == "TOKEN_INVALID"
    assert not (await User.get()).email_verified


async def test_a_token_works_only_for_its_purpose(api: Api, inbox: Inbox) -> None:
    verify = await verification_token(api, inbox, await unverified(api))
    reset = await reset_token(api, inbox)
    assert token_problem(await api.gql(VERIFY, {"token": reset})) == "TOKEN_INVALID"
    body = await api.gql(RESET, {"token": verify, "newPassword": NEW_PASSWORD})
    assert token_problem(body) == "TOKEN_INVALID"
    assert await EmailToken.filter(used_at__isnull=False).count() == 0
    assert not (await User.get()).email_verified


async def test_password_reset_ends_sessions_and_changes_the_password(api: Api,
                                                                     inbox: Inbox) -> None:
    first = await signed_up(api, inbox)
    second = (await api.gql(LOG_IN, {"email": "ada@example.com",
                                     "password": STRONG_PASSWORD}))["data"]["logIn"]
    token = await reset_token(api, inbox)
    assert token.startswith("rlk_pr_")
    row = await EmailToken.get(purpose=TokenPurpose.RESET_PASSWORD)
    assert timedelta(minutes=59) < row.expires_at - datetime.now(UTC) <= timedelta(hours=1)

    body = await api.gql(RESET, {"token": token, "newPassword": NEW_PASSWORD})
    assert body == {"data": {"resetPassword": {"passwordChanged": True}}}

    for session in (first, second):
        assert error_code(await api.gql(ME, token=session["accessToken"])) == "UNAUTHENTICATED"
        refreshed = await api.gql(REFRESH, {"t": session["refreshToken"]})
        assert error_code(refreshed) == "UNAUTHENTICATED"
    assert await Session.filter(revoked_at__isnull=True).count() == 0
    old = await api.gql(LOG_IN, {"email": "ada@example.com", "password": STRONG_PASSWORD})
    assert error_code(old) == "UNAUTHENTICATED"
    new = await api.gql(LOG_IN, {"email": "ada@example.com", "password": NEW_PASSWORD})
    me = await api.gql(ME, token=new["data"]["logIn"]["accessToken"])
    # The link proved the mailbox, so the address counts as verified.
    assert me["data"]["me"] == {"email": "ada@example.com", "emailVerified": True}
    user = await User.get()
    assert user.password_hash.startswith("$argon2id$")
    assert (await EmailToken.get(id=row.id)).used_at is not None

    again = await api.gql(RESET, {"token": token, "newPassword": "another-" + NEW_PASSWORD})
    assert token_problem(again) == "TOKEN_USED"
    assert (await User.get()).password_hash == user.password_hash


async def test_expired_reset_token_is_refused(api: Api, inbox: Inbox) -> None:
    payload = await signed_up(api, inbox)
    token = await reset_token(api, inbox)
    await EmailToken.filter(purpose=TokenPurpose.RESET_PASSWORD).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1))
    password_hash = (await User.get()).password_hash
    body = await api.gql(RESET, {"token": token, "newPassword": NEW_PASSWORD})
    assert token_problem(body) == "TOKEN_EXPIRED"
    assert (await User.get()).password_hash == password_hash
    assert "errors" not in await api.gql(ME, token=payload["accessToken"])


async def test_weak_new_password_is_refused_and_leaves_the_token_usable(api: Api,
                                                                       inbox: Inbox) -> None:
    payload = await signed_up(api, inbox)
    token = await reset_token(api, inbox)
    password_hash = (await User.get()).password_hash
    for weak in ("short", "password1234", "adalovelace99"):
        body = await api.gql(RESET, {"token": token, "newPassword": weak})
        error = errors_of(body)[0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert list(error["extensions"]["fields"]) == ["newPassword"]
    assert (await User.get()).password_hash == password_hash
    assert (await EmailToken.get(purpose=TokenPurpose.RESET_PASSWORD)).used_at is None
    assert "errors" not in await api.gql(ME, token=payload["accessToken"])
    body = await api.gql(RESET, {"token": token, "newPassword": NEW_PASSWORD})
    assert body == {"data": {"resetPassword": {"passwordChanged": True}}}


async def test_a_new_reset_request_replaces_older_links(api: Api, inbox: Inbox) -> None:
    await signed_up(api, inbox)
    older = await reset_token(api, inbox)
    newer = await reset_token(api, inbox)
    assert await EmailToken.filter(purpose=TokenPurpose.RESET_PASSWORD).count() == 1
    body = await api.gql(RESET, {"token": older, "newPassword": NEW_PASSWORD})
    assert token_problem(body) == "TOKEN_INVALID"
    body = await api.gql(RESET, {"token": newer, "newPassword": NEW_PASSWORD})
    assert body == {"data": {"resetPassword": {"passwordChanged": True}}}


async def test_unknown_email_gets_the_same_answer_and_no_mail(http: httpx.AsyncClient,
                                                              api: Api, inbox: Inbox) -> None:
    await signed_up(api, inbox)

    async def ask(email: str) -> httpx.Response:
        return await http.post("/graphql", json={"query": REQUEST_RESET,
                                                 "variables": {"email": email}})

    known, unknown = await ask("ADA@example.com"), await ask("nobody@example.com")
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == "ada@example.com"
    assert known.status_code == unknown.status_code == 200
    # Only the caller's remaining query budget (spent by the first request) may differ.
    assert without_cost(known.json()) == without_cost(unknown.json()) == \
        {"data": {"requestPasswordReset": {"accepted": True}}}
    assert unknown.json()["extensions"]["cost"]["requested"] == \
        known.json()["extensions"]["cost"]["requested"]
    differing = {name for name in set(known.headers) | set(unknown.headers)
                 if known.headers.get(name) != unknown.headers.get(name)}
    assert differing <= {"x-request-id", "ratelimit-remaining", "ratelimit-reset",
                         "content-length"}
    assert await EmailToken.filter(purpose=TokenPurpose.RESET_PASSWORD).count() == 1


async def test_malformed_email_is_bad_input(api: Api, inbox: Inbox) -> None:
    body = await api.gql(REQUEST_RESET, {"email": "not-an-email"})
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "email" in error["extensions"]["fields"]
    assert inbox.messages == []


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
async def test_reset_requests_are_rate_limited_per_address(api: Api, inbox: Inbox,
                                                           email: str) -> None:
    await signed_up(api, inbox)
    for _ in range(5):
        assert "errors" not in await api.gql(REQUEST_RESET, {"email": email})
    body = await api.gql(REQUEST_RESET, {"email": email.upper()})
    error = errors_of(body)[0]
    # Known and unknown addresses are limited alike, so the limit tells nothing either.
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] > 0
    assert len(inbox.messages) == (5 if email == "ada@example.com" else 0)
    assert "errors" not in await api.gql(REQUEST_RESET, {"email": "other@example.com"})


async def test_reset_requests_are_rate_limited_per_ip(api: Api, inbox: Inbox) -> None:
    for number in range(20):
        assert "errors" not in await api.gql(REQUEST_RESET, {"email": f"n{number}@example.com"})
    body = await api.gql(REQUEST_RESET, {"email": "n20@example.com"})
    assert error_code(body) == "RATE_LIMITED"


async def test_verification_requests_are_rate_limited(api: Api, inbox: Inbox) -> None:
    payload = await unverified(api)
    for _ in range(5):
        body = await api.gql(REQUEST_VERIFICATION, token=payload["accessToken"])
        assert body == {"data": {"requestEmailVerification": {"sent": True}}}
    body = await api.gql(REQUEST_VERIFICATION, token=payload["accessToken"])
    assert error_code(body) == "RATE_LIMITED"
    assert len(inbox.messages) == 5
    assert await EmailToken.filter(purpose=TokenPurpose.VERIFY_EMAIL).count() == 5


@pytest.fixture
async def api_without_smtp(settings: Settings) -> AsyncIterator[Api]:
    """The app with an SMTP_URL where nothing listens: every mail fails."""
    broken = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    application = create_app(broken, manage_database=False)
    await application.state.services.limiter.reset()
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50000))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


async def test_a_mail_failure_changes_no_answer_and_is_logged(
    api: Api, api_without_smtp: Api
) -> None:
    await api.sign_up(email="ada@example.com")
    for email in ("ada@example.com", "grace@example.com"):  # with an account, and without
        with capture_logs() as logs:
            body = await api_without_smtp.gql(SIGN_UP, {"input": {
                "email": email, "password": STRONG_PASSWORD, "name": "Grace Hopper",
                "birthDate": "1990-12-09", "acceptTerms": True}})
        assert body["data"]["signUp"]["email"] == email
        failures = [entry for entry in logs if entry["event"] == "mail.sign_up_failed"]
        assert len(failures) == 1 and failures[0]["log_level"] == "error"
    assert await User.all().count() == 1
    assert await SignUpRequest.filter(email="grace@example.com").count() == 1

    with capture_logs() as logs:
        body = await api_without_smtp.gql(REQUEST_RESET, {"email": "ada@example.com"})
    assert body == {"data": {"requestPasswordReset": {"accepted": True}}}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == \
        ["mail.password_reset_failed"]
