"""The bench's three operations, as each server is asked them, and how their answers are checked.

- **Q1** (`bench/q1.graphql`): the mobile home screen. org-1, its 20 members with their users, its
  50 newest leads, each with its owner and its 3 newest notes with their authors.
- **LeadDetail** (`bench/lead_detail.graphql`): a lead's page. org-1's newest lead (`lead-1-1000`
  of bench/load_data.py, which has 30 notes) with its owner and its 20 newest notes with their
  authors.
- **LeadSearch** (`bench/lead_search.graphql`): the search page. org-1's 50 QUALIFIED leads most
  recently updated, with their owners and `totalCount` (200).

The variables are fixed by the data set (bench/load_data.py gives every row an id derived from a
readable key), so every run asks the same thing. The API, the floor (bench/floor.py) and the API
with trusted documents get the same document and variables (the trusted one by its
`sha256:<hex>` id, `manifest()`); PostGraphile 4 and 5 get the same rows asked in their own
schemas (`bench/peers/pgl4/*.graphql`, `bench/peers/pgl5/*.graphql`, with the lead's UUID and the
status as the column stores it).

Checks before anything is timed: the API's and the trusted API's answers must EQUAL the floor's
(parsed JSON), and be complete (`expected`). PostGraphile returns the ciphertext of encrypted
columns (emails, phones, note bodies) and its own shapes, so its answer is compared with the
floor's on what both can say alike: `digest()` reduces an answer to its plain-text names and row
counts (the org's and members' names, each lead's name and owner, each note's author, the total),
members as a set, since PostGraphile 5 orders them by primary key.

    python -m bench.operations --manifest /tmp/relleks-bench/trusted-documents.json
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load_data import DETAIL_LEAD, LEADS_PER_ORG

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
SERVERS = ("floor", "pgl5", "pgl4", "api", "trusted")
"""Every server the bench can time, in the order the table prints them."""
PEER_SERVERS = ("pgl4", "pgl5")

Digest = Any
Answer = dict[str, Any]


def uuid_of(key: str) -> uuid.UUID:
    """A bench row's id: `md5(key)::uuid`, as bench/load_data.py writes it."""
    return uuid.UUID(hashlib.md5(key.encode()).hexdigest())  # an id, not a secret


def global_id(type_name: str, row_id: uuid.UUID) -> str:
    """The API's Relay global id of a row."""
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def _nodes(connection: Any) -> list[Any]:
    return list((connection or {}).get("nodes") or [])


def _name(node: Any) -> Any:
    return None if node is None else node.get("name")


def _data(answer: Answer) -> Any:
    return answer.get("data") or {}


# The digests: the same structure from our schema's answer and from PostGraphile's.

def _q1(org: Any, members: str, user: str, leads: str, owner: str, notes: str,
        author: str) -> Digest:
    if org is None:
        return None
    return {
        "org": org.get("name"),
        "members": sorted(_name(m.get(user)) for m in _nodes(org.get(members))),
        "leads": [(lead.get("name"), _name(lead.get(owner)),
                   [_name(n.get(author)) for n in _nodes(lead.get(notes))])
                  for lead in _nodes(org.get(leads))],
    }


def _detail(lead: Any, owner: str, notes: str, author: str) -> Digest:
    if lead is None:
        return None
    return {"lead": lead.get("name"), "owner": _name(lead.get(owner)),
            "notes": [_name(n.get(author)) for n in _nodes(lead.get(notes))]}


def _search(org: Any, leads: str, owner: str) -> Digest:
    if org is None:
        return None
    connection = org.get(leads) or {}
    return {"total": connection.get("totalCount"),
            "leads": [(lead.get("name"), _name(lead.get(owner))) for lead in _nodes(connection)]}


@dataclass(frozen=True)
class Operation:
    name: str
    file: str
    """Its document in our schema, under bench/."""
    variables: dict[str, Any]
    """What the API, the trusted API and the floor are sent."""
    peer_variables: dict[str, Any]
    """What PostGraphile 4 and 5 are sent."""
    digest: Callable[[Answer], Digest]
    peer_digest: Callable[[Answer], Digest]
    expected: Callable[[Digest], str | None]
    """None when a digest is complete, else what is missing."""

    @property
    def document(self) -> str:
        return (BENCH / self.file).read_text()

    @property
    def document_id(self) -> str:
        """Its trusted-document id: the SHA-256 of the document's text."""
        return hashlib.sha256(self.document.encode()).hexdigest()

    def peer_document(self, server: str) -> str:
        return (PEERS / server / self.file).read_text()

    def body(self, server: str) -> dict[str, Any]:
        """The request body `server` is sent (wrk sends it as it is)."""
        if server in PEER_SERVERS:
            return {"query": self.peer_document(server), "variables": self.peer_variables,
                    "operationName": self.name}
        if server == "trusted":
            return {"documentId": f"sha256:{self.document_id}", "variables": self.variables}
        return {"query": self.document, "variables": self.variables, "operationName": self.name}

    def digest_of(self, server: str, answer: Answer) -> Digest:
        return (self.peer_digest if server in PEER_SERVERS else self.digest)(answer)


def _counts(want: tuple[int, ...], got: tuple[int, ...], what: str) -> str | None:
    return None if got == want else f"{what}: expected {want}, got {got}"


def _q1_expected(d: Digest) -> str | None:
    if not d:
        return "no organization"
    got = (len(d["members"]), len(d["leads"]), sum(len(notes) for *_, notes in d["leads"]))
    return _counts((20, 50, 150), got, "members, leads, notes")


def _detail_expected(d: Digest) -> str | None:
    return "no lead" if not d else _counts((20,), (len(d["notes"]),), "notes")


def _search_expected(d: Digest) -> str | None:
    if not d:
        return "no organization"
    return _counts((200, 50), (d["total"], len(d["leads"])), "totalCount, leads")


DETAIL_LEAD_ID = uuid_of(f"lead-1-{DETAIL_LEAD}")
assert DETAIL_LEAD == LEADS_PER_ORG, "LeadDetail asks for the org's newest lead"

OPERATIONS = {op.name: op for op in (
    Operation(
        "Q1", "q1.graphql", {"slug": "org-1"}, {"slug": "org-1"},
        lambda a: _q1(_data(a).get("organization"), "members", "user", "leads", "owner",
                      "notes", "author"),
        lambda a: _q1(_data(a).get("organizationBySlug"), "membershipsByOrganizationId",
                      "userByUserId", "leadsByOrganizationId", "userByOwnerId", "notesByLeadId",
                      "userByAuthorId"),
        _q1_expected),
    Operation(
        "LeadDetail", "lead_detail.graphql", {"id": global_id("Lead", DETAIL_LEAD_ID)},
        {"id": str(DETAIL_LEAD_ID)},
        lambda a: _detail(_data(a).get("lead"), "owner", "notes", "author"),
        lambda a: _detail(_data(a).get("leadById") or _data(a).get("leadByRowId"),
                          "userByOwnerId", "notesByLeadId", "userByAuthorId"),
        _detail_expected),
    Operation(
        "LeadSearch", "lead_search.graphql", {"slug": "org-1", "status": ["QUALIFIED"]},
        {"slug": "org-1", "status": "qualified"},
        lambda a: _search(_data(a).get("organization"), "leads", "owner"),
        lambda a: _search(_data(a).get("organizationBySlug"), "leadsByOrganizationId",
                          "userByOwnerId"),
        _search_expected),
)}


def manifest() -> dict[str, str]:
    """The trusted-documents manifest of the bench's documents: `{sha256 hex: document text}`."""
    return {op.document_id: op.document for op in OPERATIONS.values()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the bench's trusted-documents manifest.")
    parser.add_argument("--manifest", type=Path, required=True, help="where to write it (JSON)")
    args = parser.parse_args()
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    args.manifest.write_text(json.dumps(manifest(), indent=2) + "\n")


if __name__ == "__main__":
    main()
