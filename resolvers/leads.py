"""Leads: validation, writes with their activity events, and the filtered, ordered list.

A lead holds personal data of someone who never signed up: every value is validated and
normalised on the way in, and activity events record which fields changed, never their values.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from billing.limits import ensure_within_limit
from core.errors import Conflict
from core.validation import Checks, without_invisible
from engine.context import Context
from engine.keyset import Order
from keystore.fields import blind_index
from models.leads import Lead, LeadSource, LeadStatus, LeadTag
from models.orgs import Membership, Organization
from realtime.outbox import in_transaction
from resolvers.activity import record

TEXT_LIMITS = {
    "name": 200, "company": 200, "title": 200, "address_line1": 200, "address_line2": 200,
    "address_city": 100, "address_region": 100, "address_postal_code": 20,
}
MAX_TAGS, TAG_MAX = 20, 50
ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")
ORDERS = {
    "created_at": Order("created_at", descending=True, is_datetime=True),
    "updated_at": Order("updated_at", descending=True, is_datetime=True),
    "name": Order("name", descending=False),
}
UNSET: Any = object()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _input_name(column: str) -> str:
    """The GraphQL input path of a column, for error messages: `address.postalCode`."""
    if column.startswith("address_"):
        return f"address.{_camel(column.removeprefix('address_'))}"
    return _camel(column)


@dataclass
class LeadChanges:
    """Validated values to write (columns; absent fields are not in `values`), and the problems
    found, by input path (`address.postalCode`)."""

    values: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    check: Checks = field(default_factory=Checks)

    @property
    def problems(self) -> dict[str, str]:
        return self.check.problems


def validate(org: Organization, data: dict[str, Any], *, creating: bool) -> LeadChanges:
    """Validate the given fields (a field absent from `data` is left alone) and collect every
    problem at once, so a client fixes all fields in one round trip."""
    changes = LeadChanges()
    check, values = changes.check, changes.values
    if creating or "name" in data:
        if check.not_null("name", data.get("name")) is not None:
            values["name"] = check.name("name", data["name"], max_length=TEXT_LIMITS["name"])
    for column in ("company", "title"):
        if column in data:
            values[column] = check.text(column, data[column], max_length=TEXT_LIMITS[column])
    if "email" in data:
        values["email"] = check.optional_email("email", data["email"])
    if "phone" in data:
        values["phone"] = check.phone("phone", data["phone"], region=org.default_region)
    if "address" in data:
        address = data["address"] or {}
        for part in ADDRESS_FIELDS:
            column = f"address_{part}"
            if part == "country":
                values[column] = check.country("address.country", address.get(part))
            else:
                values[column] = check.text(_input_name(column), address.get(part),
                                            max_length=TEXT_LIMITS[column])
    if "status" in data:
        if check.not_null("status", data["status"]) is not None:
            values["status"] = LeadStatus(data["status"])
    if "tags" in data:
        changes.tags = check.tags("tags", data["tags"] or [], max_tags=MAX_TAGS,
                                  max_length=TAG_MAX)
    return changes


async def _check_owner(ctx: Context, org_id: uuid.UUID, owner_id: uuid.UUID | None,
                       changes: LeadChanges) -> None:
    if owner_id is None:
        changes.values["owner_id"] = None
        return
    is_member = await ctx.access.scoped(Membership, org_id).filter(user_id=owner_id).exists()
    if not is_member:
        changes.problems["ownerId"] = "is not a member of this organization"
    changes.values["owner_id"] = owner_id


def _raise_problems(changes: LeadChanges) -> None:
    changes.check.raise_problems()


async def _set_tags(ctx: Context, org_id: uuid.UUID, lead: Lead, tags: list[str]) -> None:
    await ctx.access.scoped(LeadTag, org_id).filter(lead_id=lead.id).delete()
    if tags:
        await LeadTag.bulk_create([LeadTag(organization_id=org_id, lead_id=lead.id, tag=t)
                                   for t in tags])


async def create_lead(ctx: Context, org_id: uuid.UUID, data: dict[str, Any], *,
                      owner_id: uuid.UUID | None, source: LeadSource | None = None) -> Lead:
    """`source` unset: API when an API token or a partner app's OAuth token acts, MANUAL for a
    person."""
    if source is None:
        source = LeadSource.API if ctx.viewer.credential is not None else LeadSource.MANUAL
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None  # the field's permission check found it
    changes = validate(org, data, creating=True)
    await _check_owner(ctx, org_id, owner_id, changes)
    _raise_problems(changes)
    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "leads", adding=1)
        lead = await insert_lead(org_id, changes.values, tags=changes.tags or [], source=source,
                                 log=lambda *args, **kw: record(ctx, org_id, *args, **kw))
    return lead


EventWriter = Callable[..., Awaitable[Any]]
"""Writes one activity event of the org in the current transaction: `record` bound to the
request's context, or `write_event` bound to the actor of work that has no request (a public
form submission names its form)."""


async def insert_lead(org_id: uuid.UUID, values: dict[str, Any], *, tags: list[str],
                      source: LeadSource, log: EventWriter) -> Lead:
    """Write a validated lead, its tags and its `lead.created` event (which subscribers of
    `leadEvents` hear of once committed). Call it inside `realtime.outbox.in_transaction()`,
    after `ensure_within_limit`: `create_lead` does, and so does a form submission."""
    lead = await Lead.create(organization_id=org_id, source=source, tags=tags, **values)
    if tags:
        await LeadTag.bulk_create([LeadTag(organization_id=org_id, lead_id=lead.id, tag=t)
                                   for t in tags])
    await log("lead.created", target_type="lead", target_id=lead.id,
              summary={"source": source.value})
    return lead


PROCESSING_RESTRICTED = (
    "Processing of this lead is restricted at the person's request: it can be read or deleted, "
    "not changed. Lift the restriction (`restrictProcessing`) first.")


def refuse_if_restricted(restricted: bool) -> None:
    """Changing a lead, its owner or its notes is processing, which a restriction (GDPR article
    18) stops until it is lifted; reading it (to honour the restriction) and erasing it stay
    allowed."""
    if restricted:
        raise Conflict(PROCESSING_RESTRICTED, reason="PROCESSING_RESTRICTED")


async def get_lead(ctx: Context, lead_id: uuid.UUID) -> Lead:
    """A lead whose org passed its permission check in this request, or NOT_FOUND (also for
    a restricted lead asked for by an API token or partner app: the tenant scope hides it)."""
    return await ctx.row(Lead, lead_id, what="lead")


async def update_lead(ctx: Context, lead_id: uuid.UUID, data: dict[str, Any], *,
                      owner_id: uuid.UUID | None = UNSET) -> Lead:
    lead = await get_lead(ctx, lead_id)
    refuse_if_restricted(lead.restricted)
    org = await ctx.loaders.organization.load(lead.organization_id)
    assert org is not None
    changes = validate(org, data, creating=False)
    if owner_id is not UNSET:
        await _check_owner(ctx, lead.organization_id, owner_id, changes)
    _raise_problems(changes)
    changed = [column for column, value in changes.values.items()
               if getattr(lead, column) != value]
    tags_changed = changes.tags is not None and changes.tags != lead.tags
    if not changed and not tags_changed:
        return lead
    previous_status, previous_owner = lead.status, lead.owner_id
    for column in changed:
        setattr(lead, column, changes.values[column])
    if tags_changed:
        lead.tags = changes.tags or []
    async with in_transaction():
        await lead.save(update_fields=[*changed, *(["tags"] if tags_changed else []),
                                       "updated_at"])
        if tags_changed:
            await _set_tags(ctx, lead.organization_id, lead, changes.tags or [])
        fields_changed = sorted({_input_name(c).split(".")[0] for c in changed}
                                | ({"tags"} if tags_changed else set()))
        await record(ctx, lead.organization_id, "lead.updated", target_type="lead",
                     target_id=lead.id, summary={"fields": fields_changed})
        if "status" in changed:
            await record(ctx, lead.organization_id, "lead.status_changed", target_type="lead",
                         target_id=lead.id,
                         summary={"status": [previous_status.value, lead.status.value]})
        if "owner_id" in changed:
            await record(ctx, lead.organization_id, "lead.assigned", target_type="lead",
                         target_id=lead.id, summary={
                             "owner": [str(previous_owner) if previous_owner else None,
                                       str(lead.owner_id) if lead.owner_id else None]})
    return lead


async def delete_lead(ctx: Context, lead_id: uuid.UUID) -> uuid.UUID:
    lead = await get_lead(ctx, lead_id)
    async with in_transaction():
        await ctx.access.scoped(Lead, lead.organization_id).filter(id=lead.id).delete()
        await record(ctx, lead.organization_id, "lead.deleted", target_type="lead",
                     target_id=lead.id, extra={
                         "ownerId": str(lead.owner_id) if lead.owner_id else None,
                         "restricted": lead.restricted})
    return lead.id


@dataclass
class LeadFilter:
    status: list[LeadStatus] | None = None
    owner_id: uuid.UUID | None = None
    source: list[LeadSource] | None = None
    tags: list[str] | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def leads_query(ctx: Context, org_id: uuid.UUID, flt: LeadFilter | None = None
                      ) -> QuerySet[Lead]:
    query = ctx.access.scoped(Lead, org_id)
    if flt is None:
        return query
    if flt.status:
        query = query.filter(status__in=flt.status)
    if flt.source:
        query = query.filter(source__in=flt.source)
    if flt.owner_id:
        query = query.filter(owner_id=flt.owner_id)
    if flt.created_after:
        query = query.filter(created_at__gte=flt.created_after)
    if flt.created_before:
        query = query.filter(created_at__lt=flt.created_before)
    # No stored value holds a control character (they are refused on the way in), and
    # PostgreSQL refuses NUL in a parameter: drop them rather than fail.
    tags = {" ".join(without_invisible(t).split()).lower() for t in flt.tags or []}
    tags.discard("")
    if tags:
        # Leads having all the tags: one subquery however many (a lead has each tag once), not
        # one nested condition per tag.
        having_all = (ctx.access.scoped(LeadTag, org_id).filter(tag__in=sorted(tags))
                      .group_by("lead_id")
                      .annotate(matched=Count("id")).filter(matched=len(tags))
                      .values("lead_id"))
        query = query.filter(id__in=Subquery(having_all))
    term = " ".join(without_invisible(flt.search or "").split())[:100]
    if term:
        # Name and company are plain text, searched by substring; email and phone are
        # encrypted, found by exact value through their blind indexes (docs/encryption.md).
        found = Q(name__icontains=term) | Q(company__icontains=term)
        email = await blind_index(org_id, "email", term)
        if email is not None and "@" in term:
            found |= Q(email_bidx=email)
        phone = "".join(term.split())
        if phone.startswith("+") and phone[1:].isdigit():
            found |= Q(phone_bidx=await blind_index(org_id, "phone", phone))
        query = query.filter(found)
    return query


