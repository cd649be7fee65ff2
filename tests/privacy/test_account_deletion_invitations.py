"""Deleting an account ends the invitations the person sent, as it ends their API tokens: at
once when the deletion is asked for, and (for any sent since, during the grace period) when it
is carried out. Each ends in the organization's activity log with its reason."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from models.activity import ActivityEvent
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.orgs import Invitation, Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.orgs.conftest import Team, add_invitation, signed_in
from tests.privacy.conftest import pass_grace_period, run_due_work

DELETE = """mutation($p: String!) { deleteAccount(input: {password: $p}) { scheduledDeletion {
  id status } } }"""


async def revoked(team: Team) -> dict[str, tuple[bool, list[str]]]:
    """Each invitation's email: whether it is revoked, and the reasons logged for it."""
    events = await ActivityEvent._scoped(team.org.id).filter(action="invitation.revoked")
    reasons: dict[Any, list[str]] = {}
    for event in events:
        reasons.setdefault(event.target_id, []).append(event.summary.get("reason"))
    return {i.email: (i.revoked_at is not None, reasons.get(i.id, []))
            for i in await Invitation._scoped(team.org.id)}


async def test_deleting_your_account_ends_the_invitations_you_sent(
        api: Api, app: Any, team: Team) -> None:
    admin = team.people[Role.ADMIN].user
    await add_invitation(team, "before@example.com", Role.ADMIN, invited_by=admin)
    await add_invitation(team, "owners@example.com", Role.MEMBER)
    body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=team.people[Role.ADMIN].token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING", body
    assert await revoked(team) == {"before@example.com": (True, ["account_deletion"]),
                                   "owners@example.com": (False, [])}

    # One sent during the grace period (signed in again) ends when the deletion runs.
    await add_invitation(team, "during@example.com", Role.MEMBER, invited_by=admin)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert (await ScheduledWork.get(id=work.id)).status is WorkStatus.DONE
    assert await revoked(team) == {"before@example.com": (True, ["account_deletion"]),
                                   "during@example.com": (True, ["account_deleted"]),
                                   "owners@example.com": (False, [])}


async def test_an_account_that_never_proved_its_address_leaves_the_invitations_to_it(
        api: Api, app: Any, team: Team, settings: Settings) -> None:
    """Someone who signs up with another person's address (never verified) and deletes the
    account must not wipe the invitations that person is waiting for."""
    squatter = await signed_in(settings, "awaited@example.com", verified=False)
    await add_invitation(team, "awaited@example.com", Role.MEMBER)
    verified = await signed_in(settings, "mine@example.com")
    await add_invitation(team, "mine@example.com", Role.MEMBER)
    for person in (squatter, verified):
        body = await api.gql(DELETE, {"p": STRONG_PASSWORD}, token=person.token)
        assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING", body
    for work in await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION):
        await pass_grace_period(work.id)
    await run_due_work(app)
    assert await ScheduledWork.filter(status=WorkStatus.DONE).count() == 2
    left = {i.email for i in await Invitation._scoped(team.org.id)}
    assert left == {"awaited@example.com"}  # the verified owner's own invitation went
