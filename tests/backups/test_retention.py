"""Pruning by a retention schedule: pure logic over timestamps (`database.backups.to_keep`),
then the same on a directory of real backups and manifests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import ConfigurationError, Retention
from database.backups import Manifest, manifests, prune, stamp, to_keep, to_prune

pytestmark = pytest.mark.no_db

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # a Thursday


def nightly(days: int, *, hour: int = 2) -> list[datetime]:
    """One backup a night for `days` nights, newest first."""
    return [NOW.replace(hour=hour) - timedelta(days=n) for n in range(days)]


def test_defaults_keep_seven_dailies_and_four_weeklies() -> None:
    times = nightly(60)
    keep = to_keep(times, Retention(daily=7, weekly=4))
    dailies = set(times[:7])
    assert dailies <= keep
    # Weekly: the newest of each of the last four ISO weeks that have one: today's and Sunday
    # 29 November's (both dailies already), then the two Sundays before.
    older_weeklies = keep - dailies
    assert older_weeklies == {datetime(2026, 11, 22, 2, tzinfo=UTC),
                              datetime(2026, 11, 15, 2, tzinfo=UTC)}
    assert datetime(2026, 11, 29, 2, tzinfo=UTC) in dailies
    assert len(keep) == 9


def test_prune_is_the_rest_oldest_first() -> None:
    times = nightly(30)
    pruned = to_prune(times, Retention(daily=7, weekly=4))
    assert pruned == sorted(pruned)
    assert set(pruned) | to_keep(times, Retention(daily=7, weekly=4)) == set(times)
    assert not set(pruned) & to_keep(times, Retention(daily=7, weekly=4))
    assert NOW not in pruned


def test_several_backups_a_day_keep_the_newest_of_each_day() -> None:
    times = [NOW - timedelta(hours=h) for h in range(0, 72, 6)]  # every 6 h for 3 days
    keep = to_keep(times, Retention(daily=3, weekly=0))
    assert keep == {NOW, datetime(2026, 12, 2, 20, tzinfo=UTC),
                    datetime(2026, 12, 1, 20, tzinfo=UTC)}


def test_days_without_a_backup_do_not_count() -> None:
    """"The last 7 days that have one": a gap of a week keeps older backups, so a broken
    scheduler never leaves you with nothing."""
    times = [NOW - timedelta(days=d) for d in (0, 10, 11, 12)]
    assert to_keep(times, Retention(daily=3, weekly=0)) == set(times[:3])


def test_the_newest_backup_is_always_kept() -> None:
    times = nightly(40)
    for retention in (Retention(1, 0, 0), Retention(0, 1, 0), Retention(0, 0, 1),
                      Retention(0, 5, 2)):
        assert NOW in to_keep(times, retention)


def test_monthly_keeps_the_newest_of_each_month() -> None:
    times = nightly(100)
    keep = to_keep(times, Retention(daily=0, weekly=0, monthly=3))
    assert keep == {NOW, datetime(2026, 11, 30, 2, tzinfo=UTC),
                    datetime(2026, 10, 31, 2, tzinfo=UTC)}


def test_iso_weeks_span_the_new_year() -> None:
    """2026-12-31 (Thursday) and 2027-01-03 (Sunday) are both ISO week 53 of 2026."""
    times = [datetime(2027, 1, 3, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC),
             datetime(2026, 12, 27, tzinfo=UTC)]
    assert to_keep(times, Retention(daily=0, weekly=2)) == {times[0], times[2]}


def test_times_compare_in_utc_whatever_their_offset() -> None:
    from datetime import timezone
    plus_two = timezone(timedelta(hours=2))
    late = datetime(2026, 12, 3, 1, 0, tzinfo=plus_two)  # 2026-12-02 23:00 UTC
    early = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert to_keep([late, early], Retention(daily=1, weekly=0)) == {late}


def test_nothing_to_prune_when_there_are_few() -> None:
    assert to_prune([NOW], Retention(daily=7, weekly=4)) == []
    assert to_prune([], Retention(daily=7, weekly=4)) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("daily=7,weekly=4", Retention(7, 4, 0)),
    ("daily=3, weekly=1", Retention(3, 1, 0)),
    ("monthly=12", Retention(0, 0, 12)),
    ("DAILY=1", Retention(1, 0, 0)),
])
def test_schedules_parse(text: str, expected: Retention) -> None:
    assert Retention.parse(text) == expected


@pytest.mark.parametrize("text", ["", "daily=0", "daily=-1", "hourly=3", "daily=x",
                                  "daily=1,daily=2", "7d"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="BACKUP_RETENTION"):
        Retention.parse(text)


def _fake_backup(directory: Path, moment: datetime) -> str:
    name = f"data-{stamp(moment)}.sqlite3"
    (directory / name).write_bytes(b"x")
    Manifest(kind="data", source="sqlite", created_at=moment.isoformat(), schema_version={},
             tables={}, file=name, bytes=1).write(directory / f"{name}.json")
    return name


def test_prune_deletes_files_and_manifests_and_nothing_else(tmp_path: Path) -> None:
    names = {moment: _fake_backup(tmp_path, moment) for moment in nightly(20)}
    (tmp_path / "keystore-note.txt").write_text("not a backup")
    unfinished = tmp_path / ".data-20261203T000000000000Z.sqlite3.abc"
    unfinished.write_bytes(b"partial")
    deleted = prune(tmp_path, "data", Retention(daily=2, weekly=1))
    kept = {m.time for _, m in manifests(tmp_path, "data")}
    assert kept == {NOW, NOW - timedelta(days=1)}
    assert sorted(deleted) == sorted(names[t] for t in names if t not in kept)
    for moment, name in names.items():
        assert (tmp_path / name).exists() == (moment in kept)
        assert (tmp_path / f"{name}.json").exists() == (moment in kept)
    assert (tmp_path / "keystore-note.txt").exists() and unfinished.exists()
    assert prune(tmp_path, "keystore", Retention(daily=1)) == []
