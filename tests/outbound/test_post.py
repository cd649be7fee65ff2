"""`post` against real receivers on 127.0.0.1 (WEBHOOK_ALLOW_LOOPBACK on, as in development):
what is sent, that redirects are answers, that DNS is asked again on every call (rebinding)
and the checked address is the one connected to, and that time, body size, failures and TLS
are bounded and typed."""

from __future__ import annotations

import dataclasses
import datetime
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.settings import Settings
from services.dns import Dns
from services.outbound import (
    EXCERPT_BYTES,
    FailedRequest,
    RefusedTarget,
    check_target,
    post,
)
from tests.nameserver import Zone
from tests.outbound.conftest import Receiver, served
from tests.smtp import free_port

pytestmark = pytest.mark.no_db

BODY = b'{"type":"lead.created","data":{"id":"1"}}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_1",
           "webhook-signature": "v1,abc", "Host": "evil.example", "Content-Length": "999"}


async def test_the_post_reaches_a_loopback_receiver_with_its_headers_and_body(
        local: Settings, dns: Dns, receiver: Receiver) -> None:
    answer = await post(local, dns, receiver.url, content=BODY, headers=HEADERS, timeout=5)
    assert answer.status_code == 204 and answer.body_excerpt == ""
    assert not answer.body_truncated and answer.retry_after is None
    assert 0 <= answer.latency_ms < 5000
    (seen,) = receiver.requests
    assert seen.head.startswith("POST /hook HTTP/1.1\r\n")
    assert seen.body == BODY
    assert seen.header("webhook-id") == "msg_1" and seen.header("webhook-signature") == "v1,abc"
    assert seen.header("content-type") == "application/json"
    assert seen.header("host") == f"127.0.0.1:{receiver.port}"  # ours, not the caller's
    assert seen.header("content-length") == str(len(BODY))
    assert seen.header("user-agent") == "Relleks-Webhooks/1"


async def test_an_ipv6_loopback_receiver_gets_a_bracketed_host(local: Settings, dns: Dns
                                                               ) -> None:
    six = Receiver(host="::1")
    async with served(six):
        answer = await post(local, dns, six.url, content=BODY,
                            headers={"user-agent": "Custom/2"}, timeout=5)
    assert answer.status_code == 204
    (seen,) = six.requests
    assert seen.header("host") == f"[::1]:{six.port}"
    assert seen.header("user-agent") == "Custom/2"  # the caller's replaces ours


@pytest.mark.parametrize("headers", [{"X-Evil": "a\r\nHost: other"}, {"X Space": "1"},
                                     {"": "1"}, {"X-Accent": "café"}, {"X-Big": "x" * 9000}])
async def test_headers_that_are_not_http_are_refused_before_connecting(
        local: Settings, dns: Dns, receiver: Receiver, headers: dict[str, str]) -> None:
    with pytest.raises(RefusedTarget) as caught:
        await post(local, dns, receiver.url, content=BODY, headers=headers, timeout=5)
    assert caught.value.reason == "BAD_HEADER"
    assert receiver.connections == 0


async def test_a_name_is_sent_as_host_and_its_checked_address_is_connected_to(
        local: Settings, dns: Dns, zone: Zone, receiver: Receiver) -> None:
    zone.address("hooks.dev.test", "127.0.0.1")
    url = f"http://hooks.dev.test:{receiver.port}/hook?x=1"
    answer = await post(local, dns, url, content=BODY, headers={}, timeout=5)
    assert answer.status_code == 204
    (seen,) = receiver.requests
    assert seen.head.startswith("POST /hook?x=1 HTTP/1.1")
    assert seen.header("host") == f"hooks.dev.test:{receiver.port}"
    assert zone.asked("hooks.dev.test") == 2  # A and AAAA, once


async def test_a_redirect_is_the_answer_not_followed(local: Settings, dns: Dns) -> None:
    other = Receiver()
    async with served(other):
        redirect = Receiver(answer=(
            f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{other.port}/elsewhere\r\n"
            "Retry-After: 120\r\nContent-Length: 5\r\nConnection: close\r\n\r\nmoved").encode())
        async with served(redirect):
            answer = await post(local, dns, redirect.url, content=BODY, headers={}, timeout=5)
    assert answer.status_code == 302 and answer.body_excerpt == "moved"
    assert answer.retry_after == "120"
    assert len(redirect.requests) == 1 and other.connections == 0


async def test_dns_is_asked_again_on_every_post(strict: Settings, dns: Dns, zone: Zone,
                                                receiver: Receiver) -> None:
    """Rebinding: the name is public when checked, loopback when the delivery runs."""
    settings = dataclasses.replace(strict, webhook_ports=(443, receiver.port))
    url = f"https://rebind.example.test:{receiver.port}/hook"
    zone.address("rebind.example.test", "93.184.215.14")
    assert (await check_target(settings, dns, url)).address == "93.184.215.14"
    zone.address("rebind.example.test", "127.0.0.1")
    with pytest.raises(RefusedTarget) as caught:
        await post(settings, dns, url, content=BODY, headers={}, timeout=2)
    assert caught.value.reason == "FORBIDDEN_ADDRESS"
    assert receiver.connections == 0


async def test_a_slow_receiver_times_out_within_the_bound(local: Settings, dns: Dns) -> None:
    slow = Receiver(delay=5)
    async with served(slow):
        started = time.monotonic()
        with pytest.raises(FailedRequest) as caught:
            await post(local, dns, slow.url, content=BODY, headers={}, timeout=0.5)
        took = time.monotonic() - started
    assert caught.value.reason == "TIMEOUT" and took < 2
    assert caught.value.latency_ms is not None and 400 <= caught.value.latency_ms < 2000
    assert "0.5" in str(caught.value)


async def test_a_body_dripping_forever_times_out_within_the_bound(local: Settings,
                                                                  dns: Dns) -> None:
    """The bound is on the whole exchange, not on each read: a byte every 50 ms never ends."""
    drip = Receiver(answer=b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", drip=0.05)
    async with served(drip):
        started = time.monotonic()
        with pytest.raises(FailedRequest) as caught:
            await post(local, dns, drip.url, content=BODY, headers={}, timeout=0.6)
        took = time.monotonic() - started
    assert caught.value.reason == "TIMEOUT" and took < 2


async def test_a_body_that_never_ends_is_cut(local: Settings, dns: Dns) -> None:
    """A receiver declaring 100 MB and sending 1 MB: 1 KiB kept, the rest never read."""
    big = Receiver(answer=b"HTTP/1.1 500 Oops\r\nContent-Length: 100000000\r\n"
                          b"Content-Type: text/plain\r\n\r\n" + b"x" * 1_000_000)
    async with served(big):
        answer = await post(local, dns, big.url, content=BODY, headers={}, timeout=5)
    assert answer.status_code == 500 and answer.body_truncated
    assert answer.body_excerpt == "x" * EXCERPT_BYTES
    assert answer.content_type == "text/plain"


async def test_a_short_body_is_kept_whole_and_bad_utf8_is_replaced(local: Settings,
                                                                   dns: Dns) -> None:
    text = Receiver(answer=b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n"
                           b"\r\nok \xff\xfe!")
    async with served(text):
        answer = await post(local, dns, text.url, content=BODY, headers={}, timeout=5)
    assert answer.status_code == 200 and not answer.body_truncated
    assert answer.body_excerpt == "ok \ufffd\ufffd!"


async def test_network_failures_are_typed(local: Settings, dns: Dns) -> None:
    closed = free_port()
    with pytest.raises(FailedRequest) as caught:
        await post(local, dns, f"http://127.0.0.1:{closed}/hook", content=BODY, headers={},
                   timeout=5)
    assert caught.value.reason == "CONNECTION_ERROR"
    garbage = Receiver(answer=b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    async with served(garbage):
        with pytest.raises(FailedRequest) as caught:
            await post(local, dns, garbage.url, content=BODY, headers={}, timeout=5)
    assert caught.value.reason == "PROTOCOL_ERROR"
    silent = Receiver(answer=b"")
    async with served(silent):
        with pytest.raises(FailedRequest) as caught:
            await post(local, dns, silent.url, content=BODY, headers={}, timeout=5)
    assert caught.value.reason in {"PROTOCOL_ERROR", "CONNECTION_ERROR"}


def certificate(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                signer: ec.EllipticCurvePrivateKey, *, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256())


def server_context(directory: Path, cert: x509.Certificate,
                   key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def authority() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, ssl.SSLContext]:
    """A test certificate authority, and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("Relleks Test CA", key,
                       x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Relleks Test CA")]),
                       key, ca=True)
    trust = ssl.create_default_context(
        cadata=cert.public_bytes(serialization.Encoding.PEM).decode())
    return cert, key, trust


async def test_tls_names_the_host_and_refuses_a_self_signed_certificate(
        local: Settings, dns: Dns, zone: Zone, tmp_path: Path) -> None:
    """Connected to 127.0.0.1, the handshake still says `secure.dev.test` (SNI) and refuses
    a certificate no known authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    own = certificate("secure.dev.test", key,
                      x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.dev.test")]),
                      key)
    context = server_context(tmp_path, own, key)
    names: list[str | None] = []

    def remember(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember
    tls = Receiver(tls=context)
    zone.address("secure.dev.test", "127.0.0.1")
    async with served(tls):
        with pytest.raises(FailedRequest) as caught:
            await post(local, dns, f"https://secure.dev.test:{tls.port}/hook", content=BODY,
                       headers={}, timeout=5)
    assert caught.value.reason == "TLS_ERROR", caught.value
    assert "secure.dev.test" in str(caught.value)
    assert names == ["secure.dev.test"]
    assert tls.requests == []  # nothing was sent over the unverified connection


async def test_tls_is_verified_for_the_host_name_not_the_address(
        local: Settings, dns: Dns, zone: Zone, tmp_path: Path) -> None:
    """A certificate for `secure.dev.test` from a trusted authority: good for that name,
    refused when the same receiver is reached as `other.dev.test` or as 127.0.0.1."""
    ca, ca_key, trust = authority()
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("secure.dev.test", key, ca.subject, ca_key)
    tls = Receiver(tls=server_context(tmp_path, leaf, key),
                   answer=b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n"
                          b"Connection: close\r\n\r\nok")
    zone.address("secure.dev.test", "127.0.0.1")
    zone.address("other.dev.test", "127.0.0.1")
    async with served(tls):
        answer = await post(local, dns, f"https://secure.dev.test:{tls.port}/hook",
                            content=BODY, headers={}, timeout=5, trust=trust)
        assert answer.status_code == 202 and answer.body_excerpt == "ok"
        (seen,) = tls.requests
        assert seen.header("host") == f"secure.dev.test:{tls.port}" and seen.body == BODY
        for url in (f"https://other.dev.test:{tls.port}/hook", f"https://127.0.0.1:{tls.port}/"):
            with pytest.raises(FailedRequest) as caught:
                await post(local, dns, url, content=BODY, headers={}, timeout=5, trust=trust)
            assert caught.value.reason == "TLS_ERROR", (url, caught.value)
    assert len(tls.requests) == 1
    lax = ssl.create_default_context()
    lax.check_hostname = False
    with pytest.raises(ValueError, match="verify"):
        await post(local, dns, f"https://secure.dev.test:{tls.port}/", content=BODY,
                   headers={}, timeout=5, trust=lax)
