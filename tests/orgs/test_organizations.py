"""Creating, finding and renaming organizations over HTTP: slugs, visibility, memberships."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.settings import Settings
from models.activity import ActivityEvent
from models.orgs import Membership, Organization, Role
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import CREATE_ORG, Team, events_of, gid, signed_in

ORG_BY_SLUG = "query($slug: String!) { organization(slug: $slug) { id name slug viewerRole } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Organization { name slug } } }"
UPDATE_ORG = """
mutation($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) { organization { id name slug } }
}"""
MY_MEMBERSHIPS = "{ me { memberships { nodes { role organization { name slug } } } } }"


def public_error(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a client can compare between two refusals: message and extensions."""
    (error,) = errors_of(body)
    return error["message"], error["extensions"]


async def create(api: Api, token: str, name: str, slug: str | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {"input": {"name": name}}
    if slug is not None:
        variables["input"]["slug"] = slug
    return await api.gql(CREATE_ORG, variables, token=token, **kwargs)


# createOrganization

async def test_creator_becomes_owner_and_the_creation_is_logged(api: Api,
                                                                settings: Settings) -> None:
    ada = await signed_in(settings, "ada@example.com", "Ada Lovelace")
    body = await create(api, ada.token, "  Analytical   Engines ", "engines",
                        headers={"user-agent": "relleks-tests/1.0"})
    assert "errors" not in body, body
    created = body["data"]["createOrganization"]["organization"]
    assert created["name"] == "Analytical Engines"  # whitespace collapsed
    assert created["slug"] == "engines"
    assert created["viewerRole"] == "OWNER"

    org = await Organization.get(slug="engines")
    assert created["id"] == gid("Organization", org.id)
    (membership,) = await Membership._scoped(org.id)
    assert membership.user_id == ada.user.id
    assert membership.role is Role.OWNER
    (event,) = await events_of(org)
    assert event.action == "organization.created"
    assert event.actor_id == ada.user.id
    assert event.target_type == "organization"
    assert event.target_id == org.id
    assert event.summary == {"name": "Analytical Engines", "slug": "engines"}
    assert event.ip == "203.0.113.7"
    assert event.user_agent == "relleks-tests/1.0"


@pytest.mark.parametrize(("name", "slug"), [
    ("Acme Corp", "acme-corp"),
    ("Café Zürich", "cafe-zurich"),
    ("Ünïcödé  &  Sons!", "unicode-sons"),
    ("日本語チーム", "org"),
    ("AB", "ab-org"),
    ("Admin", "admin-org"),
    ("API", "api-org"),
    ("x" * 60, "x" * 48),
])
async def test_slug_is_derived_from_the_name(api: Api, settings: Settings, name: str,
                                             slug: str) -> None:
    ada = await signed_in(settings, "ada@example.com")
    body = await create(api, ada.token, name)
    assert "errors" not in body, body
    assert body["data"]["createOrganization"]["organization"]["slug"] == slug
    names = await Organization.filter(slug=slug).values_list("name", flat=True)
    assert names == [" ".join(name.split())]


async def test_derived_slugs_get_a_suffix_when_taken(api: Api, settings: Settings) -> None:
    ada = await signed_in(settings, "ada@example.com")
    slugs = []
    for _ in range(3):
        body = await create(api, ada.token, "Acme")
        assert "errors" not in body, body
        slugs.append(body["data"]["createOrganization"]["organization"]["slug"])
    assert slugs == ["acme", "acme-2", "acme-3"]
    for name in ("日本語チーム", "中文团队"):
        body = await create(api, ada.token, name)
        slugs.append(body["data"]["createOrganization"]["organization"]["slug"])
    assert slugs[3:] == ["org", "org-2"]
    assert await Organization.all().count() == 5
    assert await Membership.of_user(ada.user.id).filter(role=Role.OWNER).count() == 5


async def test_a_long_derived_slug_stays_within_48_characters_with_its_suffix(
        api: Api, settings: Settings) -> None:
    ada = await signed_in(settings, "ada@example.com")
    name = "Long " * 20
    first = (await create(api, ada.token, name))["data"]["createOrganization"]["organization"][
        "slug"]
    second = (await create(api, ada.token, name))["data"]["createOrganization"]["organization"][
        "slug"]
    third = (await create(api, ada.token, name))["data"]["createOrganization"]["organization"][
        "slug"]
    assert len(first) <= 48 and len(second) <= 48 and len(third) <= 48
    assert second.endswith("-2") and third.endswith("-3")
    assert len({first, second, third}) == 3


@pytest.mark.parametrize("slug", [
    "ab", "x" * 49, "Acme", "acme_corp", "acme corp", "-acme", "acme-", "ac--me", "café",
    "api", "www", "admin",
])
async def test_explicit_slug_is_validated(api: Api, settings: Settings, slug: str) -> None:
    ada = await signed_in(settings, "ada@example.com")
    body = await create(api, ada.token, "Acme", slug)
    assert error_code(body) == "BAD_USER_INPUT"
    (error,) = errors_of(body)
    assert set(error["extensions"]["fields"]) == {"slug"}
    assert await Organization.all().count() == 0
    assert await Membership.of_user(ada.user.id).count() == 0


@pytest.mark.parametrize("slug", ["abc", "x" * 48, "acme-2", "a1-b2-c3"])
async def test_valid_explicit_slugs_are_accepted(api: Api, settings: Settings, slug: str) -> None:
    ada = await signed_in(settings, "ada@example.com")
    body = await create(api, ada.token, "Acme", slug)
    assert body["data"]["createOrganization"]["organization"]["slug"] == slug
    assert await Organization.filter(slug=slug).exists()


@pytest.mark.parametrize(("name", "problem"), [("   ", "must not be empty"),
                                               ("n" * 121, "at most 120")])
async def test_name_is_validated(api: Api, settings: Settings, name: str, problem: str) -> None:
    ada = await signed_in(settings, "ada@example.com")
    body = await create(api, ada.token, name, "acme")
    assert error_code(body) == "BAD_USER_INPUT"
    assert problem in errors_of(body)[0]["extensions"]["fields"]["name"]
    assert await Organization.all().count() == 0


REFUSED_NAMES = [
    ("URGENT: mailbox closing, sign in at https://evil.example/login", "web address"),
    ("Acme\u001b[31m\u0007\u0000 Corp", "control character"),
    ("evil.example/login", "web address"),
    ("Visit www.acme now", "web address"),
    ("Acme x.ai", "web address"),
    ("\uff45\uff56\uff49\uff4c\uff0e\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45",
     "web address"),  # full-width evil.example
    ("ftp:\\\\files", "web address"),
    ("Login at 10.0.0.1", "web address"),
    ("Acme \u202eproC", "control characters"),  # right-to-left override
    ("Acme \u2066Corp\u2069", "control characters"),  # isolate
    ("Ac\u200bme", "control characters"),  # zero-width space
    ("Acme\u0085Corp", "control characters"),  # C1 next line
    ("Acme\u200dCorp", "control characters"),  # zero-width joiner
]
ALLOWED_NAMES = ["Acme Inc.", "A.C.M.E.", "Smith & Sons", "\u00dctopia GmbH", "J.P. Morgan",
                 "Sportverein e.V.", "Web 2.0 Labs", "O'Brien & Co. KG",
                 "\u682a\u5f0f\u4f1a\u793e \u6771\u4eac"]


@pytest.mark.parametrize(("name", "problem"), REFUSED_NAMES)
async def test_names_that_read_as_addresses_or_hide_characters_are_refused(
        api: Api, team: Team, name: str, problem: str) -> None:
    ada = team.people[Role.OWNER]
    body = await create(api, ada.token, name, "other")
    assert error_code(body) == "BAD_USER_INPUT", body
    assert problem in errors_of(body)[0]["extensions"]["fields"]["name"]
    assert await Organization.all().count() == 1
    body = await update(api, ada.token, team.org_id, name=name)
    assert error_code(body) == "BAD_USER_INPUT", body
    assert problem in errors_of(body)[0]["extensions"]["fields"]["name"]
    assert (await Organization.get(id=team.org.id)).name == "Team acme"


@pytest.mark.parametrize("name", ALLOWED_NAMES)
async def test_ordinary_names_with_dots_and_letters_of_any_language_are_allowed(
        api: Api, team: Team, name: str) -> None:
    owner = team.people[Role.OWNER]
    body = await create(api, owner.token, name, "other")
    assert body["data"]["createOrganization"]["organization"]["name"] == name, body
    body = await update(api, owner.token, team.org_id, name=f"  {name}\t")
    assert body["data"]["updateOrganization"]["organization"]["name"] == name, body
    assert (await Organization.get(id=team.org.id)).name == name


async def test_a_taken_explicit_slug_is_a_conflict_and_writes_nothing(
        api: Api, settings: Settings, team: Team) -> None:
    ada = await signed_in(settings, "ada@example.com")
    before = await ActivityEvent._scoped(team.org.id).count()
    body = await create(api, ada.token, "Another Acme", "acme")
    assert error_code(body) == "CONFLICT"
    assert errors_of(body)[0]["extensions"]["field"] == "slug"
    assert await Organization.all().count() == 1
    assert await Membership.of_user(ada.user.id).count() == 0
    assert await ActivityEvent._scoped(team.org.id).count() == before


async def test_creating_needs_a_session(api: Api) -> None:
    body = await create(api, "", "Acme", "acme")
    assert error_code(body) == "UNAUTHENTICATED"
    assert await Organization.all().count() == 0


# organization(slug:) and node(id:)

@pytest.mark.parametrize("role", list(Role))
async def test_every_member_finds_the_org_by_slug_and_id(api: Api, team: Team,
                                                         role: Role) -> None:
    token = team.people[role].token
    body = await api.gql(ORG_BY_SLUG, {"slug": "acme"}, token=token)
    assert body["data"]["organization"] == {"id": team.org_id, "name": "Team acme",
                                            "slug": "acme", "viewerRole": role.name}
    body = await api.gql(NODE, {"id": team.org_id}, token=token)
    assert body["data"]["node"] == {"id": team.org_id, "name": "Team acme", "slug": "acme"}
    body = await api.gql(ORG_BY_SLUG, {"slug": "ACME"}, token=token)
    assert body["data"]["organization"]["slug"] == "acme"


async def test_to_outsiders_an_org_does_not_exist(api: Api, settings: Settings,
                                                  team: Team) -> None:
    outsider = await signed_in(settings, "eve@example.com", "Eve Outsider")
    for token in (outsider.token, None):
        existing = await api.gql(ORG_BY_SLUG, {"slug": "acme"}, token=token)
        missing = await api.gql(ORG_BY_SLUG, {"slug": "no-such-org"}, token=token)
        assert error_code(existing) == "NOT_FOUND"
        assert public_error(existing) == public_error(missing)
        assert existing["data"] == missing["data"] == {"organization": None}

        existing = await api.gql(NODE, {"id": team.org_id}, token=token)
        missing = await api.gql(NODE, {"id": gid("Organization", uuid.uuid4())}, token=token)
        malformed = await api.gql(NODE, {"id": gid("Organization", "not-a-uuid")}, token=token)
        assert error_code(existing) == "NOT_FOUND"
        assert public_error(existing) == public_error(missing) == public_error(malformed)
        assert "acme" not in str(existing)


async def test_an_expired_or_forged_token_is_unauthenticated_not_not_found(
        api: Api, team: Team) -> None:
    body = await api.gql(ORG_BY_SLUG, {"slug": "acme"}, token="not-a-jwt")
    assert error_code(body) == "UNAUTHENTICATED"
    body = await api.gql(ORG_BY_SLUG, {"slug": "no-such-org"}, token="not-a-jwt")
    assert error_code(body) == "UNAUTHENTICATED"


async def test_me_lists_my_memberships_with_roles(api: Api, settings: Settings,
                                                  team: Team) -> None:
    admin = team.people[Role.ADMIN]
    body = await create(api, admin.token, "Side Project", "side-project")
    assert "errors" not in body, body
    body = await api.gql(MY_MEMBERSHIPS, token=admin.token)
    assert body["data"]["me"]["memberships"]["nodes"] == [
        {"role": "ADMIN", "organization": {"name": "Team acme", "slug": "acme"}},
        {"role": "OWNER", "organization": {"name": "Side Project", "slug": "side-project"}},
    ]
    loner = await signed_in(settings, "loner@example.com")
    body = await api.gql(MY_MEMBERSHIPS, token=loner.token)
    assert body["data"]["me"]["memberships"]["nodes"] == []


async def test_other_users_memberships_are_not_shown(api: Api, team: Team) -> None:
    # A member is a `User`, which has no memberships (yours included): only `me` (`Me`) has.
    body = await api.gql("""query { organization(slug: "acme") { members(first: 10) {
        nodes { role user { email memberships { totalCount nodes { role } } } } } } }""",
                         token=team.people[Role.VIEWER].token)
    assert errors_of(body)[0]["message"].startswith(
        "Cannot query field 'memberships' on type 'User'.")
    body = await api.gql("{ me { memberships { totalCount nodes { role } } } }",
                         token=team.people[Role.VIEWER].token)
    assert body["data"]["me"]["memberships"] == {"totalCount": 1, "nodes": [{"role": "VIEWER"}]}


# updateOrganization

async def update(api: Api, token: str, org_id: str, **fields: Any) -> dict[str, Any]:
    return await api.gql(UPDATE_ORG, {"input": {"organizationId": org_id, **fields}},
                         token=token)


async def test_rename_keeps_the_slug_and_is_logged(api: Api, team: Team) -> None:
    admin = team.people[Role.ADMIN]
    body = await update(api, admin.token, team.org_id, name="Acme Rockets")
    assert body["data"]["updateOrganization"]["organization"] == {
        "id": team.org_id, "name": "Acme Rockets", "slug": "acme"}
    org = await Organization.get(id=team.org.id)
    assert (org.name, org.slug) == ("Acme Rockets", "acme")
    event = (await events_of(team.org))[-1]
    assert event.action == "organization.updated"
    assert event.actor_id == admin.user.id
    assert event.summary == {"name": ["Team acme", "Acme Rockets"]}


async def test_changing_the_slug_moves_the_org(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    body = await update(api, owner.token, team.org_id, slug="acme-rockets")
    assert body["data"]["updateOrganization"]["organization"] == {
        "id": team.org_id, "name": "Team acme", "slug": "acme-rockets"}
    assert error_code(await api.gql(ORG_BY_SLUG, {"slug": "acme"},
                                    token=owner.token)) == "NOT_FOUND"
    body = await api.gql(ORG_BY_SLUG, {"slug": "acme-rockets"}, token=owner.token)
    assert body["data"]["organization"]["id"] == team.org_id
    event = (await events_of(team.org))[-1]
    assert event.summary == {"slug": ["acme", "acme-rockets"]}


async def test_both_fields_at_once(api: Api, team: Team) -> None:
    body = await update(api, team.people[Role.OWNER].token, team.org_id, name="Rockets",
                        slug="rockets")
    assert body["data"]["updateOrganization"]["organization"]["name"] == "Rockets"
    org = await Organization.get(id=team.org.id)
    assert (org.name, org.slug) == ("Rockets", "rockets")
    event = (await events_of(team.org))[-1]
    assert event.summary == {"name": ["Team acme", "Rockets"], "slug": ["acme", "rockets"]}


async def test_absent_fields_and_same_values_change_nothing(api: Api, team: Team) -> None:
    before = len(await events_of(team.org))
    for fields in ({}, {"name": "Team acme"}, {"slug": "acme"}):
        body = await update(api, team.people[Role.OWNER].token, team.org_id, **fields)
        assert body["data"]["updateOrganization"]["organization"]["slug"] == "acme", body
    assert len(await events_of(team.org)) == before
    org = await Organization.get(id=team.org.id)
    assert (org.name, org.slug) == ("Team acme", "acme")


@pytest.mark.parametrize("field", ["name", "slug"])
async def test_null_is_refused_for_a_required_column(api: Api, team: Team, field: str) -> None:
    body = await update(api, team.people[Role.OWNER].token, team.org_id, **{field: None})
    assert error_code(body) == "BAD_USER_INPUT"
    assert field in errors_of(body)[0]["extensions"]["fields"]
    org = await Organization.get(id=team.org.id)
    assert (org.name, org.slug) == ("Team acme", "acme")


async def test_update_validates_and_refuses_a_taken_slug(api: Api, settings: Settings,
                                                         team: Team) -> None:
    token = team.people[Role.OWNER].token
    body = await update(api, token, team.org_id, slug="www")
    assert error_code(body) == "BAD_USER_INPUT"
    assert "slug" in errors_of(body)[0]["extensions"]["fields"]
    body = await update(api, token, team.org_id, name=" ")
    assert error_code(body) == "BAD_USER_INPUT"
    other = await signed_in(settings, "other@example.com")
    assert "errors" not in await create(api, other.token, "Globex", "globex")
    before = len(await events_of(team.org))
    body = await update(api, token, team.org_id, name="Renamed", slug="globex")
    assert error_code(body) == "CONFLICT"
    assert errors_of(body)[0]["extensions"]["field"] == "slug"
    org = await Organization.get(id=team.org.id)
    assert (org.name, org.slug) == ("Team acme", "acme")  # neither field changed
    assert len(await events_of(team.org)) == before
