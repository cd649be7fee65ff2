"""An organization's public privacy-request page: anyone may ask it for access to, or erasure
of, what it holds about their email (`resolvers/privacy_requests.py`). Hosted like the lead
forms (`web/forms.py`, whose page helpers, stylesheet, script and bot defences it reuses), on
the API's host and on the organization's verified custom domains; no credentials, no cookies.

- `GET /p/{slug}`: the page (server-rendered, autoescaped, usable by keyboard and screen
  reader; its script solves the ALTCHA proof of work). An unknown slug, or another
  organization's on a custom domain, is a 404 page.
- `POST /p/{slug}`: `application/x-www-form-urlencoded`. Invalid values re-render the page
  with the errors (400); past the form rate limits (`FORM_RATE_PER_IP`, `FORM_RATE_PER_FORM`,
  counted under the page's own key) 429; bodies over FORM_MAX_BODY_BYTES 413. Anything else
  gets the same answer, whether or not the organization knows the email, and whether or not
  the bot checks passed: only a request passing every check (honeypot, render stamp, origin,
  proof of work) is stored and mailed a verification link.
- `GET /p/verify/{token}`: opens the verification link (once; unknown, used or expired links
  get the same 404 page). A HEAD changes nothing (a link checker looking).
- `GET /p/download/{token}`: the copy handed to an access request's requester, as a JSON
  attachment, until the link expires (EXPORT_TTL_HOURS).
"""

from __future__ import annotations

import orjson
import structlog
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from auth.form_defences import (
    CHALLENGE_FIELD,
    HONEYPOT_FIELD,
    STAMP_FIELD,
    FormDefences,
    Signal,
    Submitted,
    origin_of,
    sender_origin,
)
from models.orgs import Organization
from resolvers.privacy_requests import (
    MESSAGE_MAX,
    org_by_slug,
    redeem_download,
    take_request,
    validate_request,
    verify_request,
)
from services import Services
from web.forms import BadBody, message_page, page, parse_body, read_body
from web.sites import form_shown_here

log = structlog.get_logger("relleks.privacy_requests")

KINDS = [("access", "A copy of the data you hold about me (access)"),
         ("erasure", "Erase the data you hold about me (erasure)")]
LABELS = [("email", "Your email address"), ("kind", "What you ask for"), ("message", "Message")]
SENT = ("If this address is yours, you will receive an email in a few minutes: open the link "
        "in it to confirm your request. Nothing reaches the organization until you do, and it "
        "must answer within 30 days of that.")


def defence_key(org: Organization) -> str:
    """The key the page's stamp, challenge and rate limits are bound to (no form's public id
    has a colon)."""
    return f"privacy:{org.id}"


class PrivacyPages:
    """The public privacy-request endpoints of one app (`privacy_routes`)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.defences = FormDefences(services.settings, storage=services.limiter.storage)
        self.own_origin = origin_of(services.settings.public_url)

    def own_origins(self, request: Request) -> list[str]:
        """Where the page is served: PUBLIC_URL's origin and this request's (a custom domain)."""
        return sorted(o for o in {self.own_origin, origin_of(str(request.base_url))} if o)

    async def find(self, request: Request) -> Organization | None:
        org = await org_by_slug(request.path_params["slug"])
        if org is None or not form_shown_here(request, org.id):
            return None
        return org

    def form_page(self, org: Organization, *, status: int = 200,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  stamp: str | None = None, notice: str | None = None,
                  headers: dict[str, str] | None = None) -> HTMLResponse:
        key = defence_key(org)
        title = f"Your data at {org.name}"
        response = page(
            "privacy.html", None, status, title=title, page_title=title, kinds=KINDS,
            labels=LABELS, values=values or {}, errors=errors or {}, notice=notice,
            action=f"/p/{org.slug}", honeypot=HONEYPOT_FIELD,
            stamp=stamp or self.defences.stamp(key), message_max=MESSAGE_MAX,
            challenge=orjson.dumps(self.defences.challenge(key)).decode(),
            min_ms=int(self.settings.form_min_seconds * 1000))
        response.headers.update(headers or {})
        return response

    @staticmethod
    def missing() -> Response:
        return message_page(None, 404, "No such page",
                            "This link names no organization. Check the address you were given.")

    async def request_page(self, request: Request) -> Response:
        """`/p/{slug}`: GET the page, POST a request."""
        org = await self.find(request)
        if org is None:
            return self.missing()
        if request.method == "POST":
            return await self.submit(request, org)
        return self.form_page(org)

    def kept_stamp(self, org: Organization, raw: dict[str, str]) -> str | None:
        stamp = raw.get(STAMP_FIELD)
        return stamp if self.defences.stamp_signal(defence_key(org), stamp) \
            is not Signal.NO_STAMP else None

    async def submit(self, request: Request, org: Organization) -> Response:
        try:
            body = parse_body(request.headers.get("content-type", ""),
                              await read_body(request, self.settings.form_max_body_bytes))
        except BadBody as bad:
            return message_page(None, bad.status, "The request could not be sent", bad.message,
                                "Go back, shorten your message and send it again.")
        raw = body.raw
        key = defence_key(org)
        ip = request.client.host if request.client else None
        refused = await self.defences.hit(key, ip)
        if refused is not None:
            wait = refused.retry_after
            return self.form_page(
                org, status=429, values=raw, stamp=self.kept_stamp(org, raw),
                notice=f"Too many requests from your network or to this organization: nothing "
                       f"was sent. Please send it again in {wait} seconds.",
                headers={"retry-after": str(wait)})
        asked, problems = validate_request(raw)
        if asked is None:
            return self.form_page(org, status=400, values=raw, errors=problems,
                                  stamp=self.kept_stamp(org, raw))
        submitted = Submitted(
            public_id=key, honeypot=raw.get(HONEYPOT_FIELD), stamp=raw.get(STAMP_FIELD),
            challenge=raw.get(CHALLENGE_FIELD),
            origin=sender_origin(request.headers.get("origin"), request.headers.get("referer")),
            name=None)
        signals = await self.defences.assess(submitted, self.own_origins(request))
        tasks = BackgroundTasks()
        if signals:
            log.info("privacy_requests.refused", organization=str(org.id),
                     signals=[s.value for s in signals])
        else:
            send = await take_request(self.services, org, asked, ip=ip)
            if send is not None:
                tasks.add_task(send)
        response = message_page(None, 200, "Check your email", SENT,
                                page_title=f"Your data at {org.name}")
        response.background = tasks
        return response

    async def verify(self, request: Request) -> Response:
        if request.method == "HEAD":
            return message_page(None, 200, "Confirm your request",
                                "Open this link in a browser to confirm.")
        found = await verify_request(request.path_params["token"])
        if found is None:
            return message_page(None, 404, "This link does not work",
                                "It is unknown, was already used, or has expired. If you still "
                                "want to ask, send the request again.")
        return message_page(None, 200, "Thank you: your request is confirmed",
                            "The organization now has it and must answer within 30 days. "
                            "The answer comes by email. You may close this page.")

    async def download(self, request: Request) -> Response:
        data = await redeem_download(self.services, request.path_params["token"])
        if data is None:
            return message_page(None, 404, "This link does not work",
                                "It is unknown or has expired.")
        return Response(data, media_type="application/json", headers={
            "content-disposition": 'attachment; filename="your-data.json"',
            "cache-control": "no-store", "x-content-type-options": "nosniff"})


def privacy_routes(services: Services) -> list[BaseRoute]:
    """The public privacy-request routes (assets are the forms')."""
    pages = PrivacyPages(services)
    return [
        Route("/p/verify/{token}", pages.verify, methods=["GET", "HEAD"]),
        Route("/p/download/{token}", pages.download, methods=["GET"]),
        Route("/p/{slug}", pages.request_page, methods=["GET", "POST"]),
    ]

