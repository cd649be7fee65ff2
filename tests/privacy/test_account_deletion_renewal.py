"""deleteAccount and Stripe: the subscriptions of the organizations that would be deleted with
the account (its person is their only member) stop renewing at once, through the real stripe
client against the fake; they renew again when the deletion is called off or someone joins.
Organizations with other members are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from auth.tokens import hash_secret
from core.settings import Settings
from models.activity import ActivityEvent
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Invitation, Membership, Organization, Role
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import STRONG_PASSWORD, Api, errors_of
from tests.orgs.conftest import CREATE_ORG, Person, Team, signed_in

DELETE = """mutation($p: String!) { deleteAccount(input: {password: $p}) { scheduledDeletion {
  id status } } }"""
CANCEL = "mutation { cancelAccountDeletion { scheduledDeletion { status } } }"
LOG_IN = """mutation($e: String!, $p: String!) {
  logIn(input: {email: $e, password: $p}) { accessToken } }"""
ACCEPT = """mutation($t: String!) { acceptInvitation(input: {token: $t}) {
  membership { id } } }"""


async def subscribe(org: Organization, stripe: FakeStripe, customer: str) -> str:
    stripe.customers[customer] = {"id": customer, "object": "customer"}
    subscription = stripe.new_subscription(customer, "price_pro_month")
    await BillingAccount.create(organization=org, stripe_customer_id=customer,
                                stripe_subscription_id=subscription["id"],
                                subscription_plan=Plan.PRO, status=SubscriptionStatus.ACTIVE)
    return subscription["id"]


async def solo_org(api: Api, settings: Settings, stripe: FakeStripe) -> tuple[Person,
                                                                               Organization, str]:
    """A person alone in their org "solo", which pays for PRO."""
    person = await signed_in(settings, "solo@example.com", "Sol Solo")
    body = await api.gql(CREATE_ORG, {"input": {"name": "Solo", "slug": "solo"}},
                         token=person.token)
    assert "errors" not in body, body
    org = await Organization.get(slug="solo")
    return person, org, await subscribe(org, stripe, "cus_solo")


async def account(org: Organization) -> BillingAccount:
    return await BillingAccount._scoped(org.id).get()


async def test_deleting_stops_the_renewal_and_calling_it_off_resumes_it(
        api: Api, settings: Settings, stripe: FakeStripe, team: Team) -> None:
    person, org, subscription = await solo_org(api, settings, stripe)
    acme = await subscribe(team.org, stripe, "cus_acme")
    # They are also a MEMBER of acme, which has other members: acme is not deleted with them.
    await Membership.create(organization=team.org, user=person.user, role=Role.MEMBER)

    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING", body
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True
    assert stripe.subscriptions[subscription]["status"] == "active"  # the paid period goes on
    [call] = stripe.asked(f"/v1/subscriptions/{subscription}")
    assert call.params == {"cancel_at_period_end": "true"} and call.idempotency_key
    assert stripe.subscriptions[acme]["cancel_at_period_end"] is False
    assert stripe.posts(f"/v1/subscriptions/{acme}") == []
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    held = await account(org)
    assert held.cancel_at_period_end is True and held.renewal_held_by == work.id
    assert work.renewal_stopped
    assert await ActivityEvent._scoped(org.id).filter(
        action="organization.renewal_stopped").count() == 1

    # Signing in again (the deletion ended the sessions) and calling it off renews again.
    login = await api.gql(LOG_IN, {"e": person.email, "p": STRONG_PASSWORD})
    fresh = login["data"]["logIn"]["accessToken"]
    body = await api.gql(CANCEL, token=fresh)
    assert body["data"]["cancelAccountDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
    released = await account(org)
    assert released.cancel_at_period_end is False and released.renewal_held_by is None
    event = await ActivityEvent._scoped(org.id).get(action="organization.renewal_resumed")
    assert event.summary == {"reason": "account_deletion_canceled"}


async def test_someone_joining_resumes_the_renewal(
        api: Api, settings: Settings, stripe: FakeStripe) -> None:
    person, org, subscription = await solo_org(api, settings, stripe)
    await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True

    joiner = await signed_in(settings, "joiner@example.com", "Jo Joiner")
    await Invitation.create(organization=org, email=joiner.email, role=Role.MEMBER,
                            token_hash=hash_secret("invite-token-123"),
                            expires_at=datetime.now(UTC) + timedelta(days=1))
    body = await api.gql(ACCEPT, {"t": "invite-token-123"}, token=joiner.token)
    assert "errors" not in body, body
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
    released = await account(org)
    assert released.cancel_at_period_end is False and released.renewal_held_by is None
    event = await ActivityEvent._scoped(org.id).get(action="organization.renewal_resumed")
    assert event.summary == {"reason": "member_joined"}


async def test_a_renewal_the_customer_stopped_stays_stopped(
        api: Api, settings: Settings, stripe: FakeStripe) -> None:
    person, org, subscription = await solo_org(api, settings, stripe)
    stripe.update_subscription(subscription, cancel_at_period_end=True)
    await BillingAccount._scoped(org.id).update(cancel_at_period_end=True)
    await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
    assert stripe.posts(f"/v1/subscriptions/{subscription}") == []
    assert (await account(org)).renewal_held_by is None
    login = await api.gql(LOG_IN, {"e": person.email, "p": STRONG_PASSWORD})
    await api.gql(CANCEL, token=login["data"]["logIn"]["accessToken"])
    assert stripe.posts(f"/v1/subscriptions/{subscription}") == []
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True


async def test_stripe_refusing_schedules_nothing(
        api: Api, settings: Settings, stripe: FakeStripe) -> None:
    person, org, subscription = await solo_org(api, settings, stripe)
    stripe.fail_next(1, status=400, error_type="invalid_request_error", message="No.")
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION).count() == 0
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
    assert (await account(org)).renewal_held_by is None


async def test_stripe_refusing_to_resume_keeps_the_deletion(
        api: Api, settings: Settings, stripe: FakeStripe) -> None:
    person, _org, subscription = await solo_org(api, settings, stripe)
    await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
    login = await api.gql(LOG_IN, {"e": person.email, "p": STRONG_PASSWORD})
    fresh: Any = login["data"]["logIn"]["accessToken"]
    stripe.fail_next(1, status=400, error_type="invalid_request_error", message="No.")
    body = await api.gql(CANCEL, token=fresh)
    assert errors_of(body)[0]["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    assert work.status.value == "pending"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is True
    body = await api.gql(CANCEL, token=fresh)
    assert body["data"]["cancelAccountDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    assert stripe.subscriptions[subscription]["cancel_at_period_end"] is False
