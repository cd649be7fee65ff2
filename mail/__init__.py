"""Outgoing email: SMTP through aiosmtplib when `SMTP_URL` is set, the console otherwise.

`make run` has no SMTP server, so each mail is printed to stderr as one readable block (From, To,
Subject, the body with its links on their own lines) where a developer can follow the link; the
JSON logs on stdout get only `mail.printed` with the subject, never a body or its token.
Production refuses to start without `SMTP_URL`, so it never prints a mail.
Sending happens after the transaction that created the token commits, never inside it.

Layer: beside `realtime` and `storage`, above `core` only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog

from core.settings import Settings

log = structlog.get_logger("relleks.mail")

RULE = "=" * 72
# Control characters other than line breaks and tabs: a terminal would act on them (ESC starts
# an escape sequence), and a body quotes text that people typed.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


def console_block(mail: Mail, sender: str) -> str:
    """`mail` as `make run` prints it: a header line, From, To and Subject, the body as it would
    be sent (its links on lines of their own), and a closing rule. For example::

        ==== Mail (not sent: SMTP_URL is unset) ====...
        From: Relleks <no-reply@relleks.test>
        To: ada@example.com
        Subject: Reset your Relleks password

        Hello,
        ...
        http://127.0.0.1:8000/reset-password?token=rlk_pr_...
        ...
        ========...
    """
    def clean(text: str) -> str:
        return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)

    header = "==== Mail (not sent: SMTP_URL is unset) "
    return "\n".join([
        header + "=" * (len(RULE) - len(header)),
        f"From: {clean(sender)}",
        f"To: {clean(mail.to)}",
        f"Subject: {clean(mail.subject)}",
        "",
        clean(mail.body.replace("\r\n", "\n")).rstrip("\n"),
        RULE,
        "",
    ])


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
            # Development only (production needs SMTP): the body holds a one-time link, so it goes
            # to the developer's console, in one write so that processes do not interleave it,
            # and stays out of the JSON logs.
            sys.stderr.write(console_block(mail, self.settings.mail_from))
            sys.stderr.flush()
            log.info("mail.printed", subject=mail.subject)
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
