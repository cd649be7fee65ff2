"""Global ids a client made up: any of them is NOT_FOUND (an id naming nothing the caller may
see) or BAD_USER_INPUT (not an id at all), never INTERNAL."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.conftest import Api, error_code

NODE = "query($id: ID!) { node(id: $id) { id } }"


def gid(raw: str | bytes) -> str:
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


SOME_UUID = str(uuid.uuid4())


@pytest.mark.parametrize("raw", [
    f"Node:{SOME_UUID}",  # the interface itself
    f"Query:{SOME_UUID}", f"Mutation:{SOME_UUID}", f"Connection:{SOME_UUID}",
    f"PageInfo:{SOME_UUID}", f"LeadConnection:{SOME_UUID}", f"String:{SOME_UUID}",
    f"Lead:{SOME_UUID}", "Lead:not-a-uuid", "Lead:", ":", f"NoSuchType:{SOME_UUID}",
])
async def test_an_id_of_no_concrete_node_type_is_not_found(api: Api, raw: str) -> None:
    body = await api.gql(NODE, {"id": gid(raw)})
    assert error_code(body) == "NOT_FOUND", body
    assert body["errors"][0]["message"] == "No such object."


@pytest.mark.parametrize("value", [
    "", "!!!", "not base64", gid("no colon"), gid(b"\xff\xfe:\x80"), 5, True, 3.5,
    {"a": 1}, ["Lead"],
])
async def test_a_value_that_is_no_global_id_is_bad_input(api: Api, value: Any) -> None:
    body = await api.gql(NODE, {"id": value})
    assert error_code(body) == "BAD_USER_INPUT", body


@pytest.mark.parametrize("literal", ["5", "true", '""', '"!!!"', "{a: 1}", "[1]"])
async def test_an_inline_value_that_is_no_global_id_is_bad_input(api: Api, literal: str) -> None:
    body = await api.gql(f"{{ node(id: {literal}) {{ id }} }}")
    assert error_code(body) == "BAD_USER_INPUT", body


async def test_a_typed_argument_refuses_the_interface_name_too(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    for raw in (f"Node:{SOME_UUID}", f"Query:{SOME_UUID}"):
        body = await api.gql("query($id: ID!) { lead(id: $id) { id } }", {"id": gid(raw)},
                             token=token)
        assert error_code(body) == "NOT_FOUND", body
        body = await api.gql(NODE, {"id": gid(raw)}, token=token)
        assert error_code(body) == "NOT_FOUND", body
