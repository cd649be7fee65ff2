"""Webhook endpoints: creating, changing, enabling, disabling and deleting them, rotating their
secrets, and the delivery log (messages, attempts, redelivery, replay).

A secret is shown once, in the payload of `createWebhookEndpoint` or `rotateWebhookSecret`;
it is stored sealed (`services.webhook_signing`). A rotation keeps the previous secret signing
for `PREVIOUS_SECRET_FOR` (both signatures are sent meanwhile). The URL is checked by the
outbound client at creation and on change (https, public addresses): a refusal is
BAD_USER_INPUT naming `url`. docs/webhooks.md describes the whole.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tortoise.queryset import QuerySet

from billing.limits import ensure_within_limit
from core.errors import BadUserInput
from core.validation import validate
from engine.context import Context
from engine.keyset import Order
from models.webhooks import (
    DisabledReason,
    MessageStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
)
from realtime.outbox import after_commit, in_transaction
from resolvers.activity import record
from services import outbound
from services.webhook_signing import WebhookSecrets, new_secret

PREVIOUS_SECRET_FOR = timedelta(hours=24)
URL_MAX = 2048
DESCRIPTION_MAX = 500
REPLAY_MAX_MESSAGES = 1000
REPLAY_MAX_AGE = timedelta(days=7)
SUMMARY_NAMES = {"url": "url", "event_types": "eventTypes", "description": "description"}
LOG_ORDER = Order("created_at", descending=True, is_datetime=True)
"""The delivery log's order (messages, attempts): newest first, keyset cursors."""
REQUEUE_BATCH = 1000
"""Messages queued at once when an endpoint is enabled again; the sweep queues the rest."""


@dataclass
class EndpointWithSecret:
    """An endpoint and its new secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str


async def _check_url(ctx: Context, url: str) -> str:
    url = url.strip()
    if not url or len(url) > URL_MAX:
        raise BadUserInput.field("url", f"1 to {URL_MAX} characters")
    try:
        await outbound.check_target(ctx.services.settings, ctx.services.dns, url)
    except outbound.RefusedTarget as refused:
        raise BadUserInput(f"url: {refused.message}", {"url": refused.message},
                           reason="URL_REFUSED", refusal=refused.reason) from refused
    return url


def _event_types(values: list[str]) -> list[str]:
    known = {event.value for event in WebhookEventType}
    unknown = sorted(set(values) - known)
    if unknown or not values:
        raise BadUserInput.field(
            "eventTypes", "at least one, each a webhook event type"
            + (f" (unknown: {', '.join(unknown[:5])})" if unknown else ""))
    return sorted(set(values))


def _description(value: str | None) -> str:
    with validate() as check:
        text = check.text("description", value, max_length=DESCRIPTION_MAX)
    return text or ""


async def create_endpoint(ctx: Context, org_id: uuid.UUID, *, url: str, event_types: list[str],
                          description: str | None) -> EndpointWithSecret:
    text = _description(description)
    types = _event_types(event_types)
    url = await _check_url(ctx, url)
    secret = new_secret()
    sealed = WebhookSecrets(ctx.services.settings.secret_key).seal(secret)
    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "webhook_endpoints")
        endpoint = await WebhookEndpoint.create(
            organization_id=org_id, created_by_id=ctx.viewer.user.id if ctx.viewer.user else None,
            url=url, description=text, event_types=types, secret_sealed=sealed)
        await record(ctx, org_id, "webhook_endpoint.created", target_type="webhook_endpoint",
                     target_id=endpoint.id, summary={"eventTypes": types})
    return EndpointWithSecret(endpoint, secret)


async def get_endpoint(ctx: Context, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    return await ctx.row(WebhookEndpoint, endpoint_id, what="webhook endpoint")


async def update_endpoint(ctx: Context, endpoint_id: uuid.UUID,
                          data: dict[str, Any]) -> WebhookEndpoint:
    endpoint = await get_endpoint(ctx, endpoint_id)
    changed: list[str] = []
    if "description" in data:
        endpoint.description = _description(data["description"])
        changed.append("description")
    if data.get("event_types") is not None:
        endpoint.event_types = _event_types(data["event_types"])
        changed.append("event_types")
    if data.get("url") is not None:
        endpoint.url = await _check_url(ctx, data["url"])
        changed.append("url")
    if changed:
        async with in_transaction():
            await endpoint.save(update_fields=[*changed, "updated_at"])
            await record(ctx, endpoint.organization_id, "webhook_endpoint.updated",
                         target_type="webhook_endpoint", target_id=endpoint.id,
                         summary={"fields": sorted(SUMMARY_NAMES[c] for c in changed)})
    return endpoint


async def rotate_secret(ctx: Context, endpoint_id: uuid.UUID) -> EndpointWithSecret:
    """A new secret; the current one keeps signing (beside it) for `PREVIOUS_SECRET_FOR`."""
    endpoint = await get_endpoint(ctx, endpoint_id)
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = datetime.now(UTC) + PREVIOUS_SECRET_FOR
    endpoint.secret_sealed = WebhookSecrets(ctx.services.settings.secret_key).seal(secret)
    async with in_transaction():
        await endpoint.save(update_fields=["secret_sealed", "previous_secret_sealed",
                                           "previous_secret_expires_at", "updated_at"])
        await record(ctx, endpoint.organization_id, "webhook_endpoint.secret_rotated",
                     target_type="webhook_endpoint", target_id=endpoint.id)
    return EndpointWithSecret(endpoint, secret)


async def _queue_pending(ctx: Context, endpoint: WebhookEndpoint) -> None:
    """Make the endpoint's PENDING messages due now, each with a fresh series of attempts, and
    queue them after the commit (the first `REQUEUE_BATCH`; the sweep queues the rest)."""
    now = datetime.now(UTC)
    rows = ctx.access.scoped(WebhookMessage, endpoint.organization_id)
    pending = rows.filter(endpoint_id=endpoint.id, status=MessageStatus.PENDING)
    await pending.update(next_attempt_at=now, attempts=0)
    ids = cast("list[uuid.UUID]", await pending.order_by("created_at").limit(
        REQUEUE_BATCH).values_list("id", flat=True))
    await rows.filter(id__in=list(ids)).update(dispatched_at=now)
    jobs = ctx.services.jobs

    async def queue() -> None:
        for message_id in ids:
            await jobs.defer_webhook(message_id, endpoint.id)

    await after_commit(queue)


async def set_enabled(ctx: Context, endpoint_id: uuid.UUID, enabled: bool) -> WebhookEndpoint:
    """Enable (its waiting messages are sent) or disable (they wait) an endpoint."""
    endpoint = await get_endpoint(ctx, endpoint_id)
    if endpoint.enabled is enabled:
        return endpoint
    endpoint.update_from_dict({
        "enabled": enabled, "disabled_reason": None if enabled else DisabledReason.MANUAL,
        "disabled_at": None if enabled else datetime.now(UTC), "failing_since": None})
    async with in_transaction():
        await endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at",
                                           "failing_since", "updated_at"])
        if enabled:
            await _queue_pending(ctx, endpoint)
        await record(ctx, endpoint.organization_id,
                     "webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled",
                     target_type="webhook_endpoint", target_id=endpoint.id,
                     summary={} if enabled else {"reason": DisabledReason.MANUAL.value})
    return endpoint


async def delete_endpoint(ctx: Context, endpoint_id: uuid.UUID) -> uuid.UUID:
    """Delete an endpoint, its messages and their attempts (foreign keys cascade)."""
    endpoint = await get_endpoint(ctx, endpoint_id)
    async with in_transaction():
        await ctx.access.scoped(WebhookEndpoint, endpoint.organization_id).filter(
            id=endpoint.id).delete()
        await record(ctx, endpoint.organization_id, "webhook_endpoint.deleted",
                     target_type="webhook_endpoint", target_id=endpoint.id)
    return endpoint.id


def endpoints_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[WebhookEndpoint]:
    return ctx.access.scoped(WebhookEndpoint, org_id).order_by("-created_at", "-id")


def messages_query(ctx: Context, endpoint: WebhookEndpoint,
                   status: MessageStatus | None) -> QuerySet[WebhookMessage]:
    query = ctx.access.scoped(WebhookMessage, endpoint.organization_id).filter(
        endpoint_id=endpoint.id)
    if status is not None:
        query = query.filter(status=status)
    return query.order_by("-created_at", "-id")


def attempts_query(ctx: Context, message: WebhookMessage) -> QuerySet[WebhookAttempt]:
    return ctx.access.scoped(WebhookAttempt, message.organization_id).filter(
        message_id=message.id).order_by("-created_at", "-id")


async def redeliver(ctx: Context, message_id: uuid.UUID) -> WebhookMessage:
    """Send a message again now, whatever its status (a new series of attempts); rate limited
    per org (`WEBHOOK_REDELIVER_RATE`)."""
    message = await ctx.row(WebhookMessage, message_id, what="webhook message",
                            field="messageId")
    await ctx.services.limiter.hit_webhook_redeliver(org_id=message.organization_id)
    now = datetime.now(UTC)
    message.status = MessageStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now
    message.dispatched_at = now
    await message.save(update_fields=["status", "attempts", "next_attempt_at", "dispatched_at"])
    await ctx.services.jobs.defer_webhook(message.id, message.endpoint_id)
    return message


async def replay(ctx: Context, endpoint_id: uuid.UUID, since: datetime) -> int:
    """Send again the FAILED messages of an endpoint created since `since` (at most 7 days
    back, at most 1,000 messages, rate limited per org); how many were queued."""
    endpoint = await get_endpoint(ctx, endpoint_id)
    now = datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if since < now - REPLAY_MAX_AGE:
        raise BadUserInput.field("since", "at most 7 days back")
    await ctx.services.limiter.hit_webhook_replay(org_id=endpoint.organization_id)
    rows = ctx.access.scoped(WebhookMessage, endpoint.organization_id)
    ids = cast("list[uuid.UUID]", await rows.filter(
        endpoint_id=endpoint.id, status=MessageStatus.FAILED, created_at__gte=since).order_by(
        "created_at").limit(REPLAY_MAX_MESSAGES).values_list("id", flat=True))
    if not ids:
        return 0
    await rows.filter(id__in=list(ids)).update(
        status=MessageStatus.PENDING, attempts=0, next_attempt_at=now, dispatched_at=now)
    if endpoint.enabled:
        for message_id in ids:
            await ctx.services.jobs.defer_webhook(message_id, endpoint.id)
    return len(ids)
