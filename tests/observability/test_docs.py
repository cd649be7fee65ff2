"""docs/observability.md lists every span the code makes, and every attribute it sets on them.

The span names are read from the code's calls (`tracing.span(...)`, `tracing.detached_span(...)`,
`span.update_name(...)`, and `span(...)` inside `core/tracing.py`): a literal name must be in the
spans' table as it is, an f-string as a template (`f"job {task}"` is `job <task>`); a name
computed otherwise is listed in `COMPUTED` with the documented name that stands for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.settings import ROOT

pytestmark = pytest.mark.no_db

PACKAGES = ("auth", "billing", "core", "database", "engine", "jobs", "keystore", "loaders",
            "mail", "models", "oauth", "observability", "realtime", "resolvers", "schema",
            "services", "storage", "web")
SPAN_CALLS = {"span", "detached_span", "update_name", "sql_span"}
COMPUTED = {("core/tracing.py", "operation"): "SELECT",
            ("core/tracing.py", "name"): None,  # `span`'s own parameter, passed through
            ("engine/extensions.py", "kind"): "query"}
"""Span names that are variables: where, and which documented name stands for them (None: the
function's own parameter, whose callers are checked instead)."""


def table() -> tuple[set[str], str]:
    """The spans' table: every name in its first column (normalised: `<x>` becomes `<>`), and
    the text of its attributes' column."""
    text = (ROOT / "docs/observability.md").read_text()
    rows = text.split("| span | kind | parent | attributes |", 1)[1].split("\n\n", 1)[0]
    names: set[str] = set()
    attributes = []
    for row in rows.strip().splitlines()[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names |= {normalise(name) for name in re.findall(r"`([^`]+)`", cells[0])}
        attributes.append(cells[3])
    return names, " ".join(attributes)


def normalise(name: str) -> str:
    return re.sub(r"<[^>]*>", "<>", name)


def template(node: ast.expr, where: str) -> list[str]:
    """The names a span-name expression stands for."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(part.value if isinstance(part, ast.Constant) else "<>"
                        for part in node.values)]
    if isinstance(node, ast.IfExp):
        return template(node.body, where) + template(node.orelse, where)
    if isinstance(node, ast.Name) and (where, node.id) in COMPUTED:
        stands_for = COMPUTED[(where, node.id)]
        return [stands_for] if stands_for is not None else []
    raise AssertionError(f"{where}:{node.lineno}: a span name the docs test cannot read: "
                         f"{ast.unparse(node)} (add it to COMPUTED)")


def calls() -> list[tuple[str, ast.Call]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else \
                    func.id if isinstance(func, ast.Name) else None
                if name not in SPAN_CALLS:
                    continue
                if isinstance(func, ast.Attribute) and name != "update_name" and not (
                        isinstance(func.value, ast.Name) and func.value.id == "tracing"):
                    continue
                if isinstance(func, ast.Name) and where != "core/tracing.py":
                    continue
                found.append((where, node))
    return found


def used_names() -> dict[str, str]:
    """Every span name the code uses (normalised), and where."""
    names = {}
    for where, call in calls():
        if not call.args or (isinstance(call.func, ast.Attribute)
                             and call.func.attr == "sql_span"):
            continue  # sql_span(statement, ...): named by `operation` inside core/tracing.py
        for name in template(call.args[0], where):
            names[normalise(name)] = f"{where}:{call.lineno}"
    return names


def used_attributes() -> dict[str, str]:
    """Every attribute key the code sets on a span, and where."""
    keys = {}
    for where, call in calls():
        for keyword in call.keywords:
            if keyword.arg == "attributes" and isinstance(keyword.value, ast.Dict):
                for key in keyword.value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        keys[key.value] = f"{where}:{call.lineno}"
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr == "set_attribute" and node.args and \
                        isinstance(node.args[0], ast.Constant):
                    keys[str(node.args[0].value)] = \
                        f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
    return keys


def test_every_span_name_used_in_the_code_is_documented() -> None:
    documented, _ = table()
    used = used_names()
    assert {"<> <>", "graphql.parse", "graphql.validate", "graphql.execute", "job <>",
            "SELECT", "POST"} <= set(used)  # the walk finds the calls
    missing = {name: where for name, where in used.items() if name not in documented}
    assert missing == {}


def test_every_span_attribute_set_in_the_code_is_documented() -> None:
    _, attributes = table()
    used = used_attributes()
    assert {"db.query.text", "graphql.operation.name", "relleks.cost"} <= set(used)
    missing = {key: where for key, where in used.items() if f"`{key}`" not in attributes}
    assert missing == {}


def test_the_walk_refuses_a_name_it_cannot_read() -> None:
    call = ast.parse("tracing.span(make_name())").body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    with pytest.raises(AssertionError, match="cannot read"):
        template(call.value.args[0], "web/somewhere.py")


def test_a_path_outside_the_packages_is_not_read() -> None:
    assert all(not Path(where).is_absolute() for where in used_names().values())
