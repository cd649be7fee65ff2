"""The help center in the API: `SupportTicket` and its messages, `me.supportTickets`
(`MeSupportFields`), `openSupportTicket` and `replyToTicket` for everyone signed in, and the
staff-only `supportQueue` and `setTicketStatus`. docs/support.md describes the whole.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from auth.permissions import Permission
from engine.context import uuids_of
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    IsStaff,
    OrgLocator,
    org_from_source,
    org_of,
    requires,
)
from engine.selection import prefetch_page
from models import accounts as account_models
from models import orgs as org_models
from models import support as models
from models.jobs import WorkKind as JobKind
from resolvers import support as resolvers
from resolvers import support_attachments as attachment_resolvers
from resolvers import ticket_work
from schema.accounts import VIEWER_ONLY, User, is_viewer
from schema.deletions import ScheduledDeletion
from schema.exports import DataExport

Category = models.TicketCategory
described_enum(models.TicketCategory, name="SupportTicketCategory",
               description="What a support ticket is about.", values={
                   Category.QUESTION: "A question about Relleks.",
                   Category.BUG: "Something does not work as it should.",
                   Category.BILLING: "The plan, invoices or payment.",
                   Category.ACCESS: "A data right: a copy of your personal data.",
                   Category.CORRECTION: "A data right: correcting your personal data.",
                   Category.DELETION: "A data right: erasing your personal data.",
                   Category.RESTRICTION: "A data right: restricting the processing of your "
                                         "personal data.",
                   Category.OBJECTION: "A data right: objecting to the processing of your "
                                       "personal data.",
                   Category.PORTABILITY: "A data right: your personal data in a portable "
                                         "format.",
               })

Status = models.TicketStatus
described_enum(models.TicketStatus, name="SupportTicketStatus",
               description="Where a support ticket stands.", values={
                   Status.OPEN: "Opened; nobody answered yet.",
                   Status.WAITING_ON_CUSTOMER: "Staff answered: the requester is to reply.",
                   Status.WAITING_ON_SUPPORT: "The requester wrote: staff are to answer.",
                   Status.RESOLVED: "Done. A reply by the requester reopens it.",
               })

WorkKind = models.TicketWorkKind
described_enum(models.TicketWorkKind, name="TicketWorkKind",
               description="The work a data-rights ticket runs once its requester confirms it.",
               values={
                   WorkKind.PERSONAL_EXPORT: "ACCESS and PORTABILITY: your personal data "
                                             "export (`requestDataExport`), a ZIP of JSON.",
                   WorkKind.ACCOUNT_DELETION: "DELETION: your account's deletion "
                                              "(`deleteAccount`), after its grace period.",
                   WorkKind.CONSENT_WITHDRAWAL: "RESTRICTION and OBJECTION: every optional "
                                                "consent withdrawn (`me.consents`: AI "
                                                "training, product emails).",
                   WorkKind.STAFF_ANSWER: "CORRECTION: Relleks staff answer; nothing runs by "
                                          "itself (your display name you can change "
                                          "yourself: `updateProfile`).",
               })

WorkState = ticket_work.TicketWorkState
described_enum(ticket_work.TicketWorkState, name="TicketWorkStatus",
               description="Where a data-rights ticket's work stands, read from the work "
                           "itself (the export or the deletion).", values={
                   WorkState.PROPOSED: "Proposed: nothing runs until you confirm it "
                                       "(`confirmTicketWork`).",
                   WorkState.PENDING: "Confirmed and waiting to run (or, for a staff "
                                      "answer, waiting on staff).",
                   WorkState.RUNNING: "Running.",
                   WorkState.SCHEDULED: "Scheduled for `runsAt`: an account deletion in its "
                                        "grace period. The ticket is resolved at this point; "
                                        "canceling the deletion opens it again.",
                   WorkState.DONE: "Done.",
                   WorkState.FAILED: "It failed; the ticket waits on staff.",
                   WorkState.CANCELED: "Called off.",
               })

Format = models.MessageFormat
described_enum(models.MessageFormat, name="SupportMessageFormat",
               description="How a support message's body is written.", values={
                   Format.PLAIN: "Plain text: shown as typed.",
                   Format.MARKDOWN: "CommonMark without raw HTML; `bodyHtml` is its sanitised "
                                    "rendering.",
               })


ATTACHMENT_ROUTE = "support/attachments"
"""`GET {PUBLIC_URL}/support/attachments/<attachment global id>` (`web/support.py`)."""


@strawberry.type(description="A file attached to a support message. Its bytes are served by "
                             "`downloadUrl` to the ticket's requester and Relleks staff only.")
class SupportAttachment(ModelNode):
    model = models.SupportAttachment

    id: relay.NodeID[str]
    filename: str = strawberry.field(description="The file's name as it was sent (without "
                                                 "any path or control characters).")
    content_type: str = strawberry.field(
        description="The type sniffed from its content (never the one the client claimed): "
                    "image/png, image/jpeg, image/gif, image/webp, application/pdf, or "
                    "text/plain or text/csv (UTF-8).")
    size: int = strawberry.field(description="Its size, bytes.")
    sha256: str = strawberry.field(description="The SHA-256 of its content, hex.")
    created_at: datetime.datetime = strawberry.field(description="When it was attached.")

    @strawberry.field(description="Where to download it: a GET with the same credential "
                                  "(the bearer token or session cookie) as the API; served "
                                  "as an attachment (`Content-Disposition: attachment`, "
                                  "`X-Content-Type-Options: nosniff`) with its sniffed type.")
    def download_url(self, root: strawberry.Parent[models.SupportAttachment],
                     info: Info) -> str:
        base = info.context.services.settings.public_url.rstrip("/")
        return f"{base}/{ATTACHMENT_ROUTE}/{relay.to_base64('SupportAttachment', str(root.id))}"


@strawberry.type(description="One message of a support ticket.")
class SupportMessage(ModelNode):
    model = models.SupportMessage

    id: relay.NodeID[str]
    body: str = strawberry.field(description="The body as written.")
    format: Format = strawberry.field(description="How `body` is written.")
    body_html: str = strawberry.field(description="The body as HTML, safe to show as it is: "
                                                  "plain text escaped, Markdown rendered and "
                                                  "sanitised (a short allow-list of tags; "
                                                  "links http, https or mailto only).")
    from_staff: bool = strawberry.field(description="Whether Relleks staff wrote it (else "
                                                    "the ticket's requester, or Relleks "
                                                    "itself: `fromSystem`).")
    from_system: bool = strawberry.field(description="Whether Relleks itself wrote it: what "
                                                     "a data-rights ticket's work did.")
    created_at: datetime.datetime = strawberry.field(description="When it was written.")

    @strawberry.field(description="The files attached to it, in the order they were sent "
                                  f"(at most {attachment_resolvers.MAX_PER_MESSAGE}).")
    async def attachments(self, root: strawberry.Parent[models.SupportMessage],
                          info: Info) -> list[SupportAttachment]:
        rows = await info.context.loaders.support_attachments.load(root.id)
        return cast("list[SupportAttachment]", rows)


@strawberry.type(description="The work a data-rights ticket proposes, runs or ran: the existing "
                             "export or deletion, read from it (not a copy).")
class TicketWork:
    view: strawberry.Private[ticket_work.TicketWorkView]

    @strawberry.field(description="What it is.")
    def kind(self) -> WorkKind:
        return self.view.kind

    @strawberry.field(description="Where it stands.")
    def status(self) -> WorkState:
        return self.view.state

    @strawberry.field(description="When you confirmed it (for a staff answer: when the ticket "
                                  "was opened); null while PROPOSED.")
    def started_at(self) -> datetime.datetime | None:
        return self.view.started_at

    @strawberry.field(description="When it finished (the export was ready, the deletion ran, "
                                  "staff answered).")
    def finished_at(self) -> datetime.datetime | None:
        return self.view.finished_at

    @strawberry.field(description="For an account deletion: when it runs, unless canceled.")
    def runs_at(self) -> datetime.datetime | None:
        return self.view.runs_at

    @strawberry.field(description="The export it runs (PERSONAL_EXPORT, once confirmed): its "
                                  "status and download link, as `me.dataExports` shows it. "
                                  "Null for staff.")
    def data_export(self, info: Info) -> DataExport | None:
        work = self.view.work
        if work is None or not work.kind.is_export or not _is_requester(self.view.ticket, info):
            return None
        return DataExport(work=work)

    @strawberry.field(description="The account deletion it runs (ACCOUNT_DELETION, once "
                                  "confirmed), as `me.accountDeletion` shows it.")
    def scheduled_deletion(self) -> ScheduledDeletion | None:
        work = self.view.work
        if work is None or work.kind is not JobKind.ACCOUNT_DELETION:
            return None
        return ScheduledDeletion(work=work)


def _is_requester(ticket: models.SupportTicket, info: Info) -> bool:
    user = info.context.viewer.user
    return user is not None and user.id == ticket.requester_id


@strawberry.type(description="A request for help from Relleks support: seen by its requester "
                             "and by Relleks staff only.")
class SupportTicket(ModelNode):
    model = models.SupportTicket

    id: relay.NodeID[str]
    category: Category = strawberry.field(description="What it is about.")
    subject: str = strawberry.field(description="Its subject, as the requester typed it.")
    status: Status = strawberry.field(description="Where it stands.")
    message_count: int = strawberry.field(description="How many messages it holds.")
    created_at: datetime.datetime = strawberry.field(description="When it was opened.")
    updated_at: datetime.datetime = strawberry.field(description="When it last changed.")
    last_message_at: datetime.datetime | None = strawberry.field(
        description="When its newest message was written.")
    requester = relation("requester_id", "user", graphql_type=User | None,
                         description="Who opened it; null when that account is gone.")
    due_at: datetime.datetime | None = strawberry.field(
        description="A data right's legal deadline: one month from receipt (GDPR article "
                    "12(3)), counted as 30 days from opening. Null for other categories.")
    closed_at: datetime.datetime | None = strawberry.field(
        description="When a data right was carried out (its work done, or staff resolved "
                    "it); null while open.")

    @strawberry.field(description="Whether a data right is past `dueAt` and not yet carried "
                                  "out (`closedAt` null). Always false for other categories.")
    def overdue(self, root: strawberry.Parent[models.SupportTicket]) -> bool:
        return root.closed_at is None and root.due_at is not None \
            and root.due_at < datetime.datetime.now(datetime.UTC)

    @strawberry.field(description="For a data right: the work it proposes (PROPOSED until "
                                  "its requester confirms it with `confirmTicketWork`), runs "
                                  "or ran, read from that work. Null for other categories.")
    async def work(self, root: strawberry.Parent[models.SupportTicket],
                   info: Info) -> TicketWork | None:
        work = await info.context.loaders.scheduled_work.load(root.work_id) \
            if root.work_id is not None else None
        view = ticket_work.work_view(root, work)
        return TicketWork(view=view) if view is not None else None

    @strawberry.field(description="The organization it is about (a global id), one of the "
                                  "requester's; null when none was named or it is gone.")
    def organization_id(self, root: strawberry.Parent[models.SupportTicket]
                        ) -> strawberry.ID | None:
        org_id = root.organization_id
        return strawberry.ID(relay.to_base64("Organization", str(org_id))) if org_id else None

    @strawberry.field(description="For staff: until when a live support access grant of the "
                                  "organization it names lets them read that organization "
                                  "(`grantSupportAccess`); null without one, and for anyone "
                                  "else.")
    async def support_access_until(self, root: strawberry.Parent[models.SupportTicket],
                                   info: Info) -> datetime.datetime | None:
        if root.organization_id is None:
            return None
        grant = await info.context.access.support_grant(root.organization_id)
        return grant.expires_at if grant is not None else None

    @relay.connection(Connection[SupportMessage],
                      description="Its messages, oldest first.")
    def messages(self, root: strawberry.Parent[models.SupportTicket],
                 info: Info) -> list[SupportMessage]:
        return cast("list[SupportMessage]", Rows(resolvers.messages_query(root)))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        """`node(id:)`: the viewer's own tickets, and any ticket for staff."""
        ids = list(node_ids)
        wanted = uuids_of(ids)
        user = info.context.viewer.user
        if not wanted or user is None or info.context.viewer.credential is not None:
            return [None for _ in ids]
        query = models.SupportTicket.filter(id__in=list(wanted))
        if not await info.context.access.is_staff():
            query = query.filter(requester_id=user.id)
        found = {str(row.id): row for row in await query}
        return [found.get(node_id) for node_id in ids]


@strawberry.type(description="One read a Relleks staff member made under a support access "
                             "grant: which field, where in the query, when, and who.")
class SupportAccessRead(ModelNode):
    model = models.SupportAccessRead

    id: relay.NodeID[str]
    created_at: datetime.datetime = strawberry.field(description="When it was read.")
    field: str = strawberry.field(description="The field read, as `Type.field` (e.g. "
                                              "`Organization.leads`).")
    path: str = strawberry.field(description="Where in the query it was first read in that "
                                             "request (e.g. `organization.leads`).")
    operation: str = strawberry.field(description="The query's operation name; empty when it "
                                                  "had none.")
    staff_user = relation("staff_user_id", "user", graphql_type=User | None,
                          description="The staff member who read it; null when that account "
                                      "is gone.")


@strawberry.type(description="Read access to the organization that its OWNER gave Relleks "
                             "staff from a support ticket, for a chosen time (at most 7 "
                             "days): while live, staff read the organization as a VIEWER "
                             "would, can change nothing, and every read is logged here.")
class SupportAccessGrant(ModelNode):
    model = models.SupportAccessGrant

    id: relay.NodeID[str]
    created_at: datetime.datetime = strawberry.field(description="When it was granted.")
    expires_at: datetime.datetime = strawberry.field(description="When it ends by itself.")
    revoked_at: datetime.datetime | None = strawberry.field(
        description="When it was revoked; null unless it was.")
    granted_by = relation("granted_by_id", "user", graphql_type=User | None,
                          description="Who granted it; null when that account is gone.")

    @strawberry.field(description="Whether staff may read the organization through it now.")
    def active(self, root: strawberry.Parent[models.SupportAccessGrant]) -> bool:
        return resolvers.is_live(root)

    @strawberry.field(description="The ticket it was granted from (a global id).")
    def ticket_id(self, root: strawberry.Parent[models.SupportAccessGrant]) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("SupportTicket", str(root.ticket_id)))

    @relay.connection(Connection[SupportAccessRead],
                      description="Every read made under it, newest first.",
                      extensions=[requires(HasPermission(Permission.SUPPORT_ACCESS,
                                                         org=org_from_source()))])
    def reads(self, root: strawberry.Parent[models.SupportAccessGrant],
              info: Info) -> list[SupportAccessRead]:
        async def prefetch(rows: list[models.SupportAccessRead]) -> None:
            await prefetch_page(info, rows, SupportAccessRead)
        return cast("list[SupportAccessRead]",
                    Rows(resolvers.reads_query(info.context, root), prefetch))


@strawberry.type(description="What `Organization` holds of support access (`schema/"
                             "composition.py` composes `Organization`). Not in the schema "
                             "itself.")
class OrganizationSupportFields:
    @relay.connection(Connection[SupportAccessGrant],
                      description="Support access grants given to Relleks staff, newest "
                                  "first, live and ended, each with the reads made under it.",
                      extensions=[requires(HasPermission(Permission.SUPPORT_ACCESS,
                                                         org=org_from_source()))])
    def support_access_grants(self, root: strawberry.Parent[org_models.Organization],
                              info: Info) -> list[SupportAccessGrant]:
        return cast("list[SupportAccessGrant]",
                    Rows(resolvers.grants_query(info.context, root.id)))


@strawberry.type(description="What `Me` holds of the help center (`schema/composition.py` "
                             "composes `Me`). Not in the schema itself.")
class MeSupportFields:
    @relay.connection(Connection[SupportTicket],
                      description="Your support tickets, newest first. "
                                  + VIEWER_ONLY.format(empty="empty"))
    def support_tickets(self, root: strawberry.Parent[account_models.User],
                        info: Info) -> list[SupportTicket]:
        if not is_viewer(root, info):
            return []

        async def prefetch(rows: list[models.SupportTicket]) -> None:
            await prefetch_page(info, rows, SupportTicket)
        return cast("list[SupportTicket]", Rows(resolvers.my_tickets_query(info.context),
                                                prefetch))


ATTACHMENTS_DESCRIPTION = (
    "Files to attach (a GraphQL multipart request: map each file part to "
    "`variables.input.attachments.<n>`): at most SUPPORT_ATTACHMENTS_PER_MESSAGE (5) of at most "
    "SUPPORT_ATTACHMENT_MAX_BYTES (5 MiB) each, all together within MAX_UPLOAD_BYTES; PNG, JPEG, "
    "GIF, WebP, PDF, plain text or CSV, as sniffed from the content (the name and declared type "
    "are not trusted); scanned for viruses when a scanner is configured.")
"""`attachments` of `openSupportTicket` and `replyToTicket`: one text for both."""


@strawberry.input(description="A new support ticket and its first message.")
class OpenSupportTicketInput:
    category: Category = strawberry.field(description="What it is about.")
    subject: str = strawberry.field(description=f"One line, at most {resolvers.SUBJECT_MAX} "
                                                "characters.")
    body: str = strawberry.field(description=f"The first message, at most "
                                             f"{resolvers.BODY_MAX:,} characters.")
    format: Format = strawberry.field(default=Format.PLAIN,
                                      description="How `body` is written; PLAIN by default.")
    organization_id: relay.GlobalID | None = strawberry.field(
        default=None, description="One of your organizations it is about; any other is "
                                  "NOT_FOUND.")
    attachments: list[Upload] | None = strawberry.field(
        default=None, description=ATTACHMENTS_DESCRIPTION)


@strawberry.type(description="The result of `openSupportTicket`.")
class OpenSupportTicketPayload:
    ticket: SupportTicket = strawberry.field(description="The ticket, OPEN.")


@strawberry.input(description="A message in a support ticket.")
class ReplyToTicketInput:
    ticket_id: relay.GlobalID = strawberry.field(description="The ticket.")
    body: str = strawberry.field(description=f"The message, at most {resolvers.BODY_MAX:,} "
                                             "characters.")
    format: Format = strawberry.field(default=Format.PLAIN,
                                      description="How `body` is written; PLAIN by default.")
    attachments: list[Upload] | None = strawberry.field(
        default=None, description=ATTACHMENTS_DESCRIPTION)


@strawberry.type(description="The result of `replyToTicket`.")
class ReplyToTicketPayload:
    ticket: SupportTicket = strawberry.field(description="The ticket, with its new status.")
    message: SupportMessage = strawberry.field(description="The message written.")


@strawberry.input(description="The data-rights ticket whose proposed work to start.")
class ConfirmTicketWorkInput:
    ticket_id: relay.GlobalID = strawberry.field(description="Your ticket.")
    password: str | None = strawberry.field(
        default=None, description="Your password: needed for an account deletion, as "
                                  "`deleteAccount` asks.")


@strawberry.type(description="The result of `confirmTicketWork`.")
class ConfirmTicketWorkPayload:
    ticket: SupportTicket = strawberry.field(
        description="The ticket, its `work` started (or done, and the ticket RESOLVED).")


@strawberry.input(description="A support ticket's new status.")
class SetTicketStatusInput:
    ticket_id: relay.GlobalID = strawberry.field(description="The ticket.")
    status: Status = strawberry.field(description="Its new status.")


@strawberry.type(description="The result of `setTicketStatus`.")
class SetTicketStatusPayload:
    ticket: SupportTicket = strawberry.field(description="The ticket, as changed.")


@strawberry.input(description="Read access for Relleks staff to the organization a ticket "
                              "names.")
class GrantSupportAccessInput:
    ticket_id: relay.GlobalID = strawberry.field(
        description="A support ticket naming the organization (its `organizationId`).")
    hours: int = strawberry.field(description=f"How long, 1 to {resolvers.MAX_GRANT_HOURS} "
                                              "(7 days).")


@strawberry.type(description="The result of `grantSupportAccess`.")
class GrantSupportAccessPayload:
    grant: SupportAccessGrant = strawberry.field(description="The grant, live.")


@strawberry.input(description="A support access grant to end now.")
class RevokeSupportAccessInput:
    id: relay.GlobalID = strawberry.field(description="The grant.")


@strawberry.type(description="The result of `revokeSupportAccess`.")
class RevokeSupportAccessPayload:
    grant: SupportAccessGrant = strawberry.field(description="The grant, ended.")


def _org_of_ticket() -> OrgLocator:
    """The organization the ticket in `input.ticket_id` names: a ticket naming none, or one
    of an organization the caller is not in, is NOT_FOUND naming `ticketId`."""

    async def find(source: Any, kwargs: dict[str, Any], info: Any) -> Any:
        ticket_id = decode_id(kwargs["input"].ticket_id, "SupportTicket", field="ticketId")
        return await resolvers.organization_of_ticket(ticket_id)

    return OrgLocator(find, what="support ticket", field="ticketId", path="input.ticket_id",
                      type_name="SupportTicket")


@strawberry.type
class SupportQueries:
    @relay.connection(
        Connection[SupportTicket],
        description="Every support ticket: Relleks staff's queue. Data-rights tickets first, "
                    "the nearest `dueAt` first; then the others, the longest untouched first. "
                    "Staff only (FORBIDDEN, reason STAFF_ONLY, for anyone else).",
        extensions=[requires(IsStaff())])
    def support_queue(
            self, info: Info,
            status: Annotated[Status | None, strawberry.argument(
                description="Only tickets in this status; all when absent.")] = None,
    ) -> list[SupportTicket]:
        async def prefetch(rows: list[models.SupportTicket]) -> None:
            await prefetch_page(info, rows, SupportTicket)
        return cast("list[SupportTicket]", Rows(resolvers.queue_query(status), prefetch))


@strawberry.type
class SupportMutations:
    @strawberry.mutation(
        description="Open a support ticket with its first message; Relleks staff are mailed. "
                    "At most 5 a day per person (`SUPPORT_TICKET_RATE_PER_USER`: "
                    "RATE_LIMITED, reason SUPPORT_TICKETS).",
        extensions=[requires(IsAuthenticated())])
    async def open_support_ticket(self, info: Info,
                                  input: OpenSupportTicketInput) -> OpenSupportTicketPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId") \
            if input.organization_id is not None else None
        ticket = await resolvers.open_ticket(
            info.context, category=input.category, subject=input.subject, body=input.body,
            format=input.format, organization_id=org_id, uploads=input.attachments)
        return OpenSupportTicketPayload(ticket=cast("SupportTicket", ticket))

    @strawberry.mutation(
        description="Write in a support ticket: its requester (the ticket then waits on "
                    "support; a RESOLVED one reopens, and staff are mailed) or Relleks staff "
                    "(it then waits on the customer, who is mailed). Anyone else's ticket is "
                    "NOT_FOUND; a full ticket CONFLICT, reason TICKET_FULL.",
        extensions=[requires(IsAuthenticated())])
    async def reply_to_ticket(self, info: Info,
                              input: ReplyToTicketInput) -> ReplyToTicketPayload:
        written = await resolvers.reply(
            info.context, decode_id(input.ticket_id, "SupportTicket", field="ticketId"),
            body=input.body, format=input.format, uploads=input.attachments)
        return ReplyToTicketPayload(ticket=cast("SupportTicket", written.ticket),
                                    message=cast("SupportMessage", written.message))

    @strawberry.mutation(
        description="Start the work your data-rights ticket proposes (`SupportTicket.work`): "
                    "ACCESS and PORTABILITY your data export, DELETION your account's deletion "
                    "after its grace period (with your password, as `deleteAccount`), "
                    "RESTRICTION and OBJECTION withdrawing every optional consent. The ticket "
                    "resolves itself when the work is done. Confirming again changes nothing. "
                    "Your own tickets only (NOT_FOUND otherwise; staff FORBIDDEN, reason "
                    "REQUESTER_ONLY); CONFLICT, reason NOTHING_TO_CONFIRM, for a ticket staff "
                    "answer.",
        extensions=[requires(IsAuthenticated())])
    async def confirm_ticket_work(self, info: Info,
                                  input: ConfirmTicketWorkInput) -> ConfirmTicketWorkPayload:
        ticket = await resolvers.confirm_work(
            info.context, decode_id(input.ticket_id, "SupportTicket", field="ticketId"),
            input.password)
        return ConfirmTicketWorkPayload(ticket=cast("SupportTicket", ticket))

    @strawberry.mutation(
        description="Set a support ticket's status. Staff only (FORBIDDEN, reason "
                    "STAFF_ONLY, for anyone else).",
        extensions=[requires(IsStaff())])
    async def set_ticket_status(self, info: Info,
                                input: SetTicketStatusInput) -> SetTicketStatusPayload:
        ticket = await resolvers.set_status(
            info.context, decode_id(input.ticket_id, "SupportTicket", field="ticketId"),
            input.status)
        return SetTicketStatusPayload(ticket=cast("SupportTicket", ticket))

    @strawberry.mutation(
        description="Let Relleks staff read the organization the ticket names for `hours` (at "
                    "most 7 days): they read it as a VIEWER would, change nothing, and every "
                    "read is logged (`organization.supportAccessGrants`). Recorded in the "
                    "activity log. OWNER only.",
        extensions=[requires(HasPermission(Permission.SUPPORT_ACCESS, org=_org_of_ticket()))])
    async def grant_support_access(self, info: Info,
                                   input: GrantSupportAccessInput) -> GrantSupportAccessPayload:
        grant = await resolvers.grant_access(
            info.context, decode_id(input.ticket_id, "SupportTicket", field="ticketId"),
            input.hours)
        return GrantSupportAccessPayload(grant=cast("SupportAccessGrant", grant))

    @strawberry.mutation(
        description="End a support access grant now (an ended one is returned as it is). "
                    "Recorded in the activity log.",
        extensions=[requires(HasPermission(Permission.SUPPORT_ACCESS, org=org_of(
            models.SupportAccessGrant, "SupportAccessGrant", "input.id")))])
    async def revoke_support_access(self, info: Info, input: RevokeSupportAccessInput
                                    ) -> RevokeSupportAccessPayload:
        grant = await resolvers.revoke_access(
            info.context, decode_id(input.id, "SupportAccessGrant"))
        return RevokeSupportAccessPayload(grant=cast("SupportAccessGrant", grant))
