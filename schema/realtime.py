"""Subscriptions: live lead events, the activity log as it is written, and your memberships.

Served over WebSocket with the `graphql-transport-ws` protocol (`web/graphql_ws.py`); the README
section "Realtime" describes authentication and limits. Each field declares its permission like
any query field; `resolvers/realtime.py` checks it again before every event.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator
from typing import Annotated, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from core.errors import at_most
from engine.fields import Info, OrganizationArg, decode_id, described_enum
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    requires,
)
from resolvers import realtime as resolvers
from schema.activity import ActivityEvent
from schema.leads import Lead, Note
from schema.orgs import Membership, Role

LeadEventType = resolvers.LeadEventType
described_enum(
    resolvers.LeadEventType, name="LeadEventType", description="What happened to a lead.",
    values={
        resolvers.LeadEventType.CREATED: "`createLead` made it (`importLeads` sends no events).",
        resolvers.LeadEventType.UPDATED: "Fields changed, named by `changedFields`; a change "
                                         "of status or owner also sends STATUS_CHANGED or "
                                         "ASSIGNED.",
        resolvers.LeadEventType.DELETED: "Deleted: `lead` is null, `leadId` says which.",
        resolvers.LeadEventType.ASSIGNED: "Given to another member, or to nobody.",
        resolvers.LeadEventType.STATUS_CHANGED: "Its status changed.",
        resolvers.LeadEventType.NOTE_ADDED: "A note was added: see `note`.",
    })
MembershipEventType = resolvers.MembershipEventType
described_enum(
    resolvers.MembershipEventType, name="MembershipEventType",
    description="What happened to one of your memberships.",
    values={
        resolvers.MembershipEventType.INVITED: "You were invited (to your verified email); "
                                               "`role` is the role offered.",
        resolvers.MembershipEventType.INVITATION_REVOKED: "An invitation to you was revoked.",
        resolvers.MembershipEventType.JOINED: "You joined, by accepting an invitation.",
        resolvers.MembershipEventType.ROLE_CHANGED: "Your role changed: see `role`.",
        resolvers.MembershipEventType.OWNERSHIP_TRANSFERRED: "Ownership was handed over, to "
                                                             "you or by you (you are ADMIN "
                                                             "now).",
        resolvers.MembershipEventType.REMOVED: "You were removed from the organization.",
        resolvers.MembershipEventType.LEFT: "You left the organization.",
    })


def _timestamp(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


@strawberry.type(description="A change to a lead of the organization, after it was committed.")
class LeadEvent:
    type: LeadEventType = strawberry.field(
        description="What happened.")
    lead_id: strawberry.ID = strawberry.field(
        description="Global id of the lead (also when it was deleted).")
    lead: Lead | None = strawberry.field(
        description="The lead as it is now, read with your permissions; null once deleted.")
    note: Note | None = strawberry.field(
        description="The note added (NOTE_ADDED only; null once deleted).")
    changed_fields: list[str] = strawberry.field(
        description="UPDATED: the names of the input fields that changed (never their "
                    "values); empty for other types.")
    occurred_at: datetime.datetime = strawberry.field(description="When the change was made.")
    committed_at: datetime.datetime = strawberry.field(
        description="When its transaction committed and the event was published.")

    @classmethod
    def of(cls, change: resolvers.LeadChange) -> LeadEvent:
        return cls(type=change.type, lead_id=strawberry.ID(str(relay.GlobalID(
                       "Lead", str(change.lead_id)))),
                   lead=cast("Lead | None", change.lead), note=cast("Note | None", change.note),
                   changed_fields=change.changed_fields, occurred_at=change.occurred_at,
                   committed_at=_timestamp(change.committed_at))


@strawberry.type(description="A change to one of your memberships: refresh what you may do.")
class MembershipEvent:
    type: MembershipEventType = strawberry.field(
        description="What happened.")
    organization_id: strawberry.ID = strawberry.field(
        description="Global id of the organization.")
    role: Role | None = strawberry.field(
        description="Your role there now, or the role offered by an invitation; null once "
                    "you are no longer a member.")
    membership: Membership | None = strawberry.field(
        description="Your membership as it is now; null when you are not (or no longer) a "
                    "member.")
    occurred_at: datetime.datetime = strawberry.field(description="When the change was made.")

    @classmethod
    def of(cls, change: resolvers.MembershipChange) -> MembershipEvent:
        return cls(type=change.type, organization_id=strawberry.ID(str(relay.GlobalID(
                       "Organization", str(change.organization_id)))),
                   role=change.role, membership=cast("Membership | None", change.membership),
                   occurred_at=change.occurred_at)


MAX_TYPES = len(resolvers.LeadEventType)


@strawberry.input(description="Narrow lead events.")
class LeadEventFilter:
    types: list[LeadEventType] | None = strawberry.field(
        default=None, description=f"Only these kinds of event, at most {MAX_TYPES}.")
    owner_id: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Only leads owned by this member (their User id); null: unowned leads.")


@strawberry.type
class RealtimeSubscriptions:
    @strawberry.subscription(
        description="Live changes to the organization's leads, as they are committed. Each "
                    "event is checked against your permissions when it is delivered: losing "
                    "`leads:read` ends the stream with an error saying why.",
        extensions=[requires(HasPermission(Permission.LEADS_READ,
                                           org=org_from_argument("organization_id")))])
    async def lead_events(self, info: Info, organization_id: OrganizationArg,
                          filter: Annotated[LeadEventFilter | None, strawberry.argument(
                              description="Only the events matching every condition given; "
                                          "all of them when absent.")] = None,
                          ) -> AsyncGenerator[LeadEvent, None]:
        org_id = decode_id(organization_id, "Organization", field="organizationId")
        flt = resolvers.LeadEventFilter()
        if filter is not None:
            at_most("filter.types", filter.types, MAX_TYPES)
            flt.types = list(filter.types) if filter.types else None
            if filter.owner_id is not strawberry.UNSET:
                flt.owner_given = True
                flt.owner_id = decode_id(filter.owner_id, "User", field="filter.ownerId") \
                    if filter.owner_id is not None else None
        async for change in resolvers.lead_events(info.context, org_id, flt):
            yield LeadEvent.of(change)

    @strawberry.subscription(
        description="The organization's activity log as it is written (ADMIN+).",
        extensions=[requires(HasPermission(Permission.ACTIVITY_READ,
                                           org=org_from_argument("organization_id")))])
    async def activity(self, info: Info, organization_id: OrganizationArg
                       ) -> AsyncGenerator[ActivityEvent, None]:
        org_id = decode_id(organization_id, "Organization", field="organizationId")
        async for event in resolvers.activity_events(info.context, org_id):
            yield cast("ActivityEvent", event)

    @strawberry.subscription(
        description="Your own memberships changing: invitations to your verified email, role "
                    "changes, removals. Refresh your permissions when one arrives.",
        extensions=[requires(IsAuthenticated())])
    async def membership_events(self, info: Info) -> AsyncGenerator[MembershipEvent, None]:
        async for change in resolvers.membership_events(info.context):
            yield MembershipEvent.of(change)
