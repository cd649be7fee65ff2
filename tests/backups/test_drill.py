"""`make restore-drill` end to end: a backup taken over a live database, erasures after it (a
data subject, an account, an organization), then the drill (a separate process, as CI runs it)
restores the backup, replays the ledger and checks; a tampered backup fails it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.settings import ROOT, Settings
from database import backups
from keystore import fields as encryption
from keystore import keys
from keystore.ledger import record_erasure
from keystore.models import DataKey, KeyState
from models.orgs import Role
from tests.backups.test_ledger import delete_account, delete_org, erase_grace
from tests.conftest import Api
from tests.data_subjects.conftest import GRACE, make_subject
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team


async def command(settings: Settings, module: str, *args: str) -> tuple[int, str, str]:
    """Run `python -m module` as production would, configured for the test's databases."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "KEYSTORE_URL", "BACKUP_DIR", "DATABASE_SSLMODE"}}
    env.update(DATABASE_URL=settings.database_url, KEYSTORE_URL=settings.keystore_url,
               BACKUP_DIR=str(settings.backup_dir), SECRET_KEY=settings.secret_key,
               RELLEKS_ENV="development")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def drill(settings: Settings, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    code, out, err = await command(settings, "scripts.restore_drill", *args)
    return code, json.loads(out) if code == 0 else None, err


async def back_up(settings: Settings) -> backups.Manifest:
    manifest = await backups.take(settings.database_url, "data", settings.backup_dir)
    await backups.take(settings.keystore_url, "keystore", settings.backup_dir)
    return manifest


async def check_restored(settings: Settings, scratch: str, team: Team) -> None:
    """The kept scratch database: Grace's activity lost its summaries (as the live erasure
    did), the mention was redacted, and the database goes."""
    from scripts.restore_drill import Database, drop_scratch

    db = await Database(scratch).open()
    try:
        summaries = await db.fetch(
            f"SELECT target_type, {db.text('summary')} FROM activity_events "
            f"WHERE {db.text('organization_id')} = ? AND target_type IN ('lead', 'note')",
            str(team.org.id))
        stored = await db.fetch(f"SELECT {db.text('id')}, {db.text('organization_id')}, body "
                                "FROM notes")
    finally:
        await db.close()
    assert stored and all(encryption.is_encrypted(body) for _, _, body in stored)
    await keys.load([team.org.id])
    bodies = [encryption.decrypt(uuid.UUID(org), "notes", "body", note_id, body)
              for note_id, org, body in stored]  # a redacted body is sealed again
    erased = [t for t, summary in summaries if json.loads(summary) == {"erased": True}]
    assert erased.count("lead") >= 3 and erased.count("note") == 2  # created x2, updated
    assert any("[erased]" in body for body in bodies)
    assert not any(GRACE in body.lower() for body in bodies)
    await drop_scratch(settings.database_url, scratch,
                       scratch.rsplit("/", 1)[1] if "postgres" in scratch else None)


async def test_the_drill_replays_erasures_made_after_the_backup(
        api: Api, app: Any, team: Team, rival: Team, settings: Settings) -> None:
    await make_subject(api, team)
    await create_lead(api, rival, name="Rita Rival", email="rita@globex.example")
    manifest = await back_up(settings)
    assert manifest.tables["leads"] == 4 and manifest.tables["organizations"] == 2
    assert manifest.schema_version["relleks"] == max(
        p.stem for p in (ROOT / "models/migrations").glob("0*.py"))
    await erase_grace(api, team)
    await delete_account(api, app, team, Role.MEMBER)
    await delete_org(api, app, rival)

    code, summary, err = await drill(settings, "--keep")
    assert code == 0, err
    assert summary is not None and summary["ok"] and summary["backup"] == manifest.file
    await check_restored(settings, summary["scratch"], team)
    assert summary["replayed"] == {"data_subject": 1, "account": 1, "organization": 1}
    erased = summary["erased_rows"]
    assert erased["notes"] == 2  # Grace's two leads' notes; her leads and globex's one
    assert erased["users"] == 1 and erased["organizations"] == 1 and erased["leads"] == 3
    assert erased["memberships"] == 1 + 4  # the member's, and globex's four
    assert summary["redacted"] >= 1  # the note that mentioned her in another lead
    assert summary["keystore_backup"]["file"].startswith("keystore-")
    # globex's key, which its lead was encrypted under, is destroyed (the drill checked it too):
    # the copy of its rows in the backup stays unreadable.
    states = await DataKey.filter(organization_id=rival.org.id).values_list("state", flat=True)
    assert states and set(states) == {KeyState.DESTROYED}


async def test_the_backup_command_backs_up_both_and_prunes(
        api: Api, team: Team, settings: Settings) -> None:
    await make_subject(api, team)
    code, out, err = await command(settings, "scripts.backup")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("kind") for line in lines[:2]] == ["data", "keystore"]
    for line in lines[:2]:
        manifest = backups.Manifest.read(settings.backup_dir / f"{line['backup']}.json")
        backups.verify(settings.backup_dir, manifest)
        assert manifest.sha256 == line["sha256"] and manifest.tables
    assert lines[-1] == {"pruned_ledger_entries": 0}
    code, out, err = await command(settings, "scripts.backup")  # the same day: one is kept
    assert code == 0, err
    assert {json.loads(line).get("pruned", "")[:4] for line in out.splitlines()} >= {"data",
                                                                                      "keys"}
    code, out, err = await drill(settings)
    assert code == 0, err


async def test_an_org_erased_whose_keys_live_on_fails_the_drill(
        api: Api, team: Team, settings: Settings) -> None:
    """Shredding is checked: the ledger says acme was erased, but its data key is still
    ACTIVE in the keystore, so its rows in every backup are still readable."""
    await make_subject(api, team)  # acme's encrypted leads: its key exists
    await back_up(settings)
    await record_erasure("organization", org_id=team.org.id, subject_hash=None,
                         at=datetime.now(UTC))
    code, _, err = await drill(settings)
    assert code == 1
    assert f"organization {team.org.id}: data key v1 is active, not destroyed" in err


async def test_without_erasures_the_restore_matches_the_manifest(
        api: Api, team: Team, settings: Settings) -> None:
    await make_subject(api, team)
    await back_up(settings)
    code, summary, err = await drill(settings, "--keep")
    assert code == 0, err
    assert summary is not None and summary["replayed"] == {} and summary["erased_rows"] == {}
    # --keep: the restored, checked database is left for a real restore to use.
    from scripts.restore_drill import drop_scratch

    scratch = summary["scratch"]
    tables, _ = await backups.describe(scratch)
    assert tables["leads"] == 3
    name = scratch.rsplit("/", 1)[1] if "postgres" in scratch else None
    await drop_scratch(settings.database_url, scratch, name)


async def test_a_tampered_backup_fails_the_drill(api: Api, team: Team,
                                                 settings: Settings) -> None:
    await make_subject(api, team)
    manifest = await back_up(settings)
    path = settings.backup_dir / manifest.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, summary, err = await drill(settings)
    assert code == 1 and summary is None
    assert "restore drill FAILED" in err and "SHA-256 does not match" in err


async def test_no_backup_fails_the_drill(settings: Settings, tmp_path: Path) -> None:
    code, _, err = await drill(settings)
    assert code == 1 and f"no data backup in {settings.backup_dir}" in err


async def test_prune_keeps_the_newest_backup_of_the_day(api: Api, team: Team,
                                                        settings: Settings) -> None:
    first = await backups.take(settings.database_url, "data", settings.backup_dir)
    second = await backups.take(settings.database_url, "data", settings.backup_dir)
    assert backups.prune(settings.backup_dir, "data", settings.backup_schedule) == [first.file]
    assert [m.file for _, m in backups.manifests(settings.backup_dir, "data")] == [second.file]
    backups.verify(settings.backup_dir, second)
