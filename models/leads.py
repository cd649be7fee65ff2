"""Leads and their notes: the personal data of people who never signed up to Relleks."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Self

from tortoise import fields
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from keystore.fields import BlindIndexField, Encrypted, EncryptedTextField
from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import Rows, TenantModel


class LeadStatus(StrEnum):
    """Where a lead stands in the sales pipeline."""

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"


class LeadSource(StrEnum):
    """How a lead arrived."""

    MANUAL = "manual"
    FORM = "form"
    API = "api"
    IMPORT = "import"


class Lead(Encrypted, TenantModel):
    """A prospect an organization works. Email is normalised, phone stored in E.164.

    Email, phone and address are encrypted under the org's data key (`keystore.fields`), and
    email and phone are found by exact value through their blind indexes (`email_bidx`,
    `phone_bidx`). Name and company stay plain text: they are searched by substring."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="leads", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    email = EncryptedTextField(null=True)
    phone = EncryptedTextField(null=True)
    email_bidx = BlindIndexField("email", "email")
    phone_bidx = BlindIndexField("phone", "phone")
    company = fields.CharField(max_length=200, null=True)
    title = fields.CharField(max_length=200, null=True)
    address_line1 = EncryptedTextField(null=True)
    address_line2 = EncryptedTextField(null=True)
    address_city = EncryptedTextField(null=True)
    address_region = EncryptedTextField(null=True)
    address_postal_code = EncryptedTextField(null=True)
    address_country = EncryptedTextField(null=True)
    status = fields.CharEnumField(LeadStatus, max_length=16, default=LeadStatus.NEW)
    source = fields.CharEnumField(LeadSource, max_length=16, default=LeadSource.MANUAL)
    owner: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="owned_leads", null=True, on_delete=fields.SET_NULL
    )
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    restricted = fields.BooleanField(default=False, db_default=False)
    """Processing restricted at the person's request (GDPR article 18): the lead stays stored
    but is left out of exports, of what API tokens and partner apps read, of import matches
    and of AI features."""
    restricted_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)
    owner_id: uuid.UUID | None

    class Meta:
        table = "leads"
        indexes = (
            ("organization_id", "created_at", "id"),
            ("organization_id", "updated_at", "id"),
            ("organization_id", "name", "id"),
            ("organization_id", "owner_id"),
            ("organization_id", "email_bidx"),
            ("organization_id", "phone_bidx"),
        )

    restricted_flag = "restricted"

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        return query.filter(restricted=False)


class LeadTag(TenantModel):
    """One tag of one lead, kept beside `Lead.tags` so tag filters are plain indexed joins on
    both databases (JSON containment differs between SQLite and PostgreSQL)."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="lead_tags", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "relleks.Lead", related_name="tag_rows", on_delete=fields.CASCADE
    )
    tag = fields.CharField(max_length=50)
    lead_id: uuid.UUID

    class Meta:
        table = "lead_tags"
        unique_together = (("lead", "tag"),)
        indexes = (("organization_id", "tag"),)


class Note(Encrypted, TenantModel):
    """A note on a lead, newest first. Its body is encrypted under the org's data key."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="notes", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "relleks.Lead", related_name="notes", on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="notes", null=True, on_delete=fields.SET_NULL
    )
    body = EncryptedTextField()
    edited_at = fields.DatetimeField(null=True)
    lead_id: uuid.UUID
    author_id: uuid.UUID | None

    class Meta:
        table = "notes"
        indexes = (("lead_id", "created_at", "id"),)

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        """Notes of restricted leads left out (a subquery, not a join: it deletes too)."""
        return query.filter(lead_id__not_in=Subquery(
            rows(Lead).filter(restricted=True).values("id")))



