"""One id decoder: `engine.fields.decode_id` turns a global id into its UUID for fields and their
permission locators alike, and is the only code that reads a global id's parts (issue 17)."""

from __future__ import annotations

import pathlib
import re
import uuid

import pytest
from strawberry import relay

from core.errors import NotFound
from engine.fields import decode_id
from schema.accounts import SessionType

pytestmark = pytest.mark.no_db

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOME_UUID = uuid.uuid4()


def test_it_reads_the_uuid_of_the_named_type() -> None:
    assert decode_id(relay.GlobalID("Lead", str(SOME_UUID)), "Lead") == SOME_UUID
    assert decode_id(relay.GlobalID("Session", str(SOME_UUID)), SessionType) == SOME_UUID


@pytest.mark.parametrize("value", [
    None, str(SOME_UUID), relay.GlobalID("Note", str(SOME_UUID)),
    relay.GlobalID("Lead", "not-a-uuid"), relay.GlobalID("Lead", ""),
])
def test_anything_else_is_not_found_naming_the_argument(value: object) -> None:
    with pytest.raises(NotFound) as caught:
        decode_id(value, "Lead", field="leadId")
    assert caught.value.message == "No such lead."
    assert caught.value.extensions["field"] == "leadId"


def test_no_other_code_reads_a_global_ids_parts() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("schema", "resolvers", "loaders", "auth", "jobs", "realtime")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.node_id\b|\.type_name\s*[!=]=", line)
        and path != ROOT / "schema" / "base.py"
    ]
    assert readers == [], "decode a global id with engine.fields.decode_id: " + ", ".join(readers)
