"""A person's standing in an organization: what the credentials they make act with.

API tokens, partner-app codes and the grants those become act with their maker's standing:
membership of the org, a role that grants every scope, an account not scheduled for deletion,
and an organization not scheduled for deletion. Losing any of it ends them (the change that
lowers it revokes them in its transaction), and the OAuth token endpoint checks it again on every
code exchange and refresh (`oauth/server.py`), so nothing made through a race or before a rule
existed outlives it. While an account or organization is scheduled for deletion, nothing new is
made for it (`refuse_while_deleting`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tortoise.expressions import Q

from auth.access import exceeds
from core.errors import Conflict
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.oauth import OAuthCode, OAuthGrant
from models.orgs import Membership, Role
from models.tenancy import system_scope
from models.tokens import ApiToken

DELETION_PENDING = (WorkStatus.PENDING, WorkStatus.RUNNING, WorkStatus.FAILED)
"""The statuses of a scheduled deletion that has not been called off nor carried out (a FAILED
one is retried by hand, so it still counts), as `resolvers/deletions.py` reads them."""


@dataclass(frozen=True)
class Standing:
    role: Role | None
    """Their role in the org; None when they are not (or no longer) a member."""
    account_deleting: bool
    org_deleting: bool

    def allows(self, credential: ApiToken | OAuthGrant | OAuthCode) -> bool:
        """Whether a credential they made may still act: within their role, and neither their
        account nor the org on its way out."""
        return not (self.account_deleting or self.org_deleting or exceeds(credential, self.role))


async def standing(user_id: uuid.UUID | None, org_id: uuid.UUID) -> Standing:
    """`user_id`'s standing in `org_id`, in two queries (none for a missing user: no standing)."""
    if user_id is None:
        deleting = await _org_deleting(org_id)
        return Standing(role=None, account_deleting=True, org_deleting=deleting)
    membership = await system_scope(org_id, reason="a credential's maker's standing") \
        .scoped(Membership).filter(user_id=user_id).only("id", "role").first()
    kinds = await ScheduledWork.filter(
        Q(kind=WorkKind.ACCOUNT_DELETION, user_id=user_id)
        | Q(kind=WorkKind.ORG_DELETION, organization_id=org_id),
        status__in=DELETION_PENDING).values_list("kind", flat=True)
    return Standing(role=membership.role if membership else None,
                    account_deleting=WorkKind.ACCOUNT_DELETION in kinds,
                    org_deleting=WorkKind.ORG_DELETION in kinds)


async def _org_deleting(org_id: uuid.UUID) -> bool:
    return await ScheduledWork.filter(kind=WorkKind.ORG_DELETION, organization_id=org_id,
                                      status__in=DELETION_PENDING).exists()


async def refuse_while_deleting(user_id: uuid.UUID, org_id: uuid.UUID, making: str) -> None:
    """CONFLICT when the person's account or the org is scheduled for deletion: a credential
    made now would have to end with it (`making` says what was asked, e.g. "create an API
    token")."""
    found = await standing(user_id, org_id)
    if found.account_deleting:
        raise Conflict(f"Your account is scheduled for deletion, so you cannot {making}: cancel "
                       "the deletion (cancelAccountDeletion) first.",
                       reason="ACCOUNT_DELETION_PENDING")
    if found.org_deleting:
        raise Conflict(f"This organization is scheduled for deletion, so you cannot {making}: "
                       "its OWNER can cancel the deletion (cancelOrganizationDeletion).",
                       reason="ORG_DELETION_PENDING")
