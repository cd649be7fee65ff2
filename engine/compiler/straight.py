"""Straight-line builders: one generated function per object shape of a page's rows.

A plan's readers are small closures, one per field (`engine/compiler/plan.py`). Called as they
are, a page of Q1 costs ~1,500 of those calls (a leaf reads its column through a second call,
a joined owner is a third), and they were a third of Q1's CPU. graphql-jit answers the same
problem for JavaScript by generating the code of a selection; this module does it for the rows
of one level: `builder(steps)` writes, once per plan, a function

    def build(row, run):
        v1 = row[3]
        if type(v1) is not str:
            v1 = finish_1(v1)
        v2 = decrypt_2(row, run)
        ...
        if row[9] is None:
            v4 = None
        else:
            v5 = row[10]
            ...
            v4 = {'name': v5}
        return {'name': v1, 'email': v2, 'owner': v4, 'notes': notes_3(row, run)}

Only the kinds of reader below are written out; any other is called as it is. The generated
code does what the readers do, value for value (`tests/compiled` compares every compiled answer
with the ordinary executor's), and raises `Abandon` where they would. Nothing in its text comes
from a request: names are the selection's response names (GraphQL names: `[_A-Za-z][_0-9A-Za-z]*`,
written with `repr`) and every value is passed in by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from engine.compiled import Abandon

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


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"Abandon": Abandon}
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

    def step(self, read: Reader, indent: str) -> str:
        if isinstance(read, Leaf):
            target = self.variable()
            source = read.read
            if isinstance(source, ColumnRead):
                self.lines.append(f"{indent}{target} = row[{source.position}]")
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
