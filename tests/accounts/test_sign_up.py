"""signUp and confirmSignUp: validation, the answer that tells nothing about other accounts, the
mailed link that makes the account and signs in, and the limits.

The mail arrives at the run's SMTP server (`inbox`); tests follow its link through the API.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from auth.passwords import hash_password
from core.settings import Settings
from models.accounts import Session, SignUpRequest, User
from models.policies import PolicyAcceptance
from server import create_app
from tests.conftest import (
    CONFIRM_SIGN_UP,
    SIGN_UP,
    SIGN_UP_SUBJECT,
    STRONG_PASSWORD,
    Api,
    error_code,
    errors_of,
)
from tests.smtp import Inbox, body_of

OTHER_PASSWORD = "violet-harbor-quartz-52-lamp"
LOG_IN = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }"
ME = "{ me { email name emailVerified } }"


def _input(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {"email": "Grace@Example.COM", "password": STRONG_PASSWORD,
                                 "name": "Grace Hopper", "birthDate": "1990-12-09",
                                 "acceptTerms": True}
    values.update(overrides)
    return {"input": values}


def token_problem(body: dict[str, Any]) -> str:
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "token" in error["extensions"]["fields"]
    return error["extensions"]["reason"]


async def confirm(api: Api, token: str, **extra: object) -> dict[str, Any]:
    return await api.gql(CONFIRM_SIGN_UP, {"input": {"token": token, **extra}})


async def test_sign_up_mails_a_link_and_makes_nothing_yet(api: Api, inbox: Inbox) -> None:
    body = await api.gql(SIGN_UP, _input())
    assert body == {"data": {"signUp": {
        "email": "grace@example.com",
        "message": "Check your inbox: we sent a mail to grace@example.com. Open the link in it "
                   "to finish signing up."}}}
    assert await User.all().count() == 0 and await Session.all().count() == 0
    request = await SignUpRequest.get()
    assert request.email == "grace@example.com" and request.name == "Grace Hopper"
    assert request.password_hash.startswith("$argon2id$")
    assert request.used_at is None
    assert timedelta(hours=47) < request.expires_at - datetime.now(UTC) <= timedelta(hours=48)
    assert not hasattr(request, "birth_date")

    (mail,) = inbox.messages
    assert mail["To"] == "grace@example.com" and SIGN_UP_SUBJECT in mail["Subject"]
    text = body_of(mail)
    # Whoever filled in the form chose the name, perhaps with someone else's address.
    assert text.splitlines()[0] == "Hello," and "Grace Hopper" not in text
    token = api.sign_up_token("grace@example.com")
    assert token.startswith("rlk_su_") and token not in repr(await SignUpRequest.all().values())


async def test_the_link_makes_a_verified_account_and_signs_in(api: Api, inbox: Inbox,
                                                              settings: Settings) -> None:
    await api.gql(SIGN_UP, _input())
    token = api.sign_up_token("grace@example.com")
    body = await confirm(api, token)
    payload = body["data"]["confirmSignUp"]
    assert payload["user"]["email"] == "grace@example.com"
    assert payload["accessToken"] and payload["refreshToken"].startswith("rlk_rt_")
    me = await api.gql(ME, token=payload["accessToken"])
    assert me["data"]["me"] == {"email": "grace@example.com", "name": "Grace Hopper",
                                "emailVerified": True}
    user = await User.get(email="grace@example.com")
    assert user.password_hash and user.password_hash.startswith("$argon2id$")
    assert user.terms_version == settings.terms_version and user.age_check_passed_at
    acceptance = await PolicyAcceptance.get(user_id=user.id)
    assert acceptance.version == user.terms_version
    assert await Session.filter(user=user).count() == 1
    # The request is used up, keeping nothing it no longer needs.
    request = await SignUpRequest.get()
    assert request.used_at is not None and request.password_hash == "" and request.name == ""
    logged_in = await api.gql(LOG_IN, {"i": {"email": "grace@example.com",
                                             "password": STRONG_PASSWORD}})
    assert "errors" not in logged_in
    assert inbox.messages == []  # no separate verification mail: the link proved the address


async def test_confirm_with_cookies_sets_them_instead(api: Api, inbox: Inbox) -> None:
    await api.gql(SIGN_UP, _input(useCookies=True))  # deprecated on signUp, and ignored
    response = await api.http.post("/graphql", json={"query": CONFIRM_SIGN_UP, "variables": {
        "input": {"token": api.sign_up_token("grace@example.com"), "useCookies": True}}})
    payload = response.json()["data"]["confirmSignUp"]
    assert payload["accessToken"] is None and payload["refreshToken"] is None
    assert any("relleks_access" in cookie for cookie in response.headers.get_list("set-cookie"))


async def _raw_sign_up(http: httpx.AsyncClient, **overrides: object) -> httpx.Response:
    return await http.post("/graphql", json={"query": SIGN_UP, "variables": _input(**overrides)})


def _data_bytes(response: httpx.Response) -> bytes:
    body = response.json()
    assert "errors" not in body, body
    return json.dumps(body["data"]).encode()


async def test_a_taken_address_gets_the_same_answer_and_its_owner_a_notice(
        api: Api, http: httpx.AsyncClient, inbox: Inbox) -> None:
    free = await _raw_sign_up(http, email="ada@example.com")
    inbox.messages.clear()
    owner = await api.sign_up(email="grace@example.com", name="Grace Hopper")
    before = await SignUpRequest.all().count()

    taken = await _raw_sign_up(http, email="GRACE@example.com", password=OTHER_PASSWORD,
                               name="Mallory")
    again_free = await _raw_sign_up(http, email="ada@example.com")
    assert taken.status_code == free.status_code == 200
    # Byte for byte the same data, but for the address the caller typed itself.
    assert _data_bytes(taken).replace(b"grace", b"ada") == _data_bytes(free) \
        == _data_bytes(again_free)
    assert "set-cookie" not in taken.headers

    (notice,) = inbox.to("grace@example.com")
    assert "tried to sign up" in notice["Subject"]
    text = body_of(notice)
    assert "already has a Relleks account" in text
    assert "http" not in text and "token" not in text and "Mallory" not in text
    # Nothing stored, nothing made, no session, and the owner's password is unchanged.
    assert await SignUpRequest.filter(email="grace@example.com", used_at__isnull=True).count() == 0
    assert await SignUpRequest.all().count() == before  # ada's newer request replaced hers
    assert await User.all().count() == 1
    assert await Session.all().count() == 1
    intruder = await api.gql(LOG_IN, {"i": {"email": "grace@example.com",
                                            "password": OTHER_PASSWORD}})
    assert error_code(intruder) == "UNAUTHENTICATED"
    me = await api.gql(ME, token=owner["accessToken"])
    assert me["data"]["me"]["name"] == "Grace Hopper"


async def test_the_link_works_once(api: Api, inbox: Inbox) -> None:
    await api.gql(SIGN_UP, _input())
    token = api.sign_up_token("grace@example.com")
    assert "errors" not in await confirm(api, token)
    body = await confirm(api, token)
    assert token_problem(body) == "TOKEN_USED"
    assert body["data"] is None
    assert await User.all().count() == 1 and await Session.all().count() == 1


async def test_an_expired_link_makes_nothing(api: Api, inbox: Inbox) -> None:
    await api.gql(SIGN_UP, _input())
    token = api.sign_up_token("grace@example.com")
    await SignUpRequest.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert token_problem(await confirm(api, token)) == "TOKEN_EXPIRED"
    assert await User.all().count() == 0 and await Session.all().count() == 0


@pytest.mark.parametrize("token", ["", "rlk_su_forged", "x" * 500])
async def test_an_unknown_token_is_refused(api: Api, inbox: Inbox, token: str) -> None:
    await api.gql(SIGN_UP, _input())
    assert token_problem(await confirm(api, token)) == "TOKEN_INVALID"
    assert await User.all().count() == 0


async def test_a_newer_sign_up_replaces_the_older_link(api: Api, inbox: Inbox) -> None:
    await api.gql(SIGN_UP, _input())
    older = api.sign_up_token("grace@example.com")
    await api.gql(SIGN_UP, _input(password=OTHER_PASSWORD))
    newer = api.sign_up_token("grace@example.com")
    assert await SignUpRequest.all().count() == 1
    assert token_problem(await confirm(api, older)) == "TOKEN_INVALID"
    assert "errors" not in await confirm(api, newer)
    body = await api.gql(LOG_IN, {"i": {"email": "grace@example.com",
                                        "password": OTHER_PASSWORD}})
    assert "errors" not in body


async def test_an_account_made_meanwhile_makes_the_link_invalid(api: Api, inbox: Inbox) -> None:
    await api.gql(SIGN_UP, _input())
    token = api.sign_up_token("grace@example.com")
    # The address gets an account another way (a social sign-in) before the link is opened.
    now = datetime.now(UTC)
    other = await User.create(email="grace@example.com", name="Grace (Google)",
                              email_verified=True, password_hash=hash_password(OTHER_PASSWORD),
                              age_check_passed_at=now, terms_version="2026-11-01",
                              terms_accepted_at=now)
    assert token_problem(await confirm(api, token)) == "TOKEN_INVALID"
    (user,) = await User.all()
    assert user.id == other.id and user.name == "Grace (Google)"
    assert user.password_hash == other.password_hash
    assert await Session.all().count() == 0
    assert await SignUpRequest.filter(used_at__isnull=True).count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password1234"}, "password"),
        ({"password": "gracehopper1990"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"name": "   "}, "name"),
        ({"birthDate": "2015-01-01"}, "birthDate"),
        ({"birthDate": "2999-01-01"}, "birthDate"),
        ({"acceptTerms": False}, "acceptTerms"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    api: Api, inbox: Inbox, overrides: dict[str, object], field: str
) -> None:
    body = await api.gql(SIGN_UP, _input(**overrides))
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["extensions"]["fields"]
    assert await User.all().count() == 0 and await SignUpRequest.all().count() == 0
    assert inbox.messages == []


async def test_weak_password_message_carries_zxcvbn_advice(api: Api) -> None:
    body = await api.gql(SIGN_UP, _input(password="password1234"))
    message = errors_of(body)[0]["message"]
    assert "too easy to guess" in message and len(message) > len("password: is too easy to guess.")


async def test_long_password_is_not_truncated(api: Api) -> None:
    long_password = STRONG_PASSWORD * 9  # 225 characters
    await api.sign_up(email="grace@example.com", password=long_password)
    body = await api.gql(LOG_IN, {"i": {"email": "grace@example.com",
                                        "password": long_password[:-1]}})
    assert error_code(body) == "UNAUTHENTICATED"


@pytest.fixture
async def clients(settings: Settings, app: Any) -> AsyncIterator[tuple[Api, Api]]:
    """Two clients, from two IP addresses, of the app with SIGNUP_RATE_PER_IP at 3 per hour
    (after `app`, which empties the database)."""
    limited = dataclasses.replace(settings, signup_rate_per_ip="3/hour")
    application = create_app(limited, manage_database=False)
    await application.state.services.limiter.reset()
    transports = [httpx.ASGITransport(app=application, client=(ip, 50000))
                  for ip in ("198.51.100.1", "198.51.100.2")]
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transports[0], base_url="http://testserver") as one, \
            httpx.AsyncClient(transport=transports[1], base_url="http://testserver") as two:
        yield Api(one), Api(two)


async def test_sign_ups_are_rate_limited_per_ip(api: Api, inbox: Inbox,
                                                clients: tuple[Api, Api]) -> None:
    await api.sign_up(email="grace@example.com")  # an address with an account
    one, two = clients
    # Taken, free and malformed alike: every signUp counts.
    for variables in (_input(), _input(email="GRACE@example.com"), _input(email="nope")):
        body = await one.gql(SIGN_UP, variables)
        assert body.get("errors") is None or error_code(body) == "BAD_USER_INPUT"
    body = await one.gql(SIGN_UP, _input(email="ada@example.com"))
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 3600
    assert await SignUpRequest.filter(email="ada@example.com").count() == 0
    # Another network still can.
    assert "errors" not in await two.gql(SIGN_UP, _input(email="ada@example.com"))


@pytest.mark.parametrize("email", ["grace@example.com", "ada@example.com"])
async def test_sign_up_mail_to_one_address_is_limited(api: Api, inbox: Inbox,
                                                      email: str) -> None:
    await api.sign_up(email="grace@example.com")  # its link was the first mail to grace
    inbox.messages.clear()
    sent = 1 if email == "grace@example.com" else 0
    for _ in range(5 - sent):
        assert "errors" not in await api.gql(SIGN_UP, _input(email=email))
    body = await api.gql(SIGN_UP, _input(email=email.upper()))
    # Addresses with and without an account are limited alike: 5 mails an hour.
    assert error_code(body) == "RATE_LIMITED"
    assert len(inbox.to(email)) == 5 - sent


@pytest.mark.no_db
def test_the_per_ip_limit_is_a_setting() -> None:
    assert Settings().signup_rate_per_ip == "10/hour"
    assert Settings.from_env({"SIGNUP_RATE_PER_IP": "3/minute"}).signup_rate_per_ip == "3/minute"
