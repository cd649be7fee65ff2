"""Consents over HTTP: opt-in defaults, granting and withdrawing with a dated history, shown to
the person alone, and refused to API tokens and anonymous callers."""

from __future__ import annotations

from core.settings import Settings
from models.consents import Consent, ConsentKind
from models.orgs import Role
from resolvers.consents import has_consent
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of
from tests.orgs.conftest import Team, make_team, signed_in
from tests.tokens.conftest import make_token

ME = """{ me { consents { kind granted changedAt policyVersion }
              consentHistory(first: 10) { totalCount nodes { kind granted createdAt
                                                             policyVersion } } } }"""
SET = """mutation($kind: ConsentKind!, $granted: Boolean!) {
  setConsent(input: {kind: $kind, granted: $granted}) { consent {
    kind granted changedAt policyVersion } } }"""


async def test_every_consent_starts_withheld_with_no_history(api: Api, settings: Settings
                                                             ) -> None:
    ada = await signed_in(settings, "ada@example.com")
    body = await api.gql(ME, token=ada.token)
    assert body["data"]["me"] == {
        "consents": [
            {"kind": "AI_TRAINING", "granted": False, "changedAt": None, "policyVersion": None},
            {"kind": "PRODUCT_EMAILS", "granted": False, "changedAt": None,
             "policyVersion": None}],
        "consentHistory": {"totalCount": 0, "nodes": []}}
    assert not await has_consent(ada.user.id, ConsentKind.AI_TRAINING)


async def test_each_change_is_a_dated_record_and_the_latest_is_the_state(
        api: Api, settings: Settings) -> None:
    ada = await signed_in(settings, "ada@example.com")
    granted = await api.gql(SET, {"kind": "AI_TRAINING", "granted": True}, token=ada.token)
    assert "errors" not in granted, granted
    state = granted["data"]["setConsent"]["consent"]
    assert state["granted"] is True and state["changedAt"]
    assert state["policyVersion"] == settings.terms_version
    assert await has_consent(ada.user.id, ConsentKind.AI_TRAINING)
    # The same state again records nothing.
    again = await api.gql(SET, {"kind": "AI_TRAINING", "granted": True}, token=ada.token)
    assert again["data"]["setConsent"]["consent"] == state
    withdrawn = await api.gql(SET, {"kind": "AI_TRAINING", "granted": False}, token=ada.token)
    assert withdrawn["data"]["setConsent"]["consent"]["granted"] is False
    await api.gql(SET, {"kind": "PRODUCT_EMAILS", "granted": True}, token=ada.token)
    assert not await has_consent(ada.user.id, ConsentKind.AI_TRAINING)
    assert await has_consent(ada.user.id, ConsentKind.PRODUCT_EMAILS)

    me = (await api.gql(ME, token=ada.token))["data"]["me"]
    assert [(c["kind"], c["granted"]) for c in me["consents"]] == [
        ("AI_TRAINING", False), ("PRODUCT_EMAILS", True)]
    history = me["consentHistory"]
    assert history["totalCount"] == 3
    assert [(n["kind"], n["granted"]) for n in history["nodes"]] == [
        ("PRODUCT_EMAILS", True), ("AI_TRAINING", False), ("AI_TRAINING", True)]
    stamps = [n["createdAt"] for n in history["nodes"]]
    assert stamps == sorted(stamps, reverse=True)
    rows = await Consent.filter(user_id=ada.user.id).order_by("created_at")
    assert [(r.kind, r.granted) for r in rows] == [
        (ConsentKind.AI_TRAINING, True), (ConsentKind.AI_TRAINING, False),
        (ConsentKind.PRODUCT_EMAILS, True)]
    assert {r.policy_version for r in rows} == {settings.terms_version}


async def test_a_persons_consents_are_shown_to_them_alone(api: Api, settings: Settings) -> None:
    team: Team = await make_team(api, settings, "acme")
    member = team.people[Role.MEMBER]
    await api.gql(SET, {"kind": "AI_TRAINING", "granted": True}, token=member.token)
    # Other people see a `User`, which has no consents.
    body = await api.gql("""query($id: ID!) { node(id: $id) { ... on User { name
        consents { granted } } } }""", {"id": member.id}, token=team.people[Role.OWNER].token)
    assert errors_of(body)[0]["message"].startswith(
        "Cannot query field 'consents' on type 'User'.")
    me = """{ me { name consents { kind granted }
        consentHistory(first: 5) { totalCount nodes { granted } } } }"""
    own = (await api.gql(me, token=member.token))["data"]["me"]
    assert own["consentHistory"]["totalCount"] == 1
    assert {"kind": "AI_TRAINING", "granted": True} in own["consents"]
    # `logIn` answers with a `Me` before its request is signed in as that person: without
    # what only they see.
    body = await api.gql("""mutation($e: String!, $p: String!) { logIn(input: {email: $e,
        password: $p}) { user { name consents { granted } consentHistory { totalCount } } } }""",
                         {"e": member.email, "p": STRONG_PASSWORD})
    assert body["data"]["logIn"]["user"] == {"name": "Mia Member", "consents": None,
                                             "consentHistory": {"totalCount": 0}}


async def test_tokens_and_anonymous_callers_cannot_set_consents(api: Api, settings: Settings
                                                                ) -> None:
    team = await make_team(api, settings, "acme")
    token = await make_token(team, ["org:read"])
    body = await api.gql(SET, {"kind": "AI_TRAINING", "granted": True}, token=token.secret)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN", "reason": "PERSON_ONLY"}
    anonymous = await api.gql(SET, {"kind": "AI_TRAINING", "granted": True})
    assert error_code(anonymous) == "UNAUTHENTICATED"
    bad = await api.gql(SET, {"kind": "EVERYTHING", "granted": True},
                        token=team.people[Role.OWNER].token)
    assert error_code(bad) == "BAD_USER_INPUT"
    assert await Consent.all().count() == 0
