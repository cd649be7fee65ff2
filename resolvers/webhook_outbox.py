"""Webhook messages, written with the activity event that causes them.

`resolvers.activity.write_event` calls `record_messages` inside the change's transaction: one
`WebhookMessage` per endpoint of the org (enabled or not: a disabled endpoint's messages wait
for it) that wants the event's type. Once the transaction commits, their delivery jobs are
queued (`realtime.outbox.after_commit`); if that fails, the sweep queues them
(`jobs.webhooks.queue_due`). A rolled-back change leaves no message.

Payloads are thin on purpose: the event type, global ids, the time and the names of the fields
that changed. Never a name, an email or a note's text: a receiver reads the object through the
API with its own credential, which also respects erasure and restriction.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from models.activity import ActivityEvent
from models.tenancy import system_scope
from models.webhooks import WebhookEndpoint, WebhookEventType, WebhookMessage
from realtime.outbox import after_commit, transaction_memo

if TYPE_CHECKING:
    from services.queue import Jobs

RECORD = "webhooks: the messages an event causes, in its transaction"

TYPE_NAMES = {"lead": "Lead", "note": "Note", "membership": "Membership",
              "invitation": "Invitation", "form_submission": "FormSubmission",
              "organization": "Organization", "lead_form": "LeadForm"}
"""GraphQL type names of the activity targets, for their global ids."""


def global_id(type_name: str, value: uuid.UUID | str) -> str:
    """The Relay global id of a row (what `node(id:)` takes)."""
    return base64.b64encode(f"{type_name}:{value}".encode()).decode()


def event_type_of(event: ActivityEvent) -> str | None:
    """The webhook event type of an activity event; None when webhooks do not carry it. A lead
    created by a public form is a `form_submission.received`."""
    if event.action == "lead.created" and event.form_id is not None:
        return WebhookEventType.FORM_SUBMISSION_RECEIVED.value
    try:
        return WebhookEventType(event.action).value
    except ValueError:
        return None


def changed_fields(event: ActivityEvent) -> list[str]:
    """The names of the fields the event changed (never their values)."""
    summary = event.summary or {}
    if event.action == "lead.updated":
        return sorted(str(name) for name in summary.get("fields") or [])
    if event.action == "lead.status_changed":
        return ["status"]
    if event.action == "lead.assigned":
        return ["owner"]
    if event.action == "member.role_changed":
        return ["role"]
    if event.action == "note.updated":
        return ["body"]
    return []


def payload_of(event: ActivityEvent, event_type: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organizationId": global_id("Organization", event.organization_id),
        "eventId": global_id("ActivityEvent", event.id),
    }
    if event.target_id is not None:
        data["id"] = global_id(TYPE_NAMES.get(event.target_type, event.target_type),
                               event.target_id)
        data["objectType"] = TYPE_NAMES.get(event.target_type, event.target_type)
    if event.form_id is not None:
        data["formId"] = global_id("LeadForm", event.form_id)
    data["changedFields"] = changed_fields(event)
    created = event.created_at or datetime.now(UTC)
    return {"type": event_type, "timestamp": created.astimezone(UTC).isoformat(), "data": data}


async def endpoints_of(org_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str]]]:
    """The org's endpoints and the event types each wants: read once per transaction (its
    memo), so a change that records several events, or many, costs one SELECT. An endpoint
    created by another transaction meanwhile gets this one's messages only from its next."""
    memo = transaction_memo()
    key = (RECORD, org_id)
    if memo is not None and key in memo:
        cached: list[tuple[uuid.UUID, list[str]]] = memo[key]
        return cached
    scope = system_scope(org_id, reason=RECORD)
    rows = await scope.scoped(WebhookEndpoint).values_list("id", "event_types")
    endpoints = [(cast("uuid.UUID", endpoint_id), cast("list[str]", types or []))
                 for endpoint_id, types in rows]
    if memo is not None:
        memo[key] = endpoints
    return endpoints


async def record_messages(event: ActivityEvent, jobs: Jobs | None) -> list[uuid.UUID]:
    """Write the webhook messages `event` causes (inside its transaction) and queue their
    delivery for after the commit. Without `jobs`, the sweep queues them."""
    event_type = event_type_of(event)
    if event_type is None:
        return []
    endpoints = await endpoints_of(event.organization_id)
    wanted = [endpoint_id for endpoint_id, types in endpoints if event_type in (types or [])]
    if not wanted:
        return []
    now = datetime.now(UTC)
    payload = payload_of(event, event_type)
    messages = [WebhookMessage(id=uuid.uuid4(), organization_id=event.organization_id,
                               endpoint_id=endpoint_id, event_type=event_type, payload=payload,
                               next_attempt_at=now, dispatched_at=now if jobs else None)
                for endpoint_id in wanted]
    await WebhookMessage.bulk_create(messages)
    ids = [message.id for message in messages]
    if jobs is not None:
        queue = jobs

        async def deliver() -> None:
            for message in messages:
                await queue.defer_webhook(message.id, message.endpoint_id)

        await after_commit(deliver)
    return ids
