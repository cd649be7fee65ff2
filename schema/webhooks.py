"""Webhooks in the API: the `WebhookEndpoint` type listed by `organization.webhookEndpoints`
(`OrganizationWebhookFields`), its delivery log (`messages`, each with its `attempts`) and the
mutations that manage endpoints, rotate secrets, redeliver and replay.

Reading needs `webhooks:read`, changing `webhooks:write` (OWNER and ADMIN; an API token may
carry either). docs/webhooks.md describes events, payloads, signatures and retries.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from auth.permissions import Permission
from core.errors import at_most
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum
from engine.keyset import keyset_page, scope_of
from engine.permissions import HasPermission, org_from_argument, org_from_source, org_of, requires
from models import orgs as org_models
from models import webhooks as models
from resolvers import webhooks as resolvers
from schema.leads import KeysetConnection, max_page

EventType = models.WebhookEventType
described_enum(models.WebhookEventType, name="WebhookEventType",
               description="An event a webhook endpoint may ask for.", values={
                   EventType.LEAD_CREATED: "A lead was created (by a member, a token or an "
                                           "import; form submissions have their own type).",
                   EventType.LEAD_UPDATED: "A lead's fields changed (`changedFields`).",
                   EventType.LEAD_STATUS_CHANGED: "A lead's status changed.",
                   EventType.LEAD_ASSIGNED: "A lead's owner changed.",
                   EventType.LEAD_DELETED: "A lead was deleted.",
                   EventType.LEADS_IMPORTED: "A CSV import finished.",
                   EventType.NOTE_ADDED: "A note was added to a lead.",
                   EventType.NOTE_UPDATED: "A note was edited.",
                   EventType.NOTE_DELETED: "A note was deleted.",
                   EventType.MEMBER_JOINED: "Someone joined the organization.",
                   EventType.MEMBER_ROLE_CHANGED: "A member's role changed.",
                   EventType.MEMBER_REMOVED: "A member was removed.",
                   EventType.MEMBER_LEFT: "A member left.",
                   EventType.INVITATION_CREATED: "Someone was invited.",
                   EventType.INVITATION_REVOKED: "An invitation was revoked.",
                   EventType.FORM_SUBMISSION_RECEIVED: "A public lead form made a lead.",
                   EventType.FORM_SUBMISSION_RELEASED: "A held or spam submission was "
                                                       "accepted.",
                   EventType.FORM_SUBMISSION_DISCARDED: "A held or spam submission was "
                                                        "discarded.",
               })

DisabledReason = models.DisabledReason
described_enum(models.DisabledReason, name="WebhookDisabledReason",
               description="Why a webhook endpoint is off.", values={
                   DisabledReason.MANUAL: "`disableWebhookEndpoint` turned it off.",
                   DisabledReason.GONE: "It answered 410 Gone.",
                   DisabledReason.FAILING: "Every delivery failed for three days.",
               })

MessageStatus = models.MessageStatus
described_enum(models.MessageStatus, name="WebhookMessageStatus",
               description="Where a webhook message's delivery stands.", values={
                   MessageStatus.PENDING: "Not delivered yet: an attempt is due or scheduled "
                                          "(or waits for its endpoint to be enabled).",
                   MessageStatus.DELIVERED: "An attempt got a 2xx answer.",
                   MessageStatus.FAILED: "Every attempt of the retry schedule failed; "
                                         "`redeliverWebhookMessage` or `replayWebhookMessages` "
                                         "sends it again.",
               })

AttemptError = models.AttemptError
described_enum(models.AttemptError, name="WebhookAttemptError",
               description="Why a delivery attempt failed.", values={
                   AttemptError.STATUS: "The answer's status was not 2xx.",
                   AttemptError.TIMEOUT: "No answer within the timeout (15 seconds).",
                   AttemptError.CONNECTION: "The connection failed (refused, reset, TLS).",
                   AttemptError.REFUSED_TARGET: "The URL now resolves to an address we do not "
                                                "send to (private, loopback...).",
               })


@strawberry.type(description="One try at delivering a webhook message.")
class WebhookAttempt(ModelNode):
    model = models.WebhookAttempt

    id: relay.NodeID[str]
    created_at: datetime.datetime = strawberry.field(description="When it was made.")
    status_code: int | None = strawberry.field(description="The answer's HTTP status; null "
                                                           "without an answer.")
    latency_ms: int = strawberry.field(description="Milliseconds until the answer (or the "
                                                   "failure).")
    response_excerpt: str = strawberry.field(description="The first bytes of the answer's body "
                                                         "(at most 1 KiB); erased after 7 "
                                                         "days.")
    error: AttemptError | None = strawberry.field(description="Why it failed; null when it "
                                                              "succeeded.")
    success: bool = strawberry.field(description="Whether the answer was 2xx.")


@strawberry.type(description="One event sent (or to be sent) to one webhook endpoint.")
class WebhookMessage(ModelNode):
    model = models.WebhookMessage

    id: relay.NodeID[str]
    event_type: str = strawberry.field(description="The event's type, e.g. `lead.created`.")
    status: MessageStatus = strawberry.field(description="Where its delivery stands.")
    created_at: datetime.datetime = strawberry.field(description="When the event happened.")
    delivered_at: datetime.datetime | None = strawberry.field(description="When an attempt "
                                                                          "succeeded.")
    next_attempt_at: datetime.datetime | None = strawberry.field(
        description="When the next attempt is due; null once delivered or failed.")

    @strawberry.field(description="Attempts made in its current series (a redelivery or "
                                  "replay starts a new one).")
    def attempt_count(self, root: strawberry.Parent[models.WebhookMessage]) -> int:
        return root.attempts

    @strawberry.field(description="Its body as sent: the JSON payload (type, timestamp, data).")
    def payload(self, root: strawberry.Parent[models.WebhookMessage]) -> JSON:
        return JSON(root.payload)

    @strawberry.field(description="Its attempts, newest first, with stable keyset cursors "
                                  "(`webhooks:read`).",
                      extensions=[requires(HasPermission(Permission.WEBHOOKS_READ,
                                                         org=org_from_source()))])
    async def attempts(
            self, root: strawberry.Parent[models.WebhookMessage], info: Info,
            first: Annotated[int | None, strawberry.argument(
                description="Attempts from the start (or after `after`), 0 to 100.")] = None,
            after: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the attempts after it.")] = None,
            last: Annotated[int | None, strawberry.argument(
                description="Attempts from the end (or before `before`), 0 to 100.")] = None,
            before: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the attempts before it.")] = None,
    ) -> WebhookAttemptConnection:
        query = resolvers.attempts_query(info.context, root)
        order = resolvers.LOG_ORDER
        page = await keyset_page(query, order, seal=info.context.services.cursors,
                                 scope=scope_of("webhook_attempts", root.id, order),
                                 first=first, after=after, last=last, before=before,
                                 max_results=max_page(info))
        return cast("WebhookAttemptConnection",
                    WebhookAttemptConnection.from_page(page, query.count))


@strawberry.type(name="WebhookAttemptConnection",
                 description="Attempts, newest first, with stable keyset cursors.")
class WebhookAttemptConnection(KeysetConnection[WebhookAttempt]):
    pass


@strawberry.type(name="WebhookMessageConnection",
                 description="Messages, newest first, with stable keyset cursors.")
class WebhookMessageConnection(KeysetConnection[WebhookMessage]):
    pass


@strawberry.type(description="A URL of the organization's to which its events are posted, "
                             "signed per the Standard Webhooks spec.")
class WebhookEndpoint(ModelNode):
    model = models.WebhookEndpoint

    id: relay.NodeID[str]
    url: str = strawberry.field(description="Where messages are posted.")
    description: str = strawberry.field(description="What it is for (may be empty).")
    event_types: list[EventType] = strawberry.field(description="The events it receives.")
    enabled: bool = strawberry.field(description="Whether messages are sent to it; while off "
                                                 "they wait, and are sent once enabled.")
    disabled_reason: DisabledReason | None = strawberry.field(
        description="Why it is off; null while enabled.")
    disabled_at: datetime.datetime | None = strawberry.field(description="When it was turned "
                                                                         "off.")
    failing_since: datetime.datetime | None = strawberry.field(
        description="The first failed attempt since its last success; null when healthy.")
    created_at: datetime.datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="Until when the previous secret also signs, after a "
                                  "rotation; null when only one secret signs.")
    def previous_secret_expires_at(self, root: strawberry.Parent[models.WebhookEndpoint]
                                   ) -> datetime.datetime | None:
        expires = root.previous_secret_expires_at
        return expires if expires and expires > datetime.datetime.now(datetime.UTC) else None

    @strawberry.field(description="Its messages, newest first, with stable keyset cursors "
                                  "(`webhooks:read`).",
                      extensions=[requires(HasPermission(Permission.WEBHOOKS_READ,
                                                         org=org_from_source()))])
    async def messages(
            self, root: strawberry.Parent[models.WebhookEndpoint], info: Info,
            status: Annotated[MessageStatus | None, strawberry.argument(
                description="Only messages in this status; all when absent.")] = None,
            first: Annotated[int | None, strawberry.argument(
                description="Messages from the start (or after `after`), 0 to 100.")] = None,
            after: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the messages after it.")] = None,
            last: Annotated[int | None, strawberry.argument(
                description="Messages from the end (or before `before`), 0 to 100.")] = None,
            before: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the messages before it.")] = None,
    ) -> WebhookMessageConnection:
        query = resolvers.messages_query(info.context, root, status)
        order = resolvers.LOG_ORDER
        # The status is part of the list a cursor belongs to: another filter, another list.
        listed = f"webhook_messages:{status.value if status else 'all'}"
        page = await keyset_page(query, order, seal=info.context.services.cursors,
                                 scope=scope_of(listed, root.id, order), first=first,
                                 after=after, last=last, before=before,
                                 max_results=max_page(info))
        return cast("WebhookMessageConnection",
                    WebhookMessageConnection.from_page(page, query.count))


@strawberry.type(description="What `Organization` holds of webhooks (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationWebhookFields:
    @relay.connection(Connection[WebhookEndpoint], description="Webhook endpoints, newest "
                                                               "first (`webhooks:read`).",
                      extensions=[requires(HasPermission(Permission.WEBHOOKS_READ,
                                                         org=org_from_source()))])
    def webhook_endpoints(self, root: strawberry.Parent[org_models.Organization],
                          info: Info) -> list[WebhookEndpoint]:
        return cast("list[WebhookEndpoint]", Rows(resolvers.endpoints_query(info.context,
                                                                            root.id)))


MAX_EVENT_TYPES = len(models.WebhookEventType)


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    url: str = strawberry.field(description="An https URL (at most 2,048 characters) whose "
                                            "host resolves to public addresses only.")
    event_types: list[EventType] = strawberry.field(
        description=f"The events to receive: at least one, at most {MAX_EVENT_TYPES}.")
    description: str | None = strawberry.field(default=None, description="What it is for: "
                                                                         "at most 500 "
                                                                         "characters.")


@strawberry.type(description="The endpoint just made, and its secret (shown this once).")
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint, enabled.")
    secret: str = strawberry.field(description="The signing secret (`whsec_...`): keep it, it "
                                               "is never shown again.")


@strawberry.input(description="Settings to change; absent ones stay as they are.")
class UpdateWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")
    url: strawberry.Maybe[str | None] = strawberry.field(description="A new https URL. Null is "
                                                                     "refused.")
    event_types: strawberry.Maybe[list[EventType] | None] = strawberry.field(
        description=f"The events to receive from now on: at least one, at most "
                    f"{MAX_EVENT_TYPES}. Null is refused.")
    description: strawberry.Maybe[str | None] = strawberry.field(description="Null clears "
                                                                             "it.")


@strawberry.type(description="The endpoint after the change.")
class UpdateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.input(description="The endpoint whose secret to replace.")
class RotateWebhookSecretInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.type(description="The new secret (shown this once); the previous one signs too "
                             "for 24 hours.")
class RotateWebhookSecretPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description="The new signing secret (`whsec_...`).")


@strawberry.input(description="The endpoint to enable.")
class EnableWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.type(description="The endpoint, enabled.")
class EnableWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.input(description="The endpoint to disable.")
class DisableWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.type(description="The endpoint, disabled.")
class DisableWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.input(description="The endpoint to delete.")
class DeleteWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.type(description="What deleteWebhookEndpoint deleted.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The deleted endpoint's id.")


@strawberry.input(description="The message to send again.")
class RedeliverWebhookMessageInput:
    message_id: relay.GlobalID = strawberry.field(description="The message.")


@strawberry.type(description="The message, queued again.")
class RedeliverWebhookMessagePayload:
    webhook_message: WebhookMessage = strawberry.field(description="The message, PENDING.")


@strawberry.input(description="Send again an endpoint's FAILED messages of a window.")
class ReplayWebhookMessagesInput:
    endpoint_id: relay.GlobalID = strawberry.field(description="The endpoint.")
    since: datetime.datetime = strawberry.field(description="Messages created since then: at "
                                                            "most 7 days back.")


@strawberry.type(description="How many messages were queued again.")
class ReplayWebhookMessagesPayload:
    queued: int = strawberry.field(description="FAILED messages queued again (at most "
                                               "1,000).")


def _endpoint_id(value: relay.GlobalID) -> Any:
    return decode_id(value, "WebhookEndpoint", field="id")


def _write(path: str = "input.id") -> Any:
    return requires(HasPermission(Permission.WEBHOOKS_WRITE,
                                  org=org_of(models.WebhookEndpoint, "WebhookEndpoint", path)))


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Create a webhook endpoint (`webhooks:write`); its secret is in the "
                    "payload, once. BAD_USER_INPUT naming `url` when the URL is refused; "
                    "PLAN_LIMIT past the plan's endpoints.",
        extensions=[requires(HasPermission(Permission.WEBHOOKS_WRITE,
                                           org=org_from_argument("input.organization_id")))])
    async def create_webhook_endpoint(self, info: Info, input: CreateWebhookEndpointInput
                                      ) -> CreateWebhookEndpointPayload:
        at_most("eventTypes", input.event_types, MAX_EVENT_TYPES)
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        made = await resolvers.create_endpoint(
            info.context, org_id, url=input.url,
            event_types=[EventType(t).value for t in input.event_types],
            description=input.description)
        return CreateWebhookEndpointPayload(
            webhook_endpoint=cast("WebhookEndpoint", made.endpoint), secret=made.secret)

    @strawberry.mutation(description="Change a webhook endpoint's URL, events or description "
                                     "(`webhooks:write`).", extensions=[_write()])
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointInput
                                      ) -> UpdateWebhookEndpointPayload:
        data: dict[str, Any] = {}
        if input.url is not None:
            data["url"] = input.url.value if input.url.value is not None else ""
        if input.event_types is not None:
            types = input.event_types.value or []
            at_most("eventTypes", types, MAX_EVENT_TYPES)
            data["event_types"] = [EventType(t).value for t in types]
        if input.description is not None:
            data["description"] = input.description.value
        endpoint = await resolvers.update_endpoint(info.context, _endpoint_id(input.id), data)
        return UpdateWebhookEndpointPayload(webhook_endpoint=cast("WebhookEndpoint", endpoint))

    @strawberry.mutation(description="Give a webhook endpoint a new secret (`webhooks:write`), "
                                     "in the payload once; the previous one also signs for 24 "
                                     "hours.", extensions=[_write()])
    async def rotate_webhook_secret(self, info: Info, input: RotateWebhookSecretInput
                                    ) -> RotateWebhookSecretPayload:
        made = await resolvers.rotate_secret(info.context, _endpoint_id(input.id))
        return RotateWebhookSecretPayload(
            webhook_endpoint=cast("WebhookEndpoint", made.endpoint), secret=made.secret)

    @strawberry.mutation(description="Enable a webhook endpoint (`webhooks:write`): the "
                                     "messages that waited are sent.", extensions=[_write()])
    async def enable_webhook_endpoint(self, info: Info, input: EnableWebhookEndpointInput
                                      ) -> EnableWebhookEndpointPayload:
        endpoint = await resolvers.set_enabled(info.context, _endpoint_id(input.id), True)
        return EnableWebhookEndpointPayload(webhook_endpoint=cast("WebhookEndpoint", endpoint))

    @strawberry.mutation(description="Disable a webhook endpoint (`webhooks:write`): its "
                                     "messages wait until it is enabled.",
                         extensions=[_write()])
    async def disable_webhook_endpoint(self, info: Info, input: DisableWebhookEndpointInput
                                       ) -> DisableWebhookEndpointPayload:
        endpoint = await resolvers.set_enabled(info.context, _endpoint_id(input.id), False)
        return DisableWebhookEndpointPayload(webhook_endpoint=cast("WebhookEndpoint", endpoint))

    @strawberry.mutation(description="Delete a webhook endpoint and its delivery log "
                                     "(`webhooks:write`).", extensions=[_write()])
    async def delete_webhook_endpoint(self, info: Info, input: DeleteWebhookEndpointInput
                                      ) -> DeleteWebhookEndpointPayload:
        removed = await resolvers.delete_endpoint(info.context, _endpoint_id(input.id))
        return DeleteWebhookEndpointPayload(
            deleted_id=strawberry.ID(relay.to_base64("WebhookEndpoint", str(removed))))

    @strawberry.mutation(
        description="Send a webhook message again now (`webhooks:write`), whatever its status.",
        extensions=[requires(HasPermission(Permission.WEBHOOKS_WRITE,
                                           org=org_of(models.WebhookMessage, "WebhookMessage",
                                                      "input.message_id")))])
    async def redeliver_webhook_message(self, info: Info, input: RedeliverWebhookMessageInput
                                        ) -> RedeliverWebhookMessagePayload:
        message = await resolvers.redeliver(
            info.context, decode_id(input.message_id, "WebhookMessage", field="messageId"))
        return RedeliverWebhookMessagePayload(webhook_message=cast("WebhookMessage", message))

    @strawberry.mutation(
        description="Send again an endpoint's FAILED messages created since `since` "
                    "(`webhooks:write`): at most 7 days back and 1,000 messages; limited per "
                    "organization (RATE_LIMITED, reason `WEBHOOK_REPLAYS`).",
        extensions=[_write("input.endpoint_id")])
    async def replay_webhook_messages(self, info: Info, input: ReplayWebhookMessagesInput
                                      ) -> ReplayWebhookMessagesPayload:
        queued = await resolvers.replay(
            info.context, decode_id(input.endpoint_id, "WebhookEndpoint", field="endpointId"),
            input.since)
        return ReplayWebhookMessagesPayload(queued=queued)
