"""Usage analytics in the API: `Organization.usage(from, to)` (`OrganizationUsageFields`,
`usage:read`, ADMIN+ and tokens given the scope) and `recordClientEvents`, by which a signed-in
person's own client reports page views and client errors (never an API token or a partner
app). docs/usage.md describes what is counted and how long it is kept.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Info, decode_id, described_enum
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    org_from_source,
    requires,
)
from models import orgs as org_models
from models import usage as models
from resolvers import usage as resolvers

described_enum(
    models.ClientKind, name="UsageClientKind",
    description="Who sent requests.",
    values={
        models.ClientKind.PERSON: "People signed in (all together).",
        models.ClientKind.API_TOKEN: "An API token of the organization.",
        models.ClientKind.PARTNER_APP: "A partner app the organization authorized (OAuth).",
    })
described_enum(
    models.ClientEventKind, name="ClientEventKind",
    description="What a first-party client reports.",
    values={
        models.ClientEventKind.PAGE_VIEW: "A page was shown.",
        models.ClientEventKind.CLIENT_ERROR: "The client hit an error on a page (no message "
                                             "is stored).",
    })
described_enum(
    models.DeviceClass, name="DeviceClass",
    description="The kind of device a client runs on.",
    values={
        models.DeviceClass.DESKTOP: "A desktop or laptop computer.",
        models.DeviceClass.MOBILE: "A phone.",
        models.DeviceClass.TABLET: "A tablet.",
        models.DeviceClass.OTHER: "Anything else.",
    })


@strawberry.type(description="Requests of one kind of client on one day.")
class UsageKindTotals:
    kind: models.ClientKind = strawberry.field(description="The kind of client.")
    requests: int = strawberry.field(description="Requests counted.")
    errors: int = strawberry.field(description="Requests that answered with an error.")
    cost: int = strawberry.field(description="Query cost spent.")


@strawberry.type(description="One UTC day of an organization's usage.")
class UsageDayTotals:
    day: datetime.date = strawberry.field(description="The UTC day.")
    requests: int = strawberry.field(description="Requests counted.")
    errors: int = strawberry.field(description="Requests that answered with an error.")
    cost: int = strawberry.field(description="Query cost spent.")
    by_kind: list[UsageKindTotals] = strawberry.field(
        description="The same split by kind of client (kinds without requests left out).")
    page_views: int = strawberry.field(description="Page views reported by the "
                                                   "organization's people's apps.")
    client_errors: int = strawberry.field(description="Client errors reported by them.")


@strawberry.type(description="Usage of one client over the range: people together, or one "
                             "API token or partner app.")
class UsageClient:
    kind: models.ClientKind = strawberry.field(description="The kind of client.")
    client_id: str | None = strawberry.field(
        description="The API token's or partner app's global id; null for people.")
    name: str | None = strawberry.field(
        description="The token's or app's name; null for people, or once it is gone.")
    requests: int = strawberry.field(description="Requests counted.")
    errors: int = strawberry.field(description="Requests that answered with an error.")
    cost: int = strawberry.field(description="Query cost spent.")


@strawberry.type(description="A name and how often it was counted.")
class UsageCount:
    name: str = strawberry.field(description="An operation name (`(anonymous)` for none, "
                                             "`other` past 50 names a day), or a page's path.")
    count: int = strawberry.field(description="Requests, or page views.")
    errors: int = strawberry.field(description="Of which errors (0 for pages).")


@strawberry.type(description="An organization's usage over a range of UTC days.")
class OrganizationUsage:
    start: datetime.date = strawberry.field(name="from", description="The first day.")
    end: datetime.date = strawberry.field(name="to", description="The last day.")
    days: list[UsageDayTotals] = strawberry.field(description="Each day of the range, in "
                                                              "order (at most 92).")
    clients: list[UsageClient] = strawberry.field(
        description="Each client with requests in the range, most requests first (at "
                    "most 100).")
    top_operations: list[UsageCount] = strawberry.field(
        description="The 10 operation names with the most requests.")
    top_pages: list[UsageCount] = strawberry.field(
        description="The 10 most viewed pages (paths only).")


_CLIENT_TYPES = {models.ClientKind.API_TOKEN: "ApiToken",
                 models.ClientKind.PARTNER_APP: "OAuthApp"}


def _usage(usage: resolvers.OrgUsage) -> OrganizationUsage:
    return OrganizationUsage(
        start=usage.start, end=usage.end,
        days=[UsageDayTotals(day=d.day, requests=d.requests, errors=d.errors, cost=d.cost,
                             by_kind=[UsageKindTotals(kind=k.kind, requests=k.requests,
                                                      errors=k.errors, cost=k.cost)
                                      for k in d.by_kind.values()],
                             page_views=d.page_views, client_errors=d.client_errors)
              for d in usage.days],
        clients=[UsageClient(kind=c.kind, name=c.name, requests=c.requests, errors=c.errors,
                             cost=c.cost,
                             client_id=str(relay.GlobalID(_CLIENT_TYPES[c.kind], c.client_id))
                             if c.kind in _CLIENT_TYPES else None)
                 for c in usage.clients],
        top_operations=[UsageCount(name=o.name, count=o.requests, errors=o.errors)
                        for o in usage.top_operations],
        top_pages=[UsageCount(name=p.name, count=p.requests, errors=0)
                   for p in usage.top_pages])


@strawberry.type(description="What `Organization` holds of usage analytics "
                             "(`schema/composition.py` composes `Organization`). Not in the "
                             "schema itself.")
class OrganizationUsageFields:
    @strawberry.field(description="Requests, errors and query cost per UTC day, per kind of "
                                  "client and per token or app, the top operations, and the "
                                  "page views and client errors reported, from `from` to `to` "
                                  "(both included, at most 92 days; BAD_USER_INPUT otherwise). "
                                  "Counts reach it within seconds (docs/usage.md).",
                      extensions=[requires(HasPermission(Permission.USAGE_READ,
                                                         org=org_from_source()))])
    async def usage(self, root: strawberry.Parent[org_models.Organization], info: Info,
                    start: Annotated[datetime.date, strawberry.argument(
                        name="from", description="The first UTC day.")],
                    end: Annotated[datetime.date, strawberry.argument(
                        name="to", description="The last UTC day.")]) -> OrganizationUsage:
        return _usage(await resolvers.usage_of(info.context, root.id, start, end))


@strawberry.input(description="A page view or client error, as a first-party client saw it.")
class ClientEventInput:
    kind: models.ClientEventKind = strawberry.field(description="What happened.")
    page: str = strawberry.field(description="The page's path (or URL: only its path is "
                                             "kept, without query string or fragment), at "
                                             "most 200 characters.")
    device_class: models.DeviceClass = strawberry.field(description="The kind of device.")
    browser: str = strawberry.field(default="", description="The browser family, e.g. "
                                                            "`Firefox` (at most 32 letters, "
                                                            "digits, spaces and `._+-`).")
    app_version: str = strawberry.field(default="", description="The client's version (as "
                                                                "`browser`).")
    occurred_at: datetime.datetime = strawberry.field(
        description="When, within the last 24 hours and at most 5 minutes ahead of our clock.")


@strawberry.input(description="Page views and client errors of a person's first-party client "
                              "in one organization.")
class RecordClientEventsInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    events: list[ClientEventInput] = strawberry.field(description="At most 50 events.")


@strawberry.type(description="What recordClientEvents stored.")
class RecordClientEventsPayload:
    recorded: int = strawberry.field(description="How many events were stored.")


@strawberry.type
class UsageMutations:
    @strawberry.mutation(
        description="Report page views and client errors of your own session's app (a person "
                    "signed in: API tokens and partner apps get FORBIDDEN, reason "
                    "PERSON_ONLY); stored without you, your IP address or query strings, kept "
                    "90 days. At most 50 events a call; RATE_LIMITED (reason CLIENT_EVENTS) "
                    "past 20 calls a minute per session. Needs the `org:read` permission.",
        extensions=[requires(IsAuthenticated(), HasPermission(
            Permission.ORG_READ, org=org_from_argument("input.organization_id")))])
    async def record_client_events(self, info: Info, input: RecordClientEventsInput
                                   ) -> RecordClientEventsPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        recorded = await resolvers.record_client_events(info.context, org_id, [
            resolvers.ReportedEvent(kind=e.kind, page=e.page, device_class=e.device_class,
                                    browser=e.browser, app_version=e.app_version,
                                    occurred_at=e.occurred_at) for e in input.events])
        return RecordClientEventsPayload(recorded=recorded)
