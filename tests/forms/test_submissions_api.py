"""Submissions over GraphQL: listing by status, releasing and discarding (permissions, another
org's ids, statuses that cannot be decided), consent receipts on leads, what API tokens see of a
restricted person, the monthly submission limit, data rights and retention."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.retention import apply_retention
from keystore.fields import blind_index
from models.billing import Plan
from models.forms import FormSubmission, SubmissionStatus
from models.leads import Lead, LeadSource
from models.orgs import Role
from resolvers.form_intake import take_submission, validate_values
from tests.conftest import Api, error_code, errors_of
from tests.forms.conftest import CONSENT, META, make_form, receipts, submissions
from tests.leads.conftest import lead_rows
from tests.orgs.conftest import Team, gid
from tests.smtp import Inbox, body_of
from tests.tokens.conftest import make_token, subscribe

RAW = {"name": "Grace Hopper", "email": "grace@example.com", "message": "Hello",
       "consent": "yes"}
SUBMISSIONS = """query($id: ID!, $status: [SubmissionStatus!], $first: Int, $after: String) {
  leadForm(id: $id) { submissions(status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id status signals origin userAgent consentGiven confirmedAt decidedAt
            values { name email phone company title message } lead { id name source } } } } }"""
RELEASE = """mutation($id: ID!) { releaseSubmission(input: {id: $id}) {
  submission { id status lead { id name source } } } }"""
DISCARD = """mutation($id: ID!) { discardSubmission(input: {id: $id}) {
  submission { id status values { email message } } } }"""
RECEIPTS = """query($id: ID!) { lead(id: $id) { consentReceipts(first: 10) { totalCount nodes {
  formName formId consentText consentTextSha256 consentGiven policyVersion submittedAt origin
  userAgent ipHash confirmedAt confirmIpHash } } } }"""
EXPORT = """mutation($org: ID!, $email: String!) {
  exportDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectExport {
    document } } }"""
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted submissionsDeleted receiptsDeleted } } }"""


async def submit(app: Any, form: Any, status: SubmissionStatus = SubmissionStatus.ACCEPTED,
                 signals: list[str] | None = None, **raw: str) -> FormSubmission:
    values, problems = validate_values(form, {**RAW, **raw})
    assert problems == {}
    return await take_submission(app.state.services, form, values, status=status,
                                 signals=signals or [], meta=META)


async def test_members_list_submissions_by_status_and_page(app: Any, api: Api,
                                                           team: Team) -> None:
    form = await make_form(team.org)
    await submit(app, form)
    for n in range(3):
        await submit(app, form, SubmissionStatus.SPAM, ["honeypot"], email=f"bot{n}@spam-mail.com")
    await submit(app, form, SubmissionStatus.HELD, ["no_challenge"], email="held@example.com")
    token = team.people[Role.MEMBER].token
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)}, token=token)
    page = body["data"]["leadForm"]["submissions"]
    assert page["totalCount"] == 5
    assert [n["status"] for n in page["nodes"]] == ["HELD", "SPAM", "SPAM", "SPAM", "ACCEPTED"]
    accepted = page["nodes"][-1]
    assert accepted["values"] == {"name": "Grace Hopper", "email": "grace@example.com",
                                  "phone": None, "company": None, "title": None,
                                  "message": "Hello"}
    assert accepted["lead"]["source"] == "FORM" and accepted["consentGiven"] is True
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id), "status": ["SPAM"],
                                       "first": 2}, token=token)
    first = body["data"]["leadForm"]["submissions"]
    assert len(first["nodes"]) == 2 and first["pageInfo"]["hasNextPage"]
    assert all(n["signals"] == ["honeypot"] for n in first["nodes"])
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id), "status": ["SPAM"],
                                       "first": 2, "after": first["pageInfo"]["endCursor"]},
                         token=token)
    assert len(body["data"]["leadForm"]["submissions"]["nodes"]) == 1
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id), "first": 101},
                         token=token)
    assert error_code(body) == "BAD_USER_INPUT"
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id),
                                       "status": ["SPAM"] * 6}, token=token)
    assert errors_of(body)[0]["extensions"]["limit"] == 5


async def test_release_makes_the_lead_and_discard_drops_the_values(
        app: Any, api: Api, team: Team) -> None:
    form = await make_form(team.org)
    held = await submit(app, form, SubmissionStatus.HELD, ["no_challenge"])
    spam = await submit(app, form, SubmissionStatus.SPAM, ["honeypot"], email="x@spam-mail.com")
    admin = team.people[Role.ADMIN].token
    body = await api.gql(RELEASE, {"id": gid("FormSubmission", held.id)}, token=admin)
    released = body["data"]["releaseSubmission"]["submission"]
    assert released["status"] == "ACCEPTED"
    assert released["lead"]["name"] == "Grace Hopper" and released["lead"]["source"] == "FORM"
    (receipt,) = await receipts(team.org)
    assert receipt.submission_id == held.id
    body = await api.gql(RELEASE, {"id": gid("FormSubmission", held.id)}, token=admin)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "CONFLICT", "reason": "SUBMISSION_DECIDED",
                                   "status": "ACCEPTED"}
    body = await api.gql(DISCARD, {"id": gid("FormSubmission", spam.id)}, token=admin)
    assert body["data"]["discardSubmission"]["submission"] == {
        "id": gid("FormSubmission", spam.id), "status": "DISCARDED",
        "values": {"email": None, "message": None}}
    (row,) = await FormSubmission._scoped(team.org.id).filter(id=spam.id)
    assert row.values == {} and row.email is None and row.decided_at is not None
    body = await api.gql(DISCARD, {"id": gid("FormSubmission", held.id)}, token=admin)
    assert error_code(body) == "CONFLICT"
    assert len(await lead_rows(team.org)) == 1


async def test_release_on_a_double_opt_in_form_mails_the_link(
        app: Any, api: Api, team: Team, inbox: Inbox) -> None:
    form = await make_form(team.org, double_opt_in=True)
    held = await submit(app, form, SubmissionStatus.HELD, ["no_challenge"])
    assert inbox.to("grace@example.com") == []
    body = await api.gql(RELEASE, {"id": gid("FormSubmission", held.id)},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["releaseSubmission"]["submission"]["status"] == "PENDING"
    (mail,) = inbox.to("grace@example.com")
    token = body_of(mail).split("/f/confirm/")[1].split()[0]
    assert token not in str(body)
    assert await lead_rows(team.org) == []


async def test_only_forms_write_decides_and_other_orgs_ids_are_not_found(
        app: Any, api: Api, team: Team, rival: Team) -> None:
    form = await make_form(team.org)
    held = await submit(app, form, SubmissionStatus.HELD)
    held_id = gid("FormSubmission", held.id)
    for role in (Role.MEMBER, Role.VIEWER):
        for document in (RELEASE, DISCARD):
            body = await api.gql(document, {"id": held_id}, token=team.people[role].token)
            assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN",
                                                        "permission": "forms:write"}
    for document in (RELEASE, DISCARD):
        body = await api.gql(document, {"id": held_id}, token=rival.people[Role.OWNER].token)
        assert error_code(body) == "NOT_FOUND"
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)},
                         token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql(RELEASE, {"id": gid("LeadForm", form.id)},
                         token=team.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    (row,) = await submissions(team.org)
    assert row.status is SubmissionStatus.HELD


async def test_lead_shows_its_consent_receipts(app: Any, api: Api, team: Team,
                                               inbox: Inbox) -> None:
    form = await make_form(team.org, double_opt_in=True)
    await submit(app, form)
    token = body_of(inbox.to("grace@example.com")[0]).split("/f/confirm/")[1].split()[0]
    from resolvers.form_intake import confirm_submission
    await confirm_submission(app.state.services, token, ip="192.0.2.1")
    (lead,) = await lead_rows(team.org)
    body = await api.gql(RECEIPTS, {"id": gid("Lead", lead.id)},
                         token=team.people[Role.VIEWER].token)
    (receipt,) = body["data"]["lead"]["consentReceipts"]["nodes"]
    assert receipt["formName"] == "Contact us" and receipt["formId"] == gid("LeadForm", form.id)
    assert receipt["consentText"] == CONSENT
    assert receipt["consentTextSha256"] == hashlib.sha256(CONSENT.encode()).hexdigest()
    assert receipt["consentGiven"] is True
    assert receipt["policyVersion"] == app.state.services.settings.terms_version
    assert receipt["origin"] == META.origin and receipt["userAgent"] == META.user_agent
    assert receipt["confirmedAt"] is not None
    assert len(receipt["ipHash"]) == 64 and len(receipt["confirmIpHash"]) == 64
    assert "198.51.100.23" not in str(body) and "192.0.2.1" not in str(body)
    assert token not in str(body)


async def test_tokens_see_nothing_of_a_restricted_person(app: Any, api: Api,
                                                         team: Team) -> None:
    await subscribe(team.org)
    form = await make_form(team.org)
    await submit(app, form)
    await submit(app, form, email="other@example.com")
    grace = await blind_index(team.org.id, "email", "grace@example.com")
    await Lead._scoped(team.org.id).filter(email_bidx=grace).update(
        restricted=True, restricted_at=datetime.now(UTC))
    await submit(app, form)  # stored, not merged
    token = await make_token(team, ["forms:read", "leads:read"])
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)}, token=token.secret)
    nodes = body["data"]["leadForm"]["submissions"]["nodes"]
    assert [n["values"]["email"] for n in nodes] == ["other@example.com"]
    body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)},
                         token=team.people[Role.MEMBER].token)
    assert len(body["data"]["leadForm"]["submissions"]["nodes"]) == 3


async def test_monthly_submissions_past_the_plan_are_held(app: Any, team: Team) -> None:
    form = await make_form(team.org)
    now = datetime.now(UTC)
    rows = [FormSubmission(organization_id=team.org.id, form_id=form.id,
                           status=SubmissionStatus.ACCEPTED, values={}) for _ in range(250)]
    await FormSubmission.bulk_create(rows)
    # Last month's do not count.
    await FormSubmission._scoped(team.org.id).filter(id=rows[0].id).update(
        created_at=now - timedelta(days=40))
    first = await submit(app, form)
    assert first.status is SubmissionStatus.ACCEPTED
    second = await submit(app, form, email="late@example.com")
    assert second.status is SubmissionStatus.HELD and second.signals == ["plan_limit"]
    assert len(await lead_rows(team.org)) == 1
    await subscribe(team.org, Plan.PRO)
    third = await submit(app, form, email="paid@example.com")
    assert third.status is SubmissionStatus.ACCEPTED


async def test_leads_limit_holds_intake_and_refuses_release(app: Any, api: Api,
                                                            team: Team) -> None:
    form = await make_form(team.org)
    await Lead.bulk_create([Lead(organization_id=team.org.id, name=f"L{n}",
                                 source=LeadSource.MANUAL) for n in range(1000)])
    submission = await submit(app, form)
    assert submission.status is SubmissionStatus.HELD and "plan_limit" in submission.signals
    assert await receipts(team.org) == []
    body = await api.gql(RELEASE, {"id": gid("FormSubmission", submission.id)},
                         token=team.people[Role.ADMIN].token)
    assert errors_of(body)[0]["extensions"]["code"] == "PLAN_LIMIT"
    (row,) = await submissions(team.org)
    assert row.status is SubmissionStatus.HELD


async def test_export_and_erase_the_person_with_their_submissions(
        app: Any, api: Api, team: Team) -> None:
    form = await make_form(team.org)
    await submit(app, form)
    await submit(app, form, SubmissionStatus.SPAM, ["honeypot"])
    await submit(app, form, email="someone@example.com")
    admin = team.people[Role.ADMIN].token
    body = await api.gql(EXPORT, {"org": team.org_id, "email": "grace@example.com"},
                         token=admin)
    document = body["data"]["exportDataSubject"]["dataSubjectExport"]["document"]
    assert sorted(s["status"] for s in document["formSubmissions"]) == ["ACCEPTED", "SPAM"]
    assert all(s["values"]["email"] == "grace@example.com" for s in document["formSubmissions"])
    (receipt,) = document["consentReceipts"]
    assert receipt["consentText"] == CONSENT and receipt["formName"] == "Contact us"
    body = await api.gql(ERASE, {"org": team.org_id, "email": "grace@example.com"},
                         token=admin)
    assert body["data"]["eraseDataSubject"]["dataSubjectErasure"] == {
        "leadsDeleted": 1, "submissionsDeleted": 2, "receiptsDeleted": 1}
    left = await submissions(team.org)
    assert [s.email for s in left] == ["someone@example.com"]
    assert [r.email for r in await receipts(team.org)] == ["someone@example.com"]


async def test_retention_deletes_old_spam_and_keeps_the_rest(app: Any, team: Team) -> None:
    form = await make_form(team.org)
    now = datetime.now(UTC)
    old_spam = await submit(app, form, SubmissionStatus.SPAM, ["honeypot"])
    new_spam = await submit(app, form, SubmissionStatus.SPAM, ["honeypot"])
    accepted = await submit(app, form)
    await FormSubmission._scoped(team.org.id).filter(id__in=[old_spam.id, accepted.id]).update(
        created_at=now - timedelta(days=31))
    report = await apply_retention(app.state.services)
    assert report.deleted["spam_submissions"] == 1
    left = {s.id for s in await submissions(team.org)}
    assert left == {new_spam.id, accepted.id}


async def test_a_page_of_submissions_reads_their_leads_in_one_query(
        app: Any, api: Api, team: Team) -> None:
    from tests.conftest import count_sql
    form = await make_form(team.org)
    for n in range(3):
        await submit(app, form, email=f"p{n}@example.com")
    token = team.people[Role.MEMBER].token
    with count_sql() as few:
        body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)}, token=token)
    assert len(body["data"]["leadForm"]["submissions"]["nodes"]) == 3
    for n in range(3, 15):
        await submit(app, form, email=f"p{n}@example.com")
    with count_sql() as many:
        body = await api.gql(SUBMISSIONS, {"id": gid("LeadForm", form.id)}, token=token)
    assert all(n["lead"] for n in body["data"]["leadForm"]["submissions"]["nodes"])
    def lead_reads(statements: list[str]) -> int:
        return sum('FROM "leads"' in statement for statement in statements)

    assert lead_reads(few.statements) == lead_reads(many.statements) == 1
    assert many.count <= few.count + 1  # a session's touch may fall in one of them


async def test_deleting_a_form_keeps_its_leads_and_receipts(app: Any, api: Api,
                                                            team: Team) -> None:
    form = await make_form(team.org)
    await submit(app, form)
    await submit(app, form, SubmissionStatus.SPAM, ["honeypot"], email="s@spam-mail.com")
    body = await api.gql("mutation($id: ID!) { deleteLeadForm(input: {id: $id}) { deletedId } }",
                         {"id": gid("LeadForm", form.id)}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    assert await submissions(team.org) == []
    (lead,) = await lead_rows(team.org)
    (receipt,) = await receipts(team.org)
    assert receipt.lead_id == lead.id and receipt.form_id is None
    assert receipt.form_name == "Contact us" and receipt.consent_text == CONSENT


async def test_discarding_a_pending_submission_ends_its_link(app: Any, api: Api, team: Team,
                                                             inbox: Inbox) -> None:
    from resolvers.form_intake import confirm_submission
    form = await make_form(team.org, double_opt_in=True)
    pending = await submit(app, form)
    token = body_of(inbox.to("grace@example.com")[0]).split("/f/confirm/")[1].split()[0]
    body = await api.gql(DISCARD, {"id": gid("FormSubmission", pending.id)},
                         token=team.people[Role.ADMIN].token)
    assert body["data"]["discardSubmission"]["submission"]["status"] == "DISCARDED"
    assert await confirm_submission(app.state.services, token, ip=None) is None
    assert await lead_rows(team.org) == []


async def test_the_activity_log_names_the_form_as_the_actor(app: Any, api: Api,
                                                            team: Team) -> None:
    form = await make_form(team.org)
    await submit(app, form)
    body = await api.gql("""query($slug: String!) { organization(slug: $slug) {
        activity(first: 5, filter: {action: LEAD_CREATED}) {
          nodes { actorFormId actorTokenId ip actor { id } summary } } } }""",
                         {"slug": team.slug}, token=team.people[Role.OWNER].token)
    (event,) = body["data"]["organization"]["activity"]["nodes"]
    assert event == {"actorFormId": gid("LeadForm", form.id), "actorTokenId": None,
                     "ip": None, "actor": None, "summary": {"source": "FORM"}}
