"""The GraphiQL page needs nothing but this server (issue 16, item 2): every script and stylesheet
is a vendored file served here with its `integrity=`, no CDN address is left, a
Content-Security-Policy keeps the page to this origin, and the example tab is a valid document.
`test_graphiql_browser.py` loads the page in Chromium with the network to anything else blocked.
"""

from __future__ import annotations

import re

import httpx
import pytest
from graphql import parse, validate

from schema import build_schema
from scripts import vendor_graphiql
from tests.http.conftest import Serve
from web.graphiql import EXAMPLE, sri, vendored_assets

HTML = {"accept": "text/html"}
REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')


async def test_the_page_loads_every_asset_from_this_server(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    page = response.text
    for address in ("http://", "https://", "//unpkg", "cdn", "jsdelivr"):
        assert address not in page.lower(), address
    references = REFERENCE.findall(page)
    assets = [ref for ref in references if ref != "data:,"]
    assert assets and all(ref.startswith("/static/graphiql/") for ref in assets), references
    vendored = {f"/static/graphiql/{asset['path']}" for asset in vendored_assets()}
    assert vendored <= set(assets)
    assert {"/static/graphiql/relleks.js", "/static/graphiql/relleks.css"} <= set(assets)
    for tag in re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"/static[^>]*>", page):
        integrity = re.search(r'integrity="([^"]+)"', tag)
        assert integrity, f"no integrity attribute: {tag}"
        path = REFERENCE.search(tag).group(1)  # type: ignore[union-attr]
        asset = await http.get(path)
        assert asset.status_code == 200, path
        assert sri(asset.content) == integrity.group(1), path
        kind = "javascript" if path.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], path
        cache = asset.headers["cache-control"]
        if "@" in path:  # a vendored file: its URL names its version
            assert cache == "public, max-age=31536000, immutable", path
        else:
            assert cache == "no-cache", path


async def test_the_page_may_load_and_connect_to_this_origin_only(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers=HTML)
    policy = dict(part.strip().split(" ", 1)
                  for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no other origin
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    for directive, sources in policy.items():
        assert "http" not in sources and "*" not in sources, directive
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    # The page names the CSRF cookie its script repeats in X-CSRF-Token.
    assert '"csrfCookie": "relleks_csrf"' in response.text


async def test_with_secure_cookies_the_page_reads_the_prefixed_csrf_cookie(serve: Serve) -> None:
    async with serve(cookie_secure=True) as http:
        page = (await http.get("/graphql", headers=HTML)).text
    assert '"csrfCookie": "__Host-relleks_csrf"' in page


async def test_without_graphiql_its_assets_are_not_served(serve: Serve) -> None:
    path = f"/static/graphiql/{vendored_assets()[0]['path']}"
    async with serve(graphiql=False) as http:
        assert (await http.get(path)).status_code == 404
        assert "graphiql" not in (await http.get("/graphql", headers=HTML)).text.lower()


@pytest.mark.no_db
def test_the_committed_vendored_files_are_the_recorded_ones() -> None:
    assert vendor_graphiql.check() == []


@pytest.mark.no_db
def test_the_example_tab_is_valid_against_the_schema() -> None:
    document = parse(EXAMPLE.read_text())
    assert validate(build_schema(introspection=True)._schema, document) == []
    names = [definition.name.value for definition in document.definitions]  # type: ignore[attr-defined]
    assert names == ["LogIn", "HomeScreen", "LeadEvents"]
    assert "demo-co" in EXAMPLE.read_text() and "demo@example.com" in EXAMPLE.read_text()
