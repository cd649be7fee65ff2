"""Peak memory of a real server process while hostile and large avatars arrive together.

Four 160 kB PNGs declaring 7000x7000 pixels once took a process from 220 MB to 2.5 GB, never
given back. The server (a uvicorn process of its own, so its peak is its own) must refuse them
from their headers and decode the large images it accepts a few at a time: its high-water mark
(`VmHWM`) grows by far less than one such decode per upload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests.orgs.conftest import signed_in
from tests.realtime.conftest import start_server, stop_server
from tests.storage.uploads import image_bytes, upload

MB = 1024 * 1024


def big_png() -> bytes:
    """A real single-colour PNG of 7000x7000 pixels: 160 kB that decode to 147 MB."""
    return image_bytes("PNG", (7000, 7000))


def high_water_mark(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (Linux `/proc`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux /proc")
async def test_bombs_and_big_images_together_keep_the_peak_low(
        database_url: str, settings: Settings, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path, "avatars")
    try:
        bomb = big_png()
        people = [await signed_in(settings, f"mem{i}@example.com") for i in range(8)]
        large = image_bytes("PNG", (3800, 3800), color=(10, 20, 30))  # 14 MP: accepted
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            await upload(client, image_bytes("PNG", (64, 64)), token=people[0].token)
            before = high_water_mark(server.process.pid)
            bombs = await asyncio.gather(
                *(upload(client, bomb, token=p.token) for p in people[:4]))
            after_bombs = high_water_mark(server.process.pid)
            accepted = await asyncio.gather(
                *(upload(client, large, token=p.token) for p in people[4:]))
            after_large = high_water_mark(server.process.pid)
    finally:
        stop_server(server)
    refused = [b["errors"][0]["extensions"]["code"] for b in bombs]
    assert refused == ["BAD_USER_INPUT"] * 4, bombs
    assert all("errors" not in body for body in accepted), accepted
    # One 7000x7000 decode alone is 147 MB (RGB), four at once were 2.3 GB: refused from their
    # headers, they cost next to nothing.
    assert after_bombs - before < 40 * MB, f"bombs grew the peak by {after_bombs - before} B"
    # Four 14 MP images, decoded two at a time (43 MB each, plus the resize's working copies).
    assert after_large - before < 400 * MB, f"large images grew it by {after_large - before} B"
