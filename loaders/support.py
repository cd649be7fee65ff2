"""Batch loaders for the help center: a page of support messages' attachments in one
statement. Only reached through a ticket its viewer may read (`resolvers.support.ticket_for`,
`SupportTicket.resolve_nodes`, the requester's own list or staff's queue)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.loading import Loader
from models.support import SupportAttachment


class AttachmentsOfMessageLoader(Loader[uuid.UUID, list[SupportAttachment]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[SupportAttachment]]:
        found: dict[uuid.UUID, list[SupportAttachment]] = {key: [] for key in keys}
        for row in await SupportAttachment.filter(message_id__in=list(keys)) \
                .order_by("message_id", "position"):
            found[row.message_id].append(row)
        return [found[key] for key in keys]
