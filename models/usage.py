"""Usage analytics (issue 22): daily aggregates of the API's use per organization, and the page
views and client errors that first-party clients report.

`UsageDay` counts requests, errors and query cost per organization, UTC day and client (a
person, one API token, one partner app); `UsageOperationDay` counts them per operation name
(at most `MAX_OPERATIONS_PER_DAY` names per organization and day, the rest under `other`).
Neither holds anything about a person: the request path adds to counters in memory
(`services/usage.py`) and a flush every few seconds adds them to these rows.

`ClientEvent` is one page view or client error reported by a signed-in person's own client
(`recordClientEvents`): the page's path, the device class, the browser family and the app
version, but no user, no IP address and no query string. docs/usage.md describes the whole.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields

from models.orgs import Organization
from models.tenancy import TenantModel

MAX_OPERATIONS_PER_DAY = 50
"""Distinct operation names kept per organization and day; later names count as `other`."""
OTHER_OPERATION = "other"
ANONYMOUS_OPERATION = "(anonymous)"


class ClientKind(StrEnum):
    """Who sent a request."""

    PERSON = "person"
    API_TOKEN = "api_token"
    PARTNER_APP = "partner_app"


class ClientEventKind(StrEnum):
    """What a first-party client reported."""

    PAGE_VIEW = "page_view"
    CLIENT_ERROR = "client_error"


class DeviceClass(StrEnum):
    """The kind of device a client runs on."""

    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    OTHER = "other"


class UsageDay(TenantModel):
    """Requests, errors and query cost of one client of an organization on one UTC day."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="usage_days", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    client_kind = fields.CharEnumField(ClientKind, max_length=16)
    client_id = fields.CharField(max_length=36, default="")
    """The API token's id or the partner app's id; empty for people (all counted together)."""
    requests = fields.IntField(default=0)
    errors = fields.IntField(default=0)
    cost = fields.BigIntField(default=0)

    class Meta:
        table = "usage_days"
        unique_together = (("organization_id", "day", "client_kind", "client_id"),)
        indexes = (("day",),)


class UsageOperationDay(TenantModel):
    """Requests and errors of one operation name in an organization on one UTC day."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="usage_operation_days", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    operation = fields.CharField(max_length=100)
    requests = fields.IntField(default=0)
    errors = fields.IntField(default=0)

    class Meta:
        table = "usage_operation_days"
        unique_together = (("organization_id", "day", "operation"),)
        indexes = (("day",),)


class ClientEvent(TenantModel):
    """A page view or client error reported by a person's first-party client, without the
    person, their IP address or the page's query string."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="client_events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ClientEventKind, max_length=16)
    page = fields.CharField(max_length=200)
    device_class = fields.CharEnumField(DeviceClass, max_length=16)
    browser = fields.CharField(max_length=32, default="")
    app_version = fields.CharField(max_length=32, default="")
    occurred_at = fields.DatetimeField()
    day = fields.DateField()
    """The UTC day of `occurred_at`, by which the usage view counts."""

    class Meta:
        table = "client_events"
        indexes = (("organization_id", "day", "kind"), ("created_at",))
