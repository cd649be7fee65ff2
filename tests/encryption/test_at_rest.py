"""Personal fields are encrypted at rest (docs/encryption.md): the API returns them, the raw
database holds none of them; blind indexes differ between orgs; search finds exact values."""

from __future__ import annotations

from typing import Any

from models.orgs import Role
from tests.conftest import Api
from tests.encryption.conftest import raw_bytes, raw_rows
from tests.leads.conftest import create_lead, db_id, token
from tests.orgs.conftest import Team

ADD_NOTE = """mutation($input: AddNoteInput!) { addNote(input: $input) { note { id body } } }"""
LEAD = """query($id: ID!) { node(id: $id) { ... on Lead { email phone personalDataUnreadable
  address { line1 city postalCode country }
  notes(first: 5) { nodes { body bodyUnreadable } } } } }"""
SEARCH = """query($slug: String!, $term: String!) { organization(slug: $slug) {
  leads(first: 10, filter: {search: $term}) { nodes { id } } } }"""

EMAIL = "hedy.lamarr@frequency-hopping.example"
PHONE = "+14155552671"
NOTE = "Spread spectrum patent 2292387 discussed"
STREET = "Mandlgasse 17 Hinterhof"


async def add_note(api: Api, team: Team, lead_id: str, body: str) -> None:
    result = await api.gql(ADD_NOTE, {"input": {"leadId": lead_id, "body": body}},
                           token=token(team, Role.MEMBER))
    assert "errors" not in result, result


async def test_the_api_shows_what_the_database_holds_only_encrypted(
        api: Api, team: Team, database_url: str) -> None:
    lead = await create_lead(api, team, name="Hedy Lamarr", email=EMAIL, phone=PHONE,
                             address={"line1": STREET, "city": "Wien", "postalCode": "1010",
                                      "country": "AT"})
    await add_note(api, team, lead["id"], NOTE)
    shown = (await api.gql(LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER)))["data"]
    assert shown["node"]["email"] == EMAIL and shown["node"]["phone"] == PHONE
    assert shown["node"]["address"]["line1"] == STREET
    assert shown["node"]["notes"]["nodes"] == [{"body": NOTE, "bodyUnreadable": False}]
    assert shown["node"]["personalDataUnreadable"] is False
    stored = await raw_bytes(database_url)
    assert b"Hedy Lamarr" in stored  # names stay plain text (searchable): the test can see
    for secret in (EMAIL, "frequency-hopping", PHONE, "5552671", NOTE, "2292387", STREET):
        assert secret.encode() not in stored, secret
    [row] = [r for r in await raw_rows("leads") if str(r["id"]) == str(db_id(lead["id"]))]
    assert str(row["email"]).startswith("enc:v1:1:") and row["email_bidx"]
    [note] = await raw_rows("notes")
    assert str(note["body"]).startswith("enc:v1:1:")


async def test_the_same_email_has_another_index_in_another_org(
        api: Api, team: Team, rival: Team) -> None:
    ours = await create_lead(api, team, name="Hedy Lamarr", email=EMAIL, phone=PHONE)
    theirs = await create_lead(api, rival, name="Hedy Lamarr", email=EMAIL, phone=PHONE)
    rows = {str(r["id"]): r for r in await raw_rows("leads")}
    a, b = rows[str(db_id(ours["id"]))], rows[str(db_id(theirs["id"]))]
    assert a["email_bidx"] and b["email_bidx"] and a["email_bidx"] != b["email_bidx"]
    assert a["phone_bidx"] != b["phone_bidx"]
    assert a["email"] != b["email"]  # and the ciphertexts differ, of course
    # Exact search finds each org's own lead only.
    for side, lead in ((team, ours), (rival, theirs)):
        found = await api.gql(SEARCH, {"slug": side.slug, "term": EMAIL.upper()},
                              token=token(side, Role.MEMBER))
        assert [n["id"] for n in found["data"]["organization"]["leads"]["nodes"]] == [lead["id"]]


async def test_a_value_moved_to_another_row_does_not_decrypt(
        api: Api, team: Team) -> None:
    """The row id is bound as associated data: copying a ciphertext into another lead (a
    database-level attack) gives an unreadable field, not the other person's email."""
    first = await create_lead(api, team, name="One", email="one@example.com")
    second = await create_lead(api, team, name="Two", email="two@example.com")
    from tortoise import connections

    rows = {str(r["id"]): r for r in await raw_rows("leads")}
    stolen = rows[str(db_id(first["id"]))]["email"]
    db = connections.get("default")
    postgres = db.capabilities.dialect == "postgres"
    target: Any = db_id(second["id"]) if postgres else str(db_id(second["id"]))
    await db.execute_query(
        "UPDATE leads SET email = $1 WHERE id = $2" if postgres
        else "UPDATE leads SET email = ? WHERE id = ?", [stolen, target])
    shown = await api.gql(LEAD, {"id": second["id"]}, token=token(team, Role.MEMBER))
    assert shown["data"]["node"]["email"] is None
    assert shown["data"]["node"]["personalDataUnreadable"] is True
