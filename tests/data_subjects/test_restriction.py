"""restrictProcessing over HTTP: the flag and its log, and that a restricted lead stays stored
and visible to the org's people, who cannot change it (only delete it) until the restriction is
lifted, and is left out of CSV exports, of everything an API token or a partner app (OAuth grant)
reads or changes, and of imports."""

from __future__ import annotations

import httpx

from auth.permissions import TOKEN_SCOPES
from keystore.fields import blind_index
from models.activity import ActivityEvent
from models.leads import Lead, Note
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.data_subjects.conftest import GRACE, RESTRICT, gql_ok, make_subject
from tests.leads.conftest import db_id, table_state
from tests.leads.test_export import EXPORT, rows
from tests.leads.test_import import import_csv, result
from tests.oauth.conftest import partner, register, tokens_for  # noqa: F401
from tests.orgs.conftest import Person, Team
from tests.tokens.conftest import make_token

TOKEN_READS = """query($slug: String!, $search: String) {
  organization(slug: $slug) { leads(first: 10, filter: {search: $search}) {
    totalCount nodes { id name email } } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def restrict(api: Api, team: Team, lead: str, restricted: bool = True,
                   role: Role = Role.ADMIN) -> dict:
    data = await gql_ok(api, RESTRICT, {"id": lead, "restricted": restricted},
                        team.people[role].token)
    return data["restrictProcessing"]["lead"]


async def test_restricting_flags_the_lead_and_logs_it(api: Api, team: Team) -> None:
    subject = await make_subject(api, team)
    lead = subject.leads[0]
    flagged = await restrict(api, team, lead)
    assert flagged["restricted"] is True and flagged["restrictedAt"]
    again = await restrict(api, team, lead, role=Role.OWNER)  # no change, no second event
    assert again == flagged
    row = (await Lead._scoped(team.org.id).filter(id=db_id(lead)))[0]
    assert row.restricted and row.restricted_at is not None
    # Its people still see it, flagged.
    body = await api.gql("query($id: ID!) { lead(id: $id) { name email restricted } }",
                         {"id": lead}, token=team.people[Role.VIEWER].token)
    assert body["data"]["lead"] == {"name": "Grace Hopper", "email": GRACE, "restricted": True}
    lifted = await restrict(api, team, lead, restricted=False)
    assert lifted == {"id": lead, "restricted": False, "restrictedAt": None}
    events = await ActivityEvent._scoped(team.org.id).filter(target_id=db_id(lead)) \
        .order_by("created_at")
    assert [e.action for e in events][-2:] == ["lead.restricted", "lead.unrestricted"]
    assert [e.actor_id for e in events][-2:] == [team.people[Role.ADMIN].user.id] * 2


async def test_a_restricted_lead_is_left_out_of_csv_exports(api: Api, team: Team) -> None:
    subject = await make_subject(api, team)
    await restrict(api, team, subject.leads[0])
    body = await api.gql(EXPORT, {"organizationId": team.org_id},
                         token=team.people[Role.MEMBER].token)
    exported = body["data"]["exportLeads"]["leadExport"]
    assert exported["rowCount"] == 2
    assert sorted(r["name"] for r in rows(exported)) == ["Alan Turing", "G. Hopper"]
    await restrict(api, team, subject.leads[0], restricted=False)
    body = await api.gql(EXPORT, {"organizationId": team.org_id},
                         token=team.people[Role.MEMBER].token)
    assert body["data"]["exportLeads"]["leadExport"]["rowCount"] == 3


async def test_an_api_token_cannot_see_or_touch_a_restricted_lead(api: Api, team: Team) -> None:
    subject = await make_subject(api, team)
    restricted, other = subject.leads[0], subject.leads[1]
    await restrict(api, team, restricted)
    token = (await make_token(team, [s.value for s in TOKEN_SCOPES])).secret
    variables = {"slug": team.slug}
    body = await api.gql(TOKEN_READS, variables, token=token)
    assert "errors" not in body, body
    leads = body["data"]["organization"]["leads"]
    assert leads["totalCount"] == 2
    assert {n["id"] for n in leads["nodes"]} == {other, subject.other_lead}
    assert error_code(await api.gql(NODE, {"id": restricted}, token=token)) == "NOT_FOUND"
    searched = await api.gql(TOKEN_READS, {**variables, "search": GRACE}, token=token)
    assert searched["data"]["organization"]["leads"]["nodes"] == [
        {"id": other, "name": "G. Hopper", "email": GRACE}]
    # Reads and writes by id answer as if the lead did not exist.
    before = await table_state(team.org)
    for document, args in (
            ("query($id: ID!) { lead(id: $id) { name } }", {"id": restricted}),
            ("mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id } } }",
             {"i": {"id": restricted, "name": "Changed"}}),
            ("mutation($i: AssignLeadInput!) { assignLead(input: $i) { lead { id } } }",
             {"i": {"id": restricted, "ownerId": None}}),
            ("mutation($id: ID!) { deleteLead(input: {id: $id}) { "
             "deletedId } }", {"id": restricted}),
            ("mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }",
             {"i": {"leadId": restricted, "body": "From a script"}}),
            ("mutation($i: UpdateNoteInput!) { updateNote(input: $i) { note { id } } }",
             {"i": {"id": subject.notes[0], "body": "Changed"}}),
            ("mutation($id: ID!) { deleteNote(input: {id: $id}) { "
             "deletedId } }", {"id": subject.notes[0]})):
        body = await api.gql(document, args, token=token)
        assert error_code(body) == "NOT_FOUND", (document, body)
    assert await table_state(team.org) == before
    # The token still works on the other leads, and a person still reads the restricted one.
    body = await api.gql("query($id: ID!) { lead(id: $id) { name } }", {"id": other},
                         token=token)
    assert body["data"]["lead"] == {"name": "G. Hopper"}
    body = await api.gql(TOKEN_READS, variables, token=team.people[Role.VIEWER].token)
    assert body["data"]["organization"]["leads"]["totalCount"] == 3
    body = await api.gql(NODE, {"id": restricted}, token=team.people[Role.VIEWER].token)
    assert body["data"]["node"] == {"id": restricted}
    # Lifted: the token sees it again.
    await restrict(api, team, restricted, restricted=False)
    body = await api.gql(TOKEN_READS, variables, token=token)
    assert body["data"]["organization"]["leads"]["totalCount"] == 3
    assert (await api.gql(NODE, {"id": restricted}, token=token))["data"]["node"] == {
        "id": restricted}


PARTNER_READS = """query($slug: String!) {
  organization(slug: $slug) { leads(first: 10) {
    totalCount nodes { id name notes(first: 10) { totalCount nodes { id body } } } } }
}"""


async def test_a_partner_app_cannot_see_or_touch_a_restricted_lead(
        api: Api, http: httpx.AsyncClient, team: Team, partner: Person) -> None:  # noqa: F811
    """An OAuth grant is a credential like an API token: the restricted lead and its notes do
    not exist for it, in the list, the search, by id and through `node`."""
    subject = await make_subject(api, team)
    restricted, other = subject.leads[0], subject.leads[1]
    await restrict(api, team, restricted)
    scopes = ["org:read", "leads:read", "leads:write", "leads:delete", "notes:moderate"]
    app = await register(api, partner, scopes=scopes)
    grant = (await tokens_for(api, http, app, team, scope=" ".join(scopes)))["access_token"]
    variables = {"slug": team.slug}
    body = await api.gql(PARTNER_READS, variables, token=grant)
    assert "errors" not in body, body
    leads = body["data"]["organization"]["leads"]
    assert leads["totalCount"] == 2
    assert {n["id"] for n in leads["nodes"]} == {other, subject.other_lead}
    seen_notes = {note["id"] for n in leads["nodes"] for note in n["notes"]["nodes"]}
    assert subject.notes[0] not in seen_notes and subject.notes[1] in seen_notes
    searched = await api.gql(TOKEN_READS, {**variables, "search": GRACE}, token=grant)
    assert searched["data"]["organization"]["leads"] == {"totalCount": 1, "nodes": [
        {"id": other, "name": "G. Hopper", "email": GRACE}]}
    assert error_code(await api.gql(NODE, {"id": restricted}, token=grant)) == "NOT_FOUND"
    before = await table_state(team.org)
    for document, args in (
            ("query($id: ID!) { lead(id: $id) { name notes { nodes { body } } } }",
             {"id": restricted}),
            ("mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id } } }",
             {"i": {"id": restricted, "name": "Changed"}}),
            ("mutation($id: ID!) { deleteLead(input: {id: $id}) { "
             "deletedId } }", {"id": restricted}),
            ("mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }",
             {"i": {"leadId": restricted, "body": "From a partner"}}),
            ("mutation($i: UpdateNoteInput!) { updateNote(input: $i) { note { id } } }",
             {"i": {"id": subject.notes[0], "body": "Changed"}}),
            ("mutation($id: ID!) { deleteNote(input: {id: $id}) { "
             "deletedId } }", {"id": subject.notes[0]})):
        body = await api.gql(document, args, token=grant)
        assert error_code(body) == "NOT_FOUND", (document, body)
    assert await table_state(team.org) == before
    # Lifted: the partner app sees the lead and its note again.
    await restrict(api, team, restricted, restricted=False)
    body = await api.gql("query($id: ID!) { lead(id: $id) { name notes { nodes { id } } } }",
                         {"id": restricted}, token=grant)
    assert body["data"]["lead"] == {"name": "Grace Hopper",
                                    "notes": {"nodes": [{"id": subject.notes[0]}]}}
    body = await api.gql(PARTNER_READS, variables, token=grant)
    assert body["data"]["organization"]["leads"]["totalCount"] == 3


async def test_people_cannot_change_a_restricted_lead_until_it_is_lifted(api: Api,
                                                                        team: Team) -> None:
    subject = await make_subject(api, team)
    restricted, note = subject.leads[0], subject.notes[0]
    await restrict(api, team, restricted)
    owner = team.people[Role.OWNER]  # the org's strongest role is refused alike
    changes = (
        ("mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id } } }",
         {"i": {"id": restricted, "name": "Changed"}}),
        ("mutation($i: AssignLeadInput!) { assignLead(input: $i) { lead { id } } }",
         {"i": {"id": restricted, "ownerId": None}}),
        ("mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }",
         {"i": {"leadId": restricted, "body": "Called again"}}),
        ("mutation($i: UpdateNoteInput!) { updateNote(input: $i) { note { id } } }",
         {"i": {"id": note, "body": "Changed"}}))
    before = await table_state(team.org)
    for document, args in changes:
        body = await api.gql(document, args, token=owner.token)
        [error] = errors_of(body)
        assert error["extensions"]["code"] == "CONFLICT", (document, body)
        assert error["extensions"]["reason"] == "PROCESSING_RESTRICTED"
        assert "restrictProcessing" in error["message"]
    assert await table_state(team.org) == before

    # Lifted: every change goes through again.
    await restrict(api, team, restricted, restricted=False)
    for document, args in changes:
        body = await api.gql(document, args, token=owner.token)
        assert "errors" not in body, (document, body)
    assert (await Lead._scoped(team.org.id).get(id=db_id(restricted))).name == "Changed"
    assert (await Note._scoped(team.org.id).get(id=db_id(note))).body == "Changed"


async def test_a_restricted_lead_and_its_notes_can_still_be_deleted(api: Api,
                                                                    team: Team) -> None:
    subject = await make_subject(api, team)
    restricted = subject.leads[0]
    await restrict(api, team, restricted)
    admin = team.people[Role.ADMIN].token
    await gql_ok(api, "mutation($id: ID!) { deleteNote(input: {id: $id}) { "
                      "deletedId } }", {"id": subject.notes[0]},
                 admin)
    await gql_ok(api, "mutation($id: ID!) { deleteLead(input: {id: $id}) { "
                      "deletedId } }", {"id": restricted}, admin)
    assert not await Lead._scoped(team.org.id).filter(id=db_id(restricted)).exists()
    assert not await Note._scoped(team.org.id).filter(id=db_id(subject.notes[0])).exists()


async def test_an_import_skips_rows_with_the_email_of_a_restricted_lead(
        api: Api, http: httpx.AsyncClient, team: Team) -> None:
    subject = await make_subject(api, team)
    await restrict(api, team, subject.leads[0])
    await restrict(api, team, subject.leads[1])
    csv = ("name,email\r\n"
           f"Grace Again,{GRACE.upper()}\r\n"
           "Alan Again,alan@example.com\r\n"
           "Brand New,new@example.com\r\n")
    dry = result(await import_csv(http, team, csv, dry_run=True))
    assert dry["imported"] == 2
    done = result(await import_csv(http, team, csv))
    assert done["imported"] == 2
    assert done["errors"] == [{"line": 2, "field": "email", "message": (
        "is the email of a lead whose processing is restricted: not imported")}]
    grace = await blind_index(team.org.id, "email", GRACE)
    names = await Lead._scoped(team.org.id).filter(email_bidx=grace).values_list("name",
                                                                                flat=True)
    assert sorted(names) == ["G. Hopper", "Grace Hopper"]  # no fresh, unrestricted copy
    assert await Lead._scoped(team.org.id).filter(name="Brand New").count() == 1


async def test_only_admins_and_owners_of_the_org_may_restrict(api: Api, team: Team,
                                                              rival: Team) -> None:
    subject = await make_subject(api, team)
    variables = {"id": subject.leads[0], "restricted": True}
    for role in (Role.MEMBER, Role.VIEWER):
        body = await api.gql(RESTRICT, variables, token=team.people[role].token)
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "privacy:manage"}
    for outsider in (rival.people[Role.OWNER].token, None):
        body = await api.gql(RESTRICT, variables, token=outsider)
        assert error_code(body) == "NOT_FOUND"
    token = await make_token(team, [s.value for s in TOKEN_SCOPES])
    body = await api.gql(RESTRICT, variables, token=token.secret)
    assert error_code(body) == "FORBIDDEN"
    unknown = await api.gql(RESTRICT, {"id": subject.notes[0], "restricted": True},
                            token=team.people[Role.OWNER].token)
    assert error_code(unknown) == "NOT_FOUND"
    assert not await Lead._scoped(team.org.id).filter(restricted=True).exists()
    assert await Note._scoped(team.org.id).count() == 3
