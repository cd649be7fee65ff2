"""Plan limits at their boundaries, over HTTP: inviting and accepting (members), creating and
importing (leads), creating API tokens. Going over is PLAN_LIMIT with the limit and the plan,
and writes nothing; a downgraded org over a limit reads, edits and deletes, but does not add."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from auth.tokens import hash_secret, new_secret
from billing.plans import PLANS
from core.settings import Settings
from models.billing import Plan
from models.leads import Lead
from models.orgs import Invitation, Membership, Role
from models.tokens import ApiToken
from tests.billing.conftest import (
    FakeStripe,
    billing_of,
    billing_state,
    deliver,
    subscribe,
)
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Person, Team, add_member, gid, signed_in

FREE, PRO = PLANS[Plan.FREE].limits, PLANS[Plan.PRO].limits

INVITE = """mutation($i: InviteMemberInput!) {
  inviteMember(input: $i) { invitation { id email } } }"""
ACCEPT = ("mutation($token: String!) { acceptInvitation(input: {token: $token}) { membership { "
          "id role } } }")
CREATE_LEAD = """mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id name } } }"""
UPDATE_LEAD = """mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id name } } }"""
DELETE_LEAD = "mutation($id: ID!) { deleteLead(input: {id: $id}) { deletedId } }"
IMPORT = """mutation($input: ImportLeadsInput!) {
  importLeads(input: $input) { importResult { imported errors { line field message } } } }"""
CREATE_TOKEN = """mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { secret } }"""
LEADS_COUNT = """query($slug: String!) { organization(slug: $slug) {
  leads(first: 5) { edges { node { id } } } } }"""


def assert_plan_limit(body: dict[str, Any], resource: str, limit: int, plan: str,
                      used: int) -> None:
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "PLAN_LIMIT", "limit": limit, "plan": plan,
                                   "resource": resource, "used": used}, error
    assert f"{limit:,}" in error["message"] and plan.title() in error["message"]


async def seed_leads(team: Team, count: int) -> None:
    await Lead.bulk_create([Lead(organization_id=team.org.id, name=f"Seed {n:05d}")
                            for n in range(count)])


async def pending_invitations(team: Team, count: int, *, inviter: Person) -> None:
    for n in range(count):
        await Invitation.create(organization=team.org, email=f"pending{n}@example.com",
                                role=Role.VIEWER, token_hash=hash_secret(new_secret("rlk_inv_")),
                                invited_by=inviter.user,
                                expires_at=datetime.now(UTC) + timedelta(days=7))


async def invite(api: Api, team: Team, email: str, role: Role = Role.ADMIN) -> dict[str, Any]:
    return await api.gql(INVITE, {"i": {"organizationId": team.org_id, "email": email,
                                        "role": "VIEWER"}}, token=team.people[role].token)


async def create_lead(api: Api, team: Team, name: str = "New Lead") -> dict[str, Any]:
    return await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": name}},
                         token=team.people[Role.MEMBER].token)


async def import_csv(http: httpx.AsyncClient, team: Team, names: list[str], *,
                     dry_run: bool = False) -> dict[str, Any]:
    csv = "name,email\r\n" + "".join(f"{name},\r\n" for name in names)
    operations = {"query": IMPORT,
                  "variables": {"input": {"organizationId": team.org_id, "file": None,
                                          "dryRun": dry_run}}}
    response = await http.post("/graphql", files={
        "operations": (None, json.dumps(operations)),
        "map": (None, json.dumps({"0": ["variables.input.file"]})),
        "0": ("leads.csv", csv.encode(), "text/csv"),
    }, headers={"authorization": f"Bearer {team.people[Role.MEMBER].token}"})
    assert response.status_code == 200, response.text
    return response.json()


# Members

async def test_inviting_up_to_the_member_limit_and_not_one_more(api: Api, team: Team) -> None:
    assert FREE.members == 10
    # 4 members plus 5 pending invitations: 9 seats taken.
    await pending_invitations(team, 5, inviter=team.people[Role.OWNER])
    body = await invite(api, team, "tenth@example.com")
    assert "errors" not in body, body
    before = await billing_state(team.org)
    body = await invite(api, team, "eleventh@example.com")
    assert_plan_limit(body, "members", 10, "FREE", used=10)
    assert await billing_state(team.org) == before
    assert not await Invitation._scoped(team.org.id).filter(
        email="eleventh@example.com").exists()


async def test_a_revoked_invitation_frees_its_seat(api: Api, team: Team) -> None:
    await pending_invitations(team, 6, inviter=team.people[Role.OWNER])
    assert_plan_limit(await invite(api, team, "new@example.com"), "members", 10, "FREE", 10)
    await Invitation._scoped(team.org.id).filter(email="pending0@example.com").update(
        revoked_at=datetime.now(UTC))
    body = await invite(api, team, "new@example.com")
    assert "errors" not in body, body


async def _invitation_for(team: Team, email: str) -> str:
    token = new_secret("rlk_inv_")
    await Invitation.create(organization=team.org, email=email, role=Role.MEMBER,
                            token_hash=hash_secret(token), invited_by=team.people[Role.OWNER].user,
                            expires_at=datetime.now(UTC) + timedelta(days=7))
    return token


async def test_accepting_fills_the_last_seat(api: Api, settings: Settings, team: Team) -> None:
    for n in range(5):
        await add_member(settings, team, f"extra{n}@example.com", Role.VIEWER)
    token = await _invitation_for(team, "last@example.com")  # 9 members + 1 pending = 10
    joiner = await signed_in(settings, "last@example.com")
    body = await api.gql(ACCEPT, {"token": token}, token=joiner.token)
    assert "errors" not in body, body
    assert await Membership._scoped(team.org.id).count() == 10


async def test_accepting_over_the_limit_is_refused_and_the_invitation_stays_usable(
        api: Api, http: httpx.AsyncClient, settings: Settings, stripe: FakeStripe,
        team: Team) -> None:
    # An org that filled its seats, then one more was invited while on a bigger plan.
    for n in range(6):
        await add_member(settings, team, f"extra{n}@example.com", Role.VIEWER)
    token = await _invitation_for(team, "late@example.com")
    joiner = await signed_in(settings, "late@example.com")
    before = await billing_state(team.org)
    body = await api.gql(ACCEPT, {"token": token}, token=joiner.token)
    assert_plan_limit(body, "members", 10, "FREE", used=10)
    assert await billing_state(team.org) == before
    invitation = await Invitation._scoped(team.org.id).filter(email="late@example.com").first()
    assert invitation is not None and invitation.accepted_at is None  # the claim rolled back

    await subscribe(api, http, stripe, team)  # on PRO, the same link works
    body = await api.gql(ACCEPT, {"token": token}, token=joiner.token)
    assert "errors" not in body, body
    assert await Membership._scoped(team.org.id).filter(user_id=joiner.user.id).exists()


# Leads

async def test_creating_up_to_the_lead_limit_and_not_one_more(api: Api, team: Team) -> None:
    assert FREE.leads == 1_000
    await seed_leads(team, 999)
    body = await create_lead(api, team, "Number 1000")
    assert "errors" not in body, body
    before = await billing_state(team.org)
    body = await create_lead(api, team, "Number 1001")
    assert_plan_limit(body, "leads", 1_000, "FREE", used=1_000)
    assert await billing_state(team.org) == before
    assert not await Lead._scoped(team.org.id).filter(name="Number 1001").exists()


async def test_importing_up_to_the_lead_limit_and_not_one_more(
        api: Api, http: httpx.AsyncClient, team: Team) -> None:
    await seed_leads(team, 997)
    # Three valid rows and one bad one: only valid rows count against the limit.
    body = await import_csv(http, team, ["Ada", "Grace", "Edsger", ""])
    assert "errors" not in body, body
    assert body["data"]["importLeads"]["importResult"]["imported"] == 3
    assert await Lead._scoped(team.org.id).count() == 1_000

    await Lead._scoped(team.org.id).filter(name="Ada").delete()
    before = await billing_state(team.org)
    for dry_run in (True, False):  # a dry run warns as the import would refuse
        body = await import_csv(http, team, ["Alan", "Barbara"], dry_run=dry_run)
        assert_plan_limit(body, "leads", 1_000, "FREE", used=999)
    assert await billing_state(team.org) == before
    body = await import_csv(http, team, ["Alan"])
    assert body["data"]["importLeads"]["importResult"]["imported"] == 1
    assert await Lead._scoped(team.org.id).count() == 1_000


async def test_a_bigger_plan_raises_the_limit(api: Api, http: httpx.AsyncClient,
                                              stripe: FakeStripe, team: Team) -> None:
    await seed_leads(team, 1_000)
    assert_plan_limit(await create_lead(api, team), "leads", 1_000, "FREE", 1_000)
    await subscribe(api, http, stripe, team)
    body = await create_lead(api, team, "Number 1001")
    assert "errors" not in body, body
    billing = await billing_of(api, team)
    assert billing["usage"] == {"members": 4, "leads": 1_001}
    assert billing["limits"]["leads"] == PRO.leads


async def test_a_past_due_org_keeps_its_plans_limits(api: Api, http: httpx.AsyncClient,
                                                     stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    await seed_leads(team, 1_000)
    stripe.tick()
    invoice = stripe.invoice(subscription["id"], status="open")
    await deliver(http, stripe.event("invoice.payment_failed", invoice))
    body = await create_lead(api, team, "During grace")
    assert "errors" not in body, body


async def test_a_downgraded_org_over_its_limits_reads_edits_and_deletes_but_cannot_add(
        api: Api, http: httpx.AsyncClient, settings: Settings, stripe: FakeStripe,
        team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    await seed_leads(team, 1_001)
    for n in range(7):
        await add_member(settings, team, f"extra{n}@example.com", Role.VIEWER)
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.deleted",
                                     stripe.cancel_subscription(subscription["id"])))
    billing = await billing_of(api, team)
    assert billing["plan"] == "FREE"
    assert billing["usage"] == {"members": 11, "leads": 1_001}

    # Reads work.
    body = await api.gql(LEADS_COUNT, {"slug": team.slug}, token=team.people[Role.VIEWER].token)
    assert len(body["data"]["organization"]["leads"]["edges"]) == 5
    lead = await Lead._scoped(team.org.id).first()
    assert lead is not None
    # Edits work.
    body = await api.gql(UPDATE_LEAD, {"i": {"id": gid("Lead", lead.id), "name": "Renamed"}},
                         token=team.people[Role.MEMBER].token)
    assert body["data"]["updateLead"]["lead"]["name"] == "Renamed"
    # Adding does not, and writes nothing.
    before = await billing_state(team.org)
    assert_plan_limit(await create_lead(api, team), "leads", 1_000, "FREE", 1_001)
    assert_plan_limit(await invite(api, team, "more@example.com"), "members", 10, "FREE", 11)
    assert_plan_limit(await import_csv(http, team, ["Imported"]), "leads", 1_000, "FREE",
                      1_001)
    assert await billing_state(team.org) == before
    # Deletes work; once under the limit, adding works again.
    for victim in await Lead._scoped(team.org.id).limit(2):
        body = await api.gql(DELETE_LEAD, {"id": gid("Lead", victim.id)},
                             token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body
    body = await create_lead(api, team, "Back under")
    assert "errors" not in body, body
    assert await Lead._scoped(team.org.id).count() == 1_000


# API tokens

async def test_a_new_org_on_free_creates_two_api_tokens_and_not_a_third(api: Api,
                                                                         team: Team) -> None:
    """With billing unconfigured (`make run`) nobody can upgrade: Free lets people try tokens."""
    assert FREE.partner_tokens == 2
    assert (await billing_of(api, team))["plan"] == "FREE"
    admin = team.people[Role.ADMIN].token
    for n in range(2):
        body = await api.gql(CREATE_TOKEN, {"i": {"organizationId": team.org_id,
                                                  "name": f"Script {n}",
                                                  "scopes": ["leads:write"]}}, token=admin)
        assert body["data"]["createApiToken"]["secret"], body
    body = await api.gql(CREATE_TOKEN, {"i": {"organizationId": team.org_id, "name": "Third",
                                              "scopes": ["leads:write"]}}, token=admin)
    assert_plan_limit(body, "partner_tokens", 2, "FREE", used=2)
    assert await ApiToken._scoped(team.org.id).count() == 2
