"""Trusted documents (persisted operations): the operations first-party clients send by id.

A manifest (`TRUSTED_DOCUMENTS_FILE`, docs/trusted-documents.md) lists them, either as Relay's
persisted-query JSON, `{"<id>": "<document>", ...}`, or as Apollo's persisted-query manifest,
`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name",
"type", "body"}, ...]}`. Each id is the SHA-256 of its document's text, in hex. The manifest is
read once at start: every id is checked against its text, and every document parsed and
validated against the schema with the rules a request would meet (`prepare`, given by the
schema). A manifest that fails any of this, or lists no document at all, stops the start with
`ConfigurationError`.

A request naming a trusted document then skips parsing and validation: `DocumentParserCache`
and `DocumentValidationCache` stand in for Strawberry's caches and hand over the document parsed
at start when the request's `Context.document` is the one being run.

```python
documents = TrustedDocuments.load(Path("manifest.json"), schema.prepare_document)
documents.get("5d41402abc4b2a76b9719d911017c592...")  # TrustedDocument, or None
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import ParserCache, ValidationCache

from core.settings import ConfigurationError

DOCUMENT_ID = re.compile(r"[0-9a-f]{64}")
"""A document's id: the SHA-256 of its text, as 64 lower-case hex digits."""
APOLLO_FORMAT = "apollo-persisted-query-manifest"


def document_id(text: str) -> str:
    """The id of a document's text: its SHA-256 in hex (what relay-compiler with
    `"algorithm": "SHA256"` and Apollo's manifest generator write)."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True, eq=False)
class TrustedDocument:
    """One document of the manifest, parsed and validated at start."""

    id: str
    text: str
    document: DocumentNode
    name: str | None
    """The name of its operation when it holds one (for the logs), else None."""


class TrustedDocuments:
    """The manifest's documents by id (`get`) and by text (`by_text`, for a WebSocket's
    operations, whose text is the document's own once its id was read)."""

    def __init__(self, documents: Mapping[str, TrustedDocument]) -> None:
        self._by_id = dict(documents)
        self.by_text = {document.text: document for document in self._by_id.values()}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, id_: str) -> TrustedDocument | None:
        return self._by_id.get(id_)

    @classmethod
    def load(cls, path: Path, prepare: Callable[[str], DocumentNode]) -> TrustedDocuments:
        """The manifest at `path`; `prepare` parses and validates a document's text, raising
        GraphQLError for the first problem. Any fault, or no document at all, is a
        ConfigurationError naming the file (and the document)."""
        where = f"TRUSTED_DOCUMENTS_FILE ({path})"
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise ConfigurationError(f"{where} cannot be read: {exc.strerror or exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"{where} is not JSON: {exc}") from exc
        documents: dict[str, TrustedDocument] = {}
        for id_, text, expected in _entries(data, where):
            if not DOCUMENT_ID.fullmatch(id_):
                raise ConfigurationError(f"{where}: the id {id_[:80]!r} is not a SHA-256 in "
                                         "lower-case hex (64 digits)")
            if document_id(text) != id_:
                raise ConfigurationError(
                    f"{where}: the id {id_} is not the SHA-256 of its document (that is "
                    f"{document_id(text)}): regenerate the manifest, with SHA-256 as the hash")
            try:
                document = prepare(text)
            except GraphQLError as exc:
                raise ConfigurationError(f"{where}: the document {id_} does not hold against "
                                         f"the schema: {exc.message}") from exc
            name, kind = _operation(document)
            if expected is not None and (kind, name) != expected and kind is not None:
                raise ConfigurationError(
                    f"{where}: the document {id_} is listed as {expected[0]} {expected[1]} "
                    f"but holds {kind} {name}")
            documents[id_] = TrustedDocument(id_, text, document, name)
        if not documents:
            raise ConfigurationError(
                f"{where} lists no documents: a manifest lists the operations first-party "
                "clients send by id (a build that wrote an empty one went wrong); unset "
                "TRUSTED_DOCUMENTS_FILE to run without trusted documents")
        return cls(documents)


def _entries(data: Any, where: str) -> Iterator[tuple[str, str, tuple[str, str] | None]]:
    """(id, text, (type, name) as the manifest lists them, Apollo's only) of each entry."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where} must hold a JSON object: Relay's "
                                 '{"<id>": "<document>"} or an Apollo persisted-query manifest')
    if "format" in data or "operations" in data:
        if data.get("format") != APOLLO_FORMAT or data.get("version") != 1:
            raise ConfigurationError(f"{where}: an Apollo manifest needs \"format\": "
                                     f"\"{APOLLO_FORMAT}\" and \"version\": 1")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ConfigurationError(f"{where}: \"operations\" must be a list")
        for index, operation in enumerate(operations):
            fields = operation if isinstance(operation, dict) else {}
            id_, body, kind, name = (fields.get(key) for key in ("id", "body", "type", "name"))
            if not (isinstance(id_, str) and isinstance(body, str) and isinstance(kind, str)
                    and isinstance(name, str)):
                raise ConfigurationError(f"{where}: operations[{index}] needs the strings "
                                         "\"id\", \"name\", \"type\" and \"body\"")
            yield id_, body, (kind, name)
        return
    for id_, text in data.items():
        if not isinstance(text, str):
            raise ConfigurationError(f"{where}: the document of {id_[:80]!r} must be a string")
        yield id_, text, None


def _operation(document: DocumentNode) -> tuple[str | None, str | None]:
    """The name and type of the document's operation when it holds exactly one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return None, None
    operation = operations[0]
    return (operation.name.value if operation.name else None), operation.operation.value


def _trusted(execution_context: Any) -> TrustedDocument | None:
    """The trusted document this operation runs, when its text is that document's."""
    document = getattr(execution_context.context, "document", None)
    if document is not None and document.text is execution_context.query:
        return document
    return None


class DocumentParserCache(ParserCache):
    """Strawberry's `ParserCache`; a trusted document is not parsed again (nor looked up)."""

    def on_parse(self) -> Iterator[None]:
        trusted = _trusted(self.execution_context)
        if trusted is None:
            yield from super().on_parse()
            return
        self.execution_context.graphql_document = trusted.document
        yield


class DocumentValidationCache(ValidationCache):
    """Strawberry's `ValidationCache`; a trusted document passed validation at start with the
    same rules, so it is not validated again."""

    def on_validate(self) -> Iterator[None]:
        if _trusted(self.execution_context) is None:
            yield from super().on_validate()
            return
        self.execution_context.pre_execution_errors = []
        yield


__all__ = ["DOCUMENT_ID", "DocumentParserCache", "DocumentValidationCache", "TrustedDocument",
           "TrustedDocuments", "document_id"]
