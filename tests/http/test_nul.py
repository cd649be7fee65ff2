"""Text holding NUL (U+0000), which PostgreSQL refuses, is the client's bad input, not an
internal error, wherever it reaches a query."""

from __future__ import annotations

from tests.conftest import Api, error_code


async def test_nul_in_a_looked_up_argument_is_bad_input_not_internal(api: Api) -> None:
    body = await api.gql("query($s: String!) { organization(slug: $s) { name } }",
                         {"s": "acme\u0000corp"})
    # PostgreSQL refuses the NUL (BAD_USER_INPUT); SQLite looks it up and finds nothing.
    assert error_code(body) in {"BAD_USER_INPUT", "NOT_FOUND"}
    if error_code(body) == "BAD_USER_INPUT":
        assert body["errors"][0]["extensions"]["reason"] == "NUL_CHARACTER"
