"""Org API tokens over HTTP: creating (secret shown once, stored hashed), listing, revoking,
expiry, the checksum, tenant isolation, the activity log and the plan's token limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from auth.api_tokens import PREFIX, hash_api_token, is_well_formed, new_api_token
from auth.permissions import PERSON_ONLY, ROLE_GRANTS, TOKEN_SCOPES, Permission
from models.activity import ActivityEvent
from models.billing import Plan
from models.orgs import Role
from models.tokens import ApiToken
from tests.conftest import Api, count_sql, error_code, errors_of
from tests.orgs.conftest import Team, gid
from tests.tokens.conftest import make_token, subscribe

CREATE = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    secret
    apiToken { id name prefix scopes createdAt expiresAt revokedAt lastUsedAt lastUsedIp
            createdBy { email } }
  }
}"""
REVOKE = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id revokedAt } } }"
LIST = """
query($slug: String!) {
  organization(slug: $slug) {
    apiTokens(first: 10) {
      totalCount
      nodes { id name prefix scopes createdAt expiresAt revokedAt lastUsedAt lastUsedIp
              createdBy { email } }
    }
  }
}"""
ORG = 'query($slug: String!) { organization(slug: $slug) { name } }'
LEADS = 'query($slug: String!) { organization(slug: $slug) { leads(first: 5) { totalCount } } }'


async def create(api: Api, team: Team, scopes: list[str], *, role: Role = Role.ADMIN,
                 name: str = "Zapier sync", expires_at: str | None = None) -> dict:
    return await api.gql(CREATE, {"input": {"organizationId": team.org_id, "name": name,
                                            "scopes": scopes, "expiresAt": expires_at}},
                         token=team.people[role].token)


async def test_the_scopes_query_lists_every_token_scope_with_its_description(api: Api) -> None:
    body = await api.gql("{ scopes { name description } }")
    assert body["data"]["scopes"] == [{"name": p.value, "description": p.description}
                                      for p in TOKEN_SCOPES]
    assert {s["name"] for s in body["data"]["scopes"]}.isdisjoint(p.value for p in PERSON_ONLY)


async def test_an_admin_creates_a_token_shown_once_and_stored_as_a_hash(
        api: Api, team: Team) -> None:
    body = await create(api, team, ["leads:read", "org:read"])
    assert "errors" not in body, body
    created = body["data"]["createApiToken"]
    secret = created["secret"]
    assert re.fullmatch(rf"{PREFIX}[0-9A-Za-z]{{36}}", secret) and is_well_formed(secret)
    token = created["apiToken"]
    assert token["prefix"] == secret[:14] and token["name"] == "Zapier sync"
    assert token["scopes"] == ["org:read", "leads:read"]  # declaration order
    assert token["createdBy"] == {"email": team.people[Role.ADMIN].email}
    assert token["expiresAt"] is None and token["lastUsedAt"] is None
    (row,) = await ApiToken._scoped(team.org.id)
    assert row.token_hash == hash_api_token(secret)
    assert secret not in str(await ApiToken._scoped(team.org.id).values())
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="api_token.created")
    assert event.actor_id == team.people[Role.ADMIN].user.id
    assert secret not in str(event.summary)
    # Listed without its secret.
    listed = await api.gql(LIST, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    assert listed["data"]["organization"]["apiTokens"]["nodes"] == [token]
    assert "secret" not in str(listed)


async def test_the_token_works_and_records_its_last_use(api: Api, team: Team) -> None:
    secret = (await create(api, team, ["org:read"]))["data"]["createApiToken"]["secret"]
    body = await api.gql(ORG, {"slug": team.slug}, token=secret)
    assert body["data"] == {"organization": {"name": "Team acme"}}
    (row,) = await ApiToken._scoped(team.org.id)
    assert row.last_used_ip == "203.0.113.7"
    assert datetime.now(UTC) - row.last_used_at < timedelta(seconds=30)


async def test_only_admins_and_owners_create_tokens(api: Api, team: Team) -> None:
    for role in (Role.MEMBER, Role.VIEWER):
        (error,) = errors_of(await create(api, team, ["leads:read"], role=role))
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "tokens:write"}
    assert await ApiToken._scoped(team.org.id).count() == 0


async def test_an_admin_cannot_grant_a_scope_their_role_lacks(api: Api, team: Team) -> None:
    for permission in sorted(set(Permission) - ROLE_GRANTS[Role.ADMIN]):
        body = await create(api, team, ["leads:read", permission.value])
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": permission.value,
                                       "reason": "SCOPE_ABOVE_ROLE"}
    assert await ApiToken._scoped(team.org.id).count() == 0


async def test_person_only_permissions_are_never_scopes(api: Api, team: Team) -> None:
    for permission in sorted(PERSON_ONLY):
        body = await create(api, team, [permission.value], role=Role.OWNER)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert permission.value in error["extensions"]["fields"]["scopes"]
    assert await ApiToken._scoped(team.org.id).count() == 0


async def test_bad_input_names_each_field(api: Api, team: Team) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = await create(api, team, ["org:read"], name="  ", expires_at=past)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["fields"]) == {"name", "expiresAt"}
    body = await create(api, team, ["leads:fly"])
    assert errors_of(body)[0]["extensions"]["fields"] == {
        "scopes": "unknown scope(s): leads:fly (the `scopes` query lists them)"}
    body = await create(api, team, [])
    assert "scopes" in errors_of(body)[0]["extensions"]["fields"]
    assert await ApiToken._scoped(team.org.id).count() == 0


async def test_revoking_ends_the_token_at_once(api: Api, team: Team) -> None:
    token = await make_token(team, ["org:read"])
    assert "errors" not in await api.gql(ORG, {"slug": team.slug}, token=token.secret)
    body = await api.gql(REVOKE, {"id": gid("ApiToken", token.row.id)},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["revokeApiToken"]["apiToken"]["revokedAt"]
    body = await api.gql(ORG, {"slug": team.slug}, token=token.secret)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in error["message"]
    row = (await ApiToken._scoped(team.org.id))[0]
    assert row.revoked_at is not None
    assert await ActivityEvent._scoped(team.org.id).filter(action="api_token.revoked").count() == 1


async def test_another_orgs_admin_cannot_see_or_revoke_a_token(api: Api, team: Team,
                                                              rival: Team) -> None:
    token = await make_token(team, ["org:read"])
    body = await api.gql(REVOKE, {"id": gid("ApiToken", token.row.id)},
                         token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    assert (await ApiToken._scoped(team.org.id))[0].revoked_at is None


async def test_an_expired_token_is_refused(api: Api, team: Team) -> None:
    token = await make_token(team, ["org:read"],
                             expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(ORG, {"slug": team.slug}, token=token.secret)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in error["message"]
    later = await make_token(team, ["org:read"],
                             expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert "errors" not in await api.gql(ORG, {"slug": team.slug}, token=later.secret)


async def test_a_mistyped_token_is_refused_without_a_database_query(api: Api,
                                                                   team: Team) -> None:
    token = await make_token(team, ["org:read"])
    last = token.secret[-1]
    typo = token.secret[:-1] + ("A" if last != "A" else "B")
    for bad in (typo, token.secret[:-2], token.secret[:20] + token.secret[21:] + "x"):
        with count_sql() as sql:
            body = await api.gql("{ scopes { name } }", token=bad)
        assert sql.count == 0, sql.statements
        assert body["data"]["scopes"]  # public fields still answer
        with count_sql() as sql:
            body = await api.gql(ORG, {"slug": team.slug}, token=bad)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "checksum" in error["message"]
    # A well-formed secret nobody issued does reach the database, and is refused there.
    body = await api.gql(ORG, {"slug": team.slug}, token=new_api_token())
    assert error_code(body) == "UNAUTHENTICATED"


async def test_a_token_acts_in_its_org_alone(api: Api, team: Team, rival: Team) -> None:
    token = await make_token(team, [p.value for p in TOKEN_SCOPES])
    body = await api.gql(ORG, {"slug": rival.slug}, token=token.secret)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": rival.org_id},
                         token=token.secret)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": team.org_id},
                         token=token.secret)
    assert body["data"]["node"] == {"id": team.org_id}


async def test_fields_for_people_refuse_tokens(api: Api, team: Team) -> None:
    token = await make_token(team, [p.value for p in TOKEN_SCOPES])
    for document in ("{ me { id } }", "{ sessions(first: 1) { nodes { id } } }",
                     "mutation { logOut { endedSessionId } }",
                     'mutation { createOrganization(input: {name: "Side"}) { organization { '
                     'id } } }'):
        (error,) = errors_of(await api.gql(document, token=token.secret))
        assert error["extensions"] == {"code": "FORBIDDEN", "reason": "PERSON_ONLY"}, document


async def test_activity_records_the_token_as_the_actor(api: Api, team: Team) -> None:
    token = await make_token(team, ["org:write"])
    body = await api.gql(
        "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { "
        "name } } }",
        {"i": {"organizationId": team.org_id, "name": "Renamed by a script"}},
        token=token.secret)
    assert body["data"]["updateOrganization"]["organization"]["name"] == "Renamed by a script"
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="organization.updated")
    assert event.api_token_id == token.row.id
    assert event.actor_id is None
    body = await api.gql(
        'query($slug: String!) { organization(slug: $slug) { activity(first: 1, filter: '
        '{action: ORGANIZATION_UPDATED}) { nodes { actor { id } actorTokenId } } } }',
        {"slug": "acme"}, token=team.people[Role.ADMIN].token)
    assert body["data"]["organization"]["activity"]["nodes"] == [
        {"actor": None, "actorTokenId": gid("ApiToken", token.row.id)}]


async def test_the_plan_caps_live_tokens(api: Api, team: Team, rival: Team) -> None:
    from billing.plans import PLANS
    limit = PLANS[Plan.PRO].limits.partner_tokens
    assert limit is not None
    for n in range(limit):
        assert "errors" not in await create(api, team, ["org:read"], name=f"t{n}")
    (error,) = errors_of(await create(api, team, ["org:read"], name="one too many"))
    assert error["extensions"] == {"code": "PLAN_LIMIT", "limit": limit, "plan": "PRO",
                                   "resource": "partner_tokens", "used": limit}
    assert await ApiToken._scoped(team.org.id).count() == limit
    # Revoking one frees its place.
    first = (await ApiToken._scoped(team.org.id).order_by("created_at"))[0]
    await api.gql(REVOKE, {"id": gid("ApiToken", first.id)}, token=team.people[Role.ADMIN].token)
    assert "errors" not in await create(api, team, ["org:read"], name="replacement")


async def test_the_free_plan_allows_two_tokens(api: Api, settings, team: Team) -> None:
    from models.billing import BillingAccount
    await BillingAccount._scoped(team.org.id).delete()
    for n in range(2):
        assert "errors" not in await create(api, team, ["org:read"], name=f"t{n}")
    (error,) = errors_of(await create(api, team, ["org:read"], name="third"))
    assert error["extensions"] == {"code": "PLAN_LIMIT", "limit": 2, "plan": "FREE",
                                   "resource": "partner_tokens", "used": 2}


async def test_a_business_plan_allows_more(api: Api, rival: Team) -> None:
    from billing.plans import PLANS
    from models.billing import BillingAccount
    await BillingAccount._scoped(rival.org.id).delete()
    await subscribe(rival.org, Plan.BUSINESS)
    for n in range(PLANS[Plan.PRO].limits.partner_tokens + 1):  # type: ignore[operator]
        assert "errors" not in await create(api, rival, ["org:read"], name=f"t{n}")


async def test_tokens_write_is_never_a_token_scope(api: Api, team: Team) -> None:
    token = await make_token(team, [p.value for p in TOKEN_SCOPES])
    body = await api.gql(CREATE, {"input": {"organizationId": team.org_id, "name": "child",
                                            "scopes": ["org:read"]}}, token=token.secret)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "FORBIDDEN", "permission": "tokens:write",
                                   "scope": "tokens:write"}
    assert Permission.TOKENS_WRITE not in TOKEN_SCOPES


IDENTITY_AND_LEADS = """
query($slug: String!) {
  organization(slug: $slug) { id name slug leads(first: 5) { nodes { name } } }
}"""


async def test_a_token_with_only_leads_read_reads_its_orgs_identity_and_lists_leads(
        api: Api, team: Team) -> None:
    """Any credential of the org reads its identity (id, name, slug) and reaches its lists;
    each list needs only its own scope. What is more than identity still needs `org:read`."""
    from models.leads import Lead
    await Lead.create(organization=team.org, name="Ada Lead")
    token = await make_token(team, ["leads:read"])
    body = await api.gql(IDENTITY_AND_LEADS, {"slug": team.slug}, token=token.secret)
    assert "errors" not in body, body
    assert body["data"]["organization"] == {
        "id": team.org_id, "name": team.org.name, "slug": team.slug,
        "leads": {"nodes": [{"name": "Ada Lead"}]}}
    body = await api.gql("query($id: ID!) { node(id: $id) { id ... on Organization { slug } } }",
                         {"id": team.org_id}, token=token.secret)
    assert body["data"]["node"] == {"id": team.org_id, "slug": team.slug}, body
    for field in ("createdAt", "viewerRole", "viewerPermissions"):
        body = await api.gql(f"query($slug: String!) {{ organization(slug: $slug) "
                             f"{{ name {field} }} }}", {"slug": team.slug}, token=token.secret)
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "org:read",
                                       "scope": "org:read"}, (field, body)
        assert error["path"] == ["organization", field]


async def test_a_token_with_only_leads_read_is_refused_members_naming_members_read(
        api: Api, team: Team) -> None:
    token = await make_token(team, ["leads:read"])
    body = await api.gql('query($slug: String!) { organization(slug: $slug) { name '
                         'members(first: 5) { nodes { role } } } }', {"slug": team.slug},
                         token=token.secret)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "FORBIDDEN", "permission": "members:read",
                                   "scope": "members:read"}, body
    assert error["path"] == ["organization", "members"]
    assert "`members:read`" in error["message"]


async def test_another_orgs_token_finds_no_organization_whatever_its_scopes(
        api: Api, team: Team, rival: Team) -> None:
    for scopes in (["leads:read"], ["org:read", "leads:read", "members:read"]):
        token = await make_token(rival, scopes)
        body = await api.gql(IDENTITY_AND_LEADS, {"slug": team.slug}, token=token.secret)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "NOT_FOUND", (scopes, body)
        assert body["data"] == {"organization": None}
        body = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": team.org_id},
                             token=token.secret)
        assert error_code(body) == "NOT_FOUND", (scopes, body)
    body = await api.gql(IDENTITY_AND_LEADS, {"slug": team.slug})  # no credential at all
    assert error_code(body) == "NOT_FOUND"
