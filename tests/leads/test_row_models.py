"""`database.rows.build` (every query's rows, through our engines) builds rows into models faster
than Tortoise's own `_init_from_db`; it must build exactly the same instances, on either database,
for every column kind (UUIDs, enums, JSON, datetimes, nulls), and leave partial rows (`.only()`)
and joined rows (`select_related`) to Tortoise."""

from __future__ import annotations

import uuid

import pytest
from tortoise import connections
from tortoise.models import Model

from database.rows import build, by_ids, joined, native_types
from models.accounts import User
from models.leads import Lead, LeadStatus, Note
from models.orgs import Role
from tests.conftest import Api
from tests.leads.conftest import seed_leads
from tests.orgs.conftest import Team


async def test_result_sets_become_the_models_tortoise_would_build(api: Api, team: Team) -> None:
    owner = team.people[Role.MEMBER].user
    [with_owner, without] = await seed_leads(team.org, 2, owners=[owner.id])
    await Lead._scoped(team.org.id).filter(id=without.id).update(
        owner_id=None, tags=["a", "b"], status=LeadStatus.WON)
    await Note.create(organization_id=team.org.id, lead_id=with_owner.id, body="hello")
    db = connections.get("default")
    for model, table in ((Lead, "leads"), (Note, "notes")):
        # An extra column (a rank, say) is not the model's and is left out.
        _, rows = await db.execute_query(f"SELECT {table}.*, 1 AS rank FROM {table}")
        assert rows
        built = build(model, rows, native_types=native_types(db))
        for row, ours in zip(rows, built, strict=True):
            values = {key: row[key] for key in row.keys() if key != "rank"}
            theirs = Model._init_from_db.__func__(model, **values)  # type: ignore[attr-defined]
            assert vars(ours) == vars(theirs)
            assert not hasattr(ours, "rank")

    # Querysets build the same way; enums are the enum's members, JSON is parsed.
    fetched = {lead.id: lead for lead in await Lead._scoped(team.org.id)}
    assert fetched[without.id].status is LeadStatus.WON
    assert fetched[without.id].tags == ["a", "b"]
    assert fetched[with_owner.id].owner_id == owner.id
    assert fetched[with_owner.id].created_at.utcoffset() is not None
    # Joined and partial rows keep Tortoise's path.
    joined = await Lead._scoped(team.org.id).filter(id=with_owner.id).select_related("owner")
    assert joined[0].owner.id == owner.id and joined[0].name == "Lead 000"
    partial = await Lead._scoped(team.org.id).filter(id=with_owner.id).only("id", "name").first()
    assert partial is not None and partial._partial and partial.name == "Lead 000"


async def test_rows_by_id_outside_the_tenant_scope_only(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].user
    missing = uuid.uuid4()
    users = await by_ids(User, [member.id, missing])
    assert list(users) == [member.id]
    assert vars(users[member.id]) == vars(await User.get(id=member.id))
    assert await by_ids(User, []) == {}
    with pytest.raises(TypeError):  # org-owned rows are read through their scope only
        await by_ids(Lead, [uuid.uuid4()])


async def test_rows_with_their_related_row_in_one_statement(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].user
    [lead] = await seed_leads(team.org, 1)
    note = await Note.create(organization_id=team.org.id, lead_id=lead.id, author_id=member.id,
                             body="hello")
    ours = await joined(Note, "lead", {"organization_id": team.org.id, "id": note.id})
    theirs = await Note._scoped(team.org.id).filter(id=note.id).select_related("lead")
    assert len(ours) == 1 and vars(ours[0]) | {"_lead": None} == vars(theirs[0]) | {
        "_lead": None}
    assert vars(ours[0].lead) == vars(theirs[0].lead)
    # A condition on the joined row, with a list of values.
    by_name = await joined(Note, "lead", {"organization_id": team.org.id,
                                          "lead.name": [lead.name, "Nobody"]})
    assert [found.id for found in by_name] == [note.id]
    assert await joined(Note, "lead", {"lead.name": []}) == []
    assert await joined(Note, "lead", {"organization_id": uuid.uuid4()}) == []
    with pytest.raises(ValueError):  # an inner join would drop the leads without an owner
        await joined(Lead, "owner", {"organization_id": team.org.id})
