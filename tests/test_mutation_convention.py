"""The mutation convention (README, "Mutations"), read from the running app by introspection.

Every mutation that takes arguments takes exactly one, `input: <Name>Input!`, where `<Name>` is
the mutation's name in PascalCase (`createLead(input: CreateLeadInput!)`); every mutation, with
arguments or without, returns `<Name>Payload!`, an object, so a field can be added later
without breaking a client. A mutation that deletes or removes something (`delete*`,
`remove*`, `leave*`) says what is gone in its payload's `deletedId: ID!`.
"""

from __future__ import annotations

from typing import Any

import httpx

TYPE_REF = "kind name ofType { kind name ofType { kind name } }"
MUTATIONS = f"""{{ __schema {{ mutationType {{ fields {{
  name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }}
}} }} }} }}"""
PAYLOAD = f"""query($name: String!) {{ __type(name: $name) {{
  kind fields {{ name type {{ {TYPE_REF} }} }}
}} }}"""
DELETES = ("delete", "remove", "leave")


async def _introspect(http: httpx.AsyncClient, query: str,
                      variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _non_null(ref: dict[str, Any], kind: str, name: str) -> bool:
    """`ref` is `name!` of `kind`."""
    inner = ref.get("ofType") or {}
    return ref["kind"] == "NON_NULL" and inner.get("kind") == kind and inner.get("name") == name


def _pascal(name: str) -> str:
    return name[0].upper() + name[1:]


async def test_every_mutation_follows_the_convention(http: httpx.AsyncClient) -> None:
    fields = (await _introspect(http, MUTATIONS))["__schema"]["mutationType"]["fields"]
    assert fields, "the schema has no mutations"
    problems: list[str] = []
    for field in fields:
        name, args = field["name"], field["args"]
        expected_input, expected_payload = f"{_pascal(name)}Input", f"{_pascal(name)}Payload"
        if args and not (len(args) == 1 and args[0]["name"] == "input"
                         and _non_null(args[0]["type"], "INPUT_OBJECT", expected_input)):
            shown = ", ".join(f"{a['name']}: {_shown(a['type'])}" for a in args)
            problems.append(f"{name}({shown}) should take exactly `input: {expected_input}!`")
        if not _non_null(field["type"], "OBJECT", expected_payload):
            problems.append(f"{name} returns {_shown(field['type'])}, not {expected_payload}!")
            continue
        if name.startswith(DELETES):
            payload = (await _introspect(http, PAYLOAD, {"name": expected_payload}))["__type"]
            deleted = {f["name"]: f["type"] for f in payload["fields"]}.get("deletedId")
            if deleted is None or not _non_null(deleted, "SCALAR", "ID"):
                problems.append(f"{expected_payload} of {name} lacks `deletedId: ID!`")
    assert not problems, "mutations breaking the convention:\n" + "\n".join(problems)


def _shown(ref: dict[str, Any] | None) -> str:
    """A type reference as SDL writes it: `[Lead!]!`."""
    if ref is None:
        return "?"
    if ref["kind"] == "NON_NULL":
        return _shown(ref.get("ofType")) + "!"
    if ref["kind"] == "LIST":
        return f"[{_shown(ref.get('ofType'))}]"
    return str(ref["name"])
