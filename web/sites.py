"""Tenant sites: requests whose `Host` is a custom domain serve that organization's public form
pages, and nothing else; the proxy's on-demand TLS asks here which hostnames to get
certificates for.

How a request's Host is read (`TenantSites`, pure ASGI middleware):

- The API's own hosts (the `PUBLIC_URL` and `CUSTOM_DOMAIN_TARGET` hostnames), IP addresses and
  single-label names (`localhost`) are the API, as before: no database lookup.
- Any other hostname costs one indexed query (`resolvers.custom_domains.site_for_host`). A
  VERIFIED custom domain serves its org's site: `/` lists its active forms and the paths in
  `SITE_PATHS` (the form pages, `/f/{publicId}`) are passed on, with the org in
  `scope["state"]["site_org_id"]`; every other path is 404. A custom domain that serves nothing
  (PENDING, FAILED, LAPSED) is 404 everywhere. A hostname no org holds is the API, as before.
- A failing lookup is 503, never the API nor another org's site.

The form pages (`/f/{publicId}`) ask two functions here:

    org = site_org(request)            # None on the API's own host
    if not form_shown_here(request, form.organization_id):
        return 404                     # another org's form on this tenant's host

`org_for_host(host)` answers the same for a bare hostname (the org a VERIFIED domain serves).
`/internal/tls-ask?domain=` (`tls_ask`) answers 200 only for a VERIFIED hostname; anything
else, errors included, is 4xx/5xx (Caddy then refuses the handshake).
"""

from __future__ import annotations

import html
import ipaddress
import uuid

import structlog
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import BadUserInput
from core.settings import Settings
from core.validation import HOSTNAME_MAX, validate
from resolvers.custom_domains import own_hosts, serves, site_for_host, site_forms

log = structlog.get_logger("relleks.sites")

SITE_PATHS = ("/f/", "/static/forms/", "/p/")
"""What a tenant's host serves beside `/`: the form pages and their assets, and the org's
privacy-request page (`/p/{slug}`, `web/privacy_requests.py`). The API, GraphiQL,
OAuth, media, exports and webhooks are never served on a tenant's host."""
STATE_KEY = "site_org_id"


def hostname_of(scope: Scope) -> str | None:
    """The request's `Host` without port or trailing dot, lower case; None when absent or not
    a plausible hostname (it is then the API's, as before)."""
    host = Headers(scope=scope).get("host", "").strip().lower()
    if host.startswith("["):  # an IPv6 literal, with or without a port
        return host.partition("]")[0] + "]"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    if not host or len(host) > HOSTNAME_MAX:
        return None
    return host


def is_api_host(host: str | None, own: frozenset[str]) -> bool:
    """Whether `host` is the API's own (no lookup): ours, an IP address, or a single label."""
    if host is None or host in own or "." not in host:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class TenantSites:
    """Routes requests by `Host` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.own = frozenset(own_hosts(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[STATE_KEY] = None
        host = hostname_of(scope)
        if is_api_host(host, self.own):
            await self.app(scope, receive, send)
            return
        assert host is not None
        try:
            site = await site_for_host(host)
        except Exception:  # fail closed: never the API nor a site on a host we could not read
            log.exception("sites.lookup_failed", host=host[:100])
            await _refuse(scope, receive, send, 503, "Service unavailable")
            return
        if not site.known:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if site.org_id is None or scope["type"] != "http" or not (
                path == "/" or path.startswith(SITE_PATHS)):
            await _refuse(scope, receive, send, 404, "Not found")
            return
        state[STATE_KEY] = site.org_id
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await PlainTextResponse(text, status_code=status,
                            headers={"cache-control": "no-store"})(scope, receive, send)


def site_org(request: HTTPConnection) -> uuid.UUID | None:
    """The org whose custom domain this request came on (VERIFIED); None on the API's host."""
    value = request.scope.get("state", {}).get(STATE_KEY)
    return value if isinstance(value, uuid.UUID) else None


def form_shown_here(request: HTTPConnection, form_org_id: uuid.UUID) -> bool:
    """Whether a form of `form_org_id` may be served on this request's host: always on the
    API's own host, and on a custom domain only when the domain is that org's."""
    org = site_org(request)
    return org is None or org == form_org_id


async def org_for_host(host: str) -> uuid.UUID | None:
    """The org a VERIFIED custom domain `host` serves; None for any other host."""
    name = host.strip().lower().rstrip(".")
    if not name or len(name) > HOSTNAME_MAX:
        return None
    return (await site_for_host(name)).org_id


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>{title}</title>
</head>
<body>
  <main>
    <h1>{title}</h1>
    {body}
  </main>
</body>
</html>
"""
SITE_HEADERS = {
    "content-security-policy": "default-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "cache-control": "no-cache",
    "referrer-policy": "same-origin",
}


async def site_home(request: Request) -> Response:
    """`/` of a tenant's host: its active forms, each a link to `/f/{publicId}`."""
    org_id = site_org(request)
    assert org_id is not None, "routed here by TenantSites only for a site"
    name, forms = await site_forms(org_id)
    title = html.escape(name)
    if forms:
        items = "\n".join(f'      <li><a href="/f/{html.escape(form.public_id)}">'
                          f"{html.escape(form.name)}</a></li>" for form in forms)
        body = f"<ul>\n{items}\n    </ul>"
    else:
        body = "<p>No forms are open right now.</p>"
    return HTMLResponse(PAGE.format(title=title, body=body), headers=SITE_HEADERS)


async def tls_ask(request: Request) -> Response:
    """Caddy's on-demand TLS `ask`: 200 only when `domain` is a VERIFIED custom domain; 404
    otherwise, 400 for a malformed one, 429 past `TLS_ASK_RATE_PER_IP`, 503 on any failure.
    Cheap: a malformed name costs no query, a well-formed one one indexed query."""
    try:
        limiter = request.app.state.services.limiter
        ip = request.client.host if request.client else "unknown"
        if not await limiter.allow_tls_ask(ip=ip):
            return PlainTextResponse("Too many requests", status_code=429)
        raw = request.query_params.get("domain", "")
        try:
            with validate() as check:
                host = check.hostname("domain", raw[:HOSTNAME_MAX + 1])
        except BadUserInput:
            return PlainTextResponse("Bad domain", status_code=400)
        if host != raw.strip().lower().rstrip("."):
            return PlainTextResponse("Bad domain", status_code=400)  # only names as served
        if await serves(host):
            return PlainTextResponse("OK", status_code=200)
        return PlainTextResponse("Not a verified domain", status_code=404)
    except Exception:  # fail closed
        log.exception("sites.tls_ask_failed")
        return PlainTextResponse("Unavailable", status_code=503)
