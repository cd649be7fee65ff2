"""AI features in the API: `generateLeadSummary`, `suggestNextSteps` and `draftEmail` (each
returns an `AiGeneration` at once and streams it to the `aiGeneration(id)` subscription),
`Lead.aiGenerations` (`LeadAiFields`, which `schema/leads.py` gives `Lead`),
`Organization.aiEnabled` and `Organization.aiUsage` (`OrganizationAiFields`) and
`setOrganizationAiEnabled`. docs/ai.md describes the whole.

Using the features needs `ai:use` (MEMBER+); the provenance of a call and the usage need
`ai:usage` (ADMIN+); turning them on or off needs `ai:manage` (OWNER and ADMIN, in person).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from core.errors import BadUserInput
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.permissions import (
    HasPermission,
    org_from_argument,
    org_from_source,
    org_of,
    requires,
)
from models import ai as models
from models import leads as lead_models
from models import orgs as org_models
from resolvers import ai as resolvers
from schema.accounts import User

if TYPE_CHECKING:
    from schema.orgs import OrganizationBase as Organization

AiFeature = models.AiFeature
described_enum(
    models.AiFeature, name="AiFeature", description="What an AI generation was asked for.",
    values={
        AiFeature.SUMMARY: "A short summary of the lead and its notes (`generateLeadSummary`).",
        AiFeature.NEXT_STEPS: "Up to three next actions, each with a reason "
                              "(`suggestNextSteps`).",
        AiFeature.DRAFT_EMAIL: "A follow-up email draft for a purpose (`draftEmail`).",
    })
AiStatus = models.AiStatus
described_enum(
    models.AiStatus, name="AiGenerationStatus", description="Where an AI generation stands.",
    values={
        AiStatus.PENDING: "Asked; the provider has not answered yet.",
        AiStatus.STREAMING: "The answer is arriving (`aiGeneration` streams it).",
        AiStatus.SUCCEEDED: "Finished: `text` (and `nextSteps`) hold the answer; its credits "
                            "were charged.",
        AiStatus.FAILED: "Failed: `errorCode` says why (UNAVAILABLE or BAD_USER_INPUT); "
                         "nothing was charged.",
    })

LEAD_GENERATIONS_MAX = 20
"""`first` of `Lead.aiGenerations`."""


@strawberry.type(description="One suggested next action.")
class NextStep:
    action: str = strawberry.field(description="What to do.")
    reason: str = strawberry.field(description="Why, in one line.")


@strawberry.type(description="Where an AI generation came from, and what it cost (ADMIN+).")
class AiProvenance:
    provider: str = strawberry.field(description="`openai-compatible` or `local` (the "
                                                 "built-in extractive provider).")
    model: str = strawberry.field(description="The model asked.")
    prompt_version: str = strawberry.field(description="The prompt's version, e.g. "
                                                       "`summary/1`.")
    input_hash: str = strawberry.field(description="SHA-256 (hex) of the exact messages sent.")
    data_manifest: list[str] = strawberry.field(
        description="The fields sent (never their values), e.g. `lead.name`, "
                    "`note.body\N{MULTIPLICATION SIGN}3`, `purpose`; the lead's email, "
                    "phone and address are never among them.")
    input_tokens: int = strawberry.field(description="Tokens sent, as the provider counted.")
    output_tokens: int = strawberry.field(description="Tokens answered.")
    credits_charged: int = strawberry.field(
        description="Credits charged: ceil((input + output tokens) / 1000), at least 1, for a "
                    "call that succeeded; 0 otherwise.")
    latency_ms: int | None = strawberry.field(description="Milliseconds from asking to the "
                                                          "last piece; null while running.")


@strawberry.type(description="One call of an AI feature about a lead: its status, its output "
                             "and (ADMIN+) its provenance.")
class AiGeneration(ModelNode):
    model = models.AiGeneration

    id: relay.NodeID[str]
    feature: AiFeature = strawberry.field(description="What was asked for.")
    status: AiStatus = strawberry.field(description="Where it stands.")
    created_at: datetime.datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime.datetime | None = strawberry.field(
        description="When it succeeded or failed; null while running.")
    purpose: str | None = strawberry.field(
        description="DRAFT_EMAIL: the purpose as sent (contact data masked); null otherwise.")
    error_code: str | None = strawberry.field(
        description="FAILED: `UNAVAILABLE` (provider down, timeout, interrupted) or "
                    "`BAD_USER_INPUT` (the provider refused, or its answer could not be "
                    "read); null otherwise.")
    error_message: str | None = strawberry.field(description="FAILED: why, in a sentence.")
    requested_by = relation("requested_by_id", "user", graphql_type=User | None,
                            description="Who asked (behind an API token, its creator); null "
                                        "when that account is gone.")

    @strawberry.field(description="The answer, or what arrived of it so far. Placeholders "
                                  "such as `[EMAIL_1]` stand for contact data that was not "
                                  "sent.")
    def text(self, root: strawberry.Parent[models.AiGeneration]) -> str:
        return root.output_text

    @strawberry.field(description="NEXT_STEPS once SUCCEEDED: the steps, at most three; null "
                                  "otherwise.")
    def next_steps(self, root: strawberry.Parent[models.AiGeneration]) -> list[NextStep] | None:
        if not isinstance(root.output_json, list):
            return None
        return [NextStep(action=str(step.get("action", "")), reason=str(step.get("reason", "")))
                for step in root.output_json if isinstance(step, dict)]

    @strawberry.field(description="The lead's global id.")
    def lead_id(self, root: strawberry.Parent[models.AiGeneration]) -> strawberry.ID:
        return strawberry.ID(str(relay.GlobalID("Lead", str(root.lead_id))))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        wanted = list(node_ids)
        visible = await info.context.visible(models.AiGeneration, wanted, Permission.AI_USE)
        return [visible.get(node_id) for node_id in wanted]

    @strawberry.field(description="Provider, model, prompt version, input hash, the fields "
                                  "sent, tokens, credits and latency.",
                      extensions=[requires(HasPermission(Permission.AI_USAGE,
                                                         org=org_from_source()))])
    def provenance(self, root: strawberry.Parent[models.AiGeneration]) -> AiProvenance | None:
        return AiProvenance(
            provider=root.provider, model=root.model, prompt_version=root.prompt_version,
            input_hash=root.input_hash, data_manifest=list(root.data_manifest or []),
            input_tokens=root.input_tokens, output_tokens=root.output_tokens,
            credits_charged=root.credits_charged, latency_ms=root.latency_ms)


@strawberry.type(description="What `Lead` holds of AI generations. Not in the schema itself.")
class LeadAiFields:
    @strawberry.field(
        description="AI generations about this lead, newest first (`ai:use`). The first page "
                    "of a page of leads is read in one query for all of them.",
        extensions=[requires(HasPermission(Permission.AI_USE, org=org_from_source()))])
    async def ai_generations(
            self, root: strawberry.Parent[lead_models.Lead], info: Info,
            first: Annotated[int | None, strawberry.argument(
                description=f"How many, at most {LEAD_GENERATIONS_MAX} (default 10).")] = None,
            after: Annotated[str | None, strawberry.argument(
                description="The cursor of the last one seen (`pageInfo.endCursor`).")] = None,
    ) -> Connection[AiGeneration]:
        limit = 10 if first is None else first
        if not 0 <= limit <= LEAD_GENERATIONS_MAX:
            raise BadUserInput.field("first", f"must be between 0 and {LEAD_GENERATIONS_MAX}")
        query = resolvers.generations_of_lead(info.context, root.organization_id, root.id)
        if after is not None:
            return cast("Connection[AiGeneration]", await Connection.resolve_connection(
                Rows(query), info=info, first=limit, after=after))
        page = await info.context.loaders.first_ai_generations(
            root.organization_id, limit + 1).load(root.id)
        connection = Connection.resolve_connection(page, info=info, first=limit)
        connection.total = query.count
        return cast("Connection[AiGeneration]", connection)


@strawberry.type(description="An organization's AI usage in the current calendar month "
                             "(UTC), and the log of its calls with their provenance.")
class AiUsage:
    organization_id: strawberry.Private[uuid.UUID]
    month: datetime.datetime = strawberry.field(description="The month's start (UTC).")
    enabled: bool = strawberry.field(description="Whether the AI features are on.")
    credits_used: int = strawberry.field(description="Credits charged this month.")
    credits_limit: int | None = strawberry.field(
        description="The plan's AI credits per month; null: unlimited. Free has none.")
    calls: int = strawberry.field(description="Calls this month, failed ones included.")
    failed_calls: int = strawberry.field(description="Calls this month that failed "
                                                     "(charged nothing).")

    @relay.connection(Connection[AiGeneration],
                      description="Every call kept (180 days), newest first, with its "
                                  "provenance.")
    def generations(self, info: Info) -> list[AiGeneration]:
        return cast("list[AiGeneration]", Rows(resolvers.generations_of_org(
            info.context, self.organization_id)))


@strawberry.type(description="What `Organization` holds of AI features (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationAiFields:
    @strawberry.field(description="Whether the AI features are on (off until an OWNER or "
                                  "ADMIN turns them on).",
                      extensions=[requires(HasPermission(Permission.AI_USE,
                                                         org=org_from_source()))])
    def ai_enabled(self, root: strawberry.Parent[org_models.Organization]) -> bool:
        return root.ai_enabled

    @strawberry.field(description="AI credits spent this month and the calls' provenance "
                                  "(`ai:usage`).",
                      extensions=[requires(HasPermission(Permission.AI_USAGE,
                                                         org=org_from_source()))])
    async def ai_usage(self, root: strawberry.Parent[org_models.Organization],
                       info: Info) -> AiUsage:
        usage = await resolvers.usage_of(info.context, root)
        return AiUsage(organization_id=usage.organization_id, month=usage.month,
                       enabled=usage.enabled, credits_used=usage.credits_used,
                       credits_limit=usage.credits_limit, calls=usage.calls,
                       failed_calls=usage.failed_calls)


@strawberry.input(description="The lead to summarise.")
class GenerateLeadSummaryInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead.")


@strawberry.type(description="The summary, just asked for.")
class GenerateLeadSummaryPayload:
    generation: AiGeneration = strawberry.field(
        description="PENDING or STREAMING: follow it with `aiGeneration(id)`, or read it "
                    "later.")


@strawberry.input(description="The lead to suggest next steps for.")
class SuggestNextStepsInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead.")


@strawberry.type(description="The suggestions, just asked for.")
class SuggestNextStepsPayload:
    generation: AiGeneration = strawberry.field(
        description="PENDING or STREAMING: `nextSteps` is set once SUCCEEDED.")


@strawberry.input(description="The lead to write to, and why.")
class DraftEmailInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead.")
    purpose: str = strawberry.field(
        description=f"What the email is for, e.g. `follow up on the demo`, at most "
                    f"{resolvers.PURPOSE_MAX} characters; contact data in it is masked "
                    "before it is sent.")


@strawberry.type(description="The draft, just asked for.")
class DraftEmailPayload:
    generation: AiGeneration = strawberry.field(
        description="PENDING or STREAMING: the draft arrives in `text`; you edit and send "
                    "it yourself.")


@strawberry.input(description="Turn an organization's AI features on or off.")
class SetOrganizationAiEnabledInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    enabled: bool = strawberry.field(description="On (true) or off (false).")


@strawberry.type(description="The organization after setOrganizationAiEnabled.")
class SetOrganizationAiEnabledPayload:
    organization: Annotated[Organization, strawberry.lazy("schema.composition")] = \
        strawberry.field(description="The organization (`aiEnabled`).")


_AI_ERRORS = ("CONFLICT (reason `AI_DISABLED`: the organization has not turned AI on; "
              "`PROCESSING_RESTRICTED`: the lead is restricted), UNAVAILABLE (reason "
              "`AI_NOT_CONFIGURED`), RATE_LIMITED (reason `AI_CALLS`), PLAN_LIMIT (the "
              "month's AI credits are spent).")


def _lead_id(value: relay.GlobalID) -> uuid.UUID:
    return decode_id(value, "Lead", field="leadId")


def _lead_locator() -> Any:
    return org_of(lead_models.Lead, "Lead", "input.lead_id")


@strawberry.type
class AiMutations:
    @strawberry.mutation(
        description="Summarise a lead and its notes (`ai:use`). Returns at once; the text "
                    "streams to `aiGeneration(id)`. Errors: " + _AI_ERRORS,
        extensions=[requires(HasPermission(Permission.AI_USE, org=_lead_locator()))])
    async def generate_lead_summary(self, info: Info, input: GenerateLeadSummaryInput
                                    ) -> GenerateLeadSummaryPayload:
        generation = await resolvers.start_generation(info.context, AiFeature.SUMMARY,
                                                      _lead_id(input.lead_id))
        return GenerateLeadSummaryPayload(generation=cast("AiGeneration", generation))

    @strawberry.mutation(
        description="Suggest up to three next actions for a lead (`ai:use`). Returns at "
                    "once; errors as `generateLeadSummary`.",
        extensions=[requires(HasPermission(Permission.AI_USE, org=_lead_locator()))])
    async def suggest_next_steps(self, info: Info, input: SuggestNextStepsInput
                                 ) -> SuggestNextStepsPayload:
        generation = await resolvers.start_generation(info.context, AiFeature.NEXT_STEPS,
                                                      _lead_id(input.lead_id))
        return SuggestNextStepsPayload(generation=cast("AiGeneration", generation))

    @strawberry.mutation(
        description="Draft a follow-up email to a lead for a purpose (`ai:use`). Returns at "
                    "once; errors as `generateLeadSummary`, and BAD_USER_INPUT naming "
                    "`purpose`.",
        extensions=[requires(HasPermission(Permission.AI_USE, org=_lead_locator()))])
    async def draft_email(self, info: Info, input: DraftEmailInput) -> DraftEmailPayload:
        generation = await resolvers.start_generation(info.context, AiFeature.DRAFT_EMAIL,
                                                      _lead_id(input.lead_id), input.purpose)
        return DraftEmailPayload(generation=cast("AiGeneration", generation))

    @strawberry.mutation(
        description="Turn the organization's AI features on or off (`ai:manage`: OWNER or "
                    "ADMIN, in person). The activity log records it.",
        extensions=[requires(HasPermission(Permission.AI_MANAGE,
                                           org=org_from_argument("input.organization_id")))])
    async def set_organization_ai_enabled(self, info: Info,
                                          input: SetOrganizationAiEnabledInput,
                                          ) -> SetOrganizationAiEnabledPayload:
        org = await resolvers.set_ai_enabled(
            info.context, decode_id(input.organization_id, "Organization",
                                    field="organizationId"), input.enabled)
        return SetOrganizationAiEnabledPayload(organization=cast("Organization", org))


@strawberry.type(description="A message of `aiGeneration`: the text so far, the piece just "
                             "produced, and on the first and last message the generation.")
class AiGenerationUpdate:
    status: AiStatus = strawberry.field(description="Where the generation stands.")
    text: str = strawberry.field(description="The whole text so far.")
    delta: str | None = strawberry.field(description="The piece just produced; null on the "
                                                     "first and last message.")
    generation: AiGeneration | None = strawberry.field(
        description="The generation as stored: on the first message, and on the last "
                    "(SUCCEEDED or FAILED), after which the subscription completes.")


@strawberry.type
class AiSubscriptions:
    @strawberry.subscription(
        description="Follow an AI generation (`ai:use`): its state now, each piece of text "
                    "as it is produced, then its final state; completes when it has "
                    "finished.",
        extensions=[requires(HasPermission(Permission.AI_USE, org=org_of(
            models.AiGeneration, "AiGeneration", "id")))])
    async def ai_generation(self, info: Info, id: Annotated[relay.GlobalID, strawberry.argument(
            description="The generation's id.")]) -> AsyncGenerator[AiGenerationUpdate, None]:
        generation_id = decode_id(id, "AiGeneration", field="id")
        async for update in resolvers.generation_updates(info.context, generation_id):
            yield AiGenerationUpdate(status=update.status, text=update.text, delta=update.delta,
                                     generation=cast("AiGeneration | None", update.generation))
