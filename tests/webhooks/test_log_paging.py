"""The delivery log pages by keyset: `webhookEndpoint.messages` and `webhookMessage.attempts`
are walked page by page (newest first) without a repeat or a gap even while new messages
arrive, backwards with `last`/`before` too; a cursor of another endpoint, of another status
filter or of the attempts list is BAD_USER_INPUT naming `after`."""

from __future__ import annotations

import base64
from typing import Any

from models.orgs import Role
from models.webhooks import WebhookMessage
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team
from tests.webhooks.conftest import EVERYTHING, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead

MESSAGES = """query($slug: String!, $first: Int, $after: String, $last: Int, $before: String,
                    $status: WebhookMessageStatus) {
  organization(slug: $slug) { webhookEndpoints(first: 5) { nodes { id
    messages(first: $first, after: $after, last: $last, before: $before, status: $status) {
      totalCount nodes { id createdAt }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id attempts(first: 1) {
        totalCount nodes { statusCode } pageInfo { hasNextPage endCursor } } } } } } } } }"""
ATTEMPTS = """query($slug: String!, $after: String) {
  organization(slug: $slug) { webhookEndpoints(first: 5) { nodes { messages(first: 1) {
    nodes { attempts(first: 1, after: $after) { nodes { statusCode success }
      pageInfo { hasNextPage endCursor } } } } } } } }"""


def plain_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def messages(api: Api, team: Team, **variables: Any) -> dict[str, Any]:
    body = await api.gql(MESSAGES, {"slug": team.slug, **variables},
                         token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    return body["data"]["organization"]["webhookEndpoints"]["nodes"][0]["messages"]


async def test_messages_page_by_keyset_without_repeats_or_gaps(
        app: Any, api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    for n in range(5):
        await make_lead(api, team, f"Lead {n}", f"lead{n}@example.com")
    newest_first = [str(m.id) for m in await EVERYTHING.scoped(WebhookMessage).all()
                    .order_by("-created_at", "-id")]
    seen: list[str] = []
    after = None
    while True:
        page = await messages(api, team, first=2, after=after)
        assert page["totalCount"] >= 5
        seen += [node["id"] for node in page["nodes"]]
        if not seen[2:]:
            # New messages arrive while the client pages: they are before its position.
            await make_lead(api, team, "Late", "late@example.com")
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    decoded = [plain_id(node) for node in seen]
    assert decoded == newest_first
    # Backwards from the end.
    tail = await messages(api, team, last=2)
    assert [plain_id(node["id"]) for node in tail["nodes"]] == newest_first[-2:]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    before = await messages(api, team, last=2, before=tail["pageInfo"]["startCursor"])
    assert [plain_id(node["id"]) for node in before["nodes"]] == newest_first[-4:-2]


async def test_attempts_page_by_keyset(app: Any, api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    hook.answers = [500, 503]  # then 200: three attempts (the schedule is 0,0,0 in tests)
    await make_lead(api, team)
    await run_jobs(app)
    page = await messages(api, team, first=1)
    message = page["edges"][0]["node"]
    assert message["attempts"]["totalCount"] == 3
    codes = []
    after = None
    while True:
        body = await api.gql(ATTEMPTS, {"slug": team.slug, "after": after},
                             token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body
        attempts = body["data"]["organization"]["webhookEndpoints"]["nodes"][0]["messages"][
            "nodes"][0]["attempts"]
        codes += [node["statusCode"] for node in attempts["nodes"]]
        if not attempts["pageInfo"]["hasNextPage"]:
            break
        after = attempts["pageInfo"]["endCursor"]
    assert codes == [200, 503, 500]  # newest first


async def test_a_cursor_of_another_list_is_refused(
        app: Any, api: Api, team: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await make_lead(api, team)
    await make_lead(api, team, "Grace", "grace@example.com")
    await run_jobs(app)
    page = await messages(api, team, first=1)
    cursor = page["pageInfo"]["endCursor"]
    attempt_cursor = page["edges"][0]["node"]["attempts"]["pageInfo"]["endCursor"]
    filtered = await api.gql(MESSAGES, {"slug": team.slug, "first": 1, "after": cursor,
                                        "status": "DELIVERED"},
                             token=team.people[Role.ADMIN].token)
    assert error_code(filtered) == "BAD_USER_INPUT"
    assert "after" in errors_of(filtered)[0]["extensions"]["fields"]
    foreign = await api.gql(MESSAGES, {"slug": team.slug, "first": 1,
                                       "after": attempt_cursor},
                            token=team.people[Role.ADMIN].token)
    assert error_code(foreign) == "BAD_USER_INPUT"
    too_many = await api.gql(MESSAGES, {"slug": team.slug, "first": 101},
                             token=team.people[Role.ADMIN].token)
    assert error_code(too_many) == "BAD_USER_INPUT"
