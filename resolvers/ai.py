"""The AI features on leads (issue 20): summaries, next steps and email drafts, each a stored
`AiGeneration` with its provenance, streamed to `aiGeneration(id)` as it is produced.

    generation = await start_generation(ctx, AiFeature.SUMMARY, lead_id)   # PENDING, at once
    # ...an in-process task streams the answer: STREAMING, then SUCCEEDED or FAILED

Why an in-process task and not a job: the text is streamed to subscribers through the realtime
broker as the provider produces it, so the call must run where it can publish each piece at
once; a job would add the queue's latency and a worker that holds a provider connection open.
What a task cannot promise (a process that dies mid-call) is kept by the row: the retention
sweep (`jobs/retention.py`) ends a generation left PENDING or STREAMING for 15 minutes as
FAILED (UNAVAILABLE), charging nothing. Shutdown waits `SHUTDOWN_GRACE` seconds for running calls.

The checks, in order, before anything is sent: the lead is the caller's (else NOT_FOUND), the
org turned AI on (CONFLICT, reason `AI_DISABLED`), the lead is not restricted (CONFLICT,
`PROCESSING_RESTRICTED`), the purpose is valid, a provider is configured (UNAVAILABLE, reason
`AI_NOT_CONFIGURED`), the person's rate limit (RATE_LIMITED, `AI_CALLS`), the plan's monthly
credits (PLAN_LIMIT). The lead is minimised (`services.ai.minimise_lead`) and the request built
(`services.ai.prompts`) before the row is written, so the row's manifest and input hash are
those of exactly what is sent. Credits are charged only when the call succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from strawberry import relay
from tortoise.queryset import QuerySet

from billing.limits import current_plan, ensure_within_limit, month_start
from billing.plans import PLANS
from core.errors import Conflict, NotFound, Unavailable
from core.validation import validate
from engine.context import Context
from models.ai import AiFeature, AiGeneration, AiStatus
from models.leads import Lead, Note
from models.orgs import Membership, Organization
from models.tenancy import system_scope
from observability.metrics import count_ai_generation
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.leads import ADDRESS_FIELDS, get_lead, refuse_if_restricted
from services import Services
from services.ai import AiProvider, AiProviderError, AiRequest, TextDelta, Usage
from services.ai.minimise import mask_text, minimise_lead
from services.ai.prompts import build_request, input_hash, parse_next_steps

log = structlog.get_logger("relleks.ai")

PURPOSE_MAX = 500
"""Characters of a draft's purpose."""
TOKENS_PER_CREDIT = 1000
"""One credit per started thousand tokens (input and output together), at least one a call."""
SHUTDOWN_GRACE = 10.0
POLL_SECONDS = 5.0
"""How often a subscription re-reads its generation when no message came (a missed one)."""
AI_DISABLED = ("AI features are off for this organization: an OWNER or ADMIN turns them on "
               "with setOrganizationAiEnabled.")
INTERRUPTED = "The AI call was interrupted before it finished; nothing was charged."


def credits_for(usage: Usage) -> int:
    """ceil((input + output tokens) / 1000), at least 1."""
    return max(1, math.ceil((usage.input_tokens + usage.output_tokens) / TOKENS_PER_CREDIT))


def generation_topic(generation_id: uuid.UUID) -> str:
    return f"ai-generation:{generation_id}"


def generations_of_lead(ctx: Context, org_id: uuid.UUID, lead_id: uuid.UUID,
                        ) -> QuerySet[AiGeneration]:
    """A lead's generations, newest first."""
    return ctx.access.scoped(AiGeneration, org_id).filter(lead_id=lead_id) \
        .order_by("-created_at", "-id")


def generations_of_org(ctx: Context, org_id: uuid.UUID, *, since: datetime | None = None,
                       ) -> QuerySet[AiGeneration]:
    """The org's generations, newest first (its usage log)."""
    query = ctx.access.scoped(AiGeneration, org_id)
    if since is not None:
        query = query.filter(created_at__gte=since)
    return query.order_by("-created_at", "-id")


@dataclass(frozen=True)
class AiUsage:
    """An org's AI usage in one calendar month (UTC)."""

    organization_id: uuid.UUID
    month: datetime
    enabled: bool
    credits_used: int
    credits_limit: int | None
    calls: int
    failed_calls: int


async def usage_of(ctx: Context, org: Organization) -> AiUsage:
    since = month_start()
    rows = await generations_of_org(ctx, org.id, since=since).values_list(
        "credits_charged", "status")
    plan = await current_plan(org.id)
    return AiUsage(organization_id=org.id, month=since, enabled=org.ai_enabled,
                   credits_used=sum(int(credits) for credits, _ in rows),
                   credits_limit=PLANS[plan].limits.of("ai_credits_per_month"),
                   calls=len(rows),
                   failed_calls=sum(1 for _, status in rows if status == AiStatus.FAILED))


async def set_ai_enabled(ctx: Context, org_id: uuid.UUID, enabled: bool) -> Organization:
    """Turn the org's AI features on or off, logged; setting the state it has changes nothing."""
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None  # the field's permission check found it
    if org.ai_enabled == enabled:
        return org
    async with in_transaction():
        await Organization.filter(id=org_id).update(ai_enabled=enabled)
        await record(ctx, org_id, "organization.ai_enabled" if enabled
                     else "organization.ai_disabled", target_type="organization",
                     target_id=org_id)
    org.ai_enabled = enabled
    return org


def _global_id(type_name: str, row_id: uuid.UUID) -> str:
    return str(relay.GlobalID(type_name, str(row_id)))


async def _member_names(ctx: Context, org_id: uuid.UUID) -> list[str]:
    user_ids = await ctx.access.scoped(Membership, org_id).values_list("user_id", flat=True)
    users = await ctx.loaders.user.load_many(cast("list[uuid.UUID]", list(user_ids)))
    return [user.name for user in users if user is not None and user.name]


async def _build(ctx: Context, lead: Lead, feature: AiFeature,
                 purpose: str | None) -> tuple[AiRequest, list[str], str | None]:
    """The request for `lead`, minimised: what is sent, the manifest and the masked purpose."""
    notes = await ctx.access.scoped(Note, lead.organization_id).filter(lead_id=lead.id) \
        .order_by("-created_at", "-id").limit(20).values_list("body", flat=True)
    members = await _member_names(ctx, lead.organization_id)
    address = [str(value) for part in ADDRESS_FIELDS
               if part != "country" and (value := getattr(lead, f"address_{part}"))]
    region = lead.address_country or None
    context, manifest = minimise_lead(
        lead_name=lead.name, company=lead.company, status=lead.status.value,
        source=lead.source.value if lead.source else None,
        created_at=lead.created_at.date().isoformat(), email=lead.email, phone=lead.phone,
        address_parts=address, notes=[str(body) for body in notes], member_names=members,
        lead_id=_global_id("Lead", lead.id), region=region)
    masked = None
    if purpose is not None:
        masked = mask_text(purpose, member_names=members, region=region, email=lead.email,
                           phone=lead.phone, address_parts=address)
        manifest = [*manifest, "purpose"]
    return build_request(feature.value, context, masked), manifest, masked


async def start_generation(ctx: Context, feature: AiFeature, lead_id: uuid.UUID,
                           purpose: str | None = None) -> AiGeneration:
    """Check, write the generation PENDING, and start the call once it is committed."""
    lead = await get_lead(ctx, lead_id)
    org_id = lead.organization_id
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None
    if not org.ai_enabled:
        raise Conflict(AI_DISABLED, reason="AI_DISABLED")
    refuse_if_restricted(lead.restricted)
    if feature is AiFeature.DRAFT_EMAIL:
        with validate() as check:
            purpose = check.multiline("purpose", purpose or "", max_length=PURPOSE_MAX)
    provider = ctx.services.ai
    if provider is None:
        raise Unavailable("No AI provider is configured on this server (AI_BASE_URL, "
                          "AI_MODEL).", reason="AI_NOT_CONFIGURED")
    await ctx.services.limiter.hit_ai(user_id=ctx.user.id)
    request, manifest, masked = await _build(ctx, lead, feature, purpose)
    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "ai_credits_per_month")
        generation = await AiGeneration.create(
            organization_id=org_id, lead_id=lead.id, requested_by_id=ctx.user.id,
            api_token_id=ctx.viewer.token.id if ctx.viewer.token else None,
            feature=feature, status=AiStatus.PENDING, purpose=masked,
            provider=provider.name, model=provider.model,
            prompt_version=request.prompt_version, input_hash=input_hash(request),
            data_manifest=manifest)
    task = asyncio.create_task(run_generation(ctx.services, provider, generation, request))
    ctx.services.ai_runs.add(task)
    task.add_done_callback(ctx.services.ai_runs.discard)
    return generation


async def run_generation(services: Services, provider: AiProvider, generation: AiGeneration,
                         request: AiRequest) -> None:
    """Stream the call, publishing each piece, and store the outcome. Never raises."""
    rows = system_scope(generation.organization_id,
                        reason="AI: a generation streaming in the background").scoped
    topic = [generation_topic(generation.id)]
    started = time.monotonic()
    text = ""
    usage: Usage | None = None
    outcome: dict[str, Any]
    try:
        async for item in provider.stream(request):
            if isinstance(item, TextDelta):
                if not text:
                    await rows(AiGeneration).filter(id=generation.id).update(
                        status=AiStatus.STREAMING)
                text += item.text
                await _publish(services, topic, {"kind": "delta", "delta": item.text,
                                                 "text": text})
            else:
                usage = item
        steps = parse_next_steps(text) if request.json_output else None
        usage = usage or Usage(0, 0)
        outcome = {"status": AiStatus.SUCCEEDED, "output_text": text, "output_json": steps,
                   "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                   "credits_charged": credits_for(usage)}
    except AiProviderError as exc:
        outcome = {"status": AiStatus.FAILED, "output_text": text, "error_code": exc.code,
                   "error_message": exc.message[:300], "credits_charged": 0}
    except asyncio.CancelledError:
        outcome = {"status": AiStatus.FAILED, "output_text": text,
                   "error_code": "UNAVAILABLE", "error_message": INTERRUPTED,
                   "credits_charged": 0}
        with contextlib.suppress(Exception):
            await _finish(services, rows, generation, topic, outcome, started)
        raise
    except Exception:
        log.exception("ai.generation_failed", generation=str(generation.id))
        outcome = {"status": AiStatus.FAILED, "output_text": text,
                   "error_code": "UNAVAILABLE",
                   "error_message": "The AI call failed; nothing was charged.",
                   "credits_charged": 0}
    try:
        await _finish(services, rows, generation, topic, outcome, started)
    except Exception:
        log.exception("ai.generation_not_saved", generation=str(generation.id))


async def _finish(services: Services, rows: Any, generation: AiGeneration, topic: list[str],
                  outcome: dict[str, Any], started: float) -> None:
    count_ai_generation(str(generation.feature), str(outcome["status"]),
                        int(outcome.get("credits_charged") or 0))
    # Saved through the model: the outputs are encrypted (a queryset update cannot).
    row = await rows(AiGeneration).get(id=generation.id)
    changes = {**outcome, "latency_ms": int((time.monotonic() - started) * 1000),
               "finished_at": datetime.now(UTC)}
    for name, value in changes.items():
        setattr(row, name, value)
    await row.save(update_fields=list(changes))
    await _publish(services, topic, {"kind": "finished"})


async def _publish(services: Services, topics: list[str], message: dict[str, Any]) -> None:
    try:
        await services.broker.publish(topics, message)
    except Exception:  # subscribers re-read the row every few seconds
        log.exception("ai.publish_failed")


async def finish_runs(services: Services, grace: float = SHUTDOWN_GRACE) -> None:
    """At shutdown: wait `grace` seconds for running calls, then cancel the rest (each is
    stored FAILED, UNAVAILABLE, charging nothing)."""
    runs = list(services.ai_runs)
    if not runs:
        return
    _, pending = await asyncio.wait(runs, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2)


async def get_generation(ctx: Context, generation_id: uuid.UUID) -> AiGeneration:
    return await ctx.row(AiGeneration, generation_id, what="AI generation")


@dataclass
class GenerationUpdate:
    """One message of `aiGeneration(id)`: the text so far and, on the first and the last
    message, the generation itself."""

    status: AiStatus
    text: str
    delta: str | None
    generation: AiGeneration | None


async def generation_updates(ctx: Context, generation_id: uuid.UUID,
                             ) -> AsyncIterator[GenerationUpdate]:
    """The generation as it is (first message), each piece of text as it is produced, then
    the generation finished (last message). Subscribing before reading leaves no gap: a piece
    published in between arrives after the first message, whose text may already hold it
    (`text` is always the whole text so far)."""
    first = await get_generation(ctx, generation_id)
    org_id = first.organization_id

    async def now() -> AiGeneration:
        row = await ctx.access.scoped(AiGeneration, org_id).filter(id=generation_id).first()
        if row is None:  # deleted with its lead meanwhile
            raise NotFound("AI generation", field="id")
        return row

    async with ctx.services.broker.subscribe([generation_topic(generation_id)]) as messages:
        current = await now()
        yield GenerationUpdate(current.status, current.output_text, None, current)
        if current.finished:
            return
        status = current.status
        while True:
            try:
                message = await asyncio.wait_for(anext(messages), POLL_SECONDS)
            except TimeoutError:
                message = {"kind": "poll"}
            if message.get("kind") == "delta":
                status = AiStatus.STREAMING
                yield GenerationUpdate(status, str(message["text"]), str(message["delta"]),
                                       None)
                continue
            current = await now()
            if current.finished:
                yield GenerationUpdate(current.status, current.output_text, None, current)
                return
