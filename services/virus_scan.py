"""A virus-scan hook: files sent to a clamd over TCP with its INSTREAM protocol.

The protocol (clamd(8)): send `zINSTREAM\\0`, then the file as chunks, each a 4-byte
big-endian length followed by that many bytes, then a zero length; clamd answers one line,
`stream: OK` or `stream: <signature> FOUND` (or `... ERROR`), NUL-terminated with the `z`
prefix. Nothing but an `OK` passes: an infected file, a scanner that is down, slow, or answers
anything else, refuses the file (fail closed).

    verdict = await scan_bytes("tcp://127.0.0.1:3310", data, seconds=15.0)
    if not verdict.clean: ...

Layer: services (called by `resolvers/support_attachments.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.settings import scanner_address

CHUNK = 64 * 1024
"""Bytes per INSTREAM chunk (clamd's StreamMaxLength bounds the whole, not a chunk)."""
MAX_REPLY = 1024


class ScannerUnavailable(Exception):
    """The scanner could not be reached, timed out, or answered what we cannot read."""


@dataclass(frozen=True)
class Verdict:
    """clamd's answer: clean, or the signature it found."""

    clean: bool
    signature: str | None = None


async def scan_bytes(url: str, data: bytes, *, seconds: float) -> Verdict:
    """Scan `data` with the clamd at `url` (`tcp://host:port`); ScannerUnavailable when it
    cannot say (down, too slow, an ERROR answer, such as the stream being over its limit)."""
    host, port = scanner_address(url)
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"zINSTREAM\0")
                for start in range(0, len(data), CHUNK):
                    chunk = data[start:start + CHUNK]
                    writer.write(len(chunk).to_bytes(4, "big") + chunk)
                    await writer.drain()
                writer.write((0).to_bytes(4, "big"))
                await writer.drain()
                reply = await reader.readuntil(b"\0")
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
    except (OSError, TimeoutError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError) as exc:
        raise ScannerUnavailable(f"the virus scanner did not answer ({type(exc).__name__})") \
            from exc
    return parse_reply(reply[:MAX_REPLY])


def parse_reply(reply: bytes) -> Verdict:
    """clamd's `stream: OK` / `stream: <name> FOUND`; anything else is ScannerUnavailable."""
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace").strip()
    _, _, result = text.partition(": ")
    if result == "OK":
        return Verdict(clean=True)
    if result.endswith(" FOUND"):
        return Verdict(clean=False, signature=result.removesuffix(" FOUND").strip()[:200])
    raise ScannerUnavailable("the virus scanner answered neither OK nor FOUND")
