"""GraphiQL, served whole by the API: the page at `GET /graphql` (for browsers, when `GRAPHIQL` is
on) and its assets under `/static/graphiql/`, so it loads with no internet.

React, GraphiQL and its explorer plugin are vendored from npm at pinned versions by
`python -m scripts.vendor_graphiql`, which records each file's sha384 in
`web/static/graphiql/versions.json`; the page loads them with those `integrity=` values. The
page's own script (`relleks.js`) sends the `X-CSRF-Token` header from the CSRF cookie, so the
session cookies that `logIn(input: {..., useCookies: true})` sets work in it, and opens with the
Relleks example tab (`web/graphiql_example.graphql`). A Content-Security-Policy lets the page
load and connect to this origin only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from auth.cookies import CookieNames
from core.settings import Settings

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "static" / "graphiql"
EXAMPLE = HERE / "graphiql_example.graphql"
PREFIX = "/static/graphiql"
PAGE_SCRIPT = "relleks.js"
PAGE_STYLE = "relleks.css"
EXAMPLE_VARIABLES = '{\n  "organizationId": "paste organization.id from HomeScreen here"\n}\n'

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    # Inline styles too: GraphiQL's menus (Radix, react-remove-scroll) add <style> elements.
    # Styles cannot run code; scripts stay strictly this origin's files.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",  # GraphiQL's fonts are data: URLs in its stylesheet
    "connect-src 'self'",  # fetch and the subscription WebSocket to this origin only
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
"""The page's policy: everything from this origin and nothing from elsewhere; no inline script."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""Vendored files live under `<package>@<version>/`: a new version is a new URL."""
REVALIDATE = "no-cache"
"""The page's own script and style keep their names: a browser asks again (ETag) each time."""


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def vendored_assets() -> list[dict[str, str]]:
    """The vendored files in load order, as `versions.json` records them."""
    return json.loads((ASSETS / "versions.json").read_text())["assets"]


def _tag(kind: str, path: str, integrity: str) -> str:
    url = html.escape(f"{PREFIX}/{path}")
    if kind == "style":
        return f'<link rel="stylesheet" href="{url}" integrity="{integrity}">'
    return f'<script src="{url}" integrity="{integrity}"></script>'


@cache
def _page(csrf_cookie: str) -> str:
    # What the page script reads (the CSRF cookie's name and the example tab), as JSON in a
    # script element that never runs: `<` escaped, so no `</script>` can end it early.
    config = json.dumps({
        "csrfCookie": csrf_cookie,
        "example": {"query": EXAMPLE.read_text(), "variables": EXAMPLE_VARIABLES},
    }).replace("<", "\\u003c")
    assets = vendored_assets()
    own = [("style", PAGE_STYLE), ("script", PAGE_SCRIPT)]
    styles = [_tag(a["kind"], a["path"], a["integrity"]) for a in assets if a["kind"] == "style"]
    scripts = [_tag(a["kind"], a["path"], a["integrity"]) for a in assets
               if a["kind"] == "script"]
    for kind, name in own:
        tag = _tag(kind, name, sri((ASSETS / name).read_bytes()))
        (styles if kind == "style" else scripts).append(tag)
    head = "\n    ".join(styles)
    body = "\n    ".join(scripts)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Relleks API · GraphiQL</title>
    <link rel="icon" href="data:,">
    {head}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script type="application/json" id="relleks-graphiql-config">{config}</script>
    {body}
  </body>
</html>
"""


def render_page(settings: Settings) -> Response:
    """The GraphiQL page, with its Content-Security-Policy."""
    page = _page(CookieNames.for_settings(settings).csrf)
    return Response(page, media_type="text/html", headers={
        "content-security-policy": CONTENT_SECURITY_POLICY})


class GraphiQLAssets(StaticFiles):
    """The page's files: vendored ones cached for good, the page's own revalidated."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "@" in Path(full_path).parent.name
        response.headers["cache-control"] = IMMUTABLE if versioned else REVALIDATE
        return response


def graphiql_routes(settings: Settings) -> list[Mount]:
    """The assets' route, when GraphiQL is on (`GRAPHIQL`)."""
    if not settings.graphiql:
        return []
    return [Mount(PREFIX, app=GraphiQLAssets(directory=ASSETS), name="graphiql-assets")]
