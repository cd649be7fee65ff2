"""Rotating an organization's data key (`rotateOrganizationKey`, docs/encryption.md).

A new ACTIVE key is made at once and the old one RETIRED (it still decrypts); the org's data is
re-encrypted under the new key by a job (`WorkKind.KEY_ROTATION`, `jobs/encryption.py`). One
rotation at a time: another is refused (CONFLICT) while the previous re-encryption is open.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.errors import Conflict
from engine.context import Context
from keystore import keys
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from realtime.outbox import in_transaction
from resolvers.activity import record

OPEN = (WorkStatus.PENDING, WorkStatus.RUNNING)


async def rotate_organization_key(ctx: Context, org_id: uuid.UUID) -> tuple[int, ScheduledWork]:
    """The new key's version, and the work re-encrypting the org's data under it."""
    if await ScheduledWork.filter(organization_id=org_id, kind=WorkKind.KEY_ROTATION,
                                  status__in=OPEN).exists():
        raise Conflict("The previous key rotation is still re-encrypting this organization's "
                       "data: try again once it is done.")
    await ctx.services.limiter.hit_key_rotation(org_id=org_id)
    version = await keys.rotate(org_id)
    now = datetime.now(UTC)
    async with in_transaction():
        work = await ScheduledWork.create(kind=WorkKind.KEY_ROTATION, organization_id=org_id,
                                          user_id=ctx.user.id, due_at=now, dispatched_at=now)
        await record(ctx, org_id, "organization.key_rotated", target_type="organization",
                     target_id=org_id, summary={"keyVersion": version})
    await ctx.services.jobs.defer(work.id)
    return version, work
