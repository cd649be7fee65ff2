"""Every list a client sends is bounded: over its documented maximum it is BAD_USER_INPUT naming
the field, before any work (a filter of 2,000 tags answered INTERNAL after a RecursionError in
the query builder, and 10,000 copies of one tag or scope were deduplicated one by one)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLObjectType

from models.leads import Lead
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import LEADS, UPDATE_LEAD, create_lead, seed_leads, table_state, token
from tests.leads.test_export import EXPORT
from tests.orgs.conftest import Team

CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"
CREATE_TOKEN = """
mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret } }"""
REGISTER_APP = """
mutation($input: RegisterOAuthAppInput!) { registerOAuthApp(input: $input) { clientSecret } }"""


def refused(body: dict[str, Any], field: str, maximum: int) -> None:
    assert error_code(body) == "BAD_USER_INPUT", str(body)[:400]
    error = errors_of(body)[0]
    assert error["extensions"]["fields"] == {field: f"at most {maximum} items"}, error
    assert error["extensions"]["limit"] == maximum
    assert body.get("data") is None or not any(body["data"].values()), body


def many_tags(count: int) -> list[str]:
    return [f"tag{i}" for i in range(count)]


@pytest.mark.parametrize(("flt", "field", "maximum"), [
    ({"tags": many_tags(2_000)}, "filter.tags", 20),
    ({"tags": many_tags(21)}, "filter.tags", 20),
    ({"status": ["NEW"] * 1_000}, "filter.status", 5),
    ({"source": ["IMPORT"] * 1_000}, "filter.source", 4),
])
async def test_lead_filters_over_their_maximum_are_refused(
        api: Api, team: Team, flt: dict[str, Any], field: str, maximum: int) -> None:
    body = await api.gql(LEADS, {"slug": team.slug, "filter": flt}, token=token(team, Role.MEMBER))
    refused(body, field, maximum)
    body = await api.gql(EXPORT, {"organizationId": team.org_id, "filter": flt},
                         token=token(team, Role.MEMBER))
    refused(body, field, maximum)


async def test_twenty_tags_filter_in_one_query(api: Api, team: Team) -> None:
    """The most tags a filter may hold, matched like the stored ones: leads having them all."""
    tags = many_tags(20)
    await create_lead(api, team, name="All", tags=tags)
    await create_lead(api, team, name="Almost", tags=tags[:19])
    await seed_leads(team.org, 3)
    body = await api.gql(LEADS, {"slug": team.slug, "filter": {"tags": [t.upper() for t in tags]}},
                         token=token(team, Role.MEMBER))
    assert "errors" not in body, body
    names = [e["node"]["name"] for e in body["data"]["organization"]["leads"]["edges"]]
    assert names == ["All"]
    assert body["data"]["organization"]["leads"]["totalCount"] == 1


async def test_lead_tags_over_their_maximum_are_refused_as_sent(api: Api, team: Team) -> None:
    """Twenty tags at most, as sent: ten thousand copies of one tag are refused, not
    deduplicated one by one."""
    lead = await create_lead(api, team, name="Grace", tags=["vip"])
    before = await table_state(team.org)
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id, "name": "X",
                                                 "tags": ["vip"] * 10_000}},
                         token=token(team, Role.MEMBER))
    refused(body, "tags", 20)
    body = await api.gql(UPDATE_LEAD, {"input": {"id": lead["id"], "tags": ["vip"] * 21}},
                         token=token(team, Role.MEMBER))
    refused(body, "tags", 20)
    assert await table_state(team.org) == before
    assert await Lead._scoped(team.org.id).count() == 1


async def test_token_and_app_lists_over_their_maximum_are_refused(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    from auth.permissions import Permission

    scopes = len(Permission)
    body = await api.gql(CREATE_TOKEN, {"input": {"organizationId": team.org_id, "name": "Bot",
                                                  "scopes": ["org:read"] * 5_000}},
                         token=owner.token)
    refused(body, "scopes", scopes)
    body = await api.gql(REGISTER_APP, {"input": {
        "name": "App", "redirectUris": ["https://app.example/cb"] * 11,
        "scopes": ["org:read"]}}, token=owner.token)
    refused(body, "redirectUris", 10)
    body = await api.gql(REGISTER_APP, {"input": {
        "name": "App", "redirectUris": ["https://app.example/cb"],
        "scopes": ["org:read"] * 5_000}}, token=owner.token)
    refused(body, "scopes", scopes)


@pytest.mark.no_db
def test_every_list_a_client_sends_documents_its_maximum() -> None:
    """Each list-typed argument and input field says its maximum in its description (and the
    tests above hold the server to it)."""
    from schema import schema

    def is_list(kind: Any) -> bool:
        return isinstance(kind.of_type if isinstance(kind, GraphQLNonNull) else kind, GraphQLList)

    undocumented = []
    for name, kind in schema._schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(kind, GraphQLInputObjectType):
            undocumented += [f"{name}.{field}" for field, value in kind.fields.items()
                             if is_list(value.type) and "at most" not in
                             (value.description or "").lower()]
        elif isinstance(kind, GraphQLObjectType):
            for field, value in kind.fields.items():
                undocumented += [f"{name}.{field}({arg})" for arg, argument in value.args.items()
                                 if is_list(argument.type) and "at most" not in
                                 (argument.description or "").lower()]
    assert undocumented == []
