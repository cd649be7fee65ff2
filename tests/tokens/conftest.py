"""Fixtures for the API token tests: an org on the PRO plan (FREE allows only 2 tokens) and tokens
made directly in the database when a test is about using a token, not creating one.

`team` is the org "acme" (OWNER, ADMIN, MEMBER, VIEWER) from `tests/orgs/conftest.py`; `rival`
is "globex", another org with its own people, for tenant isolation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pytest

from auth.api_tokens import hash_api_token, new_api_token, shown_prefix
from core.settings import Settings
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.orgs import Organization, Role
from models.tokens import ApiToken
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team


async def subscribe(org: Organization, plan: Plan = Plan.PRO) -> None:
    """Put the org on a paid plan, as the billing webhook would."""
    await BillingAccount.create(organization=org, subscription_plan=plan,
                                status=SubscriptionStatus.ACTIVE)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    team = await make_team(api, settings, "acme")
    await subscribe(team.org)
    return team


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    rival = await make_team(api, settings, "globex", prefix="rival.")
    await subscribe(rival.org)
    return rival


@dataclass
class Token:
    secret: str
    row: ApiToken


async def make_token(team: Team, scopes: Iterable[str], *, name: str = "Script",
                     expires_at: datetime | None = None,
                     creator: Role = Role.ADMIN) -> Token:
    """A live token of the team's org, written directly (createApiToken is tested over HTTP)."""
    secret = new_api_token()
    row = await ApiToken.create(
        organization=team.org, created_by=team.people[creator].user, name=name,
        prefix=shown_prefix(secret), token_hash=hash_api_token(secret),
        scopes=sorted(str(s) for s in scopes), expires_at=expires_at)
    return Token(secret, row)
