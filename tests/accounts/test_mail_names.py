"""Account mails greet nobody by name: an account's name is what whoever made it typed, perhaps
with someone else's address, and in a mail from us it could read as ours or become a link."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from auth.passwords import hash_password
from core.settings import Settings
from models.accounts import User
from tests.conftest import STRONG_PASSWORD, Api
from tests.smtp import Inbox, body_of

NAME = "Security team: confirm at evil.example/login"
LOG_IN = """mutation L($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { accessToken }
}"""


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[Inbox, int]) -> Settings:
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}")


async def test_verification_and_reset_mails_carry_no_name_anyone_typed(
        api: Api, settings: Settings, inbox: Inbox) -> None:
    now = datetime.now(UTC)
    await User.create(email="ada@example.com", name=NAME,
                      password_hash=hash_password(STRONG_PASSWORD), age_check_passed_at=now,
                      terms_version=settings.terms_version, terms_accepted_at=now)
    body = await api.gql(LOG_IN, {"email": "ada@example.com", "password": STRONG_PASSWORD})
    token = body["data"]["logIn"]["accessToken"]
    body = await api.gql("mutation { requestEmailVerification { sent } }", token=token)
    assert body == {"data": {"requestEmailVerification": {"sent": True}}}
    body = await api.gql("mutation R($e: String!) { requestPasswordReset(input: {email: $e}) "
                         "{ accepted } }", {"e": "ada@example.com"})
    assert body == {"data": {"requestPasswordReset": {"accepted": True}}}

    subjects = set()
    for mail in inbox.to("ada@example.com"):
        subjects.add(str(mail["Subject"]))
        text = body_of(mail)
        assert text.splitlines()[0] == "Hello,"
        assert "evil" not in text and "Security team" not in text
        assert "evil" not in str(mail["Subject"])
    assert subjects == {"Confirm your email address for Relleks", "Reset your Relleks password"}
