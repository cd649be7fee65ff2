"""Permissions, declared on the fields they guard.

    @strawberry.field(extensions=[requires(IsAuthenticated())])
    def me(self, info: Info) -> User: ...

    @strawberry.mutation(extensions=[requires(HasPermission(
        Permission.MEMBERS_INVITE, org=org_from_argument("input.organization_id")))])
    async def invite_member(self, info: Info, input: InviteMemberInput) -> Invitation: ...

A named permission is granted by roles (and, later, by a partner token's scopes); `org=` says
where the field finds the organization it acts on. The check runs before the resolver, so a
resolver body never holds a permission `if`.

A locator's argument path (`"input.organization_id"`, in Python names) is checked when the
schema is built (`check_locators`, called by `schema.Schema`): its first part must be an argument
of the field, each further part a field of that input type, the last a scalar, and a type name
it is given (`org_of(models.Lead, "Lead", ...)`) a type of the schema. A typo stops start-up
with a `LocatorError` naming the field, instead of making the field NOT_FOUND for everyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    OperationType,
    get_nullable_type,
)
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema import Schema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from auth.permissions import Permission
from auth.standing import DELETION_PENDING
from core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from engine.fields import decode_id
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Organization
from models.tenancy import TenantModel


class IsAuthenticated(BasePermission):
    """The caller is a person with a live session (an access token or the session cookie).

    An organization API token is not a person: fields for people (`me`, sessions, account
    changes, creating an org, accepting an invitation) refuse it with FORBIDDEN, reason
    PERSON_ONLY. Its credential is good, so UNAUTHENTICATED would send a client to refresh it."""

    message = "Sign in first."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.credential is not None:
            raise Forbidden("A token cannot do this: it needs a person signed in.",
                            reason="PERSON_ONLY")
        if viewer.user is None:
            raise Unauthenticated(viewer.error or self.message)
        return True


class IsStaff(BasePermission):
    """The caller is a person with the Relleks staff role (`python -m scripts.staff`; never
    given through the API): the help center's staff-only fields. Anyone else signed in gets
    FORBIDDEN, reason STAFF_ONLY; a token, PERSON_ONLY. The role reaches support tickets only,
    never an organization's data."""

    message = "Only Relleks staff may do this."

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        IsAuthenticated().has_permission(source, info, **kwargs)
        if not await info.context.access.is_staff():
            raise Forbidden(self.message, reason="STAFF_ONLY")
        return True


class DecidedPermission(BasePermission):
    """A permission whose answer depends on the caller alone, never on the object or the
    arguments: `allows(context)` is decided once per execution. The lean executor and compiled
    plans (`engine/execution.py`, `engine/compiled.py`) then read a field that it allows as
    directly as one without a permission, and leave one it refuses to Strawberry, whose
    `has_permission` raises the error."""

    def allows(self, context: Any) -> bool:
        raise NotImplementedError

    def refusal(self, context: Any) -> Exception:
        raise NotImplementedError

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        if not self.allows(info.context):
            raise self.refusal(info.context)
        return True


class SeesPeople(DecidedPermission):
    """What identifies a person (a User's `email`) needs `members:read`, whichever path reaches
    the User: a lead's owner, a note's author, an event's actor, an invitation's sender, a
    member. An API token or partner app without that scope gets FORBIDDEN naming it, like any
    field it lacks the scope for; the rest of the User (its name) stays readable. People pass:
    every role grants `members:read` (`tests/oauth/test_people_fields.py` holds that)."""

    def allows(self, context: Any) -> bool:
        return bool(context.access.sees_people)

    def refusal(self, context: Any) -> Exception:
        permission = Permission.MEMBERS_READ.value
        return Forbidden(f"This token lacks the `{permission}` scope: it may not read people's "
                         "email addresses.", permission=permission, scope=permission)


WRITABLE_WHILE_DELETING = frozenset({
    "cancelOrganizationDeletion", "deleteOrganization",  # the deletion itself (idempotent)
    "exportOrganization", "exportLeads", "exportDataSubject",  # taking the data out
    # Safety and people's rights, which cannot wait out the grace period (README, "Data rights"):
    "revokeApiToken", "revokeOAuthGrant",  # the deletion revoked them all already: revoking
    # is a no-op, not a CONFLICT that would tell a client cleaning up a leak that it stands
    "revokeSupportAccess",  # staff access outlives the scheduling: the OWNER can end it
    "eraseDataSubject",  # an erasure request is answered, even if the deletion is called off
    "leaveOrganization",  # nobody is held in an org being deleted (the last OWNER still is)
    "openBillingPortal",  # the card and invoices of the period still being served
})
"""The mutations an organization pending deletion still answers; every other one that acts on
it is CONFLICT (`refuse_writes_while_deleting`)."""


async def refuse_writes_while_deleting(info: Any, org_id: uuid.UUID) -> None:
    """An organization whose deletion is scheduled is read-only: a mutation acting on it
    (found by its permission's org locator, so every org-scoped mutation passes here) is
    CONFLICT naming the pending deletion, but for `WRITABLE_WHILE_DELETING`. Queries and
    subscriptions are untouched. Checked once per mutation field and organization."""
    raw = getattr(info, "_raw_info", info)  # Strawberry's Info wraps graphql-core's
    if raw.parent_type.name != "Mutation" or raw.field_name in WRITABLE_WHILE_DELETING:
        return
    pending = await ScheduledWork.filter(
        organization_id=org_id, kind=WorkKind.ORG_DELETION,
        status__in=DELETION_PENDING) \
        .order_by("-created_at").first()
    if pending is not None:
        raise Conflict(
            f"This organization is pending deletion (due {pending.due_at.isoformat()}) and is "
            "read-only: cancel the deletion (cancelOrganizationDeletion) to change it, or "
            "export its data (exportOrganization).", reason="ORG_DELETION_PENDING",
            dueAt=pending.due_at.isoformat())


class BelongsToOrg(BasePermission):
    """The caller is a credential of the organization that `org` locates, whatever it may do
    there: a member of any role, or an API token or partner app's OAuth grant of that org,
    whatever its scopes. Like GitHub's always-granted metadata permission, it guards only the
    way in (`organization(slug:)`, whose identity fields need nothing more); every field below
    declares its own permission.

    Whoever is not a member of that org, signed in or anonymous, gets the locator's NOT_FOUND,
    the very error a non-existent org or row gives: the answer never tells them apart. Only a
    credential that is present but bad (expired token, ended session) is UNAUTHENTICATED, so a
    client knows to sign in again."""

    message = "No such organization."

    def __init__(self, *, org: OrgLocator) -> None:
        self.org = org

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        await self.belongs(source, info, kwargs)
        return True

    async def belongs(self, source: Any, info: Any, kwargs: dict[str, Any]) -> uuid.UUID:
        """The org's id, once the caller is known to belong to it."""
        viewer = info.context.viewer
        if viewer.user is None and viewer.error:
            raise Unauthenticated(viewer.error)
        org_id = await self.org.find(source, kwargs, info)
        if org_id is None or await info.context.access.membership(org_id) is None:
            raise self.org.missing()
        if info.context.access.through_support_grant(org_id) is not None:
            await _support_read(info, org_id)
        await refuse_writes_while_deleting(info, org_id)
        return org_id


async def _support_read(info: Any, org_id: uuid.UUID) -> None:
    """A Relleks staff member reaches the org through a support access grant: only reads,
    each logged for the org's OWNER (`organization.supportAccessGrants`); a mutation or a
    subscription is FORBIDDEN, reason SUPPORT_READ_ONLY."""
    operation = info.operation
    if operation.operation is not OperationType.QUERY:
        raise Forbidden("Support access is read-only.", reason="SUPPORT_READ_ONLY")
    path = info.path
    await info.context.access.note_support_read(
        org_id, field=f"{path.typename}.{info.field_name}",
        path=".".join(str(key) for key in path.as_list()),
        operation=operation.name.value if operation.name else "")


class HasPermission(BelongsToOrg):
    """The caller holds `permission` in the organization that `org` locates; not belonging to
    it is NOT_FOUND (`BelongsToOrg`), belonging without the permission FORBIDDEN naming it."""

    def __init__(self, permission: Permission, *, org: OrgLocator) -> None:
        super().__init__(org=org)
        self.permission = permission
        self.message = f"Needs the `{permission.value}` permission."

    def requirement(self) -> tuple[list[str], str]:
        """The permission names a field's description must mention, and the sentence that
        says so when it does not (`Requires`)."""
        return [self.permission.value], f"Needs the `{self.permission.value}` permission."

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        org_id = await self.belongs(source, info, kwargs)
        await info.context.access.require(org_id, self.permission)
        return True


class HasPermissionOrOwns(HasPermission):
    """The caller holds `permission`, or holds `otherwise` and owns the object (`owner` finds
    its owner's user id). E.g. ADMIN+ delete any lead, a lead's owner deletes their own."""

    def __init__(self, permission: Permission, *, otherwise: Permission, org: OrgLocator,
                 owner: OwnerLocator) -> None:
        super().__init__(otherwise, org=org)
        self.elevated = permission
        self.owner = owner

    def requirement(self) -> tuple[list[str], str]:
        names = [self.permission.value, self.elevated.value]
        return names, f"Needs `{names[0]}`, and `{names[1]}` unless it is yours."

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        await super().has_permission(source, info, **kwargs)
        org_id = await self.org.find(source, kwargs, info)
        assert org_id is not None  # the check above found it
        if self.elevated in await info.context.access.permissions(org_id):
            return True
        person = info.context.viewer.user  # an API token owns nothing
        if person is not None and await self.owner.find(source, kwargs, info, org_id) == person.id:
            return True
        raise Forbidden(f"Only its owner, or a role with the `{self.elevated.value}` "
                        "permission, may do this.", permission=self.elevated.value)


class Requires(PermissionExtension):
    """Strawberry's `PermissionExtension` that also names the permission in the field's
    description, where GraphiQL readers look for it, unless the description names it already:

        @strawberry.field(description="Members, oldest first.",
                          extensions=[requires(HasPermission(Permission.MEMBERS_READ, ...))])
        # GraphiQL: "Members, oldest first. Needs the `members:read` permission."
    """

    def apply(self, field: StrawberryField) -> None:
        super().apply(field)
        for permission in self.permissions:
            if not isinstance(permission, HasPermission):
                continue
            names, sentence = permission.requirement()
            description = field.description or ""
            if not all(f"`{name}`" in description for name in names):
                field.description = f"{description} {sentence}".strip()


def requires(*permissions: BasePermission) -> PermissionExtension:
    """The field extension that enforces `permissions` before the resolver runs."""
    return Requires(permissions=list(permissions), use_directives=False)


# Org locators: where a field finds the organization it acts on.

OrgFinder = Callable[[Any, dict[str, Any], Any], Awaitable[uuid.UUID | None]]


@dataclass(frozen=True)
class OrgLocator:
    """How a field finds its organization (`find` returns None when there is none), and the
    NOT_FOUND it reports to anyone who cannot see it: one error for "no such thing" and "not
    yours", naming the argument the client sent."""

    find: OrgFinder
    what: str = "organization"
    field: str | None = None
    path: str | None = None  # the argument it reads, checked by `check_locators`
    type_name: str | None = None  # the type of the global id found there
    from_source: bool = False
    """The org is the parent object or its `organization_id` (`org_from_source`): compiled
    operations (`engine/compiler/`) then know it without calling `find`."""

    def missing(self) -> NotFound:
        return NotFound(self.what, field=self.field) if self.field else NotFound(self.what)


def _argument(kwargs: dict[str, Any], path: str) -> Any:
    value: Any = kwargs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def _graphql_name(path: str) -> str:
    """`input.membership_id` -> `membershipId`, the name the client sent."""
    return to_camel_case(path.split(".")[-1])


def org_from_source() -> OrgLocator:
    """The parent object is the organization, or an org-owned row."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID | None:
        return source.id if isinstance(source, Organization) else source.organization_id

    return OrgLocator(find, from_source=True)


def org_from_argument(path: str) -> OrgLocator:
    """An argument holding an Organization global id, e.g. `input.organization_id`."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID | None:
        return decode_id(_argument(kwargs, path), "Organization", field=_graphql_name(path))

    return OrgLocator(find, field=_graphql_name(path), path=path, type_name="Organization")


def org_from_slug(path: str = "slug") -> OrgLocator:
    """An argument holding an organization's slug."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID | None:
        slug = _argument(kwargs, path)
        return await info.context.loaders.org_id_by_slug.load(str(slug).lower())

    return OrgLocator(find, field=_graphql_name(path), path=path)


def org_of(model: type[TenantModel], type_name: str, path: str) -> OrgLocator:
    """An argument holding the global id of an org-owned row: its organization is the one. A
    row of an org the caller does not belong to is reported as no such row."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID | None:
        row_id = decode_id(_argument(kwargs, path), type_name, field=_graphql_name(path))
        return await info.context.loaders.org_of(model).load(row_id)

    return OrgLocator(find, what=type_name.lower(), field=_graphql_name(path), path=path,
                      type_name=type_name)


OwnerFinder = Callable[[Any, dict[str, Any], Any, uuid.UUID], Awaitable[uuid.UUID | None]]


@dataclass(frozen=True)
class OwnerLocator:
    """How `HasPermissionOrOwns` finds the owner's user id of the row an argument names."""

    find: OwnerFinder
    path: str  # the argument it reads, checked by `check_locators`
    type_name: str  # the type of the global id found there


def owner_of(model: type[TenantModel], type_name: str, path: str, column: str) -> OwnerLocator:
    """The user id in `column` (e.g. `owner_id`, `author_id`) of the row an argument names."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any,
                     org_id: uuid.UUID) -> uuid.UUID | None:
        row_id = decode_id(_argument(kwargs, path), type_name, field=path.split(".")[-1])
        rows = await info.context.access.scoped(model, org_id).filter(id=row_id) \
            .values_list(column, flat=True)
        return rows[0] if rows else None

    return OwnerLocator(find, path=path, type_name=type_name)


# Locators are checked when the schema is built, not when a request meets them.


class LocatorError(Exception):
    """A permission's locator names an argument path or a type the field's schema lacks."""


def check_locators(schema: Schema) -> None:
    """Raise `LocatorError` naming every `Type.field` whose permission reads an argument path
    the field does not have, or names a type the schema does not have:

        org_of(models.Lead, "Lead", "input.idd")  # on updateLead(input: UpdateLeadInput!)
        # LocatorError: Mutation.updateLead: `input.idd`: UpdateLeadInput has no field `idd`
    """
    types = schema._schema.type_map
    problems: list[str] = []
    for type_name, type_ in types.items():
        if not isinstance(type_, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            for locator in _locators(definition):
                problem = _path_problem(field.args, locator.path) if locator.path else None
                if problem is None and locator.type_name is not None \
                        and not isinstance(types.get(locator.type_name), GraphQLObjectType):
                    problem = f"no type `{locator.type_name}` in the schema"
                if problem is not None:
                    problems.append(f"{type_name}.{name}: `{locator.path}`: {problem}")
    if problems:
        raise LocatorError("Permission locators that cannot find their argument:\n  "
                           + "\n  ".join(problems))


def _locators(definition: Any) -> list[OrgLocator | OwnerLocator]:
    """The locators of the permissions a field declares."""
    found: list[OrgLocator | OwnerLocator] = []
    for extension in getattr(definition, "extensions", None) or ():
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                found.extend(value for value in vars(permission).values()
                             if isinstance(value, (OrgLocator, OwnerLocator)))
    return found


def _path_problem(arguments: dict[str, Any], path: str) -> str | None:
    """What is wrong with `path` (Python names) among a field's GraphQL `arguments`, if
    anything: `_argument` reads it the same way at request time."""
    fields, owner = arguments, "the field"
    parts = path.split(".")
    for i, part in enumerate(parts):
        by_python_name = {_python_name(key, value): value for key, value in fields.items()}
        if part not in by_python_name:
            known = ", ".join(sorted(by_python_name)) or "nothing"
            return f"{owner} has no {'argument' if i == 0 else 'field'} `{part}` (it has {known})"
        type_ = get_nullable_type(by_python_name[part].type)
        if isinstance(type_, GraphQLList):
            return f"`{part}` is a list"
        if i == len(parts) - 1:
            return None if isinstance(type_, GraphQLScalarType) else f"`{part}` is not a scalar"
        if not isinstance(type_, GraphQLInputObjectType):
            return f"`{part}` is not an input object"
        fields, owner = type_.fields, type_.name
    return None


def _python_name(graphql_name: str, value: Any) -> str:
    """The name a resolver's kwargs (or an input object's attribute) use for an argument."""
    definition = (value.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return getattr(definition, "python_name", None) or graphql_name
