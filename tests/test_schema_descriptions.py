"""GraphiQL is where client developers read our docs: every type, field, argument, input field and
enum value of the schema, and the schema itself, has a description. Read as a client reads it,
by introspection over HTTP."""

from __future__ import annotations

from typing import Any

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


async def test_every_element_of_the_schema_has_a_description(api: Api) -> None:
    body = await api.gql(INTROSPECTION)
    assert "errors" not in body, body
    missing = undescribed(body["data"]["__schema"])
    assert not missing, (f"{len(missing)} schema elements have no description:\n"
                         + "\n".join(missing))
