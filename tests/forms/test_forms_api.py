"""Managing lead forms over GraphQL: create, read, update, pause, resume, delete; validation
with stable codes and field names; permissions by role and token scope; other orgs' forms are
NOT_FOUND; bounds on lists and texts; the plan's form limit."""

from __future__ import annotations

from typing import Any

import pytest

from models.activity import ActivityEvent
from models.billing import Plan
from models.forms import LeadForm
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.forms.conftest import CONSENT, make_form
from tests.orgs.conftest import Team, gid
from tests.tokens.conftest import make_token, subscribe

FORM_FIELDS = """
  id name publicId allowedOrigins consentText consentRequired doubleOptIn successMessage
  redirectUrl status hostedUrl embedSnippet createdAt updatedAt
  fields { name required }
  page { title intro logoUrl accentColor }
  createdBy { id }
"""
CREATE = f"""mutation($input: CreateLeadFormInput!) {{
  createLeadForm(input: $input) {{ leadForm {{ {FORM_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateLeadFormInput!) {{
  updateLeadForm(input: $input) {{ leadForm {{ {FORM_FIELDS} }} }} }}"""
PAUSE = "mutation($id: ID!) { pauseLeadForm(input: {id: $id}) { leadForm { id status } } }"
RESUME = "mutation($id: ID!) { resumeLeadForm(input: {id: $id}) { leadForm { id status } } }"
DELETE = "mutation($id: ID!) { deleteLeadForm(input: {id: $id}) { deletedId } }"
READ = f"query($id: ID!) {{ leadForm(id: $id) {{ {FORM_FIELDS} }} }}"
NODE = "query($id: ID!) { node(id: $id) { id ... on LeadForm { name } } }"
LIST = """query($slug: String!) { organization(slug: $slug) {
  leadForms(first: 10) { totalCount nodes { id name status } } } }"""

FIELDS = [{"name": "NAME", "required": True}, {"name": "EMAIL", "required": True},
          {"name": "MESSAGE"}]


def form_input(team: Team, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "organizationId": team.org_id, "name": "Contact us", "fields": FIELDS,
        "allowedOrigins": ["https://WWW.Acme.test/", "http://localhost:3000"],
        "consentText": CONSENT, "consentRequired": True, "doubleOptIn": False,
        "successMessage": "Thanks!", "redirectUrl": "https://www.acme.test/thanks?x=1",
        "page": {"title": "Talk to us", "intro": "We answer\nwithin a day.",
                 "logoUrl": "https://cdn.acme.test/logo.png", "accentColor": "#1A73E8"}}
    value.update(changes)
    return value


async def create(api: Api, team: Team, role: Role = Role.ADMIN, **changes: Any
                 ) -> dict[str, Any]:
    body = await api.gql(CREATE, {"input": form_input(team, **changes)},
                         token=team.people[role].token)
    assert "errors" not in body, body
    return body["data"]["createLeadForm"]["leadForm"]


async def test_create_and_read_a_form(api: Api, team: Team) -> None:
    form = await create(api, team)
    assert form["name"] == "Contact us" and form["status"] == "ACTIVE"
    assert form["allowedOrigins"] == ["https://www.acme.test", "http://localhost:3000"]
    assert form["fields"] == [{"name": "NAME", "required": True},
                              {"name": "EMAIL", "required": True},
                              {"name": "MESSAGE", "required": False}]
    assert form["page"] == {"title": "Talk to us", "intro": "We answer\nwithin a day.",
                            "logoUrl": "https://cdn.acme.test/logo.png",
                            "accentColor": "#1a73e8"}
    assert form["hostedUrl"] == f"http://testserver/f/{form['publicId']}"
    assert f'src="http://testserver/f/{form["publicId"]}"' in form["embedSnippet"]
    assert "<iframe" in form["embedSnippet"] and "POST JSON" in form["embedSnippet"]
    assert form["createdBy"]["id"] == team.people[Role.ADMIN].id
    member = team.people[Role.MEMBER].token
    body = await api.gql(READ, {"id": form["id"]}, token=member)
    assert body["data"]["leadForm"] == form
    body = await api.gql(NODE, {"id": form["id"]}, token=member)
    assert body["data"]["node"] == {"id": form["id"], "name": "Contact us"}
    body = await api.gql(LIST, {"slug": team.slug}, token=member)
    assert body["data"]["organization"]["leadForms"]["totalCount"] == 1
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="lead_form.created")
    assert event.summary == {"name": "Contact us"}


async def test_embed_snippet_escapes_the_title(api: Api, team: Team) -> None:
    form = await create(api, team, page={"title": 'Say "hi" <script>'})
    assert "<script>" not in form["embedSnippet"]
    assert "&quot;hi&quot; &lt;script&gt;" in form["embedSnippet"]


async def test_update_changes_only_what_is_given(api: Api, team: Team) -> None:
    form = await create(api, team)
    body = await api.gql(UPDATE, {"input": {"id": form["id"], "name": "Call back",
                                            "successMessage": None, "doubleOptIn": True}},
                         token=team.people[Role.ADMIN].token)
    updated = body["data"]["updateLeadForm"]["leadForm"]
    assert updated["name"] == "Call back" and updated["successMessage"] is None
    assert updated["doubleOptIn"] is True
    assert updated["consentText"] == CONSENT and updated["page"] == form["page"]
    events = await ActivityEvent._scoped(team.org.id).filter(action="lead_form.updated")
    assert [e.summary for e in events] == [
        {"fields": ["doubleOptIn", "name", "successMessage"]}]
    body = await api.gql(UPDATE, {"input": {"id": form["id"], "name": None}},
                         token=team.people[Role.ADMIN].token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["fields"] == {
        "name": "cannot be null: leave it out to keep it unchanged"}


async def test_pause_resume_and_delete(api: Api, team: Team) -> None:
    form = await create(api, team)
    token = team.people[Role.ADMIN].token
    body = await api.gql(PAUSE, {"id": form["id"]}, token=token)
    assert body["data"]["pauseLeadForm"]["leadForm"]["status"] == "PAUSED"
    body = await api.gql(RESUME, {"id": form["id"]}, token=token)
    assert body["data"]["resumeLeadForm"]["leadForm"]["status"] == "ACTIVE"
    body = await api.gql(DELETE, {"id": form["id"]}, token=token)
    assert body["data"]["deleteLeadForm"]["deletedId"] == form["id"]
    assert await LeadForm._scoped(team.org.id).count() == 0
    body = await api.gql(READ, {"id": form["id"]}, token=token)
    assert error_code(body) == "NOT_FOUND"
    actions = sorted(await ActivityEvent._scoped(team.org.id).filter(
        action__startswith="lead_form.").values_list("action", flat=True))
    assert actions == ["lead_form.created", "lead_form.deleted", "lead_form.paused",
                       "lead_form.resumed"]


@pytest.mark.parametrize(("changes", "fields"), [
    ({"name": "  "}, {"name": "must not be empty"}),
    ({"fields": [{"name": "NAME", "required": True}]}, {"fields": None}),
    ({"fields": [{"name": "EMAIL"}]}, {"fields": None}),
    ({"fields": [{"name": "EMAIL", "required": True}, {"name": "EMAIL", "required": True}]},
     {"fields": "`email` is given twice"}),
    ({"allowedOrigins": ["https://acme.test/path"]}, {"allowedOrigins": None}),
    ({"allowedOrigins": ["http://acme.test"]}, {"allowedOrigins": None}),
    ({"allowedOrigins": ["javascript:alert(1)"]}, {"allowedOrigins": None}),
    ({"allowedOrigins": ["https://user:pw@acme.test"]}, {"allowedOrigins": None}),
    ({"consentText": None}, {"consentRequired": "needs a consentText to show"}),
    ({"consentText": "x" * 2001}, {"consentText": "must be at most 2,000 characters"}),
    ({"redirectUrl": "https://evil.test/thanks"},
     {"redirectUrl": "must be on one of the form's allowedOrigins or one of the "
                     "organization's verified custom domains"}),
    ({"redirectUrl": "javascript:alert(1)"}, {"redirectUrl": None}),
    ({"page": {"logoUrl": "http://cdn.acme.test/logo.png"}},
     {"page.logoUrl": "must be an https:// URL"}),
    ({"page": {"accentColor": "red"}}, {"page.accentColor": None}),
    ({"page": {"title": "t" * 201}}, {"page.title": "must be at most 200 characters"}),
    ({"successMessage": "\u202e"}, {"successMessage": None}),
])
async def test_bad_input_names_each_bad_field(api: Api, team: Team, changes: dict[str, Any],
                                              fields: dict[str, str | None]) -> None:
    body = await api.gql(CREATE, {"input": form_input(team, **changes)},
                         token=team.people[Role.ADMIN].token)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    problems = error["extensions"]["fields"]
    assert set(problems) == set(fields)
    for field, problem in fields.items():
        if problem is not None:
            assert problems[field] == problem
    assert await LeadForm._scoped(team.org.id).count() == 0


async def test_list_arguments_are_bounded(api: Api, team: Team) -> None:
    origins = [f"https://s{n}.acme.test" for n in range(11)]
    body = await api.gql(CREATE, {"input": form_input(team, allowedOrigins=origins,
                                                      redirectUrl=None)},
                         token=team.people[Role.ADMIN].token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "limit": 10,
                                   "fields": {"allowedOrigins": "at most 10 items"}}
    fields = [{"name": "EMAIL", "required": True}] * 7
    body = await api.gql(CREATE, {"input": form_input(team, fields=fields)},
                         token=team.people[Role.ADMIN].token)
    assert errors_of(body)[0]["extensions"]["limit"] == 6
    body = await api.gql(CREATE, {"input": form_input(
        team, allowedOrigins=["https://" + "a" * 300 + ".test"], redirectUrl=None)},
        token=team.people[Role.ADMIN].token)
    assert "allowedOrigins" in errors_of(body)[0]["extensions"]["fields"]
    body = await api.gql(CREATE, {"input": form_input(
        team, redirectUrl="https://www.acme.test/" + "x" * 2100)},
        token=team.people[Role.ADMIN].token)
    assert errors_of(body)[0]["extensions"]["fields"] == {
        "redirectUrl": "must be at most 2,048 characters"}


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
async def test_below_admin_cannot_write(api: Api, team: Team, role: Role) -> None:
    body = await api.gql(CREATE, {"input": form_input(team)}, token=team.people[role].token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "FORBIDDEN", "permission": "forms:write"}
    form = await make_form(team.org)
    for document in (PAUSE, DELETE):
        body = await api.gql(document, {"id": gid("LeadForm", form.id)},
                             token=team.people[role].token)
        assert errors_of(body)[0]["extensions"]["code"] == "FORBIDDEN"


async def test_viewer_cannot_read_forms(api: Api, team: Team) -> None:
    form = await make_form(team.org)
    token = team.people[Role.VIEWER].token
    body = await api.gql(READ, {"id": gid("LeadForm", form.id)}, token=token)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN", "permission": "forms:read"}
    body = await api.gql(LIST, {"slug": team.slug}, token=token)
    assert error_code(body) == "FORBIDDEN"
    body = await api.gql(NODE, {"id": gid("LeadForm", form.id)}, token=token)
    assert error_code(body) == "NOT_FOUND"


async def test_another_orgs_form_is_not_found(api: Api, team: Team, rival: Team) -> None:
    form = await make_form(rival.org)
    token = team.people[Role.OWNER].token
    form_id = gid("LeadForm", form.id)
    for document, variables in ((READ, {"id": form_id}), (NODE, {"id": form_id}),
                                (PAUSE, {"id": form_id}), (DELETE, {"id": form_id}),
                                (UPDATE, {"input": {"id": form_id, "name": "Mine"}})):
        body = await api.gql(document, variables, token=token)
        assert error_code(body) == "NOT_FOUND", (document, body)
    body = await api.gql(CREATE, {"input": form_input(team, organizationId=rival.org_id)},
                         token=token)
    assert error_code(body) == "NOT_FOUND"
    assert (await LeadForm._scoped(rival.org.id).get()).name == "Contact us"


async def test_token_scopes(api: Api, team: Team) -> None:
    await subscribe(team.org)
    reader = await make_token(team, ["forms:read"])
    writer = await make_token(team, ["forms:read", "forms:write"])
    other = await make_token(team, ["leads:read"])
    body = await api.gql(CREATE, {"input": form_input(team)}, token=reader.secret)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN", "permission": "forms:write",
                                                "scope": "forms:write"}
    form = await create_with(api, team, writer.secret)
    body = await api.gql(READ, {"id": form["id"]}, token=reader.secret)
    assert body["data"]["leadForm"]["id"] == form["id"]
    body = await api.gql(READ, {"id": form["id"]}, token=other.secret)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN", "permission": "forms:read",
                                                "scope": "forms:read"}
    body = await api.gql("{ scopes { name } }")
    names = [s["name"] for s in body["data"]["scopes"]]
    assert "forms:read" in names and "forms:write" in names


async def create_with(api: Api, team: Team, token: str) -> dict[str, Any]:
    body = await api.gql(CREATE, {"input": form_input(team)}, token=token)
    assert "errors" not in body, body
    return body["data"]["createLeadForm"]["leadForm"]


async def test_plan_limits_the_number_of_forms(api: Api, team: Team) -> None:
    await create(api, team)
    await create(api, team)
    body = await api.gql(CREATE, {"input": form_input(team)},
                         token=team.people[Role.ADMIN].token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "PLAN_LIMIT", "limit": 2, "plan": "FREE",
                                   "resource": "lead_forms", "used": 2}
    await subscribe(team.org, Plan.PRO)
    await create(api, team)
    body = await api.gql("""query($slug: String!) { organization(slug: $slug) { billing {
        limits { leadForms formSubmissionsPerMonth } usage { leadForms formSubmissionsThisMonth }
    } } }""", {"slug": team.slug}, token=team.people[Role.OWNER].token)
    assert body["data"]["organization"]["billing"] == {
        "limits": {"leadForms": 20, "formSubmissionsPerMonth": 5000},
        "usage": {"leadForms": 3, "formSubmissionsThisMonth": 0}}


async def test_the_activity_log_names_forms_by_their_ids(api: Api, team: Team) -> None:
    form = await create(api, team)
    body = await api.gql("""query($slug: String!) { organization(slug: $slug) {
        activity(first: 5, filter: {action: LEAD_FORM_CREATED}) {
          nodes { action targetType targetId actorFormId actor { id } } } } }""",
                         {"slug": team.slug}, token=team.people[Role.OWNER].token)
    (event,) = body["data"]["organization"]["activity"]["nodes"]
    assert event == {"action": "LEAD_FORM_CREATED", "targetType": "lead_form",
                     "targetId": form["id"], "actorFormId": None,
                     "actor": {"id": team.people[Role.ADMIN].id}}
