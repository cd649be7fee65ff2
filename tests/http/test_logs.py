"""Structured logs: one JSON line per request, and never a password, a token or an email.

Mail goes to the run's local SMTP server here (conftest.py): without SMTP_URL the development
set-up prints outgoing mail (one-time links included) to stderr on purpose, never to these logs
(tests/http/test_console_mail.py), and production refuses to run without SMTP_URL.
"""

from __future__ import annotations

import json

import pytest
import structlog

from core.settings import Settings
from models.accounts import User
from tests.conftest import CONFIRM_SIGN_UP, SIGN_UP, STRONG_PASSWORD, Api
from tests.http.conftest import database_unreachable

EMAIL = "Grace.Hopper@Example.com"
LOG_IN = """mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken user { id } }
}"""


def _lines(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines, "expected JSON log lines on stdout"
    return lines


async def test_one_json_line_per_request(capsys: pytest.CaptureFixture[str], api: Api) -> None:
    payload = await api.sign_up("ada@example.com")
    capsys.readouterr()
    await api.gql("query Me { me { id } }", token=payload["accessToken"])
    await api.http.get("/healthz")
    [graphql, health] = [line for line in _lines(capsys.readouterr().out)
                         if line["event"] == "request"]
    assert graphql["operation"] == "Me"
    assert graphql["operation_type"] == "query"
    assert graphql["status"] == 200
    assert graphql["method"] == "POST" and graphql["path"] == "/graphql"
    assert graphql["user_id"] == str((await User.get(email="ada@example.com")).id)
    assert isinstance(graphql["duration_ms"], float)
    assert len(graphql["request_id"]) == 32
    assert graphql["level"] == "info" and graphql["timestamp"]
    assert health["path"] == "/healthz" and health["user_id"] is None
    assert health["request_id"] != graphql["request_id"]


async def test_sign_up_and_log_in_never_log_secrets_or_emails(
    capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    capsys.readouterr()
    await api.gql(SIGN_UP, {"input": {
        "email": EMAIL, "password": STRONG_PASSWORD, "name": "Grace Hopper",
        "birthDate": "1990-12-09", "acceptTerms": True}})
    link_token = api.sign_up_token(EMAIL.lower())
    signed_up = (await api.gql(CONFIRM_SIGN_UP, {"input": {"token": link_token}}))[
        "data"]["confirmSignUp"]
    logged_in = (await api.gql(LOG_IN, {"input": {
        "email": EMAIL, "password": STRONG_PASSWORD}}))["data"]["logIn"]
    wrong = await api.gql(LOG_IN, {"input": {"email": EMAIL, "password": "wrong-" + "x" * 12}})
    assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    cookies = await api.http.post("/graphql", json={"query": LOG_IN, "variables": {"input": {
        "email": EMAIL, "password": STRONG_PASSWORD, "useCookies": True}}})
    assert cookies.cookies  # the tokens went into Set-Cookie headers
    # A GET with variables in the query string (refused: it is a mutation) is logged without it.
    await api.http.get("/graphql", params={"query": LOG_IN, "variables": json.dumps(
        {"input": {"email": EMAIL, "password": STRONG_PASSWORD}})})
    # And an internal error while logging in (the database is gone) logs its traceback only.
    api.http.cookies.clear()
    with database_unreachable():
        await api.gql(LOG_IN, {"input": {"email": EMAIL, "password": STRONG_PASSWORD}})

    out = capsys.readouterr().out
    lines = _lines(out)
    requests = [line for line in lines if line["event"] == "request"]
    assert [line["operation"] for line in requests] == ["SignUp", "ConfirmSignUp", "LogIn",
                                                         "LogIn", "LogIn", None, "LogIn"]
    assert any(line["event"] == "graphql.internal_error" for line in lines)
    secrets = [STRONG_PASSWORD, "wrong-" + "x" * 12, link_token, signed_up["accessToken"],
               signed_up["refreshToken"], logged_in["accessToken"], logged_in["refreshToken"],
               *cookies.cookies.values(), EMAIL.lower(), EMAIL, "grace.hopper", "example.com"]
    lowered = out.lower()
    for secret in secrets:
        assert secret.lower() not in lowered, f"{secret[:12]}... reached the log"


def test_the_redaction_processor_drops_sensitive_keys(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    from core.logs import configure_logging

    configure_logging("INFO")
    structlog.get_logger("test").info(
        "careless", password="p4ss", input={"email": "a@b.cc", "newPassword": "n3w",
                                            "name": "Ada"},
        headers=[{"authorization": "Bearer abc"}])
    [line] = _lines(capsys.readouterr().out)
    assert line["password"] == "[redacted]"
    assert line["input"]["email"] == "[redacted]"
    # Names and whole header sets are personal or secret too (core/redaction.py, the one list).
    assert line["input"]["name"] == "[redacted]"
    assert line["input"]["newPassword"] == "[redacted]"
    assert line["headers"] == "[redacted]"
    assert "p4ss" not in json.dumps(line) and "a@b.cc" not in json.dumps(line)
