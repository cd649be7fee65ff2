"""Imports run one way: no module takes part in an import cycle.

The layers between packages are import-linter's contract (`[tool.importlinter]` in
pyproject.toml, run by `make test` as `lint-imports`); this test adds what a layers contract
cannot see, cycles between modules of one package (`schema.orgs` <-> `schema.accounts`). Both
count every import: at module level, inside functions and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["root_packages"])


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


@pytest.mark.no_db
def test_no_module_takes_part_in_an_import_cycle() -> None:
    graph = grimp.build_graph(*_root_packages(), cache_dir=None)
    assert _cycles(graph) == []


@pytest.mark.no_db
def test_every_package_of_ours_is_in_the_contract() -> None:
    """A new package must take its place in the layers, or the contract would not see it."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "scripts",
                                                                         "bench", "clients"}
    assert packages - set(_root_packages()) == set()
    top_level = {path.stem for path in ROOT.glob("*.py")}
    assert top_level == {"server"}, "only the composition root stays a top-level module"


@pytest.mark.no_db
def test_every_package_says_where_it_sits() -> None:
    """The layout is read in the packages too: each one's docstring names its layer."""
    silent = [package for package in _root_packages()
              if "Layer:" not in (ROOT / package / "__init__.py").read_text()]
    assert silent == []
