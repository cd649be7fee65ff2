"""No module reaches into another's private names: `from resolvers.x import _helper` or
`x._helper` on one of our modules. A name another module needs is public, with a docstring
saying why it is shared. (Tortoise's `Model._meta` is the library's public API despite its
underscore.)"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_NAMES = {"_meta"}


def _ours() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["importlinter"]["root_packages"]) | {"server"}


def _modules() -> list[Path]:
    paths = [ROOT / "server.py"]
    for package in sorted(_ours() - {"server"}):
        paths += [path for path in (ROOT / package).rglob("*.py")
                  if "migrations" not in path.parts]
    return paths


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in LIBRARY_NAMES


def _reaches(path: Path, ours: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module \
                and node.module.split(".")[0] in ours:
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"from {node.module} import {alias.name} (line {node.lineno})")
                elif (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists():
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ours:
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) \
                and isinstance(node.value, ast.Name) and node.value.id in modules:
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


@pytest.mark.no_db
def test_no_module_uses_another_modules_private_names() -> None:
    ours = _ours()
    modules = _modules()
    assert len(modules) > 100
    found = {str(path.relative_to(ROOT)): reached for path in modules
             if (reached := _reaches(path, ours))}
    assert found == {}
