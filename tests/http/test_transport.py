"""GraphQL over HTTP: methods, media types, status codes and transport errors.

`scripts/graphql_http_audit.sh` runs the graphql-http audit suite against a real server; these
tests pin the behaviour that suite checks and the project's own choices (no batching, JSON
bodies with an error code for every transport error).
"""

from __future__ import annotations

import gc
import json
import warnings

import httpx
import pytest

from models.accounts import User
from tests.conftest import SIGN_UP, STRONG_PASSWORD, Api, error_code, without_cost

GRAPHQL_RESPONSE = "application/graphql-response+json"


def _sign_up_variables(email: str = "ada@example.com") -> dict[str, object]:
    return {"input": {"email": email, "password": STRONG_PASSWORD, "name": "Ada Lovelace",
                      "birthDate": "1990-05-17", "acceptTerms": True}}


async def test_post_json_and_get_both_run_queries(http: httpx.AsyncClient) -> None:
    post = await http.post("/graphql", json={"query": "{ __typename }"})
    get = await http.get("/graphql", params={"query": "query Q { __typename }",
                                             "operationName": "Q"})
    for response in (post, get):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert without_cost(response.json()) == {"data": {"__typename": "Query"}}


async def test_a_mutation_over_get_is_refused_and_runs_nothing(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={
        "query": SIGN_UP, "variables": json.dumps(_sign_up_variables())})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert error_code(response.json()) == "BAD_USER_INPUT"
    assert await User.all().count() == 0


async def test_graphql_response_media_type_when_asked(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ __typename }"},
                               headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert without_cost(response.json()) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("query", ["{", "{ noSuchField }"])
async def test_request_errors_have_no_data_key_and_a_400_with_the_graphql_media_type(
    http: httpx.AsyncClient, query: str
) -> None:
    graphql = await http.post("/graphql", json={"query": query},
                              headers={"accept": GRAPHQL_RESPONSE})
    assert graphql.status_code == 400
    body = graphql.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    # Plain JSON clients get 200 for the same request error (GraphQL over HTTP, 6.4.1).
    plain = await http.post("/graphql", json={"query": query})
    assert plain.status_code == 200
    assert "data" not in plain.json()
    assert error_code(plain.json()) == "BAD_USER_INPUT"


async def test_variable_coercion_failure_is_a_request_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", headers={"accept": GRAPHQL_RESPONSE}, json={
        "query": "query($first: Int) { sessions(first: $first) { totalCount } }",
        "variables": {"first": "ten"}})
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["fields"] == {"first": "Int cannot represent "
                                                                  "non-integer value: 'ten'."}


async def test_a_field_error_nulls_its_field_and_keeps_status_200(
        http: httpx.AsyncClient) -> None:
    # Execution started (`me` needs a viewer), so this is not a request error.
    response = await http.post("/graphql", json={"query": "{ me { id } }"},
                               headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"me": None}  # `me` is nullable
    assert body["errors"][0]["path"] == ["me"]
    assert error_code(body) == "UNAUTHENTICATED"


async def test_malformed_json_gets_400_with_a_json_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", content=b'{"query": "{ __typename }"',
                               headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "JSON" in body["errors"][0]["message"]


@pytest.mark.parametrize(("content", "content_type"), [
    (b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
    (b"{ __typename }", "text/plain"),
    (b"{ __typename }", None),
])
async def test_unsupported_bodies_get_a_4xx_json_error(
    http: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post("/graphql", content=content, headers=headers)
    assert 400 <= response.status_code < 500
    assert error_code(response.json()) == "BAD_USER_INPUT"


@pytest.mark.parametrize("payload", [
    {"query": 42}, {"query": "{ __typename }", "variables": "[]"},
    {"query": "{ __typename }", "extensions": 1}, {},
])
async def test_bad_parameters_get_400(http: httpx.AsyncClient, payload: dict) -> None:
    response = await http.post("/graphql", json=payload)
    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_USER_INPUT"


async def test_operation_batching_is_refused_and_runs_nothing(http: httpx.AsyncClient) -> None:
    batch = [{"query": SIGN_UP, "variables": _sign_up_variables()},
             {"query": SIGN_UP, "variables": _sign_up_variables("bob@example.com")}]
    response = await http.post("/graphql", json=batch)
    assert response.status_code == 400
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "batching" in body["errors"][0]["message"]
    assert await User.all().count() == 0


async def test_an_unknown_operation_name_is_a_400(api: Api) -> None:
    response = await api.http.post("/graphql", json={
        "query": "query A { __typename } query B { __typename }", "operationName": "C"})
    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_USER_INPUT"


@pytest.mark.parametrize("body", [b"null", b"1", b"true", b'"q"', b" 3.5 ", b"\n{\"query\": 1"])
async def test_a_json_body_that_is_not_an_object_is_a_400(http: httpx.AsyncClient,
                                                           body: bytes) -> None:
    response = await http.post("/graphql", content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert error_code(response.json()) == "BAD_USER_INPUT"
    assert "JSON" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("body", [b"[]", b' [{"query": "{ __typename }"}]'])
async def test_a_json_array_body_is_still_refused_as_batching(http: httpx.AsyncClient,
                                                              body: bytes) -> None:
    response = await http.post("/graphql", content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "batching" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; charset=x",
                                          "multipart/form-data; boundary="])
async def test_multipart_without_a_boundary_is_a_400(http: httpx.AsyncClient,
                                                     content_type: str) -> None:
    response = await http.post("/graphql", content=b"--x\r\n\r\n--x--\r\n",
                               headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert error_code(response.json()) == "BAD_USER_INPUT"
    assert "multipart" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("operations", ["null", "1", '"q"', "true"])
async def test_multipart_operations_that_are_not_an_object_are_a_400(
        http: httpx.AsyncClient, operations: str) -> None:
    response = await http.post("/graphql", data={"operations": operations, "map": "{}"},
                               files={"0": ("a.csv", b"name\n", "text/csv")})
    assert response.status_code == 400, response.text
    assert error_code(response.json()) == "BAD_USER_INPUT"


async def test_uploaded_files_are_closed_once_answered(http: httpx.AsyncClient) -> None:
    """The uploaded parts (temporary files) are closed when the response is out, refused
    request or not, rather than left to the garbage collector (a ResourceWarning each)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for operations in ("null", '{"query": "{ __typename }"}'):
            response = await http.post("/graphql", data={"operations": operations, "map": "{}"},
                                       files={"0": ("a.csv", b"name\n", "text/csv")})
            assert response.status_code in {200, 400}, response.text
            del response
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                and "SpooledTemporaryFile" in str(w.message)]
    assert not unclosed, unclosed
