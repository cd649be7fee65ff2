"""A stand-in for `services/outbound.py` (the SSRF-safe HTTP client another branch writes),
with the same signatures, until it is merged: webhooks call `check_target` and `post` only.

It refuses what is not https (plain http only to loopback when WEBHOOK_ALLOW_LOOPBACK is on),
hosts that resolve to private, loopback, link-local, multicast or reserved addresses (loopback
allowed with that setting), credentials in the URL, and never follows redirects. Unlike the
real client it does not pin the resolved address for the connection (a DNS rebinding window).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.settings import Settings

EXCERPT_BYTES = 1024


class RefusedTarget(Exception):
    """A URL we will not send to; `reason` says why (shown to the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class OutboundResponse:
    """What one POST got: a status (None when there was no answer), `Retry-After` in seconds,
    the latency, the first KiB of the body, and the error kind without an answer."""

    status: int | None
    retry_after: float | None
    latency_ms: int
    excerpt: str
    error: str | None = None
    """None, "timeout", "connection" or "refused_target"."""


def _loopback_allowed(settings: Settings, address: ipaddress.IPv4Address |
                      ipaddress.IPv6Address) -> bool:
    return settings.webhook_allow_loopback and address.is_loopback


async def check_target(settings: Settings, dns: Any, url: str) -> Target:
    """The URL's target once its host resolved to public addresses only; RefusedTarget else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget("not a valid URL") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedTarget("only https URLs are accepted")
    if parts.username or parts.password:
        raise RefusedTarget("credentials in the URL are not accepted")
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedTarget("the host does not resolve") from exc
    addresses = tuple(sorted({str(info[4][0]) for info in infos}))
    if not addresses:
        raise RefusedTarget("the host does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if _loopback_allowed(settings, address):
            continue
        if not address.is_global or address.is_multicast:
            raise RefusedTarget("the host resolves to a private or reserved address")
    if parts.scheme == "http" and not all(
            ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise RefusedTarget("only https URLs are accepted")
    return Target(url=url, host=host, addresses=addresses)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def post(settings: Settings, dns: Any, url: str, *, content: bytes,
               headers: dict[str, str], timeout: float) -> OutboundResponse:  # noqa: ASYNC109
    """POST `content`; every failure is a typed result, never an exception."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        await check_target(settings, dns, url)
    except RefusedTarget as refused:
        return OutboundResponse(None, None, elapsed(), refused.reason[:EXCERPT_BYTES],
                                "refused_target")
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                     trust_env=False) as client:
            async with asyncio.timeout(timeout):
                async with client.stream("POST", url, content=content,
                                         headers=headers) as response:
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= EXCERPT_BYTES:
                            break
    except (TimeoutError, httpx.TimeoutException):
        return OutboundResponse(None, None, elapsed(), "", "timeout")
    except httpx.HTTPError:
        return OutboundResponse(None, None, elapsed(), "", "connection")
    excerpt = body[:EXCERPT_BYTES].decode("utf-8", "replace")[:EXCERPT_BYTES]
    return OutboundResponse(response.status_code, _retry_after(response.headers.get(
        "retry-after")), elapsed(), excerpt)
