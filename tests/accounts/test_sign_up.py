"""signUp: validation, uniqueness, age and terms checks, and what is stored."""

from __future__ import annotations

import pytest

from models.accounts import Session, User
from tests.conftest import SIGN_UP, STRONG_PASSWORD, Api, error_code, errors_of


def _input(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {"email": "Grace@Example.COM", "password": STRONG_PASSWORD,
                                 "name": "Grace Hopper", "birthDate": "1990-12-09",
                                 "acceptTerms": True}
    values.update(overrides)
    return {"input": values}


async def test_sign_up_creates_user_and_session(api: Api) -> None:
    body = await api.gql(SIGN_UP, _input())
    payload = body["data"]["signUp"]
    assert payload["user"]["email"] == "grace@example.com"
    assert payload["accessToken"] and payload["refreshToken"].startswith("rlk_rt_")
    user = await User.get(email="grace@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert user.terms_version and user.terms_accepted_at and user.age_check_passed_at
    assert not hasattr(user, "birth_date")
    assert await Session.filter(user=user).count() == 1
    me = await api.gql("{ me { email name emailVerified } }", token=payload["accessToken"])
    assert me["data"]["me"] == {"email": "grace@example.com", "name": "Grace Hopper",
                                "emailVerified": False}


async def test_email_is_unique_case_insensitively(api: Api) -> None:
    await api.gql(SIGN_UP, _input())
    body = await api.gql(SIGN_UP, _input(email="GRACE@example.com"))
    assert error_code(body) == "CONFLICT"
    assert await User.all().count() == 1


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
    api: Api, overrides: dict[str, object], field: str
) -> None:
    body = await api.gql(SIGN_UP, _input(**overrides))
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["extensions"]["fields"]
    assert await User.all().count() == 0


async def test_weak_password_message_carries_zxcvbn_advice(api: Api) -> None:
    body = await api.gql(SIGN_UP, _input(password="password1234"))
    message = errors_of(body)[0]["message"]
    assert "too easy to guess" in message and len(message) > len("password: is too easy to guess.")


async def test_long_password_is_not_truncated(api: Api) -> None:
    long_password = STRONG_PASSWORD * 9  # 225 characters
    await api.gql(SIGN_UP, _input(password=long_password))
    body = await api.gql("mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
                         {"i": {"email": "grace@example.com", "password": long_password[:-1]}})
    assert error_code(body) == "UNAUTHENTICATED"
