"""The privacy-request page on an organization's verified custom domain: served there for its
own organization only (another organization's page is 404 on it), and a request sent from it
is taken like one sent on the API's host."""

from __future__ import annotations

import orjson

from core.settings import Settings
from models.privacy_requests import PrivacyRequest
from tests.conftest import Api
from tests.domains.conftest import on_host, verified
from tests.forms_web.conftest import PageReader, solve, stamp_from
from tests.nameserver import Zone
from tests.orgs.conftest import Team
from tests.smtp import Inbox

HOST = "privacy.acme-shop.com"


async def test_the_privacy_page_is_served_on_the_orgs_own_domain_only(
        api: Api, settings: Settings, team: Team, rival: Team, zone: Zone,
        inbox: Inbox) -> None:
    await verified(api, team, zone, HOST)
    http = api.http
    page = await http.get(f"/p/{team.slug}", headers=on_host(HOST))
    assert page.status_code == 200 and "Your data at Team acme" in page.text
    assert (await http.get(f"/p/{rival.slug}", headers=on_host(HOST))).status_code == 404
    assert (await http.get(f"/p/{rival.slug}")).status_code == 200  # on the API's host
    reader = PageReader()
    reader.feed(page.text)
    challenge = orjson.loads(reader.form["data-challenge"])
    fields = {"email": "ada@example.com", "kind": "erasure", "message": "", "website": "",
              "stamp": stamp_from(settings, f"privacy:{team.org.id}", 5),
              "altcha": solve(challenge)}
    sent = await http.post(f"/p/{team.slug}", data=fields,
                           headers={**on_host(HOST), "origin": f"http://{HOST}"})
    assert sent.status_code == 200 and "Check your email" in sent.text
    (request,) = await PrivacyRequest._scoped(team.org.id).all()
    assert request.email == "ada@example.com" and request.message is None
    assert len(inbox.to("ada@example.com", "privacy request")) == 1
