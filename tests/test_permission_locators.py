"""A permission's locator names the argument it reads (`org_of(models.Lead, "Lead", "input.id")`);
a typo there made the field NOT_FOUND for everyone. `engine.permissions.check_locators` now
refuses such a schema when it is built, so the server does not start."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.permission import BasePermission, PermissionExtension

from auth.permissions import Permission
from engine.permissions import (
    HasPermission,
    HasPermissionOrOwns,
    LocatorError,
    OrgLocator,
    check_locators,
    org_from_argument,
    org_of,
    owner_of,
    requires,
)
from models.leads import Lead
from schema import Schema
from schema import schema as live_schema

pytestmark = pytest.mark.no_db


@strawberry.type(description="A thing of an org.")
class Widget:
    name: str


@strawberry.input(description="Which widget.")
class RenameWidgetInput:
    id: strawberry.ID
    name: str


def _build(*, widget: BasePermission | None = None,
           rename: BasePermission | None = None) -> Schema:
    """A small schema, built as the server builds its own, whose `widget(widgetId:)` and
    `renameWidget(input:)` declare the permissions given."""

    def guard(permission: BasePermission | None) -> list[PermissionExtension]:
        return [requires(permission)] if permission is not None else []

    reads, writes = guard(widget), guard(rename)  # the class bodies name fields so

    @strawberry.type(description="Reads.")
    class Query:
        @strawberry.field(description="A widget.", extensions=reads)
        def widget(self, widget_id: strawberry.ID) -> Widget:
            return Widget(name="w")

    @strawberry.type(description="Writes.")
    class Mutation:
        @strawberry.mutation(description="Rename it.", extensions=writes)
        def rename_widget(self, input: RenameWidgetInput) -> Widget:
            return Widget(name=input.name)

    return Schema(query=Query, mutation=Mutation)


def _writes(org: OrgLocator) -> HasPermission:
    return HasPermission(Permission.LEADS_WRITE, org=org)


def test_the_live_schema_has_every_argument_its_locators_read() -> None:
    check_locators(live_schema)


def test_correct_locators_pass() -> None:
    _build(widget=_writes(org_of(Lead, "Widget", "widget_id")),
           rename=HasPermissionOrOwns(
               Permission.LEADS_DELETE, otherwise=Permission.LEADS_WRITE,
               org=org_of(Lead, "Widget", "input.id"),
               owner=owner_of(Lead, "Widget", "input.id", "owner_id")))


def test_a_locator_naming_a_missing_argument_stops_the_build() -> None:
    with pytest.raises(LocatorError) as raised:
        _build(widget=_writes(org_of(Lead, "Widget", "id")),
               rename=_writes(org_of(Lead, "Widget", "id")))
    message = str(raised.value)
    assert "Query.widget: `id`: the field has no argument `id` (it has widget_id)" in message
    assert "Mutation.renameWidget: `id`: the field has no argument `id` (it has input)" \
        in message


def test_a_locator_naming_a_missing_input_field_stops_the_build() -> None:
    with pytest.raises(LocatorError) as raised:
        _build(rename=_writes(org_of(Lead, "Widget", "input.idd")))
    assert "Mutation.renameWidget: `input.idd`: RenameWidgetInput has no field `idd` " \
           "(it has id, name)" in str(raised.value)


def test_a_locator_must_end_at_a_scalar_and_pass_through_inputs_only() -> None:
    with pytest.raises(LocatorError, match=r"renameWidget: `input`: `input` is not a scalar"):
        _build(rename=_writes(org_of(Lead, "Widget", "input")))
    with pytest.raises(LocatorError,
                       match=r"widget: `widget_id.id`: `widget_id` is not an input object"):
        _build(widget=_writes(org_of(Lead, "Widget", "widget_id.id")))


def test_a_locator_naming_a_missing_type_stops_the_build() -> None:
    with pytest.raises(LocatorError, match=r"Query.widget: `widget_id`: no type `Widgit`"):
        _build(widget=_writes(org_of(Lead, "Widgit", "widget_id")))
    # `org_from_argument` reads an Organization's global id, a type this schema lacks
    with pytest.raises(LocatorError, match=r"no type `Organization`"):
        _build(widget=_writes(org_from_argument("widget_id")))


def test_an_owner_locator_is_checked_too() -> None:
    with pytest.raises(LocatorError, match=r"Mutation.renameWidget: `input.owner_id`: "
                                           r"RenameWidgetInput has no field `owner_id`"):
        _build(rename=HasPermissionOrOwns(
            Permission.LEADS_DELETE, otherwise=Permission.LEADS_WRITE,
            org=org_of(Lead, "Widget", "input.id"),
            owner=owner_of(Lead, "Widget", "input.owner_id", "owner_id")))
