"""The README's errors table is the list of codes: one row per `core.errors.ErrorCode`, no other."""

from __future__ import annotations

import re

import pytest

from core.errors import ErrorCode
from core.settings import ROOT

pytestmark = pytest.mark.no_db


def test_the_errors_table_lists_every_code_and_only_those() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Errors\n", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE)
    assert sorted(rows) == sorted(code.value for code in ErrorCode)
