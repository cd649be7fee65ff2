"""The permission matrix rows for billing, walked over HTTP for every role: `billing:read`
(OWNER and ADMIN) guards `organization.billing`, `billing:write` (OWNER only) guards
startCheckout and openBillingPortal. A refusal changes nothing, here or at Stripe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from auth.permissions import ROLE_GRANTS, Permission
from core.settings import Settings
from engine.permissions import HasPermission
from models.orgs import Role
from schema.billing import BillingMutations
from schema.composition import Organization as OrganizationType
from tests.billing.conftest import (
    BILLING,
    OPEN_PORTAL,
    START_CHECKOUT,
    FakeStripe,
    billing_state,
    start_checkout,
)
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team, signed_in

Run = Callable[[Api, Team, str | None], Awaitable[dict[str, Any]]]


def _billing(api: Api, team: Team, token: str | None) -> Awaitable[dict[str, Any]]:
    return api.gql(BILLING, {"slug": team.slug}, token=token)


def _checkout(api: Api, team: Team, token: str | None) -> Awaitable[dict[str, Any]]:
    return api.gql(START_CHECKOUT, {"input": {"organizationId": team.org_id, "plan": "PRO",
                                              "interval": "YEAR"}}, token=token)


def _portal(api: Api, team: Team, token: str | None) -> Awaitable[dict[str, Any]]:
    return api.gql(OPEN_PORTAL, {"id": team.org_id}, token=token)


OPERATIONS: dict[str, tuple[str, Permission, Run]] = {
    "read billing": ("Organization.billing", Permission.BILLING_READ, _billing),
    "start checkout": ("Mutation.startCheckout", Permission.BILLING_WRITE, _checkout),
    "open portal": ("Mutation.openBillingPortal", Permission.BILLING_WRITE, _portal),
}


@pytest.mark.no_db
def test_the_matrix_rows_for_billing() -> None:
    """The decision, as the README table shows it: ADMINs read billing, only OWNERs pay."""
    granted = {role: {p for p in ROLE_GRANTS[role] if p.value.startswith("billing:")}
               for role in Role}
    assert granted == {Role.OWNER: {Permission.BILLING_READ, Permission.BILLING_WRITE},
                       Role.ADMIN: {Permission.BILLING_READ},
                       Role.MEMBER: set(), Role.VIEWER: set()}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.name)
async def test_role_may_run_billing_operation_exactly_when_its_grants_say_so(
        api: Api, stripe: FakeStripe, team: Team, role: Role, operation: str) -> None:
    body = await start_checkout(api, team)  # the org gets a Stripe customer: the portal opens
    assert "errors" not in body, body
    _, permission, run = OPERATIONS[operation]
    before, calls = await billing_state(team.org), len(stripe.calls)
    body = await run(api, team, team.people[role].token)
    if permission in ROLE_GRANTS[role]:
        assert "errors" not in body, f"{role.name} may {operation}: {body}"
        assert all(value is not None for value in body["data"].values())
    else:
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": permission.value}
        assert role.name in error["message"]
        assert await billing_state(team.org) == before
        assert len(stripe.calls) == calls


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_outsiders_and_anonymous_callers_find_no_such_org(
        api: Api, settings: Settings, stripe: FakeStripe, team: Team, operation: str) -> None:
    outsider = await signed_in(settings, "outsider@example.com")
    _, _, run = OPERATIONS[operation]
    before = await billing_state(team.org)
    for token in (outsider.token, None):
        (error,) = errors_of(await run(api, team, token))
        assert error["extensions"]["code"] == "NOT_FOUND"
    assert await billing_state(team.org) == before
    assert stripe.calls == []


def _declared(type_: Any, python_name: str) -> Permission | None:
    for field in type_.__strawberry_definition__.fields:
        if field.python_name == python_name:
            for extension in field.extensions:
                if isinstance(extension, PermissionExtension):
                    for permission in extension.permissions:
                        if isinstance(permission, HasPermission):
                            return permission.permission
    return None


@pytest.mark.no_db
def test_each_operation_walks_the_permission_its_field_declares() -> None:
    owners = {"Organization": OrganizationType, "Mutation": BillingMutations}
    for label, (field, permission, _) in OPERATIONS.items():
        type_name, name = field.split(".")
        python_name = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
        assert _declared(owners[type_name], python_name) == permission, label
