"""The terms and privacy policy in the API: `currentPolicy`, `me.pendingPolicyAcceptance`,
`me.policyAcceptances` and `acceptPolicy`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import relay

from engine.fields import Info, ModelNode
from engine.permissions import IsAuthenticated, requires
from models import policies as models
from resolvers import policies as resolvers

if TYPE_CHECKING:
    from schema.accounts import User


@strawberry.type(description="A version of the Relleks terms of service and privacy policy.")
class Policy:
    version: str = strawberry.field(description="Its version, as `acceptPolicy` takes it.")
    url: str = strawberry.field(description="Where to read it.")
    effective_on: datetime.date = strawberry.field(description="The day it took effect.")

    @classmethod
    def of(cls, policy: resolvers.Policy) -> Policy:
        return cls(version=policy.version, url=policy.url, effective_on=policy.effective_on)


@strawberry.type(description="A version of the terms and privacy policy you accepted.")
class PolicyAcceptance(ModelNode):
    model = models.PolicyAcceptance

    id: relay.NodeID[str]
    version: str = strawberry.field(description="The version accepted.")
    created_at: datetime.datetime = strawberry.field(description="When.")


@strawberry.type
class PolicyQueries:
    @strawberry.field(description="The terms and privacy policy in force. Public.")
    def current_policy(self, info: Info) -> Policy:
        return Policy.of(resolvers.current_policy(info.context.services.settings))


@strawberry.input(description="The policy version to accept.")
class AcceptPolicyInput:
    version: str = strawberry.field(
        description="The version you were shown: `currentPolicy.version`.")


@strawberry.type(description="The result of `acceptPolicy`.")
class AcceptPolicyPayload:
    user: Annotated[User, strawberry.lazy("schema.accounts")] = strawberry.field(
        description="Your account: `pendingPolicyAcceptance` is now null and "
                    "`policyAcceptances` lists the version.")


@strawberry.type
class PolicyMutations:
    @strawberry.mutation(
        description="Accept the terms and privacy policy in force: `version` must be "
                    "`currentPolicy.version` (BAD_USER_INPUT otherwise). Accepting it again "
                    "records nothing.",
        extensions=[requires(IsAuthenticated())])
    async def accept_policy(self, info: Info, input: AcceptPolicyInput) -> AcceptPolicyPayload:
        return AcceptPolicyPayload(user=cast("User", await resolvers.accept_policy(
            info.context, input.version)))
