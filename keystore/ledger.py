"""The erasure ledger: every erasure (an account's deletion, a data subject's erasure, an
organization's deletion) appends an entry here, in the keystore database, apart from the data.

A data backup taken before an erasure still holds the person: restoring it would bring them
back. So a restore replays the ledger's entries newer than the backup (`scripts/restore_drill.py`
does it on every drill, and docs/backups.md says how for a real restore). The ledger holds no
personal data: a person is named by `subject_hash`, an HMAC-SHA-256 of their normalised email
under the ledger key (ERASURE_LEDGER_KEY, or one derived from SECRET_KEY), which the replay
recomputes for every email it finds and compares; nobody without the key can turn it back.

An entry is appended before the erasure's own transaction: if the erasure then fails, it is
retried (jobs) or was asked for (requests), and replaying it does what was asked. Replaying is
idempotent, so a retried erasure's second entry changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from tortoise import fields
from tortoise.models import Model


class ErasureKind(StrEnum):
    """What an erasure took away."""

    ACCOUNT = "account"
    """A person's account (`subject_hash` of its email); the organizations that went with it
    have their own entries."""
    DATA_SUBJECT = "data_subject"
    """A person in one organization's CRM (`org_id`, `subject_hash` of their email)."""
    ORGANIZATION = "organization"
    """An organization and every row it owned (`org_id`)."""


class ErasureLedgerEntry(Model):
    """One erasure, in the order they were appended."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ErasureKind, max_length=16)
    org_id = fields.UUIDField(null=True)
    subject_hash = fields.CharField(max_length=64, null=True)
    at = fields.DatetimeField(db_index=True)
    """When the erasure was carried out (asked for, for a request's erasure)."""

    class Meta:
        table = "erasure_ledger"
        app = "keystore"

    def __repr__(self) -> str:
        return f"<ErasureLedgerEntry {self.id} {self.kind} org={self.org_id} at={self.at}>"


def normalise_email(email: str) -> str:
    """The form both sides of a match hash: trimmed, lower case."""
    return email.strip().lower()


def subject_hash(key: bytes, email: str) -> str:
    """The ledger's name for the person with this email (hex HMAC-SHA-256)."""
    return hmac.new(key, b"erasure-ledger:" + normalise_email(email).encode(),
                    hashlib.sha256).hexdigest()


async def record_erasure(kind: Literal["account", "data_subject", "organization"], *,
                         org_id: uuid.UUID | None, subject_hash: str | None,
                         at: datetime) -> None:
    """Append an entry. `subject_hash` comes from `subject_hash(settings.ledger_key, email)`,
    never the email itself."""
    erasure = ErasureKind(kind)
    if erasure is not ErasureKind.ORGANIZATION and not subject_hash:
        raise ValueError(f"a {kind} erasure names its subject_hash")
    if erasure is not ErasureKind.ACCOUNT and org_id is None:
        raise ValueError(f"a {kind} erasure names its org_id")
    await ErasureLedgerEntry.create(kind=erasure, org_id=org_id, subject_hash=subject_hash,
                                    at=at)


async def entries_since(t: datetime) -> list[ErasureLedgerEntry]:
    """The entries of erasures after `t` (a backup's time), oldest first."""
    return list(await ErasureLedgerEntry.filter(at__gt=t).order_by("at", "id"))
