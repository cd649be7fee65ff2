"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), and helpers to read what it received.

The app sends with aiosmtplib to `settings.smtp_url`; tests read the mail and follow its links
through the API, as a person would. The `smtp_server` and `inbox` fixtures live in conftest.py.
"""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def to(self, address: str, subject_has: str = "") -> list[EmailMessage]:
        return [m for m in self.messages
                if m["To"] == address and subject_has in str(m["Subject"])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def token_in(message: EmailMessage, page: str) -> str:
    """The token of the `http://testserver/<page>?token=...` link in the mail."""
    match = re.search(rf"(http://testserver/{page}\?\S+)", body_of(message))
    assert match, body_of(message)
    (token,) = parse_qs(urlsplit(match.group(1)).query)["token"]
    return token
