"""GraphiQL is where client developers read our docs: every type, field, argument, input field and
enum value of the schema, and the schema itself, has a description. Read as a client reads it,
by introspection over HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from engine.fields import described_enum
from engine.permissions import HasPermission
from schema import schema as live_schema
from tests.conftest import Api

INTROSPECTION = """
{
  __schema {
    description
    types {
      name kind description
      fields(includeDeprecated: true) {
        name description
        args(includeDeprecated: true) { name description }
      }
      inputFields(includeDeprecated: true) { name description }
      enumValues(includeDeprecated: true) { name description }
    }
  }
}
"""

STANDARD_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def _blank(element: dict[str, Any]) -> bool:
    return not (element.get("description") or "").strip()


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Every element of an introspected `__schema` without a description, as `Type.field(arg)`,
    `Type.inputField` or `Enum.VALUE` paths; built-in types (`__...` and the standard scalars)
    are not ours to describe."""
    missing = ["schema"] if _blank(schema) else []
    for type_ in schema["types"]:
        name = type_["name"]
        if name.startswith("__") or name in STANDARD_SCALARS:
            continue
        if _blank(type_):
            missing.append(f"{name} ({type_['kind']})")
        for field in type_.get("fields") or []:
            if _blank(field):
                missing.append(f"{name}.{field['name']}")
            missing += [f"{name}.{field['name']}({arg['name']})"
                        for arg in field["args"] if _blank(arg)]
        missing += [f"{name}.{field['name']}" for field in type_.get("inputFields") or []
                    if _blank(field)]
        missing += [f"{name}.{value['name']}" for value in type_.get("enumValues") or []
                    if _blank(value)]
    return missing


@pytest.mark.no_db
def test_undescribed_lists_every_kind_of_element() -> None:
    schema = {"description": "", "types": [
        {"name": "__Type", "kind": "OBJECT", "description": None, "fields": []},
        {"name": "String", "kind": "SCALAR", "description": None},
        {"name": "Lead", "kind": "OBJECT", "description": "A lead.", "fields": [
            {"name": "id", "description": "Its id.", "args": []},
            {"name": "notes", "description": None, "args": [
                {"name": "first", "description": " "}]}]},
        {"name": "LeadInput", "kind": "INPUT_OBJECT", "description": None,
         "inputFields": [{"name": "name", "description": None}]},
        {"name": "LeadStatus", "kind": "ENUM", "description": "Status.",
         "enumValues": [{"name": "NEW", "description": None},
                        {"name": "WON", "description": "Won."}]},
    ]}
    assert undescribed(schema) == [
        "schema", "Lead.notes", "Lead.notes(first)", "LeadInput (INPUT_OBJECT)",
        "LeadInput.name", "LeadStatus.NEW"]


@pytest.mark.no_db
def test_described_enum_describes_every_member_or_refuses() -> None:
    class Colour(StrEnum):
        RED = "red"
        BLUE = "blue"

    with pytest.raises(ValueError, match="BLUE"):
        described_enum(Colour, description="A colour.", values={Colour.RED: "Warm."})
    described = described_enum(Colour, description="A colour.",
                               values={Colour.RED: "Warm.", "blue": "Cold."})
    values = described.__strawberry_definition__.values  # type: ignore[attr-defined]
    assert {value.name: value.description for value in values} == {"RED": "Warm.",
                                                                   "BLUE": "Cold."}


async def test_every_element_of_the_schema_has_a_description(api: Api) -> None:
    body = await api.gql(INTROSPECTION)
    assert "errors" not in body, body
    missing = undescribed(body["data"]["__schema"])
    assert not missing, (f"{len(missing)} schema elements have no description:\n"
                         + "\n".join(missing))


def permissions_by_field() -> dict[str, list[str]]:
    """`Type.field` -> the permission names its `HasPermission` checks declare."""
    found: dict[str, list[str]] = {}
    graphql_name = live_schema.config.name_converter.get_graphql_name
    for type_ in live_schema.schema_converter.type_map.values():
        for field in getattr(type_.definition, "fields", None) or []:
            names = [name for extension in field.extensions
                     if isinstance(extension, PermissionExtension)
                     for permission in extension.permissions
                     if isinstance(permission, HasPermission)
                     for name in permission.requirement()[0]]
            if names:
                found[f"{type_.definition.name}.{graphql_name(field)}"] = names
    return found


async def test_every_guarded_field_names_its_permissions(api: Api) -> None:
    """A client reads in GraphiQL which permission a field needs, as the README's matrix names
    it: e.g. `Organization.members` says `members:read`."""
    body = await api.gql(INTROSPECTION)
    descriptions = {f"{type_['name']}.{field['name']}": field["description"] or ""
                    for type_ in body["data"]["__schema"]["types"]
                    for field in type_.get("fields") or []}
    guarded = permissions_by_field()
    assert "Organization.members" in guarded and len(guarded) > 20
    silent = [f"{name}: {', '.join(names)}" for name, names in sorted(guarded.items())
              if not all(f"`{permission}`" in descriptions[name] for permission in names)]
    assert not silent, "these fields do not name the permissions they need:\n" + \
        "\n".join(silent)
