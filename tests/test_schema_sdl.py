"""`schema.graphql` is the committed SDL that clients and reviewers read: it must be the live
schema, exactly as `make schema` (`strawberry export-schema`) writes it."""

from __future__ import annotations

import difflib

import pytest

from core.settings import ROOT
from schema import schema

pytestmark = pytest.mark.no_db

SDL = ROOT / "schema.graphql"


def test_schema_graphql_matches_the_live_schema() -> None:
    live = schema.as_str() + "\n"  # export-schema ends the file with a newline
    committed = SDL.read_text(encoding="utf-8") if SDL.exists() else ""
    if committed != live:
        diff = "".join(difflib.unified_diff(
            committed.splitlines(keepends=True), live.splitlines(keepends=True),
            fromfile="schema.graphql (committed)", tofile="live schema", n=2))
        lines = diff.splitlines()
        shown = "\n".join(lines[:80]) + (f"\n... {len(lines) - 80} more lines" if
                                         len(lines) > 80 else "")
        pytest.fail("schema.graphql differs from the live schema. Regenerate it with "
                    f"`make schema` and commit it.\n{shown}", pytrace=False)

