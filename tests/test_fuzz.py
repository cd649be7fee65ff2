"""Fuzz the live schema: queries and mutations generated from its SDL by hypothesis-graphql are
posted to the real ASGI app, signed in or not. Whatever comes in, the answer is never a 5xx, is
JSON with `data` or `errors`, and every error carries a code and leaks no internals (stack
traces, file paths, SQL).

The app and database live for the whole test (Hypothesis runs many examples inside one call), so
examples may see rows earlier ones wrote: that is more realistic, not less. `FUZZ_EXAMPLES=2000`
runs a deeper search than the suite's quick default.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import strategies as gql_st

from auth.passwords import hash_password
from auth.tokens import issue_access_token
from core.settings import Settings
from models.accounts import Session, User
from schema import schema
from tests.conftest import without_cost

SDL = schema.as_str()
LEAKS = ("Traceback", 'File "', ".py", "SELECT", "INSERT")
FUZZ_EMAIL = "fuzz@example.com"
FUZZ_PASSWORD = "plum-orbit-canvas-87-tide"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


def _string(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[graphql.ValueNode]:
    return strategy.map(nodes.String)


def _global_id() -> st.SearchStrategy[str]:
    type_names = st.sampled_from(["User", "Session", "Organization", "Lead", "Nope"])
    return st.builds(lambda name, value: base64.b64encode(f"{name}:{value}".encode()).decode(),
                     type_names, st.one_of(st.uuids().map(str), st.text(max_size=10)))


def _custom_scalars() -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """A value strategy for every custom scalar of the live schema: well-formed values mostly,
    with arbitrary text mixed in."""
    junk = st.text(max_size=20)
    known: dict[str, st.SearchStrategy[Any]] = {
        "Date": st.dates().map(lambda d: d.isoformat()),
        "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
        "JSON": st.just("{}"),
        "Upload": st.just("0"),
    }
    parsed = graphql.build_schema(SDL)
    strategies = {}
    for name, type_ in parsed.type_map.items():
        if isinstance(type_, graphql.GraphQLScalarType) and not name.startswith("__") and \
                name not in graphql.specified_scalar_types:
            strategies[name] = _string(st.one_of(known.get(name, junk), junk))
    return strategies


CUSTOM_SCALARS = _custom_scalars()


def _documents(mode: Mode) -> st.SearchStrategy[str]:
    return st.one_of(
        gql_st.queries(SDL, custom_scalars=CUSTOM_SCALARS, mode=mode),
        gql_st.mutations(SDL, custom_scalars=CUSTOM_SCALARS, mode=mode),
    )


async def _fresh_token(app_settings: Settings) -> str:
    """An access token for the fuzz user, in a new session (earlier examples may have ended the
    last one, changed the password or the name)."""
    user = await User.get_or_none(email=FUZZ_EMAIL)
    now = datetime.now(UTC)
    if user is None:
        user = await User.create(email=FUZZ_EMAIL, name="Fuzz Tester",
                                 password_hash=hash_password(FUZZ_PASSWORD),
                                 age_check_passed_at=now, terms_version="fuzz",
                                 terms_accepted_at=now)
    session = await Session.create(user=user, last_used_at=now, ip="192.0.2.1",
                                   expires_at=now + timedelta(days=1))
    return issue_access_token(app_settings, user.id, session.id)[0]


def _check_response(query: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (query, response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), (query, body)
    assert "data" in body or "errors" in body, (query, body)
    for error in body.get("errors") or []:
        assert error.get("extensions", {}).get("code"), (query, error)
        message = error["message"]
        for leak in LEAKS:
            # A message may echo what the client sent, so only text not in the query is a leak.
            assert leak not in message or leak in query, (query, error)
        assert error["extensions"]["code"] != "INTERNAL", (query, error)


async def _run(app: Any, app_settings: Settings, query: str, signed_in: bool) -> None:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40100))
    headers = {"user-agent": "fuzz"}
    if signed_in:
        headers["authorization"] = f"Bearer {await _fresh_token(app_settings)}"
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    _check_response(query, response)


@FUZZ_SETTINGS
@given(query=_documents(Mode.POSITIVE), signed_in=st.booleans())
async def test_valid_operations_never_fail_the_server(app: Any, settings: Settings, query: str,
                                                      signed_in: bool) -> None:
    await _run(app, settings, query, signed_in)


@hypothesis_settings(parent=FUZZ_SETTINGS, max_examples=max(1, EXAMPLES * 2 // 3))
@given(query=_documents(Mode.NEGATIVE), signed_in=st.booleans())
async def test_invalid_operations_get_client_errors(app: Any, settings: Settings, query: str,
                                                    signed_in: bool) -> None:
    await _run(app, settings, query, signed_in)



JSON_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6,
)
SCALAR_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "String": st.text(max_size=40) | st.sampled_from([FUZZ_EMAIL, FUZZ_PASSWORD, "", " "]),
    "ID": _global_id() | st.text(max_size=20),
    "Int": st.integers() | st.integers(min_value=-5, max_value=200),
    "Float": st.floats(allow_nan=False, allow_infinity=False),
    "Boolean": st.booleans(),
    "Date": st.dates().map(lambda d: d.isoformat()),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
}


def _variable_value(type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    """Mostly a value of `type_` (so execution gets past coercion), sometimes any JSON at all."""
    if isinstance(type_, graphql.GraphQLNonNull):
        return _variable_value(type_.of_type)
    if isinstance(type_, graphql.GraphQLList):
        typed: st.SearchStrategy[Any] = st.lists(_variable_value(type_.of_type), max_size=3)
    elif isinstance(type_, graphql.GraphQLInputObjectType):
        typed = st.fixed_dictionaries({}, optional={
            name: _variable_value(field.type) for name, field in type_.fields.items()})
    elif isinstance(type_, graphql.GraphQLEnumType):
        typed = st.sampled_from(list(type_.values))
    else:
        typed = SCALAR_VALUES.get(type_.name, st.text(max_size=20))
    return st.one_of(typed, typed, typed, JSON_JUNK)


def _operations_with_variables() -> list[tuple[str, dict[str, graphql.GraphQLArgument]]]:
    """One operation per root field that takes arguments, every argument a variable."""
    parsed = graphql.build_schema(SDL)
    operations = []
    for keyword, root in (("query", parsed.query_type), ("mutation", parsed.mutation_type)):
        for name, field in (root.fields if root else {}).items():
            if not field.args:
                continue
            declared = ", ".join(f"${arg}: {arg_def.type}" for arg, arg_def in field.args.items())
            passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
            named = graphql.get_named_type(field.type)
            selection = " { __typename }" if graphql.is_composite_type(named) else ""
            operations.append((f"{keyword}({declared}) {{ {name}({passed}){selection} }}",
                               dict(field.args)))
    return operations


@st.composite
def _operation_and_variables(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    query, args = draw(st.sampled_from(_operations_with_variables()))
    variables = {name: draw(_variable_value(arg.type)) for name, arg in args.items()}
    return query, variables


@FUZZ_SETTINGS
@given(operation=_operation_and_variables(), signed_in=st.booleans())
async def test_any_variable_values_get_client_errors(
    app: Any, settings: Settings, operation: tuple[str, dict[str, Any]], signed_in: bool
) -> None:
    """Literals are checked by validation; variables are coerced later, on another code path."""
    query, variables = operation
    transport = httpx.ASGITransport(app=app, client=("192.0.2.11", 40101))
    headers = {"user-agent": "fuzz"}
    if signed_in:
        headers["authorization"] = f"Bearer {await _fresh_token(settings)}"
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables},
                                     headers=headers)
    _check_response(f"{query} {variables!r}", response)

async def test_fuzz_user_token_works(app: Any, settings: Settings) -> None:
    """The signed-in half of the fuzzing really is signed in."""
    transport = httpx.ASGITransport(app=app)
    token = await _fresh_token(settings)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"query": "{ me { email } }"},
                                     headers={"authorization": f"Bearer {token}"})
    assert without_cost(response.json()) == {"data": {"me": {"email": FUZZ_EMAIL}}}
    assert uuid.UUID(str((await User.get(email=FUZZ_EMAIL)).id))
