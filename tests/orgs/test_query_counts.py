"""SQL statement counts: lists cost the same whatever their length (DataLoaders, per request).

Each test measures one request shape at two sizes and asserts equal counts, plus a ceiling
so that a constant but wasteful plan shows up too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.settings import Settings
from models.accounts import User
from models.activity import ActivityEvent
from models.orgs import Membership, Organization, Role
from tests.conftest import Api, count_sql
from tests.orgs.conftest import Person, Team, add_invitation, make_team, signed_in

MEMBERS = """query($slug: String!) { organization(slug: $slug) { name
  members(first: 100) { totalCount edges { cursor } nodes { id role joinedAt
    user { id name email avatarUrl } } } } }"""
MY_ORGS = "{ me { id memberships { nodes { role organization { id name slug } } } } }"
INVITATIONS = """query($slug: String!) { organization(slug: $slug) {
  invitations(first: 100) { totalCount nodes { id email invitedBy { id name } } } } }"""
ACTIVITY = """query($slug: String!) { organization(slug: $slug) {
  activity(first: 100) { totalCount nodes { id action actor { id name } } } } }"""


async def _users(settings: Settings, prefix: str, count: int) -> list[User]:
    now = datetime.now(UTC)
    return [await User.create(email=f"{prefix}{n}@example.com", name=f"User {n}",
                              password_hash="-", email_verified=True, age_check_passed_at=now,
                              terms_version=settings.terms_version, terms_accepted_at=now)
            for n in range(count)]


async def _statements(api: Api, query: str, token: str, **variables: str) -> int:
    with count_sql() as sql:
        body = await api.gql(query, variables or None, token=token)
    assert "errors" not in body, body
    return sql.count


async def _team_of(api: Api, settings: Settings, slug: str, members: int) -> Team:
    team = await make_team(api, settings, slug)
    for user in await _users(settings, f"{slug}.m", members - 4):
        await Membership.create(organization=team.org, user=user, role=Role.MEMBER)
    return team


async def test_listing_members_with_their_users_is_constant(api: Api,
                                                            settings: Settings) -> None:
    small = await _team_of(api, settings, "small", 5)
    large = await _team_of(api, settings, "large", 50)
    few = await _statements(api, MEMBERS, small.people[Role.VIEWER].token, slug="small")
    many = await _statements(api, MEMBERS, large.people[Role.VIEWER].token, slug="large")
    assert few == many
    # session, the org by slug with the viewer's membership (one statement), page, count,
    # users; and, on a person's first request of the minute, the plans of their orgs for their
    # cost budget (engine/cost.py)
    assert many <= 6, many


async def _member_of(settings: Settings, email: str, orgs: int) -> Person:
    someone = await signed_in(settings, email)
    for n in range(orgs):
        org = await Organization.create(name=f"Org {n} of {email}",
                                        slug=f"{email.split('@')[0]}-{n}")
        await Membership.create(organization=org, user=someone.user,
                                role=list(Role)[n % len(Role)])
    return someone


async def test_my_memberships_with_their_orgs_are_constant(api: Api, settings: Settings) -> None:
    two = await _member_of(settings, "two@example.com", 2)
    twenty = await _member_of(settings, "twenty@example.com", 20)
    few = await _statements(api, MY_ORGS, two.token)
    many = await _statements(api, MY_ORGS, twenty.token)
    assert few == many
    # session, memberships, organizations, and the plans of their orgs for the cost budget
    # (once a minute per person, engine/cost.py)
    assert many <= 4, many
    body = await api.gql(MY_ORGS, token=twenty.token)
    assert len(body["data"]["me"]["memberships"]["nodes"]) == 20


async def test_invitations_and_activity_with_people_are_constant(api: Api,
                                                                 settings: Settings) -> None:
    counts = {}
    for slug, size in (("small", 3), ("large", 30)):
        team = await make_team(api, settings, slug)
        inviters = await _users(settings, f"{slug}.inviter", size)
        for n, inviter in enumerate(inviters):
            await Membership.create(organization=team.org, user=inviter, role=Role.ADMIN)
            await add_invitation(team, f"{slug}.guest{n}@example.com", invited_by=inviter)
            await ActivityEvent.create(organization=team.org, actor=inviter,
                                       action="invitation.created", target_type="invitation")
        token = team.people[Role.OWNER].token
        counts[slug] = (await _statements(api, INVITATIONS, token, slug=slug),
                        await _statements(api, ACTIVITY, token, slug=slug))
    assert counts["small"] == counts["large"]
    assert max(counts["large"]) <= 6, counts
