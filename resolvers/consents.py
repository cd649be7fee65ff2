"""Consents: the viewer's current choices, changing one, and the dated history behind them.

A consent never set counts as withheld (`granted` false, `changed_at` null), so everything a
consent guards is opt-in. Code that would use data for a purpose a consent names asks
`has_consent` first (no AI training runs yet: the record is in place for when one does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from engine.context import Context
from models.consents import Consent, ConsentKind


@dataclass(frozen=True)
class ConsentState:
    """One kind's current state; `changed_at` is None while the user never chose."""

    kind: ConsentKind
    granted: bool
    changed_at: datetime | None
    policy_version: str | None


def history_query(user_id: uuid.UUID) -> QuerySet[Consent]:
    """Every change of the user's consents, newest first."""
    return Consent.filter(user_id=user_id).order_by("-created_at", "-id")


async def current_consents(user_id: uuid.UUID) -> list[ConsentState]:
    """The state of every kind, in declaration order: the latest row of each (one query)."""
    latest: dict[ConsentKind, Consent] = {}
    for row in await history_query(user_id):
        latest.setdefault(row.kind, row)
    states = []
    for kind in ConsentKind:
        last = latest.get(kind)
        states.append(ConsentState(kind, last.granted, last.created_at, last.policy_version)
                      if last else ConsentState(kind, False, None, None))
    return states


async def has_consent(user_id: uuid.UUID, kind: ConsentKind) -> bool:
    """Whether the user's latest choice for `kind` is to grant it (never chosen: no)."""
    row = await history_query(user_id).filter(kind=kind).first()
    return bool(row and row.granted)


async def set_consent(ctx: Context, kind: ConsentKind, granted: bool) -> ConsentState:
    """Grant or withdraw one consent. A change adds a dated row, under the policy version in
    force; asking for the state it already has adds nothing."""
    user = ctx.user
    row = await history_query(user.id).filter(kind=kind).first()
    if row is not None and row.granted == granted:
        return ConsentState(kind, row.granted, row.created_at, row.policy_version)
    row = await Consent.create(user_id=user.id, kind=kind, granted=granted,
                               policy_version=ctx.services.settings.terms_version)
    return ConsentState(kind, row.granted, row.created_at, row.policy_version)
