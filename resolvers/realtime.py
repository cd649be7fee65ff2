"""The logic behind subscriptions: which published events a subscriber gets, checked how.

A subscription follows its topics through the broker (`realtime/`). Each event is checked
against the subscriber's permissions as they are NOW, not as they were when it subscribed: the
credential is re-read (an ended session or revoked token ends the stream), the context gets new
loaders and access control, and the permission is required again (a removed or demoted member's
stream ends with an error saying why). Events that change access (memberships, tokens) trigger
that check even when they are not delivered, so the stream ends at once. A stream catching up on
a backlog checks once for the events that were already waiting (`Checks`), not once per event.
The lead of a lead event
is read again through the tenant scope: subscribers see it as it is, through the same types and
permissions as queries, and an API token or partner app hears nothing of a restricted lead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from aiodataloader import DataLoader

from auth.authenticate import recheck_viewer, session_viewer, token_viewer
from auth.permissions import Permission
from auth.viewer import Viewer
from core.errors import Forbidden, RateLimited, Unauthenticated
from engine.context import Context
from models.accounts import Session
from models.activity import ActivityEvent
from models.leads import Lead, Note
from models.orgs import Membership, Role
from models.tenancy import system_scope
from models.tokens import ApiToken
from observability.metrics import count_subscription_check
from realtime.broker import Overflow, Subscriber
from realtime.events import email_topic, org_topic, user_topic

ENDED = "The subscription has ended."

CHECK_COVERS_S = 1.0
"""How long one check of a subscriber's credential and permission may cover the events that
were already waiting for it when it ran (see `Checks`)."""

ACCESS_ACTIONS = frozenset({"member.role_changed", "member.removed", "member.left",
                            "organization.ownership_transferred", "api_token.revoked"})
"""Actions after which an org's subscribers are re-checked even if the event is not theirs."""


class LeadEventType(Enum):
    CREATED = "lead.created"
    UPDATED = "lead.updated"
    DELETED = "lead.deleted"
    ASSIGNED = "lead.assigned"
    STATUS_CHANGED = "lead.status_changed"
    NOTE_ADDED = "note.added"


LEAD_ACTIONS = {kind.value: kind for kind in LeadEventType}


class MembershipEventType(Enum):
    INVITED = "invitation.created"
    INVITATION_REVOKED = "invitation.revoked"
    JOINED = "member.joined"
    ROLE_CHANGED = "member.role_changed"
    OWNERSHIP_TRANSFERRED = "organization.ownership_transferred"
    REMOVED = "member.removed"
    LEFT = "member.left"


MEMBERSHIP_ACTIONS = {kind.value: kind for kind in MembershipEventType}


@dataclass
class LeadChange:
    """One lead event as delivered: the lead as it is now (None once deleted)."""

    type: LeadEventType
    organization_id: uuid.UUID
    lead_id: uuid.UUID
    lead: Lead | None
    note: Note | None
    changed_fields: list[str]
    occurred_at: datetime
    committed_at: float


@dataclass
class MembershipChange:
    """One change to the subscriber's own membership of an organization."""

    type: MembershipEventType
    organization_id: uuid.UUID
    role: Role | None
    membership: Membership | None
    occurred_at: datetime
    committed_at: float


@dataclass
class LeadEventFilter:
    types: list[LeadEventType] | None = None
    owner_id: uuid.UUID | None = None
    owner_given: bool = False


def _loader(load: Callable[[list[Any]], Awaitable[dict[Any, Any]]]) -> DataLoader[Any, Any]:
    async def batch(keys: Sequence[Hashable]) -> list[Any]:
        found = await load(list(keys))
        return [found.get(key) for key in keys]

    return DataLoader(batch_load_fn=batch)


class EventReads:
    """The rows that this process's subscribers of ONE event of one org need, read once for
    all of them: their sessions or tokens, their memberships, the lead and the note. Every
    subscriber still checks its own credential and permission; only the reading is shared
    (1,000 subscribers of an event cost a handful of queries, not thousands). The rows are
    read after the event's commit, when the first subscriber handles it, and serve that event
    only: a later change (a new role, a revoked token) has its own event, read anew."""

    def __init__(self, org_id: uuid.UUID) -> None:
        self.org_id = org_id
        self.scope = system_scope(org_id, reason="realtime: an event's rows, read once for its "
                                  "subscribers, each of whom then checks its own permission")
        self.sessions = _loader(self._sessions)
        self.tokens = _loader(self._tokens)
        self.memberships = _loader(self._memberships)
        self.leads = _loader(self._leads)
        self.notes = _loader(self._notes)

    @staticmethod
    async def _sessions(ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """Which sessions are live (ids only: the user's row is the one the connection has)."""
        live = await Session.filter(id__in=ids, revoked_at__isnull=True,
                                    expires_at__gt=datetime.now(UTC)).values_list("id", flat=True)
        return dict.fromkeys(cast("list[uuid.UUID]", live), True)

    async def _tokens(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, ApiToken]:
        rows = await self.scope.scoped(ApiToken).filter(id__in=ids).select_related("created_by")
        return {row.id: row for row in rows}

    async def _memberships(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Membership]:
        rows = await self.scope.scoped(Membership).filter(user_id__in=user_ids)
        return {row.user_id: row for row in rows}

    async def _leads(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Lead]:
        return {row.id: row for row in await self.scope.scoped(Lead).filter(id__in=ids)}

    async def _notes(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Note]:
        return {row.id: row for row in await self.scope.scoped(Note).filter(id__in=ids)}

    async def viewer(self, viewer: Viewer) -> Viewer:
        """`viewer` as the database has it now (see `auth.authenticate.recheck_viewer`)."""
        if viewer.expires_at is not None and viewer.expires_at <= datetime.now(UTC):
            return await recheck_viewer(viewer)  # says why, reading nothing
        if viewer.token is not None:
            return token_viewer(await self.tokens.load(viewer.token.id), datetime.now(UTC))
        if viewer.grant is not None:  # partner apps are few per org: read on their own
            return await recheck_viewer(viewer)
        if viewer.session is not None:
            live = await self.sessions.load(viewer.session.id)
            return session_viewer(viewer.session if live else None, via_cookie=viewer.via_cookie,
                                  expires_at=viewer.expires_at)
        return viewer


def reads_of(message: dict[str, Any], org_id: uuid.UUID) -> EventReads:
    """The event's shared reads: the hub hands every local subscriber the same message."""
    shared = message.setdefault("_reads", {})
    if org_id not in shared:
        shared[org_id] = EventReads(org_id)
    return shared[org_id]


class Checks:
    """Which of a stream's events its last check of credential and permission covers.

    A stream that keeps up checks every event it delivers. One that fell behind (the process
    was busy; events came faster than one at a time through the check's reads) would pay that
    check's round trips (the session or token, the membership) for every event of its backlog,
    one after another, and fall further behind: in the soak, a process serving half the load
    delivered 26 events a second to each of its subscribers while 30 came, until the buffer
    bound ended them. So a check covers the events already queued when it ran, for
    `CHECK_COVERS_S` at most. An event is published only after its transaction commits, so each
    of those was committed before the check read the database: the check saw every change of
    access they follow, an access event among them included (its change had ended the stream
    already). What the bound is for: a change that publishes nothing to the stream's topic (a
    session ended) is seen within a second. The context still gets new loaders for every
    event."""

    def __init__(self) -> None:
        self.subscriber: Subscriber | None = None
        self.through = 0
        self.at = 0.0
        self.member: Membership | None = None

    def cover(self) -> bool:
        """Whether the event being handled was waiting when the last check ran, recently."""
        return (self.subscriber is not None and self.subscriber.taken <= self.through
                and time.monotonic() - self.at < CHECK_COVERS_S)

    def passed(self, member: Membership | None) -> None:
        assert self.subscriber is not None
        self.through, self.at = self.subscriber.queued_through, time.monotonic()
        self.member = member


async def _events(ctx: Context, topics: list[str], checks: Checks | None = None
                  ) -> AsyncIterator[dict[str, Any]]:
    """The messages on `topics`; an overflowed buffer ends the stream with RATE_LIMITED."""
    async with ctx.services.broker.subscribe(topics) as subscriber:
        if checks is not None:
            checks.subscriber = subscriber
        if ctx.listening is not None:
            ctx.listening()
        try:
            async for message in subscriber:
                yield message
        except Overflow as exc:
            error = RateLimited(f"{exc} {ENDED}", retry_after=1)
            error.extensions["reason"] = "SUBSCRIBER_OVERFLOW"
            raise error from None


async def renew(ctx: Context, reads: EventReads | None = None) -> None:
    """Re-read the credential and start new loaders and access control for one event."""
    viewer = await (reads.viewer(ctx.viewer) if reads else recheck_viewer(ctx.viewer))
    if viewer.user is None and viewer.credential is None:
        raise Unauthenticated(f"{viewer.error} {ENDED}", reason="CREDENTIAL_ENDED")
    ctx.renew(viewer)


async def require_still(ctx: Context, reads: EventReads, permission: Permission,
                        checks: Checks | None = None) -> None:
    """`permission` in the event's org as of now, or the stream ends saying why; with
    `checks`, a recent check that covers this event (see `Checks`) stands for it."""
    org_id = reads.org_id
    if checks is not None and checks.cover():
        ctx.renew(ctx.viewer)
        if checks.member is not None and ctx.viewer.user is not None:
            ctx.access.prime(checks.member)
        count_subscription_check("covered")
        return
    count_subscription_check("read")
    await renew(ctx, reads)
    if ctx.viewer.user is not None:
        member = await reads.memberships.load(ctx.viewer.user.id)
        if member is not None:
            ctx.access.prime(member)  # the access check below then reads no row of its own
    else:  # an API token or OAuth grant: a member of its own org only, no row to read
        member = await ctx.access.membership(org_id)
    if member is None:
        raise Forbidden(f"You are no longer a member of this organization. {ENDED}",
                        reason="MEMBERSHIP_ENDED")
    try:
        await ctx.access.require(org_id, permission)
    except Forbidden as exc:
        raise Forbidden(f"You no longer have this permission: {exc.message} {ENDED}",
                        reason="PERMISSION_REVOKED", permission=permission.value) from None
    if checks is not None:
        checks.passed(member if ctx.viewer.user is not None else None)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def lead_events(ctx: Context, org_id: uuid.UUID, flt: LeadEventFilter
                      ) -> AsyncIterator[LeadChange]:
    """The org's lead events that pass `flt`, each re-checked for LEADS_READ at delivery."""
    checks = Checks()
    async for message in _events(ctx, [org_topic(org_id)], checks):
        if message.get("organizationId") != str(org_id):
            continue  # never another org's event, whatever reached the channel
        action = message.get("action", "")
        kind = LEAD_ACTIONS.get(action)
        wanted = kind is not None and (not flt.types or kind in flt.types)
        reads = reads_of(message, org_id)
        if not wanted:
            if action in ACCESS_ACTIONS:
                await require_still(ctx, reads, Permission.LEADS_READ, checks)
            continue
        assert kind is not None
        await require_still(ctx, reads, Permission.LEADS_READ, checks)
        change = await _lead_change(reads, kind, message)
        if change is None:
            continue
        if ctx.access.hides_restricted and _restricted(change, message):
            continue  # the lead does not exist for an API token or partner app
        if flt.owner_given:
            owner = change.lead.owner_id if change.lead is not None \
                else _uuid(message["extra"].get("ownerId"))
            if owner != flt.owner_id:
                continue
        yield change


def _restricted(change: LeadChange, message: dict[str, Any]) -> bool:
    """Whether the event's lead is restricted: as read now, or (once deleted) when deleted."""
    if change.lead is not None:
        return change.lead.restricted
    return bool((message.get("extra") or {}).get("restricted"))


async def _lead_change(reads: EventReads, kind: LeadEventType, message: dict[str, Any]
                       ) -> LeadChange | None:
    """The event's lead and note, read (once for all local subscribers) in the org whose
    permission the subscriber just passed; both at once (a note's event names its lead)."""
    summary = message.get("summary") or {}
    note_id = _uuid(message.get("targetId")) if kind is LeadEventType.NOTE_ADDED else None
    lead_id = _uuid(summary.get("lead")) if kind is LeadEventType.NOTE_ADDED \
        else _uuid(message.get("targetId"))
    if lead_id is None:
        return None
    note_read = reads.notes.load(note_id) if note_id is not None else None
    lead = None
    if kind is not LeadEventType.DELETED:
        lead = await reads.leads.load(lead_id)
    note = await note_read if note_read is not None else None
    if lead is None and kind is not LeadEventType.DELETED:
        return None  # deleted since: its DELETED event follows
    fields = summary.get("fields") if kind is LeadEventType.UPDATED else None
    return LeadChange(type=kind, organization_id=reads.org_id, lead_id=lead_id, lead=lead,
                      note=note, changed_fields=[str(f) for f in fields or []],
                      occurred_at=datetime.fromisoformat(message["createdAt"]),
                      committed_at=float(message.get("committedAt", 0)))


async def activity_events(ctx: Context, org_id: uuid.UUID) -> AsyncIterator[ActivityEvent]:
    """The org's activity events as written, each re-checked for ACTIVITY_READ at delivery."""
    checks = Checks()
    async for message in _events(ctx, [org_topic(org_id)], checks):
        if message.get("organizationId") != str(org_id):
            continue
        await require_still(ctx, reads_of(message, org_id), Permission.ACTIVITY_READ, checks)
        yield ActivityEvent(
            id=uuid.UUID(message["id"]), organization_id=org_id, action=message["action"],
            target_type=message["targetType"], target_id=_uuid(message.get("targetId")),
            summary=message.get("summary") or {}, actor_id=_uuid(message.get("actorId")),
            api_token_id=_uuid(message.get("apiTokenId")), form_id=_uuid(message.get("formId")),
            ip=message.get("ip"),
            user_agent=message.get("userAgent"),
            created_at=datetime.fromisoformat(message["createdAt"]))


async def membership_events(ctx: Context) -> AsyncIterator[MembershipChange]:
    """The signed-in user's own memberships changing, and invitations to their verified email.
    """
    user = ctx.user
    topics = [user_topic(user.id)]
    if user.email_verified:
        topics.append(email_topic(user.email))
    async for message in _events(ctx, topics):
        kind = MEMBERSHIP_ACTIONS.get(message.get("action", ""))
        org_id = _uuid(message.get("organizationId"))
        if kind is None or org_id is None:
            continue
        await renew(ctx)
        membership = await Membership.of_user(user.id).filter(organization_id=org_id).first()
        if membership is not None:
            ctx.access.prime(membership)
        role = membership.role if membership is not None else None
        if kind in {MembershipEventType.INVITED, MembershipEventType.INVITATION_REVOKED}:
            role = _role((message.get("summary") or {}).get("role"))
        yield MembershipChange(type=kind, organization_id=org_id, role=role,
                               membership=membership,
                               occurred_at=datetime.fromisoformat(message["createdAt"]),
                               committed_at=float(message.get("committedAt", 0)))


def _role(value: Any) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None
