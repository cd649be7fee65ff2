"""Permissions, declared on the fields they guard.

    @strawberry.field(extensions=[requires(IsAuthenticated())])
    def me(self, info: Info) -> User: ...

Later issues add named permissions (`HasPermission("members:write")`) that roles and partner-token
scopes grant; they are declared the same way, so one declaration serves both.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission, PermissionExtension

from errors import Unauthenticated


class IsAuthenticated(BasePermission):
    """The caller has a live session (an access token or the session cookie)."""

    message = "Sign in first."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.user is None:
            raise Unauthenticated(viewer.error or self.message)
        return True


def requires(*permissions: BasePermission) -> PermissionExtension:
    """The field extension that enforces `permissions` before the resolver runs."""
    return PermissionExtension(permissions=list(permissions), use_directives=False)
