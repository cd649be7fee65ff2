"""`me` and `organization(slug:)` are nullable: an error on one of them nulls that field alone,
and the other root fields of the request still answer (through the compiled fast path too)."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api, errors_of
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team, make_team

HOME = """
query($slug: String!, $other: String!) {
  me { name }
  plans { code }
  mine: organization(slug: $slug) {
    name
    members(first: 20) { nodes { role user { name email } } }
    leads(first: 50) { nodes { name status owner { name } notes(first: 3) { nodes { body } } } }
  }
  theirs: organization(slug: $other) { name }
}"""


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = errors_of(body)
    return error


async def test_me_failing_leaves_the_other_root_fields(api: Api) -> None:
    body = await api.gql("{ me { id name } plans { code } }")
    assert body["data"]["me"] is None
    assert [plan["code"] for plan in body["data"]["plans"]] == ["FREE", "PRO", "BUSINESS"]
    error = only_error(body)
    assert (error["extensions"]["code"], error["path"]) == ("UNAUTHENTICATED", ["me"])


async def test_another_tenants_organization_leaves_the_other_root_fields(
        api: Api, team: Team, rival: Team) -> None:
    await create_lead(api, team, name="Grace Hopper")
    owner = team.people[Role.OWNER]
    body = await api.gql(HOME, {"slug": team.slug, "other": rival.slug}, token=owner.token)
    data = body["data"]
    assert data["theirs"] is None
    error = only_error(body)
    assert (error["extensions"]["code"], error["path"]) == ("NOT_FOUND", ["theirs"])
    assert data["me"] == {"name": owner.user.name}
    assert data["plans"]
    # The org that may be read is answered in full, as when it is asked for alone.
    alone = await api.gql(HOME.replace("theirs: organization(slug: $other) { name }", "")
                          .replace(", $other: String!", ""), {"slug": team.slug},
                          token=owner.token)
    assert "errors" not in alone, alone
    assert data["mine"] == alone["data"]["mine"]
    assert data["mine"]["leads"]["nodes"][0]["name"] == "Grace Hopper"
    assert len(data["mine"]["members"]["nodes"]) == 4


async def test_no_credential_nulls_each_failing_root_alone(api: Api, team: Team) -> None:
    body = await api.gql(HOME, {"slug": team.slug, "other": "no-such-org"})
    data = body["data"]
    assert data["me"] is data["mine"] is data["theirs"] is None
    assert data["plans"]
    codes = {tuple(e["path"]): e["extensions"]["code"] for e in errors_of(body)}
    assert codes == {("me",): "UNAUTHENTICATED", ("mine",): "NOT_FOUND",
                     ("theirs",): "NOT_FOUND"}
