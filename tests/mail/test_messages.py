"""All mail is built in `mail/messages.py`, where its rules about typed text are written and kept
in one place: no module outside `mail/` constructs a message, and no mail greets by name."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from mail import messages

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {".venv", ".git", "tests", "mail", "var", "__pycache__"}
# What builds or sends a message: our `Mail`, the standard library's messages, SMTP clients.
CONSTRUCTORS = {"Mail", "EmailMessage", "MIMEText", "MIMEMultipart", "Message"}
MODULES = ("email.message", "email.mime", "smtplib", "aiosmtplib")


def _sources() -> list[Path]:
    return [path for path in ROOT.rglob("*.py")
            if not SKIPPED & set(path.relative_to(ROOT).parts[:-1])]


def mail_built_outside(source: str) -> list[str]:
    """Where `source` builds a message itself: a call to one of `CONSTRUCTORS` (bare or as
    `module.Name`), or an import of a mail or SMTP module, or of `mail.Mail` (which catches an
    alias)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if name in CONSTRUCTORS:
                found.append(f"line {node.lineno}: {name}(...)")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.startswith(MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(MODULES) or (
                    node.module == "mail" and any(a.name == "Mail" for a in node.names)):
                found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


def test_the_check_finds_a_mail_built_inline() -> None:
    assert mail_built_outside("from mail import Mail\nm = Mail(to='a', subject='b', body='c')\n")
    assert mail_built_outside("import mail\nm = mail.Mail(to='a', subject='b', body='c')\n")
    assert mail_built_outside("from email.message import EmailMessage as E\n")
    assert not mail_built_outside("from mail import messages\n"
                                  "m = messages.sign_up_taken_mail(to='a')\n")


def test_no_module_outside_mail_builds_a_message() -> None:
    sources = _sources()
    assert any(path.parts[-2:] == ("jobs", "exports.py") for path in sources)  # the walk works
    found = {str(path.relative_to(ROOT)): hits for path in sources
             if (hits := mail_built_outside(path.read_text(encoding="utf-8")))}
    assert found == {}, "build mail with a function in mail/messages.py"


def test_an_export_ready_mail_says_what_was_exported_and_until_when() -> None:
    expires_at = datetime(2026, 12, 3, 2, 30, tzinfo=UTC)
    subjects = []
    for slug in (None, "acme"):
        mail = messages.export_ready_mail(to="ada@example.com", organization_slug=slug,
                                          url="http://127.0.0.1:8000/exports/rlk_exp_x",
                                          expires_at=expires_at)
        subjects.append(mail.subject)
        assert mail.body.splitlines()[0] == "Hello,"
        assert "\nhttp://127.0.0.1:8000/exports/rlk_exp_x\n" in mail.body
        assert "until 2026-12-03 02:30 UTC" in mail.body
    assert subjects == ["Your Relleks data export is ready",
                        "Your organization acme export is ready"]
