"""Load the Q1 benchmark's data set into PostgreSQL, in the project's own schema, once.

The shape is `../shared/bench/dataset.sql`'s: 100 organizations (`org-1`..`org-100`), 2,000 users,
20 members per org (1 OWNER, 2 ADMIN, 15 MEMBER, 2 VIEWER), 1,000 leads per org (100,000) and 3
notes per lead (300,000), with the same owners, authors and timestamps. The tables are the ones our
committed migrations create (`database.migrate_database`), so the API reads exactly what it reads in
production. Rows are written with set-based `INSERT ... SELECT generate_series` statements through
the project's Tortoise connection: 400,000 ORM saves would take minutes, this takes seconds.

Ids are `md5(...)::uuid` of a readable key (`user-7`, `lead-3-42`), so every load gives the same
ids. Every user's password is `BENCH_PASSWORD`, and emails are `user<N>@example.com`: user N is
member N-20*(org-1) of org ((N-1) // 20) + 1, e.g. `user4@example.com` is a MEMBER of `org-1`.

Each org's newest lead (`lead-<o>-1000`, LeadDetail's: bench/operations.py) has 27 notes more
than the others (`DETAIL_NOTES_PARAMS`: 30 in all, newer than its first 3), so the detail page's
20 newest notes are 20. The extra notes are inserted with fixed ids and `ON CONFLICT DO NOTHING`:
a database loaded by version 2 gains them without a reload.

A marker table (`bench_dataset`) records that the load finished and which version of this script
wrote it: a later run only applies new migrations and returns. `--force` reloads.

The personal fields are then ENCRYPTED as production stores them (docs/encryption.md): every org
gets its data key in the bench's keystore (`<name>_keystore` beside the data, or KEYSTORE_URL;
the KEK from KEK_BASE64, which `bench/run.sh` fixes for the loader, the API and the floor) and
leads' email and phone (with their blind indexes) and note bodies are rewritten with
`keystore.fields.encrypt`, the function the models' saves call, so the values are exactly what
`jobs.encryption.encrypt_org` writes (it is run over org-1 afterwards and must find nothing to
save). Set-based for the same reason as the load: `encrypt_org` saves rows one by one, 400,000
saves. Resumable and idempotent: only values still without the `enc:` prefix are read, one org
per transaction, so a stopped run, or a database loaded by version 1 (plain text), is finished by
the next run.

    python -m bench.load_data --url postgres://postgres@127.0.0.1:54329/relleks_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import connections
from tortoise.transactions import in_transaction

from auth.passwords import hash_password
from database import close_database, init_database, migrate_database
from keystore import keys
from keystore.fields import PREFIX, decrypt, encrypt, normalise

# Bump when the data set's shape changes: a database loaded by another version is reloaded.
DATASET_VERSION = 3  # 2: the personal fields are encrypted (encrypt_personal_fields)
# 3: the detail lead's extra notes (DETAIL_NOTES_PARAMS); a v2 database is upgraded in place
UPGRADABLE = {2}
"""Versions `main()` brings to DATASET_VERSION without a reload (add_detail_notes)."""
BENCH_PASSWORD = "bench-password-q1-correct-horse"
ORGS, MEMBERS_PER_ORG, LEADS_PER_ORG, NOTES_PER_LEAD = 100, 20, 1000, 3
DETAIL_LEAD, DETAIL_NOTES_PER_LEAD = LEADS_PER_ORG, 30  # each org's newest lead, and its notes

MARKER = ("CREATE TABLE IF NOT EXISTS bench_dataset "
          "(version int NOT NULL, loaded_at timestamptz NOT NULL)")

# CASCADE empties every table that references these: org-owned rows, sessions, the activity log.
CLEAR = "TRUNCATE users, organizations, bench_dataset CASCADE"

USERS = """
INSERT INTO users (id, created_at, email, email_verified, name, password_hash, avatar_key,
                   age_check_passed_at, terms_version, terms_accepted_at, updated_at)
SELECT md5('user-' || u)::uuid, t, 'user' || u || '@example.com', true, 'User ' || u,
       $1::text, NULL, t, '2026-11-01', t, t
FROM generate_series(1, $2::int) u,
     LATERAL (SELECT timestamptz '2025-12-01 00:00:00+00' + u * interval '1 minute' AS t) ts
"""

ORGANIZATIONS = """
INSERT INTO organizations (id, created_at, name, slug, updated_at, default_region)
SELECT md5('org-' || o)::uuid, t, 'Org ' || o, 'org-' || o, t, 'US'
FROM generate_series(1, $1::int) o,
     LATERAL (SELECT timestamptz '2025-12-02 00:00:00+00' + o * interval '1 minute' AS t) ts
"""

# Members join in the order of m, so `members(first: 20)` (oldest first) lists the OWNER first.
MEMBERSHIPS = """
INSERT INTO memberships (id, created_at, role, organization_id, user_id)
SELECT md5('membership-' || o || '-' || m)::uuid,
       timestamptz '2025-12-03 00:00:00+00' + o * interval '1 hour' + m * interval '1 minute',
       CASE WHEN m = 1 THEN 'owner' WHEN m <= 3 THEN 'admin' WHEN m <= 18 THEN 'member'
            ELSE 'viewer' END,
       md5('org-' || o)::uuid, md5('user-' || ((o - 1) * $2::int + m))::uuid
FROM generate_series(1, $1::int) o, generate_series(1, $2::int) m
"""

# dataset.sql's `l.id` is the serial (o - 1) * 1000 + l; owners and authors derive from it.
LEADS = """
INSERT INTO leads (id, created_at, name, email, phone, status, source, tags, updated_at,
                   organization_id, owner_id)
SELECT md5('lead-' || o || '-' || l)::uuid, t, 'Lead ' || o || '-' || l,
       'lead' || o || '-' || l || '@mail.test', '+1555' || lpad(l::text, 7, '0'),
       (ARRAY['new', 'contacted', 'qualified', 'won', 'lost'])[1 + l % 5],
       (ARRAY['manual', 'form', 'api'])[1 + l % 3],
       jsonb_build_array((ARRAY['inbound', 'outbound', 'referral', 'event'])[1 + l % 4]),
       t, md5('org-' || o)::uuid, md5('user-' || ((o - 1) * $3::int + 1 + l % $3::int))::uuid
FROM generate_series(1, $1::int) o, generate_series(1, $2::int) l,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + l * interval '1 minute' AS t) ts
"""

LEAD_TAGS = """
INSERT INTO lead_tags (id, created_at, tag, lead_id, organization_id)
SELECT md5('lead-tag-' || l.id)::uuid, l.created_at, l.tags ->> 0, l.id, l.organization_id
FROM leads l
"""

# Notes `first_note`..`last_note` ($4, $5) of leads `first_lead`..`last_lead` ($2, $3) of every
# org: ids, times and authors follow from (org, lead, note), so one statement writes dataset.sql's
# notes (NOTES_PARAMS: 1..3 of every lead) and the detail lead's newer ones (DETAIL_NOTES_PARAMS:
# 4..30 of lead 1000), and a note written again is skipped (a v2 database gains the detail notes).
NOTES = """
INSERT INTO notes (id, created_at, body, edited_at, author_id, lead_id, organization_id)
SELECT md5('note-' || o || '-' || l || '-' || n)::uuid,
       timestamptz '2026-01-01 00:00:00+00' + l * interval '1 minute' + n * interval '1 hour',
       'Note ' || n || ' on lead ' || lid || ': called, left a voicemail about pricing.', NULL,
       md5('user-' || ((o - 1) * $6::int + 1 + (lid + n) % $6::int))::uuid,
       md5('lead-' || o || '-' || l)::uuid, md5('org-' || o)::uuid
FROM generate_series(1, $1::int) o, generate_series($2::int, $3::int) l,
     generate_series($4::int, $5::int) n,
     LATERAL (SELECT (o - 1) * $7::int + l AS lid) ids
ON CONFLICT (id) DO NOTHING
"""


def notes_params(leads: tuple[int, int], notes: tuple[int, int]) -> list[int]:
    """NOTES' parameters: notes `notes` (first, last) of leads `leads` (first, last)."""
    return [ORGS, *leads, *notes, MEMBERS_PER_ORG, LEADS_PER_ORG]


NOTES_PARAMS = notes_params((1, LEADS_PER_ORG), (1, NOTES_PER_LEAD))
DETAIL_NOTES_PARAMS = notes_params((DETAIL_LEAD, DETAIL_LEAD),
                                   (NOTES_PER_LEAD + 1, DETAIL_NOTES_PER_LEAD))


def server_url(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}", query=""))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def ensure_database(url: str) -> None:
    """Create the bench database on its server unless it exists."""
    name = database_name(url)
    admin = await asyncpg.connect(server_url(url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)
    finally:
        await admin.close()


async def loaded_version() -> int | None:
    connection = connections.get("default")
    await connection.execute_script(MARKER)
    _, rows = await connection.execute_query("SELECT max(version) AS version FROM bench_dataset")
    return rows[0]["version"] if rows else None


async def load() -> dict[str, int]:
    """Write the whole data set in one transaction: a failed load leaves nothing behind."""
    password_hash = hash_password(BENCH_PASSWORD)  # one argon2 hash, shared by every user
    counts: dict[str, int] = {}
    async with in_transaction("default") as connection:
        await connection.execute_script(CLEAR)
        steps: list[tuple[str, str, list[Any]]] = [
            ("users", USERS, [password_hash, ORGS * MEMBERS_PER_ORG]),
            ("organizations", ORGANIZATIONS, [ORGS]),
            ("memberships", MEMBERSHIPS, [ORGS, MEMBERS_PER_ORG]),
            ("leads", LEADS, [ORGS, LEADS_PER_ORG, MEMBERS_PER_ORG]),
            ("lead_tags", LEAD_TAGS, []),
            ("notes", NOTES, NOTES_PARAMS),
            ("notes", NOTES, DETAIL_NOTES_PARAMS),
        ]
        for table, sql, params in steps:
            started = time.perf_counter()
            await connection.execute_query(sql, params)
            _, rows = await connection.execute_query(f"SELECT count(*) AS n FROM {table}")
            counts[table] = rows[0]["n"]
            print(f"  {table}: {counts[table]:,} rows in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
        await connection.execute_query(
            "INSERT INTO bench_dataset (version, loaded_at) VALUES ($1, now())", [DATASET_VERSION])
    await connections.get("default").execute_script("ANALYZE")
    return counts


async def add_detail_notes() -> None:
    """Bring a database of an UPGRADABLE version to DATASET_VERSION: the detail lead's notes
    (plain text here; encrypt_personal_fields seals them next)."""
    async with in_transaction("default") as connection:
        await connection.execute_query(NOTES, DETAIL_NOTES_PARAMS)
        await connection.execute_query(
            "INSERT INTO bench_dataset (version, loaded_at) VALUES ($1, now())", [DATASET_VERSION])
    print(f"  upgraded the data set to v{DATASET_VERSION}: the detail leads' notes",
          file=sys.stderr)


PLAIN_LEADS = f"""
SELECT id, email, phone FROM leads
WHERE organization_id = $1 AND (email NOT LIKE '{PREFIX}%' OR phone NOT LIKE '{PREFIX}%')
"""
PLAIN_NOTES = f"SELECT id, body FROM notes WHERE organization_id = $1 AND body NOT LIKE '{PREFIX}%'"
SET_LEADS = """
UPDATE leads l SET email = v.email, phone = v.phone, email_bidx = v.email_bidx,
                   phone_bidx = v.phone_bidx
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS v(id, email, phone, email_bidx, phone_bidx)
WHERE l.id = v.id
"""
SET_NOTES = """
UPDATE notes n SET body = v.body FROM unnest($1::uuid[], $2::text[]) AS v(id, body)
WHERE n.id = v.id
"""


def _sealed(org: uuid.UUID, table: str, column: str, row_id: uuid.UUID, value: str | None
            ) -> str | None:
    if value is None or value.startswith(PREFIX):
        return value
    return encrypt(org, table, column, row_id, value)


def _index(org_keys: keys.OrgKeys, kind: str, plain: str | None) -> str | None:
    return None if plain is None or not plain.strip() else \
        org_keys.index(kind, normalise(kind, plain))


async def encrypt_personal_fields(url: str) -> int:
    """Encrypt what is still plain text, org by org (one transaction each); returns how many
    rows were rewritten (0 on a database done before)."""
    started, rewritten = time.perf_counter(), 0
    connection = await asyncpg.connect(url.split("?", 1)[0])
    try:
        org_ids = [row["id"] for row in await connection.fetch(
            "SELECT id FROM organizations ORDER BY slug")]
        for org in org_ids:
            org_keys = await keys.ensure_active(org)  # created in the keystore on first use
            leads = await connection.fetch(PLAIN_LEADS, org)
            notes = await connection.fetch(PLAIN_NOTES, org)
            if not leads and not notes:
                continue
            lead_rows = []
            for lead in leads:
                # The plain values (for the blind index): decrypt those done by a stopped run.
                email = _plain(org, "leads", "email", lead["id"], lead["email"])
                phone = _plain(org, "leads", "phone", lead["id"], lead["phone"])
                lead_rows.append((
                    lead["id"], _sealed(org, "leads", "email", lead["id"], lead["email"]),
                    _sealed(org, "leads", "phone", lead["id"], lead["phone"]),
                    _index(org_keys, "email", email), _index(org_keys, "phone", phone)))
            note_rows = [(n["id"], _sealed(org, "notes", "body", n["id"], n["body"]))
                         for n in notes]
            async with connection.transaction():
                if lead_rows:
                    await connection.execute(SET_LEADS, *map(list, zip(*lead_rows, strict=True)))
                if note_rows:
                    await connection.execute(SET_NOTES, *map(list, zip(*note_rows, strict=True)))
            rewritten += len(lead_rows) + len(note_rows)
        if rewritten:
            await connection.execute("ANALYZE leads; ANALYZE notes")
    finally:
        await connection.close()
    if rewritten:
        print(f"  encrypted {rewritten:,} rows' personal fields in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rewritten


def _plain(org: uuid.UUID, table: str, column: str, row_id: uuid.UUID, value: str | None
           ) -> str | None:
    return None if value is None else decrypt(org, table, column, row_id, value)


async def check_with_the_job() -> None:
    """`jobs.encryption.encrypt_org` over org-1 must find nothing left to save: the bench's
    values are the ones production's job writes."""
    from jobs.encryption import encrypt_org  # imports the models: after init_database

    org = await connections.get("default").execute_query(
        "SELECT id FROM organizations WHERE slug = 'org-1'")
    saved = await encrypt_org(uuid.UUID(str(org[1][0]["id"])))
    if saved:
        raise SystemExit(f"bench: encrypt_org still saved {saved} rows of org-1 after the "
                         "bench's encryption: the formats differ")


async def main(url: str, *, force: bool) -> None:
    await ensure_database(url)
    keystore_url = os.environ.get("KEYSTORE_URL") or None  # None: `<name>_keystore` beside it
    await migrate_database(url, keystore_url=keystore_url)  # only migrations not yet applied
    await init_database(url, keystore_url=keystore_url)
    try:
        version = await loaded_version()
        if version == DATASET_VERSION and not force:
            print(f"data set v{DATASET_VERSION} already loaded in {database_name(url)}: reusing it",
                  file=sys.stderr)
        elif version in UPGRADABLE and not force:
            await add_detail_notes()
        else:
            print(f"loading the Q1 data set into {database_name(url)}", file=sys.stderr)
            started = time.perf_counter()
            await load()
            print(f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if await encrypt_personal_fields(url):
            await check_with_the_job()
    finally:
        await close_database()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="postgres://... of the bench database (default: $BENCH_DATABASE_URL)")
    parser.add_argument("--force", action="store_true", help="reload even if already loaded")
    args = parser.parse_args()
    if not args.url or not args.url.startswith(("postgres://", "postgresql://")):
        parser.error("--url (or BENCH_DATABASE_URL) must be a postgres:// URL")
    asyncio.run(main(args.url, force=args.force))
