"""Public lead capture on the web: the hosted form page and its submit endpoint, the challenge a
tenant's own page fetches to post JSON, and the double opt-in confirmation page. No credentials
and no cookies here, ever; outside GraphQL.

- `GET /f/{publicId}`: the form's page, server-rendered (Jinja2, autoescaped), usable without
  JavaScript; its script (`static/forms/form.js`, this origin only) solves the ALTCHA proof of
  work in the background. An unknown form is a 404 page; a PAUSED one is a 404 page that says
  the form is closed (the id is public anyway: the page says it kindly).
- `POST /f/{publicId}`: `application/x-www-form-urlencoded` (the page: invalid values re-render
  it with the errors, 400) or `application/json` (a tenant's own page: errors with a stable
  code per field). CORS answers only the form's allowed origins, that origin exactly, never
  `*` and never with credentials; preflight `OPTIONS` too. Bodies over FORM_MAX_BODY_BYTES: 413.
- `GET /f/{publicId}/challenge`: a signed render time and a challenge as JSON, for a tenant's
  own page that posts JSON (CORS as above).
- `GET /f/confirm/{token}`: opens a double opt-in link; an unknown, used or expired link gets
  the same 404 page whatever the reason.

The checks (`auth/form_defences.py`) never change the answer: a submission that fails one is
answered exactly as a success and stored as SPAM with its signals; without a proof of work it
is HELD; passing all, ACCEPTED. Only the rate limits (429) and invalid values (400) answer
otherwise, and neither depends on a check.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
import orjson
import structlog
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from auth.form_defences import (
    CHALLENGE_FIELD,
    HONEYPOT_FIELD,
    STAMP_FIELD,
    FormDefences,
    Refusal,
    Signal,
    Submitted,
    origin_of,
    sender_origin,
    verdict,
)
from core.errors import Conflict
from models.forms import FormField, FormStatus, LeadForm, SubmissionStatus
from observability.metrics import count_form_submission
from resolvers.form_intake import (
    MESSAGE_MAX,
    REQUIRED,
    TEXT_MAX,
    SubmissionMeta,
    confirm_submission,
    form_by_public_id,
    take_submission,
    validate_values,
)
from services import Services
from web.sites import form_shown_here

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "static" / "forms"
PREFIX = "/static/forms"
MAX_KEYS = 50
"""Keys a submission may carry (the form's fields and the controls are a dozen at most)."""
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
CORS_MAX_AGE = "600"

log = structlog.get_logger("relleks.forms")


@dataclass(frozen=True)
class FieldLook:
    """How the page asks for one lead field."""

    label: str
    type: str
    autocomplete: str
    max_length: int
    multiline: bool = False


LOOKS = {
    FormField.NAME: FieldLook("Name", "text", "name", TEXT_MAX),
    FormField.EMAIL: FieldLook("Email", "email", "email", 320),
    FormField.PHONE: FieldLook("Phone", "tel", "tel", 40),
    FormField.COMPANY: FieldLook("Company", "text", "organization", TEXT_MAX),
    FormField.TITLE: FieldLook("Job title", "text", "organization-title", TEXT_MAX),
    FormField.MESSAGE: FieldLook("Message", "text", "off", MESSAGE_MAX, multiline=True),
}

ERROR_CODES = {"REQUIRED": "is required", "TOO_LONG": "must be at most ...",
               "INVALID": "anything else wrong with the value",
               "CONSENT_REQUIRED": "the consent box must be ticked"}
"""The stable codes of a JSON answer's field errors (docs/forms.md)."""

DEFAULT_SUCCESS = "Thank you: your message was sent."
DOUBLE_OPT_IN = "We have sent you an email: open the link in it to confirm your request."


def error_code(field: str, problem: str) -> str:
    """A field problem of `validate_values` as one of ERROR_CODES."""
    if field == "consent":
        return "CONSENT_REQUIRED"
    if problem == REQUIRED:
        return "REQUIRED"
    if "at most" in problem:
        return "TOO_LONG"
    return "INVALID"


@dataclass(frozen=True)
class Asset:
    url: str
    integrity: str


@cache
def assets() -> dict[str, Asset]:
    """The page's script and stylesheet: URLs that change with their content, and their
    sha384 for `integrity=`."""
    found = {}
    for kind, name in (("css", "form.css"), ("js", "form.js")):
        data = (ASSETS / name).read_bytes()
        version = hashlib.sha256(data).hexdigest()[:12]
        integrity = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        found[kind] = Asset(f"{PREFIX}/{name}?v={version}", integrity)
    return found


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=False)


def paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def theme(accent: str | None) -> str | None:
    """The accent colour as CSS variables, with a text colour readable on it; None for no
    colour or one that is not `#rrggbb` (nothing else ever reaches the page)."""
    if not accent or not COLOUR.match(accent):
        return None
    red, green, blue = (int(accent[i:i + 2], 16) for i in (1, 3, 5))
    light = 0.299 * red + 0.587 * green + 0.114 * blue > 160
    return f":root{{--accent:{accent.lower()};--on-accent:{'#111' if light else '#fff'}}}"


def content_security_policy(form: LeadForm | None, style: str | None) -> str:
    """Only this origin's script and style (and the accent's one hashed style element); images
    also from the logo's origin; the form posts here and may be redirected to its redirect
    URL's origin; only the form's allowed origins may frame it."""
    styles = ["'self'"]
    if style:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        styles.append(f"'sha256-{digest}'")
    images = ["'self'", "data:"]  # data: for the page's empty icon
    actions = ["'self'"]
    ancestors = ["'none'"]
    if form is not None:
        if (logo := origin_of(form.logo_url)) is not None:
            images.append(logo)
        if (target := origin_of(form.redirect_url)) is not None:
            actions.append(target)
        framing = sorted({o for o in map(origin_of, form.allowed_origins or []) if o})
        ancestors = framing or ancestors
    return "; ".join([
        "default-src 'none'", "script-src 'self'", f"style-src {' '.join(styles)}",
        f"img-src {' '.join(images)}", f"form-action {' '.join(actions)}",
        f"frame-ancestors {' '.join(ancestors)}", "base-uri 'none'"])


def page(template: str, form: LeadForm | None, status: int, **context: Any) -> HTMLResponse:
    """A page of the hosted form, with its headers: its policy, no caching (each holds a fresh
    stamp and challenge), and a Referrer-Policy under which the browser sends our `Origin`
    with the post (under `no-referrer` it would send `Origin: null`)."""
    style = theme(form.accent_color) if form is not None else None
    html = templates().get_template(f"forms/{template}").render(
        assets=assets(), theme=style, logo_url=logo_of(form), **context)
    return HTMLResponse(html, status_code=status, headers={
        "content-security-policy": content_security_policy(form, style),
        "cache-control": "no-store", "referrer-policy": "same-origin"})


def logo_of(form: LeadForm | None) -> str | None:
    if form is None or origin_of(form.logo_url) is None:
        return None
    return form.logo_url


def message_page(form: LeadForm | None, status: int, title: str, *texts: str,
                 page_title: str | None = None) -> HTMLResponse:
    return page("message.html", form, status, title=title, page_title=page_title or title,
                paragraphs=[p for text in texts for p in paragraphs(text)])


def json_error(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
               **extensions: Any) -> JSONResponse:
    """The API's error shape: `{"errors": [{"message", "extensions": {"code", ...}}]}`."""
    return JSONResponse({"errors": [{"message": message,
                                     "extensions": {"code": code, **extensions}}]},
                        status_code=status, headers=dict(headers or {}))


class BadBody(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class Body:
    """A submission as sent: the raw values (text only) and whether it came as JSON."""

    raw: dict[str, str]
    json: bool
    consent_shown: bool | None = None
    """JSON only: `consentShown`, the tenant's page saying it showed the consent text."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past `limit` bytes whether announced or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadBody(413, "BODY_TOO_LARGE", f"The form data is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadBody(413, "BODY_TOO_LARGE", f"The form data is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(content_type: str, data: bytes) -> Body:
    """Form fields or a JSON object of strings (a boolean `consent` and `consentShown` too),
    the first of a repeated key winning; BadBody for anything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in {FORM_TYPE, JSON_TYPE}:
        raise BadBody(415, "UNSUPPORTED_MEDIA_TYPE",
                      f"Send the form as {FORM_TYPE} or {JSON_TYPE}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(400, "MALFORMED_BODY", "The form data is not UTF-8.") from exc
    if "\x00" in text:
        raise BadBody(400, "MALFORMED_BODY", "The form data may not contain NUL (U+0000).")
    raw: dict[str, str] = {}
    if media == FORM_TYPE:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_KEYS,
                              errors="strict")
        except ValueError as exc:
            raise BadBody(400, "MALFORMED_BODY", "The form data cannot be read.") from exc
        for key, value in pairs:
            raw.setdefault(key, value)
        return Body(raw, json=False)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadBody(400, "MALFORMED_BODY", "The body is not JSON.") from exc
    if not isinstance(document, dict) or len(document) > MAX_KEYS:
        raise BadBody(400, "MALFORMED_BODY",
                      f"The body must be a JSON object of at most {MAX_KEYS} keys.")
    shown = document.pop("consentShown", None)
    for key, value in document.items():
        if isinstance(value, bool) and key == "consent":
            value = "yes" if value else ""
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadBody(400, "MALFORMED_BODY", f"{key}: must be a string.")
        raw[key] = value
    return Body(raw, json=True, consent_shown=shown if isinstance(shown, bool) else None)


class FormPages:
    """The public form endpoints of one app (`form_routes`)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.defences = FormDefences(services.settings, storage=services.limiter.storage)
        self.own_origin = origin_of(services.settings.public_url)

    def own_origins(self, request: Request) -> list[str]:
        """Where the hosted page itself is served: PUBLIC_URL's origin, and the origin this
        request was sent to (a custom domain serving the page; a post whose `Origin` is the
        very origin it is sent to came from a page of that origin, which no other site's page
        can claim in a browser)."""
        found = {self.own_origin, origin_of(str(request.base_url))}
        return sorted(o for o in found if o)

    # CORS: the form's own allowed origins, exactly.

    @staticmethod
    def cors_origin(request: Request, form: LeadForm | None) -> str | None:
        """The request's `Origin` when it is one of the form's allowed origins."""
        origin = origin_of(request.headers.get("origin"))
        if form is None or origin is None:
            return None
        allowed = {origin_of(o) for o in form.allowed_origins or []}
        return origin if origin in allowed else None

    def cors_headers(self, request: Request, form: LeadForm | None) -> dict[str, str]:
        origin = self.cors_origin(request, form)
        headers = {"vary": "Origin"}
        if origin is not None:
            headers["access-control-allow-origin"] = request.headers["origin"]
        return headers

    async def preflight(self, request: Request, form: LeadForm | None, method: str) -> Response:
        """A preflight from one of the form's allowed origins, for `method` with at most a
        `Content-Type` header: 204 with what it may send; anything else: 403 without CORS
        headers, which the browser takes as a refusal."""
        asked = request.headers.get("access-control-request-method", "").upper()
        headers_asked = {h.strip().lower() for h in request.headers.get(
            "access-control-request-headers", "").split(",") if h.strip()}
        origin = self.cors_origin(request, form)
        if form is None:
            return Response(status_code=404, headers={"vary": "Origin"})
        if origin is None or asked != method or not headers_asked <= {"content-type"}:
            return Response(status_code=403, headers={"vary": "Origin"})
        return Response(status_code=204, headers={
            "access-control-allow-origin": request.headers["origin"],
            "access-control-allow-methods": method,
            "access-control-allow-headers": "content-type",
            "access-control-max-age": CORS_MAX_AGE, "vary": "Origin"})

    # The page.

    async def find(self, request: Request) -> LeadForm | None:
        """The form the path names, as every endpoint here sees it: None when there is none
        (answered as unknown). The one place that decides which forms a request may reach
        (a custom domain's host serving only its own organization's forms goes here)."""
        form = await form_by_public_id(request.path_params["public_id"])
        if form is None or not form_shown_here(request, form.organization_id):
            return None  # another organization's form on a tenant's host: unknown here
        return form

    def missing(self, form: LeadForm | None, as_json: bool,
                request: Request | None = None) -> Response:
        """Unknown (404) or closed (404 too, saying so)."""
        closed = form is not None
        if as_json:
            headers = self.cors_headers(request, form) if request is not None else {}
            if closed:
                return json_error(404, "NOT_FOUND", "This form is closed: it takes no "
                                  "submissions.", reason="FORM_PAUSED", headers=headers)
            return json_error(404, "NOT_FOUND", "No such form.", headers=headers)
        if closed:
            return message_page(form, 404, "This form is closed",
                                "It takes no submissions at the moment.")
        return message_page(None, 404, "No such form",
                            "This link names no form. Check the address you were given.")

    def form_page(self, form: LeadForm, *, status: int = 200, values: Mapping[str, str] | None
                  = None, problems: Mapping[str, str] | None = None, stamp: str | None = None,
                  notice: str | None = None, headers: Mapping[str, str] | None = None
                  ) -> HTMLResponse:
        values, problems = values or {}, problems or {}
        fields = []
        for field, required in form.asked.items():
            look = LOOKS[field]
            fields.append({"name": field.value, "label": look.label, "type": look.type,
                           "autocomplete": look.autocomplete, "max_length": look.max_length,
                           "multiline": look.multiline, "required": required,
                           "value": values.get(field.value, ""),
                           "error": problems.get(field.value)})
        consent = None
        if form.consent_text:
            consent = {"text": form.consent_text, "required": form.consent_required,
                       "checked": bool(values.get("consent")), "error": problems.get("consent")}
        title = form.page_title or form.name
        response = page(
            "form.html", form, status, title=title, page_title=title,
            intro=paragraphs(form.page_intro), fields=fields, consent=consent,
            errors=problems, notice=notice, action=f"/f/{form.public_id}",
            honeypot=HONEYPOT_FIELD, stamp=stamp or self.defences.stamp(form.public_id),
            challenge=orjson.dumps(self.defences.challenge(form.public_id)).decode(),
            min_ms=int(self.settings.form_min_seconds * 1000))
        response.headers.update(headers or {})
        return response

    async def form(self, request: Request) -> Response:
        """`/f/{publicId}`: GET the page, POST a submission, OPTIONS a preflight."""
        form = await self.find(request)
        if request.method == "OPTIONS":
            return await self.preflight(request, form, "POST")
        if request.method == "POST":
            return await self.submit(request, form)
        if form is None or form.status is not FormStatus.ACTIVE:
            return self.missing(form, as_json=False)
        return self.form_page(form)

    async def challenge(self, request: Request) -> Response:
        """`/f/{publicId}/challenge`: what a tenant's own page posts along with its JSON."""
        form = await self.find(request)
        if request.method == "OPTIONS":
            return await self.preflight(request, form, "GET")
        if form is None or form.status is not FormStatus.ACTIVE:
            return self.missing(form, as_json=True, request=request)
        return JSONResponse({
            "stamp": self.defences.stamp(form.public_id),
            "challenge": self.defences.challenge(form.public_id),
            "minSeconds": self.settings.form_min_seconds,
            "fields": [{"name": f.value, "required": r} for f, r in form.asked.items()],
            "consent": {"text": form.consent_text, "required": form.consent_required}
            if form.consent_text else None,
        }, headers={**self.cors_headers(request, form), "cache-control": "no-store"})

    # The submission.

    async def submit(self, request: Request, form: LeadForm | None) -> Response:
        as_json = request.headers.get("content-type", "").lower().startswith(JSON_TYPE)
        if form is None or form.status is not FormStatus.ACTIVE:
            return self.missing(form, as_json, request)
        cors = self.cors_headers(request, form)
        try:
            body = parse_body(request.headers.get("content-type", ""),
                              await read_body(request, self.settings.form_max_body_bytes))
        except BadBody as bad:
            count_form_submission("rejected")
            if as_json or bad.status == 415:
                return json_error(bad.status, "BAD_USER_INPUT", bad.message, reason=bad.reason,
                                  headers=cors)
            return message_page(form, bad.status, "The form could not be sent", bad.message,
                                "Go back, shorten your message and send it again.")
        ip = request.client.host if request.client else None
        refused = await self.defences.hit(form.public_id, ip)
        if refused is not None:
            count_form_submission("rejected")
            return self.rate_limited(form, body, refused, cors)
        values, problems = validate_values(form, body.raw)
        if problems:
            count_form_submission("rejected")
            return self.invalid(form, body, problems, cors)
        submitted = Submitted(
            public_id=form.public_id, honeypot=body.raw.get(HONEYPOT_FIELD),
            stamp=body.raw.get(STAMP_FIELD), challenge=body.raw.get(CHALLENGE_FIELD),
            origin=sender_origin(request.headers.get("origin"), request.headers.get("referer")),
            name=values.get(FormField.NAME.value))
        signals = await self.defences.assess(submitted, [*form.allowed_origins,
                                                         *self.own_origins(request)])
        status = SubmissionStatus(verdict(signals).value)
        shown = bool(form.consent_text) and (
            body.consent_shown if body.consent_shown is not None
            else (not body.json or values.get("consent") == "yes"))
        tasks = BackgroundTasks()
        try:
            submission = await take_submission(
                self.services, form, values, status=status, signals=[s.value for s in signals],
                meta=SubmissionMeta(origin=submitted.origin,
                                    user_agent=request.headers.get("user-agent"), ip=ip,
                                    consent_shown=shown),
                defer=lambda send: tasks.add_task(send))
        except Conflict:  # paused since it was looked up
            return self.missing(form, body.json, request)
        log.info("forms.submission", form=form.public_id, submission=str(submission.id),
                 status=submission.status.value, signals=submission.signals,
                 request_id=request.scope.get("state", {}).get("request_id"))
        response = self.success(form, body.json, cors)
        response.background = tasks
        return response

    def success(self, form: LeadForm, as_json: bool, cors: Mapping[str, str]) -> Response:
        """The one answer to every stored submission, whatever the checks said: it depends on
        the form only."""
        redirect = form.redirect_url if origin_of(form.redirect_url) else None
        texts = [form.success_message or DEFAULT_SUCCESS]
        if form.double_opt_in:
            texts.append(DOUBLE_OPT_IN)
        if as_json:
            return JSONResponse({"ok": True, "message": "\n\n".join(texts),
                                 "redirectUrl": redirect},
                                headers={**cors, "cache-control": "no-store"})
        if redirect is not None:
            return RedirectResponse(redirect, status_code=303,
                                    headers={"cache-control": "no-store"})
        title = form.page_title or form.name
        return message_page(form, 200, "Thank you", *texts, page_title=title)

    def invalid(self, form: LeadForm, body: Body, problems: Mapping[str, str],
                cors: Mapping[str, str]) -> Response:
        if body.json:
            fields = {name: {"code": error_code(name, problem), "message": problem}
                      for name, problem in problems.items()}
            return json_error(400, "BAD_USER_INPUT", "Some fields are not valid: "
                              + ", ".join(sorted(fields)) + ".", fields=fields, headers=cors)
        return self.form_page(form, status=400, values=body.raw, problems=problems,
                              stamp=self.kept_stamp(form, body))

    def rate_limited(self, form: LeadForm, body: Body, refused: Refusal,
                     cors: Mapping[str, str]) -> Response:
        wait = refused.retry_after
        headers = {"retry-after": str(wait)}
        if body.json:
            return json_error(429, "RATE_LIMITED", f"Too many submissions. Try again in {wait} "
                              "seconds.", retryAfter=wait, headers={**cors, **headers})
        return self.form_page(
            form, status=429, values=body.raw, stamp=self.kept_stamp(form, body),
            notice=f"Too many submissions from your network or to this form: nothing was "
                   f"sent. Please send it again in {wait} seconds.", headers=headers)

    def kept_stamp(self, form: LeadForm, body: Body) -> str | None:
        """The page's first render time when it is genuine (a person correcting a field is not
        made to look fast), else None for a new one."""
        stamp = body.raw.get(STAMP_FIELD)
        signal = self.defences.stamp_signal(form.public_id, stamp)
        return stamp if signal is not Signal.NO_STAMP else None

    # Double opt-in.

    async def confirm(self, request: Request) -> Response:
        """Opening a double opt-in link confirms it. A HEAD (a link checker looking) does not:
        it changes nothing and tells nothing about the link."""
        if request.method == "HEAD":
            return message_page(None, 200, "Confirm your request",
                                "Open this link in a browser to confirm.")
        ip = request.client.host if request.client else None
        submission = await confirm_submission(self.services, request.path_params["token"],
                                              ip=ip)
        if submission is None:
            return message_page(None, 404, "This link does not work",
                                "It is unknown, was already used, or has expired. If you "
                                "still want to be contacted, send the form again.")
        return message_page(None, 200, "Thank you: confirmed",
                            "Your request is confirmed. You may close this page.")


class FormAssets(StaticFiles):
    """The page's script and stylesheet: their URLs carry a content hash, yet a browser still
    asks again (ETag) so a changed file is never served stale under an old name."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


def form_routes(services: Services) -> list[BaseRoute]:
    """The public form routes and their assets."""
    pages = FormPages(services)
    return [
        Route("/f/confirm/{token}", pages.confirm, methods=["GET"]),
        Route("/f/{public_id}/challenge", pages.challenge, methods=["GET", "OPTIONS"]),
        Route("/f/{public_id}", pages.form, methods=["GET", "POST", "OPTIONS"]),
        Mount(PREFIX, app=FormAssets(directory=ASSETS), name="form-assets"),
    ]
