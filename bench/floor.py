"""The floor: hand-written SQL over asyncpg, orjson and bare Starlette, on OUR tables.

It answers the bench's three operations (bench/operations.py), told apart by the request's
`operationName` (or, without one, by the document's `query <Name>`), with one query per level and
no parsing, validation, resolvers or authentication: what the fastest Python server could do with
the same data. `bench/harness.py` checks that its answers equal the API's once both are parsed,
before it times either, so the orders, limits and spellings here are the API's: enums by NAME
(`OWNER`, `NEW`), times as ISO 8601 with the offset, null for an owner or author whose account is
gone, and

- Q1 (`bench/q1.graphql`, any slug): members oldest first (created_at, id), leads newest first
  (created_at desc, id desc), each lead's 3 newest notes;
- LeadDetail (`bench/lead_detail.graphql`, a lead's global id): the lead with its owner, its 20
  newest notes (created_at desc, id desc) with their authors;
- LeadSearch (`bench/lead_search.graphql`, a slug and statuses): the org's 50 leads of those
  statuses most recently updated (updated_at desc, id desc) with their owners, and how many match
  (`count(*) OVER ()` in the same statement).

It follows `../shared/bench/floor.py`, the reference floor over `dataset.sql`'s plain schema, so
the ratios we measure compare with the ones in `../shared/NOTES.md`.

The bench data is encrypted as production's is (bench/load_data.py, docs/encryption.md), and the
floor decrypts what it returns, as the API must (issue 24): at start it reads every org's data
keys from the keystore (BENCH_KEYSTORE_DSN, by default `<name>_keystore` beside BENCH_DSN) and
unwraps them with the KEK (KEK_BASE64, as `bench/run.sh` gives the API); then each lead's email and
phone and each note's body is one AES-GCM decryption, `cryptography`'s AESGCM called directly on
`enc:v1:<version>:<base64(nonce | ciphertext | tag)>` with the associated data
`<org id>|<table>|<column>|<row id>` (keystore/fields.py's format). A value without the prefix is
returned as it is, as the API does.

    BENCH_DSN=postgres://postgres@127.0.0.1:54329/relleks_bench KEK_BASE64=... \
        uvicorn bench.floor:app --host 127.0.0.1 --port 18082
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DSN = os.environ.get("BENCH_DSN", "postgres://postgres@127.0.0.1:54329/relleks_bench")
KEYSTORE_DSN = os.environ.get("BENCH_KEYSTORE_DSN") or urlunsplit(
    urlsplit(DSN)._replace(path=urlsplit(DSN).path + "_keystore"))
# The development KEK of core/settings.py when KEK_BASE64 is unset, as the API does.
KEK = base64.b64decode(os.environ.get("KEK_BASE64")
                       or "ZGV2LW9ubHktaW5zZWN1cmUta2VrLWNoYW5nZS1tZSE=")
PREFIX = "enc:v1:"
pool: asyncpg.Pool
ciphers: dict[tuple[Any, int], AESGCM] = {}  # (org id, key version) -> its data key

ORG = "SELECT id, name, slug FROM organizations WHERE slug = $1"
MEMBERS = """
SELECT upper(m.role) AS role, u.name, u.email
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = $1
ORDER BY m.created_at, m.id
LIMIT 20
"""
LEADS = """
SELECT l.id, l.name, l.email, l.phone, upper(l.status) AS status, l.owner_id, u.name AS owner
FROM leads l LEFT JOIN users u ON u.id = l.owner_id
WHERE l.organization_id = $1
ORDER BY l.created_at DESC, l.id DESC
LIMIT 50
"""
NOTES = """
SELECT id, lead_id, body, author_id, author FROM (
  SELECT n.id, n.lead_id, n.body, n.author_id, u.name AS author,
         row_number() OVER (PARTITION BY n.lead_id ORDER BY n.created_at DESC, n.id DESC) AS rn
  FROM notes n LEFT JOIN users u ON u.id = n.author_id
  WHERE n.organization_id = $1 AND n.lead_id = ANY($2::uuid[])
) ranked
WHERE rn <= 3
ORDER BY lead_id, rn
"""

LEAD = """
SELECT l.id, l.organization_id, l.name, l.email, l.phone, upper(l.status) AS status, l.created_at,
       l.owner_id, u.name AS owner, u.email AS owner_email
FROM leads l LEFT JOIN users u ON u.id = l.owner_id
WHERE l.id = $1
"""
LEAD_NOTES = """
SELECT n.id, n.body, n.created_at, n.author_id, u.name AS author
FROM notes n LEFT JOIN users u ON u.id = n.author_id
WHERE n.lead_id = $1
ORDER BY n.created_at DESC, n.id DESC
LIMIT 20
"""
SEARCH = """
SELECT l.id, l.name, l.email, l.phone, upper(l.status) AS status, l.updated_at, l.owner_id,
       u.name AS owner, count(*) OVER () AS total
FROM leads l LEFT JOIN users u ON u.id = l.owner_id
WHERE l.organization_id = $1 AND l.status = ANY($2::text[])
ORDER BY l.updated_at DESC, l.id DESC
LIMIT 50
"""
OPERATION_NAME = re.compile(r"\bquery\s+(\w+)")


def plain(org: Any, table: str, column: str, row_id: Any, stored: str | None) -> str | None:
    if stored is None or not stored.startswith(PREFIX):
        return stored
    version, _, payload = stored[len(PREFIX):].partition(":")
    data = base64.b64decode(payload)
    return ciphers[org, int(version)].decrypt(
        data[:12], data[12:], f"{org}|{table}|{column}|{row_id}".encode()).decode()


def json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def error(message: str) -> Response:
    return json_response({"data": None, "errors": [{"message": message}]})


async def graphql(request: Request) -> Response:
    body = orjson.loads(await request.body())
    name = body.get("operationName")
    if not name:
        found = OPERATION_NAME.search(body.get("query") or "")
        name = found.group(1) if found else None
    handler = OPERATIONS.get(name or "")
    if handler is None:
        return error(f"the floor answers {', '.join(OPERATIONS)}, not {name!r}")
    return await handler(body.get("variables") or {})


async def q1(variables: dict[str, Any]) -> Response:
    slug = variables["slug"]
    async with pool.acquire() as c:
        org = await c.fetchrow(ORG, slug.lower())
        if org is None:
            return json_response({"data": {"organization": None}})
        members = await c.fetch(MEMBERS, org["id"])
        leads = await c.fetch(LEADS, org["id"])
        notes = await c.fetch(NOTES, org["id"], [lead["id"] for lead in leads])
    org_id = org["id"]
    notes_by_lead: dict[Any, list[dict[str, Any]]] = {}
    for n in notes:
        notes_by_lead.setdefault(n["lead_id"], []).append({
            "body": plain(org_id, "notes", "body", n["id"], n["body"]),
            "author": None if n["author_id"] is None else {"name": n["author"]},
        })
    data = {"organization": {
        "name": org["name"],
        "slug": org["slug"],
        "members": {"nodes": [
            {"role": m["role"], "user": {"name": m["name"], "email": m["email"]}}
            for m in members
        ]},
        "leads": {"nodes": [{
            "name": lead["name"],
            "email": plain(org_id, "leads", "email", lead["id"], lead["email"]),
            "phone": plain(org_id, "leads", "phone", lead["id"], lead["phone"]),
            "status": lead["status"],
            "owner": None if lead["owner_id"] is None else {"name": lead["owner"]},
            "notes": {"nodes": notes_by_lead.get(lead["id"], [])},
        } for lead in leads]},
    }}
    return json_response({"data": data})


async def lead_detail(variables: dict[str, Any]) -> Response:
    try:  # the API's global id: base64 of `Lead:<uuid>`
        kind, _, raw = base64.b64decode(variables["id"]).decode().partition(":")
        lead_id = uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return error("not a lead's id")
    async with pool.acquire() as c:
        lead = await c.fetchrow(LEAD, lead_id) if kind == "Lead" else None
        if lead is None:
            return error("no such lead")
        notes = await c.fetch(LEAD_NOTES, lead_id)
    org_id = lead["organization_id"]
    data = {"lead": {
        "name": lead["name"],
        "email": plain(org_id, "leads", "email", lead_id, lead["email"]),
        "phone": plain(org_id, "leads", "phone", lead_id, lead["phone"]),
        "status": lead["status"],
        "createdAt": lead["created_at"].isoformat(),
        "owner": None if lead["owner_id"] is None else {
            "name": lead["owner"], "email": lead["owner_email"]},
        "notes": {"nodes": [{
            "body": plain(org_id, "notes", "body", n["id"], n["body"]),
            "createdAt": n["created_at"].isoformat(),
            "author": None if n["author_id"] is None else {"name": n["author"]},
        } for n in notes]},
    }}
    return json_response({"data": data})


async def lead_search(variables: dict[str, Any]) -> Response:
    statuses = [status.lower() for status in variables.get("status") or ()]
    async with pool.acquire() as c:
        org = await c.fetchrow(ORG, variables["slug"].lower())
        if org is None:
            return json_response({"data": {"organization": None}})
        if not statuses:  # no filter: every status
            statuses = ["new", "contacted", "qualified", "won", "lost"]
        leads = await c.fetch(SEARCH, org["id"], statuses)
    org_id = org["id"]
    data = {"organization": {"leads": {
        "totalCount": leads[0]["total"] if leads else 0,
        "nodes": [{
            "name": lead["name"],
            "email": plain(org_id, "leads", "email", lead["id"], lead["email"]),
            "phone": plain(org_id, "leads", "phone", lead["id"], lead["phone"]),
            "status": lead["status"],
            "updatedAt": lead["updated_at"].isoformat(),
            "owner": None if lead["owner_id"] is None else {"name": lead["owner"]},
        } for lead in leads],
    }}}
    return json_response({"data": data})


OPERATIONS = {"Q1": q1, "LeadDetail": lead_detail, "LeadSearch": lead_search}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=4, max_size=10)
    kek = AESGCM(KEK)
    keystore = await asyncpg.connect(KEYSTORE_DSN)
    try:  # every org's usable keys, unwrapped once (keystore/kek.py LocalKek's format)
        for key in await keystore.fetch(
                "SELECT organization_id, version, wrapped FROM data_keys "
                "WHERE wrapped IS NOT NULL"):
            wrapped = bytes(key["wrapped"])
            ciphers[key["organization_id"], key["version"]] = AESGCM(
                kek.decrypt(wrapped[:12], wrapped[12:], b"relleks data key"))
    except asyncpg.UndefinedTableError:
        pass  # a keystore without keys: the data is plain text
    finally:
        await keystore.close()
    yield
    await pool.close()


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)
