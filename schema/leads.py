"""Leads and notes in the API: types, keyset connections, inputs, queries and mutations."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from inspect import isawaitable
from typing import Annotated, Any, Generic, cast

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.types.nodes import SelectedField

from auth.permissions import Permission
from core.errors import BadUserInput, at_most
from core.loading import loaded
from engine.compiler import PageOf, PageQuery, RowById, compiled
from engine.fields import Info, ModelNode, decode_id, described_enum, relation
from engine.keyset import Order, Page, keyset_page, scope_of
from engine.permissions import (
    HasPermission,
    HasPermissionOrOwns,
    org_from_argument,
    org_from_source,
    org_of,
    owner_of,
    requires,
)
from engine.selection import prefetch_page, prefetches
from models import leads as models
from resolvers import lead_transfer as transfer_resolvers
from resolvers import leads as resolvers
from resolvers import notes as note_resolvers
from resolvers.lead_transfer import MAX_IMPORT_ERRORS, MAX_IMPORT_ROWS
from schema.accounts import User
from schema.ai import LeadAiFields
from schema.consent_receipts import LeadReceiptFields

MAX_STATUSES, MAX_SOURCES = len(models.LeadStatus), len(models.LeadSource)
TAGS_INPUT = (f"At most {resolvers.MAX_TAGS} tags, as sent, each up to {resolvers.TAG_MAX} "
              "characters; stored in lower case, blanks and repeats dropped.")

NEWEST_FIRST = (("created_at", True), ("id", True))
"""The order of a lead's notes and, by default, of leads (`resolvers.leads.ORDERS`,
`resolvers.notes.NOTE_ORDER`), as compiled operations read them."""

LeadStatus = models.LeadStatus
described_enum(
    models.LeadStatus, description="Where a lead stands in the pipeline.",
    values={
        models.LeadStatus.NEW: "Not contacted yet (the default).",
        models.LeadStatus.CONTACTED: "Reached out to.",
        models.LeadStatus.QUALIFIED: "A real prospect: interested, with a need and a budget.",
        models.LeadStatus.WON: "Became a customer.",
        models.LeadStatus.LOST: "Will not buy.",
    })
LeadSource = models.LeadSource
described_enum(
    models.LeadSource,
    description="How a lead arrived. Set by the server, never by the input.",
    values={
        models.LeadSource.MANUAL: "`createLead` by a person (signed in to a session).",
        models.LeadSource.FORM: "A submission of one of the organization's lead forms.",
        models.LeadSource.API: "`createLead` with an API token or a partner app's OAuth "
                               "access token.",
        models.LeadSource.IMPORT: "`importLeads`.",
    })


@strawberry.type(description="A page of a keyset-paginated list: cursors stay valid while rows "
                             "are added, so paging never skips or repeats a row.")
class KeysetConnection(Generic[relay.NodeType]):
    nodes: list[relay.NodeType] = strawberry.field(
        description="The items of this page, without their cursors.")
    page: strawberry.Private[Page]
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The page's items with their cursors.")
    def edges(self) -> list[relay.Edge[relay.NodeType]]:
        return [relay.Edge(cursor=self.page.cursor(row), node=row) for row in self.page.rows]

    @strawberry.field(description="Where this page stands.")
    def page_info(self) -> relay.PageInfo:
        rows = self.page.rows
        return relay.PageInfo(
            has_next_page=self.page.has_next_page,
            has_previous_page=self.page.has_previous_page,
            start_cursor=self.page.cursor(rows[0]) if rows else None,
            end_cursor=self.page.cursor(rows[-1]) if rows else None)

    @strawberry.field(description="How many items match, across all pages (one extra query).")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def from_page(cls, page: Page, count: Callable[[], Awaitable[int]]) -> Any:
        return cls(nodes=page.rows, page=page, count=count)


@strawberry.type(description="A postal address.")
class Address:
    line1: str | None = strawberry.field(description="First line: street and number.")
    line2: str | None = strawberry.field(description="Second line: suite, floor, building.")
    city: str | None = strawberry.field(description="City or town.")
    region: str | None = strawberry.field(description="State, province or county.")
    postal_code: str | None = strawberry.field(description="Postal or ZIP code.")
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code.")


@strawberry.type(description="A note on a lead.")
class Note(ModelNode):
    model = models.Note

    id: relay.NodeID[str]
    body: str = strawberry.field(description="Up to 10,000 characters; empty when "
                                             "`bodyUnreadable`.")
    created_at: datetime.datetime = strawberry.field(description="When it was written.")

    @strawberry.field(description="True when the body cannot be decrypted: its organization's "
                                  "data key was destroyed (a deleted organization's data read "
                                  "from an older copy). The body is then empty.")
    def body_unreadable(self, root: strawberry.Parent[models.Note]) -> bool:
        return bool(root.unreadable_fields)
    edited_at: datetime.datetime | None = strawberry.field(
        description="When last edited; null if never.")

    author = relation(
        "author_id", "user", graphql_type=User | None,
        description="Who wrote it; null when that account is gone.")



@strawberry.type(name="NoteConnection", description="Notes, newest first.")
class NoteConnection(KeysetConnection[Note]):
    pass


async def _first_notes_of_page(info: Info, leads: list[models.Lead],
                               selections: list[SelectedField],
                               ) -> tuple[list[models.Note], type, list[SelectedField]] | None:
    """`Lead.notes` for a whole page of leads: each selection's first page of notes per lead,
    in one query each (`loaders.first_notes`); a keyset page (`after`, `last`, `before`) loads
    on its own."""
    notes: list[models.Note] = []
    used: list[SelectedField] = []
    for notes_field in selections:
        if any(notes_field.arguments.get(name) is not None
               for name in ("after", "last", "before")):
            continue  # a keyset page of its own
        try:
            first = notes_field.arguments.get("first")
            limit = page_size(info, int(first) if first is not None else None)
        except (TypeError, ValueError, BadUserInput):
            continue  # the field itself reports a bad `first`
        pages = await info.context.loaders.first_notes(
            leads[0].organization_id, limit + 1).load_many([lead.id for lead in leads])
        notes.extend(note for page in pages for note in page)
        used.append(notes_field)
    return (notes, Note, used) if used else None


@strawberry.type(description="A prospect the organization works: personal data, handle with care.")
class Lead(ModelNode, LeadReceiptFields, LeadAiFields):
    model = models.Lead

    id: relay.NodeID[str]
    name: str = strawberry.field(description="The person's name, up to 200 characters.")
    email: str | None = strawberry.field(description="Normalised email address.")
    phone: str | None = strawberry.field(description="E.164, e.g. +14155552671.")
    company: str | None = strawberry.field(description="Where the person works.")
    title: str | None = strawberry.field(description="Job title.")
    status: LeadStatus = strawberry.field(
        description="Where the lead stands in the pipeline.")
    source: LeadSource = strawberry.field(
        description="How the lead arrived; set by the server.")
    tags: list[str] = strawberry.field(description="Lower-case labels, at most 20.")
    restricted: bool = strawberry.field(
        description="Processing restricted at the person's request (`restrictProcessing`): "
                    "left out of exports and imports, and of everything API tokens and partner "
                    "apps (OAuth) read, subscriptions included.")
    restricted_at: datetime.datetime | None = strawberry.field(
        description="Since when processing is restricted; null when it is not.")
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    updated_at: datetime.datetime = strawberry.field(
        description="When it was last saved: created, edited, assigned or restricted.")

    @strawberry.field(description="True when the lead's encrypted personal data (email, phone, "
                                  "address) cannot be decrypted: its organization's data key "
                                  "was destroyed (a deleted organization's data read from an "
                                  "older copy). Those fields are then null.")
    def personal_data_unreadable(self, root: strawberry.Parent[models.Lead]) -> bool:
        return bool(root.unreadable_fields)

    @strawberry.field(description="Postal address; null when no part of it is known.")
    def address(self, root: strawberry.Parent[models.Lead]) -> Address | None:
        parts = {part: getattr(root, f"address_{part}") for part in resolvers.ADDRESS_FIELDS}
        return Address(**parts) if any(parts.values()) else None

    owner = relation(
        "owner_id", "user", graphql_type=User | None,
        description="The member working this lead; null when nobody does.")

    @strawberry.field(description="Notes, newest first, with stable keyset cursors. Whoever may "
                                  "read the lead may read its notes.",
                      metadata={**prefetches(_first_notes_of_page),
                                **compiled(PageOf(models.Note, parent_key="lead_id",
                                                  order=NEWEST_FIRST))})
    def notes(self, root: strawberry.Parent[models.Lead], info: Info,
              first: Annotated[int | None, strawberry.argument(
                  description="Notes from the start (or after `after`), at most 100; the "
                              "default when neither `first` nor `last` is given.")] = None,
              after: Annotated[str | None, strawberry.argument(
                  description="A cursor of this list: the notes after it.")] = None,
              last: Annotated[int | None, strawberry.argument(
                  description="Notes from the end (or before `before`), at most 100.")] = None,
              before: Annotated[str | None, strawberry.argument(
                  description="A cursor of this list: the notes before it.")] = None,
              ) -> NoteConnection:
        if after is not None or last is not None or before is not None:
            return cast("NoteConnection", _notes_keyset(root, info, first, after, last, before))
        limit = page_size(info, first)
        rows = loaded(info.context.loaders.first_notes(root.organization_id, limit + 1), root.id)
        if isawaitable(rows):
            return cast("NoteConnection", _first_notes(root, info, limit, rows))
        return _notes_page(root, info, rows, limit)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list:
        wanted = list(node_ids)
        visible = await info.context.visible(models.Lead, wanted, Permission.LEADS_READ)
        return [visible.get(node_id) for node_id in wanted]


def _count_notes(root: models.Lead, info: Info) -> Callable[[], Awaitable[int]]:
    return lambda: note_resolvers.notes_query(info.context, root.organization_id, root.id).count()


def _notes_scope(root: models.Lead) -> bytes:
    return scope_of("notes", root.id, note_resolvers.NOTE_ORDER)


def _notes_page(root: models.Lead, info: Info, rows: list[models.Note],
                limit: int) -> NoteConnection:
    page = Page(rows=rows[:limit], order=note_resolvers.NOTE_ORDER,
                has_next_page=len(rows) > limit, has_previous_page=False,
                seal=info.context.services.cursors, scope=_notes_scope(root))
    return NoteConnection.from_page(page, _count_notes(root, info))


async def _first_notes(root: models.Lead, info: Info, limit: int,
                       rows: Awaitable[list[models.Note]]) -> NoteConnection:
    return _notes_page(root, info, await rows, limit)


async def _notes_keyset(root: models.Lead, info: Info, first: int | None, after: str | None,
                        last: int | None, before: str | None) -> NoteConnection:
    query = note_resolvers.notes_query(info.context, root.organization_id, root.id)
    page = await keyset_page(query, note_resolvers.NOTE_ORDER,
                             seal=info.context.services.cursors, scope=_notes_scope(root),
                             first=first, after=after, last=last, before=before,
                             max_results=max_page(info))
    return NoteConnection.from_page(page, _count_notes(root, info))


@strawberry.type(name="LeadConnection", description="Leads, in the order asked.")
class LeadConnection(KeysetConnection[Lead]):
    pass


def max_page(info: Info) -> int:
    return info.schema.config.relay_max_results


def page_size(info: Info, first: int | None) -> int:
    limit = max_page(info) if first is None else first
    if not 0 <= limit <= max_page(info):
        problem = f"must be between 0 and {max_page(info)}"
        raise BadUserInput(f"first: {problem}", {"first": problem}, reason="PAGE_SIZE",
                           limit=max_page(info))
    return limit


@strawberry.enum(description="What to sort leads by.")
class LeadOrderField(Enum):
    _value_: str  # what `strawberry.enum_value` holds
    CREATED_AT = strawberry.enum_value("created_at", description="When the lead was created.")
    UPDATED_AT = strawberry.enum_value("updated_at", description="When the lead last changed.")
    NAME = strawberry.enum_value("name", description="The lead's name.")


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("asc", description="Smallest first: oldest, or A to Z.")
    DESC = strawberry.enum_value("desc", description="Largest first: newest, or Z to A.")


@strawberry.input(description="Sort order; ties break on the id, so the order is total.")
class LeadOrder:
    field: LeadOrderField = strawberry.field(default=LeadOrderField.CREATED_AT,
                                             description="What to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Which way; DESC unless given, whatever the "
                                                 "field (give ASC for names from A to Z).")


@strawberry.input(description="Narrow the list; all given conditions must hold.")
class LeadFilter:
    status: list[LeadStatus] | None = strawberry.field(
        default=None, description=f"Leads in any of these statuses, at most {MAX_STATUSES}.")
    owner_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Leads this member works (a `User` id).")
    source: list[LeadSource] | None = strawberry.field(
        default=None, description=f"Leads from any of these sources, at most {MAX_SOURCES}.")
    tags: list[str] | None = strawberry.field(
        default=None, description=f"Leads having all these, at most {resolvers.MAX_TAGS} (the "
                                  "most a lead has).")
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive match in name, email, phone or company.")
    created_after: datetime.datetime | None = strawberry.field(
        default=None, description="Leads created at or after this time.")
    created_before: datetime.datetime | None = strawberry.field(
        default=None, description="Leads created before this time (not at it).")

    def to_resolver(self) -> resolvers.LeadFilter:
        at_most("filter.status", self.status, MAX_STATUSES)
        at_most("filter.source", self.source, MAX_SOURCES)
        at_most("filter.tags", self.tags, resolvers.MAX_TAGS)
        return resolvers.LeadFilter(
            status=[models.LeadStatus(s) for s in self.status] if self.status else None,
            source=[models.LeadSource(s) for s in self.source] if self.source else None,
            owner_id=decode_id(self.owner_id, "User", field="ownerId") if self.owner_id else None,
            tags=self.tags, search=self.search, created_after=self.created_after,
            created_before=self.created_before)


async def organization_leads(
        root: strawberry.Parent[Any], info: Info,
        first: Annotated[int | None, strawberry.argument(
            description="Leads from the start (or after `after`), 0 to 100; 100 when neither "
                        "`first` nor `last` is given.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="A cursor of this list, with the same `orderBy`: the leads after "
                        "it.")] = None,
        last: Annotated[int | None, strawberry.argument(
            description="Leads from the end (or before `before`), 0 to 100.")] = None,
        before: Annotated[str | None, strawberry.argument(
            description="A cursor of this list, with the same `orderBy`: the leads before "
                        "it.")] = None,
        filter: Annotated[LeadFilter | None, strawberry.argument(
            description="Only the leads matching every condition given.")] = None,
        order_by: Annotated[LeadOrder | None, strawberry.argument(
            description="The order; newest first when absent.")] = None,
) -> LeadConnection:
    order_by = order_by or LeadOrder()
    base = resolvers.ORDERS[order_by.field.value]
    order = Order(base.field, descending=order_by.direction is OrderDirection.DESC,
                            is_datetime=base.is_datetime)
    query = await resolvers.leads_query(info.context, root.id,
                                        filter.to_resolver() if filter else None)
    page = await keyset_page(query, order, seal=info.context.services.cursors,
                             scope=scope_of("leads", root.id, order), first=first, after=after,
                             last=last, before=before, max_results=max_page(info))
    await prefetch_page(info, page.rows, Lead)
    return LeadConnection.from_page(page, query.count)


def compiled_leads_page(arguments: dict[str, Any]) -> PageQuery | None:
    """`Organization.leads`' arguments as compiled operations read them (`engine/compiler`):
    `orderBy`, and a `filter` by status only, as `organization_leads` applies them; cursors
    and the other filters are left to the resolver (None)."""
    if any(arguments.get(name) is not None for name in ("after", "last", "before")):
        return None
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    flt = arguments.get("filter")
    if flt is not None:
        if any(value is not None for name, value in flt.items() if name != "status"):
            return None
        statuses = flt.get("status")
        if statuses is not None and len(statuses) > MAX_STATUSES:
            return None  # BAD_USER_INPUT is the resolver's
        if statuses:  # an empty list filters nothing, as in `LeadFilter.to_resolver`
            where = (("status", tuple(sorted({models.LeadStatus(s).value
                                              for s in statuses}))),)
    order_by = arguments.get("orderBy") or {}
    field = LeadOrderField(order_by.get("field", LeadOrderField.CREATED_AT))
    descending = OrderDirection(order_by.get("direction", OrderDirection.DESC)) \
        is OrderDirection.DESC
    column = resolvers.ORDERS[field.value].field
    return PageQuery(order=((column, descending), ("id", descending)), where=where)


@strawberry.type(description="What `Organization` holds of leads (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationLeadFields:
    leads: LeadConnection = strawberry.field(
        resolver=organization_leads,
        description="Leads, newest first by default, with stable keyset cursors.",
        extensions=[requires(HasPermission(Permission.LEADS_READ, org=org_from_source()))],
        metadata=compiled(PageOf(models.Lead, parent_key="organization_id",
                                 order=NEWEST_FIRST, arguments=compiled_leads_page)))


@strawberry.input(description="A postal address; every part is optional.")
class AddressInput:
    line1: str | None = strawberry.field(default=None,
                                         description="First line: street and number.")
    line2: str | None = strawberry.field(default=None,
                                         description="Second line: suite, floor, building.")
    city: str | None = strawberry.field(default=None, description="City or town.")
    region: str | None = strawberry.field(default=None,
                                          description="State, province or county.")
    postal_code: str | None = strawberry.field(default=None, description="Postal or ZIP code.")
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 code.")


def _address(value: AddressInput | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {part: getattr(value, part) for part in resolvers.ADDRESS_FIELDS}


@strawberry.input(description="A new lead.")
class CreateLeadInput:
    organization_id: relay.GlobalID = strawberry.field(
        description="The organization the lead belongs to.")
    name: str = strawberry.field(description="Up to 200 characters.")
    email: str | None = strawberry.field(default=None, description="An email address; stored "
                                                                   "normalised.")
    phone: str | None = strawberry.field(
        default=None, description="Any common format; parsed with the org's default region.")
    company: str | None = strawberry.field(default=None, description="The company they work for.")
    title: str | None = strawberry.field(default=None, description="Their job title.")
    address: AddressInput | None = strawberry.field(default=None, description="Postal address.")
    status: LeadStatus = strawberry.field(
        default=models.LeadStatus.NEW, description="Where the lead stands; NEW when absent.")
    tags: list[str] | None = strawberry.field(default=None, description=TAGS_INPUT)
    owner_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A member of the organization.")


@strawberry.input(description="Fields to change; absent fields stay as they are, null clears.")
class UpdateLeadInput:
    id: relay.GlobalID = strawberry.field(description="The lead.")
    # `| None` so that an explicit null reaches the resolver and is refused naming its field.
    name: strawberry.Maybe[str | None] = strawberry.field(
        description="Up to 200 characters. Null is refused.")
    email: strawberry.Maybe[str | None] = strawberry.field(
        description="An email address; null clears it.")
    phone: strawberry.Maybe[str | None] = strawberry.field(
        description="Any common format, parsed with the org's default region; null clears it.")
    company: strawberry.Maybe[str | None] = strawberry.field(
        description="The company they work for; null clears it.")
    title: strawberry.Maybe[str | None] = strawberry.field(
        description="Their job title; null clears it.")
    address: strawberry.Maybe[AddressInput | None] = strawberry.field(
        description="The whole new address (it replaces the old one); null clears it.")
    status: strawberry.Maybe[LeadStatus | None] = strawberry.field(
        description="Where the lead stands now. Null is refused.")
    tags: strawberry.Maybe[list[str] | None] = strawberry.field(description=TAGS_INPUT)


@strawberry.input(description="Give a lead to a member, or to nobody.")
class AssignLeadInput:
    id: relay.GlobalID = strawberry.field(description="The lead.")
    owner_id: relay.GlobalID | None = strawberry.field(
        description="A member of the lead's organization (a User id); null: nobody.")


@strawberry.input(description="A new note on a lead.")
class AddNoteInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead.")
    body: str = strawberry.field(description="1 to 10,000 characters.")


@strawberry.input(description="A note's new text.")
class UpdateNoteInput:
    id: relay.GlobalID = strawberry.field(description="The note.")
    body: str = strawberry.field(description="1 to 10,000 characters; replaces the old text.")


@strawberry.type(description="One CSV row that could not be imported.")
class ImportRowError:
    line: int = strawberry.field(description="Line number in the file (the header is line 1).")
    field: str | None = strawberry.field(description="The offending column, when one.")
    message: str = strawberry.field(description="What is wrong with it.")


@strawberry.type(description="What an import did, or would do with `dryRun`.")
class ImportResult:
    dry_run: bool = strawberry.field(description="True when nothing was written.")
    imported: int = strawberry.field(description="Rows imported (would be, with dryRun).")
    skipped: int = strawberry.field(description="Rows not imported because of a problem.")
    errors: list[ImportRowError] = strawberry.field(
        description=f"Why rows were skipped, by line: the first {MAX_IMPORT_ERRORS} problems "
                    "(one per bad cell, or per malformed line).")
    error_count: int = strawberry.field(
        description="How many problems the file has in all; `errors` lists the first "
                    f"{MAX_IMPORT_ERRORS}.")
    errors_truncated: bool = strawberry.field(
        description=f"True when `errors` stops at {MAX_IMPORT_ERRORS} and `errorCount` says how "
                    "many more there are: fix those and import again (or dry-run) to see them.")


@strawberry.type(description="Leads as CSV (UTF-8, header row, the import's column names).")
class LeadExport:
    filename: str = strawberry.field(description="A name to save the file under.")
    content_type: str = strawberry.field(description="`text/csv; charset=utf-8`.")
    row_count: int = strawberry.field(description="Leads in the file (rows after the header).")
    csv: str = strawberry.field(description="The file's content.")


@strawberry.input(description="The lead to delete.")
class DeleteLeadInput:
    id: relay.GlobalID = strawberry.field(description="The lead.")


@strawberry.input(description="The note to delete.")
class DeleteNoteInput:
    id: relay.GlobalID = strawberry.field(description="The note.")


@strawberry.input(description="A CSV file of leads to import into an organization.")
class ImportLeadsInput:
    organization_id: relay.GlobalID = strawberry.field(
        description="The organization the leads go to.")
    file: Upload = strawberry.field(
        description="The CSV file, sent as a GraphQL multipart request (map it to "
                    "`variables.input.file`).")
    dry_run: bool = strawberry.field(
        default=False, description="Check the file and report what would be imported, "
                                   "writing nothing.")


@strawberry.input(description="Which leads to export.")
class ExportLeadsInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    filter: LeadFilter | None = strawberry.field(
        default=None, description="Export only the leads matching it; absent: every lead.")


@strawberry.type(description="What createLead made.")
class CreateLeadPayload:
    lead: Lead = strawberry.field(description="The new lead.")


@strawberry.type(description="What updateLead changed.")
class UpdateLeadPayload:
    lead: Lead = strawberry.field(description="The lead, as it is now.")


@strawberry.type(description="What assignLead changed.")
class AssignLeadPayload:
    lead: Lead = strawberry.field(description="The lead, with its new owner.")


@strawberry.type(description="What deleteLead deleted.")
class DeleteLeadPayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The deleted lead's id.")


@strawberry.type(description="What addNote made.")
class AddNotePayload:
    note: Note = strawberry.field(description="The new note.")


@strawberry.type(description="What updateNote changed.")
class UpdateNotePayload:
    note: Note = strawberry.field(description="The note, as it is now.")


@strawberry.type(description="What deleteNote deleted.")
class DeleteNotePayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The deleted note's id.")


@strawberry.type(description="What importLeads did.")
class ImportLeadsPayload:
    import_result: ImportResult = strawberry.field(
        description="What was imported (would be, with `dryRun`) and why rows were skipped.")


@strawberry.type(description="What exportLeads produced.")
class ExportLeadsPayload:
    lead_export: LeadExport = strawberry.field(description="The CSV file.")


def _lead_id(value: relay.GlobalID) -> Any:
    return decode_id(value, "Lead", field="id")


@strawberry.type
class LeadQueries:
    @strawberry.field(description="A lead of an organization you belong to.",
                      extensions=[requires(HasPermission(Permission.LEADS_READ,
                                                         org=org_of(models.Lead, "Lead", "id")))],
                      metadata=compiled(RowById("id")))
    async def lead(self, info: Info, id: Annotated[relay.GlobalID, strawberry.argument(
            description="The lead's global id.")]) -> Lead:
        return cast("Lead", await resolvers.get_lead(info.context, _lead_id(id)))


@strawberry.type
class LeadMutations:
    @strawberry.mutation(description="Create a lead.",
                         extensions=[requires(HasPermission(
                             Permission.LEADS_WRITE,
                             org=org_from_argument("input.organization_id")))])
    async def create_lead(self, info: Info, input: CreateLeadInput) -> CreateLeadPayload:
        at_most("tags", input.tags, resolvers.MAX_TAGS)
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        data = {"name": input.name, "email": input.email, "phone": input.phone,
                "company": input.company, "title": input.title, "status": input.status,
                "address": _address(input.address), "tags": input.tags}
        owner = decode_id(input.owner_id, "User", field="ownerId") if input.owner_id else None
        lead = await resolvers.create_lead(info.context, org_id, data, owner_id=owner)
        return CreateLeadPayload(lead=cast("Lead", lead))

    @strawberry.mutation(description="Change some fields of a lead.",
                         extensions=[requires(HasPermission(
                             Permission.LEADS_WRITE,
                             org=org_of(models.Lead, "Lead", "input.id")))])
    async def update_lead(self, info: Info, input: UpdateLeadInput) -> UpdateLeadPayload:
        data: dict[str, Any] = {}
        for name in ("name", "email", "phone", "company", "title", "status", "tags"):
            given = getattr(input, name)
            if given is not None:
                data[name] = given.value
        if input.address is not None:
            data["address"] = _address(input.address.value)
        at_most("tags", data.get("tags"), resolvers.MAX_TAGS)
        lead = await resolvers.update_lead(info.context, _lead_id(input.id), data)
        return UpdateLeadPayload(lead=cast("Lead", lead))

    @strawberry.mutation(description="Give a lead to a member of its organization, or to nobody.",
                         extensions=[requires(HasPermission(
                             Permission.LEADS_WRITE,
                             org=org_of(models.Lead, "Lead", "input.id")))])
    async def assign_lead(self, info: Info, input: AssignLeadInput) -> AssignLeadPayload:
        owner = decode_id(input.owner_id, "User", field="ownerId") if input.owner_id else None
        lead = await resolvers.update_lead(info.context, _lead_id(input.id), {}, owner_id=owner)
        return AssignLeadPayload(lead=cast("Lead", lead))

    @strawberry.mutation(description="Delete a lead and its notes (ADMIN+, or its owner).",
                         extensions=[requires(HasPermissionOrOwns(
                             Permission.LEADS_DELETE, otherwise=Permission.LEADS_WRITE,
                             org=org_of(models.Lead, "Lead", "input.id"),
                             owner=owner_of(models.Lead, "Lead", "input.id", "owner_id")))])
    async def delete_lead(self, info: Info, input: DeleteLeadInput) -> DeleteLeadPayload:
        await resolvers.delete_lead(info.context, _lead_id(input.id))
        return DeleteLeadPayload(deleted_id=input.id)

    @strawberry.mutation(description="Add a note to a lead.",
                         extensions=[requires(HasPermission(
                             Permission.LEADS_WRITE,
                             org=org_of(models.Lead, "Lead", "input.lead_id")))])
    async def add_note(self, info: Info, input: AddNoteInput) -> AddNotePayload:
        note = await note_resolvers.add_note(
            info.context, decode_id(input.lead_id, "Lead", field="leadId"), input.body)
        return AddNotePayload(note=cast("Note", note))

    @strawberry.mutation(description="Edit a note (its author, or ADMIN+).",
                         extensions=[requires(HasPermissionOrOwns(
                             Permission.NOTES_MODERATE, otherwise=Permission.LEADS_WRITE,
                             org=org_of(models.Note, "Note", "input.id"),
                             owner=owner_of(models.Note, "Note", "input.id", "author_id")))])
    async def update_note(self, info: Info, input: UpdateNoteInput) -> UpdateNotePayload:
        note = await note_resolvers.update_note(
            info.context, decode_id(input.id, "Note", field="id"), input.body)
        return UpdateNotePayload(note=cast("Note", note))

    @strawberry.mutation(description="Delete a note (its author, or ADMIN+).",
                         extensions=[requires(HasPermissionOrOwns(
                             Permission.NOTES_MODERATE, otherwise=Permission.LEADS_WRITE,
                             org=org_of(models.Note, "Note", "input.id"),
                             owner=owner_of(models.Note, "Note", "input.id", "author_id")))])
    async def delete_note(self, info: Info, input: DeleteNoteInput) -> DeleteNotePayload:
        await note_resolvers.delete_note(info.context, decode_id(input.id, "Note", field="id"))
        return DeleteNotePayload(deleted_id=input.id)

    @strawberry.mutation(
        description="Import leads from a CSV file (see the README for the columns), sent as a "
                    "GraphQL multipart request. Valid rows are imported in one transaction and "
                    "bad rows reported by line; with `dryRun` nothing is written. A file of "
                    f"more than {MAX_IMPORT_ROWS:,} lines after the header (blank and invalid "
                    "lines count too) is refused with BAD_USER_INPUT on `file`.",
        extensions=[requires(HasPermission(Permission.LEADS_WRITE,
                                           org=org_from_argument("input.organization_id")))])
    async def import_leads(self, info: Info, input: ImportLeadsInput) -> ImportLeadsPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        result = await transfer_resolvers.import_leads(info.context, org_id, input.file,
                                                       dry_run=input.dry_run)
        return ImportLeadsPayload(import_result=ImportResult(
            dry_run=input.dry_run, imported=result.imported, skipped=result.skipped,
            errors=[ImportRowError(line=e.line, field=e.field, message=e.message)
                    for e in result.errors],
            error_count=result.error_count,
            errors_truncated=result.error_count > len(result.errors)))

    @strawberry.mutation(
        description="Export the matching leads as CSV, returned in the response body.",
        extensions=[requires(HasPermission(Permission.LEADS_EXPORT,
                                           org=org_from_argument("input.organization_id")))])
    async def export_leads(self, info: Info, input: ExportLeadsInput) -> ExportLeadsPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        export = await transfer_resolvers.export_leads(
            info.context, org_id, input.filter.to_resolver() if input.filter else None)
        return ExportLeadsPayload(lead_export=LeadExport(
            filename=export.filename, content_type="text/csv; charset=utf-8",
            row_count=export.row_count, csv=export.body))
