"""Every token scope against every subscription, over WebSocket (the HTTP walk of the other
fields is tests/tokens/test_scope_walk.py, whose reading of the declarations this reuses)."""

from __future__ import annotations

import pytest

from auth.permissions import PERSON_ONLY, TOKEN_SCOPES, Permission
from models.ai import AiFeature, AiGeneration, AiStatus
from models.leads import Lead
from tests.orgs.conftest import Team, gid
from tests.realtime.conftest import Server, socket
from tests.realtime.helpers import ACTIVITY, LEAD_EVENTS, MEMBERSHIP_EVENTS
from tests.tokens.conftest import make_token
from tests.tokens.test_scope_walk import DECLARED, _refused_for

AI_GENERATION = "subscription($id: ID!) { aiGeneration(id: $id) { status } }"
SUBSCRIPTIONS = {"Subscription.leadEvents": LEAD_EVENTS, "Subscription.activity": ACTIVITY,
                 "Subscription.membershipEvents": MEMBERSHIP_EVENTS,
                 "Subscription.aiGeneration": AI_GENERATION}


async def _variables(team: Team, field: str) -> dict[str, object]:
    """The organization, or for `aiGeneration` a finished generation of it (which answers
    its final state at once and completes: an answer with data is no refusal)."""
    if field != "Subscription.aiGeneration":
        return {"org": team.org_id}
    lead = await Lead.create(organization=team.org, name="Ada Lead")
    generation = await AiGeneration.create(organization=team.org, lead=lead,
                                           feature=AiFeature.SUMMARY,
                                           status=AiStatus.SUCCEEDED, output_text="Done.")
    return {"id": gid("AiGeneration", generation.id)}


@pytest.mark.no_db
def test_every_subscription_is_walked() -> None:
    assert set(SUBSCRIPTIONS) == {f for f in DECLARED if f.startswith("Subscription.")}


async def _outcome(server: Server, team: Team, secret: str, field: str,
                   variables: dict[str, object]) -> dict[str, object]:
    """The refusal of subscribing to `field` with the token, or {} when it stays open (or
    answers with data)."""
    async with socket(server) as ws:
        assert await ws.init({"token": secret}) == {"type": "connection_ack"}
        await ws.subscribe(SUBSCRIPTIONS[field], variables)
        try:
            payload = await ws.next(wait=1)
        except TimeoutError:
            return {}
        return payload if payload.get("errors") else {}


@pytest.mark.parametrize("field", sorted(SUBSCRIPTIONS))
async def test_each_scope_against_the_subscription(embedded: Server, team: Team,
                                                   field: str) -> None:
    needs = DECLARED[field]
    variables = await _variables(team, field)
    for scope in TOKEN_SCOPES:
        token = await make_token(team, [scope.value])
        refused = _refused_for(needs, frozenset({scope}))
        outcome = await _outcome(embedded, team, token.secret, field, variables)
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
    outcome = await _outcome(embedded, team, exact.secret, field, variables)
    assert (outcome == {}) == (_refused_for(needs, grantable) is None), (field, outcome)
