"""A page's subtree is completed in one pass when everything below it is at hand
(`engine/compiled.py`); these tests hold that shortcut to graphql-core's answers: aliases,
fragments, `@include`/`@skip`, `__typename`, enums, lists, nulls, cursors, and errors below it
(which make the whole object fall back to ordinary completion, errors located as usual). A
profile hook watches that the plans did run: the same answers from graphql-core alone would pass
the rest."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from models.leads import Note
from models.orgs import Role
from tests.conftest import Api
from tests.leads.conftest import seed_leads
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token

PAGE = """
query Page($slug: String!, $withNotes: Boolean!, $skipEmail: Boolean!, $notes: Int) {
  organization(slug: $slug) {
    leads(first: 3, orderBy: {field: NAME, direction: ASC}) {
      __typename
      nodes {
        __typename
        label: name
        name
        email @skip(if: $skipEmail)
        ...Pipeline
        owner { __typename ... on User { name } }
        notes(first: $notes) @include(if: $withNotes) {
          nodes { body author { name } }
          edges { cursor node { body } }
        }
      }
    }
  }
}
fragment Pipeline on Lead { status source tags }
"""


@contextmanager
def planned_objects() -> Iterator[list[int]]:
    """How many objects the compiled plans completed inside the block (calls of a plan's
    `complete`, as seen by a profile hook: nothing in the code under test is replaced)."""
    count = [0]

    def watch(frame: FrameType, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and code.co_name == "complete" \
                and code.co_filename.endswith("compiled.py"):
            count[0] += 1

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        yield count
    finally:
        sys.setprofile(previous)


async def seed(team: Team) -> None:
    owner = team.people[Role.MEMBER]
    leads = await seed_leads(team.org, 3, owners=[owner.user.id])
    await type(leads[0])._scoped(team.org.id).filter(id=leads[0].id).update(owner_id=None,
                                                                          tags=["vip", "q3"])
    for n in range(2):
        await Note.create(organization_id=team.org.id, lead_id=leads[1].id,
                          author_id=owner.user.id, body=f"note {n}")


async def test_a_planned_page_answers_as_graphql_core_would(api: Api, team: Team) -> None:
    await seed(team)
    member = team.people[Role.MEMBER]
    with planned_objects() as planned:
        body = await api.gql(PAGE, {"slug": team.slug, "withNotes": True, "skipEmail": False,
                                    "notes": 1}, token=member.token)
    assert "errors" not in body, body
    # The connection, its 3 leads, 2 owners, 3 notes connections, a note with its author, an
    # edge and its node: 13 objects, every one completed by a plan.
    assert planned[0] == 13, planned
    leads = body["data"]["organization"]["leads"]
    assert leads["__typename"] == "LeadConnection"
    first, second, third = leads["nodes"]
    assert first == {
        "__typename": "Lead", "label": "Lead 000", "name": "Lead 000",
        "email": "lead0@example.com", "status": "NEW", "source": "MANUAL",
        "tags": ["vip", "q3"], "owner": None,
        "notes": {"nodes": [], "edges": []}}
    assert second["owner"] == {"__typename": "User", "name": member.user.name}
    assert second["notes"]["nodes"] == [{"body": "note 1", "author": {"name": member.user.name}}]
    assert [edge["node"] for edge in second["notes"]["edges"]] == [{"body": "note 1"}]
    assert second["notes"]["edges"][0]["cursor"]
    assert third["notes"] == {"nodes": [], "edges": []}
    assert list(first) == ["__typename", "label", "name", "email", "status", "source", "tags",
                           "owner", "notes"]

    skipped = await api.gql(PAGE, {"slug": team.slug, "withNotes": False, "skipEmail": True},
                            token=member.token)
    node = skipped["data"]["organization"]["leads"]["nodes"][1]
    assert "email" not in node and "notes" not in node
    assert node["owner"] == {"__typename": "User", "name": member.user.name}


async def test_an_error_below_a_page_is_located_as_usual(api: Api, team: Team) -> None:
    await seed(team)
    body = await api.gql(PAGE, {"slug": team.slug, "withNotes": True, "skipEmail": False,
                                "notes": 101}, token=team.people[Role.VIEWER].token)
    # `notes` is non-null, so the error nulls its lead, the non-null list and so on up to
    # `organization`, the first nullable field: graphql-core's rule, located at the first lead
    # it completed.
    assert body["data"] == {"organization": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "PAGE_SIZE"
    assert error["path"] == ["organization", "leads", "nodes", 0, "notes"]


OWNERS = """query($slug: String!) {
  organization(slug: $slug) {
    leads(first: 3, orderBy: {field: NAME, direction: ASC}) { nodes { name owner { name email } } }
  }
}"""


async def test_a_users_email_stays_planned_for_people_and_refused_to_a_token_without_scope(
        api: Api, team: Team) -> None:
    """`User.email` needs `members:read` (a permission decided once per execution): for a
    person it is read by the plans like any attribute; a token without the scope gets the
    refusal located at each owner's email, as graphql-core reports it."""
    await seed(team)
    member = team.people[Role.MEMBER]
    with planned_objects() as planned:
        body = await api.gql(OWNERS, {"slug": team.slug}, token=member.token)
    assert "errors" not in body, body
    assert planned[0] == 6, planned  # the connection, its 3 leads and 2 owners
    owners = [n["owner"] for n in body["data"]["organization"]["leads"]["nodes"]]
    assert owners == [None] + [{"name": member.user.name, "email": member.email}] * 2

    token = (await make_token(team, ["org:read", "leads:read"])).secret
    body = await api.gql(OWNERS, {"slug": team.slug}, token=token)
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["organization", "leads", "nodes", i, "owner", "email"], "FORBIDDEN") for i in (1, 2)]
    nodes = body["data"]["organization"]["leads"]["nodes"]
    assert nodes == [{"name": f"Lead {i:03d}", "owner": None} for i in range(3)]
