"""Webhook deliveries: one job (`relleks.deliver_webhook`) per attempt of one message to one
endpoint, on the `webhooks` queue, in one of the endpoint's WEBHOOK_LANES_PER_ENDPOINT lanes (a
procrastinate lock: `services.queue.webhook_lane`). A slow or dead endpoint holds at most its
lanes' worker slots (each attempt bounded by WEBHOOK_TIMEOUT); the other WEBHOOK_CONCURRENCY
slots deliver the other endpoints' messages.

An attempt claims the message first (a conditional UPDATE on its attempt count, pushing
`next_attempt_at` past the attempt's longest time), so two jobs for one message never both send;
a job whose worker died leaves the message due again, and the sweep (`queue_due`) re-queues it.
An attempt cut by a worker's shutdown (SHUTDOWN_TIMEOUT, docs/shutdown.md) gives its claim back
(`give_back`): the message is due again at once, and the job's retry delivers it.
Each attempt is signed afresh (new timestamp, new signatures: docs/webhooks.md) and recorded in
`webhook_attempts`. Only a 2xx is success. Otherwise the next attempt follows
WEBHOOK_RETRY_SCHEDULE (a receiver's `Retry-After` may push it later, up to
WEBHOOK_RETRY_AFTER_MAX) until the schedule runs out (FAILED). A 410 disables the endpoint at
once; an endpoint failing for WEBHOOK_DISABLE_AFTER without a success is disabled and its
OWNERs and ADMINs are mailed. A disabled endpoint's messages stay PENDING (nothing is lost):
enabling it queues them again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, cast

import orjson
import structlog
from tortoise.expressions import Q

from mail import messages as mails
from models.accounts import User
from models.orgs import Membership, Organization, Role
from models.tenancy import EVERY_ORG, before_org_known, system_scope
from models.webhooks import (
    AttemptError,
    DisabledReason,
    MessageStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from realtime.outbox import in_transaction
from resolvers.activity import write_event
from services import outbound
from services.webhook_signing import WebhookSecrets, sign_headers

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.webhooks")

DELIVER = "webhooks: delivering a message the job was handed"
DUE = "webhooks: the sweep queues due messages of every org"
CLAIM_SLACK = timedelta(seconds=60)
"""Beyond the attempt's timeout, how long a claimed message is not due again (a dead worker's
message is re-queued by the sweep after this)."""
DUE_BATCH = 500


ATTEMPTED = frozenset({"delivered", "retry", "failed", "gone", "disabled"})
"""What `deliver` returns after an HTTP attempt (the other outcomes made none)."""


def is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def next_delay(settings_schedule: tuple[float, ...], attempts: int,
               retry_after: float | None, retry_after_max: int) -> float | None:
    """Seconds until the next attempt after `attempts` attempts; None: the schedule ran out.
    A `Retry-After` later than the schedule's delay wins, bounded by `retry_after_max`."""
    if attempts >= len(settings_schedule):
        return None
    delay = settings_schedule[attempts]
    if retry_after is not None:
        delay = max(delay, min(retry_after, float(retry_after_max)))
    return delay


def secrets_of(services: Services, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one for 24 hours after a
    rotation."""
    box = WebhookSecrets(services.settings.secret_key)
    signing = [box.open(endpoint.secret_sealed)]
    if endpoint.previous_secret_sealed and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        signing.append(box.open(endpoint.previous_secret_sealed))
    return signing


EXCERPT_CHARS = 1024


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (None without an HTTP answer), `Retry-After` in seconds,
    the latency, the start of the body (or why there was no answer) and the error kind."""

    status: int | None
    retry_after: float | None
    latency_ms: int
    excerpt: str
    error: AttemptError | None = None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) in seconds from `now`; None if absent
    or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def attempt(services: Services, url: str, body: bytes,
                  headers: dict[str, str]) -> Answer:
    """POST one signed message through the SSRF-safe client; its refusals and failures
    become error kinds."""
    settings = services.settings
    try:
        response = await outbound.post(settings, services.dns, url, content=body,
                                       headers=headers, timeout=settings.webhook_timeout)
    except outbound.RefusedTarget as refused:
        return Answer(None, None, refused.latency_ms or 0, refused.message,
                      AttemptError.REFUSED_TARGET)
    except outbound.FailedRequest as failed:
        kind = AttemptError.TIMEOUT if failed.reason == "TIMEOUT" else AttemptError.CONNECTION
        return Answer(None, None, failed.latency_ms or 0, failed.message, kind)
    return Answer(response.status_code,
                  retry_after_seconds(response.retry_after, datetime.now(UTC)),
                  response.latency_ms, response.body_excerpt)


async def deliver(services: Services, message_id: uuid.UUID) -> str:
    """One attempt at delivering a message, if it is due; what happened (for logs and tests)."""
    settings = services.settings
    message = await before_org_known(WebhookMessage, reason=DELIVER, id=message_id).first()
    if message is None or message.status != MessageStatus.PENDING:
        return "settled"
    now = datetime.now(UTC)
    if message.next_attempt_at is None or message.next_attempt_at > now + timedelta(seconds=1):
        return "not_due"
    scope = system_scope(message.organization_id, reason=DELIVER)
    endpoint = await scope.scoped(WebhookEndpoint).get_or_none(id=message.endpoint_id)
    if endpoint is None:
        return "settled"
    if not endpoint.enabled:
        return "endpoint_disabled"
    claimed = await scope.scoped(WebhookMessage).filter(
        id=message.id, status=MessageStatus.PENDING, attempts=message.attempts).update(
        attempts=message.attempts + 1,
        next_attempt_at=now + timedelta(seconds=settings.webhook_timeout) + CLAIM_SLACK)
    if not claimed:
        return "claimed_elsewhere"
    attempts = message.attempts + 1
    body = orjson.dumps(message.payload)
    headers = {"content-type": "application/json",
               **sign_headers(secrets_of(services, endpoint, now), str(message.id),
                              int(time.time()), body)}
    try:
        response = await attempt(services, endpoint.url, body, headers)
    except asyncio.CancelledError:
        # Cut while waiting for the receiver (a worker's shutdown past SHUTDOWN_TIMEOUT): no
        # answer, so no attempt to record. The claim is given back and the message is due at
        # once, for the job's retry (or the sweep); receivers deduplicate by `webhook-id`.
        await asyncio.shield(give_back(services, message, attempts))
        raise
    success = is_success(response.status)
    error = None if success else (response.error or AttemptError.STATUS)
    await WebhookAttempt.create(
        organization_id=message.organization_id, message_id=message.id,
        status_code=response.status, latency_ms=response.latency_ms,
        response_excerpt=response.excerpt[:EXCERPT_CHARS], error=error, success=success)
    done = datetime.now(UTC)
    messages = scope.scoped(WebhookMessage).filter(id=message.id)
    endpoints = scope.scoped(WebhookEndpoint).filter(id=endpoint.id)
    if success:
        await messages.update(status=MessageStatus.DELIVERED, delivered_at=done,
                              next_attempt_at=None)
        if endpoint.failing_since is not None:
            await endpoints.update(failing_since=None)
        return "delivered"
    if response.status == 410:
        # Gone: off at once. The message waits (PENDING) for the endpoint to be enabled.
        await messages.update(next_attempt_at=done)
        await disable(services, endpoint, DisabledReason.GONE, now=done)
        return "gone"
    failing_since = endpoint.failing_since or now
    if endpoint.failing_since is None:
        await endpoints.update(failing_since=failing_since)
    if done - failing_since >= timedelta(seconds=settings.webhook_disable_after):
        await messages.update(next_attempt_at=done)
        endpoint.failing_since = failing_since
        await disable(services, endpoint, DisabledReason.FAILING, now=done)
        return "disabled"
    delay = next_delay(settings.webhook_retry_delays, attempts, response.retry_after,
                       settings.webhook_retry_after_max)
    if delay is None:
        await messages.update(status=MessageStatus.FAILED, next_attempt_at=None)
        return "failed"
    due = done + timedelta(seconds=delay)
    await messages.update(next_attempt_at=due, dispatched_at=done)
    await services.jobs.defer_webhook(message.id, message.endpoint_id,
                                      schedule_at=due if delay > 0 else None)
    return "retry"


async def give_back(services: Services, message: WebhookMessage, attempts: int) -> None:
    """Undo an attempt's claim (`attempts` is the count it claimed): the message is PENDING,
    due now and not dispatched, as before the attempt."""
    await system_scope(message.organization_id, reason=DELIVER).scoped(WebhookMessage).filter(
        id=message.id, status=MessageStatus.PENDING, attempts=attempts).update(
        attempts=attempts - 1, next_attempt_at=datetime.now(UTC), dispatched_at=None)
    log.info("webhooks.attempt_given_back", message_id=str(message.id))


async def disable(services: Services, endpoint: WebhookEndpoint, reason: DisabledReason, *,
                  now: datetime) -> None:
    """Turn an endpoint off for `reason` (GONE, FAILING) and mail its org's OWNERs and ADMINs
    (a failed mail is logged: the endpoint is off either way)."""
    scope = system_scope(endpoint.organization_id, reason=DELIVER)
    async with in_transaction():
        changed = await scope.scoped(WebhookEndpoint).filter(
            id=endpoint.id, enabled=True).update(enabled=False, disabled_reason=reason,
                                                 disabled_at=now)
        if changed:
            await write_event(services.broker, endpoint.organization_id,
                              "webhook_endpoint.disabled", target_type="webhook_endpoint",
                              target_id=endpoint.id, summary={"reason": reason.value})
    if not changed:
        return
    log.info("webhooks.endpoint_disabled", endpoint_id=str(endpoint.id), reason=reason.value)
    org = await Organization.get(id=endpoint.organization_id)
    user_ids = await scope.scoped(Membership).filter(
        role__in=[Role.OWNER, Role.ADMIN]).values_list("user_id", flat=True)
    for user in await User.filter(id__in=list(user_ids)):
        try:
            await services.mailer.send(mails.webhook_disabled_mail(
                to=user.email, organization_slug=org.slug, url=endpoint.url,
                reason=reason.value, failing_since=endpoint.failing_since))
        except Exception:
            log.exception("mail.webhook_disabled_failed", user_id=str(user.id))


async def queue_due(services: Services, *, now: datetime | None = None,
                    lease: timedelta | None = None) -> list[str]:
    """The sweep's part: queue the due PENDING messages of enabled endpoints that no job was
    queued for within the lease (a lost job, a queue emptied by a restart, a dead worker). First
    the delivery jobs a dead worker left running are marked failed, so their lanes' locks are
    free for the new jobs."""
    await services.jobs.release_stalled_webhooks()
    now = now or datetime.now(UTC)
    lease = lease if lease is not None else timedelta(seconds=services.settings.jobs_lease)
    rows = system_scope(EVERY_ORG, reason=DUE).scoped(WebhookMessage)
    due = await rows.filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - lease),
        status=MessageStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True,
    ).order_by("next_attempt_at").limit(DUE_BATCH).values_list("id", "endpoint_id")
    queued = []
    for message_id, endpoint_id in cast("list[tuple[uuid.UUID, uuid.UUID]]", due):
        await rows.filter(id=message_id).update(dispatched_at=now)
        if await services.jobs.defer_webhook(message_id, endpoint_id):
            queued.append(str(message_id))
    if queued:
        log.info("webhooks.requeued", count=len(queued))
    return queued
