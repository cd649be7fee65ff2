"""Compiling one query operation into a plan that answers it from rows, and running the plan.

What it compiles: a query whose one root field declares `LocatedRow` (`organization(slug:)`),
below it the organization's plain fields and its connections declaring `PageOf` (given `first`
only, read through `nodes`, `totalCount` at the top level), their rows' plain fields (columns;
encrypted ones decrypted with the org's keys, as the model does), relations to rows outside the
tenant tables (joined) and connections nested in them (one statement for a whole level, ranked
per parent with `ROW_NUMBER()`), `id` and `__typename`, through inline fragments and fragment
spreads without directives. Anything else, at compile time, makes the operation uncompilable
(`Uncompilable`), and the ordinary executor answers it.

Permissions are resolved statically: a field compiles only when every permission it names is
decided once per execution (`DecidedPermission`), belongs to the org (`BelongsToOrg`, at the root)
or needs a permission in the parent's org (`HasPermission` with `org_from_source`). The plan keeps
the list, and at run time checks each once, through the same `ctx.access` the permissions call;
any refusal (or a support grant, whose reads are logged field by field) abandons the plan
(`Abandon`) before a row is read, and the ordinary executor gives the errors.

Rows are read through the request's tenant scope (`ctx.access.raw`, which writes the org
condition and hides restricted leads from credentials that are not people): one statement per
level, as the hand-written floor (`bench/floor.py`) does. The SQL text of a plan does not depend
on the variables' values (on PostgreSQL a list of ids is one `uuid[]` parameter), so asyncpg's
statement cache prepares each statement once per connection. Values are converted as
`database.rows` converts them for models (`column_conversion`) and serialised by the field's
GraphQL type, so the answer is the ordinary executor's: `COMPILED_OPERATIONS=check` (the tests)
compares the two on every compiled operation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments
from tortoise.models import Model

from database.rows import column_conversion
from engine.compiled import Abandon
from engine.compiler.declare import COMPILED, LocatedRow, PageOf, PageQuery, RowById
from engine.compiler.straight import ColumnRead, Connection, Decrypted, Joined, Leaf, builder
from engine.fields import RELATION, ModelNode, decode_id
from engine.permissions import BelongsToOrg, DecidedPermission, HasPermission
from keystore import keys
from keystore.fields import (
    Encrypted,
    EncryptedJSONField,
    EncryptedTextField,
)

Reader = Callable[[Any, "Run"], Any]


class Uncompilable(Exception):
    """The operation asks for something the compiler does not handle."""


class Run:
    """The state of one run of a plan: the org, and the rows each level read, by parent."""

    __slots__ = ("keys", "org_id", "org_text", "root_arguments", "rows", "totals")

    def __init__(self, org_id: uuid.UUID, root_arguments: dict[str, Any]) -> None:
        self.org_id = org_id
        self.org_text = str(org_id)  # the start of every value's associated data
        self.keys: keys.OrgKeys | None = None  # the org's, once a level with encrypted columns read
        self.root_arguments = root_arguments  # the root field's, as its resolver takes them
        self.rows: dict[Level, dict[Any, list[Any]]] = {}
        self.totals: dict[Level, int] = {}


class Requirements:
    """The permissions a plan needs, gathered while compiling it."""

    def __init__(self) -> None:
        self.decided: list[DecidedPermission] = []
        self.in_org: list[Any] = []  # auth.permissions.Permission values

    def add(self, definition: Any, *, root: bool = False,
            declared: bool = False) -> BelongsToOrg | None:
        """Record what `definition`'s permissions need; the root's `BelongsToOrg`, if any, is
        returned. Any other extension makes the field uncompilable, unless the field declares
        its compiled form (`declared`: e.g. Strawberry's relay `ConnectionExtension`, which
        pages what the declaration describes)."""
        belongs: BelongsToOrg | None = None
        for extension in definition.extensions:
            if not isinstance(extension, PermissionExtension):
                if declared:
                    continue
                raise Uncompilable(f"extension {type(extension).__name__}")
            for permission in extension.permissions:
                if isinstance(permission, DecidedPermission):
                    if permission not in self.decided:
                        self.decided.append(permission)
                elif type(permission) is HasPermission and permission.org.from_source \
                        and not root:
                    if permission.permission not in self.in_org:
                        self.in_org.append(permission.permission)
                elif type(permission) is HasPermission and root \
                        and not permission.org.from_source and belongs is None:
                    belongs = permission  # and its permission, required in the org:
                    self.in_org.append(permission.permission)
                elif type(permission) is BelongsToOrg and root \
                        and not permission.org.from_source and belongs is None:
                    belongs = permission
                else:
                    raise Uncompilable(f"permission {type(permission).__name__}")
        return belongs


def _named(output_type: Any) -> tuple[Any, bool]:
    if isinstance(output_type, GraphQLNonNull):
        return output_type.of_type, True
    return output_type, False


def _definition(field: Any) -> Any:
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None:
        raise Uncompilable("not a Strawberry field")
    return definition


def _model_of(object_type: GraphQLObjectType) -> type[Model]:
    definition = (object_type.extensions or {}).get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, ModelNode)):
        raise Uncompilable(f"{object_type.name} is not model-backed")
    return origin.model


class Compiler:
    """Compiles one operation against one schema, given the variables of the request that
    first sent it (only their shapes matter: which are null, which absent)."""

    def __init__(self, schema: Any, fragments: dict[str, Any], variable_values: Any,
                 max_results: int, postgres: bool) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variable_values = variable_values
        self.max_results = max_results
        self.postgres = postgres
        self.requirements = Requirements()

    def fields(self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None,
               ) -> list[tuple[str, FieldNode]]:
        """The selection's fields, fragments flattened, in response order; one node per
        response name (a name selected twice: Uncompilable)."""
        if selection_set is None:
            raise Uncompilable("no selection")
        found: list[tuple[str, FieldNode]] = []

        def walk(selections: Any) -> None:
            for selection in selections:
                if selection.directives:
                    raise Uncompilable("directives")
                if isinstance(selection, FieldNode):
                    found.append(((selection.alias or selection.name).value, selection))
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is not None and condition.name.value != parent.name:
                        raise Uncompilable("fragment on another type")
                    walk(selection.selection_set.selections)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is None or fragment.type_condition.name.value != parent.name:
                        raise Uncompilable("fragment on another type")
                    walk(fragment.selection_set.selections)
                else:
                    raise Uncompilable("selection")

        walk(selection_set.selections)
        names = [name for name, _ in found]
        if len(set(names)) != len(names):
            raise Uncompilable("a response name selected twice")
        return found

    def arguments(self, field: Any, node: FieldNode) -> dict[str, Any]:
        try:
            return get_argument_values(field, node, self.variable_values)
        except Exception as exc:  # the ordinary executor reports it
            raise Uncompilable("arguments") from exc

    # The root.

    def root(self, operation: OperationDefinitionNode) -> Plan:
        if operation.operation is not OperationType.QUERY or operation.directives:
            raise Uncompilable("not a query")
        query = self.schema.query_type
        selected = [(name, node) for name, node in self.fields(query, operation.selection_set)
                    if node.name.value != "__typename"]
        if len(selected) != 1:
            raise Uncompilable("one root field")
        name, node = selected[0]
        field = query.fields.get(node.name.value)
        if field is None:
            raise Uncompilable("unknown field")
        definition = _definition(field)
        declaration = (definition.metadata or {}).get(COMPILED)
        if not isinstance(declaration, LocatedRow | RowById):
            raise Uncompilable("root field not declared")
        belongs = self.requirements.add(definition, root=True)
        if belongs is None or (isinstance(declaration, LocatedRow) \
                and type(belongs) is not BelongsToOrg):
            raise Uncompilable("root field without its org's permission")
        object_type, _ = _named(field.type)
        if not isinstance(object_type, GraphQLObjectType):
            raise Uncompilable("root type")
        model = _model_of(object_type)
        root_level: Level | None = None
        if isinstance(declaration, RowById):
            if not getattr(model, "tenant_scoped", False):
                raise Uncompilable("a row by id of an untenanted model")
            root_level = Level(PageOf(model, parent_key="id", order=(("id", False),)), field,
                               node, self.postgres, nested=False)
            root_level.by_id = (declaration.argument, object_type.name)
            root_level.id_position = root_level.select("{table}.id")
            self.top_levels.append(root_level)
        readers = self.object_fields(object_type, node.selection_set, model, root_level)
        self.arguments(field, node)  # refuses arguments it cannot coerce now
        loader = declaration.loader if isinstance(declaration, LocatedRow) else None
        return Plan(self, name, field, node, belongs, loader, root_level,
                    readers, query.name,
                    [n for n, _ in self.fields(query, operation.selection_set)])

    # Objects.

    def object_fields(self, object_type: GraphQLObjectType, selection_set: Any,
                      model: type[Model], level: Level | None) -> list[tuple[str, Reader]]:
        """Readers of the selected fields of one object: a model instance (`level` None, the
        root) or a row of `level`'s statement."""
        readers: list[tuple[str, Reader]] = []
        for name, node in self.fields(object_type, selection_set):
            readers.append((name, self.object_field(object_type, node, model, level)))
        return readers

    def object_field(self, object_type: GraphQLObjectType, node: FieldNode,
                     model: type[Model], level: Level | None) -> Reader:
        field_name = node.name.value
        if field_name == "__typename":
            return _constant(object_type.name)
        field = object_type.fields.get(field_name)
        if field is None:
            raise Uncompilable("unknown field")
        definition = _definition(field)
        named, required = _named(field.type)
        metadata = definition.metadata or {}
        declaration = metadata.get(COMPILED)
        self.requirements.add(definition, declared=declaration is not None)
        if isinstance(declaration, PageOf):
            return self.page(field, node, declaration, model, level)
        if node.arguments or field.args:
            raise Uncompilable("arguments")
        if field_name == "id" and named.name == "ID":
            return _global_id(object_type.name, self.column(model, "id", level))
        relation = metadata.get(RELATION)
        if relation is not None:
            if level is None:
                raise Uncompilable("relation of the root")
            return self.join(field, node, relation[0], level, required)
        if definition.base_resolver is not None or not is_leaf_type(named):
            raise Uncompilable(f"{object_type.name}.{field_name} has a resolver")
        read = self.column(model, definition.python_name, level)
        return Leaf(read, named, required)

    def column(self, model: type[Model], attribute: str, level: Level | None,
               alias: str = "{table}") -> Reader:
        """How to read the model value of `attribute` of the row (decrypted)."""
        meta = model._meta
        model_field = meta.fields_map.get(attribute)
        if model_field is None or attribute not in meta.fields_db_projection:
            raise Uncompilable(f"{model.__name__}.{attribute} is no column")
        if level is None:
            return lambda row, _run: getattr(row, attribute)
        if isinstance(model_field, EncryptedJSONField):
            raise Uncompilable("encrypted JSON")
        position = level.select(f"{alias}.{meta.fields_db_projection[attribute]}")
        convert = column_conversion(model_field, self.postgres)
        if isinstance(model_field, EncryptedTextField):
            if not issubclass(model, Encrypted) or model.key_owner_field != "organization_id" \
                    or alias != "{table}":
                raise Uncompilable("encrypted column of another owner")
            level.encrypted = True
            table = meta.db_table
            column = model_field.source_field or attribute
            id_position = level.select("{table}.id")
            id_convert = column_conversion(meta.fields_map["id"], self.postgres)
            return Decrypted(position, id_position, id_convert, table, column)
        if convert is None:
            return ColumnRead(position)
        return lambda row, _run: convert(row[position])

    def join(self, field: Any, node: FieldNode, key: str, level: Level,
             required: bool) -> Reader:
        """A relation to a row outside the tenant tables (a user), joined into the level."""
        target_type, _ = _named(field.type)
        if not isinstance(target_type, GraphQLObjectType):
            raise Uncompilable("relation type")
        target = _model_of(target_type)
        if getattr(target, "tenant_scoped", False) or issubclass(target, Encrypted):
            raise Uncompilable("relation to a tenant or encrypted row")
        model = level.model
        key_field = model._meta.fields_db_projection.get(key)
        if key_field is None:
            raise Uncompilable("relation key")
        alias = f"j{len(level.joins)}"
        level.joins.append(f"LEFT JOIN {target._meta.db_table} {alias} "
                           f"ON {alias}.id = {{table}}.{key_field}")
        present = level.select(f"{alias}.id")
        readers: list[tuple[str, Reader]] = []
        for name, child in self.fields(target_type, node.selection_set):
            child_name = child.name.value
            if child_name == "__typename":
                readers.append((name, _constant(target_type.name)))
                continue
            child_field = target_type.fields.get(child_name)
            if child_field is None or child.arguments or child_field.args:
                raise Uncompilable("relation field")
            definition = _definition(child_field)
            self.requirements.add(definition)
            named, child_required = _named(child_field.type)
            if child_name == "id" and named.name == "ID":
                readers.append((name, _global_id(target_type.name,
                                                 self.column(target, "id", level, alias))))
                continue
            if (definition.metadata or {}) or definition.base_resolver is not None \
                    or not is_leaf_type(named):
                raise Uncompilable("relation field with a resolver")
            read = self.column(target, definition.python_name, level, alias)
            readers.append((name, Leaf(read, named, child_required)))
        return Joined(present, required, readers)

    def page(self, field: Any, node: FieldNode, declaration: PageOf, parent: type[Model],
             parent_level: Level | None) -> Reader:
        arguments = self.arguments(field, node)
        if declaration.arguments is not None:
            if parent_level is not None or declaration.arguments(arguments) is None:
                raise Uncompilable("arguments the declaration does not express")
        elif any(value is not None for name, value in arguments.items() if name != "first"):
            raise Uncompilable("paging arguments other than first")
        if "first" not in field.args or arguments.get("first") is None:
            raise Uncompilable("first not given")
        connection_type, _ = _named(field.type)
        if not isinstance(connection_type, GraphQLObjectType):
            raise Uncompilable("connection type")
        nodes_field = connection_type.fields.get("nodes")
        if nodes_field is None:
            raise Uncompilable("no nodes")
        node_type = nodes_field.type
        while isinstance(node_type, GraphQLNonNull | GraphQLList):
            node_type = node_type.of_type
        if not isinstance(node_type, GraphQLObjectType) \
                or _model_of(node_type) is not declaration.model:
            raise Uncompilable("nodes of another model")
        if parent_level is None:
            if declaration.parent_key != "organization_id":
                raise Uncompilable("a root page not by org")
        elif declaration.parent_key not in declaration.model._meta.fields_db_projection:
            raise Uncompilable("parent key")
        level = Level(declaration, field, node, self.postgres, nested=parent_level is not None)
        # The parent's key and the id first: readers below capture their positions.
        level.parent_position = level.select(f"{{table}}.{declaration.parent_key}")
        level.id_position = level.select("{table}.id")
        parts: list[tuple[str, str, Any]] = []
        for name, child in self.fields(connection_type, node.selection_set):
            child_name = child.name.value
            if child_name == "__typename":
                parts.append((name, "typename", connection_type.name))
            elif child_name == "nodes":
                readers = self.object_fields(node_type, child.selection_set,
                                             declaration.model, level)
                parts.append((name, "nodes", builder(readers)))
            elif child_name == "totalCount" and parent_level is None:
                level.total = True
                # The total before the LIMIT, on every row of the page (as the floor counts):
                # one statement, not a COUNT of its own.
                level.total_position = level.select("COUNT(*) OVER ()")
                parts.append((name, "total", None))
            else:
                raise Uncompilable(f"connection field {child_name}")
        if parent_level is None:
            self.top_levels.append(level)
        else:
            parent_level.children.append(level)
        return Connection(level, parent_level.id_position if parent_level is not None else None,
                          parts)

    top_levels: list[Level]


def _constant(value: Any) -> Reader:
    return lambda _row, _run: value


def _global_id(type_name: str, read_id: Reader) -> Reader:
    """A node's `id`: the global id of its type and row, as `ModelNode.resolve_id` makes it."""
    return lambda row, run: relay.to_base64(type_name, str(read_id(row, run)))


class Level:
    """One statement of a plan: a page of rows of one model, for the org (a top-level
    connection) or for every row of the parent level (ranked per parent)."""

    def __init__(self, declaration: PageOf, field: Any, node: FieldNode, postgres: bool,
                 *, nested: bool) -> None:
        self.declaration = declaration
        self.model = declaration.model
        self.field = field
        self.node = node
        self.postgres = postgres
        self.nested = nested
        self.columns: list[str] = []
        self.joins: list[str] = []
        self.children: list[Level] = []
        self.encrypted = False
        self.total = False
        self.total_position = 0
        self.by_id: tuple[str, str] | None = None  # a root row: (argument, type name)
        self.parent_position = 0
        self.id_position = 0
        self._sql: str | None = None

    def select(self, expression: str) -> int:
        if expression not in self.columns:
            self.columns.append(expression)
        return self.columns.index(expression)

    def where(self, query: PageQuery) -> tuple[str, list[Any]]:
        """The query's conditions (after the tenant's) and their parameters."""
        sql, params = "", []
        fields = self.model._meta.fields_db_projection
        for column, values in query.where:
            name = f"{{table}}.{fields[column]}"
            if self.postgres:
                sql += f" AND {name} = ANY(?)"
                params.append(list(values))
            else:
                sql += f" AND {name} IN ({', '.join('?' for _ in values)})"
                params.extend(values)
        return sql, params

    def sql(self, parents: int, query: PageQuery | None = None) -> str:
        """The statement (`{table}`, `{tenant}` for the scope to fill; `?` parameters: the
        page size, and for a nested level the parents' ids)."""
        if query is None and self._sql is not None and (self.postgres or not self.nested):
            return self._sql
        selected = ", ".join(f"{c} AS c{i}" for i, c in enumerate(self.columns))
        order = ", ".join(f"{{table}}.{column}{' DESC' if descending else ''}"
                          for column, descending in (query or self.declaration).order)
        joins = " ".join(self.joins)
        if not self.nested:
            where = self.where(query)[0] if query is not None else ""
            # Names and columns from the models' metadata, values as parameters:
            sql = (f"SELECT {selected} FROM {{table}} {joins} WHERE {{tenant}}"  # noqa: S608
                   f"{where} ORDER BY {order} LIMIT ?")
            if query is not None:
                return sql
        else:
            key = f"{{table}}.{self.declaration.parent_key}"
            within = f"{key} = ANY(?::uuid[])" if self.postgres \
                else f"{key} IN ({', '.join('?' for _ in range(parents))})"
            names = ", ".join(f"c{i}" for i in range(len(self.columns)))
            sql = (f"SELECT {names} FROM (SELECT {selected}, ROW_NUMBER() OVER (PARTITION BY "  # noqa: S608
                   f"{key} ORDER BY {order}) AS rn FROM {{table}} {joins} "
                   f"WHERE {{tenant}} AND {within}) ranked WHERE rn <= ? ORDER BY rn")
        if self.postgres or not self.nested:
            self._sql = sql
        return sql

    def first(self, arguments: dict[str, Any], max_results: int) -> int:
        first = arguments.get("first")
        if not isinstance(first, int) or not 1 <= first <= max_results:
            raise Abandon  # the resolver reports (or answers) it
        return first

    async def load_row(self, access: Any, run: Run, arguments: dict[str, Any],
                       variable_values: Any, max_results: int) -> None:
        """The root row named by its global id (a root `RowById` field)."""
        assert self.by_id is not None
        argument, type_name = self.by_id
        row_id = decode_id(run.root_arguments.get(argument), type_name)  # NOT_FOUND: abandons
        selected = ", ".join(f"{c} AS c{i}" for i, c in enumerate(self.columns))
        sql = (f"SELECT {selected} FROM {{table}} {' '.join(self.joins)} "  # noqa: S608
               "WHERE {tenant} AND {table}.id = ?")
        rows, _ = await access.raw(self.model, run.org_id, sql,
                                   [row_id if self.postgres else str(row_id)])
        if not rows:
            raise Abandon  # not visible to the caller: NOT_FOUND is the ordinary path's
        run.rows[self] = {None: list(rows)}
        if self.encrypted:
            await keys.load((run.org_id,))
            run.keys = keys.cached(run.org_id)
        for child in self.children:
            await child.load(access, run, [rows[0][self.id_position]], variable_values,
                             max_results)

    async def load(self, access: Any, run: Run, parent_ids: list[Any] | None,
                   variable_values: Any, max_results: int) -> None:
        arguments = get_argument_values(self.field, self.node, variable_values)
        if self.by_id is not None:
            await self.load_row(access, run, arguments, variable_values, max_results)
            return
        first = self.first(arguments, max_results)
        query: PageQuery | None = None
        if self.declaration.arguments is not None:
            query = self.declaration.arguments(arguments)
            if query is None:
                raise Abandon
        by_parent: dict[Any, list[Any]] = {}
        where_params = self.where(query)[1] if query is not None else []
        if parent_ids is None:
            rows, _ = await access.raw(self.model, run.org_id, self.sql(0, query),
                                       [*where_params, first])
            by_parent[None] = list(rows)
        elif parent_ids:
            params: list[Any] = [parent_ids] if self.postgres else list(parent_ids)
            rows, _ = await access.raw(self.model, run.org_id, self.sql(len(parent_ids)),
                                       [*params, first])
            position = self.parent_position
            for row in rows:
                by_parent.setdefault(row[position], []).append(row)
        run.rows[self] = by_parent
        if self.total:  # a top level's: no row, none to count (`first` is at least 1)
            page = by_parent.get(None)
            run.totals[self] = int(page[0][self.total_position]) if page else 0
        if self.encrypted:
            await keys.load((run.org_id,))
            run.keys = keys.cached(run.org_id)
        if self.children:
            ids = [row[self.id_position] for rows in by_parent.values() for row in rows]
            for child in self.children:
                await child.load(access, run, ids, variable_values, max_results)


class Plan:
    """A compiled operation: what it checks, what it reads, how it answers."""

    def __init__(self, compiler: Compiler, response_name: str, field: Any, node: FieldNode,
                 belongs: BelongsToOrg, loader: str | None, root_level: Level | None,
                 readers: list[tuple[str, Reader]], query_name: str,
                 order: list[str]) -> None:
        self.response_name = response_name
        self.field = field
        self.node = node
        self.belongs = belongs
        self.loader = loader
        self.root_level = root_level
        self.definition = _definition(field)
        self.strawberry_schema = compiler.schema._strawberry_schema
        self.readers = tuple(readers)
        self.decided = tuple(compiler.requirements.decided)
        self.in_org = tuple(compiler.requirements.in_org)
        self.levels = tuple(compiler.top_levels)
        self.max_results = compiler.max_results
        self.query_name = query_name
        self.order = order

    async def run(self, context: Any, variable_values: Any) -> dict[str, Any]:
        """The operation's data; Abandon when the ordinary executor must answer."""
        viewer = context.viewer
        if viewer.user is None and viewer.error:
            raise Abandon  # UNAUTHENTICATED is the ordinary path's to raise
        for permission in self.decided:
            if not permission.allows(context):
                raise Abandon
        arguments = get_argument_values(self.field, self.node, variable_values)
        # As Strawberry hands them to the resolver and its permission (a global id parsed):
        kwargs = convert_arguments(arguments, self.definition.arguments,
                                   self.strawberry_schema.schema_converter.scalar_registry,
                                   self.strawberry_schema.config)
        access = context.access
        org_id = await self.belongs.org.find(None, kwargs, _Info(context))
        if org_id is None or await access.membership(org_id) is None \
                or access.through_support_grant(org_id) is not None:
            raise Abandon  # NOT_FOUND, or a support read to log: the ordinary path
        for permission in self.in_org:
            await access.require(org_id, permission)  # a refusal abandons the plan
        root: Any = None
        if self.loader is not None:
            root = await getattr(context.loaders, self.loader).load(org_id)
            if root is None:
                raise Abandon
        run = Run(org_id, kwargs)
        for level in self.levels:
            await level.load(access, run, None, variable_values, self.max_results)
        if self.root_level is not None:
            root = run.rows[self.root_level][None][0]
        answer = {name: read(root, run) for name, read in self.readers}
        return {name: (answer if name == self.response_name else self.query_name)
                for name in self.order}


class _Info:
    """What an org locator reads of a resolve info: the context alone."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


def compile_operation(schema: Any, operation: OperationDefinitionNode,
                      fragments: dict[str, Any], variable_values: Any,
                      postgres: bool) -> Plan:
    """The plan of `operation`; Uncompilable when the compiler does not handle it."""
    max_results = schema._strawberry_schema.config.relay_max_results
    compiler = Compiler(schema, fragments, variable_values, max_results, postgres)
    compiler.top_levels = []
    return compiler.root(operation)
