"""Every token scope against every subscription, over WebSocket (the HTTP walk of the other
fields is tests/tokens/test_scope_walk.py, whose reading of the declarations this reuses)."""

from __future__ import annotations

import pytest

from auth.permissions import PERSON_ONLY, TOKEN_SCOPES, Permission
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, socket
from tests.realtime.helpers import ACTIVITY, LEAD_EVENTS, MEMBERSHIP_EVENTS
from tests.tokens.conftest import make_token
from tests.tokens.test_scope_walk import DECLARED, _refused_for

SUBSCRIPTIONS = {"Subscription.leadEvents": LEAD_EVENTS, "Subscription.activity": ACTIVITY,
                 "Subscription.membershipEvents": MEMBERSHIP_EVENTS}


@pytest.mark.no_db
def test_every_subscription_is_walked() -> None:
    assert set(SUBSCRIPTIONS) == {f for f in DECLARED if f.startswith("Subscription.")}


async def _outcome(server: Server, team: Team, secret: str, field: str) -> dict[str, object]:
    """The refusal of subscribing to `field` with the token, or {} when it stays open."""
    async with socket(server) as ws:
        assert await ws.init({"token": secret}) == {"type": "connection_ack"}
        await ws.subscribe(SUBSCRIPTIONS[field], {"org": team.org_id})
        try:
            payload = await ws.next(wait=1)
        except TimeoutError:
            return {}
        return payload


@pytest.mark.parametrize("field", sorted(SUBSCRIPTIONS))
async def test_each_scope_against_the_subscription(embedded: Server, team: Team,
                                                   field: str) -> None:
    needs = DECLARED[field]
    for scope in TOKEN_SCOPES:
        token = await make_token(team, [scope.value])
        refused = _refused_for(needs, frozenset({scope}))
        outcome = await _outcome(embedded, team, token.secret, field)
        if refused is None:
            assert outcome == {}, (field, scope, outcome)
            continue
        errors = outcome["errors"]
        assert isinstance(errors, list) and len(errors) == 1, (field, scope, outcome)
        extensions = errors[0]["extensions"]
        assert extensions["code"] == "FORBIDDEN", (field, scope, outcome)
        name = extensions.get("reason") if extensions.get("reason") == "PERSON_ONLY" \
            else extensions["permission"]
        assert name in refused, (field, scope, outcome)
    grantable = needs.permissions - PERSON_ONLY
    exact = await make_token(team, [p.value for p in grantable] or [Permission.ORG_READ.value])
    outcome = await _outcome(embedded, team, exact.secret, field)
    assert (outcome == {}) == (_refused_for(needs, grantable) is None), (field, outcome)
