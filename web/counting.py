"""Counting an operation in the usage analytics (`services/usage.py`, docs/usage.md), the same
way for a request over HTTP (`web/graphql_view.py`) and an operation started on a WebSocket
(`web/graphql_ws.py`).

    count_usage(context, "LeadList", failed=False, cost=12)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from engine.context import Context
from models.usage import ClientKind


def count_usage(context: Context, operation: str | None, *, failed: bool, cost: int) -> None:
    """Count one operation in memory: in its API token's or partner app's org, or in each org
    where a person's permission check passed (one that touched no org, like `me`, counts
    nowhere)."""
    viewer = context.viewer
    kind: ClientKind
    if viewer.token is not None:
        kind, client_id = ClientKind.API_TOKEN, str(viewer.token.id)
        orgs: Iterable[uuid.UUID] = (viewer.token.organization_id,)
    elif viewer.grant is not None:
        kind, client_id = ClientKind.PARTNER_APP, str(viewer.grant.app_id)
        orgs = (viewer.grant.organization_id,)
    elif viewer.user is not None and "access" in context.__dict__:
        kind, client_id, orgs = ClientKind.PERSON, "", context.access.checked_orgs
    else:
        return
    context.services.usage.record(orgs=orgs, kind=kind, client_id=client_id,
                                  operation=operation, failed=failed, cost=cost)
