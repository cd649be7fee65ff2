"""What the header costs in SQL statements: nothing without it (Q1 and every other request pay
nothing), one INSERT and one UPDATE of `idempotency_keys` with a new key, and for a replay the
failed INSERT and one SELECT, with none of the mutation's own statements."""

from __future__ import annotations

from tests.conftest import Api, count_sql
from tests.idempotency.conftest import create_lead
from tests.orgs.conftest import Team


def _keys(statements: list[str]) -> list[str]:
    return [s for s in statements if "idempotency_keys" in s]


async def test_no_header_no_statement_and_what_a_key_costs(api: Api, team: Team) -> None:
    await create_lead(api, team, key=None, name="Warm-up")  # caches, first-use reads
    with count_sql() as plain:
        response = await create_lead(api, team, key=None, name="Plain")
    assert "errors" not in response.json()
    assert _keys(plain.statements) == []

    with count_sql() as keyed:
        response = await create_lead(api, team, key="cost-1", name="Keyed")
    assert "errors" not in response.json()
    added = _keys(keyed.statements)
    assert len(added) == 2, added
    assert added[0].lstrip().upper().startswith("INSERT")
    assert added[1].lstrip().upper().startswith("UPDATE")
    assert keyed.count == plain.count + 2, (plain.statements, keyed.statements)

    with count_sql() as replay:
        again = await create_lead(api, team, key="cost-1", name="Keyed")
    assert again.headers["idempotent-replayed"] == "true"
    assert len(_keys(replay.statements)) == 2
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                   for s in replay.statements if "idempotency_keys" not in s)
    # A replay runs none of the mutation: it costs authentication and the two key statements.
    assert replay.count < plain.count
