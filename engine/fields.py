"""Shared pieces of the schema: the request-typed `Info`, model-backed nodes and connections.

Types are explicit (never a model's every column), but resolvers hand back Tortoise model instances
directly: a model-backed type declares its model, and GraphQL accepts that model as the type.
"""

from __future__ import annotations

import struct
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeAlias, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    get_named_type,
)
from strawberry import relay
from strawberry.relay.utils import SliceMetadata
from strawberry.types import Info as _Info
from strawberry.types.base import get_object_definition
from strawberry.types.enum import has_enum_definition
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import BadUserInput, NotFound
from core.loading import loaded
from engine.context import Context
from services.cursors import CursorSeal

Info: TypeAlias = _Info[Context, None]
EnumType = TypeVar("EnumType", bound=Enum)
OrganizationArg: TypeAlias = Annotated[relay.GlobalID, strawberry.argument(
    description="The organization.")]
"""The `organizationId` argument of fields that act on one organization."""

RELATION = "relleks.relation"
"""The metadata key of a relation field (`relation`): what the engine plans it by."""


def described_enum(cls: type[EnumType], *, description: str, values: dict[Any, str],
                   name: str | None = None) -> type[EnumType]:
    """`strawberry.enum` for a Python enum defined elsewhere (models, resolvers), with a
    description for each value: `strawberry.enum_value` would have to sit in that module, and
    those layers do not import Strawberry.

        LeadStatus = models.LeadStatus
        described_enum(models.LeadStatus, description="Where a lead stands.",
                       values={models.LeadStatus.NEW: "Not contacted yet.", ...})

    It annotates `cls` in place (and returns it), so the schema module binds the name to the
    model's enum itself: a name a type checker takes as a type.

    Every member needs a description, and only members may have one: a missing or unknown key
    fails at import, so a value added to the model cannot go undocumented."""
    described = {cls(key): text for key, text in values.items()}  # unknown keys raise here
    missing = [member.name for member in cls if member not in described]
    if missing:
        raise ValueError(f"{cls.__name__}: no description for {', '.join(missing)}")
    wrapped = strawberry.enum(cls, name=name, description=description)
    assert has_enum_definition(wrapped)
    for value in wrapped.__strawberry_definition__.values:
        value.description = described[cls(value.value)]
    return cls


STRAWBERRY_PAGING_TEXTS = frozenset({
    "Returns the items in the list that come before the specified cursor.",
    "Returns the items in the list that come after the specified cursor.",
    "Returns the first n items from the list.",
})
"""What Strawberry's `relay.connection` says of `before`, `after`, `first` and `last` (`last`
wrongly reads as `after`)."""


def describe_paging_arguments(schema: GraphQLSchema, max_results: int) -> None:
    """Give the paging arguments of every `relay.connection` field our descriptions, which say
    what `last` does and how large a page may be, in place of Strawberry's. Runs on the built
    schema, which introspection and the SDL printer both read."""
    texts = {
        "first": f"The first n items (after `after`, when given), 0 to {max_results}.",
        "last": f"The last n items (before `before`, when given), 0 to {max_results}.",
        "after": "A cursor from this list (an edge's `cursor`, or `pageInfo.endCursor`): the "
                 "items after it.",
        "before": "A cursor from this list (an edge's `cursor`, or `pageInfo.startCursor`): "
                  "the items before it.",
    }
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field in type_.fields.values():
            for name, argument in field.args.items():
                if name in texts and argument.description in STRAWBERRY_PAGING_TEXTS:
                    argument.description = texts[name]


def describe_mutation_inputs(schema: GraphQLSchema) -> None:
    """Give every mutation's `input` argument a description naming its input type, which
    describes each of its fields (the mutation convention: one `input: <Name>Input!`, see the
    README's "Mutations"). Runs on the built schema, as `describe_paging_arguments` does."""
    mutation = schema.mutation_type
    for name, field in (mutation.fields if mutation else {}).items():
        argument = field.args.get("input")
        if argument is not None and not argument.description:
            argument.description = (f"Everything `{name}` takes, in one object "
                                    f"(`{get_named_type(argument.type).name}`).")


class ModelNode(relay.Node):
    """A Relay node backed by a Tortoise model: its global id wraps the model's UUID."""

    model: ClassVar[type[Model]]

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, cls | cls.model)

    @classmethod
    def resolve_id(cls, root: Any, *, info: Info) -> str:
        return str(root.id)

    @classmethod
    def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                      required: bool = False) -> Awaitable[list[Any]] | list[Any]:
        """By default `node(id:)` finds nothing (NOT_FOUND): such rows are read through their
        organization's connections. Types that `node` may fetch override this with a check."""
        return [None for _ in node_ids]


def relation(key: str, loader: str, *, graphql_type: Any, description: str) -> Any:
    """A field that follows a foreign key through a request loader, declared once.

        owner = relation("owner_id", "user", graphql_type=User | None,
                         description="The member working this lead; null when nobody does.")

    `key` is the row's attribute holding the id, `loader` the `Loaders` attribute that loads
    it. The one declaration gives the field both its resolver (the loaded value, or the pending
    load; None when the key is) and the metadata by which the lean executor and compiled plans
    (`engine/plans.py`) follow it without calling the resolver, and by which a connection
    prefetches it for a whole page (`prefetch_relations`)."""
    link = (key, loader)

    def resolve(root: Any, info: Info) -> Any:
        value = getattr(root, key)
        if value is None:
            return None
        return loaded(getattr(info.context.loaders, loader), value)

    setattr(resolve, _RELATION_OF, link)
    return strawberry.field(resolver=resolve, graphql_type=graphql_type,
                            description=description, metadata={RELATION: link})


_RELATION_OF = "_relleks_relation"


def relation_of(resolver: Any) -> tuple[str, str] | None:
    """The (key, loader) of a resolver that `relation` made, else None."""
    return getattr(resolver, _RELATION_OF, None)


def decode_id(value: Any, node: type[ModelNode] | str, *, field: str = "id") -> uuid.UUID:
    """The UUID inside a global id of `node` (a node type, or its GraphQL name); NOT_FOUND
    naming `field`, the argument as the client spells it (`organizationId`), for anything else:
    another type's id, an id whose node part is no UUID, or no id at all (None).

        decode_id(input.organization_id, "Organization", field="organizationId")

    The one id decoder: fields and their permission locators (`engine/permissions.py`) both
    read ids through it, so a field never accepts an id its locator refused."""
    name = node if isinstance(node, str) else get_object_definition(node, strict=True).name
    if isinstance(value, relay.GlobalID) and value.type_name == name:
        try:
            return uuid.UUID(value.node_id)
        except ValueError:
            pass
    raise NotFound(name.lower(), field=field)


@dataclass(frozen=True)
class Rows:
    """A not-yet-run query for a connection to page through in SQL (LIMIT/OFFSET and COUNT).

    Connection resolvers return `Rows(query)` rather than the QuerySet itself: Strawberry awaits
    anything awaitable a connection resolver returns, which would load every row."""

    query: QuerySet[Any]
    prefetch: Callable[[list[Any]], Awaitable[Any]] | None = None
    """Loads what the caller selected below the page's items, in batches (see `loaders`)."""
    wrap: Callable[[Any], Any] | None = None
    """Turns each row of the page into the type the connection holds, when that is not the
    row itself (e.g. `DataExport` around its `ScheduledWork`)."""


@strawberry.type(description="A page of items, with the total across all pages.")
class Connection(relay.ListConnection[relay.NodeType]):
    """An offset-cursor connection, capped at the schema's maximum page size. It pages a list in
    memory or a `Rows` query in SQL: one statement for the page (one row more than asked tells
    whether there is a next page), and a COUNT only when `totalCount` is asked for.

    Large, append-only lists use keyset cursors instead (see the leads connection).

    Its cursors are opaque like those: the offset is sealed (`services/cursors.py`) for the
    field it came from (`Organization.members`...), so a cursor of another list is
    BAD_USER_INPUT; they are sealed only when the selection reads them (`edges`, `pageInfo`),
    so a page read through `nodes` (Q1) costs nothing for them."""

    total: strawberry.Private[Callable[[], Awaitable[int]] | int] = 0

    @strawberry.field(description="How many items there are across all pages.")
    async def total_count(self) -> int:
        return self.total if isinstance(self.total, int) else await self.total()

    @strawberry.field(description="The items of this page, without their cursors.")
    def nodes(self) -> list[relay.NodeType]:
        return [edge.node for edge in self.edges]

    @classmethod
    def resolve_connection(cls, nodes: Iterable[Any] | Rows, *, info: Any,  # type: ignore[override]  # pages lists and Rows, not async iterables
                           before: str | None = None, after: str | None = None,
                           first: int | None = None, last: int | None = None,
                           max_results: int | None = None, **kwargs: Any) -> Any:
        seal: CursorSeal = info.context.services.cursors
        scope = f"offset:{info.path.typename}.{info.field_name}".encode()
        before = _plain_offset(seal, scope, before, "before")
        after = _plain_offset(seal, scope, after, "after")
        cursor_of = _offset_sealer(seal, scope) if _reads_cursors(info) else None
        try:
            page = SliceMetadata.from_arguments(info, before=before, after=after, first=first,
                                                last=last, max_results=max_results,
                                                prefix=relay.Edge.CURSOR_PREFIX)
        except (ValueError, TypeError) as exc:
            # Strawberry reports a bad `first`/`after` as a bare ValueError/TypeError.
            raise BadUserInput(str(exc), {"pagination": str(exc)}) from exc
        if isinstance(nodes, Rows):
            return cls._page_query(nodes, page, last, cursor_of)
        items = list(nodes)
        start, end = cls._bounds(page, last, len(items))
        return cls._build(items[start:end], start, end < len(items), len(items), cursor_of)

    @classmethod
    async def _page_query(cls, rows: Rows, page: SliceMetadata, last: int | None,
                          cursor_of: Callable[[int], str] | None) -> Any:
        total: Callable[[], Awaitable[int]] | int = rows.query.count
        if last is not None and page.end == sys.maxsize:
            # `last` without `before` counts back from the end: it needs the total first.
            total = await rows.query.count()
            start, end = cls._bounds(page, last, total)
        else:
            start, end = page.start, page.end
        items = list(await rows.query.offset(start).limit(end - start + 1)) if end > start else []
        has_next = len(items) > end - start
        items = items[:end - start]
        if items and rows.prefetch is not None:
            await rows.prefetch(items)
        if rows.wrap is not None:
            items = [rows.wrap(item) for item in items]
        return cls._build(items, start, has_next, total, cursor_of)

    @staticmethod
    def _bounds(page: SliceMetadata, last: int | None, total: int) -> tuple[int, int]:
        end = min(page.end, total)
        start = max(0, min(page.start, end))
        if last is not None and page.end == sys.maxsize:
            start = max(start, end - last)
        return start, end

    @classmethod
    def _build(cls, items: list[Any], start: int, has_next: bool,
               total: Callable[[], Awaitable[int]] | int,
               cursor_of: Callable[[int], str] | None) -> Any:
        edges = [relay.Edge(cursor=cursor_of(index) if cursor_of else "", node=item)
                 for index, item in enumerate(items, start)]
        connection = cls(edges=edges, page_info=relay.PageInfo(
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
            has_previous_page=start > 0,
            has_next_page=has_next,
        ))
        connection.total = total
        return connection


OFFSET = struct.Struct(">Q")


def _offset_sealer(seal: CursorSeal, scope: bytes) -> Callable[[int], str]:
    return lambda index: seal.seal(OFFSET.pack(index), scope)


def _plain_offset(seal: CursorSeal, scope: bytes, cursor: str | None,
                  argument: str) -> str | None:
    """A sealed offset cursor as Strawberry's own (`arrayconnection:N` in base64), for its
    slicing; BAD_USER_INPUT naming `argument` for anything we did not seal for this list."""
    if cursor is None:
        return None
    try:
        (index,) = OFFSET.unpack(seal.open(cursor, scope))
    except (ValueError, TypeError, struct.error) as exc:
        raise BadUserInput.field(
            argument, "is not a cursor of this list (cursors are opaque: pass back a cursor "
                      "this list gave)") from exc
    return relay.to_base64(relay.Edge.CURSOR_PREFIX, index)


def _reads_cursors(info: Any) -> bool:
    """Whether the connection's selection reads cursors: `edges` or `pageInfo`, also through
    fragments. Read from the query's syntax tree, which costs a few node visits (Strawberry's
    `selected_fields` would convert the whole selection first)."""
    raw = info._raw_info
    pending = [selection for node in raw.field_nodes if node.selection_set
               for selection in node.selection_set.selections]
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            if selection.name.value in ("edges", "pageInfo"):
                return True
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = raw.fragments.get(selection.name.value)
            if fragment is not None:
                pending.extend(fragment.selection_set.selections)
    return False
