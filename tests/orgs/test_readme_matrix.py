"""The README's permission matrix is the one the code enforces (`auth/permissions.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.permission_matrix import render

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.no_db
def test_readme_holds_the_generated_permission_matrix() -> None:
    assert render() in README.read_text(encoding="utf-8"), (
        "README.md's permission matrix differs from auth/permissions.py: paste the output of "
        "`python -m scripts.permission_matrix` into the README")
