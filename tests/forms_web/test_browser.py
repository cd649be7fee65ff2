"""The hosted lead form in a real browser (Debian's Chromium driven by Playwright, as
`tests/http/test_graphiql_browser.py` does), against a `scripts.serve` process holding the
demo data (`make run` in small), with every request to another origin aborted.

With JavaScript, a person who uses only the keyboard fills the demo form in, the page's script
solves the proof of work with crypto.subtle, and the submission is ACCEPTED: a lead and its
consent receipt exist. With JavaScript off, the same form still posts and the submission is
HELD for review. Both see the success page. What the server stored is read from its SQLite
file. Screenshots go to `var/artifacts/`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from core.settings import ROOT
from tests import serving

if os.environ.get("RELLEKS_SKIP_BROWSER") == "1":
    pytest.skip("RELLEKS_SKIP_BROWSER=1: the browser tests are skipped on purpose",
                allow_module_level=True)

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError as exc:  # a setup problem: say so, never skip quietly
    raise ImportError("Playwright for Python is missing: `pip install -e '.[test]'` "
                      "(or RELLEKS_SKIP_BROWSER=1 to skip the browser tests)") from exc

pytestmark = pytest.mark.no_db  # its own server and SQLite file: once, in the SQLite leg

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "var" / "artifacts"
WAIT_MS = 30_000
FORM = "demo-contact"  # scripts/load_demo.py's form
expect.set_options(timeout=WAIT_MS)


TENANT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme contact</title></head>
<body><p id="out">waiting</p>
<script>
// A tenant's page: our script, then its own code posting the form as JSON.
const params = new URLSearchParams(location.search);
const api = params.get("api");
const script = document.createElement("script");
script.src = api + "/static/forms/form.js";
script.onerror = () => { document.getElementById("out").textContent = "refused script"; };
script.onload = async () => {
  const out = document.getElementById("out");
  const form = api + "/f/" + params.get("form");
  try {
    const ready = await (await fetch(form + "/challenge")).json();
    const altcha = await RelleksForms.solve(ready.challenge);
    await new Promise((done) => setTimeout(done, ready.minSeconds * 1000 + 300));
    const answer = await fetch(form, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({name: "Annie Easley", email: params.get("email"), consent: true,
                            consentShown: true, stamp: ready.stamp, altcha})});
    out.textContent = "status " + answer.status + " " + JSON.stringify(await answer.json());
  } catch (error) {
    out.textContent = "refused " + error;
  }
};
document.body.appendChild(script);
</script></body></html>"""


@dataclass
class Server:
    base: str
    database: Path

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def latest_submission(self) -> tuple[str, str]:
        """The newest submission's status and signals (its email is encrypted at rest, so the
        tests find rows by order and count, docs/encryption.md)."""
        (row,) = self.rows("SELECT status, signals FROM form_submissions "
                           "ORDER BY created_at DESC LIMIT 1")
        return row

    def latest_receipt(self) -> tuple[int, str, str]:
        (row,) = self.rows("SELECT consent_given, consent_text, origin FROM consent_receipts "
                           "ORDER BY created_at DESC LIMIT 1")
        return row

    def count(self, table: str) -> int:
        ((count,),) = self.rows(f"SELECT count(*) FROM {table}")
        return int(count)


@pytest.fixture(scope="module")
def tenant_site() -> Iterator[int]:
    """The port of a tenant's own site on loopback: every path answers TENANT_PAGE, which
    names the API's address given in its `api` query parameter. Reached as
    `http://127.0.0.1:PORT` it is one of the demo form's allowed origins; as
    `http://localhost:PORT`, another origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = TENANT_PAGE.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site.server_address[1]
    site.shutdown()
    site.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tenant_site: int) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("forms-browser")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update({"DATABASE_URL": f"sqlite://{tmp / 'db.sqlite3'}", "LOG_LEVEL": "WARNING",
                "MEDIA_ROOT": str(tmp / "media"),
                # The demo form takes its allowed origins from these at load time.
                "ALLOWED_ORIGINS": f"http://localhost:3000,http://127.0.0.1:{tenant_site}"})
    for command in (["-m", "tortoise", "-c", "database.TORTOISE_ORM", "migrate"],
                    ["-m", "scripts.load_demo"]):
        done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"/f/{FORM}" in done.stdout  # the demo prints its form's page
    with serving.served(tmp, RELLEKS_ENV="development") as port:
        yield Server(f"http://127.0.0.1:{port}", tmp / "db.sqlite3")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"No Chromium at {CHROMIUM}: run `bash scripts/browser.sh` (`make browser`), or set "
        "RELLEKS_SKIP_BROWSER=1 to skip the browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Visit:
    page: Page
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    posts: list[Any] = field(default_factory=list)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def visit(browser: Browser, server: Server, *, javascript: bool) -> Iterator[Visit]:
    context = browser.new_context(java_script_enabled=javascript,
                                  viewport={"width": 900, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    seen = Visit(page)

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(server.base + "/"):
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    page.on("console", lambda m: seen.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.problems.append(f"uncaught: {error}"))
    page.on("request", lambda r: seen.posts.append(r) if r.method == "POST" else None)
    page.goto(f"{server.base}/f/{FORM}")
    yield seen
    assert context.cookies() == []  # nothing set one
    context.close()


@pytest.fixture
def with_js(browser: Browser, server: Server) -> Iterator[Visit]:
    yield from visit(browser, server, javascript=True)


@pytest.fixture
def without_js(browser: Browser, server: Server) -> Iterator[Visit]:
    yield from visit(browser, server, javascript=False)


def test_with_javascript_a_keyboard_user_is_accepted(with_js: Visit, server: Server) -> None:
    page = with_js.page
    expect(page.get_by_role("heading", name="Talk to Demo Co")).to_be_visible()
    # The proof of work is solved in the background while the person types.
    expect(page.locator("form[data-solved=true]")).to_have_count(1)
    with_js.shot("form-page.png")
    # Keyboard only: the labels name the fields, Tab walks them in order (never into the
    # honeypot), Space ticks the consent, Enter on the button sends.
    page.get_by_label("Name").focus()
    page.keyboard.type("Katherine Johnson")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("katherine@nasa.example")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Company (optional)")).to_be_focused()
    page.keyboard.type("NASA")
    page.keyboard.press("Tab")
    page.keyboard.type("Trajectories, please.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_text("Someone from Demo Co will get back to you")).to_be_visible()
    with_js.shot("form-sent.png")
    assert server.latest_submission() == ("accepted", "[]")
    # Leads' emails are encrypted at rest (docs/encryption.md): found here by name.
    (lead,) = server.rows("SELECT name, company, source FROM leads WHERE name = ?",
                          "Katherine Johnson")
    assert lead == ("Katherine Johnson", "NASA", "form")
    receipt = server.latest_receipt()
    assert receipt[0] == 1 and receipt[1].startswith("enc:v1:")  # the text shown, encrypted
    assert receipt[2] == server.base  # the browser sent our own origin
    (post,) = with_js.posts
    assert post.headers["origin"] == server.base
    assert "altcha=" in (post.post_data or "") and "altcha=&" not in (post.post_data or "")
    assert with_js.blocked == [] and with_js.problems == []


def test_without_javascript_the_form_still_works_and_is_held(
        without_js: Visit, server: Server) -> None:
    page = without_js.page
    page.get_by_label("Name").fill("Dorothy Vaughan")
    page.get_by_label("Email").fill("dorothy@nasa.example")
    page.get_by_label("Message (optional)").fill("FORTRAN training for the team.")
    page.get_by_label("I agree that Demo Co may contact me").check()
    expect(page.locator(".hp")).to_be_hidden()  # the honeypot is not shown
    page.wait_for_timeout(2_500)  # a person takes longer than FORM_MIN_SECONDS anyway
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_text("Someone from Demo Co will get back to you")).to_be_visible()
    without_js.shot("form-sent-without-js.png")
    assert server.latest_submission() == ("held", '["no_challenge"]')
    assert server.rows("SELECT id FROM leads WHERE name = ?", "Dorothy Vaughan") == []
    assert without_js.blocked == [] and without_js.problems == []


def test_an_invalid_value_comes_back_next_to_its_field(without_js: Visit,
                                                       server: Server) -> None:
    page = without_js.page
    submissions = server.count("form_submissions")
    page.get_by_label("Name").fill("Mary Jackson")
    # The browser's own check would stop a malformed address; this one passes it and fails
    # ours (no dot in the domain), so the server's answer is what is shown.
    page.get_by_label("Email").fill("mary@localhost")
    page.get_by_label("I agree that Demo Co may contact me").check()
    page.get_by_role("button", name="Send").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    # The error under the field is its description (aria-describedby).
    message = page.locator("#error-email").inner_text()
    assert "period" in message
    expect(email).to_have_accessible_description(message)
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Email")
    expect(summary).to_be_focused()  # read first; Tab leads to its link to the field
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#field-email$"))
    expect(page.get_by_label("Name")).to_have_value("Mary Jackson")
    without_js.shot("form-error.png")
    assert server.count("form_submissions") == submissions  # refused: nothing stored



@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1", True),  # http://127.0.0.1:PORT is one of the demo form's allowed origins
    ("localhost", False),  # http://localhost:PORT is not
])
def test_a_tenants_own_page_posts_json_across_origins_only_when_allowed(
        browser: Browser, server: Server, tenant_site: int, host: str, allowed: bool) -> None:
    """A tenant's page on another origin fetches a challenge, solves it with our script's
    `RelleksForms.solve` and posts JSON: Chromium's own CORS checks let it read the answers
    only from an allowed origin."""
    site = f"http://{host}:{tenant_site}"
    email = f"annie.{host}@nasa.example"
    submissions = server.count("form_submissions")
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{site}/contact?" + urlencode({"api": server.base, "form": FORM,
                                              "email": email}))
    out = page.locator("#out")
    expect(out).not_to_have_text("waiting")
    if allowed:
        expect(out).to_have_text(re.compile(r'^status 200 \{"ok":true,'))
        assert server.latest_submission() == ("accepted", "[]")
        receipt = server.latest_receipt()
        assert receipt[2] == site and receipt[1].startswith("enc:v1:")
    else:
        expect(out).to_have_text("refused TypeError: Failed to fetch")
        assert server.count("form_submissions") == submissions
    context.close()
