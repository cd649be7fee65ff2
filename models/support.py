"""The help center: support tickets and their messages, Relleks staff, and the time-bound read
access an organization's OWNER grants staff from a ticket (with every read made under it).

A ticket belongs to the person who opened it (and, optionally, names one of their
organizations): it is not org-owned, so it is no `TenantModel`. A support access grant and its
reads are the organization's own records: they are. docs/support.md describes the whole.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

from tortoise import fields

from keystore.fields import Encrypted, EncryptedTextField
from models.accounts import User
from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import TenantModel


class TicketCategory(StrEnum):
    """What a ticket is about: a question, a bug, billing, or one of the data rights."""

    QUESTION = "question"
    BUG = "bug"
    BILLING = "billing"
    ACCESS = "access"
    CORRECTION = "correction"
    DELETION = "deletion"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"


class TicketStatus(StrEnum):
    """Where a ticket stands: who is to answer next, or RESOLVED."""

    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    WAITING_ON_SUPPORT = "waiting_on_support"
    RESOLVED = "resolved"


DATA_RIGHTS = frozenset({TicketCategory.ACCESS, TicketCategory.CORRECTION, TicketCategory.DELETION,
                         TicketCategory.RESTRICTION, TicketCategory.OBJECTION,
                         TicketCategory.PORTABILITY})
"""The categories that are a data right: their tickets carry a legal deadline (`due_at`)."""

RIGHTS_WINDOW = timedelta(days=30)
"""How long Relleks has to answer a data-rights request: one month from its receipt (GDPR
article 12(3)), counted as 30 days from the ticket's opening."""


class TicketWorkKind(StrEnum):
    """The work a data-rights ticket proposes: the export, the account deletion, withdrawing
    every optional consent, or an answer by staff (nothing runs by itself)."""

    PERSONAL_EXPORT = "personal_export"
    ACCOUNT_DELETION = "account_deletion"
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    STAFF_ANSWER = "staff_answer"


WORK_OF_CATEGORY = {
    TicketCategory.ACCESS: TicketWorkKind.PERSONAL_EXPORT,
    TicketCategory.PORTABILITY: TicketWorkKind.PERSONAL_EXPORT,
    TicketCategory.DELETION: TicketWorkKind.ACCOUNT_DELETION,
    TicketCategory.RESTRICTION: TicketWorkKind.CONSENT_WITHDRAWAL,
    TicketCategory.OBJECTION: TicketWorkKind.CONSENT_WITHDRAWAL,
    TicketCategory.CORRECTION: TicketWorkKind.STAFF_ANSWER,
}
"""What each data right runs once its requester confirms (docs/support.md says why)."""


class MessageFormat(StrEnum):
    """How a message's body is written: plain text, or Markdown (rendered, then sanitised)."""

    PLAIN = "plain"
    MARKDOWN = "markdown"


class StaffMember(BaseModel):
    """A Relleks staff member: a user who may read and answer every support ticket. Given and
    taken by the command-line tool `python -m scripts.staff`, never through the API. The role
    alone shows no tenant data."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "relleks.User", related_name="staff_role", on_delete=fields.CASCADE
    )
    user_id: uuid.UUID

    class Meta:
        table = "staff_members"


class SupportTicket(Encrypted, BaseModel):
    """A request for help: its requester, optionally one of their organizations, its category,
    subject and status. Its messages are `SupportMessage` rows. The subject is encrypted under
    the requester's own key (`key_owner_field`), as are the messages and attachments."""

    key_owner_field = "requester_id"

    requester: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="support_tickets", on_delete=fields.CASCADE
    )
    requester_id: uuid.UUID
    organization: fields.ForeignKeyNullableRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="support_tickets", null=True,
        on_delete=fields.SET_NULL
    )
    organization_id: uuid.UUID | None
    category = fields.CharEnumField(TicketCategory, max_length=16)
    subject = EncryptedTextField()
    resolved_at = fields.DatetimeField(null=True)
    """When it was last set RESOLVED (null while not resolved): retention counts from it."""
    status = fields.CharEnumField(TicketStatus, max_length=24, default=TicketStatus.OPEN)
    message_count = fields.IntField(default=0)
    last_message_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)
    due_at = fields.DatetimeField(null=True)
    """A data-rights ticket's legal deadline (`RIGHTS_WINDOW` after it was opened); null for
    the other categories."""
    confirmed_at = fields.DatetimeField(null=True)
    """When the requester confirmed the proposed work (`confirmTicketWork`); null before."""
    work_id = fields.UUIDField(null=True)
    """The `scheduled_work` row carrying the confirmed work out (an export, a deletion): a
    plain id, as that record outlives what it is about. Its state is read from there."""
    closed_at = fields.DatetimeField(null=True)
    """When the ticket's data-rights work was done (or staff resolved it): the request's
    completion. Null while it is open, and again once it reopens."""

    class Meta:
        table = "support_tickets"
        indexes = (("requester_id", "created_at", "id"), ("status", "updated_at", "id"),
                   ("due_at", "updated_at", "id"), ("work_id",))

    @property
    def is_data_right(self) -> bool:
        return self.category in DATA_RIGHTS

    @property
    def work_kind(self) -> TicketWorkKind | None:
        return WORK_OF_CATEGORY.get(self.category)


class SupportMessage(Encrypted, BaseModel):
    """One message of a ticket, by its requester or by staff: the body as written and, for
    Markdown, the HTML it renders to after sanitising (plain text is escaped). Both are
    encrypted under the key of the ticket's requester (`requester_id`, copied here so a row
    decrypts without its ticket)."""

    key_owner_field = "requester_id"

    ticket: fields.ForeignKeyRelation[SupportTicket] = fields.ForeignKeyField(
        "relleks.SupportTicket", related_name="messages", on_delete=fields.CASCADE
    )
    ticket_id: uuid.UUID
    author: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="support_messages", null=True, on_delete=fields.SET_NULL
    )
    author_id: uuid.UUID | None
    requester_id = fields.UUIDField(null=True)
    """The ticket's requester, whose key encrypts the row (null on rows from before
    encryption, which are plain text until `jobs.encryption.encrypt_support` saves them)."""
    from_staff = fields.BooleanField(default=False)
    from_system = fields.BooleanField(default=False, db_default=False)
    """Written by Relleks itself: what a data-rights ticket's work did (no author)."""
    format = fields.CharEnumField(MessageFormat, max_length=16, default=MessageFormat.PLAIN)
    body = EncryptedTextField()
    body_html = EncryptedTextField()

    class Meta:
        table = "support_messages"
        indexes = (("ticket_id", "created_at", "id"),)


class SupportAttachment(Encrypted, BaseModel):
    """A file attached to a support message: its name as sent (encrypted), the type sniffed
    from its bytes, its size, and where its bytes are stored, encrypted under the requester's
    key (`resolvers.support_attachments`)."""

    key_owner_field = "requester_id"

    message: fields.ForeignKeyRelation[SupportMessage] = fields.ForeignKeyField(
        "relleks.SupportMessage", related_name="attachments", on_delete=fields.CASCADE
    )
    message_id: uuid.UUID
    ticket: fields.ForeignKeyRelation[SupportTicket] = fields.ForeignKeyField(
        "relleks.SupportTicket", related_name="attachments", on_delete=fields.CASCADE
    )
    ticket_id: uuid.UUID
    requester_id = fields.UUIDField()
    """The ticket's requester: whose key encrypts the name and the stored bytes."""
    filename = EncryptedTextField()
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    position = fields.SmallIntField(default=0)
    """Its place among the message's attachments, from 0, in the order they were sent."""
    storage_key = fields.CharField(max_length=200, unique=True)

    class Meta:
        table = "support_attachments"
        indexes = (("message_id", "position"), ("ticket_id",))


class SupportAccessGrant(TenantModel):
    """Read access to an organization that its OWNER gave Relleks staff from a ticket, until
    `expires_at` or until revoked. While live, staff read the org as a VIEWER would, and every
    read is a `SupportAccessRead`."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="support_access_grants", on_delete=fields.CASCADE
    )
    ticket: fields.ForeignKeyRelation[SupportTicket] = fields.ForeignKeyField(
        "relleks.SupportTicket", related_name="access_grants", on_delete=fields.CASCADE
    )
    ticket_id: uuid.UUID
    granted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="support_grants_given", null=True,
        on_delete=fields.SET_NULL
    )
    granted_by_id: uuid.UUID | None
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="support_grants_revoked", null=True,
        on_delete=fields.SET_NULL
    )
    revoked_by_id: uuid.UUID | None

    class Meta:
        table = "support_access_grants"
        indexes = (("organization_id", "expires_at"),)


class SupportAccessRead(TenantModel):
    """One read a staff member made under a grant: which field (`Type.field`) at which path of
    the query, when, and who."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="support_access_reads", on_delete=fields.CASCADE
    )
    grant: fields.ForeignKeyRelation[SupportAccessGrant] = fields.ForeignKeyField(
        "relleks.SupportAccessGrant", related_name="reads", on_delete=fields.CASCADE
    )
    grant_id: uuid.UUID
    staff_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="support_reads", null=True, on_delete=fields.SET_NULL
    )
    staff_user_id: uuid.UUID | None
    field = fields.CharField(max_length=200)
    path = fields.CharField(max_length=500)
    operation = fields.CharField(max_length=100, default="")

    class Meta:
        table = "support_access_reads"
        indexes = (("grant_id", "created_at", "id"),)
