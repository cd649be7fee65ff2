"""The HTTP server as it is run (`python -m scripts.serve`, what `make run` and production use):
request headers are capped (431 Request Header Fields Too Large, or the connection closed before
anything else), and a connection that sends no complete request head in time is closed.

Raw sockets, since HTTP clients refuse to send what these tests send.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests import serving

pytestmark = pytest.mark.no_db

DEFAULTS = Settings()
CLOSE_WITHIN = DEFAULTS.header_timeout + 10


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a server started the way production starts it, with default settings."""
    with serving.served(tmp_path_factory.mktemp("served"), RELLEKS_ENV="test") as port:
        yield port


def exchange(port: int, head: bytes) -> bytes:
    """Send `head` and read until the server closes; whatever arrived (b"" when the server
    closed or reset the connection without answering)."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_WITHIN) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def request(headers: str) -> bytes:
    return (f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
            "Connection: close\r\n\r\n").encode()


def test_ordinary_headers_pass(served: int) -> None:
    answer = exchange(served, request(f"Cookie: {'c' * 8000}\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


@pytest.mark.parametrize("size", [DEFAULTS.max_header_bytes + 100, 200_000, 20_000_000])
def test_oversize_headers_are_refused(served: int, size: int) -> None:
    answer = exchange(served, request(f"X-Big: {'a' * size}\r\n"))
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    if answer:  # else closed without an answer
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    if size < 100_000:  # small enough to be read whole: the answer is there
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_many_small_headers_count_together(served: int) -> None:
    lines = "".join(f"X-Part-{n}: {'b' * 90}\r\n" for n in range(300))  # ~30 kB
    answer = exchange(served, request(lines))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


async def test_connections_without_a_complete_request_are_closed(served: int) -> None:
    async def closed(send_first: bytes, trickle: bool) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", served)
        writer.write(send_first)
        deadline = time.monotonic() + CLOSE_WITHIN
        try:
            while time.monotonic() < deadline:
                if trickle:  # a header line each second: never a complete head
                    writer.write(b"X-Slow: 1\r\n")
                try:
                    data = await asyncio.wait_for(reader.read(65536), 1)
                except TimeoutError:
                    continue
                if not data:
                    return True
                assert not data.startswith(b"HTTP/1.1 200"), data
        except ConnectionError:
            return True
        finally:
            writer.close()
        return False

    silent = [closed(b"", trickle=False) for _ in range(20)]
    partial = [closed(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", trickle=False),
               closed(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", trickle=True)]
    assert all(await asyncio.gather(*silent, *partial))
    # The server still serves.
    assert exchange(served, request("")).startswith(b"HTTP/1.1 200 ")
