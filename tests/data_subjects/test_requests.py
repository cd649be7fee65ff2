"""exportDataSubject and eraseDataSubject over HTTP: what they return and change, the log
entries without the email, that the erased email is nowhere in the database afterwards, and who
may ask (ADMIN+, people only, their own org only)."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import Tortoise

from auth.permissions import TOKEN_SCOPES
from core.settings import Settings
from keystore.fields import blind_index
from models.activity import ActivityEvent
from models.leads import Lead, LeadTag, Note
from models.orgs import Role
from resolvers.data_subjects import fingerprint
from tests.conftest import Api, error_code, errors_of
from tests.data_subjects.conftest import (
    ERASE,
    EXPORT,
    GRACE,
    RESTRICT,
    gql_ok,
    make_subject,
)
from tests.leads.conftest import create_lead, db_id, table_state
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token


async def test_an_admin_exports_everything_held_about_the_person(
        api: Api, team: Team, settings: Settings) -> None:
    subject = await make_subject(api, team)
    await gql_ok(api, RESTRICT, {"id": subject.leads[1], "restricted": True},
                 team.people[Role.ADMIN].token)
    data = await gql_ok(api, EXPORT, {"org": team.org_id, "email": f"  {GRACE.title()} "},
                        team.people[Role.ADMIN].token)
    result = data["exportDataSubject"]["dataSubjectExport"]
    assert (result["email"], result["leadCount"], result["noteCount"]) == (GRACE, 2, 2)
    document = result["document"]
    assert document["email"] == GRACE
    assert document["organization"] == {"id": team.org_id, "name": "Team acme"}
    assert document["formSubmissions"] == []
    leads = {lead["id"]: lead for lead in document["leads"]}
    assert set(leads) == set(subject.leads)  # the restricted one too, not Alan's
    first = leads[subject.leads[0]]
    assert first["name"] == "Grace Hopper" and first["phone"] == "+14155552671"
    assert first["address"]["city"] == "Arlington" and first["tags"] == ["cobol"]
    assert first["status"] == "contacted" and first["restricted"] is False
    assert leads[subject.leads[1]]["restricted"] is True
    assert {n["id"] for n in document["notes"]} == set(subject.notes)
    assert {n["body"] for n in document["notes"]} == {"Met at the conference", "Wants a demo"}
    actions = sorted((a["action"], a["targetId"]) for a in document["activity"])
    assert actions == sorted([
        ("lead.created", subject.leads[0]), ("lead.created", subject.leads[1]),
        ("lead.updated", subject.leads[0]), ("lead.status_changed", subject.leads[0]),
        ("note.added", subject.notes[0]), ("note.added", subject.notes[1]),
        ("lead.restricted", subject.leads[1])])
    assert "Alan" not in str(document) and "Mia Member" not in str(document)
    # Logged, without the email.
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="data_subject.exported")
    assert event.summary == {"subject": fingerprint(settings.secret_key, GRACE), "leads": 2,
                             "notes": 2}
    assert event.actor_id == team.people[Role.ADMIN].user.id
    assert GRACE not in str(event.summary).lower()


async def test_an_unknown_person_exports_as_empty_and_a_bad_email_is_refused(
        api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER].token
    data = await gql_ok(api, EXPORT, {"org": team.org_id, "email": "nobody@example.com"}, owner)
    assert data["exportDataSubject"]["dataSubjectExport"]["leadCount"] == 0
    assert data["exportDataSubject"]["dataSubjectExport"]["document"]["leads"] == []
    for bad in ("not an email", "", "a@b@c", "x\x00@example.com"):
        body = await api.gql(EXPORT, {"org": team.org_id, "email": bad}, token=owner)
        assert error_code(body) == "BAD_USER_INPUT", bad
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {"email"}
        body = await api.gql(ERASE, {"org": team.org_id, "email": bad}, token=owner)
        assert error_code(body) == "BAD_USER_INPUT", bad


async def everything_in_the_database() -> list[tuple[str, str, Any]]:
    """(table, column, value) of every column of every row of every table of the app's models,
    read past the tenant scope on purpose: this is the auditor's view."""
    found = []
    for models in Tortoise.apps.values():
        for model in models.values():
            for row in await model._meta.manager.get_queryset().values():
                found += [(model._meta.db_table, column, value) for column, value in row.items()]
    return found


async def test_erasure_leaves_the_email_nowhere_in_the_database(
        api: Api, team: Team, rival: Team, settings: Settings) -> None:
    subject = await make_subject(api, team)
    await gql_ok(api, RESTRICT, {"id": subject.leads[0], "restricted": True},
                 team.people[Role.OWNER].token)
    await create_lead(api, rival, name="Someone else", email="someone@example.com")
    # Leads' emails and notes are encrypted (tests/encryption): the database holds Grace's
    # blind index, and (below) neither it nor her address once erased.
    grace = await blind_index(team.org.id, "email", GRACE)
    assert any(grace == value for _, _, value in await everything_in_the_database())
    rival_before = await table_state(rival.org)

    data = await gql_ok(api, ERASE, {"org": team.org_id, "email": GRACE},
                        team.people[Role.ADMIN].token)
    assert data["eraseDataSubject"]["dataSubjectErasure"] == {
        "email": GRACE, "leadsDeleted": 2, "notesDeleted": 2, "eventsScrubbed": 7,
        "mentionsRedacted": 1}

    leftovers = [(table, column) for table, column, value in await everything_in_the_database()
                 if GRACE in str(value).lower() or value == grace]
    assert leftovers == []
    lead_ids = [db_id(i) for i in subject.leads]
    assert await Lead._scoped(team.org.id).filter(id__in=lead_ids).count() == 0
    assert await LeadTag._scoped(team.org.id).filter(lead_id__in=lead_ids).count() == 0
    assert await Note._scoped(team.org.id).filter(lead_id__in=lead_ids).count() == 0
    # The other lead stays, its note with the email replaced.
    (mention,) = await Note._scoped(team.org.id).filter(id=db_id(subject.other_note))
    assert mention.body == "Introduced by [erased], write to [erased] for details"
    assert await Lead._scoped(team.org.id).filter(id=db_id(subject.other_lead)).count() == 1
    # Activity about Grace keeps a tombstone: what happened and when, no details.
    events = await ActivityEvent._scoped(team.org.id).filter(target_id__in=lead_ids)
    assert {e.action for e in events} == {"lead.created", "lead.updated", "lead.status_changed",
                                          "lead.restricted"}
    assert all(e.summary == {"erased": True} for e in events)
    notes = await ActivityEvent._scoped(team.org.id).filter(
        target_id__in=[db_id(n) for n in subject.notes])
    assert len(notes) == 2 and all(e.summary == {"erased": True} for e in notes)
    # The erasure itself is logged with counts and a fingerprint, never the email.
    (erased,) = await ActivityEvent._scoped(team.org.id).filter(action="data_subject.erased")
    assert erased.summary == {"subject": fingerprint(settings.secret_key, GRACE), "leads": 2,
                              "notes": 2, "events": 7, "mentions": 1, "submissions": 0,
                              "receipts": 0}
    assert erased.actor_id == team.people[Role.ADMIN].user.id
    assert await table_state(rival.org) == rival_before
    # Erasing again finds nothing, and says so.
    again = await gql_ok(api, ERASE, {"org": team.org_id, "email": GRACE},
                         team.people[Role.OWNER].token)
    assert again["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 0


async def test_erasure_in_one_org_leaves_another_orgs_lead_of_the_same_person(
        api: Api, team: Team, rival: Team) -> None:
    await create_lead(api, team, name="Grace Hopper", email=GRACE)
    theirs = await create_lead(api, rival, name="Grace Hopper", email=GRACE)
    data = await gql_ok(api, ERASE, {"org": team.org_id, "email": GRACE},
                        team.people[Role.OWNER].token)
    assert data["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1
    (kept,) = await Lead._scoped(rival.org.id)
    assert (str(kept.id), kept.email) == (str(db_id(theirs["id"])), GRACE)


@pytest.mark.parametrize("mutation", ["export", "erase"])
async def test_only_admins_and_owners_of_the_org_may_ask(
        api: Api, team: Team, rival: Team, mutation: str) -> None:
    await make_subject(api, team)
    document = EXPORT if mutation == "export" else ERASE
    variables = {"org": team.org_id, "email": GRACE}
    before = await table_state(team.org)
    for role in (Role.MEMBER, Role.VIEWER):
        body = await api.gql(document, variables, token=team.people[role].token)
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "privacy:manage"}
    for outsider in (rival.people[Role.OWNER].token, None):
        body = await api.gql(document, variables, token=outsider)
        assert error_code(body) == "NOT_FOUND"
    # No token can carry `privacy:manage` (a person-only permission), even one with every scope.
    token = await make_token(team, [s.value for s in TOKEN_SCOPES])
    body = await api.gql(document, variables, token=token.secret)
    assert errors_of(body)[0]["extensions"] == {
        "code": "FORBIDDEN", "permission": "privacy:manage", "scope": "privacy:manage"}
    assert await table_state(team.org) == before
    assert not await ActivityEvent._scoped(team.org.id).filter(
        action__startswith="data_subject.").exists()
