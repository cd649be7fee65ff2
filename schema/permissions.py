"""Permissions, declared on the fields they guard.

    @strawberry.field(extensions=[requires(IsAuthenticated())])
    def me(self, info: Info) -> User: ...

    @strawberry.mutation(extensions=[requires(HasPermission(Permission.MEMBERS_INVITE,
                                                            org=org_from_input("organization_id")))])
    async def invite_member(self, info: Info, input: InviteMemberInput) -> Invitation: ...

A named permission is granted by roles (and, later, by a partner token's scopes); `org=` says
where the field finds the organization it acts on. The check runs before the resolver, so a
resolver body never holds a permission `if`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry import relay
from strawberry.permission import BasePermission, PermissionExtension

from auth.permissions import Permission
from errors import NotFound, Unauthenticated
from models.orgs import Organization
from models.tenancy import TenantModel

OrgLocator = Callable[[Any, dict[str, Any], Any], Awaitable[uuid.UUID]]


class IsAuthenticated(BasePermission):
    """The caller has a live session (an access token or the session cookie)."""

    message = "Sign in first."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.user is None:
            raise Unauthenticated(viewer.error or self.message)
        return True


class HasPermission(BasePermission):
    """The caller holds `permission` in the organization that `org` locates."""

    def __init__(self, permission: Permission, *, org: OrgLocator) -> None:
        self.permission = permission
        self.org = org
        self.message = f"Needs the `{permission.value}` permission."

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        IsAuthenticated().has_permission(source, info)
        org_id = await self.org(source, kwargs, info)
        await info.context.access.require(org_id, self.permission)
        return True


def requires(*permissions: BasePermission) -> PermissionExtension:
    """The field extension that enforces `permissions` before the resolver runs."""
    return PermissionExtension(permissions=list(permissions), use_directives=False)


# Org locators: where a field finds the organization it acts on.

def _argument(kwargs: dict[str, Any], path: str) -> Any:
    value: Any = kwargs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def global_uuid(value: Any, type_name: str, field: str) -> uuid.UUID:
    """The UUID in a global id of `type_name`; NOT_FOUND for anything else."""
    if not isinstance(value, relay.GlobalID) or value.type_name != type_name:
        raise NotFound(type_name.lower(), field=field)
    try:
        return uuid.UUID(value.node_id)
    except ValueError as exc:
        raise NotFound(type_name.lower(), field=field) from exc


def org_from_source() -> OrgLocator:
    """The parent object is the organization, or an org-owned row."""

    async def locate(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID:
        return source.id if isinstance(source, Organization) else source.organization_id

    return locate


def org_from_argument(path: str) -> OrgLocator:
    """An argument holding an Organization global id, e.g. `input.organization_id`."""

    async def locate(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID:
        return global_uuid(_argument(kwargs, path), "Organization", path.split(".")[-1])

    return locate


def org_from_slug(path: str = "slug") -> OrgLocator:
    async def locate(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID:
        slug = _argument(kwargs, path)
        org_id = await info.context.loaders.org_id_by_slug.load(str(slug).lower())
        if org_id is None:
            raise NotFound("organization", field=path)
        return org_id

    return locate


def org_of(model: type[TenantModel], type_name: str, path: str) -> OrgLocator:
    """An argument holding the global id of an org-owned row: its organization is the one."""

    async def locate(source: Any, kwargs: dict[str, Any], info: Any) -> uuid.UUID:
        row_id = global_uuid(_argument(kwargs, path), type_name, path.split(".")[-1])
        org_id = await info.context.loaders.org_of(model).load(row_id)
        if org_id is None:
            raise NotFound(type_name.lower(), field=path.split(".")[-1])
        return org_id

    return locate
