"""The restore drill: restore the newest backup into a scratch database, replay the erasure
ledger, and check the result. `make restore-drill`; CI runs it on both databases.

    python -m scripts.restore_drill [--keep]   # --keep: leave the scratch database, say where

1. The newest data backup in BACKUP_DIR is verified (size and SHA-256 against its manifest) and
   restored into a scratch database: a temporary SQLite file, or a PostgreSQL database created
   on DATABASE_URL's server and dropped afterwards. Its row counts must be the manifest's. The
   newest keystore backup, when there is one, is verified and restored the same way.
2. Pending migrations are applied, then the schema must be current (every migration file of
   `models/migrations` applied).
3. The ledger entries (`keystore/ledger.py`, read from KEYSTORE_URL) newer than the backup, less
   a margin for erasures whose entry was appended just before a backup and committed after it,
   are replayed in order: an organization's row deleted (its rows go by ON DELETE CASCADE), an
   account's user row deleted (its activity loses IP and User-Agent), a data subject's leads,
   form submissions and consent receipts in their organization deleted and any other mention of
   their email in that organization redacted (an activity summary becomes `{"erased": true}`),
   and stored responses naming them deleted. Nobody is found by email: the drill hashes every
   email-looking value with the ledger key and compares.
4. Checks: counts are the manifest's minus what the replay deleted (the rows each deletion
   reaches through the database's cascading foreign keys are counted before it runs); no
   erased subject's email hash matches any text in their organization's rows, nor any account's;
   no row of a destroyed organization is left, and where the keystore holds data keys, every key
   of a destroyed organization is DESTROYED with its wrapped bytes gone (so any copy of its
   rows, in any backup, is unreadable).

Exits 0 with a JSON summary on stdout, or 1 with `restore drill FAILED: <why>` on stderr.
"""

# ruff: noqa: S608 (identifiers come from the database's own catalogue; values are parameters)
from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sqlite3
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from core.settings import ROOT, ConfigurationError, Settings, postgres_url
from database import backups, tortoise_config
from keystore import fields as encryption
from keystore import keys
from keystore.kek import kek_from_settings
from keystore.ledger import subject_hash

REPLAY_MARGIN = timedelta(minutes=10)
"""Entries this much older than the backup are replayed too (replaying is idempotent): an
erasure appends its entry before its transaction commits, which a backup may precede."""
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TOMBSTONE = '{"erased": true}'
REDACTED = "[erased]"
TEXT_TYPES = ("char", "text", "json", "clob")


class DrillFailed(Exception):
    """What the drill found wrong."""


class Database:
    """Just enough SQL for both databases: `?` placeholders, rows as tuples."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = postgres_url(url)
        self._pg: asyncpg.Connection | None = None
        self._lite: sqlite3.Connection | None = None

    async def open(self) -> Database:
        if self.postgres:
            self._pg = await backups.pg_connect(self.url)
        else:
            self._lite = sqlite3.connect(backups.sqlite_path(self.url), isolation_level=None)
            self._lite.execute("PRAGMA foreign_keys = ON")
        return self

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._lite is not None:
            self._lite.close()

    def _pg_sql(self, sql: str) -> str:
        count = 0

        def number(_: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"${count}"
        return re.sub(r"\?", number, sql)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return [tuple(row) for row in await self._pg.fetch(self._pg_sql(sql), *args)]
        assert self._lite is not None
        return self._lite.execute(sql, args).fetchall()

    async def execute(self, sql: str, *args: Any) -> None:
        if self._pg is not None:
            await self._pg.execute(self._pg_sql(sql), *args)
        else:
            assert self._lite is not None
            self._lite.execute(sql, args)

    def text(self, column: str) -> str:
        """A column compared as text (PostgreSQL's uuid columns)."""
        return f'"{column}"::text' if self.postgres else f'"{column}"'

    @property
    def row_id(self) -> str:
        return "ctid::text" if self.postgres else "rowid"

    async def tables(self) -> list[str]:
        if self.postgres:
            rows = await self.fetch("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        else:
            rows = await self.fetch("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name NOT LIKE 'sqlite_%'")
        return sorted(row[0] for row in rows)

    async def columns(self, table: str) -> dict[str, str]:
        """Column name: its type, lower case."""
        if self.postgres:
            rows = await self.fetch("SELECT column_name, data_type FROM information_schema.columns"
                                    " WHERE table_schema = 'public' AND table_name = ?", table)
            return {name: kind.lower() for name, kind in rows}
        return {row[1]: str(row[2]).lower()
                for row in await self.fetch(f'PRAGMA table_info("{table}")')}

    async def cascades(self) -> dict[str, list[tuple[str, str]]]:
        """Parent table: the (child table, child column) pairs that ON DELETE CASCADE from it
        (every foreign key here references the parent's `id`)."""
        found: dict[str, list[tuple[str, str]]] = {}
        if self.postgres:
            rows = await self.fetch(
                "SELECT kcu.table_name, kcu.column_name, ccu.table_name, rc.delete_rule "
                "FROM information_schema.referential_constraints rc "
                "JOIN information_schema.key_column_usage kcu "
                "  ON kcu.constraint_name = rc.constraint_name "
                "JOIN information_schema.constraint_column_usage ccu "
                "  ON ccu.constraint_name = rc.unique_constraint_name "
                "WHERE kcu.table_schema = 'public'")
        else:
            rows = []
            for table in await self.tables():
                rows += [(table, fk[3], fk[2], fk[6])
                         for fk in await self.fetch(f'PRAGMA foreign_key_list("{table}")')]
        for child, column, parent, rule in rows:
            if str(rule).upper() == "CASCADE":
                found.setdefault(parent, []).append((child, column))
        return found


@dataclass
class Replay:
    """What the replay did, for the checks and the summary."""

    deleted: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)
    redacted: int = 0
    orgs: set[str] = field(default_factory=set)
    subjects: dict[str, set[str]] = field(default_factory=dict)
    """org id: the subject hashes erased in it."""
    accounts: set[str] = field(default_factory=set)


class Drill:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.key = settings.ledger_key
        self.replay = Replay()
        self._cascades: dict[str, list[tuple[str, str]]] = {}
        self._sealed: set[tuple[str, Any]] = set()

    async def row_key(self, table: str, row_id: Any) -> str:
        """The `id` of a row found by its physical id (what encryption binds values to)."""
        rows = await self.db.fetch(f'SELECT {self.db.text("id")} FROM "{table}" '
                                   f"WHERE {self.db.row_id} = ?", row_id)
        return str(rows[0][0])

    def hashes(self, text: str) -> set[str]:
        return {subject_hash(self.key, found) for found in EMAIL.findall(text)}

    async def reveal(self, org_id: str, table: str, column: str, row_id: Any,
                     value: Any) -> str | None:
        """A value as the API reads it: an encrypted field (`enc:v1:`, docs/encryption.md)
        decrypted with its org's keys from the live keystore; None when it cannot be (a
        destroyed key: unreadable, which is what shredding means)."""
        if value is None or not encryption.is_encrypted(value):
            return None if value is None else str(value)
        org = uuid.UUID(str(org_id))
        await keys.load([org])
        try:
            return encryption.decrypt(org, table, column, str(row_id), value)
        except encryption.Unreadable:
            return None

    async def seal(self, org_id: str, table: str, column: str, row_id: Any, text: str) -> str:
        """`text` encrypted for the row, as the model would store it."""
        org = uuid.UUID(str(org_id))
        await keys.ensure_active(org)
        return encryption.encrypt(org, table, column, str(row_id), text)

    async def delete(self, table: str, ids: list[str]) -> None:
        """Delete rows by id, first counting what their cascades reach (each row once)."""
        if not ids:
            return
        self._cascades = self._cascades or await self.db.cascades()
        reached: dict[str, set[str]] = {}
        frontier = [(table, "id", ids)]
        while frontier:
            current, column, values = frontier.pop()
            columns = await self.db.columns(current)
            has_id = "id" in columns
            rows: list[tuple[Any, ...]] = []
            for start in range(0, len(values), 500):
                chunk = values[start:start + 500]
                rows += await self.db.fetch(
                    f'SELECT {self.db.row_id}, {self.db.text("id") if has_id else "NULL"} '
                    f'FROM "{current}" WHERE {self.db.text(column)} IN '
                    f'({", ".join("?" * len(chunk))})', *chunk)
            seen = reached.setdefault(current, set())
            new = [row for row in rows if str(row[0]) not in seen]
            seen.update(str(row[0]) for row in new)
            child_ids = [str(row[1]) for row in new if row[1] is not None]
            if child_ids:
                frontier += [(child, child_column, child_ids)
                             for child, child_column in self._cascades.get(current, [])]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            await self.db.execute(f'DELETE FROM "{table}" WHERE {self.db.text("id")} IN '
                                  f'({", ".join("?" * len(chunk))})', *chunk)
        for name, rows_reached in reached.items():
            self.replay.deleted[name] += len(rows_reached)

    async def erase_organization(self, org_id: str) -> None:
        self.replay.orgs.add(org_id)
        await self.delete("organizations", [org_id])

    async def erase_account(self, wanted: str) -> None:
        self.replay.accounts.add(wanted)
        users = [str(uid) for uid, email in await self.db.fetch(
            f'SELECT {self.db.text("id")}, email FROM users')
            if email and subject_hash(self.key, email) == wanted]
        for user_id in users:  # kept for others, anonymised (jobs/deletions.py)
            await self.db.execute(f'UPDATE activity_events SET ip = NULL, user_agent = NULL '
                                  f'WHERE {self.db.text("actor_id")} = ?', user_id)
        await self.delete("users", users)

    async def erase_subject(self, org_id: str, wanted: str) -> None:
        self.replay.subjects.setdefault(org_id, set()).add(wanted)
        db, org = self.db, self.db.text("organization_id")
        leads = []
        for lid, stored in await db.fetch(
                f'SELECT {db.text("id")}, email FROM leads WHERE {org} = ?', org_id):
            email = await self.reveal(org_id, "leads", "email", lid, stored)
            if email and subject_hash(self.key, email) == wanted:
                leads.append(str(lid))
        for table in ("consent_receipts", "form_submissions"):
            rows = await db.fetch(f'SELECT {db.text("id")}, email, {db.text("lead_id")} '
                                  f'FROM "{table}" WHERE {org} = ?', org_id)
            matched = []
            for rid, stored, lead in rows:
                email = await self.reveal(org_id, table, "email", rid, stored)
                if (email and subject_hash(self.key, email) == wanted) \
                        or (lead is not None and str(lead) in leads):
                    matched.append(str(rid))
            await self.delete(table, matched)
        await self.tombstone_events(org_id, leads)
        await self.delete("leads", leads)
        keys = [str(kid) for kid, body in await db.fetch(
            f'SELECT {db.text("id")}, {db.text("response_body")} FROM idempotency_keys')
            if body and wanted in self.hashes(str(body))]
        await self.delete("idempotency_keys", keys)
        await self.redact(org_id, {wanted})

    async def tombstone_events(self, org_id: str, leads: list[str]) -> None:
        """The activity events about the leads and their notes keep action, time and actor but
        lose their summary, as `resolvers.data_subjects.erase_data_subject` does (a note's
        event names its lead in `summary.lead`)."""
        if not leads:
            return
        db, org = self.db, self.db.text("organization_id")
        notes = {str(nid) for (nid,) in await db.fetch(
            f'SELECT {db.text("id")} FROM notes WHERE {org} = ? AND {db.text("lead_id")} IN '
            f'({", ".join("?" * len(leads))})', org_id, *leads)}
        events = await db.fetch(
            f'SELECT {db.row_id}, target_type, {db.text("target_id")}, {db.text("summary")} '
            f"FROM activity_events WHERE {org} = ? AND target_type IN ('lead', 'note')", org_id)
        wanted = set(leads)
        cast = "CAST(? AS jsonb)" if db.postgres else "?"
        for row_id, target_type, target_id, summary in events:
            try:
                lead = json.loads(summary).get("lead") if summary else None
            except (ValueError, AttributeError):
                lead = None
            if (target_type == "lead" and target_id in wanted) or (target_type == "note" and (
                    target_id in notes or lead in wanted)):
                if summary != TOMBSTONE:
                    await db.execute(f"UPDATE activity_events SET summary = {cast} "
                                     f"WHERE {db.row_id} = ?", TOMBSTONE, row_id)
                    self.replay.redacted += 1

    async def redact(self, org_id: str, wanted: set[str]) -> None:
        """Every other mention in the org's rows: a JSON value becomes the tombstone, text has
        the address replaced."""
        for table, column, row_id, value, is_json in await self.mentions(org_id, wanted):
            if is_json:
                new = TOMBSTONE
            else:
                new = EMAIL.sub(lambda m: REDACTED if subject_hash(self.key, m.group(0))
                                in wanted else m.group(0), str(value))
                if (table, row_id) in self._sealed:
                    new = await self.seal(org_id, table, column, await self.row_key(
                        table, row_id), new)
            cast = f"CAST(? AS {'jsonb' if 'jsonb' in is_json else 'json'})" \
                if is_json and self.db.postgres else "?"
            await self.db.execute(f'UPDATE "{table}" SET "{column}" = {cast} '
                                  f'WHERE {self.db.row_id} = ?', new, row_id)
            self.replay.redacted += 1

    async def mentions(self, org_id: str,
                       wanted: set[str]) -> list[tuple[str, str, Any, Any, str]]:
        """(table, column, row id, value, json type or "") of each text value of the org's rows
        holding an email whose hash is wanted."""
        found = []
        for table in await self.db.tables():
            columns = await self.db.columns(table)
            if "organization_id" not in columns:
                continue
            texts = [c for c, kind in columns.items() if any(t in kind for t in TEXT_TYPES)]
            key = self.db.text("id") if "id" in columns else "NULL"
            for column in texts:
                rows = await self.db.fetch(
                    f'SELECT {self.db.row_id}, {self.db.text(column)}, {key} FROM "{table}" '
                    f'WHERE {self.db.text("organization_id")} = ? AND ('
                    f'{self.db.text(column)} LIKE ? OR {self.db.text(column)} LIKE ?)',
                    org_id, "%@%", f"{encryption.PREFIX}%")
                for row_id, value, key_value in rows:
                    plain = await self.reveal(org_id, table, column, key_value, value)
                    if plain and self.hashes(plain) & wanted:
                        kind = columns[column]
                        found.append((table, column, row_id,
                                      plain if encryption.is_encrypted(value) else value,
                                      kind if "json" in kind else ""))
                        if encryption.is_encrypted(value):
                            self._sealed.add((table, row_id))
        return found


async def scratch_database(url: str) -> tuple[str, str | None]:
    """A fresh database of the same kind as `url`: (its URL, the PostgreSQL database's name)."""
    if postgres_url(url):
        name = f"relleks_drill_{secrets.token_hex(4)}"
        admin = await backups.pg_connect(url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return backups.with_database(url, name), name
    directory = tempfile.mkdtemp(prefix="relleks-drill-")
    return f"sqlite://{Path(directory) / 'restored.sqlite3'}", None


async def drop_scratch(url: str, scratch: str, name: str | None) -> None:
    if name is not None:
        admin = await backups.pg_connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    else:
        path = backups.sqlite_path(scratch)
        for leftover in path.parent.glob(f"{path.name}*"):
            leftover.unlink()
        path.parent.rmdir()


async def migrate_data(url: str) -> None:
    """The data app's pending migrations only: the keystore is not restored here."""
    config = tortoise_config(url, keystore_url="sqlite://:memory:")
    config = {**config, "connections": {"default": config["connections"]["default"]},
              "apps": {"relleks": config["apps"]["relleks"]}}
    await migrate(config=config, app_labels=["relleks"])
    await Tortoise.close_connections()


async def open_keystore(settings: Settings) -> None:
    """The live keystore through Tortoise (its connection only) and the KEK, so encrypted
    fields of the restored rows can be read and written as the models do."""
    config = tortoise_config(settings.database_url, keystore_url=settings.keystore_url)
    await Tortoise.init(config={**config,
                                "connections": {"keystore": config["connections"]["keystore"]},
                                "apps": {"keystore": config["apps"]["keystore"]}})
    keys.use(kek_from_settings(settings), ttl=settings.key_cache_seconds)


def newest_migration(package: str = "models/migrations") -> str:
    return max(p.stem for p in (ROOT / package).glob("[0-9][0-9][0-9][0-9]_*.py"))


async def ledger_entries(settings: Settings, since: datetime) -> list[tuple[str, str | None,
                                                                             str | None]]:
    """(kind, org id, subject hash) of the entries after `since`, read from the keystore."""
    url = settings.keystore_url
    if not url:
        raise DrillFailed("KEYSTORE_URL names no keystore: the erasure ledger cannot be read")
    keystore = await Database(url).open()
    try:
        if "erasure_ledger" not in await keystore.tables():
            raise DrillFailed(f"the keystore ({url}) has no erasure_ledger table: migrate it")
        rows = await keystore.fetch(
            f'SELECT kind, {keystore.text("org_id")}, subject_hash, at FROM erasure_ledger '
            "ORDER BY at, id")
    finally:
        await keystore.close()
    return [(kind, org, subject) for kind, org, subject, at in rows
            if _moment(at) > since - REPLAY_MARGIN]


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def destroyed_keys_check(settings: Settings, orgs: set[str]) -> list[str]:
    """Where the keystore holds data keys (encryption at rest), every key of an erased
    organization must be DESTROYED, its wrapped bytes gone; the problems found."""
    url = settings.keystore_url
    if not url or not orgs:
        return []
    keystore = await Database(url).open()
    try:
        if "data_keys" not in await keystore.tables():
            return []
        rows = await keystore.fetch(
            f'SELECT {keystore.text("organization_id")}, version, state, wrapped IS NULL '
            "FROM data_keys")
    finally:
        await keystore.close()
    return [f"organization {org}: data key v{version} is {state}, not destroyed"
            for org, version, state, wiped in rows
            if str(org) in orgs and (state != "destroyed" or not wiped)]


async def check(drill: Drill, manifest: backups.Manifest, settings: Settings) -> dict[str, Any]:
    problems: list[str] = []
    tables, versions = await backups.describe(drill.db.url)
    current = newest_migration()
    if versions.get("relleks") != current:
        problems.append(f"migrations not current: {versions.get('relleks')} != {current}")
    for table, count in manifest.tables.items():
        expected = count - drill.replay.deleted.get(table, 0)
        if tables.get(table) != expected:
            problems.append(f"{table}: {tables.get(table)} rows, expected {expected} "
                            f"({count} in the manifest, {drill.replay.deleted.get(table, 0)} "
                            "erased by the replay)")
    for org_id, wanted in drill.replay.subjects.items():
        if org_id in drill.replay.orgs:
            continue
        for table, column, _, _, _ in await drill.mentions(org_id, wanted):
            problems.append(f"an erased subject's email is still in {table}.{column} "
                            f"(organization {org_id})")
    for email_row in await drill.db.fetch("SELECT email FROM users"):
        if email_row[0] and subject_hash(drill.key, email_row[0]) in drill.replay.accounts:
            problems.append("a deleted account's user row is back")
    for org_id in drill.replay.orgs:
        for table in await drill.db.tables():
            columns = await drill.db.columns(table)
            owner = "organization_id" if "organization_id" in columns else \
                "id" if table == "organizations" else None
            if owner and await drill.db.fetch(
                    f'SELECT 1 FROM "{table}" WHERE {drill.db.text(owner)} = ?', org_id):
                problems.append(f"{table} still holds rows of destroyed organization {org_id}")
    problems += await destroyed_keys_check(settings, drill.replay.orgs)
    if problems:
        raise DrillFailed("; ".join(problems))
    return {"tables": len(tables), "rows": sum(tables.values()), "schema_version": versions}


async def restore_keystore(settings: Settings) -> dict[str, Any] | None:
    """Verify and restore the newest keystore backup, when there is one; its counts must be
    its manifest's."""
    if not any(settings.backup_dir.glob("keystore-*.json")):
        return None
    directory = settings.backup_dir
    _, manifest = backups.newest(directory, "keystore")
    url = settings.keystore_url
    scratch, name = await scratch_database(url if manifest.source == "postgresql"
                                           else "sqlite://")
    try:
        await backups.restore(directory, manifest, scratch)
        tables, _ = await backups.describe(scratch)
        wrong = {t: (tables.get(t), n) for t, n in manifest.tables.items() if tables.get(t) != n}
        if wrong:
            raise DrillFailed(f"the keystore backup {manifest.file} restored other counts "
                              f"than its manifest's: {wrong}")
    finally:
        await drop_scratch(url, scratch, name)
    return {"file": manifest.file, "rows": sum(manifest.tables.values())}


async def run(settings: Settings, *, keep: bool = False) -> dict[str, Any]:
    directory = settings.backup_dir
    _, manifest = backups.newest(directory, "data")
    if (manifest.source == "postgresql") != postgres_url(settings.database_url):
        raise DrillFailed(f"the newest backup ({manifest.file}) is {manifest.source}'s, "
                          f"DATABASE_URL is not")
    scratch, name = await scratch_database(settings.database_url)
    try:
        await backups.restore(directory, manifest, scratch)
        tables, _ = await backups.describe(scratch)
        wrong = {t: (tables.get(t), n) for t, n in manifest.tables.items() if tables.get(t) != n}
        if wrong:
            raise DrillFailed(f"{manifest.file} restored other counts than its manifest's "
                              f"(found, manifest): {wrong}")
        await migrate_data(scratch)
        entries = await ledger_entries(settings, manifest.time)
        await open_keystore(settings)
        drill = Drill(settings, await Database(scratch).open())
        try:
            for kind, org_id, wanted in entries:
                drill.replay.entries[kind] += 1
                if kind == "organization" and org_id:
                    await drill.erase_organization(org_id)
                elif kind == "account" and wanted:
                    await drill.erase_account(wanted)
                elif kind == "data_subject" and org_id and wanted:
                    await drill.erase_subject(org_id, wanted)
                else:
                    raise DrillFailed(f"a ledger entry the drill cannot replay: {kind}")
            result = await check(drill, manifest, settings)
        finally:
            await drill.db.close()
            await Tortoise.close_connections()
        keystore = await restore_keystore(settings)
    finally:
        if not keep:
            await drop_scratch(settings.database_url, scratch, name)
    return {"ok": True, "backup": manifest.file, "backup_time": manifest.created_at,
            "replayed": dict(drill.replay.entries),
            "erased_rows": {t: n for t, n in sorted(drill.replay.deleted.items()) if n},
            "redacted": drill.replay.redacted, "keystore_backup": keystore,
            "scratch": scratch if keep else None, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    try:
        summary = asyncio.run(run(Settings.from_env(), keep=args.keep))
    except (DrillFailed, backups.BackupError, ConfigurationError, OSError) as exc:
        print(f"restore drill FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
