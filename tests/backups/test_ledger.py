"""The erasure ledger (`keystore/ledger.py`): every erasure appends an entry to the keystore,
naming the person by a keyed hash of their email, never the email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from core.settings import Settings
from keystore.ledger import (
    ErasureKind,
    ErasureLedgerEntry,
    entries_since,
    record_erasure,
    subject_hash,
)
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.data_subjects.conftest import ERASE, GRACE, gql_ok, make_subject
from tests.orgs.conftest import Team
from tests.privacy.conftest import pass_grace_period, run_due_work

DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { id status } } }"""
DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    id status } } }"""


async def erase_grace(api: Api, team: Team) -> None:
    await gql_ok(api, ERASE, {"org": team.org_id, "email": GRACE.upper()},
                 team.people[Role.OWNER].token)


async def delete_account(api: Api, app: Any, team: Team, role: Role) -> None:
    await gql_ok(api, DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, team.people[role].token)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION,
                                         user_id=team.people[role].user.id)
    await pass_grace_period(work.id)
    await run_due_work(app)


async def delete_org(api: Api, app: Any, team: Team) -> None:
    await gql_ok(api, DELETE_ORG, {"id": team.org_id, "slug": team.slug},
                 team.people[Role.OWNER].token)
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION,
                                         organization_id=team.org.id)
    await pass_grace_period(work.id)
    await run_due_work(app)


async def test_a_data_subject_erasure_is_in_the_ledger_by_hash_only(
        api: Api, team: Team, settings: Settings) -> None:
    await make_subject(api, team)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await erase_grace(api, team)
    (entry,) = await entries_since(before)
    assert entry.kind is ErasureKind.DATA_SUBJECT and entry.org_id == team.org.id
    assert entry.subject_hash == subject_hash(settings.ledger_key, GRACE)
    rows = await ErasureLedgerEntry.all().values_list("kind", "org_id", "subject_hash", "at")
    assert "@" not in repr(rows) and "grace" not in repr(rows).lower()


async def test_account_and_organization_deletions_are_in_the_ledger(
        api: Api, app: Any, team: Team, rival: Team, settings: Settings) -> None:
    member = team.people[Role.MEMBER]
    await delete_account(api, app, team, Role.MEMBER)
    await delete_org(api, app, rival)
    entries = await entries_since(datetime.now(UTC) - timedelta(minutes=5))
    assert [(e.kind, e.org_id, e.subject_hash) for e in entries] == [
        (ErasureKind.ACCOUNT, None, subject_hash(settings.ledger_key, member.email)),
        (ErasureKind.ORGANIZATION, rival.org.id, None)]


async def test_an_account_alone_in_its_org_records_both(api: Api, app: Any,
                                                        settings: Settings) -> None:
    from tests.orgs.conftest import make_team

    solo = await make_team(api, settings, "solo", prefix="s.")
    for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        await delete_account(api, app, solo, role)
    await delete_account(api, app, solo, Role.OWNER)  # the last one: the org goes with them
    kinds = [(e.kind, e.org_id) for e in await entries_since(datetime(2000, 1, 1, tzinfo=UTC))]
    assert kinds[-2:] == [(ErasureKind.ORGANIZATION, solo.org.id), (ErasureKind.ACCOUNT, None)]


@pytest.mark.no_db
def test_the_hash_is_keyed_and_normalised() -> None:
    assert subject_hash(b"k", " Grace@Navy.example ") == subject_hash(b"k", "grace@navy.example")
    assert subject_hash(b"k", GRACE) != subject_hash(b"other", GRACE)
    assert len(subject_hash(b"k", GRACE)) == 64 and GRACE not in subject_hash(b"k", GRACE)


async def test_an_entry_without_its_subject_is_refused(team: Team) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="subject_hash"):
        await record_erasure("data_subject", org_id=team.org.id, subject_hash=None, at=now)
    with pytest.raises(ValueError, match="org_id"):
        await record_erasure("organization", org_id=None, subject_hash=None, at=now)
    assert await ErasureLedgerEntry.all().count() == 0


async def test_entries_older_than_every_backup_are_pruned(settings: Settings) -> None:
    from scripts.backup import prune_ledger

    now = datetime.now(UTC)
    for days in (40, 29, 1):
        await record_erasure("organization", org_id=uuid4(), subject_hash=None,
                             at=now - timedelta(days=days))
    assert await prune_ledger(settings, now - timedelta(days=30)) == 1
    left = await ErasureLedgerEntry.all().order_by("at").values_list("at", flat=True)
    assert len(left) == 2 and min(left) > now - timedelta(days=30)
