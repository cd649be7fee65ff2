"""The modules of `schema/` import one way: no cycle among them, counting every import (at the
top, inside a function, under `if TYPE_CHECKING:`). Types shared across domains are composed in
`schema/composition.py` (see its docstring); a lower module reaches a composed type through
`strawberry.lazy("schema.composition")`, which is no import.

And `User` holds only what other people may see of a person; what only the person sees is on
`Me` (`me`)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from graphql import GraphQLObjectType

from schema import schema

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "schema"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The schema modules `module` imports anywhere in its file (every `import` node of the
    tree, so those inside functions and `if TYPE_CHECKING:` blocks too)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in known:  # `import schema.orgs.x` -> schema.orgs
                    name = name.rpartition(".")[0]
                if name:
                    found.add(name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 packages
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from schema import orgs` imports the module schema.orgs
                if f"{target}.{alias.name}" in known:
                    found.add(f"{target}.{alias.name}")
                elif target in known:
                    found.add(target)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {module: _imported(module, path, known) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = ("from typing import TYPE_CHECKING\n"
              "from schema.orgs import Membership\n"
              "import schema.leads\n"
              "from schema import tokens\n"
              "from . import billing\n"
              "from .oauth import OAuthApp\n"
              "if TYPE_CHECKING:\n    from schema.social import LinkedIdentity\n"
              "def f():\n    from schema.exports import DataExport\n")
    path = tmp_path / "accounts.py"
    path.write_text(source)
    known = {"schema", "schema.accounts", "schema.orgs", "schema.leads", "schema.tokens",
             "schema.billing", "schema.oauth", "schema.social", "schema.exports"}
    assert _imported("schema.accounts", path, known) == {
        "schema.orgs", "schema.leads", "schema.tokens", "schema.billing", "schema.oauth",
        "schema.social", "schema.exports"}


def test_schema_modules_import_one_way() -> None:
    graph = import_graph()
    assert "schema.composition" in graph and len(graph) > 15
    found = cycles(graph)
    assert not found, "import cycles among schema modules (every import counts, inside " \
        "functions and under TYPE_CHECKING too):\n" + "\n".join(
            " <-> ".join(cycle) for cycle in found)


def test_only_the_composition_and_the_schema_import_the_composition() -> None:
    graph = import_graph()
    assert {module for module, targets in graph.items() if "schema.composition" in targets} \
        <= {"schema"}


PUBLIC_USER_FIELDS = {"id", "name", "email", "avatarUrl"}
"""What anyone who reaches a person sees (`email` with `members:read`)."""
VIEWER_ONLY_FIELDS = {
    "emailVerified", "createdAt", "memberships", "oauthApps", "linkedIdentities", "consents",
    "consentHistory", "pendingPolicyAcceptance", "policyAcceptances", "dataExports",
    "accountDeletion", "supportTickets"}
"""What only the person sees of their own account."""


def _fields(name: str) -> set[str]:
    type_ = schema._schema.type_map.get(name)
    assert isinstance(type_, GraphQLObjectType), f"no object type {name}"
    return set(type_.fields)


def test_user_has_only_the_public_fields_and_me_has_the_rest() -> None:
    assert _fields("User") == PUBLIC_USER_FIELDS
    assert _fields("Me") == PUBLIC_USER_FIELDS | VIEWER_ONLY_FIELDS
    query = schema._schema.query_type
    assert query is not None and str(query.fields["me"].type) == "Me"


def test_no_mixin_leaks_into_the_schema() -> None:
    """The field mixins the composition builds on are no types of the schema themselves."""
    mixins = set()
    for module_name in _modules():
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            definition = getattr(value, "__strawberry_definition__", None)
            if definition is not None and value.__module__ == module_name and \
                    (definition.description or "").endswith("Not in the schema itself."):
                mixins.add(definition.name)
    assert {"MeBase", "MeOrgFields", "OrganizationBase", "OrganizationLeadFields"} <= mixins
    assert not mixins & set(schema._schema.type_map)
