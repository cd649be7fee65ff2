"""The terms and privacy policy in the API: `currentPolicy`, `me.pendingPolicyAcceptance`,
`me.policyAcceptances` and `acceptPolicy`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import relay

from engine.fields import Connection, Info, ModelNode, Rows
from engine.permissions import IsAuthenticated, requires
from models import accounts as account_models
from models import policies as models
from resolvers import policies as resolvers
from schema.accounts import VIEWER_ONLY, is_viewer

if TYPE_CHECKING:
    from schema.accounts import MeBase as Me  # the composed `Me`, as type checkers see it


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


@strawberry.type(description="What `Me` holds of the policy (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MePolicyFields:
    @strawberry.field(description="The terms and privacy policy in force when you have not "
                                  "accepted it yet (then `acceptPolicy` it); null once you "
                                  "have. " + VIEWER_ONLY.format(empty="null"))
    def pending_policy_acceptance(self, root: strawberry.Parent[account_models.User],
                                  info: Info) -> Policy | None:
        if not is_viewer(root, info):
            return None
        pending = resolvers.pending_policy(info.context.services.settings, root)
        return Policy.of(pending) if pending else None

    @relay.connection(Connection[PolicyAcceptance], description="The policy versions you "
                      "accepted, newest first. " + VIEWER_ONLY.format(empty="empty"))
    def policy_acceptances(self, root: strawberry.Parent[account_models.User],
                           info: Info) -> list[PolicyAcceptance]:
        if not is_viewer(root, info):
            return []
        return cast("list[PolicyAcceptance]", Rows(resolvers.acceptances_query(root.id)))


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
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
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
        return AcceptPolicyPayload(user=cast("Me", await resolvers.accept_policy(
            info.context, input.version)))
