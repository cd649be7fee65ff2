"""Consents in the API: `me.consents`, `me.consentHistory` and `setConsent`.

Every consent is opt-in (never chosen: not granted) and every change is kept as a dated record.
"""

from __future__ import annotations

import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry import relay

from engine.fields import Connection, Info, ModelNode, Rows
from engine.permissions import IsAuthenticated, requires
from models import accounts as account_models
from models import consents as models
from resolvers import consents as resolvers
from schema.accounts import VIEWER_ONLY, is_viewer


@strawberry.enum(description="What a consent allows.")
class ConsentKind(Enum):
    _value_: str  # what `strawberry.enum_value` holds
    AI_TRAINING = strawberry.enum_value(
        models.ConsentKind.AI_TRAINING.value,
        description="Use of your data, and of what you contributed to your organizations, to "
                    "train or improve AI models. Off unless you turn it on.")
    PRODUCT_EMAILS = strawberry.enum_value(
        models.ConsentKind.PRODUCT_EMAILS.value,
        description="Emails about new features and offers. Off unless you turn it on; "
                    "security and policy notices are sent regardless.")


@strawberry.type(description="The current state of one of your consents.")
class Consent:
    kind: ConsentKind = strawberry.field(description="What it allows.")
    granted: bool = strawberry.field(description="Whether you allow it now.")
    changed_at: datetime.datetime | None = strawberry.field(
        description="When you last changed it; null: you never chose, so it is not granted.")
    policy_version: str | None = strawberry.field(
        description="The policy version in force when you last changed it.")

    @classmethod
    def of(cls, state: resolvers.ConsentState) -> Consent:
        return cls(kind=ConsentKind(state.kind.value), granted=state.granted,
                   changed_at=state.changed_at, policy_version=state.policy_version)


@strawberry.type(description="One change of one of your consents: a dated record, never edited.")
class ConsentChange(ModelNode):
    model = models.Consent

    id: relay.NodeID[str]

    @strawberry.field(description="Which consent.")
    def kind(self, root: strawberry.Parent[models.Consent]) -> ConsentKind:
        return ConsentKind(root.kind.value)

    granted: bool = strawberry.field(description="Granted (true) or withdrawn (false).")
    created_at: datetime.datetime = strawberry.field(description="When.")
    policy_version: str = strawberry.field(description="The policy version then in force.")


@strawberry.type(description="What `Me` holds of consents (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MeConsentFields:
    @strawberry.field(description="Your consents, one per kind, with their current state. "
                                  "A list, not a connection: exactly one per `ConsentKind`, a "
                                  "fixed set (`consentHistory` pages through the changes). "
                                  + VIEWER_ONLY.format(empty="null"))
    async def consents(self, root: strawberry.Parent[account_models.User],
                       info: Info) -> list[Consent] | None:
        if not is_viewer(root, info):
            return None
        return [Consent.of(state) for state in await resolvers.current_consents(root.id)]

    @relay.connection(Connection[ConsentChange], description="Every change of your consents, "
                      "newest first. " + VIEWER_ONLY.format(empty="empty"))
    def consent_history(self, root: strawberry.Parent[account_models.User],
                        info: Info) -> list[ConsentChange]:
        if not is_viewer(root, info):
            return []
        return cast("list[ConsentChange]", Rows(resolvers.history_query(root.id)))


@strawberry.input(description="The consent to grant or withdraw.")
class SetConsentInput:
    kind: ConsentKind = strawberry.field(description="Which consent.")
    granted: bool = strawberry.field(description="Grant (true) or withdraw (false).")


@strawberry.type(description="The result of `setConsent`.")
class SetConsentPayload:
    consent: Consent = strawberry.field(description="The consent, in its new state.")


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(
        description="Grant or withdraw one of your consents. A change is recorded with its "
                    "date; setting the state it already has records nothing.",
        extensions=[requires(IsAuthenticated())])
    async def set_consent(self, info: Info, input: SetConsentInput) -> SetConsentPayload:
        return SetConsentPayload(consent=Consent.of(await resolvers.set_consent(
            info.context, models.ConsentKind(input.kind.value), input.granted)))
