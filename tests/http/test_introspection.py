"""Introspection and GraphiQL: on by default (a public API), off by settings and by default in
production; with introspection off, "Did you mean ...?" suggestions are hidden too, since they
leak the schema bit by bit."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from keystore import keys
from keystore.kek import kek_from_settings
from server import create_app
from tests.conftest import SIGN_UP, STRONG_PASSWORD, error_code, errors_of, without_cost
from tests.http.conftest import Serve
from tests.production_env import PRODUCTION

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "User") { fields { name } } }'
HTML = {"accept": "text/html"}


async def test_introspection_is_on_by_default(http: httpx.AsyncClient) -> None:
    body = (await http.post("/graphql", json={"query": SCHEMA})).json()
    assert without_cost(body) == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    body = (await http.post("/graphql", json={"query": TYPE})).json()
    assert {"id", "email"} <= {field["name"] for field in body["data"]["__type"]["fields"]}


@pytest.mark.parametrize("query", [SCHEMA, TYPE])
async def test_introspection_can_be_switched_off(serve: Serve, query: str) -> None:
    async with serve(introspection=False) as http:
        body = (await http.post("/graphql", json={"query": query})).json()
        assert "data" not in body
        assert error_code(body) == "BAD_USER_INPUT"
        assert "introspection" in errors_of(body)[0]["message"].lower()
        # Plain queries still work, `__typename` included (clients need it for unions).
        assert without_cost((await http.post("/graphql",
                                             json={"query": "{ __typename }"})).json()) == \
            {"data": {"__typename": "Query"}}


async def test_suggestions_are_hidden_when_introspection_is_off(serve: Serve) -> None:
    field_typo = "{ mee { id } }"
    argument_typo = "{ sessions(frist: 1) { totalCount } }"
    input_typo = {"query": SIGN_UP, "variables": {"input": {
        "emial": "ada@example.com", "email": "ada@example.com", "password": STRONG_PASSWORD,
        "name": "Ada", "birthDate": "1990-05-17", "acceptTerms": True}}}
    async with serve() as http:
        shown = [(await http.post("/graphql", json={"query": field_typo})).json(),
                 (await http.post("/graphql", json={"query": argument_typo})).json(),
                 (await http.post("/graphql", json=input_typo)).json()]
    async with serve(introspection=False) as http:
        hidden = [(await http.post("/graphql", json={"query": field_typo})).json(),
                  (await http.post("/graphql", json={"query": argument_typo})).json(),
                  (await http.post("/graphql", json=input_typo)).json()]
    for body in shown:
        assert "Did you mean" in errors_of(body)[0]["message"]
    assert [errors_of(body)[0]["message"] for body in hidden] == [
        "Cannot query field 'mee' on type 'Query'.",
        "Unknown argument 'frist' on field 'Query.sessions'.",
        "Variable '$input' has invalid value: Expected value of type 'SignUpInput' not to "
        "include unknown field 'emial'.",
    ]
    for body in hidden:
        assert error_code(body) == "BAD_USER_INPUT"
        assert "'me'" not in str(body) and "'first'" not in str(body)


async def test_graphiql_is_served_to_browsers(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_graphiql_can_be_switched_off(serve: Serve) -> None:
    async with serve(graphiql=False) as http:
        response = await http.get("/graphql", headers=HTML)
        assert response.status_code == 404
        assert error_code(response.json()) == "NOT_FOUND"
        assert "graphiql" not in response.text.lower()
        # The endpoint itself still answers.
        query = await http.get("/graphql", params={"query": "{ __typename }"})
        assert without_cost(query.json()) == {"data": {"__typename": "Query"}}


async def test_production_serves_neither_introspection_nor_graphiql(app: object,
                                                                   settings: Settings) -> None:
    """`RELLEKS_ENV=production` with nothing else said: both off (INTROSPECTION=true and
    GRAPHIQL=true turn them on)."""
    # The run's own database (manage_database=False: the production keystore URL is never
    # opened); its KEK replaces the process's, so the test's is put back after.
    production = Settings.from_env({
        **PRODUCTION, "DATABASE_URL": settings.database_url, "ALLOW_PLAINTEXT_INTERNAL": "1",
        "MEDIA_ROOT": str(settings.media_root)})
    try:
        await _production_refuses_introspection(production)
    finally:
        keys.use(kek_from_settings(settings), ttl=settings.key_cache_seconds)


async def _production_refuses_introspection(production: Settings) -> None:
    application = create_app(production, manage_database=False)
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50001))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        for query in (SCHEMA, TYPE):
            body = (await http.post("/graphql", json={"query": query})).json()
            assert "data" not in body
            assert error_code(body) == "BAD_USER_INPUT"
            assert "introspection" in errors_of(body)[0]["message"].lower()
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 404
        assert error_code(page.json()) == "NOT_FOUND"
        assert "graphiql" not in page.text.lower()
        plain = await http.post("/graphql", json={"query": "{ __typename }"})
        assert without_cost(plain.json()) == {"data": {"__typename": "Query"}}
