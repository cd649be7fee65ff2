"""Data-rights requests from the people in the CRM, in the API: `organization.privacyRequests`
(`OrganizationPrivacyRequestFields`), `completePrivacyRequest` and `rejectPrivacyRequest`.

Everything needs `privacy:manage` (OWNER and ADMIN, a person), as `exportDataSubject` and
`eraseDataSubject` do: completing a request runs them. docs/privacy-requests.md describes the
whole, the public page included.
"""

from __future__ import annotations

import datetime
from typing import Annotated, cast

import strawberry
from strawberry import relay
from strawberry.types.nodes import SelectedField

from auth.permissions import Permission
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum
from engine.permissions import HasPermission, org_from_source, org_of, requires
from engine.selection import prefetch_page, prefetches
from models import orgs as org_models
from models import privacy_requests as models
from resolvers import privacy_requests as resolvers

Kind = models.PrivacyRequestKind
described_enum(models.PrivacyRequestKind, name="PrivacyRequestKind",
               description="What a person asks an organization for.", values={
                   Kind.ACCESS: "A copy of what the organization holds about their email.",
                   Kind.ERASURE: "The erasure of what the organization holds about their "
                                 "email.",
               })

Status = models.PrivacyRequestStatus
described_enum(models.PrivacyRequestStatus, name="PrivacyRequestStatus",
               description="Where a privacy request stands.", values={
                   Status.PENDING_VERIFICATION: "Waiting for the person to open the mailed "
                                                "link; never shown to the organization.",
                   Status.OPEN: "Verified: the organization is to answer it by `dueAt`.",
                   Status.COMPLETED: "Answered: the export or the erasure was carried out "
                                     "and the person was mailed.",
                   Status.REJECTED: "Turned down, with a reason mailed to the person.",
               })


@strawberry.type(description="What the organization holds about a privacy request's email, "
                             "counted.")
class PrivacyRequestHoldings:
    leads: int = strawberry.field(description="Leads with this email.")
    notes: int = strawberry.field(description="Notes on those leads.")
    form_submissions: int = strawberry.field(description="Lead form submissions with this "
                                                         "email or joined to those leads.")
    consent_receipts: int = strawberry.field(description="Consent receipts of those "
                                                         "submissions.")


async def _holdings_of_page(info: Info, rows: list[models.PrivacyRequest],
                            selections: list[SelectedField]) -> None:
    """`PrivacyRequest.holdings` for a whole page at once (`engine.selection.prefetches`)."""
    await resolvers.holdings_of_page(info.context, rows)


@strawberry.type(description="A person's request, made on the organization's public privacy "
                             "page and verified by email, for access to or erasure of what "
                             "the organization holds about their email: a task with a legal "
                             "deadline.")
class PrivacyRequest(ModelNode):
    model = models.PrivacyRequest

    id: relay.NodeID[str]
    email: str = strawberry.field(description="The requester's email, verified.")
    kind: Kind = strawberry.field(description="What they ask for.")
    message: str | None = strawberry.field(description="What they wrote with it, if anything.")
    status: Status = strawberry.field(description="Where it stands.")
    created_at: datetime.datetime = strawberry.field(description="When it was sent.")
    verified_at: datetime.datetime | None = strawberry.field(
        description="When the person opened the verification link.")
    due_at: datetime.datetime | None = strawberry.field(
        description="The legal deadline: 30 days after verification.")
    completed_at: datetime.datetime | None = strawberry.field(
        description="When it was completed or rejected.")
    reject_reason: str | None = strawberry.field(
        description="Why it was rejected (mailed to the person).")
    overdue_notified_at: datetime.datetime | None = strawberry.field(
        description="When the OWNERs were mailed that it is overdue (once).")

    @strawberry.field(description="Seconds left until `dueAt` (negative once overdue); null "
                                  "once it is closed.")
    def time_left(self, root: strawberry.Parent[models.PrivacyRequest]) -> float | None:
        if root.status is not Status.OPEN or root.due_at is None:
            return None
        return round((root.due_at - datetime.datetime.now(datetime.UTC)).total_seconds())

    @strawberry.field(description="Whether it is still open past `dueAt`.")
    def overdue(self, root: strawberry.Parent[models.PrivacyRequest]) -> bool:
        return (root.status is Status.OPEN and root.due_at is not None
                and root.due_at < datetime.datetime.now(datetime.UTC))

    @strawberry.field(description="What the organization holds about the email now, counted "
                                  "(what completing an ERASURE would delete, or an ACCESS "
                                  "export would hold).",
                      metadata=prefetches(_holdings_of_page))
    async def holdings(self, root: strawberry.Parent[models.PrivacyRequest],
                       info: Info) -> PrivacyRequestHoldings:
        counts = await resolvers.holdings(info.context, root)
        return PrivacyRequestHoldings(
            leads=counts["leads"], notes=counts["notes"],
            form_submissions=counts["formSubmissions"],
            consent_receipts=counts["consentReceipts"])


@strawberry.type(description="What `Organization` holds of privacy requests (`schema/"
                             "composition.py` composes `Organization`). Not in the schema "
                             "itself.")
class OrganizationPrivacyRequestFields:
    @relay.connection(Connection[PrivacyRequest],
                      description="Verified privacy requests from the people in the CRM, "
                                  "the nearest deadline first (`privacy:manage`).",
                      extensions=[requires(HasPermission(Permission.PRIVACY_MANAGE,
                                                         org=org_from_source()))])
    def privacy_requests(
            self, root: strawberry.Parent[org_models.Organization], info: Info,
            status: Annotated[Status | None, strawberry.argument(
                description="Only requests in this status (PENDING_VERIFICATION finds "
                            "none); all verified ones when absent.")] = None,
    ) -> list[PrivacyRequest]:
        async def prefetch(rows: list[models.PrivacyRequest]) -> None:
            await prefetch_page(info, rows, PrivacyRequest)
        return cast("list[PrivacyRequest]",
                    Rows(resolvers.requests_query(info.context, root.id, status), prefetch))


@strawberry.input(description="The privacy request to carry out.")
class CompletePrivacyRequestInput:
    id: relay.GlobalID = strawberry.field(description="The request, OPEN.")


@strawberry.type(description="The result of `completePrivacyRequest`.")
class CompletePrivacyRequestPayload:
    privacy_request: PrivacyRequest = strawberry.field(description="The request, COMPLETED.")


@strawberry.input(description="The privacy request to turn down, and why.")
class RejectPrivacyRequestInput:
    id: relay.GlobalID = strawberry.field(description="The request, OPEN.")
    reason: str = strawberry.field(description=f"Why, mailed to the person: at most "
                                               f"{resolvers.REASON_MAX:,} characters.")


@strawberry.type(description="The result of `rejectPrivacyRequest`.")
class RejectPrivacyRequestPayload:
    privacy_request: PrivacyRequest = strawberry.field(description="The request, REJECTED.")


_PRIVACY_REQUEST = requires(HasPermission(
    Permission.PRIVACY_MANAGE, org=org_of(models.PrivacyRequest, "PrivacyRequest", "input.id")))


@strawberry.type
class PrivacyRequestMutations:
    @strawberry.mutation(
        description="Carry out an OPEN privacy request in one click (`privacy:manage`, a "
                    "person): ACCESS runs `exportDataSubject` for its email and mails the "
                    "person a download link to the copy (JSON, until EXPORT_TTL_HOURS); ERASURE "
                    "runs `eraseDataSubject` and mails the confirmation. COMPLETED once the "
                    "work is done; one already closed is CONFLICT, reason "
                    "PRIVACY_REQUEST_CLOSED.",
        extensions=[_PRIVACY_REQUEST])
    async def complete_privacy_request(self, info: Info, input: CompletePrivacyRequestInput
                                       ) -> CompletePrivacyRequestPayload:
        request = await resolvers.complete_request(
            info.context, decode_id(input.id, "PrivacyRequest", field="id"))
        return CompletePrivacyRequestPayload(privacy_request=cast("PrivacyRequest", request))

    @strawberry.mutation(
        description="Turn down an OPEN privacy request (`privacy:manage`, a person); the "
                    "reason is mailed to the person. One already closed is CONFLICT, reason "
                    "PRIVACY_REQUEST_CLOSED.",
        extensions=[_PRIVACY_REQUEST])
    async def reject_privacy_request(self, info: Info, input: RejectPrivacyRequestInput
                                     ) -> RejectPrivacyRequestPayload:
        request = await resolvers.reject_request(
            info.context, decode_id(input.id, "PrivacyRequest", field="id"), input.reason)
        return RejectPrivacyRequestPayload(privacy_request=cast("PrivacyRequest", request))
