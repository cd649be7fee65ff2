"""`BaseModel._init_from_db` (models/base.py) builds rows into models faster than Tortoise's own;
it must build exactly the same instance, on either database, for every column kind (UUIDs,
enums, JSON, datetimes, nulls), and leave partial rows (`.only()`) to Tortoise."""

from __future__ import annotations

from tortoise import connections
from tortoise.models import Model

from models.leads import Lead, Note
from models.orgs import Role
from tests.conftest import Api
from tests.leads.conftest import seed_leads
from tests.orgs.conftest import Team


async def test_rows_become_the_models_tortoise_would_build(api: Api, team: Team) -> None:
    [with_owner, without] = await seed_leads(team.org, 2, owners=[team.people[Role.MEMBER].user.id])
    await Lead.scoped(team.org.id).filter(id=without.id).update(owner_id=None, tags=["a", "b"])
    await Note.create(organization_id=team.org.id, lead_id=with_owner.id, body="hello")
    db = connections.get("default")
    for model, table in ((Lead, "leads"), (Note, "notes")):
        _, rows = await db.execute_query(f"SELECT * FROM {table}")
        assert rows
        for row in rows:
            ours = model._init_from_db(**dict(row))
            theirs = Model._init_from_db.__func__(model, **dict(row))  # type: ignore[attr-defined]
            assert vars(ours) == vars(theirs)
    fetched = {lead.id: lead for lead in await Lead.scoped(team.org.id)}
    assert fetched[without.id].tags == ["a", "b"] and fetched[without.id].owner_id is None
    assert fetched[with_owner.id].owner_id == team.people[Role.MEMBER].user.id
    partial = await Lead.scoped(team.org.id).filter(id=with_owner.id).only("id", "name").first()
    assert partial is not None and partial._partial and partial.name == "Lead 000"
