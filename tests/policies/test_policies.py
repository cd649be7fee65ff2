"""The terms and privacy policy over HTTP: the version in force from configuration, acceptance
at sign-up and through acceptPolicy, the pending acceptance, and one notice email per user and
version however often and however concurrently the sweep runs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from core.settings import ConfigurationError, Settings
from mail import Mailer
from models.accounts import User
from models.orgs import Role
from models.policies import PolicyAcceptance, PolicyNotice
from resolvers.policies import send_policy_notices
from services import Services
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import make_team, signed_in
from tests.policies.conftest import NEW, OLD, old_user
from tests.smtp import Inbox, body_of, free_port
from tests.tokens.conftest import make_token

ME = """{ me { pendingPolicyAcceptance { version url effectiveOn }
              policyAcceptances(first: 5) { totalCount nodes { version createdAt } } } }"""
ACCEPT = """mutation($version: String!) { acceptPolicy(input: {version: $version}) { user {
  pendingPolicyAcceptance { version } } } }"""


async def test_the_current_policy_is_public_and_comes_from_configuration(api: Api) -> None:
    body = await api.gql("{ currentPolicy { version url effectiveOn } }")
    assert body["data"]["currentPolicy"] == {
        "version": NEW, "url": "https://relleks.test/legal/2027", "effectiveOn": "2027-01-15"}


async def test_sign_up_records_acceptance_of_the_version_in_force(api: Api) -> None:
    payload = await api.sign_up(email="new@example.com")
    user = await User.get(email="new@example.com")
    assert user.terms_version == NEW
    (row,) = await PolicyAcceptance.filter(user_id=user.id)
    assert row.version == NEW
    me = (await api.gql(ME, token=payload["accessToken"]))["data"]["me"]
    assert me["pendingPolicyAcceptance"] is None
    assert [n["version"] for n in me["policyAcceptances"]["nodes"]] == [NEW]


async def test_a_user_on_an_old_version_sees_it_pending_and_accepts_the_new_one(
        api: Api, settings: Settings) -> None:
    olde = await old_user(settings, "olde@example.com")
    me = (await api.gql(ME, token=olde.token))["data"]["me"]
    assert me["pendingPolicyAcceptance"] == {"version": NEW, "url": settings.terms_url,
                                             "effectiveOn": "2027-01-15"}
    # Only the version in force can be accepted.
    for wrong in (OLD, "2099-01-01", ""):
        body = await api.gql(ACCEPT, {"version": wrong}, token=olde.token)
        assert error_code(body) == "BAD_USER_INPUT"
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {"version"}
    assert await PolicyAcceptance.filter(user_id=olde.user.id).count() == 0
    body = await api.gql(ACCEPT, {"version": NEW}, token=olde.token)
    assert body["data"]["acceptPolicy"]["user"] == {"pendingPolicyAcceptance": None}
    user = await User.get(id=olde.user.id)
    assert user.terms_version == NEW
    assert datetime.now(UTC) - user.terms_accepted_at < timedelta(minutes=1)
    # Accepting again records nothing more.
    await api.gql(ACCEPT, {"version": NEW}, token=olde.token)
    (row,) = await PolicyAcceptance.filter(user_id=olde.user.id)
    assert row.version == NEW
    me = (await api.gql(ME, token=olde.token))["data"]["me"]
    assert me["pendingPolicyAcceptance"] is None
    assert me["policyAcceptances"]["totalCount"] == 1


async def test_tokens_and_anonymous_callers_cannot_accept(api: Api, settings: Settings) -> None:
    team = await make_team(api, settings, "acme")
    token = await make_token(team, ["org:read"])
    body = await api.gql(ACCEPT, {"version": NEW}, token=token.secret)
    assert errors_of(body)[0]["extensions"]["reason"] == "PERSON_ONLY"
    assert error_code(await api.gql(ACCEPT, {"version": NEW})) == "UNAUTHENTICATED"
    assert await PolicyAcceptance.filter(user_id=team.people[Role.ADMIN].user.id).count() == 0


async def test_each_user_who_has_not_accepted_gets_one_email_per_version(
        api: Api, settings: Settings, services: Services, inbox: Inbox) -> None:
    olde = await old_user(settings, "olde@example.com", "Olde User")
    other = await old_user(settings, "other@example.com", "Other User")
    current = await signed_in(settings, "current@example.com")  # accepted NEW already
    assert await send_policy_notices(services) == 2
    assert {m["To"] for m in inbox.messages} == {olde.email, other.email}
    (mail,) = inbox.to(olde.email)
    assert "updated its terms" in str(mail["Subject"])
    text = body_of(mail)
    assert text.splitlines()[0] == "Hello," and "Olde User" not in text  # no typed name
    assert NEW in text and settings.terms_url in text
    assert "15 January 2027" in text
    notices = await PolicyNotice.filter(version=NEW).order_by("user_id")
    assert {n.user_id for n in notices} == {olde.user.id, other.user.id}
    assert all(n.sent_at is not None for n in notices)
    assert current.user.id not in {n.user_id for n in notices}
    # Running the sweep again sends nothing, nor after one of them accepts.
    assert await send_policy_notices(services) == 0
    await api.gql(ACCEPT, {"version": NEW}, token=olde.token)
    assert await send_policy_notices(services) == 0
    assert len(inbox.messages) == 2


async def test_concurrent_sweeps_mail_each_user_once(settings: Settings, services: Services,
                                                     inbox: Inbox) -> None:
    people = [await old_user(settings, f"u{i}@example.com") for i in range(5)]
    sent = await asyncio.gather(*(send_policy_notices(services, batch=2) for _ in range(3)))
    assert sum(sent) == 5
    assert sorted(m["To"] for m in inbox.messages) == sorted(p.email for p in people)


async def test_a_notice_that_failed_to_send_is_retried_later_and_sent_once(
        settings: Settings, services: Services, inbox: Inbox) -> None:
    olde = await old_user(settings, "olde@example.com")
    # Nothing listens on this port: the send fails, the claim stays unsent.
    dead = Mailer(dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}"))
    assert await send_policy_notices(dataclasses.replace(services, mailer=dead)) == 0
    (notice,) = await PolicyNotice.filter(user_id=olde.user.id)
    assert notice.sent_at is None
    # A fresh claim is left alone (its sender may still be at work) ...
    assert await send_policy_notices(services) == 0
    assert inbox.messages == []
    # ... and taken on again once it is stale.
    await PolicyNotice.filter(id=notice.id).update(
        claimed_at=datetime.now(UTC) - timedelta(hours=1))
    assert await send_policy_notices(services) == 1
    assert [m["To"] for m in inbox.messages] == [olde.email]
    assert (await PolicyNotice.get(id=notice.id)).sent_at is not None
    assert await send_policy_notices(services) == 0


@pytest.mark.no_db
def test_the_policy_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"TERMS_VERSION": "2027-03-01"})
    assert settings.policy_date == date(2027, 3, 1)
    assert settings.policy_url == "http://127.0.0.1:8000/legal/privacy?version=2027-03-01"
    named = Settings.from_env({"TERMS_VERSION": "v7", "TERMS_DATE": "2027-04-02",
                               "TERMS_URL": "https://example.com/privacy"})
    assert named.policy_date == date(2027, 4, 2)
    assert named.policy_url == "https://example.com/privacy"
    with pytest.raises(ConfigurationError, match="TERMS_DATE"):
        Settings.from_env({"TERMS_VERSION": "v7"})
    with pytest.raises(ConfigurationError, match="TERMS_DATE"):
        Settings.from_env({"TERMS_DATE": "soon"})
