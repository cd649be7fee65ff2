from __future__ import annotations

from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team


async def test_owner_sees_org_members(api: Api, team: Team) -> None:
    body = await api.gql("""
      query($slug: String!) { organization(slug: $slug) {
        name slug viewerRole viewerPermissions
        members(first: 10) { totalCount nodes { role joinedAt user { name email } } }
        activity(first: 5) { nodes { action actor { name } } }
      } }""", {"slug": "acme"}, token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    org = body["data"]["organization"]
    assert org["members"]["totalCount"] == 4
    assert org["activity"]["nodes"][0]["action"] == "ORGANIZATION_CREATED"
