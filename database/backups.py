"""Backups of a database (the data or the keystore: it is the same code, another URL), their
manifests, restoring one into a scratch database, and pruning by a retention schedule.

A backup is consistent: SQLite's online backup API copies a snapshot page by page while the
server keeps writing; on PostgreSQL the row counts are read in a REPEATABLE READ transaction
whose snapshot `pg_dump -Fc --snapshot` then dumps, so the manifest describes exactly the file.
Each backup `<kind>-<UTC time>.<sqlite3|dump>` has a manifest beside it, `<same name>.json`:

    {"kind": "data", "source": "sqlite", "created_at": "2026-12-03T11:00:00.123456+00:00",
     "schema_version": {"relleks": "0015_idempotency_keys"}, "tables": {"lead": 50, ...},
     "file": "data-20261203T110000123456Z.sqlite3", "bytes": 1234, "sha256": "..."}

The file is written under a temporary name and the manifest last, so a backup without a manifest
is one that did not finish (pruning and restores ignore it). `scripts/backup.py` is the command;
`scripts/restore_drill.py` restores and checks. See docs/backups.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from core.settings import Retention, postgres_url

Kind = Literal["data", "keystore"]
MIGRATIONS_TABLE = "tortoise_migrations"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
"""Where Debian's PostgreSQL 15 keeps pg_dump and pg_restore (`scripts/services.sh`); PATH is
tried first."""


class BackupError(RuntimeError):
    """A backup or restore that cannot be trusted: the message says why."""


@dataclass
class Manifest:
    kind: str
    source: Literal["sqlite", "postgresql"]
    created_at: str
    schema_version: dict[str, str]
    tables: dict[str, int]
    file: str
    bytes: int = 0
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")


# Retention: pure logic over timestamps.

def _period(moment: datetime, unit: str) -> tuple[int, ...]:
    moment = moment.astimezone(UTC)
    if unit == "daily":
        return (moment.year, moment.month, moment.day)
    if unit == "weekly":
        iso = moment.isocalendar()
        return (iso.year, iso.week)
    return (moment.year, moment.month)


def to_keep(times: Iterable[datetime], retention: Retention) -> set[datetime]:
    """The backups a schedule keeps, restic's way: for each of daily, weekly and monthly, the
    newest backup of each of the last N days (ISO weeks, months) that have one. A backup kept
    by any rule is kept; the newest backup is always kept (it is the newest of its day, week
    and month, and a schedule keeps at least one of those)."""
    newest_first = sorted(set(times), reverse=True)
    keep: set[datetime] = set()
    for unit, count in (("daily", retention.daily), ("weekly", retention.weekly),
                        ("monthly", retention.monthly)):
        seen: set[tuple[int, ...]] = set()
        for moment in newest_first:
            if len(seen) >= count:
                break
            period = _period(moment, unit)
            if period not in seen:
                seen.add(period)
                keep.add(moment)
    return keep


def to_prune(times: Iterable[datetime], retention: Retention) -> list[datetime]:
    """The backups the schedule lets go, oldest first."""
    times = list(times)
    keep = to_keep(times, retention)
    return sorted(t for t in set(times) if t not in keep)


# The backup directory.

def manifests(directory: Path, kind: str) -> list[tuple[Path, Manifest]]:
    """The finished backups of one kind (those with a manifest), oldest first."""
    found = []
    for path in directory.glob(f"{kind}-*.json"):
        try:
            manifest = Manifest.read(path)
        except (ValueError, TypeError) as exc:
            raise BackupError(f"{path}: not a backup manifest ({exc})") from exc
        if manifest.kind == kind:
            found.append((path, manifest))
    return sorted(found, key=lambda item: item[1].time)


def newest(directory: Path, kind: str) -> tuple[Path, Manifest]:
    found = manifests(directory, kind)
    if not found:
        raise BackupError(f"no {kind} backup in {directory}")
    return found[-1]


def prune(directory: Path, kind: str, retention: Retention) -> list[str]:
    """Delete the backups (file and manifest) the schedule lets go; their file names."""
    found = manifests(directory, kind)
    gone = set(to_prune([m.time for _, m in found], retention))
    deleted = []
    for path, manifest in found:
        if manifest.time in gone:
            (directory / manifest.file).unlink(missing_ok=True)
            path.unlink()
            deleted.append(manifest.file)
    return deleted


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: Path, manifest: Manifest) -> Path:
    """The backup's file, after checking its size and SHA-256 against the manifest."""
    path = directory / manifest.file
    if not path.is_file():
        raise BackupError(f"{manifest.file}: the backup file is missing")
    if path.stat().st_size != manifest.bytes or sha256_of(path) != manifest.sha256:
        raise BackupError(f"{manifest.file}: SHA-256 does not match its manifest "
                          "(damaged or altered)")
    return path


# SQLite.

def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://").split("?", 1)[0])


def _sqlite_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return [row[0] for row in rows]


def _sqlite_describe(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    db = sqlite3.connect(path)
    try:
        tables = {name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]  # noqa: S608
                  for name in _sqlite_tables(db)}
        return tables, _versions(db.execute("SELECT app, name FROM tortoise_migrations")
                                 .fetchall() if MIGRATIONS_TABLE in tables else [])
    finally:
        db.close()


def _versions(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The newest applied migration of each app (names are numbered, so the greatest)."""
    newest_of: dict[str, str] = {}
    for app, name in rows:
        newest_of[app] = max(newest_of.get(app, ""), name)
    return newest_of


def _sqlite_backup(url: str, target: Path) -> tuple[dict[str, int], dict[str, str]]:
    if not sqlite_path(url).is_file():  # connecting would create an empty one
        raise BackupError(f"{sqlite_path(url)}: no such database")
    source = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # the online backup API: a consistent snapshot
    finally:
        copy.close()
        source.close()
    return _sqlite_describe(target)  # counted in the copy: exactly what it holds


# PostgreSQL.

def pg_tool(name: str) -> str:
    found = shutil.which(name) or (str(PG_BIN / name) if (PG_BIN / name).exists() else None)
    if found is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client-15)")
    return found


def libpq_url(url: str) -> str:
    """A Tortoise PostgreSQL URL as libpq reads it: `postgresql://`, only `sslmode` kept of
    its parameters (asyncpg's `ssl` renamed)."""
    parts = urlsplit(url)
    query = [("sslmode", v) for k, v in parse_qsl(parts.query) if k in {"sslmode", "ssl"}]
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


def asyncpg_url(url: str) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(libpq_url(url))
    query = dict(parse_qsl(parts.query))
    options: dict[str, Any] = {"ssl": query["sslmode"]} if "sslmode" in query else {}
    return urlunsplit(parts._replace(query="")), options


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def pg_connect(url: str) -> asyncpg.Connection:
    dsn, options = asyncpg_url(url)
    return await asyncpg.connect(dsn, **options)


async def pg_describe(db: asyncpg.Connection) -> tuple[dict[str, int], dict[str, str]]:
    names = [row["table_name"] for row in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name")]
    tables = {name: await db.fetchval(f'SELECT COUNT(*) FROM "{name}"')  # noqa: S608
              for name in names}
    rows = await db.fetch("SELECT app, name FROM tortoise_migrations") \
        if MIGRATIONS_TABLE in tables else []
    return tables, _versions((row["app"], row["name"]) for row in rows)


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {(err or out).decode().strip()}")


async def _pg_backup(url: str, target: Path) -> tuple[dict[str, int], dict[str, str]]:
    db = await pg_connect(url)
    try:
        async with db.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await db.fetchval("SELECT pg_export_snapshot()")
            described = await pg_describe(db)  # the counts of the snapshot pg_dump dumps
            await _run(pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl",
                       f"--snapshot={snapshot}", f"--file={target}",
                       f"--dbname={libpq_url(url)}")
    finally:
        await db.close()
    return described


# Taking and restoring.

def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


async def take(url: str, kind: Kind, directory: Path, *,
               now: datetime | None = None) -> Manifest:
    """Back up the database at `url` into `directory`; its manifest (written last)."""
    now = now or datetime.now(UTC)
    postgres = postgres_url(url)
    name = f"{kind}-{stamp(now)}.{'dump' if postgres else 'sqlite3'}"
    partial = await asyncio.to_thread(_start, directory, name, postgres)
    try:
        if postgres:
            tables, versions = await _pg_backup(url, partial)
        else:
            tables, versions = await asyncio.to_thread(_sqlite_backup, url, partial)
        manifest = Manifest(kind=kind, source="postgresql" if postgres else "sqlite",
                            created_at=now.isoformat(), schema_version=versions, tables=tables,
                            file=name)
        await asyncio.to_thread(_finish, directory, partial, manifest)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    return manifest


def _start(directory: Path, name: str, postgres: bool) -> Path:
    """A free temporary path for the backup being written (absent: pg_dump creates it)."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    os.close(handle)
    if postgres:
        Path(temporary).unlink()
    return Path(temporary)


def _finish(directory: Path, partial: Path, manifest: Manifest) -> None:
    """Size and SHA-256 into the manifest, the file to its name, the manifest written last."""
    if not partial.is_file():
        raise BackupError(f"{manifest.file}: nothing was written")
    manifest.bytes = partial.stat().st_size
    manifest.sha256 = sha256_of(partial)
    partial.chmod(0o600)
    partial.rename(directory / manifest.file)
    manifest.write(directory / f"{manifest.file}.json")


async def restore(directory: Path, manifest: Manifest, target_url: str) -> None:
    """Restore a verified backup into `target_url`: a SQLite file path (replaced) or an
    existing, empty PostgreSQL database."""
    path = verify(directory, manifest)
    if manifest.source == "sqlite":
        if postgres_url(target_url):
            raise BackupError("a SQLite backup restores into a SQLite URL")
        await asyncio.to_thread(shutil.copyfile, path, sqlite_path(target_url))
        return
    if not postgres_url(target_url):
        raise BackupError("a PostgreSQL backup restores into a PostgreSQL URL")
    await _run(pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
               f"--dbname={libpq_url(target_url)}", str(path))


async def describe(url: str) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts per table and the newest migration per app of a live database."""
    if postgres_url(url):
        db = await pg_connect(url)
        try:
            return await pg_describe(db)
        finally:
            await db.close()
    return await asyncio.to_thread(_sqlite_describe, sqlite_path(url))
