"""Access control for one request: which orgs the caller belongs to, with which permissions, and
the tenant scope through which org-owned rows are read.

`require(org_id, permission)` is what field permissions call. A caller who is not a member gets
NOT_FOUND (the org does not exist for them); a member without the permission gets FORBIDDEN naming
it. `scoped(Model, org_ids)` then reads org-owned rows, and refuses orgs that were not checked:
it is the request's one way to read tenant rows (the other, for code that runs for no request, is
`models.tenancy.system_scope`; see that module). `raw(Model, org_id, template)` runs raw SQL
over the same rows, the org condition written by the scope.

An organization API token (`models/tokens.py`) goes through the same checks: it is a member of
its own org alone, and its permissions there are its scopes alone (checked at creation to be
within its creator's role). Any other org is NOT_FOUND; a permission outside the scopes is
FORBIDDEN naming the missing scope. A partner app's OAuth grant (`models/oauth.py`) is the same
kind of credential (org id and scopes) and goes through exactly the same checks. Neither ever
sees a lead whose processing is restricted, nor its notes: `scoped` leaves them out. For the rank
rules of member management a token ranks as an ADMIN (it acts on MEMBERs and VIEWERs only, and
grants no role above ADMIN).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from tortoise.queryset import QuerySet

from auth.permissions import ROLE_GRANTS, Permission
from core.errors import Forbidden, NotFound
from core.loading import Loader
from database.rows import as_uuid, build, native_types
from models.orgs import Membership, Organization, Role
from models.support import StaffMember, SupportAccessGrant, SupportAccessRead
from models.tenancy import TenantModel, before_org_known_joined, tenant_sql

if TYPE_CHECKING:
    from models.oauth import OAuthCode, OAuthGrant
    from models.tokens import ApiToken

T = TypeVar("T", bound=TenantModel)


class _ViewerMembershipLoader(Loader[uuid.UUID, Membership | None]):
    """The caller's membership per org, all orgs asked in a tick fetched in one query."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__()
        self.user_id = user_id

    async def batch_load_fn(self, org_ids: list[uuid.UUID]) -> list[Membership | None]:
        # One prepared statement, not one the ORM builds anew (a third of its cost), with
        # the orgs attached.
        rows = await before_org_known_joined(
            Membership, "organization", reason="a person's own memberships",
            where={"user_id": self.user_id, "organization_id": list(org_ids)})
        by_org = {m.organization_id: m for m in rows}
        return [by_org.get(org_id) for org_id in org_ids]


TOKEN_RANK = Role.ADMIN
"""The role an API token stands in for in rank rules (never in permission checks)."""


def token_scopes(token: ApiToken | OAuthGrant | OAuthCode) -> frozenset[Permission]:
    """A token's scopes as permissions; a name no longer known grants nothing."""
    known = {p.value for p in Permission}
    return frozenset(Permission(name) for name in token.scopes if name in known)


def exceeds(token: ApiToken | OAuthGrant | OAuthCode, role: Role | None) -> bool:
    """Whether the token (or grant, or code) does more than `role` may; anything, with no role.
    A token acts with its creator's standing, so when that standing drops, such a token ends."""
    return role is None or not token_scopes(token) <= ROLE_GRANTS[role]


async def person_holds(user_id: uuid.UUID, org_id: uuid.UUID, permission: Permission) -> bool:
    """Whether a person holds `permission` in `org_id`, as the database has it now, by the rule
    a request's `Access.require` applies (one query): for code that must check someone's
    standing outside their own request (a download link is a bearer token; whoever presents
    it, its requester must still hold the permission)."""
    return permission in await Access(user_id).permissions(org_id)


class Access:
    def __init__(self, user_id: uuid.UUID | None,
                 token: ApiToken | OAuthGrant | None = None) -> None:
        self.user_id = None if token is not None else user_id
        self.token = token
        self._memberships = _ViewerMembershipLoader(user_id) \
            if user_id and token is None else None
        self._token_scopes = token_scopes(token) if token is not None else frozenset()
        self._checked: set[uuid.UUID] = set()
        self._staff: bool | None = None
        self._grants: dict[uuid.UUID, SupportAccessGrant | None] = {}
        self._reads: set[tuple[uuid.UUID, str]] = set()

    async def membership(self, org_id: uuid.UUID) -> Membership | None:
        if self.token is not None:
            return self._token_membership(org_id)
        if self._memberships is None:
            return None
        membership = await self._memberships.load(org_id)
        if membership is None and await self.support_grant(org_id) is not None:
            return self._support_membership(org_id)
        return membership

    async def support_grant(self, org_id: uuid.UUID) -> SupportAccessGrant | None:
        """The live support access grant (`grantSupportAccess`) through which this caller, a
        Relleks staff member who is no member of the org, reads it; None for anyone else.
        Read once per request: a grant that expires or is revoked ends at the next request."""
        if self.user_id is None:
            return None
        if org_id not in self._grants:
            grant = None
            if await self.is_staff():
                grant = await SupportAccessGrant._scoped({org_id}).filter(
                    revoked_at__isnull=True, expires_at__gt=datetime.now(UTC),
                ).order_by("-expires_at").first()
            self._grants[org_id] = grant
        return self._grants[org_id]

    def _support_membership(self, org_id: uuid.UUID) -> Membership:
        """A stand-in membership (never saved) of a staff member under a grant: a VIEWER,
        whose permissions are reads only; `engine.permissions.BelongsToOrg` also refuses
        every mutation through it and logs each read."""
        stand_in = Membership(organization_id=org_id, role=Role.VIEWER)
        cast(Any, stand_in).user_id = None  # a stand-in: no member behind it
        return stand_in

    def through_support_grant(self, org_id: uuid.UUID) -> SupportAccessGrant | None:
        """The grant this request reaches `org_id` through, once `membership` found it."""
        return self._grants.get(org_id)

    async def note_support_read(self, org_id: uuid.UUID, *, field: str, path: str,
                                operation: str) -> None:
        """Log one read of a staff member under the org's grant (`SupportAccessRead`): each
        field once per request, with the path where it was first read."""
        grant = self._grants.get(org_id)
        if grant is None or (org_id, field) in self._reads:
            return
        self._reads.add((org_id, field))
        await SupportAccessRead.create(organization_id=org_id, grant_id=grant.id,
                                       staff_user_id=self.user_id, field=field[:200],
                                       path=path[:500], operation=operation[:100])

    def _token_membership(self, org_id: uuid.UUID) -> Membership | None:
        """A stand-in membership (never saved) for the token's own org: no user, ADMIN rank."""
        assert self.token is not None
        if org_id != self.token.organization_id:
            return None
        stand_in = Membership(organization_id=org_id, role=TOKEN_RANK)
        stand_in.user_id = None  # type: ignore[assignment]  # a stand-in: no user behind it
        return stand_in

    def prime(self, membership: Membership) -> None:
        """Record a membership already loaded (e.g. `me.memberships`), saving a query."""
        if self._memberships is not None and membership.user_id == self.user_id:
            self._memberships.prime(membership.organization_id, membership)

    async def owner_orgs(self, model: type[TenantModel],
                         ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """`model.owner_orgs(ids)`; for a person, in the same statement, their memberships of
        those orgs, with which (or with whose absence) this access is primed: a field reached
        by a row's id checks the caller's permission in the row's org next, and reading the
        membership apart was a second round trip on every such request. Reveals nothing more
        than the two reads it replaces."""
        if self._memberships is None or not ids:
            return await model.owner_orgs(ids)
        db = model._meta.db
        native = native_types(db)
        params: list[Any] = [self.user_id, list(ids)] if native else \
            [str(self.user_id), *(str(row_id) for row_id in ids)]
        _, rows = await db.execute_query(_owners_sql(model, native, len(ids)), params)
        owners = {as_uuid(row["owned_id"]): as_uuid(row["owned_by"]) for row in rows}
        held = build(Membership, [row for row in rows if row["membership.id"] is not None],
                     native_types=native, prefix="membership.")
        for membership in held:
            self.prime(membership)
        for org_id in set(owners.values()) - {m.organization_id for m in held}:
            self._memberships.prime(org_id, None)
        return owners

    async def permissions(self, org_id: uuid.UUID) -> frozenset[Permission]:
        if self.token is not None:
            return self._token_scopes if org_id == self.token.organization_id else frozenset()
        membership = await self.membership(org_id)
        return ROLE_GRANTS[membership.role] if membership else frozenset()

    async def require(self, org_id: uuid.UUID, permission: Permission) -> Membership:
        membership = await self.membership(org_id)
        if membership is None:
            raise NotFound("organization")
        if self.token is not None:
            if permission not in self._token_scopes:
                raise Forbidden(f"This token lacks the `{permission.value}` scope.",
                                permission=permission.value, scope=permission.value)
        elif permission not in ROLE_GRANTS[membership.role]:
            raise Forbidden(f"Your role ({membership.role.name}) does not allow this: it needs "
                            f"the `{permission.value}` permission.", permission=permission.value)
        self._checked.add(org_id)
        return membership

    async def require_now(self, org_id: uuid.UUID, permission: Permission) -> Membership:
        """`require`, against the caller's standing as the database has it now: call it inside
        the transaction of a decision that depends on the caller's role. It locks the
        organization (`Organization.lock`), so a concurrent role change, removal or revocation
        of the caller's token waits for the decision or is seen by it, and reads the membership
        again instead of using this request's cached one. Gone since the request began:
        NOT_FOUND; demoted below `permission` (or the token revoked): FORBIDDEN."""
        await Organization.lock(org_id)
        if self.token is not None:
            live = await type(self.token)._scoped(org_id).filter(
                id=self.token.id, revoked_at__isnull=True).exists()
            if not live:
                raise Forbidden("This token was revoked.", reason="TOKEN_REVOKED")
            return await self.require(org_id, permission)
        self.forget(org_id)
        membership = await Membership.of_user(self.user_id).filter(
            organization_id=org_id).first() if self.user_id else None
        if membership is None:
            raise NotFound("organization")
        self.prime(membership)
        return await self.require(org_id, permission)

    async def orgs_with(self, permission: Permission) -> set[uuid.UUID]:
        """Every org where the caller holds `permission` (one query), marked as checked."""
        if self.token is not None:
            granted = {self.token.organization_id} if permission in self._token_scopes else set()
            self._checked |= granted
            return granted
        if self.user_id is None:
            return set()
        memberships = await Membership.of_user(self.user_id)
        for membership in memberships:
            self.prime(membership)
        granted = {m.organization_id for m in memberships if permission in ROLE_GRANTS[m.role]}
        self._checked |= granted
        return granted

    async def is_staff(self) -> bool:
        """Whether the caller is a person with the Relleks staff role (given by
        `python -m scripts.staff`, never through the API): staff read and answer support
        tickets; the role alone reaches no organization. A token is never staff."""
        if self.user_id is None:
            return False
        if self._staff is None:
            self._staff = await StaffMember.filter(user_id=self.user_id).exists()
        return self._staff

    def forget(self, org_id: uuid.UUID) -> None:
        """Drop a cached membership after it changed in this request."""
        if self._memberships is not None:
            self._memberships.clear(org_id)

    @property
    def sees_people(self) -> bool:
        """Whether this caller may read what identifies a person (a User's sign-in `email`)
        wherever it reaches one: a credential only with the `members:read` scope (its own org
        is the only one it reaches); a person always, as every role grants `members:read`."""
        return self.token is None or Permission.MEMBERS_READ in self._token_scopes

    @property
    def hides_restricted(self) -> bool:
        """Whether leads whose processing is restricted are hidden from this caller: from every
        credential that is not a person (an API token, a partner app's OAuth grant, any kind
        added later), as if they did not exist. People in the org see them, flagged."""
        return self.token is not None

    @property
    def checked_orgs(self) -> frozenset[uuid.UUID]:
        """The orgs whose permission check passed in this request so far (the usage analytics
        count a person's request in each, `services/usage.py`)."""
        return frozenset(self._checked)

    def scoped(self, model: type[T], org_ids: uuid.UUID | Iterable[uuid.UUID], *,
               restricted_too: bool = False) -> QuerySet[T]:
        """Rows of `model` in orgs whose permission check passed in this request.

        For a caller that `hides_restricted`, the rows about a restricted lead (the lead, its
        notes: `TenantModel.without_restricted`) are left out here, so that no read path can
        forget them. `restricted_too` keeps them, for code that reads them only to honour the
        restriction (an import refusing a restricted person's email) and never returns them."""
        wanted = {org_ids} if isinstance(org_ids, uuid.UUID) else set(org_ids)
        if not wanted <= self._checked:
            raise NotFound("organization")
        query = model._scoped(wanted)
        support = any(self._grants.get(org_id) is not None for org_id in wanted)
        if (self.token is not None or support) and not restricted_too:
            query = model.without_restricted(query, lambda other: other._scoped(wanted))
        return query

    async def raw(self, model: type[TenantModel], org_id: uuid.UUID, template: str,
                  params: Sequence[object] = ()) -> tuple[Sequence[Any], bool]:
        """Raw SQL over `model`'s rows of `org_id`, checked as `scoped` checks it: `template`
        names the table `{table}` and holds `{tenant}`, the org condition written here, and
        marks its parameters `?` (see `models.tenancy.tenant_sql`). Rows a model marks with its
        `restricted_flag` (a restricted lead) are left out for the callers `scoped` hides them
        from; rows that only point to such a row (its notes) are not: ask only about rows the
        caller reached through `scoped` or this (the notes of leads it listed). Returns the
        rows and whether their types are the driver's own."""
        if org_id not in self._checked:
            raise NotFound("organization")
        hide = self.token is not None or self._grants.get(org_id) is not None
        return await tenant_sql(model, frozenset((org_id,)), template, params,
                                hide_restricted=hide)


@cache
def _owners_sql(model: type[TenantModel], native: bool, count: int) -> str:
    """`Access.owner_orgs`'s statement for a person: its text depends on the model (and on
    SQLite on how many ids), so it is prepared once per connection."""
    columns = ", ".join(f'm."{column}" AS "membership.{column}"'
                        for column in Membership._meta.db_fields)
    user, within = ("$1", "= ANY($2::uuid[])") if native else \
        ("?", f"IN ({', '.join('?' for _ in range(count))})")
    # Names from the models' own metadata; the values are parameters.
    return (f'SELECT t."id" AS owned_id, t."organization_id" AS owned_by, {columns} '  # noqa: S608
            f'FROM "{model._meta.db_table}" t LEFT JOIN "memberships" m '
            f'ON m."organization_id" = t."organization_id" AND m."user_id" = {user} '
            f'WHERE t."id" {within}')
