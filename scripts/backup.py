"""Back up the data database and the keystore, then prune both by their retention schedules.

    python -m scripts.backup            # what `make backup` and a production scheduler run
    python -m scripts.backup --no-prune # back up only
    python -m scripts.backup --prune-only

DATABASE_URL and KEYSTORE_URL say what to back up, BACKUP_DIR where to (default var/backups),
BACKUP_RETENTION and KEYSTORE_BACKUP_RETENTION what to keep; erasure ledger entries older than
the oldest data backup kept go too (no restore will replay them). It prints one JSON line per backup
(its manifest's file, tables and SHA-256) and per pruned file, and exits non-zero on any failure,
so a scheduler (cron, a Kubernetes CronJob, systemd timer) can alert on it. See docs/backups.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

from core.settings import ConfigurationError, Retention, Settings
from database import backups
from scripts.restore_drill import REPLAY_MARGIN, Database


def targets(settings: Settings) -> list[tuple[backups.Kind, str, Retention]]:
    """What to back up: the data, and the keystore when this server has one apart from it."""
    found: list[tuple[backups.Kind, str, Retention]] = [
        ("data", settings.database_url, settings.backup_schedule)]
    keystore = settings.keystore_url
    if keystore and keystore != settings.database_url and ":memory:" not in keystore:
        found.append(("keystore", keystore, settings.keystore_backup_schedule))
    return found


async def run(settings: Settings, *, take: bool = True, prune: bool = True) -> None:
    for kind, url, retention in targets(settings):
        if take:
            manifest = await backups.take(url, kind, settings.backup_dir)
            print(json.dumps({"backup": manifest.file, "kind": kind, "sha256": manifest.sha256,
                              "rows": sum(manifest.tables.values()),
                              "schema_version": manifest.schema_version}))
        if prune:
            for name in backups.prune(settings.backup_dir, kind, retention):
                print(json.dumps({"pruned": name, "kind": kind}))
    if prune:
        found = backups.manifests(settings.backup_dir, "data")
        if found:
            gone = await prune_ledger(settings, found[0][1].time - REPLAY_MARGIN)
            print(json.dumps({"pruned_ledger_entries": gone}))


async def prune_ledger(settings: Settings, before: datetime) -> int:
    """Delete the erasure ledger's entries older than the oldest data backup kept (less the
    drill's margin): no restore will replay them. The number deleted."""
    keystore = await Database(settings.keystore_url).open()
    try:
        if "erasure_ledger" not in await keystore.tables():
            return 0
        old = await keystore.fetch("SELECT id, at FROM erasure_ledger")
        ids = [entry_id for entry_id, at in old
               if (at if isinstance(at, datetime) else datetime.fromisoformat(str(at))) < before]
        for entry_id in ids:
            await keystore.execute("DELETE FROM erasure_ledger WHERE id = ?", entry_id)
        return len(ids)
    finally:
        await keystore.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-prune", action="store_true", help="back up, prune nothing")
    parser.add_argument("--prune-only", action="store_true", help="prune, back up nothing")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(Settings.from_env(), take=not args.prune_only,
                        prune=not args.no_prune))
    except (backups.BackupError, ConfigurationError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
