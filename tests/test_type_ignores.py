"""The type checker's escape hatch stays rare and explained: at most ten `# type: ignore` in
the code mypy checks (everything but the tests, migrations and generated clients), each naming
its error code and followed by a comment saying why. A new one needs a reason a reviewer can
judge; a cast or a better annotation is usually the answer (DEVELOPERS.md, "Types")."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_CHECKED = ("tests", "models/migrations", "clients", "var", "build", ".venv")
MAX_IGNORES = 10
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[a-z-, ]+\])?(?P<rest>.*)$")
REASON = re.compile(r"^\s*#\s*\S.{5,}")


def _checked_files() -> list[Path]:
    return [path for path in ROOT.rglob("*.py")
            if not any(path.relative_to(ROOT).as_posix().startswith(skip)
                       for skip in NOT_CHECKED)]


def _ignores() -> list[tuple[str, str]]:
    """(place, the comment) of every `type: ignore` comment: comments only, not strings."""
    found = []
    for path in _checked_files():
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type == tokenize.COMMENT and IGNORE.search(token.string):
                place = f"{path.relative_to(ROOT)}:{token.start[0]}"
                found.append((place, token.string))
    return found


@pytest.mark.no_db
def test_at_most_ten_ignores() -> None:
    ignores = _ignores()
    assert ignores, "the scan found no ignores at all: is it reading the tree?"
    assert len(ignores) <= MAX_IGNORES, "\n".join(place for place, _ in ignores)


@pytest.mark.no_db
def test_each_ignore_names_its_code_and_reason() -> None:
    vague = []
    for place, comment in _ignores():
        match = IGNORE.search(comment)
        assert match is not None
        if not match["codes"] or not REASON.match(match["rest"]):
            vague.append(f"{place}: {comment}")
    assert not vague, "an ignore without [code] or a reason after it:\n" + "\n".join(vague)
