"""LocalStorage: keys stay inside the media root, and /media serves nothing outside it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from storage import LocalStorage


@pytest.mark.parametrize("key", ["../secret.txt", "avatars/../../secret.txt", "/etc/passwd", ""])
def test_keys_cannot_leave_the_media_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "media", "http://testserver")
    with pytest.raises(ValueError, match="escapes"):
        storage.path(key)


async def test_save_and_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media", "http://testserver/")
    await storage.save("avatars/a.webp", b"one", "image/webp")
    await storage.save("avatars/a.webp", b"two", "image/webp")
    assert (tmp_path / "media" / "avatars" / "a.webp").read_bytes() == b"two"
    assert [p.name for p in (tmp_path / "media" / "avatars").iterdir()] == ["a.webp"]
    assert storage.url("avatars/a.webp") == "http://testserver/media/avatars/a.webp"
    await storage.delete("avatars/a.webp")
    await storage.delete("avatars/a.webp")  # deleting a missing key is fine
    assert not (tmp_path / "media" / "avatars" / "a.webp").exists()


@pytest.fixture
def secret_beside_media_root(media_root: Path) -> Path:
    media_root.mkdir(parents=True, exist_ok=True)
    secret = media_root.parent / "secret.txt"
    secret.write_text("do not serve")
    return secret


async def test_media_route_serves_nothing_outside_the_root(
    http: httpx.AsyncClient, secret_beside_media_root: Path
) -> None:
    for path in ("/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/..%2fsecret.txt",
                 "/media/avatars/missing.webp"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert b"do not serve" not in response.content
