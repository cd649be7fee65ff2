"""Requests by `Host`: a verified custom domain serves its org's form pages (`/` lists the active
forms), nothing else and no other org's form; a custom domain that is not (or no longer)
verified serves nothing; the API's own host works as before; and the proxy's TLS `ask`
answers 200 for verified hostnames only, failing closed."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from models.custom_domains import DomainStatus
from models.forms import FormStatus
from models.orgs import Role
from tests.conftest import Api, errors_of
from tests.domains.conftest import (
    REMOVE,
    added,
    api_with,
    check,
    on_host,
    set_row,
    verified,
)
from tests.forms.conftest import make_form, submissions
from tests.forms.test_forms_api import CREATE, form_input
from tests.http.conftest import database_unreachable
from tests.nameserver import Zone
from tests.orgs.conftest import Team
from web.sites import org_for_host

HOST = "forms.acme-shop.com"


async def test_a_verified_domain_lists_its_orgs_active_forms(api: Api, team: Team,
                                                             rival: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    contact = await make_form(team.org, name="Contact <us>")
    demo = await make_form(team.org, name="Book a demo")
    await make_form(team.org, name="Old survey", status=FormStatus.PAUSED)
    await make_form(rival.org, name="Globex secret form")
    page = await api.http.get("/", headers=on_host(HOST))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    assert "<h1>Team acme</h1>" in text
    assert f'<a href="/f/{demo.public_id}">Book a demo</a>' in text
    assert f'<a href="/f/{contact.public_id}">Contact &lt;us&gt;</a>' in text  # escaped
    assert "Old survey" not in text and "Globex" not in text
    assert text.index("Book a demo") < text.index("Contact")


async def test_a_verified_domain_without_active_forms_says_so(api: Api, team: Team,
                                                              zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    page = await api.http.get("/", headers=on_host(f"{HOST.upper()}.:443"))  # as sent
    assert page.status_code == 200 and "No forms are open" in page.text


async def test_a_tenant_host_serves_no_api(api: Api, team: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    for method, path in (("POST", "/graphql"), ("GET", "/graphql"), ("GET", "/healthz"),
                         ("GET", "/internal/tls-ask?domain=" + HOST), ("GET", "/media/x"),
                         ("GET", "/oauth/authorize"), ("GET", "/.well-known/openid"),
                         ("POST", "/webhooks/stripe")):
        response = await api.http.request(method, path, headers=on_host(HOST),
                                          json={"query": "{ __typename }"})
        assert response.status_code == 404, (method, path)
        assert response.text == "Not found"


@pytest.mark.parametrize("state", ["pending", "failed", "lapsed", "removed-then-pending"])
async def test_a_custom_domain_that_is_not_verified_serves_nothing(
        api: Api, team: Team, rival: Team, zone: Zone, state: str) -> None:
    await make_form(team.org, name="Contact us")
    if state == "pending":
        await added(api, team, HOST)
    elif state in {"failed", "lapsed"}:
        domain = await verified(api, team, zone, HOST)
        zone.remove(f"_relleks-challenge.{HOST}")
        body = await check(api, team, domain["id"])  # records gone: LAPSED
        assert body["data"]["checkCustomDomain"]["customDomain"]["status"] == "LAPSED"
        if state == "failed":
            await set_row(domain["id"], status=DomainStatus.FAILED)
    else:
        domain = await verified(api, team, zone, HOST)
        await api.gql(REMOVE, {"id": domain["id"]}, token=team.people[Role.ADMIN].token)
        await added(api, rival, HOST)  # someone else's claim, not proven
    for path in ("/", "/f/anything", "/graphql"):
        response = await api.http.get(path, headers=on_host(HOST))
        assert response.status_code == 404, path
    assert await org_for_host(HOST) is None


async def test_the_api_host_works_as_before(api: Api, team: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    for host in ("testserver", "127.0.0.1:8000", "[::1]:8000", "localhost",
                 "api.somewhere-else.example"):  # the last: no org holds it
        response = await api.http.get("/", headers=on_host(host))
        assert response.status_code == 307, host
        assert response.headers["location"] == "/graphql"
    body = await api.gql("{ __typename }", headers=on_host("api.somewhere-else.example"))
    assert body == {"data": {"__typename": "Query"}}


async def test_a_failing_lookup_fails_closed(api: Api, team: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    with database_unreachable():  # (one request each: a dead client stays dead)
        site = await api.http.get("/", headers=on_host(HOST))
    with database_unreachable():
        ask = await api.http.get("/internal/tls-ask", params={"domain": HOST})
    assert site.status_code == 503 and ask.status_code == 503
    assert "sqlite" not in site.text.lower() and "hunter2" not in ask.text


# The form pages themselves (web/forms.py) on a tenant's host: only that organization's forms.

async def test_another_orgs_form_on_a_tenant_host_is_not_found(
        api: Api, team: Team, rival: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    ours = await make_form(team.org, name="Contact us", page_title="Talk to Acme")
    theirs = await make_form(rival.org, name="Globex form", page_title="Talk to Globex")
    shown = await api.http.get(f"/f/{ours.public_id}", headers=on_host(HOST))
    assert shown.status_code == 200 and "Talk to Acme" in shown.text
    for path in (f"/f/{theirs.public_id}", f"/f/{theirs.public_id}/challenge"):
        hidden = await api.http.get(path, headers=on_host(HOST))
        assert hidden.status_code == 404, path
        assert "Globex" not in hidden.text
    posted = await api.http.post(f"/f/{theirs.public_id}", json={"email": "a@b.test"},
                                 headers=on_host(HOST))
    assert posted.status_code == 404
    assert posted.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await submissions(rival.org) == []
    # On the API's own host every form is shown, as before custom domains.
    for form, title in ((ours, "Talk to Acme"), (theirs, "Talk to Globex")):
        response = await api.http.get(f"/f/{form.public_id}")
        assert response.status_code == 200 and title in response.text


async def test_a_forms_redirect_may_go_to_a_verified_domain_only(
        api: Api, team: Team, rival: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    await added(api, team, "pending.acme-shop.com")
    await verified(api, rival, zone, "shop.globex-shop.com")
    made = await api.gql(CREATE, {"input": form_input(
        team, redirectUrl=f"https://{HOST}/thanks")}, token=team.people[Role.ADMIN].token)
    assert made["data"]["createLeadForm"]["leadForm"]["redirectUrl"] == f"https://{HOST}/thanks"
    for refused in ("https://pending.acme-shop.com/thanks", "https://shop.globex-shop.com/x",
                    f"http://{HOST}/thanks"):
        body = await api.gql(CREATE, {"input": form_input(team, redirectUrl=refused)},
                             token=team.people[Role.ADMIN].token)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", refused
        assert "redirectUrl" in error["extensions"]["fields"], refused


async def test_org_for_host(api: Api, team: Team, zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    assert await org_for_host(HOST) == team.org.id
    assert await org_for_host(HOST.upper() + ".") == team.org.id
    assert await org_for_host("other.acme-shop.com") is None
    assert await org_for_host("x" * 300) is None


# The proxy's on-demand TLS question.

async def test_tls_ask_answers_200_only_for_verified_hostnames(api: Api, team: Team,
                                                               rival: Team, zone: Zone) -> None:
    domain = await verified(api, team, zone, HOST)
    await added(api, rival, "pending.globex-shop.com")

    async def ask(value: str) -> int:
        return (await api.http.get("/internal/tls-ask", params={"domain": value})).status_code

    assert await ask(HOST) == 200
    assert await ask(HOST.upper()) == 200  # SNI is case-insensitive
    assert await ask("pending.globex-shop.com") == 404
    assert await ask("unknown.example.com") == 404
    for bad in ("", "127.0.0.1", "localhost", "x" * 300, f"{HOST}:443", "a..b.com",
                f"https://{HOST}/", "xn--bcher-kva.example.com\u0000"):
        assert await ask(bad) == 400, bad
    assert (await api.http.get("/internal/tls-ask")).status_code == 400
    zone.remove(HOST, "CNAME")  # pointed elsewhere: lapses, and TLS is asked no more
    await check(api, team, domain["id"])
    assert await ask(HOST) == 404


async def test_tls_ask_is_rate_limited(settings: Settings, api: Api, team: Team,
                                       zone: Zone) -> None:
    await verified(api, team, zone, HOST)
    async with api_with(settings, tls_ask_rate_per_ip="3/minute") as limited:
        codes = [(await limited.http.get("/internal/tls-ask", params={"domain": HOST}))
                 .status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


async def test_a_tenant_host_takes_no_websocket(app: Any, api: Api, team: Team,
                                                zone: Zone) -> None:
    """Subscriptions are the API's: a WebSocket on a tenant's host is closed before it opens
    (the client sees 403)."""
    await verified(api, team, zone, HOST)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "headers": [(b"host", HOST.encode())],
             "subprotocols": ["graphql-transport-ws"], "scheme": "ws", "root_path": "",
             "client": ("203.0.113.7", 50000), "server": ("testserver", 80),
             "asgi": {"version": "3.0"}, "state": {}}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
