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

A marker table (`bench_dataset`) records that the load finished and which version of this script
wrote it: a later run only applies new migrations and returns. `--force` reloads.

    python -m bench.load_data --url postgres://postgres@127.0.0.1:54329/relleks_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import connections
from tortoise.transactions import in_transaction

from auth.passwords import hash_password
from database import close_database, init_database, migrate_database

# Bump when the data set's shape changes: a database loaded by another version is reloaded.
DATASET_VERSION = 1
BENCH_PASSWORD = "bench-password-q1-correct-horse"
ORGS, MEMBERS_PER_ORG, LEADS_PER_ORG, NOTES_PER_LEAD = 100, 20, 1000, 3

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

NOTES = """
INSERT INTO notes (id, created_at, body, edited_at, author_id, lead_id, organization_id)
SELECT md5('note-' || o || '-' || l || '-' || n)::uuid,
       timestamptz '2026-01-01 00:00:00+00' + l * interval '1 minute' + n * interval '1 hour',
       'Note ' || n || ' on lead ' || lid || ': called, left a voicemail about pricing.', NULL,
       md5('user-' || ((o - 1) * $4::int + 1 + (lid + n) % $4::int))::uuid,
       md5('lead-' || o || '-' || l)::uuid, md5('org-' || o)::uuid
FROM generate_series(1, $1::int) o, generate_series(1, $2::int) l,
     generate_series(1, $3::int) n,
     LATERAL (SELECT (o - 1) * $2::int + l AS lid) ids
"""


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
    async with in_transaction() as connection:
        await connection.execute_script(CLEAR)
        steps: list[tuple[str, str, list[Any]]] = [
            ("users", USERS, [password_hash, ORGS * MEMBERS_PER_ORG]),
            ("organizations", ORGANIZATIONS, [ORGS]),
            ("memberships", MEMBERSHIPS, [ORGS, MEMBERS_PER_ORG]),
            ("leads", LEADS, [ORGS, LEADS_PER_ORG, MEMBERS_PER_ORG]),
            ("lead_tags", LEAD_TAGS, []),
            ("notes", NOTES, [ORGS, LEADS_PER_ORG, NOTES_PER_LEAD, MEMBERS_PER_ORG]),
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


async def main(url: str, *, force: bool) -> None:
    await ensure_database(url)
    await migrate_database(url)  # applies only migrations the database has not seen
    await init_database(url)
    try:
        version = await loaded_version()
        if version == DATASET_VERSION and not force:
            print(f"data set v{DATASET_VERSION} already loaded in {database_name(url)}: reusing it",
                  file=sys.stderr)
            return
        print(f"loading the Q1 data set into {database_name(url)}", file=sys.stderr)
        started = time.perf_counter()
        await load()
        print(f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
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
