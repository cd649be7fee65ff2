"""Straight-line builders: one generated function per object shape of a page's rows.

A plan's readers are small callables, one per field (`engine/compiler/plan.py`). Called as
they are, a page of Q1 costs ~1,500 of those calls (a leaf reads its column through a second
call, a decrypted one a third, a joined owner and each lead's page of notes their own), and
they were a third of Q1's CPU. graphql-jit answers the same problem for JavaScript by generating
the code of a selection; this module does it for the rows of one level: `builder(steps)`
writes, once per plan, a function

    def build(row, run):
        v1 = row[3]
        if type(v1) is not str:
            v1 = _1(v1)                          # the leaf's finish: nulls, serialisation
        v2 = row[4]
        if v2 is not None and v2.startswith(PREFIX):
            v2 = decrypt_with(run.keys, run.org_text + '|leads|email|', row[1], v2)
        ...
        if row[9] is None:
            v4 = None
        else:
            v5 = row[10]
            ...
            v4 = {'name': v5}
        v6_rows = run.rows[_7].get(row[1], ())  # the lead's notes, read by the next level
        v6 = {'nodes': [_8(one, run) for one in v6_rows]}
        return {'name': v1, 'email': v2, 'owner': v4, 'notes': v6}

Only the kinds of reader below are written out; any other is called as it is. The generated
code does what the readers do, value for value (`tests/compiled` compares every compiled answer
with the ordinary executor's), and raises where they would (`Abandon`, or `Unreadable` for a
value that does not decrypt: either abandons the plan). Nothing in its text comes
from a request: names are the selection's response names (GraphQL names: `[_A-Za-z][_0-9A-Za-z]*`,
written with `repr`) and every value is passed in by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from engine.compiled import Abandon
from keystore.fields import PREFIX, decrypt_with

Reader = Callable[[Any, Any], Any]
Finish = Callable[[Any], Any]


class ColumnRead:
    """A column of the level's row, as the driver gives it (no conversion)."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position

    def __call__(self, row: Any, _run: Any) -> Any:
        return row[self.position]


STRING_LIKE = frozenset({"String", "ID"})
"""Scalars whose serialisation gives a `str` back as it is (graphql-core's)."""


class Leaf:
    """A scalar or enum field: its value read, then checked and serialised by `finish`. Two
    shortcuts give `finish`'s answer for the usual values: a `str` of a String or an ID is its
    own answer, and an enum member's is its GraphQL name (`names`: Strawberry's enum type finds
    it by comparing each value's `.value` in turn)."""

    __slots__ = ("finish", "is_string", "names", "read")

    def __init__(self, read: Reader, named: Any, required: bool) -> None:
        self.read = read
        self.is_string = named.name in STRING_LIKE
        wrapped = getattr(named, "wrapped_cls", None)  # a Strawberry enum's Python class
        self.names: dict[Any, str] | None = None
        if isinstance(wrapped, type) and issubclass(wrapped, Enum):
            by_value = {value.value: name for name, value in named.values.items()}
            self.names = {member: by_value[member.value] for member in wrapped
                          if member.value in by_value}
        serialize = named.serialize

        def finish(value: Any) -> Any:
            if value is None:
                if required:
                    raise Abandon
                return None
            serialized = serialize(value)
            if serialized is None:
                raise Abandon
            return serialized

        self.finish: Finish = finish

    def __call__(self, row: Any, run: Any) -> Any:
        value = self.read(row, run)
        if self.is_string and type(value) is str:
            return value
        if self.names is not None and value in self.names:
            return self.names[value]
        return self.finish(value)


class Joined:
    """A row joined into the level (a lead's owner): None when its `present` column is."""

    __slots__ = ("present", "required", "steps")

    def __init__(self, present: int, required: bool,
                 steps: Sequence[tuple[str, Reader]]) -> None:
        self.present = present
        self.required = required
        self.steps = tuple(steps)

    def __call__(self, row: Any, run: Any) -> Any:
        if row[self.present] is None:
            if self.required:
                raise Abandon
            return None
        return {name: read(row, run) for name, read in self.steps}


class Decrypted:
    """An encrypted column of the level's row, decrypted with the run's org keys (the column
    was selected with the row's id: the associated data names both). A value that does not
    decrypt raises `Unreadable`, and the plan is abandoned: the ordinary path says which
    field is unreadable."""

    __slots__ = ("aad_tail", "id_convert", "id_position", "position")

    def __init__(self, position: int, id_position: int, id_convert: Finish | None,
                 table: str, column: str) -> None:
        self.position = position
        self.id_position = id_position
        self.id_convert = id_convert
        self.aad_tail = f"|{table}|{column}|"

    def __call__(self, row: Any, run: Any) -> Any:
        stored = row[self.position]
        if stored is None or not stored.startswith(PREFIX):
            return stored  # plain text from before encryption, read as it is
        row_id = row[self.id_position]
        if self.id_convert is not None:
            row_id = self.id_convert(row_id)
        return decrypt_with(run.keys, run.org_text + self.aad_tail, row_id, stored)


class Connection:
    """A connection of the row (`level`'s rows whose parent is the row, or the top level's):
    `shape` lists its selected fields as (name, "nodes", build), (name, "total", None) or
    (name, "typename", the name)."""

    __slots__ = ("id_position", "level", "shape")

    def __init__(self, level: Any, id_position: int | None,
                 shape: Sequence[tuple[str, str, Any]]) -> None:
        self.level = level
        self.id_position = id_position
        self.shape = tuple(shape)

    def __call__(self, row: Any, run: Any) -> Any:
        key = None if self.id_position is None else row[self.id_position]
        rows = run.rows[self.level].get(key, ())
        answer: dict[str, Any] = {}
        for name, kind, data in self.shape:
            if kind == "nodes":
                answer[name] = [data(one, run) for one in rows]
            elif kind == "total":
                answer[name] = run.totals[self.level]
            else:
                answer[name] = data
        return answer


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"Abandon": Abandon, "PREFIX": PREFIX,
                                      "decrypt_with": decrypt_with}
        self.count = 0

    def value(self, value: Any) -> str:
        """The name under which the generated code finds `value`."""
        name = f"_{len(self.names)}"
        self.names[name] = value
        return name

    def variable(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def object(self, steps: Sequence[tuple[str, Reader]], indent: str) -> str:
        """Lines computing each step into a variable; the object's display."""
        parts = [f"{name!r}: {self.step(read, indent)}" for name, read in steps]
        return "{" + ", ".join(parts) + "}"

    def decrypted(self, read: Decrypted, target: str, indent: str) -> None:
        """Lines leaving the plain text of `read`'s column in `target`."""
        self.lines.append(f"{indent}{target} = row[{read.position}]")
        self.lines.append(f"{indent}if {target} is not None and {target}.startswith(PREFIX):")
        row_id = f"row[{read.id_position}]"
        if read.id_convert is not None:
            row_id = f"{self.value(read.id_convert)}({row_id})"
        self.lines.append(f"{indent}    {target} = decrypt_with(run.keys, run.org_text + "
                          f"{read.aad_tail!r}, {row_id}, {target})")

    def step(self, read: Reader, indent: str) -> str:
        if isinstance(read, Leaf):
            target = self.variable()
            source = read.read
            if isinstance(source, ColumnRead):
                self.lines.append(f"{indent}{target} = row[{source.position}]")
            elif isinstance(source, Decrypted):
                self.decrypted(source, target, indent)
            else:
                self.lines.append(f"{indent}{target} = {self.value(source)}(row, run)")
            finish = self.value(read.finish)
            if read.is_string:
                self.lines.append(f"{indent}if type({target}) is not str:")
                self.lines.append(f"{indent}    {target} = {finish}({target})")
            elif read.names is not None:
                names = self.value(read.names)
                self.lines.append(f"{indent}{target} = {names}.get({target}) or {finish}({target})")
            else:
                self.lines.append(f"{indent}{target} = {finish}({target})")
            return target
        if isinstance(read, ColumnRead):
            return f"row[{read.position}]"
        if isinstance(read, Decrypted):
            target = self.variable()
            self.decrypted(read, target, indent)
            return target
        if isinstance(read, Connection):
            target = self.variable()
            level = self.value(read.level)
            key = "None" if read.id_position is None else f"row[{read.id_position}]"
            self.lines.append(f"{indent}{target}_rows = run.rows[{level}].get({key}, ())")
            parts = []
            for name, kind, data in read.shape:
                if kind == "nodes":
                    parts.append(f"{name!r}: [{self.value(data)}(one, run) "
                                 f"for one in {target}_rows]")
                elif kind == "total":
                    parts.append(f"{name!r}: run.totals[{level}]")
                else:
                    parts.append(f"{name!r}: {self.value(data)}")
            self.lines.append(f"{indent}{target} = {{{', '.join(parts)}}}")
            return target
        if isinstance(read, Joined):
            target = self.variable()
            self.lines.append(f"{indent}if row[{read.present}] is None:")
            self.lines.append(f"{indent}    raise Abandon" if read.required
                              else f"{indent}    {target} = None")
            self.lines.append(f"{indent}else:")
            display = self.object(read.steps, indent + "    ")
            self.lines.append(f"{indent}    {target} = {display}")
            return target
        return f"{self.value(read)}(row, run)"


def builder(steps: Sequence[tuple[str, Reader]]) -> Reader:
    """One function building the object of `steps` from a row, as
    `{name: read(row, run) for name, read in steps}` would (see the module's docstring)."""
    writer = _Writer()
    display = writer.object(steps, "    ")
    source = "\n".join(["def build(row, run):", *writer.lines, f"    return {display}", ""])
    namespace = dict(writer.names)
    exec(compile(source, "<compiled plan>", "exec"), namespace)  # noqa: S102 - see the docstring
    build: Reader = namespace["build"]
    return build
