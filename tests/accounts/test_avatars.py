"""uploadAvatar / removeAvatar over real multipart requests, with files on local disk.

Each bad upload is tried on a user who already has a photo, so "changes nothing" is checked on
both sides: the same key in the database and the same single file on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import ImageFile

from models.accounts import User
from resolvers.avatars import MAX_AVATAR_BYTES, MAX_IMAGE_WORK
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of
from tests.storage.uploads import (
    GPS_IFD,
    REMOVE_AVATAR,
    decode,
    image_bytes,
    jpeg_with_gps,
    oversized_png,
    png_claiming,
    three_bands,
    upload,
)


def stored_files(media_root: Path) -> set[str]:
    if not media_root.exists():
        return set()
    return {path.relative_to(media_root).as_posix()
            for path in media_root.rglob("*") if path.is_file()}


async def fetch(http: httpx.AsyncClient, url: str) -> httpx.Response:
    assert url.startswith("http://testserver/media/avatars/") and url.endswith(".webp"), url
    return await http.get(url.removeprefix("http://testserver"))


def key_of(url: str) -> str:
    return url.removeprefix("http://testserver/media/")


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type"),
    [("PNG", "me.png", "image/png"), ("JPEG", "me.jpg", "image/jpeg"),
     ("WEBP", "me.webp", "image/webp")],
)
async def test_upload_stores_a_256px_webp_served_at_avatar_url(
    api: Api, http: httpx.AsyncClient, media_root: Path, fmt: str, filename: str,
    content_type: str,
) -> None:
    auth = await api.sign_up()
    body = await upload(http, image_bytes(fmt), token=auth["accessToken"], filename=filename,
                        content_type=content_type)
    assert "errors" not in body, body
    url = body["data"]["uploadAvatar"]["user"]["avatarUrl"]
    key = key_of(url)
    user = await User.get(email="ada@example.com")
    assert user.avatar_key == key
    assert stored_files(media_root) == {key}

    response = await fetch(http, url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    served = decode(response.content)
    assert (served.format, served.size) == ("WEBP", (256, 256))
    me = await api.gql("{ me { avatarUrl } }", token=auth["accessToken"])
    assert me["data"]["me"]["avatarUrl"] == url


async def test_upload_is_center_cropped(api: Api, http: httpx.AsyncClient) -> None:
    auth = await api.sign_up()
    body = await upload(http, three_bands(), token=auth["accessToken"])
    served = decode((await fetch(http, body["data"]["uploadAvatar"]["user"]["avatarUrl"])).content)
    # Only the green middle third survives the square crop, edge to edge.
    for x in (2, 128, 253):
        red, green, blue = served.convert("RGB").getpixel((x, 128))
        assert green > 200 and red < 40 and blue < 40, (x, red, green, blue)


async def test_exif_and_gps_are_dropped(api: Api, http: httpx.AsyncClient) -> None:
    original = jpeg_with_gps()
    assert decode(original).getexif().get_ifd(GPS_IFD), "the fixture must carry GPS"
    auth = await api.sign_up()
    body = await upload(http, original, token=auth["accessToken"], filename="holiday.jpg",
                        content_type="image/jpeg")
    content = (await fetch(http, body["data"]["uploadAvatar"]["user"]["avatarUrl"])).content
    served = decode(content)
    assert served.format == "WEBP"
    assert len(served.getexif()) == 0
    assert not served.getexif().get_ifd(GPS_IFD)
    assert "exif" not in served.info and "xmp" not in served.info
    assert b"SpyCam" not in content and b"Exif" not in content


BAD_UPLOADS = {  # case: (content, filename, declared type, what the error says)
    "text renamed .png": (b"just some text, honestly an image\n" * 20, "photo.png", "image/png",
                          "must be a PNG, JPEG or WebP image"),
    "GIF": (image_bytes("GIF"), "photo.gif", "image/gif", "must be a PNG, JPEG or WebP image"),
    "GIF declared as PNG": (image_bytes("GIF"), "photo.png", "image/png",
                            "must be a PNG, JPEG or WebP image"),
    "BMP": (image_bytes("BMP"), "photo.bmp", "image/bmp", "must be a PNG, JPEG or WebP image"),
    "truncated PNG": (image_bytes("PNG", (800, 800))[:400], "photo.png", "image/png",
                      "damaged or truncated"),
    "truncated JPEG": (image_bytes("JPEG", (800, 800))[:600], "photo.jpg", "image/jpeg",
                       "damaged or truncated"),
    "corrupt PNG": (image_bytes("PNG")[:-5] + b"XXXXX", "photo.png", "image/png",
                    "damaged or truncated"),
    "over 5 MB": (oversized_png(MAX_AVATAR_BYTES), "big.png", "image/png",
                  "larger than 5 MB"),
    "empty file": (b"", "empty.png", "image/png", "is empty"),
    "bomb over our pixel limit": (png_claiming(9000, 9000), "bomb.png", "image/png",
                                  "too many pixels"),
    "bomb over Pillow's limit": (png_claiming(30000, 30000), "bomb.png", "image/png",
                                 "too many pixels"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
async def test_bad_upload_is_refused_and_changes_nothing(
    api: Api, http: httpx.AsyncClient, media_root: Path, case: str
) -> None:
    data, filename, content_type, problem = BAD_UPLOADS[case]
    auth = await api.sign_up()
    first = await upload(http, image_bytes("PNG"), token=auth["accessToken"])
    key = key_of(first["data"]["uploadAvatar"]["user"]["avatarUrl"])

    body = await upload(http, data, token=auth["accessToken"], filename=filename,
                        content_type=content_type)
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["fields"]) == {"file"}
    assert problem in error["extensions"]["fields"]["file"]
    assert error["message"].startswith("file: ")
    assert body["data"] is None
    assert (await User.get(email="ada@example.com")).avatar_key == key
    assert stored_files(media_root) == {key}


async def test_a_form_field_instead_of_a_file_is_refused(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    auth = await api.sign_up()
    body = await upload(http, image_bytes("PNG"), token=auth["accessToken"], filename=None)
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "file" in error["extensions"]["fields"]
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()


async def test_missing_file_part_is_refused(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    auth = await api.sign_up()
    # No file at all: `variables.input.file` stays null, which `Upload!` refuses before
    # execution.
    body = await upload(http, None, token=auth["accessToken"], file_map={})
    assert error_code(body) == "BAD_USER_INPUT"
    assert "'$input' has invalid value at .file" in errors_of(body)[0]["message"]
    # The map names a part the request does not have: a transport error (400).
    body = await upload(http, None, token=auth["accessToken"], expect_status=400)
    assert error_code(body) == "BAD_USER_INPUT"
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()


async def test_body_over_the_upload_limit_is_refused_with_413(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    auth = await api.sign_up()
    body = await upload(http, b"\0" * 7_000_000, token=auth["accessToken"], expect_status=413)
    assert body["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()


async def test_replacing_deletes_the_previous_file(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    auth = await api.sign_up()
    first = await upload(http, image_bytes("PNG"), token=auth["accessToken"])
    old_url = first["data"]["uploadAvatar"]["user"]["avatarUrl"]
    second = await upload(http, image_bytes("JPEG", color=(200, 0, 0)), token=auth["accessToken"],
                          filename="new.jpg", content_type="image/jpeg")
    new_url = second["data"]["uploadAvatar"]["user"]["avatarUrl"]
    assert new_url != old_url
    assert (await User.get(email="ada@example.com")).avatar_key == key_of(new_url)
    assert stored_files(media_root) == {key_of(new_url)}
    assert (await fetch(http, old_url)).status_code == 404
    assert (await fetch(http, new_url)).status_code == 200


async def test_remove_avatar_deletes_the_file(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    auth = await api.sign_up()
    first = await upload(http, image_bytes("WEBP"), token=auth["accessToken"],
                         filename="me.webp", content_type="image/webp")
    url = first["data"]["uploadAvatar"]["user"]["avatarUrl"]

    body = await api.gql(REMOVE_AVATAR, token=auth["accessToken"])
    assert body["data"]["removeAvatar"]["user"]["avatarUrl"] is None
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()
    assert (await fetch(http, url)).status_code == 404
    # Removing again is harmless.
    again = await api.gql(REMOVE_AVATAR, token=auth["accessToken"])
    assert again["data"]["removeAvatar"]["user"]["avatarUrl"] is None


async def test_signed_out_callers_are_unauthenticated(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    await api.sign_up()
    # The CSRF header gets a cookie-less multipart request past the CSRF guard to the check
    # this test is about.
    body = await upload(http, image_bytes("PNG"), headers={"x-csrf-token": "1"})
    assert error_code(body) == "UNAUTHENTICATED"
    assert error_code(await api.gql(REMOVE_AVATAR)) == "UNAUTHENTICATED"
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()


LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { expiresAt } }"""


async def test_cookie_upload_needs_the_csrf_header(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    """A cross-site form can post multipart without a preflight: the CSRF header stops it."""
    await api.sign_up()
    body = await api.gql(LOG_IN, {"input": {"email": "ada@example.com",
                                            "password": STRONG_PASSWORD, "useCookies": True}})
    assert "errors" not in body, body
    csrf = http.cookies.get("relleks_csrf")
    assert csrf

    refused = await upload(http, image_bytes("PNG"))
    assert error_code(refused) == "FORBIDDEN"
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()

    accepted = await upload(http, image_bytes("PNG"), headers={"x-csrf-token": csrf})
    assert accepted["data"]["uploadAvatar"]["user"]["avatarUrl"]
    assert len(stored_files(media_root)) == 1


async def test_concurrent_uploads_leave_exactly_one_file(
    api: Api, http: httpx.AsyncClient, media_root: Path
) -> None:
    """Each upload deletes the file it replaced, read under a row lock: no orphan survives."""
    auth = await api.sign_up()
    token = auth["accessToken"]
    await upload(http, image_bytes("PNG"), token=token)
    bodies = await asyncio.gather(*(
        upload(http, image_bytes("JPEG", color=(i * 40, 0, 0)), token=token,
               filename=f"{i}.jpg", content_type="image/jpeg") for i in range(4)))
    assert all("errors" not in body for body in bodies), bodies
    key = (await User.get(email="ada@example.com")).avatar_key
    assert key in {key_of(body["data"]["uploadAvatar"]["user"]["avatarUrl"]) for body in bodies}
    assert stored_files(media_root) == {key}


@functools.cache
def big_png(side: int = 7000) -> bytes:
    """A real single-colour PNG of `side` x `side` pixels: 160 kB that decode to 147 MB."""
    return image_bytes("PNG", (side, side))


@contextlib.contextmanager
def watching_decodes(monkeypatch: pytest.MonkeyPatch, hold: float = 0.0
                     ) -> Iterator[dict[str, Any]]:
    """Record every image Pillow decodes (its size) and the most decoding at once. `hold`
    keeps each decode going a little, so that decodes that may overlap do."""
    seen: dict[str, Any] = {"sizes": [], "now": 0, "peak": 0}
    lock = threading.Lock()
    load = ImageFile.ImageFile.load

    def watched(self: ImageFile.ImageFile) -> Any:
        if not self.tile:  # decoded already: load() only hands out the pixels
            return load(self)
        with lock:
            seen["sizes"].append(self.size)
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])
        try:
            time.sleep(hold)
            return load(self)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", watched)
    yield seen


async def test_a_png_of_many_pixels_is_refused_from_its_header_before_decoding(
    api: Api, http: httpx.AsyncClient, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 160 kB PNG of 7000x7000 pixels would take 147 MB (and more while resized) to decode:
    its header gives its size away, and it is refused before a pixel is decoded."""
    auth = await api.sign_up()
    data = big_png()
    assert len(data) < 300_000
    with watching_decodes(monkeypatch) as seen:
        body = await upload(http, data, token=auth["accessToken"])
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    problem = error["extensions"]["fields"]["file"]
    assert "too many pixels" in problem and "16 megapixels" in problem, problem
    assert "7000x7000" in problem, problem
    assert seen["sizes"] == []
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert stored_files(media_root) == set()


async def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size(
    api: Api, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 24-megapixel phone photo is accepted: libjpeg decodes it scaled down, never whole."""
    auth = await api.sign_up()
    photo = image_bytes("JPEG", (6000, 4000), quality=70)
    with watching_decodes(monkeypatch) as seen:
        body = await upload(http, photo, token=auth["accessToken"], filename="phone.jpg",
                            content_type="image/jpeg")
    assert "errors" not in body, body
    assert seen["sizes"] and all(w * h <= 1_000_000 for w, h in seen["sizes"]), seen


async def test_image_work_runs_a_few_at_a_time(
    api: Api, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six uploads at once decode at most MAX_IMAGE_WORK images at a time: memory stays
    bounded by a few images, however many arrive together."""
    tokens = [(await api.sign_up(email=f"p{i}@example.com"))["accessToken"] for i in range(6)]
    with watching_decodes(monkeypatch, hold=0.2) as seen:
        bodies = await asyncio.gather(*(
            upload(http, image_bytes("PNG", (600, 600), color=(i * 40, 0, 0)), token=token)
            for i, token in enumerate(tokens)))
    assert all("errors" not in body for body in bodies), bodies
    assert len(seen["sizes"]) == 6
    assert 1 <= seen["peak"] <= MAX_IMAGE_WORK, seen
