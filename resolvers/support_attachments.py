"""Files attached to support messages: checked, scanned, encrypted, stored, and served back only
to the ticket's requester and Relleks staff.

Nothing the client says about a file is trusted but its name (kept for display, as the name of
the download): its type is sniffed from its first bytes (magic numbers, `filetype`) and must be
one of `ALLOWED` (PNG, JPEG, GIF, WebP, PDF), or else the whole file must be UTF-8 text without
control characters that does not start with markup (`<`: HTML, SVG or XML are not text we
serve), which is plain text or, when its name ends in `.csv`, CSV. An executable or an HTML page
named `.png` is refused for what it is.

Each file is at most SUPPORT_ATTACHMENT_MAX_BYTES, a message carries at most
SUPPORT_ATTACHMENTS_PER_MESSAGE, and the whole request at most MAX_UPLOAD_BYTES (the body
limit of every multipart request, `web/middleware.py`). With VIRUS_SCANNER_URL set, every file
goes to clamd first (`services/virus_scan.py`), and nothing is stored unless every file of the
message came back OK: an infected file is BAD_USER_INPUT, reason ATTACHMENT_INFECTED; a scanner
that cannot answer refuses the message (UNAVAILABLE, reason VIRUS_SCANNER_UNAVAILABLE): fail
closed.

Stored bytes are encrypted under the requester's own key (`keystore.fields.encrypt_bytes`,
bound to the attachment's id), whatever the storage backend, and kept under
`support/<attachment id>`, a private prefix `/media` never serves (`web/routes.py`).
docs/support.md describes the whole.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import filetype
import structlog

from core.errors import BadUserInput, NotFound, Unavailable, at_most
from engine.context import Context
from keystore import keys
from keystore.fields import decrypt_bytes, encrypt_bytes
from models.support import StaffMember, SupportAttachment, SupportMessage, SupportTicket
from resolvers.avatars import UploadedFile
from services.virus_scan import ScannerUnavailable, scan_bytes
from storage import Storage

if TYPE_CHECKING:
    from auth.viewer import Viewer
    from services import Services

log = structlog.get_logger("relleks.support")

FIELD = "attachments"
ALLOWED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP",
           "application/pdf": "PDF"}
"""The binary types accepted, by their sniffed MIME type."""
TEXT = "text/plain; charset=utf-8"
CSV = "text/csv; charset=utf-8"
MAX_PER_MESSAGE = 10
"""The ceiling of SUPPORT_ATTACHMENTS_PER_MESSAGE (the schema's list bound)."""
NAME_MAX = 200
PREFIX = "support/"
"""Where attachments are stored: private (`web.routes.PRIVATE`)."""
ALLOWED_TEXT = "PNG, JPEG, GIF, WebP, PDF, plain text (UTF-8) or CSV"
CONTROL_OK = frozenset(b"\t\n\r\f")


@dataclass(frozen=True)
class Checked:
    """A file that passed every check, ready to store."""

    name: str
    content_type: str
    data: bytes
    sha256: str


def sniff(data: bytes, name: str) -> str | None:
    """The content type `data` is served as, or None when it is none we accept."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED else None
    text = data.removeprefix(b"\xef\xbb\xbf")
    if any(byte < 0x20 and byte not in CONTROL_OK for byte in text) or b"\x7f" in text:
        return None
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if decoded.lstrip().startswith("<"):  # HTML, SVG, XML: markup, not text we serve
        return None
    return CSV if name.lower().endswith(".csv") else TEXT


def what_it_is(data: bytes) -> str:
    """A name for what a refused file is, for the error (`application/x-msdownload`...)."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return str(kind.mime)
    return "markup (HTML, SVG or XML)" if data.lstrip()[:1] == b"<" else "unknown binary data"


def clean_name(raw: str | None) -> str:
    """The name to show and download as: its last path part, without control or format
    characters, at most NAME_MAX characters; `attachment` when nothing is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return name[-NAME_MAX:] or "attachment"


async def check_uploads(ctx: Context, uploads: Sequence[object] | None) -> list[Checked]:
    """Read and check every upload of a message (count, size, type, then the virus scan);
    BAD_USER_INPUT naming `attachments.<n>` for the first one refused, before anything is
    stored. Returns them in order."""
    if not uploads:
        return []
    settings = ctx.services.settings
    at_most(FIELD, uploads, settings.support_attachments_per_message)
    limit = settings.support_attachment_max_bytes
    checked: list[Checked] = []
    for index, upload in enumerate(uploads):
        field = f"{FIELD}.{index}"
        if not isinstance(upload, UploadedFile):
            raise BadUserInput.field(field, "no file was attached: send it as a file part of "
                                            "a multipart request")
        data = await upload.read(limit + 1)
        if not data:
            raise BadUserInput.field(field, "is empty")
        if len(data) > limit:
            raise BadUserInput(f"{field}: is larger than {limit:,} bytes",
                               {field: f"is larger than {limit:,} bytes"},
                               reason="ATTACHMENT_TOO_LARGE", limit=limit)
        name = clean_name(getattr(upload, "filename", None))
        content_type = sniff(data, name)
        if content_type is None:
            found = what_it_is(data)
            problem = f"is {found}: only {ALLOWED_TEXT} files are accepted"
            raise BadUserInput(f"{field}: {problem}", {field: problem},
                               reason="ATTACHMENT_TYPE_NOT_ALLOWED")
        checked.append(Checked(name, content_type, data, hashlib.sha256(data).hexdigest()))
    if settings.virus_scanner_url:
        await _scan(ctx, checked)
    return checked


async def _scan(ctx: Context, files: list[Checked]) -> None:
    settings = ctx.services.settings
    assert settings.virus_scanner_url is not None
    for index, checked in enumerate(files):
        try:
            verdict = await scan_bytes(settings.virus_scanner_url, checked.data,
                                       seconds=settings.virus_scanner_timeout)
        except ScannerUnavailable as exc:
            log.warning("support.scanner_unavailable", error=str(exc),
                        request_id=ctx.request_id)
            raise Unavailable("The virus scanner is unavailable, so no attachment can be "
                              "accepted now: try again later, or send the message without "
                              "files.", reason="VIRUS_SCANNER_UNAVAILABLE") from exc
        if not verdict.clean:
            field = f"{FIELD}.{index}"
            log.warning("support.attachment_infected", signature=verdict.signature,
                        sha256=checked.sha256, request_id=ctx.request_id)
            problem = f"was refused by the virus scan ({verdict.signature})"
            raise BadUserInput(f"{field}: {problem}", {field: problem},
                               reason="ATTACHMENT_INFECTED", signature=verdict.signature)


async def store(ctx: Context, ticket: SupportTicket, files: list[Checked]
                ) -> list[tuple[uuid.UUID, str, bytes]]:
    """Encrypt and store `files` (before the message's rows are written); returns (id, key,
    data) of each, for `attach`. A failure deletes what was stored."""
    if not files:
        return []
    await keys.ensure_active(ticket.requester_id)
    stored: list[tuple[uuid.UUID, str, bytes]] = []
    try:
        for checked in files:
            attachment_id = uuid.uuid4()
            key = f"{PREFIX}{attachment_id}"
            sealed = encrypt_bytes(ticket.requester_id, _aad(attachment_id), checked.data)
            await ctx.services.storage.save(key, sealed, "application/octet-stream")
            stored.append((attachment_id, key, checked.data))
    except BaseException:
        await delete_files(ctx.services.storage, [key for _, key, _ in stored])
        raise
    return stored


async def attach(ticket: SupportTicket, message: SupportMessage, files: list[Checked],
                 stored: list[tuple[uuid.UUID, str, bytes]]) -> list[SupportAttachment]:
    """The attachment rows of `message` (inside its transaction)."""
    rows = []
    for position, (checked, (attachment_id, key, _)) in enumerate(
            zip(files, stored, strict=True)):
        rows.append(await SupportAttachment.create(
            id=attachment_id, position=position, message_id=message.id, ticket_id=ticket.id,
            requester_id=ticket.requester_id, filename=checked.name,
            content_type=checked.content_type, size=len(checked.data),
            sha256=checked.sha256, storage_key=key))
    return rows


def _aad(attachment_id: uuid.UUID) -> str:
    return f"support_attachments|{attachment_id}"


async def delete_files(storage: Storage, storage_keys: Sequence[str]) -> None:
    """Delete stored files, logging (not raising) failures: an orphan file is encrypted and
    costs only space."""
    for key in storage_keys:
        try:
            await storage.delete(key)
        except Exception:
            log.warning("support.attachment_delete_failed", key=key, exc_info=True)


@dataclass(frozen=True)
class Download:
    """An attachment's bytes as served."""

    name: str
    content_type: str
    data: bytes


async def open_attachment(services: Services, viewer: Viewer, attachment_id: uuid.UUID
                          ) -> Download:
    """The attachment's plain bytes, for the ticket's requester or staff (people signed in;
    never an API token or partner app); NotFound for anyone else, for an attachment that does
    not exist, and for one whose bytes are gone or whose key was destroyed."""
    user = viewer.user
    if user is None or viewer.credential is not None:
        raise NotFound("attachment")
    row = await SupportAttachment.filter(id=attachment_id).first()
    if row is None or (row.requester_id != user.id
                       and not await StaffMember.filter(user_id=user.id).exists()):
        raise NotFound("attachment")
    sealed = await services.storage.load(row.storage_key)
    if sealed is None or row.filename is None:
        raise NotFound("attachment")
    await keys.load((row.requester_id,))
    try:
        data = decrypt_bytes(row.requester_id, _aad(row.id), sealed)
    except Exception as exc:
        log.warning("support.attachment_unreadable", attachment_id=str(row.id))
        raise NotFound("attachment") from exc
    return Download(row.filename, row.content_type, data)
