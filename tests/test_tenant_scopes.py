"""Exactly two ways to read tenant rows: `ctx.access.scoped(...)` in a request and
`models.tenancy.system_scope(org, reason=...)` outside one (see `models/tenancy.py`).

The first test walks the source (not the tests) and fails when any module but the two scope
modules reaches a tenant table another way: `Model._scoped`, the model manager
(`_meta.manager`, `get_queryset`, `_meta.basequery`), the private helpers of the scope module,
a queryset or prepared-statement reader built by hand over a tenant model, or raw SQL naming a
tenant table. The others check that the system scope will not run without an org and a reason.
"""

from __future__ import annotations

import ast
import importlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from database import MODEL_MODULES
from models.leads import Lead
from models.orgs import Organization
from models.tenancy import (
    EVERY_ORG,
    SystemScope,
    TenantModel,
    UnscopedQuery,
    before_org_known,
    system_scope,
)

ROOT = Path(__file__).resolve().parents[1]
SCOPE_MODULES = {"models/tenancy.py", "auth/access.py"}
"""The two scopes: the only modules that may touch what lies under them."""
SKIPPED = {".venv", ".git", "tests", "var", "__pycache__", "migrations", "bench"}
"""Not the API's source: its tests, migrations (schema changes), and the benchmark's data loader
and hand-written SQL floor, which the app never imports."""
SCRATCH_MODULES = {"scripts/restore_drill.py"}
"""Works on a scratch database restored from a backup, through its own connection (sqlite3,
asyncpg), never the app's: it replays erasures there with SQL over every table, by design."""
PRIVATE = {"_scoped", "_unfiltered", "tenant_sql", "get_queryset", "basequery",
           "basequery_all_fields"}
"""Names that open a tenant table without a scope."""
BUILDERS = {"QuerySet", "joined", "by_ids"}
"""Callables that read a model's table without its query methods: handed a tenant model, they
would bypass both scopes."""


def _tenant_models() -> dict[str, type[TenantModel]]:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    found: dict[str, type[TenantModel]] = {}
    pending = list(TenantModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if not model._meta.abstract:
            found[model.__name__] = model
    return found


TENANT_MODELS = _tenant_models()
TENANT_TABLES = sorted(model._meta.db_table for model in TENANT_MODELS.values())
RAW_SQL = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+"?(' + "|".join(TENANT_TABLES)
                     + r')"?(?![\w.])')


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED & set(relative.parts[:-1]) \
                or relative.as_posix() in SCOPE_MODULES | SCRATCH_MODULES:
            continue
        yield relative.as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of string constants that are docstrings or other bare string statements."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}


def _offences(tree: ast.Module) -> Iterator[tuple[int, str]]:
    prose = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in PRIVATE:
                yield node.lineno, f".{node.attr}"
            elif node.attr == "manager" and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "_meta":
                yield node.lineno, "._meta.manager"
            elif node.attr == "scoped" and isinstance(node.value, ast.Name) \
                    and node.value.id in {*TENANT_MODELS, "TenantModel"}:
                yield node.lineno, f"{node.value.id}.scoped"
        elif isinstance(node, ast.Name) and node.id in PRIVATE:
            yield node.lineno, node.id
        elif isinstance(node, ast.alias) and node.name.split(".")[-1] in PRIVATE:
            yield node.lineno, f"import {node.name}"
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else \
                node.func.id if isinstance(node.func, ast.Name) else None
            model = node.args[0] if node.args else None
            if called in BUILDERS and isinstance(model, ast.Name) and model.id in TENANT_MODELS:
                yield node.lineno, f"{called}({model.id}, ...)"
            elif called == "raw" and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id in TENANT_MODELS:
                yield node.lineno, f"{node.func.value.id}.raw"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in prose:
            for match in RAW_SQL.finditer(node.value):
                yield node.lineno, f"raw SQL naming {match.group(1)}"


@pytest.mark.no_db
def test_only_the_two_scopes_reach_tenant_tables() -> None:
    """Outside `models/tenancy.py` and `auth/access.py`, tenant rows are read through
    `ctx.access.scoped`, a system scope or the named lookups of the tenancy module, never
    through the model manager, a hand-built reader or raw SQL naming their table."""
    assert {"leads", "notes", "memberships", "api_tokens"} <= set(TENANT_TABLES)
    outside = [f"{name}:{line}: {what}" for name, tree in _sources()
               for line, what in _offences(tree)]
    assert outside == []


@pytest.mark.no_db
def test_the_walk_finds_each_way_around() -> None:
    """The walk itself notices each of the ways it forbids (so an empty list above means
    something)."""
    sample = '''
from models.tenancy import _unfiltered
from models.leads import Lead, Note
from database.rows import joined
Lead.scoped(org_id)
Note._scoped(org_id)
Lead._meta.manager.get_queryset()
QuerySet(Lead)
await joined(Note, "lead", {})
Lead.raw("SELECT 1")
SQL = "SELECT * FROM notes WHERE lead_id = $1"
OTHER = f'DELETE FROM "leads" WHERE id = {x}'
FINE = "SELECT 1 FROM users; removed from leads"
'''
    found = sorted(what for _, what in _offences(ast.parse(sample)))
    assert found == sorted([
        "import _unfiltered",
        "Lead.scoped", "._scoped", "._meta.manager", ".get_queryset", "QuerySet(Lead, ...)",
        "joined(Note, ...)", "Lead.raw", "raw SQL naming notes", "raw SQL naming leads",
    ])


@pytest.mark.no_db
def test_tenant_model_has_no_public_scope() -> None:
    assert not hasattr(TenantModel, "scoped")
    for model in TENANT_MODELS.values():
        with pytest.raises(UnscopedQuery, match="system_scope"):
            model.filter(id=uuid.uuid4())


@pytest.mark.no_db
@pytest.mark.parametrize("orgs", [None, [], (), set(), "an org", [None]])
def test_system_scope_needs_an_org(orgs: object) -> None:
    with pytest.raises(UnscopedQuery, match="needs the org"):
        system_scope(orgs, reason="a nightly job")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        system_scope(reason="a nightly job")  # type: ignore[call-arg]


@pytest.mark.no_db
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_system_scope_needs_a_reason(reason: object) -> None:
    with pytest.raises(UnscopedQuery, match="needs a reason"):
        system_scope(uuid.uuid4(), reason=reason)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SystemScope(uuid.uuid4())  # type: ignore[call-arg]


async def test_system_scope_reads_what_it_names(app: Any) -> None:
    """One org's rows, some orgs' rows, or every org's when it says so; raw SQL too, with the
    org condition written by the scope. The reason stays on the scope."""
    alpha = await Organization.create(name="Alpha", slug="alpha-scope")
    beta = await Organization.create(name="Beta", slug="beta-scope")
    gamma = await Organization.create(name="Gamma", slug="gamma-scope")
    for org in (alpha, beta, gamma):
        await Lead.create(organization_id=org.id, name=f"{org.name} lead")

    async def names(scope: SystemScope) -> list[str]:
        return sorted(await scope.scoped(Lead).values_list("name", flat=True))

    scope = system_scope(alpha.id, reason="a nightly job")
    assert scope.org_ids == {alpha.id} and "a nightly job" in repr(scope)
    assert await names(scope) == ["Alpha lead"]
    assert await names(system_scope([alpha.id, beta.id], reason="a nightly job")) \
        == ["Alpha lead", "Beta lead"]
    assert await names(system_scope(EVERY_ORG, reason="retention")) \
        == ["Alpha lead", "Beta lead", "Gamma lead"]
    rows, _ = await system_scope([beta.id, gamma.id], reason="a nightly job").raw(
        Lead, "SELECT name FROM {table} WHERE {tenant} AND name <> ? ORDER BY name",
        ["Gamma lead"])
    assert [dict(row)["name"] for row in rows] == ["Beta lead"]
    with pytest.raises(UnscopedQuery, match="tenant"):
        await scope.raw(Lead, "SELECT name FROM {table}")
    with pytest.raises(UnscopedQuery, match="EVERY_ORG"):
        await system_scope(EVERY_ORG, reason="retention").raw(
            Lead, "SELECT name FROM {table} WHERE {tenant}")


@pytest.mark.no_db
def test_lookup_before_the_org_is_known_is_narrow() -> None:
    """Rows are found across orgs only by a key that names them, with a reason."""
    ApiToken, Membership = TENANT_MODELS["ApiToken"], TENANT_MODELS["Membership"]
    before_org_known(ApiToken, reason="authenticate", token_hash="x")
    before_org_known(Membership, reason="own memberships", user_id=uuid.uuid4())
    with pytest.raises(UnscopedQuery, match="needs a reason"):
        before_org_known(ApiToken, reason="", token_hash="x")
    with pytest.raises(UnscopedQuery, match="one key"):
        before_org_known(Lead, reason="find a lead", email="a@example.com")
    with pytest.raises(UnscopedQuery, match="one key"):
        before_org_known(ApiToken, reason="authenticate", token_hash="x", name="y")
    with pytest.raises(UnscopedQuery, match="one key"):
        before_org_known(Membership, reason="own memberships", user_id=[uuid.uuid4()])
