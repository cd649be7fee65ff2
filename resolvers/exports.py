"""Data exports: a user's copy of their own data, an OWNER's copy of an organization's.

The request records the work (`scheduled_work`) and queues a job after the row is written; the
job (`jobs/exports.py`) builds the ZIP, stores it and mails a download link. A link works once
and until the export expires (EXPORT_TTL_HOURS); reading `downloadUrl` again gives a new link
and ends the previous one, so only the hash of the latest link is ever stored. That write is
made during a query, so it goes to `database.asyncpg_client.writer()`, not to the query's
read-only connection.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from auth.access import person_holds
from auth.permissions import Permission
from auth.tokens import hash_secret, new_secret
from database.asyncpg_client import writer
from engine.context import Context
from models.accounts import User
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from realtime.outbox import in_transaction
from resolvers.activity import record
from services import Services

OPEN = [WorkStatus.PENDING, WorkStatus.RUNNING]


async def request_data_export(ctx: Context) -> ScheduledWork:
    """An export of everything about the viewer; while one is being prepared, that one."""
    user = ctx.user
    existing = await ScheduledWork.filter(user_id=user.id, kind=WorkKind.USER_EXPORT,
                                          status__in=OPEN).first()
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    work = await ScheduledWork.create(kind=WorkKind.USER_EXPORT, user_id=user.id, due_at=now,
                                      dispatched_at=now)
    await ctx.services.jobs.defer(work.id)
    return work


async def export_organization(ctx: Context, org_id: uuid.UUID) -> ScheduledWork:
    """An export of all the organization's data for the OWNER asking."""
    user = ctx.user
    existing = await ScheduledWork.filter(user_id=user.id, organization_id=org_id,
                                          kind=WorkKind.ORG_EXPORT, status__in=OPEN).first()
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    async with in_transaction():
        work = await ScheduledWork.create(kind=WorkKind.ORG_EXPORT, user_id=user.id,
                                          organization_id=org_id, due_at=now, dispatched_at=now)
        await record(ctx, org_id, "organization.export_requested", target_type="organization",
                     target_id=org_id, summary={"export": str(work.id)})
    await ctx.services.jobs.defer(work.id)
    return work


def my_exports_query(ctx: Context) -> QuerySet[ScheduledWork]:
    """The viewer's exports, newest first (`me.dataExports` pages through it)."""
    return ScheduledWork.filter(
        user_id=ctx.user.id, kind__in=[WorkKind.USER_EXPORT, WorkKind.ORG_EXPORT],
    ).order_by("-created_at", "-id")


def downloadable(work: ScheduledWork, now: datetime) -> bool:
    return (work.status is WorkStatus.DONE and work.archive_key is not None
            and work.expires_at is not None and work.expires_at > now)


async def entitled(work: ScheduledWork) -> bool:
    """Whether the export's requester may still have its archive: their account still exists
    and, for an organization's export, the organization does too and they still hold
    `org:export` there (a removed, demoted or departed co-OWNER does not)."""
    if work.user_id is None or not await User.exists(id=work.user_id):
        return False
    if work.kind is WorkKind.USER_EXPORT:
        return True
    if work.kind is not WorkKind.ORG_EXPORT or work.organization_id is None:
        return False
    return await person_holds(work.user_id, work.organization_id, Permission.ORG_EXPORT)


async def fresh_download_url(ctx: Context, work: ScheduledWork) -> str | None:
    """A new single-use link to the archive (the previous link stops working), or None when
    there is nothing to download or the viewer is no longer `entitled` to it."""
    if work.user_id != ctx.user.id or not downloadable(work, datetime.now(UTC)):
        return None
    if not await entitled(work):
        return None
    token, token_hash = new_download_token()
    async with writer() as db:
        await ScheduledWork.filter(id=work.id).using_db(db).update(download_token_hash=token_hash)
    return download_url(ctx.services, token)


async def redeem_download(token: str) -> ScheduledWork | None:
    """The export a download token opens, spending the token; None if it opens nothing,
    including when its requester is no longer `entitled` to it (the link is a bearer token:
    the standing it was issued for is checked again on every use)."""
    now = datetime.now(UTC)
    token_hash = hash_secret(token)
    work = await ScheduledWork.filter(download_token_hash=token_hash).first()
    if work is None or not downloadable(work, now) or not await entitled(work):
        return None
    spent = await ScheduledWork.filter(id=work.id, download_token_hash=token_hash).update(
        download_token_hash=None, downloaded_at=now)
    return work if spent else None


TOKEN_PREFIX = "rlk_exp_"
ERASED = "data_subject.erased"
"""The activity event of a data subject's erasure (`resolvers.data_subjects`); an org export
being built checks for one (`jobs.exports`)."""


def archive_key_of(work_id: uuid.UUID) -> str:
    """Where an export's archive is stored: deterministic, so a retried job finds it."""
    return f"exports/{work_id}.zip"


async def forget_org_exports(services: Services, org_id: uuid.UUID,
                             made_before: datetime | None = None) -> int:
    """End the links of the organization's exports (those requested before `made_before`, or
    all) and delete their archives from storage; the number of archives there were.

    Archives are found by their deterministic key, not by `archive_key`, so that an archive
    whose job is still finishing is deleted too, and running this again (a retried job) finds
    what a failure left behind. Call it after the transaction that made them obsolete commits:
    a job that builds an export checks, once its archive is stored, that it is still wanted
    (`build_org_export`)."""
    exports = ScheduledWork.filter(organization_id=org_id, kind=WorkKind.ORG_EXPORT)
    if made_before is not None:
        exports = exports.filter(created_at__lt=made_before)
    rows = await exports.values_list("id", "archive_key")
    if not rows:
        return 0
    await ScheduledWork.filter(id__in=[work_id for work_id, _ in rows]).update(
        archive_key=None, download_token_hash=None)
    for work_id, _ in rows:
        await services.storage.delete(archive_key_of(work_id))
    return sum(1 for _, key in rows if key)


def download_url(services: Services, token: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/exports/{token}"


def new_download_token() -> tuple[str, str]:
    """A fresh single-use download token and its hash (only the hash is stored)."""
    token = new_secret(TOKEN_PREFIX)
    return token, hash_secret(token)
