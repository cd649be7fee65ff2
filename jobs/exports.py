"""Export archives: everything about one user (JSON in a ZIP), or all of one organization's data
(a JSON and a CSV file per table, in a ZIP).

These run in jobs, with no request and no caller to scope to: the request that recorded the work
checked who may have it (the user themself; the OWNER of the organization). Tenant rows are read
through a system scope (`models.tenancy.system_scope`): the organization's own for its export,
`EVERY_ORG` filtered by the user for a person's (`PERSON_DATA`).

Sections are lists so that other domains add theirs (see `USER_SECTIONS`, `ORG_TABLES`).
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from keystore.fields import Encrypted
from mail import messages
from models.accounts import Session, User
from models.activity import ActivityEvent
from models.ai import AiGeneration
from models.billing import BillingAccount, Invoice
from models.consents import Consent
from models.custom_domains import CustomDomain
from models.forms import ConsentReceipt, FormSubmission, LeadForm
from models.jobs import ScheduledWork, WorkKind
from models.leads import Lead, Note
from models.oauth import OAuthApp, OAuthGrant
from models.orgs import Invitation, Membership, Organization
from models.policies import PolicyAcceptance
from models.privacy_requests import PrivacyRequest, PrivacyRequestStatus
from models.social import SocialIdentity
from models.support import SupportAttachment, SupportMessage, SupportTicket
from models.tenancy import EVERY_ORG, SystemScope, TenantModel, system_scope
from models.tokens import ApiToken
from resolvers.exports import ERASED, archive_key_of, download_url, new_download_token
from resolvers.lead_transfer import spreadsheet_cell

if TYPE_CHECKING:
    from services import Services

ARCHIVE_TYPE = "application/zip"


PERSON_DATA = system_scope(EVERY_ORG, reason="a person's own data export, from every org")
"""Org-owned rows across organizations, for a person's export: each read filters them by the
user whose request (already permission-checked) recorded the work."""


def org_data(org_id: uuid.UUID) -> SystemScope:
    """The rows of one organization, for its export (its OWNER's request recorded the work)."""
    return system_scope(org_id, reason="an organization's export")


def plain(value: Any) -> Any:
    """A value as JSON has it: ids and times as strings, enums as their value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: plain(value) for key, value in row.items()} for row in rows]


# --- A user's own data ----------------------------------------------------------------------

Section = Callable[[User], Awaitable[Any]]


async def _account(user: User) -> dict[str, Any]:
    return plain({"id": user.id, "email": user.email, "name": user.name,
                  "emailVerified": user.email_verified, "createdAt": user.created_at,
                  "updatedAt": user.updated_at, "hasAvatar": user.avatar_key is not None,
                  "termsVersion": user.terms_version, "termsAcceptedAt": user.terms_accepted_at,
                  "ageCheckPassedAt": user.age_check_passed_at})


async def _sessions(user: User) -> list[dict[str, Any]]:
    return records(await Session.filter(user_id=user.id).order_by("created_at").values(
        "id", "created_at", "last_used_at", "expires_at", "revoked_at", "ip", "user_agent"))


async def _memberships(user: User) -> list[dict[str, Any]]:
    return records(await Membership.of_user(user.id).order_by("created_at").values(
        "role", joined_at="created_at", organization_id="organization__id",
        organization_name="organization__name", organization_slug="organization__slug"))


async def _invitations_sent(user: User) -> list[dict[str, Any]]:
    # The invitee's address is someone else's personal data: left out.
    return records(await PERSON_DATA.scoped(Invitation).filter(invited_by_id=user.id)
                   .order_by("created_at").values(
        "id", "role", "created_at", "expires_at", "accepted_at", "revoked_at",
        organization_slug="organization__slug"))


async def _invitations_received(user: User) -> list[dict[str, Any]]:
    # Addressed to an email, so theirs only once they proved the address is theirs. Who sent
    # them is someone else's personal data: left out.
    if not user.email_verified:
        return []
    return records(await PERSON_DATA.scoped(Invitation).filter(email=user.email)
                   .order_by("created_at").values(
        "id", "role", "created_at", "expires_at", "accepted_at", "revoked_at",
        organization_name="organization__name"))


async def _activity(user: User) -> list[dict[str, Any]]:
    # The summary may name leads or other people: the user gets what they did, where and when.
    return records(await PERSON_DATA.scoped(ActivityEvent).filter(actor_id=user.id)
                   .order_by("created_at").values(
        "id", "action", "target_type", "target_id", "created_at", "ip", "user_agent",
        organization_id="organization_id"))


async def _notes(user: User) -> list[dict[str, Any]]:
    # Read as models: bodies are encrypted (`values` would give the ciphertext).
    notes = await PERSON_DATA.scoped(Note).filter(author_id=user.id).order_by("created_at")
    return records([{"id": note.id, "lead_id": note.lead_id,
                     "organization_id": note.organization_id, "body": note.body,
                     "created_at": note.created_at, "edited_at": note.edited_at}
                    for note in notes])


async def _api_tokens(user: User) -> list[dict[str, Any]]:
    return records(await PERSON_DATA.scoped(ApiToken).filter(created_by_id=user.id)
                   .order_by("created_at").values(
        "id", "organization_id", "name", "prefix", "scopes", "created_at", "expires_at",
        "revoked_at", "last_used_at", "last_used_ip"))


async def _consents(user: User) -> list[dict[str, Any]]:
    return records(await Consent.filter(user_id=user.id).order_by("created_at").values(
        "kind", "granted", "policy_version", "created_at"))


async def _policy_acceptances(user: User) -> list[dict[str, Any]]:
    return records(await PolicyAcceptance.filter(user_id=user.id).order_by("created_at")
                   .values("version", accepted_at="created_at"))


async def _linked_identities(user: User) -> list[dict[str, Any]]:
    return records(await SocialIdentity.filter(user_id=user.id).order_by("created_at").values(
        "provider", "email", "created_at", "last_used_at"))


async def _oauth_apps(user: User) -> list[dict[str, Any]]:
    # The apps they registered; the orgs that authorised them are those orgs' data.
    return records(await OAuthApp.filter(owner_id=user.id).order_by("created_at").values(
        "id", "name", "client_id", "redirect_uris", "scopes", "created_at"))


async def _support_tickets(user: User) -> list[dict[str, Any]]:
    """The person's support tickets with every message (theirs and staff's answers, the staff
    member unnamed) and the list of attached files (name, type, size, SHA-256; the files
    themselves are downloaded from the ticket). Read as models: they are encrypted."""
    tickets = await SupportTicket.filter(requester_id=user.id).order_by("created_at", "id")
    if not tickets:
        return []
    ids = [ticket.id for ticket in tickets]
    messages: dict[uuid.UUID, list[dict[str, Any]]] = {ticket_id: [] for ticket_id in ids}
    files: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for attachment in await SupportAttachment.filter(ticket_id__in=ids).order_by(
            "message_id", "position"):
        files.setdefault(attachment.message_id, []).append({
            "id": attachment.id, "filename": attachment.filename,
            "contentType": attachment.content_type, "size": attachment.size,
            "sha256": attachment.sha256, "createdAt": attachment.created_at})
    for message in await SupportMessage.filter(ticket_id__in=ids).order_by("created_at", "id"):
        messages[message.ticket_id].append({
            "id": message.id, "fromStaff": message.from_staff,
            "fromSystem": message.from_system, "format": message.format,
            "body": message.body, "createdAt": message.created_at,
            "attachments": files.get(message.id, [])})
    return [plain({"id": ticket.id, "category": ticket.category, "subject": ticket.subject,
                   "status": ticket.status, "organizationId": ticket.organization_id,
                   "createdAt": ticket.created_at, "updatedAt": ticket.updated_at,
                   "resolvedAt": ticket.resolved_at, "dueAt": ticket.due_at,
                   "closedAt": ticket.closed_at, "messages": messages[ticket.id]})
            for ticket in tickets]


async def _requests(user: User) -> list[dict[str, Any]]:
    return records(await ScheduledWork.filter(user_id=user.id).order_by("created_at").values(
        "id", "kind", "status", "created_at", "due_at", "finished_at", "canceled_at"))


USER_SECTIONS: dict[str, Section] = {
    "account": _account,
    "sessions": _sessions,
    "memberships": _memberships,
    "invitationsSent": _invitations_sent,
    "invitationsReceived": _invitations_received,
    "activity": _activity,
    "notes": _notes,
    "apiTokensCreated": _api_tokens,
    "requests": _requests,
    "consents": _consents,
    "policyAcceptances": _policy_acceptances,
    "linkedIdentities": _linked_identities,
    "oauthAppsRegistered": _oauth_apps,
    "supportTickets": _support_tickets,
}
"""The sections of a user's export, in order: each returns JSON-ready data about the user."""


async def user_archive(user: User) -> bytes:
    data = {"exportedAt": datetime.now(UTC).isoformat(), "format": 1}
    for name, section in USER_SECTIONS.items():
        data[name] = await section(user)
    readme = ("Everything Relleks holds about your account, as JSON (data.json). Notes and "
              "activity are what you wrote and did; other people's personal data is left out.\n")
    return await asyncio.to_thread(_zip, {"data.json": _json(data), "README.txt": readme})


# --- An organization's data ----------------------------------------------------------------

Table = Callable[[uuid.UUID], Awaitable[list[dict[str, Any]]]]


def _org_rows(model: type[TenantModel], *columns: str, **named: str) -> Table:
    async def rows(org_id: uuid.UUID) -> list[dict[str, Any]]:
        query = org_data(org_id).scoped(model).order_by("created_at", "id")
        if issubclass(model, Encrypted) and not named:
            # Read as models: encrypted columns are decrypted there (`values` gives ciphertext).
            return records([{column: getattr(row, column) for column in columns}
                            for row in await query])
        return records(await query.values(*columns, **named))
    return rows


async def _organization(org_id: uuid.UUID) -> list[dict[str, Any]]:
    return records(await Organization.filter(id=org_id).values(
        "id", "name", "slug", "default_region", "created_at", "updated_at"))


async def _billing(org_id: uuid.UUID) -> list[dict[str, Any]]:
    return records(await org_data(org_id).scoped(BillingAccount).values(
        "stripe_customer_id", "subscription_plan", "interval", "status", "current_period_end",
        "cancel_at_period_end", "trial_ends_at"))


async def _privacy_requests(org_id: uuid.UUID) -> list[dict[str, Any]]:
    """Verified privacy requests (unverified ones never reached the organization)."""
    rows = await org_data(org_id).scoped(PrivacyRequest).exclude(
        status=PrivacyRequestStatus.PENDING_VERIFICATION).order_by("created_at", "id")
    return records([{column: getattr(row, column) for column in (
        "id", "email", "kind", "message", "status", "created_at", "verified_at", "due_at",
        "completed_at", "reject_reason", "overdue_notified_at")} for row in rows])


ORG_TABLES: dict[str, Table] = {
    "organization": _organization,
    "members": _org_rows(Membership, "role", joined_at="created_at", user_id="user__id",
                         name="user__name", email="user__email"),
    "invitations": _org_rows(Invitation, "id", "email", "role", "invited_by_id", "created_at",
                             "expires_at", "accepted_at", "revoked_at"),
    "leads": _org_rows(Lead, "id", "name", "email", "phone", "company", "title",
                       "address_line1", "address_line2", "address_city", "address_region",
                       "address_postal_code", "address_country", "status", "source",
                       "owner_id", "tags", "created_at", "updated_at"),
    "notes": _org_rows(Note, "id", "lead_id", "author_id", "body", "created_at", "edited_at"),
    "activity": _org_rows(ActivityEvent, "id", "actor_id", "api_token_id", "form_id", "action",
                          "target_type", "target_id", "summary", "ip", "user_agent",
                          "created_at"),
    "api_tokens": _org_rows(ApiToken, "id", "name", "prefix", "scopes", "created_by_id",
                            "created_at", "expires_at", "revoked_at", "last_used_at"),
    "billing": _billing,
    "invoices": _org_rows(Invoice, "id", "stripe_invoice_id", "number", "status",
                          "amount_due", "amount_paid", "currency", "created_at"),
    "oauth_grants": _org_rows(OAuthGrant, "id", "scopes", "created_by_id", "created_at",
                              "revoked_at", "last_used_at", app_name="app__name"),
    "lead_forms": _org_rows(LeadForm, "id", "public_id", "name", "fields_asked",
                            "allowed_origins", "consent_text", "consent_required",
                            "double_opt_in", "success_message", "redirect_url", "page_title",
                            "page_intro", "logo_url", "accent_color", "status",
                            "created_by_id", "created_at", "updated_at"),
    "form_submissions": _org_rows(FormSubmission, "id", "form_id", "status", "values",
                                  "signals", "origin", "user_agent", "ip_hash",
                                  "consent_given", "consent_text", "lead_id", "created_at",
                                  "confirmed_at", "decided_at"),
    "consent_receipts": _org_rows(ConsentReceipt, "id", "lead_id", "submission_id", "form_id",
                                  "form_name", "email", "consent_text", "consent_text_sha256",
                                  "consent_given", "policy_version", "submitted_at", "origin",
                                  "user_agent", "ip_hash", "confirmed_at", "confirm_ip_hash",
                                  "created_at"),
    "custom_domains": _org_rows(CustomDomain, "id", "hostname", "status", "created_by_id",
                                "created_at", "verified_at", "lapsed_at", "checked_at",
                                "verdict"),
    # AI generations: outputs and provenance, never the inputs (no prompt is stored, and the
    # draft's purpose is left out): nothing here feeds training (README, Privacy).
    "ai_generations": _org_rows(AiGeneration, "id", "lead_id", "requested_by_id", "feature",
                                "status", "output_text", "output_json", "error_code",
                                "provider", "model", "prompt_version", "input_hash",
                                "data_manifest", "input_tokens", "output_tokens",
                                "credits_charged", "latency_ms", "created_at", "finished_at"),
    "privacy_requests": _privacy_requests,
    # Tables of later domains join here as name -> async (org_id) -> rows.
}
"""The tables of an organization export: each becomes `<name>.json` and `<name>.csv`."""


async def org_archive(org_id: uuid.UUID) -> bytes:
    files: dict[str, str] = {}
    for name, table in ORG_TABLES.items():
        rows = await table(org_id)
        files[f"{name}.json"] = _json(rows)
        files[f"{name}.csv"] = _csv(rows)
    return await asyncio.to_thread(_zip, files)


# --- Archives --------------------------------------------------------------------------------

def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_cell(row.get(column)) for column in columns])
    return out.getvalue()


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def archive_key(work: ScheduledWork) -> str:
    """Deterministic per request, so a job run twice overwrites its own archive."""
    return archive_key_of(work.id)


async def _finish(services: Services, work: ScheduledWork, data: bytes, *, to: User,
                  organization_slug: str | None = None, stored: bool = False) -> dict[str, Any]:
    key = archive_key(work)
    if not stored:
        await services.storage.save(key, data, ARCHIVE_TYPE)
    token, token_hash = new_download_token()
    expires_at = datetime.now(UTC) + timedelta(hours=services.settings.export_ttl_hours)
    await services.mailer.send(messages.export_ready_mail(
        to=to.email, organization_slug=organization_slug, url=download_url(services, token),
        expires_at=expires_at))
    return {"archive_key": key, "archive_size": len(data), "download_token_hash": token_hash,
            "expires_at": expires_at}


async def build_user_export(services: Services, work: ScheduledWork) -> dict[str, Any]:
    user = await User.get_or_none(id=work.user_id)
    if user is None:  # the account was deleted meanwhile: nothing left to export
        return {}
    return await _finish(services, work, await user_archive(user), to=user)


async def build_org_export(services: Services, work: ScheduledWork) -> dict[str, Any]:
    assert work.kind is WorkKind.ORG_EXPORT and work.organization_id is not None
    user = await User.get_or_none(id=work.user_id)
    org = await Organization.get_or_none(id=work.organization_id)
    if user is None or org is None:
        return {}
    # What the archive holds must not outlive a deletion or erasure that commits while it is
    # built: those delete the org's archives once they commit (`forget_org_exports`), so the
    # archive is stored first and then checked against what committed meanwhile.
    key = archive_key(work)
    for _ in range(REBUILDS):
        erasures = await _erasures(org.id)
        data = await org_archive(org.id)
        await services.storage.save(key, data, ARCHIVE_TYPE)
        if not await Organization.exists(id=org.id):
            await services.storage.delete(key)
            return {}
        if await _erasures(org.id) == erasures:
            return await _finish(services, work, data, to=user, organization_slug=org.slug,
                                 stored=True)
    await services.storage.delete(key)
    raise RuntimeError("people kept being erased from the organization while it was exported")


REBUILDS = 3


async def _erasures(org_id: uuid.UUID) -> set[uuid.UUID]:
    """The organization's recent erasures (no transaction lasts an hour): one committed since
    this was last read may be missing from an archive read meanwhile."""
    since = datetime.now(UTC) - timedelta(hours=1)
    return set(cast("list[uuid.UUID]", await org_data(org_id).scoped(ActivityEvent).filter(
        action=ERASED, created_at__gte=since).values_list("id", flat=True)))
