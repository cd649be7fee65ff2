"""Usage analytics (docs/usage.md): `organization.usage(from, to)` reads the daily aggregates of
requests (`models/usage.py`, written by `services/usage.py`) and the client events; and
`recordClientEvents` stores the page views and client errors a person's own client reports,
without the person, their IP address or the page's query string."""

from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tortoise.functions import Count

from core.errors import BadUserInput, at_most
from core.validation import validate
from engine.context import Context
from models.oauth import OAuthApp
from models.tokens import ApiToken
from models.usage import (
    ClientEvent,
    ClientEventKind,
    ClientKind,
    DeviceClass,
    UsageDay,
    UsageOperationDay,
)

MAX_DAYS = 92
"""The longest range `organization.usage` covers, in days (both ends included)."""
MAX_CLIENTS = 100
"""Clients (people, tokens, apps) listed, most requests first."""
TOP = 10
"""Top operations and top pages listed."""
MAX_EVENTS = 50
"""Client events per `recordClientEvents` call."""
MAX_PAGE = 200
MAX_LABEL = 32
PAST_SKEW = datetime.timedelta(hours=24)
"""How old an event's timestamp may be (a client offline for a while sends late)."""
FUTURE_SKEW = datetime.timedelta(minutes=5)
"""How far ahead of our clock an event's timestamp may be (a client's clock drifts)."""
LABEL = re.compile(r"^[A-Za-z0-9 ._+-]*$")


@dataclass
class KindTotals:
    kind: ClientKind
    requests: int = 0
    errors: int = 0
    cost: int = 0


@dataclass
class DayTotals:
    day: datetime.date
    requests: int = 0
    errors: int = 0
    cost: int = 0
    by_kind: dict[ClientKind, KindTotals] = field(default_factory=dict)
    page_views: int = 0
    client_errors: int = 0


@dataclass
class ClientTotals:
    kind: ClientKind
    client_id: str
    name: str | None
    requests: int = 0
    errors: int = 0
    cost: int = 0


@dataclass
class NamedCount:
    name: str
    requests: int
    errors: int = 0


@dataclass
class OrgUsage:
    start: datetime.date
    end: datetime.date
    days: list[DayTotals]
    clients: list[ClientTotals]
    top_operations: list[NamedCount]
    top_pages: list[NamedCount]


def checked_range(start: datetime.date, end: datetime.date) -> None:
    """BAD_USER_INPUT unless `start` <= `end` and the range spans at most MAX_DAYS days."""
    if end < start:
        raise BadUserInput.field("to", "must not be before `from`")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadUserInput.field("to", f"the range spans at most {MAX_DAYS} days")


async def usage_of(ctx: Context, org_id: uuid.UUID, start: datetime.date,
                   end: datetime.date) -> OrgUsage:
    """The organization's usage from `start` to `end` (UTC days, both included)."""
    checked_range(start, end)
    days = {start + datetime.timedelta(days=n): DayTotals(start + datetime.timedelta(days=n))
            for n in range((end - start).days + 1)}
    clients: dict[tuple[ClientKind, str], ClientTotals] = {}
    rows = await ctx.access.scoped(UsageDay, org_id).filter(
        day__gte=start, day__lte=end).values_list(
        "day", "client_kind", "client_id", "requests", "errors", "cost")
    for day, kind, client_id, requests, errors, cost in rows:
        kind = ClientKind(kind)
        totals = days[day]
        totals.requests += requests
        totals.errors += errors
        totals.cost += cost
        by_kind = totals.by_kind.setdefault(kind, KindTotals(kind))
        by_kind.requests += requests
        by_kind.errors += errors
        by_kind.cost += cost
        client = clients.setdefault((kind, client_id), ClientTotals(kind, client_id, None))
        client.requests += requests
        client.errors += errors
        client.cost += cost
    await _name_clients(ctx, org_id, clients)
    operations: dict[str, NamedCount] = {}
    for name, requests, errors in await ctx.access.scoped(UsageOperationDay, org_id).filter(
            day__gte=start, day__lte=end).values_list("operation", "requests", "errors"):
        counted = operations.setdefault(name, NamedCount(name, 0))
        counted.requests += requests
        counted.errors += errors
    events = ctx.access.scoped(ClientEvent, org_id).filter(day__gte=start, day__lte=end)
    for day, kind, count in await events.annotate(n=Count("id")).group_by(
            "day", "kind").values_list("day", "kind", "n"):
        if kind == ClientEventKind.PAGE_VIEW:
            days[day].page_views += count
        else:
            days[day].client_errors += count
    pages = await events.filter(kind=ClientEventKind.PAGE_VIEW).annotate(
        n=Count("id")).group_by("page").order_by("-n", "page").limit(TOP).values_list(
        "page", "n")
    return OrgUsage(
        start=start, end=end, days=list(days.values()),
        clients=sorted(clients.values(),
                       key=lambda c: (-c.requests, c.kind, c.client_id))[:MAX_CLIENTS],
        top_operations=sorted(operations.values(),
                              key=lambda o: (-o.requests, o.name))[:TOP],
        top_pages=[NamedCount(page, count) for page, count in pages])


async def _name_clients(ctx: Context, org_id: uuid.UUID,
                        clients: dict[tuple[ClientKind, str], ClientTotals]) -> None:
    """Each token's and app's name (None once it is gone)."""
    token_ids = [uuid.UUID(c.client_id) for c in clients.values()
                 if c.kind is ClientKind.API_TOKEN]
    app_ids = [uuid.UUID(c.client_id) for c in clients.values()
               if c.kind is ClientKind.PARTNER_APP]
    names: dict[str, str] = {}
    if token_ids:
        names |= {str(i): n for i, n in await ctx.access.scoped(ApiToken, org_id).filter(
            id__in=token_ids).values_list("id", "name")}
    if app_ids:
        names |= {str(i): n for i, n in await OAuthApp.filter(id__in=app_ids).values_list(
            "id", "name")}
    for client in clients.values():
        client.name = names.get(client.client_id)


@dataclass
class ReportedEvent:
    """One event as a client reported it."""

    kind: ClientEventKind
    page: str
    device_class: DeviceClass
    browser: str
    app_version: str
    occurred_at: datetime.datetime


def page_path(page: str) -> str:
    """The path of `page` (a path or a URL): no scheme, host, query string or fragment."""
    return urlsplit(page.strip()).path


async def record_client_events(ctx: Context, org_id: uuid.UUID,
                               events: list[ReportedEvent]) -> int:
    """Store the events (at most MAX_EVENTS, each checked), after counting the call against
    the session's budget; returns how many were stored."""
    at_most("events", events, MAX_EVENTS)
    await ctx.services.limiter.hit_client_events(session_id=ctx.session.id)
    now = datetime.datetime.now(datetime.UTC)
    rows: list[ClientEvent] = []
    with validate() as check:
        for n, event in enumerate(events):
            where = f"events.{n}"
            path = page_path(event.page)
            check.require(f"{where}.page", path.startswith("/"),
                          "a path starting with `/` (or a URL): query strings are dropped")
            check.require(f"{where}.page", len(path) <= MAX_PAGE,
                          f"at most {MAX_PAGE} characters")
            for name, value in (("browser", event.browser), ("appVersion", event.app_version)):
                check.require(f"{where}.{name}", len(value) <= MAX_LABEL and
                              bool(LABEL.match(value)),
                              f"at most {MAX_LABEL} letters, digits, spaces and `._+-`")
            occurred = event.occurred_at
            if occurred.tzinfo is None:
                occurred = occurred.replace(tzinfo=datetime.UTC)
            check.require(f"{where}.occurredAt",
                          now - PAST_SKEW <= occurred <= now + FUTURE_SKEW,
                          "within the last 24 hours (and at most 5 minutes ahead)")
            rows.append(ClientEvent(
                organization_id=org_id, kind=event.kind, page=path[:MAX_PAGE],
                device_class=event.device_class, browser=event.browser,
                app_version=event.app_version, occurred_at=occurred,
                day=occurred.astimezone(datetime.UTC).date()))
    if rows:
        await ClientEvent.bulk_create(rows)
    return len(rows)
