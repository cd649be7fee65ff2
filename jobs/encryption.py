"""Encrypting what is stored in plain text, and re-encrypting what a retired key encrypted.

`encrypt_org(org_id)` walks an organization's leads, notes, form submissions, consent
receipts, webhook endpoints and AI generations (`MODELS`) by id, a batch
at a time, and saves again every row that needs it: a value stored before encryption came (no
`enc:` prefix), a value under a RETIRED key (after `rotateOrganizationKey`), or a blind index
missing. Saving encrypts under the ACTIVE key (`keystore.fields`). Resumable: the rows done
need nothing more, so a run that stopped is simply run again (`make migrate` does it for every
org; the rotation's scheduled work for one). Reads work throughout: plain text is read as it
is until its row is saved, and every version not destroyed decrypts.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from keystore import keys
from keystore.fields import BlindIndexField, is_encrypted
from models.ai import AiGeneration
from models.forms import ConsentReceipt, FormSubmission
from models.jobs import ScheduledWork
from models.leads import Lead, Note
from models.orgs import Organization
from models.support import SupportMessage, SupportTicket
from models.tenancy import system_scope
from models.webhooks import WebhookEndpoint

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.jobs")

MODELS: tuple[type[Any], ...] = (Lead, Note, FormSubmission, ConsentReceipt, WebhookEndpoint,
                                 AiGeneration)
BATCH = 200


def _needs_saving(row: Any, stored: dict[str, Any], active: int | None) -> bool:
    if row.unreadable_fields:
        return False  # its key is destroyed: nothing can be done, and saving would wipe it
    for name, _column in type(row).encrypted_columns():
        value = stored.get(name)
        if not value:  # nothing, or an empty JSON value: nothing personal, kept plain
            continue
        if not is_encrypted(value):
            return True
        if not value.startswith(f"enc:v1:{active}:"):
            return True
    for name, field in row._meta.fields_map.items():
        if isinstance(field, BlindIndexField) and stored.get(name) is None \
                and getattr(row, field.source):
            return True
    return False


async def encrypt_org(org_id: uuid.UUID, batch: int = BATCH) -> int:
    """Encrypt (or re-encrypt) what needs it in one org; returns how many rows were saved."""
    scope = system_scope(org_id, reason="encrypting stored personal data")
    org_keys = await keys.ensure_active(org_id)
    saved = 0
    for model in MODELS:
        after: uuid.UUID | None = None
        while True:
            query = scope.scoped(model).order_by("id").limit(batch)
            if after is not None:
                query = query.filter(id__gt=after)
            # The stored values, as they are, beside the decrypted rows.
            names = [name for name in model._meta.fields_map
                     if name in model._meta.fields_db_projection]
            raw = {row["id"]: row for row in await query.values(*names)}
            rows = list(await query)
            for row in rows:
                if _needs_saving(row, raw.get(row.id, {}), org_keys.active):
                    await row.save()
                    saved += 1
            if len(rows) < batch:
                break
            after = rows[-1].id
    log.info("jobs.encrypted", organization_id=str(org_id), rows=saved)
    return saved


async def reencrypt_org(services: Services, work: ScheduledWork) -> dict[str, Any]:
    """The work `rotateOrganizationKey` recorded: the org's data under its new key (no
    column of the work row to set)."""
    assert work.organization_id is not None
    await encrypt_org(work.organization_id)
    return {}


async def encrypt_support(batch: int = BATCH) -> int:
    """Support tickets' subjects and messages stored in plain text (before 0022) encrypted
    under their requester's own key; a message also gets the `requester_id` that names it.
    Resumable like `encrypt_org`; returns how many rows were saved."""
    saved = 0
    for model in (SupportTicket, SupportMessage):
        names = [name for name, _ in model.encrypted_columns()]
        after: uuid.UUID | None = None
        while True:
            query = model.all().order_by("id").limit(batch)
            if after is not None:
                query = query.filter(id__gt=after)
            raw = {row["id"]: row for row in await query.values("id", *names)}
            rows: list[Any] = list(await query)
            owners: dict[Any, Any] = {}
            if model is SupportMessage:
                ticket_ids = {row.ticket_id for row in rows if row.requester_id is None}
                if ticket_ids:
                    owners = dict(await SupportTicket.filter(id__in=list(ticket_ids))
                                  .values_list("id", "requester_id"))
            for row in rows:
                stored = raw.get(row.id, {})
                plain = any(stored.get(name) and not is_encrypted(stored.get(name))
                            for name in names)
                if model is SupportMessage and row.requester_id is None:
                    row.requester_id = owners.get(row.ticket_id)
                    plain = plain or row.requester_id is not None
                if plain and not row.unreadable_fields:
                    await row.save()
                    saved += 1
            if len(rows) < batch:
                break
            after = rows[-1].id
    log.info("jobs.support_encrypted", rows=saved)
    return saved


async def encrypt_everything() -> int:
    """`encrypt_org` for every organization, then the support tickets (`encrypt_support`):
    `make migrate` on an older database."""
    total = 0
    for org_id in await Organization.all().values_list("id", flat=True):
        total += await encrypt_org(uuid.UUID(str(org_id)))
    return total + await encrypt_support()

