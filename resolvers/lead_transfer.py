"""CSV import and export of leads.

Columns (import and export alike; only `name` is required on import, order is free, a header row
names them): name, email, phone, company, title, status, tags (separated by `;`), owner_email
(a member's sign-in email), address_line1, address_line2, address_city, address_region,
address_postal_code, address_country. Up to MAX_IMPORT_ROWS lines per file after the header,
every line counted (blank, malformed or invalid ones too); a bigger file is refused. The result
lists the first MAX_IMPORT_ERRORS problems by line and says how many there are in all.

An import only adds leads, it never merges rows into existing ones; a row with the email of a
lead whose processing is restricted is skipped and reported. Exports leave restricted leads out.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from billing.limits import ensure_within_limit
from core.errors import BadUserInput
from engine.context import Context
from keystore.fields import prepare
from models.leads import Lead, LeadSource, LeadStatus, LeadTag
from models.orgs import Membership, Organization
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.leads import ADDRESS_FIELDS, LeadFilter, leads_query, validate

COLUMNS = ("name", "email", "phone", "company", "title", "status", "tags", "owner_email",
           *(f"address_{part}" for part in ADDRESS_FIELDS))
MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_ERRORS = 100
MAX_EXPORT_ROWS = 100_000
BATCH = 500
# The start of the cell or of a piece of it (after `;`, `,`, a tab or a line break), its spaces and
# double quotes, when a formula trigger follows.
FORMULA_PIECE = re.compile(r'(?:^|(?<=[;,\t\r\n]))([ "]*)(?=[=+\-@])')
RESTRICTED = "is the email of a lead whose processing is restricted: not imported"


@dataclass
class RowError:
    line: int
    field: str | None
    message: str


@dataclass
class ImportOutcome:
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    """The first MAX_IMPORT_ERRORS problems, by line."""
    error_count: int = 0
    """Every problem found (one per bad cell, or per malformed line)."""
    skipped: int = 0
    """Rows not imported because of a problem."""


@dataclass
class RowErrors:
    """The first `keep` problems added, in the order added (the file's), and how many there
    were: a file of bad lines costs a bounded answer, not one error per line."""

    keep: int = MAX_IMPORT_ERRORS
    first: list[RowError] = field(default_factory=list)
    count: int = 0
    lines: int = 0

    def add(self, line: int, problems: list[tuple[str | None, str]]) -> None:
        """The problems of one line."""
        self.lines += 1
        self.count += len(problems)
        room = self.keep - len(self.first)
        if room > 0:
            self.first += [RowError(line, name, problem) for name, problem in problems[:room]]


@dataclass
class Export:
    filename: str
    body: str
    row_count: int


async def _member_ids_by_email(ctx: Context, org_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = await ctx.access.scoped(Membership, org_id).values_list("user__email", "user_id")
    return {email: user_id for email, user_id in rows}


def _read_csv(raw: bytes) -> tuple[list[tuple[int, dict[str, str]]], RowErrors]:
    """Each row with the file line it starts on (blank lines are skipped and a quoted cell may
    span lines, so a row's index is not its line), and the rows with more cells than the header
    (a stray comma would shift every value after it into the wrong column). Every line after
    the header counts against MAX_IMPORT_ROWS, blank and malformed ones too: reading stops,
    refusing the file, at the first line over it. Runs in a worker thread."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadUserInput.field("file", "must be UTF-8 encoded CSV") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if not any(header):
            raise BadUserInput.field("file", "is empty: expected a header row")
        unknown = [name or "(blank)" for name in header if name not in COLUMNS]
        if unknown:
            raise BadUserInput.field("file", f"unknown columns: {', '.join(unknown)}; known: "
                                             f"{', '.join(COLUMNS)}")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise BadUserInput.field("file", f"repeats columns: {', '.join(repeated)}")
        if "name" not in header:
            raise BadUserInput.field("file", "needs a `name` column")
        rows: list[tuple[int, dict[str, str]]] = []
        malformed = RowErrors()
        line = reader.line_num + 1
        for count, cells in enumerate(reader, start=1):
            if count > MAX_IMPORT_ROWS:
                raise BadUserInput.field("file", f"has more than {MAX_IMPORT_ROWS:,} lines after "
                                                 "the header (blank and invalid lines count "
                                                 "too): split it")
            if len(cells) > len(header):
                malformed.add(line, [(None, f"has {len(cells)} cells but the header names "
                                            f"{len(header)} columns")])
            elif cells:
                rows.append((line, dict(zip(header, cells, strict=False))))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise BadUserInput.field("file", f"is not valid CSV ({exc})") from exc
    return rows, malformed


def _row_data(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: row.get(k) for k in ("name", "email", "phone", "company", "title")
                            if k in row}
    status = (row.get("status") or "").strip().lower()
    if status:
        data["status"] = status
    if "tags" in row:
        data["tags"] = [t for t in (row.get("tags") or "").split(";")]
    address = {part: row.get(f"address_{part}") for part in ADDRESS_FIELDS
               if f"address_{part}" in row}
    if address:
        data["address"] = address
    return data


def _column(field: str) -> str:
    """The CSV column of a validation problem: `address.postalCode` -> `address_postal_code`."""
    if not field.startswith("address."):
        return field
    part = re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), field.removeprefix("address."))
    return f"address_{part}"


def _validate_rows(org: Organization, rows: list[tuple[int, dict[str, str]]],
                   members: dict[str, uuid.UUID], restricted: frozenset[str] = frozenset()
                   ) -> tuple[list[tuple[dict, list[str]]], RowErrors]:
    """Valid rows' values, and the problems of bad rows (one error per column). A row
    whose email is that of a restricted lead is not imported: the person asked that their
    data not be processed, and a fresh copy of them would escape the restriction."""
    valid: list[tuple[dict, list[str]]] = []
    errors = RowErrors()
    statuses = {s.value for s in LeadStatus}
    for line, row in rows:
        data = _row_data(row)
        status = data.pop("status", None)
        changes = validate(org, data, creating=True)
        check = changes.check
        if status is not None and check.one_of("status", status, statuses) in statuses:
            changes.values["status"] = LeadStatus(status)
        owner_email = (row.get("owner_email") or "").strip().lower()
        if owner_email and check.require("owner_email", owner_email in members,
                                         "is not a member of this organization"):
            changes.values["owner_id"] = members[owner_email]
        if changes.values.get("email") in restricted:
            check.add("email", RESTRICTED)
        if changes.problems:
            errors.add(line, [(_column(name), problem)
                              for name, problem in sorted(changes.problems.items())])
            continue
        valid.append((changes.values, changes.tags or []))
    return valid, errors


async def _read_upload(upload: Any) -> tuple[list[tuple[int, dict[str, str]]], RowErrors]:
    """The file's rows (`_read_csv`, in a worker thread). A refused file's error carries a
    traceback whose frames hold the file's bytes and text (up to MAX_UPLOAD_BYTES each, more as
    text): they are cleared here, so that they go when the answer is sent rather than when the
    cyclic collector gets round to the error (`tests/http/test_memory_bound.py`)."""
    try:
        return await asyncio.to_thread(_read_csv, await upload.read())
    except BadUserInput as exc:
        for error in (exc, exc.__cause__, exc.__context__):
            if error is not None:
                traceback.clear_frames(error.__traceback__)
        raise


async def import_leads(ctx: Context, org_id: uuid.UUID, upload: Any, *,
                       dry_run: bool) -> ImportOutcome:
    rows, malformed = await _read_upload(upload)
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None
    members = await _member_ids_by_email(ctx, org_id)
    # Read for every caller (tokens included): the import honours the restriction.
    # Read as models: emails are encrypted (`values_list` would give the ciphertext).
    restricted: frozenset[str] = frozenset(lead.email for lead in await ctx.access.scoped(
        Lead, org_id, restricted_too=True).filter(restricted=True, email_bidx__isnull=False)
        if lead.email)
    valid, errors = await asyncio.to_thread(_validate_rows, org, rows, members, restricted)
    # Both lists are in line order, each holds its first MAX_IMPORT_ERRORS: so do these.
    first = sorted(malformed.first + errors.first, key=lambda e: e.line)[:MAX_IMPORT_ERRORS]
    outcome = ImportOutcome(imported=len(valid), errors=first,
                            error_count=malformed.count + errors.count,
                            skipped=malformed.lines + errors.lines)
    await ensure_within_limit(ctx, org_id, "leads", adding=len(valid))  # dry runs warn too
    if dry_run or not valid:
        return outcome
    now = datetime.now(UTC)
    leads = [Lead(id=uuid.uuid4(), organization_id=org_id, source=LeadSource.IMPORT, tags=tags,
                  created_at=now, updated_at=now, **values) for values, tags in valid]
    tag_rows = [LeadTag(organization_id=org_id, lead_id=lead.id, tag=tag)
                for lead in leads for tag in lead.tags]
    await prepare((org_id,))  # the org's data key, for the encrypted columns
    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "leads", adding=len(leads))
        for start in range(0, len(leads), BATCH):
            await Lead.bulk_create(leads[start:start + BATCH])
        for start in range(0, len(tag_rows), BATCH):
            await LeadTag.bulk_create(tag_rows[start:start + BATCH])
        await record(ctx, org_id, "leads.imported", target_type="organization", target_id=org_id,
                     summary={"imported": len(leads),
                              "skipped": outcome.skipped})
    return outcome


def spreadsheet_cell(value: Any) -> str:
    """`value` as a CSV cell a spreadsheet can only show, never run (OWASP, CSV injection); the
    one escaper of every CSV export (`exportLeads`, the organization export in jobs/exports.py).

    None is empty, a list or dict its JSON, anything else its text. A quote goes before every
    `= + - @` that starts the cell or a piece of it, a piece being what a spreadsheet splitting
    the line on `;`, `,`, a tab or a line break takes for a cell (spaces and double quotes before
    it aside), and before a leading tab or carriage return. No column is exempt, a phone number's
    `+` included. A spreadsheet that splits the line on `;` thus never meets a cell that starts
    like a formula, whichever separator it uses and whether or not it honours the CSV quotes.

        >>> spreadsheet_cell("Acme;=1+2")
        "Acme;'=1+2"
    """
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
    text = FORMULA_PIECE.sub(r"\1'", text)
    return "'" + text if text.startswith(("\t", "\r")) else text


async def export_leads(ctx: Context, org_id: uuid.UUID, flt: LeadFilter | None) -> Export:
    # Restricted leads are never exported: processing them is what the person refused.
    query = (await leads_query(ctx, org_id, flt)).filter(restricted=False) \
        .order_by("-created_at", "-id")
    total = await query.count()
    if total > MAX_EXPORT_ROWS:
        raise BadUserInput.field("filter", f"matches {total:,} leads; export at most "
                                           f"{MAX_EXPORT_ROWS:,} at a time")
    leads = await query
    members = await _member_ids_by_email(ctx, org_id)
    emails = {user_id: email for email, user_id in members.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    for lead in leads:
        values = {
            "name": lead.name, "email": lead.email, "phone": lead.phone, "company": lead.company,
            "title": lead.title, "status": lead.status.value, "tags": ";".join(lead.tags or []),
            "owner_email": emails.get(lead.owner_id) if lead.owner_id else None,
            **{f"address_{p}": getattr(lead, f"address_{p}") for p in ADDRESS_FIELDS},
        }
        writer.writerow([spreadsheet_cell(values[c]) for c in COLUMNS])
    async with in_transaction():
        await record(ctx, org_id, "leads.exported", target_type="organization", target_id=org_id,
                     summary={"rows": len(leads)})
    org = await ctx.loaders.organization.load(org_id)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Export(filename=f"{org.slug if org else 'leads'}-leads-{stamp}.csv",
                  body=buffer.getvalue(), row_count=len(leads))
