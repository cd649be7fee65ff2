"""Outgoing email: SMTP through aiosmtplib when `SMTP_URL` is set, the log otherwise.

`make run` has no SMTP server, so mail is printed to the log where a developer can follow the link.
Sending happens after the transaction that created the token commits, never inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog

from settings import Settings

log = structlog.get_logger("relleks.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        if not self.settings.smtp_url:
            # Development only: the body holds a one-time link, which is why production needs SMTP.
            log.info("mail.printed", to=mail.to, subject=mail.subject, body=mail.body)
            return
        url = urlsplit(self.settings.smtp_url)
        await aiosmtplib.send(
            message,
            hostname=url.hostname or "127.0.0.1",
            port=url.port or (465 if url.scheme == "smtps" else 25),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=url.scheme == "smtps",
            start_tls=True if url.scheme == "smtp+starttls" else None,
            timeout=10,
        )
        log.info("mail.sent", subject=mail.subject)
