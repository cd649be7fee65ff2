"""The bot defences of the public lead forms (`web/forms.py`): each check of a submission, and
the verdict they add up to.

Bots get nothing, people lose nothing: a submission that fails a check is answered exactly as
a success and kept as SPAM with its signals; one that passes every check but the proof of work
(a browser without JavaScript) is HELD for review; only one that passes all is ACCEPTED. The
checks, each named by the `Signal` it records when it fails:

- a honeypot field (`HONEYPOT`), hidden from people and from screen readers;
- a signed render time (`stamp`): HMAC over the form's public id and the moment the page was
  rendered, so a submission sent sooner than `FORM_MIN_SECONDS` or later than
  `FORM_MAX_AGE_HOURS` after it, or with no valid stamp, is a bot's;
- the `Origin` (or `Referer`) against the form's allowed origins and our own;
- an ALTCHA proof of work (`altcha`, v2, iterated SHA-256 with a key prefix of
  `FORM_CHALLENGE_DIGITS` zero hex digits), signed, bound to the form, expiring with the page,
  and spent once: its signature is counted in the rate limits' storage (Redis when `REDIS_URL`
  is set, so every process shares it, else process memory), which forgets it after the page's
  lifetime;
- simple content signals: a URL or markup in the name.

Rate limits per client network (an IPv4 address, an IPv6 /64: one subscriber's whole block)
and per form come first and are the one refusal a client sees (429): they bound load, tell a
bot nothing about its content, and are answered before anything is stored.

Layer: `auth` (who is asking: a person or a bot). Nothing here knows HTTP or the models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit

import altcha
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from core.settings import Settings

HONEYPOT_FIELD = "website"
"""The honeypot's name: tempting to a bot that fills every field, never shown to a person."""
STAMP_FIELD = "stamp"
CHALLENGE_FIELD = "altcha"
CHALLENGE_ALGORITHM = "SHA-256"
MAX_PAYLOAD_CHARS = 4096
"""A solved challenge is about 600 characters; anything much longer is not one of ours."""

URL_IN_TEXT = re.compile(
    r"(https?:|ftp:|www\.|//|\b[a-z0-9-]+\.(com|net|org|info|biz|ru|cn|xyz|top|io|site|online|"
    r"shop|club|link|click)\b)", re.IGNORECASE)
HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
"""A DNS name or an IPv4 address, as an origin may hold one (lower case)."""
MARKUP_IN_TEXT = re.compile(r"[<>]|\[/?(url|link|a|img)\b|&#?\w+;", re.IGNORECASE)


class Signal(StrEnum):
    """Why a submission is not simply ACCEPTED (kept on the submission, in this order)."""

    HONEYPOT = "honeypot"
    """The hidden field was filled in."""
    NO_STAMP = "no_stamp"
    """The signed render time is missing, forged or for another form."""
    TOO_FAST = "too_fast"
    """Sent less than FORM_MIN_SECONDS after the page was rendered."""
    TOO_OLD = "too_old"
    """Sent more than FORM_MAX_AGE_HOURS after the page was rendered."""
    ORIGIN = "origin"
    """Neither `Origin` nor `Referer` names an allowed origin."""
    CHALLENGE_INVALID = "challenge_invalid"
    """A proof of work was sent but is wrong, expired, forged or for another form."""
    CHALLENGE_REPLAYED = "challenge_replayed"
    """A proof of work that was already spent."""
    URL_IN_NAME = "url_in_name"
    MARKUP_IN_NAME = "markup_in_name"
    NO_CHALLENGE = "no_challenge"
    """No proof of work (no JavaScript): the one signal that only holds a submission."""


class Verdict(StrEnum):
    """What the signals add up to; the values are `models.forms.SubmissionStatus`'s."""

    ACCEPTED = "accepted"
    HELD = "held"
    SPAM = "spam"


def verdict(signals: Iterable[Signal]) -> Verdict:
    """SPAM on any failed check, HELD when only the proof of work is missing, else ACCEPTED."""
    found = set(signals)
    if found - {Signal.NO_CHALLENGE}:
        return Verdict.SPAM
    return Verdict.HELD if found else Verdict.ACCEPTED


def client_network(ip: str | None) -> str:
    """The key per-IP limits count under: an IPv4 address, or the /64 of an IPv6 address (one
    subscriber gets a whole /64, so counting single addresses would count nothing). An
    IPv4-mapped IPv6 address counts as its IPv4 address."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower case, without a default port; None for
    anything else (the `null` origin, a host with characters no hostname has). Origins go
    into response headers (CORS, the page's policy): nothing else may."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username \
            or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            return None
    elif not HOSTNAME.fullmatch(host):
        return None  # what urlsplit lets through (`;`, spaces) never reaches a header
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def sender_origin(origin: str | None, referer: str | None) -> str | None:
    """The origin a browser says a request came from: `Origin`, else the `Referer`'s."""
    return origin_of(origin) if origin else origin_of(referer)


def content_signals(name: str | None) -> list[Signal]:
    """A URL or markup where a person writes their name."""
    found = []
    if name and URL_IN_TEXT.search(name):
        found.append(Signal.URL_IN_NAME)
    if name and MARKUP_IN_TEXT.search(name):
        found.append(Signal.MARKUP_IN_NAME)
    return found


@dataclass(frozen=True)
class Refusal:
    """A rate limit spent: retry after this many seconds."""

    retry_after: int
    budget: str
    """`per_network` or `per_form`."""


@dataclass(frozen=True)
class Submitted:
    """What a submission carries besides its values, as the web layer read it."""

    public_id: str
    honeypot: str | None
    stamp: str | None
    challenge: str | None
    origin: str | None
    """`sender_origin` of the request."""
    name: str | None


class FormDefences:
    """The checks, with their keys and shared storage; one per app.

        defences = FormDefences(settings, storage=services.limiter.storage)
        page_stamp = defences.stamp(form.public_id)
        signals = await defences.assess(submitted, allowed_origins)
    """

    def __init__(self, settings: Settings, *, storage: Storage) -> None:
        secret = settings.secret_key.encode()
        # Keys of their own, derived from SECRET_KEY, as for JWTs (`auth/tokens.py`).
        self._stamp_key = hmac.new(secret, b"relleks:forms:stamp", hashlib.sha256).digest()
        self._pow_key = hmac.new(secret, b"relleks:forms:altcha", hashlib.sha256).hexdigest()
        self.min_seconds = settings.form_min_seconds
        self.max_age = settings.form_max_age_hours * 3600
        self.key_prefix = "0" * settings.form_challenge_digits
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_network: RateLimitItem = parse(settings.form_rate_per_ip)
        self._per_form: RateLimitItem = parse(settings.form_rate_per_form)

    # The signed render time.

    def _stamp_signature(self, public_id: str, millis: int) -> str:
        digest = hmac.new(self._stamp_key, f"{public_id}.{millis}".encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def stamp(self, public_id: str, now: float | None = None) -> str:
        """`<milliseconds>.<signature>`: when the page of form `public_id` was rendered."""
        millis = int((time.time() if now is None else now) * 1000)
        return f"{millis}.{self._stamp_signature(public_id, millis)}"

    def stamp_signal(self, public_id: str, stamp: str | None,
                     now: float | None = None) -> Signal | None:
        """None when `stamp` was signed for this form between FORM_MAX_AGE_HOURS and
        FORM_MIN_SECONDS ago; else the signal."""
        millis_text, _, signature = (stamp or "").partition(".")
        if not millis_text.isdigit() or len(millis_text) > 15 or not hmac.compare_digest(
                signature.encode(), self._stamp_signature(public_id, int(millis_text)).encode()):
            return Signal.NO_STAMP
        age = (time.time() if now is None else now) - int(millis_text) / 1000
        if age < self.min_seconds:
            return Signal.TOO_FAST
        if age > self.max_age:
            return Signal.TOO_OLD
        return None

    # The proof of work.

    def challenge(self, public_id: str, now: float | None = None) -> dict[str, Any]:
        """A signed ALTCHA v2 challenge for form `public_id`, expiring with its page, as the
        JSON the page's script (or `altcha.solve_challenge`) solves."""
        expires = int((time.time() if now is None else now) + self.max_age)
        made = altcha.create_challenge(
            CHALLENGE_ALGORITHM, 1, key_prefix=self.key_prefix, expires_at=expires,
            data={"form": public_id}, hmac_secret=self._pow_key)
        return cast(dict[str, Any], made.to_dict())

    async def challenge_signal(self, public_id: str, payload: str | None) -> Signal | None:
        """None when `payload` (base64 JSON `{challenge, solution}`) solves a challenge we
        signed for this form, unexpired and never spent before (it is spent now);
        NO_CHALLENGE when there is none, else the signal."""
        if not payload:
            return Signal.NO_CHALLENGE
        challenge = self._solved(public_id, payload)
        if challenge is None:
            return Signal.CHALLENGE_INVALID
        spent = await self.storage.incr(f"forms:spent:{challenge.signature}",
                                        self.max_age + 600)
        return Signal.CHALLENGE_REPLAYED if spent > 1 else None

    def _solved(self, public_id: str, payload: str) -> altcha.Challenge | None:
        """The challenge `payload` solves, when we signed it for this form and it is unexpired;
        None for anything else, however malformed (a bot's input never makes an error)."""
        if len(payload) > MAX_PAYLOAD_CHARS:
            return None
        try:
            if not altcha.verify_solution(payload, self._pow_key).verified:
                return None
            challenge = altcha.Payload.from_base64(payload).challenge
            data = challenge.parameters.data
        except Exception:  # malformed beyond what the library catches
            return None
        if not isinstance(data, dict) or data.get("form") != public_id:
            return None
        return challenge

    # Everything together.

    async def assess(self, submitted: Submitted, allowed_origins: Iterable[str],
                     now: float | None = None) -> list[Signal]:
        """Every check's signal, in `Signal` order (empty: ACCEPTED). `allowed_origins` are
        the form's and our own. The proof of work is spent only when everything else passed,
        so a bot's failed attempt does not burn a person's challenge."""
        signals = []
        if submitted.honeypot:
            signals.append(Signal.HONEYPOT)
        if (found := self.stamp_signal(submitted.public_id, submitted.stamp, now)) is not None:
            signals.append(found)
        allowed = {origin_of(o) for o in allowed_origins} - {None}
        if submitted.origin is None or submitted.origin not in allowed:
            signals.append(Signal.ORIGIN)
        signals += content_signals(submitted.name)
        if not signals or not submitted.challenge:
            found = await self.challenge_signal(submitted.public_id, submitted.challenge)
            if found is not None:
                signals.append(found)
        elif self._solved(submitted.public_id, submitted.challenge) is None:
            # Still tell a forged proof from a missing one, without spending a real one.
            signals.append(Signal.CHALLENGE_INVALID)
        order = list(Signal)
        return sorted(set(signals), key=order.index)

    # Rate limits.

    async def hit(self, public_id: str, ip: str | None) -> Refusal | None:
        """Count one submission of form `public_id` from `ip`'s network: None when both
        budgets allow it, else which is spent and when to retry. The network's budget is
        counted first: a flood from one network spends its own budget, not the form's."""
        for item, key, budget in (
                (self._per_network, f"forms:network:{client_network(ip)}", "per_network"),
                (self._per_form, f"forms:form:{public_id}", "per_form")):
            if not await self._limiter.hit(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                return Refusal(max(1, math.ceil(stats.reset_time - time.time())), budget)
        return None
