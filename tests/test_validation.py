"""One set of input rules (`core/validation.py`), over HTTP: names, single-line text and note bodies
refuse the same characters the same way wherever they are typed; every bad field of an input
comes back at once in `extensions.fields`; and nothing is written when an input is refused.

The documents select only `__typename` of what a mutation returns: these tests are about the
refusal, and the payload of each mutation is tested with its domain.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import BadUserInput
from core.settings import Settings
from core.validation import Checks, validate
from models.accounts import SignUpRequest, User
from models.leads import Lead, Note
from models.oauth import OAuthApp
from models.orgs import Invitation, Organization, Role
from models.tokens import ApiToken
from tests.conftest import SIGN_UP_SUBJECT, STRONG_PASSWORD, Api, errors_of
from tests.orgs.conftest import Team, gid, make_team

SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }"
CREATE_ORG = ("mutation($i: CreateOrganizationInput!) "
              "{ createOrganization(input: $i) { __typename } }")
UPDATE_PROFILE = ("mutation($i: UpdateProfileInput!) "
                  "{ updateProfile(input: $i) { __typename } }")
CHANGE_PASSWORD = ("mutation($i: ChangePasswordInput!) "
                   "{ changePassword(input: $i) { __typename } }")
CREATE_LEAD = "mutation($i: CreateLeadInput!) { createLead(input: $i) { __typename } }"
UPDATE_LEAD = "mutation($i: UpdateLeadInput!) { updateLead(input: $i) { __typename } }"
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { __typename } }"
CREATE_TOKEN = ("mutation($i: CreateApiTokenInput!) "
                "{ createApiToken(input: $i) { __typename } }")
REGISTER_APP = ("mutation($i: RegisterOAuthAppInput!) "
                "{ registerOAuthApp(input: $i) { __typename } }")
INVITE = "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { __typename } }"

REFUSED = {
    "NUL": "Ada\u0000Lovelace",
    "bell (U+0007)": "Ada\u0007Lovelace",
    "right-to-left override (U+202E)": "Ada \u202eecalevoL",
    "zero-width space (U+200B)": "Ada\u200bLovelace",
    "C1 next line (U+0085)": "Ada\u0085Lovelace",
    "byte order mark (U+FEFF)": "\ufeffAda Lovelace",
}


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def lead(team: Team) -> Lead:
    return await Lead.create(organization_id=team.org.id, name="Grace Hopper")


def owner(team: Team) -> str:
    return team.people[Role.OWNER].token


def sign_up_input(**fields: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "password": STRONG_PASSWORD, "name": "Ada Lovelace",
            "birthDate": "1990-05-17", "acceptTerms": True, **fields}


def refusal(body: dict[str, Any]) -> dict[str, str]:
    """The one BAD_USER_INPUT error of a refused mutation: its `extensions.fields`."""
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert body.get("data") is None, body
    return error["extensions"]["fields"]


async def state() -> dict[str, Any]:
    """Every row a refused input could have written."""
    orgs = list(await Organization.all().values_list("id", flat=True))
    return {
        "users": sorted(await User.all().values_list("id", "name", "password_hash")),
        "sign_ups": await SignUpRequest.all().count(),
        "orgs": sorted(await Organization.all().values_list("id", "name", "slug")),
        "leads": sorted(map(tuple, await Lead._scoped(orgs).values_list(
            "id", "name", "company", "email", "phone", "updated_at"))),
        "notes": await Note._scoped(orgs).count(),
        "tokens": await ApiToken._scoped(orgs).count(),
        "apps": await OAuthApp.all().count(),
        "invitations": await Invitation._scoped(orgs).count(),
    }


async def attempt_with_text(api: Api, team: Team, lead: Lead, where: str, text: str
                            ) -> tuple[str, dict[str, Any]]:
    """Type `text` into one text field of one mutation; the field's input path and the body."""
    org = team.org_id
    if where == "signUp.name":
        return "name", await api.gql(SIGN_UP, {"i": sign_up_input(name=text)})
    if where == "createOrganization.name":
        return "name", await api.gql(CREATE_ORG, {"i": {"name": text}}, token=owner(team))
    if where == "updateProfile.name":
        return "name", await api.gql(UPDATE_PROFILE, {"i": {"name": text}}, token=owner(team))
    if where == "createLead.name":
        return "name", await api.gql(CREATE_LEAD, {"i": {"organizationId": org, "name": text}},
                                     token=owner(team))
    if where == "createLead.company":
        return "company", await api.gql(CREATE_LEAD, {"i": {
            "organizationId": org, "name": "Grace Hopper", "company": text}}, token=owner(team))
    if where == "createLead.address.city":
        return "address.city", await api.gql(CREATE_LEAD, {"i": {
            "organizationId": org, "name": "Grace Hopper", "address": {"city": text}}},
            token=owner(team))
    if where == "createLead.tags":
        return "tags", await api.gql(CREATE_LEAD, {"i": {
            "organizationId": org, "name": "Grace Hopper", "tags": [text]}}, token=owner(team))
    if where == "updateLead.title":
        return "title", await api.gql(UPDATE_LEAD, {"i": {"id": gid("Lead", lead.id),
                                                          "title": text}}, token=owner(team))
    if where == "addNote.body":
        return "body", await api.gql(ADD_NOTE, {"i": {"leadId": gid("Lead", lead.id),
                                                      "body": f"First line\n{text}"}},
                                     token=owner(team))
    if where == "createApiToken.name":
        return "name", await api.gql(CREATE_TOKEN, {"i": {
            "organizationId": org, "name": text, "scopes": ["leads:read"]}}, token=owner(team))
    assert where == "registerOAuthApp.name"
    return "name", await api.gql(REGISTER_APP, {"i": {
        "name": text, "redirectUris": ["https://partner.example.com/cb"],
        "scopes": ["leads:read"]}}, token=owner(team))


TEXT_FIELDS = ["signUp.name", "createOrganization.name", "updateProfile.name", "createLead.name",
               "createLead.company", "createLead.address.city", "createLead.tags",
               "updateLead.title", "addNote.body", "createApiToken.name",
               "registerOAuthApp.name"]


@pytest.mark.parametrize("character", list(REFUSED))
async def test_every_text_field_refuses_the_same_characters_the_same_way(
        api: Api, team: Team, lead: Lead, character: str) -> None:
    before = await state()
    problems = {}
    for where in TEXT_FIELDS:
        field, body = await attempt_with_text(api, team, lead, where, REFUSED[character])
        fields = refusal(body)
        assert set(fields) == {field}, (where, body)
        problems[where] = fields[field]
    # One rule, one wording, wherever the text is typed.
    assert len(set(problems.values())) == 1, problems
    assert "control character" in next(iter(problems.values()))
    assert await state() == before
    assert not api.inbox.to("ada@example.com", SIGN_UP_SUBJECT)  # type: ignore[union-attr]


async def test_names_collapse_whitespace_and_bodies_keep_their_lines(
        api: Api, team: Team, lead: Lead) -> None:
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id,
                                             "name": " Ada\t\n Lovelace ",
                                             "company": "  Analytical\r\nEngines  "}},
                         token=owner(team))
    assert "errors" not in body, body
    row = await Lead._scoped(team.org.id).filter(name="Ada Lovelace").get()
    assert row.company == "Analytical Engines"
    body = await api.gql(ADD_NOTE, {"i": {"leadId": gid("Lead", lead.id),
                                          "body": "  Called her.\n\n\tShe will write back.  "}},
                         token=owner(team))
    assert "errors" not in body, body
    (note,) = await Note._scoped(team.org.id)
    assert note.body == "Called her.\n\n\tShe will write back."


async def test_sign_up_reports_every_bad_field_at_once(api: Api) -> None:
    before = await state()
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    body = await api.gql(SIGN_UP, {"i": sign_up_input(
        email="not-an-email", password="short", name="Ada\u202e", birthDate=tomorrow,
        acceptTerms=False)})
    fields = refusal(body)
    assert set(fields) == {"email", "password", "name", "birthDate", "acceptTerms"}, fields
    assert "future" in fields["birthDate"] and "10 characters" in fields["password"]
    for field in fields:
        assert field in errors_of(body)[0]["message"]
    # Too young, and a password made of the name, with everything else right.
    young = date.today().replace(year=date.today().year - 10).isoformat()
    fields = refusal(await api.gql(SIGN_UP, {"i": sign_up_input(
        birthDate=young, password="ada lovelace ada lovelace")}))
    assert set(fields) == {"birthDate", "password"}, fields
    assert await state() == before
    assert not api.inbox.to("ada@example.com", SIGN_UP_SUBJECT)  # type: ignore[union-attr]


async def test_create_organization_reports_name_and_slug_at_once(api: Api, team: Team) -> None:
    before = await state()
    fields = refusal(await api.gql(CREATE_ORG, {"i": {"name": "Visit www.acme now",
                                                      "slug": "Not A Slug"}},
                                   token=owner(team)))
    assert set(fields) == {"name", "slug"}, fields
    fields = refusal(await api.gql(CREATE_ORG, {"i": {"name": "  ", "slug": "api"}},
                                   token=owner(team)))
    assert fields == {"name": "must not be empty", "slug": "`api` is reserved"}
    assert await state() == before


async def test_update_profile_and_change_password_report_every_bad_field(
        api: Api, team: Team) -> None:
    before = await state()
    fields = refusal(await api.gql(UPDATE_PROFILE, {"i": {"name": "x" * 201}}, token=owner(team)))
    assert fields == {"name": "must be at most 200 characters"}
    fields = refusal(await api.gql(CHANGE_PASSWORD, {"i": {"currentPassword": "wrong-one-1234",
                                                           "newPassword": "short"}},
                                   token=owner(team)))
    assert set(fields) == {"currentPassword", "newPassword"}, fields
    assert await state() == before


async def test_create_lead_and_update_lead_report_every_bad_field(
        api: Api, team: Team, lead: Lead) -> None:
    before = await state()
    fields = refusal(await api.gql(CREATE_LEAD, {"i": {
        "organizationId": team.org_id, "name": "Ada\u200b", "email": "nope",
        "phone": "+49 30 \u202e123", "company": "c" * 201, "title": "Count\u0007ess",
        "address": {"city": "\u0085", "postalCode": "9" * 21, "country": "Germany"},
        "tags": ["fine", "t" * 51]}}, token=owner(team)))
    assert set(fields) == {"name", "email", "phone", "company", "title", "address.city",
                           "address.postalCode", "address.country", "tags"}, fields
    fields = refusal(await api.gql(UPDATE_LEAD, {"i": {
        "id": gid("Lead", lead.id), "name": None, "email": "a@b@c", "phone": "12"}},
        token=owner(team)))
    assert set(fields) == {"name", "email", "phone"}, fields
    assert "null" in fields["name"]
    assert await state() == before


async def test_add_note_invite_member_token_and_app_report_every_bad_field(
        api: Api, team: Team, lead: Lead) -> None:
    before = await state()
    fields = refusal(await api.gql(ADD_NOTE, {"i": {"leadId": gid("Lead", lead.id),
                                                    "body": "x" * 10_001}}, token=owner(team)))
    assert fields == {"body": "must be at most 10,000 characters"}
    fields = refusal(await api.gql(INVITE, {"i": {"organizationId": team.org_id,
                                                  "email": "someone@\u200bexample.com",
                                                  "role": "VIEWER"}}, token=owner(team)))
    assert set(fields) == {"email"}, fields
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    fields = refusal(await api.gql(CREATE_TOKEN, {"i": {
        "organizationId": team.org_id, "name": "Zap\u202eier", "scopes": ["leads:fly"],
        "expiresAt": past}}, token=owner(team)))
    assert set(fields) == {"name", "scopes", "expiresAt"}, fields
    # A person-only scope is a bad scope too, reported with the other fields.
    fields = refusal(await api.gql(CREATE_TOKEN, {"i": {
        "organizationId": team.org_id, "name": " ", "scopes": ["tokens:write"]}},
        token=owner(team)))
    assert set(fields) == {"name", "scopes"}, fields
    fields = refusal(await api.gql(REGISTER_APP, {"i": {
        "name": "", "redirectUris": ["http://partner.example.com/cb"],
        "scopes": ["apps:authorize"]}}, token=owner(team)))
    assert set(fields) == {"name", "redirectUris", "scopes"}, fields
    fields = refusal(await api.gql(REGISTER_APP, {"i": {
        "name": "Zapier", "redirectUris": ["https://partner.example.com/c\nb"],
        "scopes": ["leads:read"]}}, token=owner(team)))
    assert set(fields) == {"redirectUris"}, fields
    assert await state() == before


@pytest.mark.no_db
def test_a_check_that_raises_joins_the_problems_found_before_it() -> None:
    def weak(password: str) -> None:
        raise BadUserInput.field("password", f"{password!r} is too easy to guess")

    with pytest.raises(BadUserInput) as caught, validate() as check:
        check.name("name", "  ", max_length=10)
        check.call(weak, "hunter2")
        check.email("email", "ada@example.com")  # a good value adds nothing
    assert caught.value.extensions["fields"] == {
        "name": "must not be empty", "password": "'hunter2' is too easy to guess"}
    # A BadUserInput raised in the block is merged with what was found before it, too.
    with pytest.raises(BadUserInput) as caught, validate() as check:
        check.slug("slug", "x")
        weak("letmein")
    assert set(caught.value.extensions["fields"]) == {"slug", "password"}
    assert "slug:" in caught.value.message and "password:" in caught.value.message


@pytest.mark.no_db
def test_the_rules_clean_what_they_accept() -> None:
    with validate() as check:
        assert check.name("name", " Ada \t Lovelace\n", max_length=20) == "Ada Lovelace"
        assert check.text("company", "   ", max_length=20) is None
        assert check.multiline("body", " a\r\n\tb ", max_length=20) == "a\r\n\tb"
        assert check.email("email", " Ada@Example.COM ") == "ada@example.com"
        assert check.phone("phone", "030 1234567", region="DE") == "+49301234567"
        assert check.country("country", " de ") == "DE"
        assert check.tags("tags", ["VIP", "vip ", " ", "Cold  lead"]) == ["vip", "cold lead"]
    check = Checks()
    check.multiline("body", "trailing bell\u0007", max_length=20)  # not trimmed away: refused
    check.text("city", "\u200b", max_length=20)  # invisible alone is no empty value
    assert set(check.problems) == {"body", "city"}


def test_only_validation_checks_an_email() -> None:
    """One email rule: `validation.Checks.email` is the only caller of the email_validator
    library; sign-in, social sign-in, invitations, data subjects and sign-up all go through it."""
    root = Path(__file__).resolve().parents[1]
    skipped = {".venv", ".git", "tests", "var", "__pycache__"}
    outside = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if skipped & set(relative.parts[:-1]) or relative.as_posix() == "core/validation.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            outside += [f"{path.relative_to(root)}:{node.lineno}" for name in names
                        if name.split(".")[0] == "email_validator"]
    assert outside == []
