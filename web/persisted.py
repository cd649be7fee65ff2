"""A trusted document named by its id, as the clients' persisted-query formats send it.

A request (a JSON body, a GET's query string, or a WebSocket's `subscribe` payload) may carry,
instead of `query` or beside it:

- `"documentId": "sha256:<hex>"` (the GraphQL-over-HTTP persisted documents proposal; a bare
  `<hex>` is accepted too);
- `"doc_id": "<hex>"` (Relay);
- `"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}` (Apollo).

The id names a document of the manifest (`engine/documents.py`). An id the manifest lacks is
PERSISTED_QUERY_NOT_FOUND, which Apollo Client's persisted-query link reads by its code. With
the text sent as well, the id must be the text's SHA-256, and the text is still run only when
the manifest holds it: documents are never registered at runtime (automatic persisted queries),
since the manifest is the list of operations first-party clients were built with, and anyone
could add to a list that a request can extend. `PERSISTED_ONLY` refuses free text to chosen
kinds of client (`refusal_of_free_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError

from core.errors import ErrorCode
from engine.documents import DOCUMENT_ID, TrustedDocument, TrustedDocuments, document_id

PREFIX = "sha256:"
MAX_ID = len(PREFIX) + 64
NOT_FOUND = ("PersistedQueryNotFound: no trusted document has this id. Only the documents of "
             "the server's manifest run by id, and none are added at runtime: regenerate the "
             "manifest with the client's build and deploy it.")
NOT_REGISTERED = ("PersistedQueryNotFound: this document is not in the server's manifest, and "
                  "documents are not registered at runtime: send it as `query` alone, or add it "
                  "to the manifest.")


class DocumentRefused(Exception):
    """The request named a document in a way that cannot run; `error` tells the client."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


def _bad_id(message: str, reason: str = "INVALID_DOCUMENT_ID") -> DocumentRefused:
    return DocumentRefused(GraphQLError(message, extensions={
        "code": ErrorCode.BAD_USER_INPUT.value, "reason": reason}))


def _not_found(message: str, id_: str) -> DocumentRefused:
    return DocumentRefused(GraphQLError(message, extensions={
        "code": ErrorCode.PERSISTED_QUERY_NOT_FOUND.value, "documentId": f"{PREFIX}{id_}"}))


def _ids_sent(data: Mapping[str, Any]) -> list[tuple[str, object]]:
    """(where, value) of every id the request carries, in any of the three formats; a field
    sent as null counts as absent."""
    sent: list[tuple[str, object]] = []
    for where in ("documentId", "doc_id"):
        if data.get(where) is not None:
            sent.append((where, data[where]))
    extensions = data.get("extensions")
    if isinstance(extensions, Mapping) and extensions.get("persistedQuery") is not None:
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, Mapping):
            raise _bad_id("`extensions.persistedQuery` must be an object: "
                          '{"version": 1, "sha256Hash": "<hex>"}.')
        if persisted.get("version") != 1:
            raise _bad_id("`extensions.persistedQuery.version` must be 1.",
                          "PERSISTED_QUERY_VERSION")
        sent.append(("extensions.persistedQuery.sha256Hash", persisted.get("sha256Hash")))
    return sent


def _normal(where: str, value: object) -> str:
    """The id as 64 lower-case hex digits, or BAD_USER_INPUT (never echoing what was sent)."""
    if not isinstance(value, str) or len(value) > MAX_ID:
        raise _bad_id(f"`{where}` must be a string: the document's SHA-256 in hex, "
                      f"optionally prefixed with `{PREFIX}`.")
    id_ = value.removeprefix(PREFIX).lower() if where == "documentId" else value.lower()
    if not DOCUMENT_ID.fullmatch(id_):
        raise _bad_id(f"`{where}` is not a SHA-256 in hex (64 digits"
                      + (f", optionally prefixed with `{PREFIX}`" if where == "documentId"
                         else "") + ").")
    return id_


def requested_document(documents: TrustedDocuments | None, data: Mapping[str, Any]
                       ) -> TrustedDocument | None:
    """The trusted document the request names, or None when it names none (free text, or no
    operation at all). Raises DocumentRefused for a malformed id, ids that disagree, an id that
    is not the sent text's hash, or an id the manifest lacks."""
    sent = _ids_sent(data)
    if not sent:
        return None
    ids = {_normal(where, value) for where, value in sent}
    if len(ids) > 1:
        raise _bad_id("The request names two different documents: send one id.",
                      "DOCUMENT_ID_MISMATCH")
    (id_,) = ids
    query = data.get("query")
    if isinstance(query, str) and query:
        if document_id(query) != id_:
            raise _bad_id("The document id is not the SHA-256 of the `query` sent with it: "
                          "send the id alone, or the text it was computed from.",
                          "DOCUMENT_ID_MISMATCH")
        document = documents.get(id_) if documents is not None else None
        if document is None:
            raise _not_found(NOT_REGISTERED, id_)
        return document
    document = documents.get(id_) if documents is not None else None
    if document is None:
        raise _not_found(NOT_FOUND, id_)
    return document


def refusal_of_free_text(kind: str, persisted_only: tuple[str, ...]) -> GraphQLError | None:
    """PERSISTED_QUERY_REQUIRED for a free-text `query` from a kind of client `PERSISTED_ONLY`
    names (`auth.viewer.Viewer.kind`), else None."""
    if kind not in persisted_only:
        return None
    return GraphQLError(
        "This client may run trusted documents only: send the document's id (`documentId`) "
        "instead of the query text.",
        extensions={"code": ErrorCode.PERSISTED_QUERY_REQUIRED.value, "clientKind": kind})


__all__ = ["DocumentRefused", "refusal_of_free_text", "requested_document"]
