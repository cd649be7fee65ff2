"""deleteOrganization end to end over HTTP: refusals, tokens revoked at once, the subscription's
renewal stopped at once and resumed if the deletion is called off, cancelling in the grace
period, and the deletion with its Stripe subscription canceled (through the fake)."""

from __future__ import annotations

from typing import Any

import pytest

from models.activity import ActivityEvent
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.leads import Lead
from models.orgs import Organization, Role
from models.tokens import ApiToken
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team
from tests.privacy.conftest import pass_grace_period, run_due_work, run_jobs
from tests.tokens.conftest import make_token

DELETE = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    id status dueAt error } } }"""
CANCEL = """mutation($id: ID!) { cancelOrganizationDeletion(input: {organizationId: $id}) {
  scheduledDeletion { status canceledAt } } }"""
STATUS = """query($id: ID!) { organizationDeletion(organizationId: $id) { status dueAt error } }"""


async def subscribed(team: Team, stripe: FakeStripe) -> str:
    subscription = stripe.new_subscription("cus_acme", "price_pro_month")
    await BillingAccount.create(organization=team.org, stripe_customer_id="cus_acme",
                                stripe_subscription_id=subscription["id"],
                                subscription_plan=Plan.PRO, status=SubscriptionStatus.ACTIVE)
    return subscription["id"]


async def test_a_wrong_confirmation_slug_is_refused(api: Api, team: Team) -> None:
    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme-typo"},
                         token=team.people[Role.OWNER].token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                   "fields": {"confirmSlug": "must be the organization's slug"}}
    assert await ScheduledWork.all().count() == 0


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
async def test_only_the_owner_deletes(api: Api, team: Team, role: Role) -> None:
    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"},
                         token=team.people[role].token)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN",
                                                "permission": "org:delete"}
    assert error_code(await api.gql(STATUS, {"id": team.org_id},
                                    token=team.people[role].token)) == "FORBIDDEN"
    assert await ScheduledWork.all().count() == 0


async def test_a_token_cannot_delete_and_an_outsider_finds_nothing(
        api: Api, team: Team, settings: Any) -> None:
    from tests.orgs.conftest import signed_in

    token = await make_token(team, ["org:read"])
    assert error_code(await api.gql(DELETE, {"id": team.org_id, "slug": "acme"},
                                    token=token.secret)) == "FORBIDDEN"
    outsider = await signed_in(settings, "outsider@example.com")
    assert error_code(await api.gql(DELETE, {"id": team.org_id, "slug": "acme"},
                                    token=outsider.token)) == "NOT_FOUND"


async def test_tokens_end_at_once_and_the_owner_can_call_it_off(
        api: Api, app: Any, team: Team, stripe: FakeStripe) -> None:
    owner = team.people[Role.OWNER].token
    token = await make_token(team, ["org:read"])
    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING"
    assert (await ApiToken._scoped(team.org.id).get(id=token.row.id)).revoked_at is not None
    org = await api.gql('{ organization(slug: "acme") { name } }', token=token.secret)
    assert error_code(org) == "UNAUTHENTICATED"
    status = await api.gql(STATUS, {"id": team.org_id}, token=owner)
    assert status["data"]["organizationDeletion"]["status"] == "PENDING"
    again = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    assert again["data"]["deleteOrganization"]["scheduledDeletion"]["id"] == \
        body["data"]["deleteOrganization"]["scheduledDeletion"]["id"]

    canceled = await api.gql(CANCEL, {"id": team.org_id}, token=owner)
    canceled_deletion = canceled["data"]["cancelOrganizationDeletion"]["scheduledDeletion"]
    assert canceled_deletion["status"] == "CANCELED"
    actions = [e.action for e in await ActivityEvent._scoped(team.org.id).order_by("created_at")]
    assert actions[-2:] == ["organization.deletion_scheduled", "organization.deletion_canceled"]
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert await Organization.exists(id=team.org.id)
    assert stripe.calls == []


async def test_when_due_the_subscription_is_canceled_and_the_data_deleted(
        api: Api, app: Any, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    await Lead.create(organization=team.org, name="Lena")
    owner = team.people[Role.OWNER].token
    await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await run_jobs(app)  # not due: nothing happens
    assert stripe.subscriptions[subscription]["status"] == "active"
    await pass_grace_period(work.id)
    await run_due_work(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.DONE, work.last_error
    assert stripe.subscriptions[subscription]["status"] == "canceled"
    # Renewal stopped when asked; canceled when due.
    assert [c.method for c in stripe.calls] == ["POST", "GET", "DELETE"]
    assert not await Organization.exists(id=team.org.id)
    for model in (Lead, ActivityEvent, ApiToken, BillingAccount):
        assert await model._scoped(team.org.id).count() == 0, model
    # The people stay; the record of the deletion stays.
    assert work.organization_id == team.org.id


async def test_stripe_failing_is_retried_then_failed_and_visible(
        api: Api, app: Any, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    owner = team.people[Role.OWNER].token
    await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await pass_grace_period(work.id)
    stripe.fail_next(20, status=500)
    await run_due_work(app)
    work = await ScheduledWork.get(id=work.id)
    assert work.status is WorkStatus.FAILED and work.attempts == 3
    assert "PaymentProviderError" in (work.last_error or "")
    status = await api.gql(STATUS, {"id": team.org_id}, token=owner)
    assert status["data"]["organizationDeletion"]["status"] == "FAILED"
    assert status["data"]["organizationDeletion"]["error"]
    assert await Organization.exists(id=team.org.id)  # nothing deleted without the cancel
    assert stripe.subscriptions[subscription]["status"] == "active"


async def test_asking_stops_the_renewal_and_calling_off_resumes_it(
        api: Api, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    owner = team.people[Role.OWNER].token
    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING"
    # The paid period goes on (still active), but no new one will be charged.
    assert stripe.subscriptions[subscription]["status"] == "active"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True
    [call] = stripe.asked(f"/v1/subscriptions/{subscription}")
    assert call.params == {"cancel_at_period_end": "true"} and call.idempotency_key
    account = await BillingAccount._scoped(team.org.id).get()
    assert account.cancel_at_period_end is True
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    assert work.renewal_stopped
    event = await ActivityEvent._scoped(team.org.id).get(action="organization.deletion_scheduled")
    assert event.summary["renewalStopped"] is True

    body = await api.gql(CANCEL, {"id": team.org_id}, token=owner)
    assert body["data"]["cancelOrganizationDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
    assert (await BillingAccount._scoped(team.org.id).get()).cancel_at_period_end is False


async def test_a_renewal_the_customer_stopped_stays_stopped(
        api: Api, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    stripe.update_subscription(subscription, cancel_at_period_end=True)
    await BillingAccount._scoped(team.org.id).update(cancel_at_period_end=True)
    owner = team.people[Role.OWNER].token
    await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    await api.gql(CANCEL, {"id": team.org_id}, token=owner)
    assert stripe.posts(f"/v1/subscriptions/{subscription}") == []
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True
    assert (await BillingAccount._scoped(team.org.id).get()).cancel_at_period_end is True


async def test_stripe_refusing_to_stop_the_renewal_schedules_nothing(
        api: Api, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    token = await make_token(team, ["org:read"])
    owner = team.people[Role.OWNER].token
    stripe.fail_next(1, status=400, error_type="invalid_request_error", message="No.")
    body = await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert await ScheduledWork.filter(kind=WorkKind.ORG_DELETION).count() == 0
    assert (await ApiToken._scoped(team.org.id).get(id=token.row.id)).revoked_at is None
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
    assert (await BillingAccount._scoped(team.org.id).get()).cancel_at_period_end is False


async def test_stripe_refusing_to_resume_keeps_the_deletion_scheduled(
        api: Api, team: Team, stripe: FakeStripe) -> None:
    subscription = await subscribed(team, stripe)
    owner = team.people[Role.OWNER].token
    await api.gql(DELETE, {"id": team.org_id, "slug": "acme"}, token=owner)
    stripe.fail_next(1, status=400, error_type="invalid_request_error", message="No.")
    body = await api.gql(CANCEL, {"id": team.org_id}, token=owner)
    assert errors_of(body)[0]["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    status = await api.gql(STATUS, {"id": team.org_id}, token=owner)
    assert status["data"]["organizationDeletion"]["status"] == "PENDING"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True
    # Stripe answers again: calling it off now works.
    body = await api.gql(CANCEL, {"id": team.org_id}, token=owner)
    assert body["data"]["cancelOrganizationDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
