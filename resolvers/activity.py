"""The activity log: writing an event with each change, and reading the log of an org."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tortoise.queryset import QuerySet

from context import Context
from models.activity import ActivityEvent


async def record(ctx: Context, org_id: uuid.UUID, action: str, *, target_type: str,
                 target_id: uuid.UUID | None, summary: dict[str, Any] | None = None
                 ) -> ActivityEvent:
    """Write one event. Call it inside the transaction of the change it describes, so both are
    saved or neither is. `summary` holds what changed, never secrets (no tokens, no passwords)."""
    return await ActivityEvent.create(
        organization_id=org_id,
        actor_id=ctx.viewer.user.id if ctx.viewer.user else None,
        api_token_id=ctx.viewer.token.id if ctx.viewer.token else None,
        oauth_grant_id=ctx.viewer.grant.id if ctx.viewer.grant else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        summary=summary or {},
        ip=ctx.client_ip,
        user_agent=ctx.user_agent,
    )


def activity_query(ctx: Context, org_id: uuid.UUID, *, action: str | None = None,
                   actor_id: uuid.UUID | None = None, since: datetime | None = None
                   ) -> QuerySet[ActivityEvent]:
    query = ctx.access.scoped(ActivityEvent, org_id)
    if action:
        query = query.filter(action=action)
    if actor_id:
        query = query.filter(actor_id=actor_id)
    if since:
        query = query.filter(created_at__gte=since)
    return query.order_by("-created_at", "-id")
