"""Organization API tokens: creating one (its secret shown once), listing and revoking them.

A token's scopes must be scopes a token may carry (`auth.permissions.TOKEN_SCOPES`) and within the
creator's own role: an ADMIN cannot mint a token that does more than they can. The plan caps how
many live tokens an organization holds (`partner_tokens` in `billing/plans.py`). A token acts
with its creator's standing (`auth/standing.py`): when the creator is demoted below its scopes,
or leaves or is removed, or their account's deletion is scheduled or carried out, it ends
(`revoke_beyond_role`, called by `resolvers/members.py` and `resolvers/deletions.py`; the
deletion job ends whatever is left). None is created while the creator's account or the org is
scheduled for deletion (CONFLICT).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from auth.access import exceeds
from auth.api_tokens import hash_api_token, new_api_token, shown_prefix
from auth.permissions import ROLE_GRANTS, Permission, named_scopes, refuse_person_only
from auth.standing import refuse_while_deleting
from billing.limits import LIMIT_COUNT, NOUNS, USAGE, ensure_within_limit
from core.errors import Forbidden
from core.validation import validate
from engine.context import Context
from models.orgs import Role
from models.tenancy import system_scope
from models.tokens import ApiToken
from realtime.outbox import in_transaction
from resolvers.activity import record

NAME_MAX = 100


async def live_tokens(org_id: uuid.UUID) -> int:
    """Tokens that still work (neither revoked nor expired): what the plan limit counts."""
    now = datetime.now(UTC)
    live = system_scope(org_id, reason=LIMIT_COUNT).scoped(ApiToken) \
        .filter(revoked_at__isnull=True)
    return await live.filter(expires_at__isnull=True).count() + \
        await live.filter(expires_at__gt=now).count()


# The plan catalog's `partner_tokens` limit counts live tokens.
USAGE.setdefault("partner_tokens", live_tokens)
NOUNS.setdefault("partner_tokens", "API tokens")


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    secret: str


def _clean_scopes(names: list[str], granted: frozenset[Permission]) -> list[Permission]:
    scopes = named_scopes(names)
    above = [p for p in scopes if p not in granted]
    if above:
        raise Forbidden(f"Your role does not have the `{above[0].value}` permission, so you "
                        "cannot grant it to a token.", permission=above[0].value,
                        reason="SCOPE_ABOVE_ROLE")
    refuse_person_only(scopes, "a token cannot carry it")
    return scopes


async def create_api_token(ctx: Context, org_id: uuid.UUID, *, name: str, scopes: list[str],
                           expires_at: datetime | None) -> CreatedToken:
    membership = await ctx.access.membership(org_id)
    granted = ROLE_GRANTS[membership.role] if membership else frozenset()
    with validate() as check:
        name = check.name("name", name, max_length=NAME_MAX)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            check.require("expiresAt", expires_at > datetime.now(UTC), "must be in the future")
        named = check.call(named_scopes, scopes)
        if named and all(p in granted for p in named):  # above the role: FORBIDDEN, below
            check.call(refuse_person_only, named, "a token cannot carry it")
    chosen = _clean_scopes(scopes, granted)
    await refuse_while_deleting(ctx.user.id, org_id, "create an API token")
    secret = new_api_token()
    async with in_transaction():
        # Again with the creator's role as it is now, the org locked: a demotion at this very
        # moment is either seen here or waits, and then ends this token with the others.
        membership = await ctx.access.require_now(org_id, Permission.TOKENS_WRITE)
        chosen = _clean_scopes(scopes, ROLE_GRANTS[membership.role])
        await ensure_within_limit(ctx, org_id, "partner_tokens")
        token = await ApiToken.create(
            organization_id=org_id, created_by_id=ctx.user.id, name=name,
            prefix=shown_prefix(secret), token_hash=hash_api_token(secret),
            scopes=[p.value for p in chosen], expires_at=expires_at)
        await record(ctx, org_id, "api_token.created", target_type="api_token",
                     target_id=token.id, summary={"name": name, "scopes": token.scopes,
                                                  "prefix": token.prefix})
    return CreatedToken(token=token, secret=secret)


def tokens_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[ApiToken]:
    """The org's tokens, newest first, revoked ones included (they say when they ended)."""
    return ctx.access.scoped(ApiToken, org_id).order_by("-created_at", "-id")


async def revoke_beyond_role(ctx: Context, org_id: uuid.UUID, creator_id: uuid.UUID,
                             role: Role | None, reason: str) -> int:
    """End the live tokens `creator_id` made in the org that do more than their `role` now
    allows (every one of them when they are no longer a member); how many ended. Runs in the
    caller's transaction, with the role change or removal that calls for it."""
    tokens = await ctx.access.scoped(ApiToken, org_id).filter(created_by_id=creator_id,
                                                              revoked_at__isnull=True)
    now = datetime.now(UTC)
    ended = [token for token in tokens if exceeds(token, role)]
    for token in ended:
        await ctx.access.scoped(ApiToken, org_id).filter(id=token.id).update(revoked_at=now)
        await record(ctx, org_id, "api_token.revoked", target_type="api_token",
                     target_id=token.id, summary={"name": token.name, "prefix": token.prefix,
                                                  "reason": reason})
    return len(ended)


async def revoke_api_token(ctx: Context, token_id: uuid.UUID) -> ApiToken:
    """End a token at once: the next request presenting it is UNAUTHENTICATED. Revoking a
    revoked token changes nothing."""
    token = await ctx.row(ApiToken, token_id, what="API token")
    if token.revoked_at is not None:
        return token
    token.revoked_at = datetime.now(UTC)
    async with in_transaction():
        await ctx.access.scoped(ApiToken, token.organization_id).filter(id=token.id) \
            .update(revoked_at=token.revoked_at)
        await record(ctx, token.organization_id, "api_token.revoked", target_type="api_token",
                     target_id=token.id, summary={"name": token.name, "prefix": token.prefix})
    return token
