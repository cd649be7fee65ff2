"""HTTP requests to URLs our tenants give us (webhook deliveries), which cannot be turned
against our own network: a server-side request forgery guard.

    target = await check_target(settings, dns, "https://hooks.example.com/relleks")
    try:
        answer = await post(settings, dns, url, content=body, headers=signed, timeout=10)
    except OutboundError as exc:   # RefusedTarget or FailedRequest
        record(exc.reason, str(exc))   # e.g. "FORBIDDEN_ADDRESS", "TIMEOUT"
    answer.status_code, answer.retry_after, answer.latency_ms, answer.body_excerpt

`check_target` parses the URL strictly (https, no userinfo, an allowed port, a plain host
name or IP literal), asks DNS once for its A and AAAA records and refuses the URL unless EVERY
address is a public unicast one (`forbidden` says why not: loopback, private, link-local,
shared/CGNAT, multicast, reserved, documentation, cloud metadata, and the IPv4 hidden in
IPv4-mapped, NAT64 and 6to4 addresses). `post` checks again on every call (DNS may have changed
since: rebinding) and connects to the address it checked, never to the name: the name is sent
only as the Host header and as TLS SNI, and the certificate is verified for it. Redirects are
not followed, proxies from the environment are ignored, the whole exchange is bounded by
`timeout` and at most `READ_LIMIT` bytes of the body are read.

`WEBHOOK_ALLOW_LOOPBACK` (tests and development; refused in production) also lets URLs use
http:// and reach 127.0.0.0/8 and ::1 on any port. See docs/webhooks-ssrf.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import certifi
import httpx

from core import tracing
from core.settings import Settings
from services.dns import Dns

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

EXCERPT_BYTES = 1024
"""Bytes of a response body kept (`OutboundResponse.body_excerpt`)."""
READ_LIMIT = 64 * 1024
"""Bytes of a response body read at most; past it the connection is closed."""
URL_MAX = 2048
CONNECT_TRIES = 3
"""Checked addresses `post` tries, one after the other, while each refuses the connection."""

METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack... instance metadata
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS instance metadata over IPv6
    "100.100.100.200",  # Alibaba Cloud metadata
    "168.63.129.16",  # Azure wire server (public space, but the host's own)
))
"""Cloud metadata services: most sit in ranges refused anyway; named for a precise reason."""

FORBIDDEN_V4 = tuple((ipaddress.IPv4Network(net), why) for net, why in (
    ("0.0.0.0/8", "unspecified or 'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved or broadcast"),
))
FORBIDDEN_V6 = tuple((ipaddress.IPv6Network(net), why) for net, why in (
    ("::/96", "unspecified, loopback or IPv4-compatible"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (Teredo, ORCHID, benchmarking...)"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing SIDs"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
))
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
LOOPBACK = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))

HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
AUTHORITY = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
HEADER_VALUE = re.compile(r"[\x20-\x7e\t]{0,8192}")
DROPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                             "te", "upgrade", "proxy-authorization", "expect",
                             "accept-encoding"})
"""Headers `post` sets itself or never sends, whatever the caller passes."""
USER_AGENT = "Relleks-Webhooks/1"


class OutboundError(Exception):
    """Why a request was not made or got no answer: a stable `reason` and a message for the
    tenant (never an internal detail such as a resolver's address or a traceback)."""

    def __init__(self, reason: str, message: str, *, latency_ms: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.latency_ms = latency_ms


class RefusedTarget(OutboundError):
    """The request may not be made: NOT_HTTPS, BAD_URL, USERINFO, PORT, NO_ADDRESS,
    FORBIDDEN_ADDRESS, DNS_ERROR, or BAD_HEADER (`post`'s headers). Nothing was sent."""


class FailedRequest(OutboundError):
    """The request was allowed but got no HTTP answer: TIMEOUT, CONNECTION_ERROR, TLS_ERROR
    or PROTOCOL_ERROR (`latency_ms` says how long it took)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where `post` connects (`address`, `port`) and what it says it is
    talking to (`hostname`: Host header, TLS SNI and certificate name)."""

    url: str
    scheme: str
    hostname: str
    """ASCII (IDNA) and lower case, without a trailing dot; an IPv6 literal without brackets."""
    address: str
    """The address connected to first: the first IPv4 address found (an IPv4-mapped IPv6
    address counts as its IPv4), else the first IPv6."""
    port: int
    addresses: tuple[str, ...]
    """Every address DNS gave (all checked), IPv4 first: `post` tries the next (up to
    CONNECT_TRIES) when one refuses the connection. One IP for an IP-literal URL."""


@dataclass(frozen=True)
class OutboundResponse:
    """What a receiver answered: any status (a 3xx is an answer, not followed)."""

    status_code: int
    retry_after: str | None
    """The Retry-After header as sent (seconds or an HTTP date), cut to 64 characters."""
    latency_ms: int
    body_excerpt: str
    """The first EXCERPT_BYTES of the body, decoded as UTF-8 with replacement characters."""
    body_truncated: bool
    """True when the body was longer than the excerpt (or was not read to its end)."""
    content_type: str | None = None


def forbidden(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to `ip` is refused (e.g. "loopback"), or None for a public address.
    IPv4 hidden in an IPv6 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) is
    judged as itself."""
    if ip in METADATA:
        return "cloud metadata service"
    if allow_loopback and any(ip in net for net in LOOPBACK):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            why = forbidden(embedded)
            return f"{why} (IPv4 inside IPv6)" if why else None
        if ip.scope_id:
            return "scoped"
        for net6, why in FORBIDDEN_V6:
            if ip in net6:
                return why
        if ip not in GLOBAL_UNICAST:
            return "reserved"
    else:
        for net4, why in FORBIDDEN_V4:
            if ip in net4:
                return why
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return "not a public address"  # whatever this Python's tables know beyond ours
    return None


def _host(raw: str) -> str | IPAddress:
    """The URL's host as an IP address or a checked lower-case ASCII name; RefusedTarget
    for anything else (numeric spellings such as 2130706433, 0x7f.1 or 0177.0.0.1 included:
    other software reads them as IPv4 addresses)."""
    if "%" in raw:
        raise RefusedTarget("BAD_URL", "The URL's host cannot hold escapes or a zone.")
    if raw.startswith("[") or ":" in raw:
        try:
            return ipaddress.IPv6Address(raw.strip("[]"))
        except ValueError:
            raise RefusedTarget("BAD_URL", "The URL's IPv6 address is not valid.") from None
    name = raw.lower().removesuffix(".")
    labels = name.split(".")
    if NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return ipaddress.IPv4Address(name)
        except ValueError:
            raise RefusedTarget("BAD_URL", "A numeric host must be a dotted IPv4 address "
                                           "such as 203.0.113.7.") from None
    if len(name) > 253 or not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise RefusedTarget("BAD_URL", "The URL's host is not a valid host name.")
    return name


async def check_target(settings: Settings, dns: Dns, url: str) -> Target:
    """`url` checked as a place we may send a request: RefusedTarget otherwise. The host is
    resolved once (A and AAAA) and every address must be public."""
    allow_loopback = settings.webhook_allow_loopback
    if len(url) > URL_MAX:
        raise RefusedTarget("BAD_URL", f"The URL is longer than {URL_MAX} characters.")
    try:
        parsed = httpx.URL(url)
        raw_host = parsed.raw_host.decode("ascii")
        port = parsed.port
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise RefusedTarget("BAD_URL", "The URL is not valid.") from None
    if parsed.scheme != "https" and not (parsed.scheme == "http" and allow_loopback):
        raise RefusedTarget("NOT_HTTPS", "The URL must start with https://.")
    authority = AUTHORITY.match(url)
    if parsed.userinfo or (authority is not None and "@" in authority.group(1)):
        raise RefusedTarget("USERINFO", "The URL cannot hold a user name or password.")
    if not raw_host:
        raise RefusedTarget("BAD_URL", "The URL has no host.")
    if any(ch in url for ch in "\\\t\r\n "):
        raise RefusedTarget("BAD_URL", "The URL holds spaces or backslashes.")
    if port is not None and not 0 < port < 65536:
        raise RefusedTarget("BAD_URL", "The URL's port is not valid.")
    host = _host(raw_host)
    port = (443 if parsed.scheme == "https" else 80) if port is None else port
    plain_http = {80} if parsed.scheme == "http" else set()
    allowed = ", ".join(str(p) for p in sorted({*plain_http, *settings.webhook_ports}))
    if port not in settings.webhook_ports and port not in plain_http and not allow_loopback:
        raise RefusedTarget("PORT", f"The URL's port must be one of {allowed}.")  # no DNS
    if isinstance(host, str):
        addresses = await _resolve(dns, host)
        hostname = host
    else:
        addresses = [host]
        hostname = str(host)
    loopback_only = allow_loopback and all(any(a in net for net in LOOPBACK) for a in addresses)
    if port not in settings.webhook_ports and port not in plain_http and not loopback_only:
        raise RefusedTarget("PORT", f"The URL's port must be one of {allowed}.")
    for address in addresses:
        why = forbidden(address, allow_loopback=allow_loopback)
        if why is None:
            continue
        if isinstance(host, str):
            # Not the address itself: what our resolvers say of a name is not the tenant's
            # to map (an internal name's address would be).
            raise RefusedTarget("FORBIDDEN_ADDRESS", f"{hostname} resolves to an address "
                                                     f"that is not public ({why}).")
        raise RefusedTarget("FORBIDDEN_ADDRESS", f"{address} is not a public address ({why}).")
    # IPv4 first (not every worker has IPv6 routes); an IPv4-mapped address is its IPv4.
    usable = [a.ipv4_mapped or a if isinstance(a, ipaddress.IPv6Address) else a
              for a in addresses]
    ordered = list(dict.fromkeys(sorted(usable, key=lambda a: a.version)))
    return Target(url=str(parsed), scheme=parsed.scheme, hostname=hostname,
                  address=str(ordered[0]), port=port,
                  addresses=tuple(str(a) for a in ordered))


async def _resolve(dns: Dns, name: str) -> list[IPAddress]:
    lookups = await dns.addresses(name)
    found: list[IPAddress] = []
    for lookup in lookups:
        for value in lookup.values:
            try:
                found.append(ipaddress.ip_address(value))
            except ValueError:
                raise RefusedTarget("DNS_ERROR", f"DNS gave {name} an address that is not "
                                                 "valid.") from None
    if found:
        return found
    if any(lookup.outcome == "error" for lookup in lookups):
        raise RefusedTarget("DNS_ERROR", f"DNS did not answer for {name}; try again later.")
    raise RefusedTarget("NO_ADDRESS", f"{name} has no address in DNS (no A or AAAA record).")


@cache
def _tls() -> ssl.SSLContext:
    """Certificate checks as browsers do them, against certifi's roots (not the machine's,
    so the result does not depend on where a worker runs)."""
    return ssl.create_default_context(cafile=certifi.where())


def verified(trust: ssl.SSLContext | None) -> ssl.SSLContext:
    """`trust`, or certifi's authorities; ValueError for a context that would not check the
    certificate or its name."""
    if trust is None:
        return _tls()
    if trust.verify_mode != ssl.CERT_REQUIRED or not trust.check_hostname:
        raise ValueError("outbound requests always verify the certificate and its name")
    return trust


async def post(settings: Settings, dns: Dns, url: str, *, content: bytes,
               headers: Mapping[str, str],
               timeout: float,  # noqa: ASYNC109 (the caller's bound, asyncio.timeout inside)
               trust: ssl.SSLContext | None = None) -> OutboundResponse:
    """POST `content` to `url` after `check_target` (again: DNS may have changed), connected
    to the checked address. RefusedTarget before any connection; FailedRequest when no
    HTTP answer came within `timeout` seconds (connection, TLS, request and body excerpt
    together); otherwise the answer, whatever its status.

    `trust`: the certificate authorities to trust, for tests with their own; None (always in
    the app): certifi's. Certificates are verified for the URL's host name either way."""
    target = await check_target(settings, dns, url)
    parsed = httpx.URL(target.url)
    ip = ipaddress.ip_address(target.address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.hostname if ip.version == 4 or target.hostname != target.address \
        else f"[{target.hostname}]"
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    sent = httpx.Headers({"User-Agent": USER_AGENT})
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name) or not HEADER_VALUE.fullmatch(value):
            raise RefusedTarget("BAD_HEADER", f"The header {name[:64]!r} is not a valid "
                                              "HTTP header (printable ASCII, no line breaks).")
        if name.lower() not in DROPPED_HEADERS:
            sent[name] = value  # replaces ours (User-Agent) whatever its case
    sent["Host"] = host_header
    sent["Accept-Encoding"] = "identity"  # the excerpt is read raw: nothing to inflate
    extensions = {"sni_hostname": target.hostname} if target.scheme == "https" else {}
    requests = [parsed.copy_with(host=address, port=target.port)
                for address in target.addresses[:CONNECT_TRIES]]
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    with tracing.span("POST", kind=tracing.SpanKind.CLIENT, attributes={
            "http.request.method": "POST", "server.address": target.hostname,
            "server.port": target.port, "url.scheme": target.scheme}) as span:
        answer = await _post(requests, content, sent, extensions, target, timeout, trust,
                             elapsed)
        if span is not None:
            span.set_attribute("http.response.status_code", answer.status_code)
        return answer


async def _post(requests: list[httpx.URL], content: bytes, sent: httpx.Headers,
                extensions: dict[str, str], target: Target, timeout: float,  # noqa: ASYNC109 (as `post`'s)
                trust: ssl.SSLContext | None, elapsed: Callable[[], int]) -> OutboundResponse:
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(verify=verified(trust), trust_env=False,
                                         follow_redirects=False,
                                         timeout=httpx.Timeout(timeout)) as client:
                response = await _send(client, requests, content=content, headers=sent,
                                       extensions=extensions)
                try:
                    excerpt, truncated = await _excerpt(response)
                finally:
                    await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        raise FailedRequest("TIMEOUT", f"No answer within {timeout:g} s.",
                            latency_ms=elapsed()) from None
    except httpx.ConnectError as exc:
        if _caused_by_tls(exc):
            raise FailedRequest("TLS_ERROR", f"The TLS handshake with {target.hostname} "
                                             "failed (is its certificate valid for that name?).",
                                latency_ms=elapsed()) from None
        raise FailedRequest("CONNECTION_ERROR", f"Could not connect to {target.hostname} "
                                                f"port {target.port}.",
                            latency_ms=elapsed()) from None
    except (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.DecodingError):
        raise FailedRequest("PROTOCOL_ERROR", "The receiver's answer was not valid HTTP.",
                            latency_ms=elapsed()) from None
    except (httpx.HTTPError, httpx.StreamError, OSError):  # TransportError and any other
        raise FailedRequest("CONNECTION_ERROR", "The connection failed.",
                            latency_ms=elapsed()) from None
    retry_after = response.headers.get("retry-after")
    content_type = response.headers.get("content-type")
    return OutboundResponse(
        status_code=response.status_code,
        retry_after=retry_after[:64] if retry_after is not None else None,
        latency_ms=elapsed(), body_excerpt=excerpt, body_truncated=truncated,
        content_type=content_type[:128] if content_type is not None else None)


async def _send(client: httpx.AsyncClient, urls: list[httpx.URL], *, content: bytes,
                headers: httpx.Headers, extensions: dict[str, str]) -> httpx.Response:
    """The POST sent to the first of `urls` that accepts the connection (nothing is sent to
    one that refuses it; a TLS failure is not retried elsewhere)."""
    for url in urls[:-1]:
        try:
            return await client.send(client.build_request(
                "POST", url, content=content, headers=headers, extensions=extensions),
                stream=True)
        except httpx.ConnectError as exc:
            if _caused_by_tls(exc):
                raise
    return await client.send(client.build_request(
        "POST", urls[-1], content=content, headers=headers, extensions=extensions), stream=True)


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # httpx's error, httpcore's, then the ssl module's
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _excerpt(response: httpx.Response) -> tuple[str, bool]:
    """The first EXCERPT_BYTES of the body, reading at most READ_LIMIT bytes; and whether
    there was more."""
    kept = bytearray()
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if len(kept) < EXCERPT_BYTES:
            kept += chunk[:EXCERPT_BYTES - len(kept)]
        if read > READ_LIMIT:
            return _decode(kept), True
    return _decode(kept), read > EXCERPT_BYTES


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
