"""The activity log: writing an event with each change, and reading the log of an org."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tortoise.queryset import QuerySet

from engine.context import Context
from models.activity import ActivityAction, ActivityEvent, stored_actions
from realtime.events import message_of, topics_of
from realtime.outbox import queue
from resolvers.webhook_outbox import record_messages

if TYPE_CHECKING:
    from realtime.broker import Broker
    from services.queue import Jobs


async def record(ctx: Context, org_id: uuid.UUID, action: str, *, target_type: str,
                 target_id: uuid.UUID | None, summary: dict[str, Any] | None = None,
                 people: tuple[uuid.UUID | None, ...] = (), email: str | None = None,
                 extra: dict[str, Any] | None = None) -> ActivityEvent:
    """Write one event. Call it inside the transaction of the change it describes (the
    `realtime.outbox.in_transaction()` one), so both are saved or neither is, and subscribers
    hear of it once it is committed. `summary` holds what changed, never secrets (no tokens,
    no passwords). `people` are the users whose own membership it changes and `email` an
    invited address (their `membershipEvents` hear of it); `extra` holds facts for subscribers
    that the log does not keep."""
    return await write_event(
        ctx.services.broker, org_id, action, target_type=target_type, target_id=target_id,
        summary=summary, people=people, email=email, extra=extra,
        actor_id=ctx.viewer.user.id if ctx.viewer.user else None,
        api_token_id=ctx.viewer.token.id if ctx.viewer.token else None,
        oauth_grant_id=ctx.viewer.grant.id if ctx.viewer.grant else None,
        ip=ctx.client_ip, user_agent=ctx.user_agent, jobs=ctx.services.jobs)


async def write_event(broker: Broker, org_id: uuid.UUID, action: str, *, target_type: str,
                      target_id: uuid.UUID | None, summary: dict[str, Any] | None = None,
                      people: tuple[uuid.UUID | None, ...] = (), email: str | None = None,
                      extra: dict[str, Any] | None = None, actor_id: uuid.UUID | None = None,
                      api_token_id: uuid.UUID | None = None,
                      oauth_grant_id: uuid.UUID | None = None, form_id: uuid.UUID | None = None,
                      ip: str | None = None, user_agent: str | None = None,
                      jobs: Jobs | None = None) -> ActivityEvent:
    """`record` without a request: background work writes its events here (no actor: the
    system did it), in its own outbox transaction, and subscribers hear of them alike; a public
    form submission names its form (`form_id`) as the actor. `action` must be an
    `ActivityAction` (the API's enum): anything else raises ValueError. The webhook messages the
    event causes are written with it (`resolvers.webhook_outbox`); with `jobs`, their delivery
    is queued once committed, else the sweep queues it."""
    action = ActivityAction(action).value
    event = await ActivityEvent.create(
        organization_id=org_id, actor_id=actor_id, api_token_id=api_token_id,
        oauth_grant_id=oauth_grant_id, form_id=form_id, action=action, target_type=target_type,
        target_id=target_id, summary=summary or {}, ip=ip, user_agent=user_agent)
    facts = dict(extra or {})
    users = [str(person) for person in people if person is not None]
    if users:
        facts["users"] = users
    message = message_of(event, facts)
    await queue(broker, topics_of(message, email), message)
    await record_messages(event, jobs)
    return event


def activity_query(ctx: Context, org_id: uuid.UUID, *, action: ActivityAction | None = None,
                   actor_id: uuid.UUID | None = None, since: datetime | None = None
                   ) -> QuerySet[ActivityEvent]:
    query = ctx.access.scoped(ActivityEvent, org_id)
    if action:
        query = query.filter(action__in=stored_actions(action))
    if actor_id:
        query = query.filter(actor_id=actor_id)
    if since:
        query = query.filter(created_at__gte=since)
    return query.order_by("-created_at", "-id")
