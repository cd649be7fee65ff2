"""`GET /f/{publicId}`: the hosted page as the server renders it: the form's own content
(escaped), the accessible markup, the honeypot hidden from people and screen readers, the
signed render time and the challenge, and a policy that allows only our own script and style
(the accent colour's one style element by its hash)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from core.settings import Settings
from models.forms import LeadForm
from models.orgs import Organization
from tests.forms_web.conftest import SITE, make_form, open_page


async def test_the_page_shows_the_form_and_what_the_script_needs(
        http: httpx.AsyncClient, settings: Settings, form: LeadForm) -> None:
    page = await open_page(http, form.public_id)
    html = page.response.text
    assert "<title>Talk to Acme</title>" in html and "<h1>Talk to Acme</h1>" in html
    assert '<p class="intro">We answer within a day.</p>' in html
    assert page.form["method"] == "post" and page.form["action"] == f"/f/{form.public_id}"
    # Every field has its label; required ones say so to assistive technology too.
    for name in ("name", "email", "phone", "company", "title", "message"):
        assert f'<label for="field-{name}">' in html
    assert page.inputs["email"]["type"] == "email"
    assert page.inputs["email"]["autocomplete"] == "email"
    assert page.inputs["name"]["aria-required"] == "true"
    assert "required" not in page.inputs["phone"]
    assert page.inputs["consent"]["type"] == "checkbox"
    assert "I agree that Acme may contact me" in html
    # The honeypot: its container hidden from screen readers, out of the tab order.
    assert re.search(r'<div class="hp" aria-hidden="true">\s*<label for="field-website">', html)
    assert page.inputs["website"]["tabindex"] == "-1"
    # The signed render time and the challenge for this form.
    assert re.fullmatch(r"\d{13}\.[A-Za-z0-9_-]{24}", page.stamp)
    assert page.challenge["parameters"]["data"] == {"form": form.public_id}
    assert page.challenge["parameters"]["keyPrefix"] == "0" * settings.form_challenge_digits
    assert page.form["data-min-ms"] == "2000"
    assert page.inputs["altcha"]["value"] == ""
    headers = page.response.headers
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "same-origin"  # so the post carries our Origin
    assert "set-cookie" not in headers


async def test_each_page_gets_its_own_challenge(
        http: httpx.AsyncClient, form: LeadForm) -> None:
    first = await open_page(http, form.public_id)
    second = await open_page(http, form.public_id)
    assert first.challenge["signature"] != second.challenge["signature"]
    assert first.challenge["parameters"]["nonce"] != second.challenge["parameters"]["nonce"]


async def test_only_our_script_and_style_may_run(http: httpx.AsyncClient,
                                                form: LeadForm) -> None:
    page = await open_page(http, form.public_id)
    policy = page.response.headers["content-security-policy"]
    style = ":root{--accent:#0a7d3b;--on-accent:#fff}"
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"<style>{style}</style>" in page.response.text
    assert policy == ("default-src 'none'; script-src 'self'; "
                      f"style-src 'self' 'sha256-{digest}'; img-src 'self' data:; "
                      "form-action 'self'; frame-ancestors https://www.acme.test; "
                      "base-uri 'none'")
    assert "<script>" not in page.response.text  # no inline script at all
    scripts = re.findall(r'<script src="([^"]+)" integrity="([^"]+)"', page.response.text)
    assert len(scripts) == 1
    url, integrity = scripts[0]
    served = await http.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(("text/javascript",
                                                      "application/javascript"))
    assert integrity == "sha384-" + base64.b64encode(
        hashlib.sha384(served.content).digest()).decode()
    assert "crypto.subtle.digest" in served.text
    css = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.response.text)
    assert css is not None and (await http.get(css.group(1))).status_code == 200


async def test_what_a_form_says_is_escaped_and_odd_values_stay_out(
        http: httpx.AsyncClient, org: Organization) -> None:
    form = await make_form(
        org, page_title='<script>alert("t")</script>', page_intro="<img src=x onerror=y>",
        consent_text="I agree & <b>consent</b>", accent_color="red;}x{",
        logo_url="javascript:alert(1)", allowed_origins=["https://x; script-src *"],
        redirect_url="https://y; img-src *")
    page = await open_page(http, form.public_id)
    html = page.response.text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;t&#34;)" in html
    assert "&lt;img src=x onerror=y&gt;" in html
    assert "I agree &amp; &lt;b&gt;consent&lt;/b&gt;" in html
    assert "<style>" not in html and "red;}" not in html  # not a colour: no theme
    assert "javascript:" not in html and 'class="logo"' not in html
    policy = page.response.headers["content-security-policy"]
    assert "style-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and " *" not in policy  # no directive slipped in
    assert "form-action 'self';" in policy


async def test_a_logo_is_shown_from_its_own_origin_only(http: httpx.AsyncClient,
                                                        org: Organization) -> None:
    form = await make_form(org, logo_url="https://cdn.acme.test/logo.png", accent_color="#FFEE00")
    page = await open_page(http, form.public_id)
    assert '<img class="logo" src="https://cdn.acme.test/logo.png" alt="">' in \
        page.response.text
    policy = page.response.headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.acme.test;" in policy
    assert "--on-accent:#111" in page.response.text  # dark text on a light accent


async def test_a_form_without_consent_text_has_no_checkbox(http: httpx.AsyncClient,
                                                           org: Organization) -> None:
    form = await make_form(org, consent_text=None, consent_required=False,
                           fields_asked=[{"name": "email", "required": True}],
                           allowed_origins=[SITE, "https://shop.acme.test"])
    page = await open_page(http, form.public_id)
    assert set(page.inputs) == {"email", "website", "stamp", "altcha"}
    assert "frame-ancestors https://shop.acme.test https://www.acme.test;" in \
        page.response.headers["content-security-policy"]
