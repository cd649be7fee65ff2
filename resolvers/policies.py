"""The terms and privacy policy: the version in force, accepting it, and telling users who have
not accepted it that it changed.

The version, its URL and date come from configuration (`TERMS_VERSION`, `TERMS_URL`,
`TERMS_DATE`); a deployment with a new version makes every user whose `User.terms_version`
differs see `me.pendingPolicyAcceptance`. `send_policy_notices` mails each of them once per
version: the periodic sweep calls it, and it is safe to call again at any time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import structlog
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from core.errors import BadUserInput
from core.settings import Settings
from engine.context import Context
from mail import messages
from models.accounts import User
from models.policies import PolicyAcceptance, PolicyNotice
from realtime.outbox import in_transaction
from services import Services

NOTICE_BATCH = 200
CLAIM_TIMEOUT = timedelta(minutes=15)
"""A notice claimed but not sent after this long (its sender died, or SMTP failed) is retried."""

log = structlog.get_logger("relleks.policies")


@dataclass(frozen=True)
class Policy:
    version: str
    url: str
    effective_on: date


def current_policy(settings: Settings) -> Policy:
    return Policy(version=settings.terms_version, url=settings.policy_url,
                  effective_on=settings.policy_date)


def pending_policy(settings: Settings, user: User) -> Policy | None:
    """The policy in force when the user has not accepted it, else None."""
    return None if user.terms_version == settings.terms_version else current_policy(settings)


def acceptances_query(user_id: uuid.UUID) -> QuerySet[PolicyAcceptance]:
    """The versions the user accepted, newest first."""
    return PolicyAcceptance.filter(user_id=user_id).order_by("-created_at", "-id")


async def record_acceptance(user: User, version: str, at: datetime) -> None:
    """Write an acceptance (call it inside the transaction that creates or changes the user)."""
    await PolicyAcceptance.create(user_id=user.id, version=version, created_at=at)


async def accept_policy(ctx: Context, version: str) -> User:
    """Accept the version in force (the client sends the version it showed, so an acceptance
    never lands on a text the user did not see). Accepting it again changes nothing."""
    settings = ctx.services.settings
    if version != settings.terms_version:
        raise BadUserInput.field("version", f"is not the version in force "
                                            f"({settings.terms_version}): show that one")
    user = ctx.user
    if user.terms_version == version:
        return user
    now = datetime.now(UTC)
    async with in_transaction():
        await record_acceptance(user, version, now)
        await User.filter(id=user.id).update(terms_version=version, terms_accepted_at=now)
    user.terms_version, user.terms_accepted_at = version, now
    return user


async def send_policy_notices(services: Services, *, batch: int = NOTICE_BATCH) -> int:
    """Mail every user who has not accepted the policy in force that it changed, once per user
    and version; returns how many mails went out.

    Each mail is claimed first by inserting its `PolicyNotice` row (unique per user and
    version), so two sweeps running at once never mail the same user twice; `sent_at` is set
    once the mail is out. A claim whose mail never went out (SMTP failed, the process died) is
    taken on again after CLAIM_TIMEOUT. Policy notices are not product emails: they go out
    whatever the PRODUCT_EMAILS consent says."""
    settings = services.settings
    policy = current_policy(settings)
    sent = 0
    while True:
        now = datetime.now(UTC)
        new, seen_new = await _claim_new(policy.version, now, batch)
        stale, seen_stale = await _reclaim_stale(policy.version, now, batch)
        for notice, user in new + stale:
            try:
                await services.mailer.send(messages.policy_notice_mail(
                    to=user.email, name=user.name, version=policy.version, url=policy.url,
                    effective_on=policy.effective_on))
            except Exception:
                log.exception("mail.policy_notice_failed", user_id=str(user.id))
                continue
            await PolicyNotice.filter(id=notice.id).update(sent_at=datetime.now(UTC))
            sent += 1
        # Done when a batch found fewer candidates than it asked for, not when fewer were
        # claimed: a claim lost to a concurrent sweep leaves others behind it to mail.
        if seen_new < batch and seen_stale < batch:
            return sent


async def _claim_new(version: str, now: datetime, batch: int
                     ) -> tuple[list[tuple[PolicyNotice, User]], int]:
    """Claim up to `batch` users not yet told; returns the claims won and how many users were
    looked at."""
    told = PolicyNotice.filter(version=version).values("user_id")
    users = await User.exclude(terms_version=version) \
        .exclude(id__in=Subquery(told)).order_by("id").limit(batch)
    claimed = []
    for user in users:
        try:
            notice = await PolicyNotice.create(user_id=user.id, version=version, claimed_at=now)
        except IntegrityError:  # another sweep claimed this user first
            continue
        claimed.append((notice, user))
    return claimed, len(users)


async def _reclaim_stale(version: str, now: datetime, batch: int
                         ) -> tuple[list[tuple[PolicyNotice, User]], int]:
    """Take on up to `batch` claims whose mail never went out; returns the claims won and how
    many stale claims were looked at."""
    stale = await PolicyNotice.filter(version=version, sent_at__isnull=True,
                                      claimed_at__lt=now - CLAIM_TIMEOUT).limit(batch)
    claimed = []
    for notice in stale:
        # Compare-and-set on the old claim time: of two sweeps, one wins.
        won = await PolicyNotice.filter(id=notice.id, claimed_at=notice.claimed_at,
                                        sent_at__isnull=True).update(claimed_at=now)
        if not won:
            continue
        user = await User.get_or_none(id=notice.user_id)
        if user is not None and user.terms_version != version:
            claimed.append((notice, user))
    return claimed, len(stale)
