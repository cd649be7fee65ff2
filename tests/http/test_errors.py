"""Errors a client causes get a stable code and a useful message; an unexpected one becomes
INTERNAL with the request id, and only the log holds the details."""

from __future__ import annotations

import json

import httpx
import pytest

from models.accounts import User
from tests.conftest import SIGN_UP, STRONG_PASSWORD, Api, error_code, errors_of
from tests.http.conftest import database_unreachable

LOG_IN = """mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken user { id } }
}"""


def _sign_up_input(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {"email": "grace@example.com", "password": STRONG_PASSWORD,
                                 "name": "Grace Hopper", "birthDate": "1990-12-09",
                                 "acceptTerms": True}
    values.update(changes)
    return {"input": values}


async def test_a_typo_in_a_field_gets_a_useful_message(api: Api) -> None:
    body = await api.gql("{ mee { id } }")
    [error] = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "Cannot query field 'mee' on type 'Query'. Did you mean 'me'?"
    assert error["locations"] == [{"line": 1, "column": 3}]


async def test_a_syntax_error_gets_a_code_and_a_location(api: Api) -> None:
    [error] = errors_of(await api.gql("{ me { id }"))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("Syntax Error")
    assert error["locations"]


async def test_an_unknown_field_in_a_selection(api: Api) -> None:
    body = await api.gql("{ me { id shoeSize } }")
    assert error_code(body) == "BAD_USER_INPUT"
    assert "shoeSize" in errors_of(body)[0]["message"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"birthDate": "yesterday"}, "birthDate"),
    ({"acceptTerms": "yes"}, "acceptTerms"),
    ({"email": ["grace@example.com"]}, "email"),
])
async def test_wrong_variable_types_name_the_field_and_write_nothing(
    api: Api, changes: dict[str, object], field: str
) -> None:
    body = await api.gql(SIGN_UP, _sign_up_input(**changes))
    [error] = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == [field]
    assert f".{field}" in error["message"]
    assert await User.all().count() == 0


async def test_an_unknown_input_field_is_named_and_the_input_is_not_echoed(api: Api) -> None:
    body = await api.gql(SIGN_UP, _sign_up_input(emial="grace@example.com"))
    [error] = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["emial"]
    assert "Did you mean 'email'?" in error["message"]
    # The whole input object (password included) is not repeated back.
    assert STRONG_PASSWORD not in json.dumps(body)
    assert await User.all().count() == 0


async def test_a_missing_input_field_is_named(api: Api) -> None:
    variables = _sign_up_input()
    del variables["input"]["password"]  # type: ignore[attr-defined]
    body = await api.gql(SIGN_UP, variables)
    [error] = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["password"]
    assert STRONG_PASSWORD not in json.dumps(body)
    assert await User.all().count() == 0


async def test_a_wrong_literal_type_is_bad_user_input(api: Api) -> None:
    body = await api.gql('{ sessions(first: "ten") { totalCount } }')
    assert error_code(body) == "BAD_USER_INPUT"
    assert "Int" in errors_of(body)[0]["message"]


def _assert_internal(error: dict, request_id: str) -> None:
    assert error["message"] == "Internal error: the request id lets support find it."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    text = json.dumps(error).lower()
    for leak in ("traceback", "nonexistent", "secret-path", "hunter2", "select ", ".py",
                 "sqlite", "postgres", "127.0.0.1", "operationalerror", "connection"):
        assert leak not in text, leak


def _log_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_an_unexpected_exception_in_a_resolver_is_internal_with_the_request_id(
    capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    await api.sign_up("grace@example.com")
    capsys.readouterr()
    with database_unreachable():  # the logIn resolver's query meets a real driver error
        response = await api.http.post("/graphql", json={"query": LOG_IN, "variables": {
            "input": {"email": "grace@example.com", "password": STRONG_PASSWORD}}})
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["path"] == ["logIn"]
    _assert_internal(error, request_id)

    lines = _log_lines(capsys.readouterr().out)
    [logged] = [line for line in lines if line["event"] == "graphql.internal_error"]
    assert logged["request_id"] == request_id
    assert logged["level"] == "error"
    assert "Traceback" in logged["exception"]  # the details are in the log, for support
    [access] = [line for line in lines if line["event"] == "request"]
    assert (access["request_id"], access["status"]) == (request_id, 200)


async def test_an_unexpected_exception_before_execution_is_internal_too(
    capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    token = (await api.sign_up("grace@example.com"))["accessToken"]
    capsys.readouterr()
    with database_unreachable():  # authenticating the bearer token needs the database
        response = await api.http.post(
            "/graphql", json={"query": "{ me { id } }"},
            headers={"authorization": f"Bearer {token}", "x-request-id": "support-ticket-42"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"] == "support-ticket-42"
    [error] = response.json()["errors"]
    _assert_internal(error, "support-ticket-42")
    lines = _log_lines(capsys.readouterr().out)
    [logged] = [line for line in lines if line["event"] == "request.internal_error"]
    assert logged["request_id"] == "support-ticket-42"
    assert "Traceback" in logged["exception"]
    assert token not in json.dumps(lines)


async def test_an_unsafe_request_id_header_is_replaced(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ __typename }"},
                               headers={"x-request-id": "<script>alert(1)</script>"})
    request_id = response.headers["x-request-id"]
    assert request_id != "<script>alert(1)</script>"
    assert len(request_id) == 32 and request_id.isalnum()
