"""Scheduled work: what the system has promised to do, recorded before any job is queued.

A row is written in the same transaction as the request that makes the promise (a data export,
an account or organization deletion). Jobs (`jobs/`) carry the work out and the periodic sweep
re-queues whatever is due and unfinished, so a lost job, a restart or a killed worker delays the
work but never drops it. The queue holds only row ids; this table is the source of truth.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields

from models.base import BaseModel


class WorkKind(StrEnum):
    """What a row promises."""

    USER_EXPORT = "user_export"
    ORG_EXPORT = "org_export"
    ACCOUNT_DELETION = "account_deletion"
    ORG_DELETION = "org_deletion"
    KEY_ROTATION = "key_rotation"
    """Re-encrypt an organization's data under its new ACTIVE key (`jobs/encryption.py`)."""

    @property
    def is_export(self) -> bool:
        return self in {WorkKind.USER_EXPORT, WorkKind.ORG_EXPORT}


class WorkStatus(StrEnum):
    """PENDING until a job finishes it (DONE), gives up (FAILED) or the person calls it off
    (CANCELED). RUNNING while a job holds it: the sweep re-queues a RUNNING row whose job went
    silent for longer than the lease (its worker died)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def open(self) -> bool:
        return self in {WorkStatus.PENDING, WorkStatus.RUNNING}


class ScheduledWork(BaseModel):
    """One promised piece of work. `user_id` and `organization_id` are plain ids, not foreign
    keys: the record of a deletion outlives the account or organization it deleted. It is not a
    tenant row for the same reason, and is read through `user_id` (the requester) or through an
    organization whose permission the field checked."""

    kind = fields.CharEnumField(WorkKind, max_length=24)
    status = fields.CharEnumField(WorkStatus, max_length=16, default=WorkStatus.PENDING)
    user_id = fields.UUIDField(null=True)
    """The person the work is for (the export's owner, the account to delete) or who asked."""
    organization_id = fields.UUIDField(null=True)
    """The organization the work is about (its export, its deletion)."""
    due_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    """How many times a job started on it, across retries and re-queues."""
    last_error = fields.TextField(null=True)
    dispatched_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    canceled_at = fields.DatetimeField(null=True)
    renewal_stopped = fields.BooleanField(default=False, db_default=False)
    """An organization's deletion stopped its Stripe subscription's renewal when it was asked for
    (so no new period is charged in the grace period); canceling the deletion resumes it."""
    archive_key = fields.CharField(max_length=255, null=True)
    """Where a finished export's ZIP is stored (`storage/`), until it expires."""
    archive_size = fields.IntField(null=True)
    download_token_hash = fields.CharField(max_length=64, null=True, unique=True)
    expires_at = fields.DatetimeField(null=True)
    """When a finished export's archive is deleted and its link stops working."""
    downloaded_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "scheduled_work"
        indexes = (("status", "due_at"), ("user_id", "kind"), ("organization_id", "kind"))
