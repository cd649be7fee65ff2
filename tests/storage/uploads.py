"""Helpers for tests that upload avatars: image files of every kind (good, bad and hostile) and a
client for the GraphQL multipart request spec (`operations`, `map`, then the file parts)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import Any

import httpx
from PIL import Image

UPLOAD_AVATAR = """mutation Upload($input: UploadAvatarInput!) {
  uploadAvatar(input: $input) { user { id avatarUrl } } }"""
REMOVE_AVATAR = "mutation { removeAvatar { deletedId user { id avatarUrl } } }"


async def upload(http: httpx.AsyncClient, data: bytes | None, *, token: str | None = None,
                 filename: str | None = "avatar.png", content_type: str = "image/png",
                 query: str = UPLOAD_AVATAR, file_map: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None,
                 expect_status: int | None = 200) -> dict[str, Any]:
    """POST a multipart request whose part "0" carries `data` (omitted when None) and is mapped
    to `variables.input.file`. With `filename=None` the part is a plain form field, not a file."""
    operations = {"query": query, "variables": {"input": {"file": None}}}
    file_map = {"0": ["variables.input.file"]} if file_map is None else file_map
    # Parts in the spec's order; a part with no filename is a plain form field.
    files: dict[str, Any] = {"operations": (None, json.dumps(operations)),
                             "map": (None, json.dumps(file_map))}
    if data is not None:
        files["0"] = (filename, data, content_type) if filename else (None, data)
    request_headers = dict(headers or {})
    if token:
        request_headers["authorization"] = f"Bearer {token}"
    response = await http.post("/graphql", files=files,
                               headers=request_headers)
    if expect_status is not None:
        assert response.status_code == expect_status, response.text
    return response.json()


def image_bytes(fmt: str, size: tuple[int, int] = (640, 480), color: Any = (30, 120, 200),
                mode: str = "RGB", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def three_bands(size: tuple[int, int] = (600, 200)) -> bytes:
    """A wide PNG: red left third, green middle, blue right third (center-crop keeps green)."""
    width, height = size
    image = Image.new("RGB", size)
    third = width // 3
    image.paste((255, 0, 0), (0, 0, third, height))
    image.paste((0, 255, 0), (third, 0, 2 * third, height))
    image.paste((0, 0, 255), (2 * third, 0, width, height))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


GPS_IFD = 0x8825


def jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF with a GPS position, a camera make and a comment."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x9286] = "home"  # UserComment
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
    return image_bytes("JPEG", exif=exif.tobytes())


def oversized_png(size: int) -> bytes:
    """A valid PNG of just over `size` bytes (stored without compression)."""
    side = 1360
    data = image_bytes("PNG", (side, side), compress_level=0)
    assert len(data) > size, len(data)
    return data


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb's shape."""
    data = bytearray(image_bytes("PNG", (1, 1)))
    ihdr = 8  # after the signature: length (4), type (4), then the chunk data
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4:ihdr + 8 + 13]))
    data[ihdr + 8 + 13:ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
