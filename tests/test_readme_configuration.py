"""The README's configuration table is true: every environment variable that `core/settings.py` and
`scripts/serve.py` read has a row, and each default the table gives is the one the code uses."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from core.settings import ROOT, Settings

pytestmark = pytest.mark.no_db

NAME = re.compile(r"[A-Z][A-Z0-9_]{2,}")
ATTRIBUTES = {"RELLEKS_ENV": "env", "WS_SOCKET_LEASE_SECONDS": "ws_socket_lease"}
"""Variables whose setting is not named after them (the others: the variable in lower case)."""


def _names_in(tree: ast.AST) -> set[str]:
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and NAME.fullmatch(node.value)}


def variables_read() -> set[str]:
    """What `Settings.from_env` reads (and the tables of names it reads through), and what
    `scripts/serve.py` takes from `os.environ`."""
    settings = ast.parse((ROOT / "core/settings.py").read_text())
    names: set[str] = set()
    for node in settings.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            names |= _names_in(node.value)  # STRIPE_VARIABLES, SOCIAL_VARIABLES
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            (from_env,) = [f for f in node.body
                           if isinstance(f, ast.FunctionDef) and f.name == "from_env"]
            names |= _names_in(from_env)
    serve = ast.parse((ROOT / "scripts" / "serve.py").read_text())
    names |= {call.args[0].value for call in ast.walk(serve)
              if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
              and call.func.attr == "get" and ast.unparse(call.func.value) == "os.environ"
              and isinstance(call.args[0], ast.Constant)}
    return names


def table() -> dict[str, list[str]]:
    """Each variable of the README's configuration table, with the `quoted` values of its
    default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        variables, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", variables):
            rows[name] = re.findall(r"`([^`]*)`", default)
    return rows


def as_written(value: object) -> str:
    """A default as the README writes it: `true`, `10` (not 10.0), a path under the checkout
    relative to it, a list comma-separated."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value).replace(f"{ROOT}/", "").replace(str(Path(ROOT)), "")


def test_every_variable_read_has_a_row() -> None:
    read = variables_read()
    assert {"DATABASE_URL", "SMTP_URL", "STRIPE_TIMEOUT", "GITHUB_API_URL", "HOST",
            "WEB_CONCURRENCY"} <= read  # the walk finds what it is meant to
    missing = sorted(read - set(table()))
    assert not missing, f"not in the README's configuration table: {missing}"


def test_the_defaults_written_are_the_code_defaults() -> None:
    defaults = Settings()
    rows = table()
    for name, written in rows.items():
        attribute = ATTRIBUTES.get(name, name.lower())
        if attribute not in {f.name for f in dataclasses.fields(Settings)}:
            continue  # HOST, PORT, WEB_CONCURRENCY: scripts/serve.py's, checked below
        value = getattr(defaults, attribute)
        if value is None or not written:
            continue  # unset, derived from other settings, or a secret: said in words
        assert as_written(value) in written, (name, value, written)
    assert "127.0.0.1" in rows["HOST"] and "8000" in rows["PORT"]
    assert "1" in rows["WEB_CONCURRENCY"]
