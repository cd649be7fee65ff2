"""What the domains count: lead form submissions by verdict (over HTTP, as a browser sends
them), webhook attempts by outcome."""

from __future__ import annotations

import httpx

from core.settings import Settings
from models.forms import LeadForm
from tests.forms_web.conftest import form, good_fields, org, post_form, post_json
from tests.metrics.conftest import scrape, value

__all__ = ["form", "org"]  # the forms' fixtures, used here

SUBMISSIONS = "relleks_form_submissions_total"


async def test_form_submissions_by_verdict(http: httpx.AsyncClient, settings: Settings,
                                           form: LeadForm) -> None:
    before = await scrape(http)
    accepted = await post_form(http, form, await good_fields(http, settings, form))
    assert accepted.status_code == 200
    spam = await post_form(http, form, await good_fields(http, settings, form,
                                                         website="https://buy.example"))
    assert spam.status_code == 200  # a bot is answered as a person is
    invalid = await post_json(http, form, {"email": "not an address"})
    assert invalid.status_code == 400
    after = await scrape(http)

    def moved(verdict: str) -> float:
        return value(after, SUBMISSIONS, verdict=verdict) - \
            value(before, SUBMISSIONS, verdict=verdict)

    assert (moved("accepted"), moved("spam"), moved("rejected")) == (1, 1, 1)
    text = (await http.get("/metrics", headers={
        "authorization": "Bearer metrics-token-for-tests-0123456789"})).text
    assert form.public_id not in text and "ada@example.com" not in text


