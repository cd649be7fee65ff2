"""A trusted document run by its id, in each format clients send: the GraphQL-over-HTTP
proposal's `documentId`, Relay's `doc_id` and Apollo's `persistedQuery` extension, over POST and
GET; and what is refused: unknown ids, an id that is not the text's hash, malformed ids."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from engine.compiler import STATS
from models.orgs import Role
from tests.conftest import Api, count_sql, without_cost
from tests.orgs.conftest import make_team
from tests.persisted.conftest import CREATE_LEAD, ME, ORGANIZATION, PLANS, app_with, sha
from tests.tokens.conftest import make_token, subscribe


async def post(http: httpx.AsyncClient, body: Any, token: str | None = None,
               **headers: str) -> tuple[int, dict[str, Any]]:
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = await http.post("/graphql", content=orjson.dumps(body),
                               headers={"content-type": "application/json", **headers})
    return response.status_code, response.json()


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with its cost's `requested` only: the budget left moves with each request."""
    cost = (answer.get("extensions") or {}).get("cost")
    return {**without_cost(answer), "requested": cost and cost["requested"]}


async def free_text(http: httpx.AsyncClient, query: str, **body: Any) -> dict[str, Any]:
    status, answer = await post(http, {"query": query, **body})
    assert status == 200, answer
    return answer


@pytest.mark.parametrize("body", [
    {"documentId": f"sha256:{sha(PLANS)}"},
    {"documentId": sha(PLANS)},
    {"documentId": f"sha256:{sha(PLANS).upper()}"},
    {"doc_id": sha(PLANS)},
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(PLANS)}}},
    {"query": PLANS, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(PLANS)}}},
    {"query": PLANS, "documentId": f"sha256:{sha(PLANS)}"},
    {"documentId": f"sha256:{sha(PLANS)}", "doc_id": sha(PLANS)},
], ids=["documentId", "bare-hex", "upper-case", "relay", "apollo", "apollo-with-query",
        "query-and-documentId", "two-formats-agreeing"])
async def test_each_format_runs_the_document_as_its_text_would(http: httpx.AsyncClient,
                                                                body: dict[str, Any]) -> None:
    expected = await free_text(http, PLANS)
    status, answer = await post(http, body)
    assert status == 200
    assert comparable(answer) == comparable(expected)
    assert answer["data"]["plans"] and answer["extensions"]["cost"]["requested"]


async def test_get_runs_a_query_by_id(http: httpx.AsyncClient) -> None:
    expected = await free_text(http, PLANS)
    for params in ({"documentId": f"sha256:{sha(PLANS)}"}, {"doc_id": sha(PLANS)},
                   {"extensions": orjson.dumps({"persistedQuery": {
                       "version": 1, "sha256Hash": sha(PLANS)}}).decode()}):
        response = await http.get(f"/graphql?{urlencode(params)}",
                                  headers={"accept": "application/json"})
        assert response.status_code == 200, response.text
        assert comparable(response.json()) == comparable(expected)


async def test_get_with_variables_by_id(api: Api, settings: Any) -> None:
    team = await make_team(api, settings, "getvars")
    owner = team.people[Role.OWNER]
    query = urlencode({"documentId": f"sha256:{sha(ORGANIZATION)}",
                       "variables": orjson.dumps({"slug": "getvars"}).decode()})
    response = await api.http.get(f"/graphql?{query}",
                                  headers={"authorization": f"Bearer {owner.token}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"organization": {"name": "Team getvars"}}


async def test_a_mutation_by_id_is_refused_over_get(http: httpx.AsyncClient) -> None:
    response = await http.get(f"/graphql?{urlencode({'documentId': sha(CREATE_LEAD)})}")
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_mutation_by_id_with_an_api_token(api: Api, settings: Any) -> None:
    team = await make_team(api, settings, "mutate")
    await subscribe(team.org)
    token = await make_token(team, ["leads:write", "leads:read"])
    variables = {"input": {"organizationId": team.org_id, "name": "Ada by id"}}
    status, answer = await post(api.http, {"documentId": f"sha256:{sha(CREATE_LEAD)}",
                                           "variables": variables}, token=token.secret)
    assert status == 200
    assert without_cost(answer) == {"data": {"createLead": {"lead": {"name": "Ada by id"}}}}
    # An Idempotency-Key works as for the text: the retry replays the first response.
    first = await post(api.http, {"doc_id": sha(CREATE_LEAD), "variables": variables},
                       token=token.secret, **{"idempotency-key": "persisted-key-1"})
    again = await api.http.post(
        "/graphql", json={"doc_id": sha(CREATE_LEAD), "variables": variables},
        headers={"authorization": f"Bearer {token.secret}",
                 "idempotency-key": "persisted-key-1"})
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first[1]


async def test_permissions_and_errors_are_those_of_the_text(api: Api, settings: Any) -> None:
    team = await make_team(api, settings, "perm")
    viewer = team.people[Role.VIEWER].token
    variables = {"input": {"organizationId": team.org_id, "name": "Not allowed"}}
    by_text = await post(api.http, {"query": CREATE_LEAD, "variables": variables}, viewer)
    by_id = await post(api.http, {"documentId": sha(CREATE_LEAD), "variables": variables},
                       viewer)
    assert by_id[0] == by_text[0] and comparable(by_id[1]) == comparable(by_text[1])
    assert by_id[1]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous_text = await free_text(api.http, ME)
    _status, anonymous_id = await post(api.http, {"documentId": sha(ME)})
    assert comparable(anonymous_id) == comparable(anonymous_text)


async def test_a_trusted_document_runs_the_statements_of_its_text(api: Api,
                                                                   settings: Any) -> None:
    team = await make_team(api, settings, "count")
    owner = team.people[Role.OWNER].token
    variables = {"slug": "count"}
    await post(api.http, {"query": ORGANIZATION, "variables": variables}, owner)  # warm
    with count_sql() as by_text:
        await post(api.http, {"query": ORGANIZATION, "variables": variables}, owner)
    with count_sql() as by_id:
        await post(api.http, {"documentId": sha(ORGANIZATION), "variables": variables}, owner)
    assert by_id.count == by_text.count


async def test_a_trusted_document_is_neither_parsed_nor_validated_again(
        http: httpx.AsyncClient) -> None:
    parse_cache, validate_cache = _get_parse_cache(256), _get_validate_cache(256)
    await post(http, {"documentId": sha(PLANS)})
    parsed, validated = parse_cache.cache_info(), validate_cache.cache_info()
    for _ in range(3):
        status, answer = await post(http, {"documentId": sha(PLANS)})
        assert status == 200 and answer["data"]["plans"]
    assert parse_cache.cache_info() == parsed
    assert validate_cache.cache_info() == validated
    await free_text(http, PLANS)  # the same text sent as text goes through the caches
    assert parse_cache.cache_info() != parsed


UNKNOWN = sha("query Unknown { plans { code } }")


@pytest.mark.parametrize("body", [
    {"documentId": f"sha256:{UNKNOWN}"},
    {"doc_id": UNKNOWN},
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": UNKNOWN}}},
], ids=["documentId", "relay", "apollo"])
async def test_an_unknown_id_is_persisted_query_not_found(http: httpx.AsyncClient,
                                                          body: dict[str, Any]) -> None:
    status, answer = await post(http, body)
    assert status == 200
    assert "data" not in answer  # a request error: nothing ran
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert error["extensions"]["documentId"] == f"sha256:{UNKNOWN}"
    assert error["message"].startswith("PersistedQueryNotFound")
    # With the GraphQL-over-HTTP media type, a request error is a 400.
    response = await http.post("/graphql", json=body,
                               headers={"accept": "application/graphql-response+json"})
    assert response.status_code == 400


async def test_text_sent_with_its_hash_is_not_registered_at_runtime(
        http: httpx.AsyncClient) -> None:
    """Apollo's link retries a not-found id with the text: that is automatic persisted
    queries, which are off. The text is refused, not stored, and stays unknown."""
    text = "query Unknown { plans { code } }"
    body = {"query": text, "extensions": {"persistedQuery": {"version": 1,
                                                             "sha256Hash": sha(text)}}}
    _status, answer = await post(http, body)
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "not registered at runtime" in answer["errors"][0]["message"]
    _status, answer = await post(http, {"documentId": sha(text)})
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("body", [
    {"query": ME, "documentId": sha(PLANS)},
    {"query": PLANS + " ", "doc_id": sha(PLANS)},
    {"query": ME, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(PLANS)}}},
    {"documentId": sha(PLANS), "doc_id": sha(ME)},
], ids=["documentId", "relay", "apollo", "two-ids"])
async def test_an_id_that_is_not_the_text_s_hash_is_refused(http: httpx.AsyncClient,
                                                            body: dict[str, Any]) -> None:
    status, answer = await post(http, body)
    assert status == 200 and "data" not in answer
    (error,) = answer["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "DOCUMENT_ID_MISMATCH"}


HUGE = "a" * 10_000


@pytest.mark.parametrize("body", [
    {"documentId": "sha256:not-hex"},
    {"documentId": "sha256:" + "g" * 64},
    {"documentId": "md5:" + sha(PLANS)},
    {"documentId": sha(PLANS)[:63]},
    {"documentId": HUGE},
    {"documentId": "sha256:" + HUGE},
    {"documentId": [sha(PLANS)]},
    {"documentId": {"id": sha(PLANS)}},
    {"documentId": 12345},
    {"documentId": True},
    {"doc_id": [sha(PLANS)]},
    {"doc_id": "sha256:" + sha(PLANS)},
    {"doc_id": HUGE},
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": [sha(PLANS)]}}},
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": HUGE}}},
    {"extensions": {"persistedQuery": {"version": 1}}},
    {"extensions": {"persistedQuery": "yes"}},
    {"extensions": {"persistedQuery": [1, sha(PLANS)]}},
    {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha(PLANS)}}},
    {"extensions": {"persistedQuery": {"version": "1", "sha256Hash": sha(PLANS)}}},
])
async def test_a_malformed_id_is_bad_user_input(http: httpx.AsyncClient,
                                               body: dict[str, Any]) -> None:
    status, answer = await post(http, body)
    assert status == 200, answer
    assert "data" not in answer
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] in {"INVALID_DOCUMENT_ID", "PERSISTED_QUERY_VERSION"}
    assert len(orjson.dumps(answer)) < 1000  # what was sent is not echoed


@pytest.mark.parametrize("params", [
    {"documentId": HUGE}, {"doc_id": "zz"}, {"extensions": '{"persistedQuery": 7}'},
    {"extensions": '{"persistedQuery": {"version": 1, "sha256Hash": 7}}'},
])
async def test_a_malformed_id_over_get_is_bad_user_input(http: httpx.AsyncClient,
                                                        params: dict[str, str]) -> None:
    response = await http.get(f"/graphql?{urlencode(params)}")
    assert response.status_code == 200, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("body", [
    {"query": [PLANS], "documentId": sha(PLANS)},
    {"documentId": sha(PLANS), "variables": [1]},
    {"documentId": sha(PLANS), "extensions": [1]},
    [{"documentId": sha(PLANS)}],
])
async def test_wrong_shapes_around_an_id_are_transport_errors(http: httpx.AsyncClient,
                                                             body: Any) -> None:
    status, answer = await post(http, body)
    assert status == 400
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_null_ids_count_as_absent(http: httpx.AsyncClient) -> None:
    answer = await free_text(http, PLANS, documentId=None, doc_id=None,
                             extensions={"persistedQuery": None})
    assert answer["data"]["plans"]


async def test_no_manifest_knows_no_id(api: Api, settings: Any) -> None:
    """Without TRUSTED_DOCUMENTS_FILE every id is unknown (and free text runs as ever)."""
    async with app_with(settings, trusted_documents_file=None) as client:
        _status, answer = await post(client, {"documentId": sha(PLANS)})
        assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert (await free_text(client, PLANS))["data"]["plans"]



async def test_the_access_log_names_the_document(http: httpx.AsyncClient,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    await post(http, {"documentId": f"sha256:{sha(PLANS)}"})
    await free_text(http, PLANS)
    out = capsys.readouterr().out
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    by_id, by_text = [x for x in lines if x.get("event") == "request"]
    assert (by_id["operation"], by_id["document"]) == ("Plans", sha(PLANS))
    assert (by_text["operation"], by_text["document"]) == ("Plans", None)


async def test_a_trusted_document_is_answered_by_its_plan_directly(api: Api,
                                                                  settings: Any) -> None:
    """Parsed and validated at start, a trusted query is answered by its compiled plan without
    Strawberry's execute from its first request (`engine/direct.py`); another org's slug gets
    the ordinary path's NOT_FOUND, as its text does."""
    team = await make_team(api, settings, "direct")
    rival = await make_team(api, settings, "rival", prefix="rival.")
    owner = team.people[Role.OWNER].token
    direct = STATS.direct
    status, by_id = await post(api.http, {"documentId": sha(ORGANIZATION),
                                          "variables": {"slug": "direct"}}, owner)
    assert status == 200 and by_id["data"] == {"organization": {"name": "Team direct"}}
    assert STATS.direct == direct + 1
    assert by_id["extensions"]["cost"]["requested"] == 1
    variables = {"slug": rival.slug}
    _, other_id = await post(api.http, {"documentId": sha(ORGANIZATION),
                                        "variables": variables}, owner)
    _, other_text = await post(api.http, {"query": ORGANIZATION, "variables": variables}, owner)
    assert STATS.direct == direct + 1
    assert comparable(other_id) == comparable(other_text)
    assert [e["extensions"]["code"] for e in other_id["errors"]] == ["NOT_FOUND"]
