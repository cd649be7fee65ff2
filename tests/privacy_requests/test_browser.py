# ruff: noqa: F811  (the forms browser test's fixtures, imported, are parameters here)
"""The privacy-request page in a real browser (Debian's Chromium driven by Playwright), against
the `scripts.serve` process and demo data of `tests/forms_web/test_browser.py` (its fixtures,
reused), every request to another origin aborted.

With JavaScript, a person using only the keyboard asks Demo Co for a copy of their data: the
page's script solves the proof of work and the request is stored, waiting for its verification
link. Without JavaScript the page says it needs it, and the same answer comes back, with
nothing stored. An invalid email comes back next to its field. What the server stored is read
from its SQLite file (by another connection: `sqlite3` in this process, as the forms' browser
test does). Screenshots go to `var/artifacts/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.forms_web.test_browser import (  # noqa: F401  (fixtures, used by name)
    ARTIFACTS,
    WAIT_MS,
    Browser,
    Server,
    browser,
    expect,
    server,
    tenant_site,
)

pytestmark = pytest.mark.no_db
SLUG = "demo-co"  # scripts/load_demo.py's organization


def visit(browser: Browser, server: Server, *, javascript: bool,
          expected_status: int = 200) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=javascript,
                                  viewport={"width": 900, "height": 1100})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    blocked: list[str] = []
    problems: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(server.base + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.goto(f"{server.base}/p/{SLUG}")
    yield page
    # CSP-clean: nothing refused, nothing thrown (the one console line a 400 page makes aside).
    allowed = {f"Failed to load resource: the server responded with a status of "
               f"{expected_status} (Bad Request)"}
    assert blocked == [] and [p for p in problems if p not in allowed] == []
    assert context.cookies() == []
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_with_javascript_a_keyboard_user_sends_an_access_request(
        browser: Browser, server: Server) -> None:
    before = server.count("privacy_requests")
    for page in visit(browser, server, javascript=True):
        expect(page.get_by_role("heading", name="Your data at Demo Co")).to_be_visible()
        expect(page.locator("form[data-solved=true]")).to_have_count(1)
        shot(page, "privacy-page.png")
        page.get_by_label("Your email address").focus()
        page.keyboard.type("katherine@nasa.example")
        page.keyboard.press("Tab")
        first = page.get_by_role("radio", name="A copy of the data you hold about me (access)")
        expect(first).to_be_focused()
        page.keyboard.press("Space")
        expect(first).to_be_checked()
        page.keyboard.press("Tab")
        expect(page.get_by_label("Message (optional)")).to_be_focused()
        page.keyboard.type("Which of my data do you hold?")
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Send the request")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        shot(page, "privacy-sent.png")
    assert server.count("privacy_requests") == before + 1
    (row,) = server.rows("SELECT status, kind FROM privacy_requests "
                         "ORDER BY created_at DESC LIMIT 1")
    assert row == ("pending_verification", "access")


def test_without_javascript_nothing_is_stored_but_the_answer_is_the_same(
        browser: Browser, server: Server) -> None:
    before = server.count("privacy_requests")
    for page in visit(browser, server, javascript=False):
        expect(page.get_by_text("This page needs JavaScript")).to_be_visible()
        page.get_by_label("Your email address").fill("dorothy@nasa.example")
        page.get_by_label("Erase the data you hold about me (erasure)").check()
        page.get_by_role("button", name="Send the request").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert server.count("privacy_requests") == before


def test_an_invalid_email_comes_back_next_to_its_field(browser: Browser,
                                                       server: Server) -> None:
    before = server.count("privacy_requests")
    for page in visit(browser, server, javascript=False, expected_status=400):
        page.get_by_label("Your email address").fill("mary@localhost")
        page.get_by_label("A copy of the data you hold about me (access)").check()
        page.get_by_role("button", name="Send the request").click()
        email = page.get_by_label("Your email address")
        expect(email).to_have_attribute("aria-invalid", "true")
        message = page.locator("#error-email").inner_text()
        expect(email).to_have_accessible_description(message)
        expect(page.get_by_role("alert")).to_be_focused()
        expect(page.get_by_role("radio", name="A copy of the data you hold about me "
                                             "(access)")).to_be_checked()
        shot(page, "privacy-error.png")
    assert server.count("privacy_requests") == before
