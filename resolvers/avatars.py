"""Profile photos: check that an upload really is a PNG, JPEG or WebP image, re-encode it to one
fixed size and store it, and delete the file it replaces.

Nothing the client sent is trusted: not the filename, not the declared content type, not the
metadata. The bytes are decoded with Pillow, and only the decoded pixels, center-cropped to
256x256 and encoded afresh as WebP, are stored. Re-encoding from pixels is what drops EXIF (GPS
position, camera serial numbers), XMP and colour profiles.

Decoding is CPU-bound, so it runs in a worker thread and the event loop keeps serving. It also
takes memory in proportion to the pixels, whatever the file's size (a 160 kB PNG can hold 7000x7000
pixels, 147 MB decoded): the header's dimensions are checked before a pixel is decoded, a JPEG is
decoded scaled down by libjpeg, and at most MAX_IMAGE_WORK images are worked on at once.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import weakref
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import BadUserInput
from engine.context import Context
from models.accounts import User
from realtime.outbox import in_transaction

log = structlog.get_logger("relleks.avatars")

MAX_AVATAR_BYTES = 5 * 1024 * 1024
"""Largest upload accepted (5 MB); the body limit (MAX_UPLOAD_BYTES) sits a little above it, so
a slightly larger file gets this field error rather than a bare 413."""

MAX_AVATAR_PIXELS = 16_000_000
"""Largest PNG or WebP decoded (16 megapixels, 64 MB as RGBA): a small, highly compressed file
can declare enormous dimensions (a decompression bomb) and exhaust memory when decoded. Its
header gives the dimensions away, so a bigger one is refused before any decoding."""

MAX_JPEG_PIXELS = 50_000_000
"""Largest JPEG accepted (50 megapixels, more than any phone camera): libjpeg decodes it scaled
down by up to 8 in each direction (`draft`), so even this many take at most 3 MB or so."""

MAX_IMAGE_WORK = 2
"""Images decoded and re-encoded at once by this process; more uploads wait their turn."""

# Pillow's own guard, for any image decoded in this process: a warning above this many pixels,
# an error above twice as many (our checks above come first for avatars).
Image.MAX_IMAGE_PIXELS = MAX_JPEG_PIXELS

AVATAR_SIZE = (256, 256)
AVATAR_CONTENT_TYPE = "image/webp"
OPENED_FORMATS = ("PNG", "JPEG", "WEBP")
NOT_ACCEPTED = "must be a PNG, JPEG or WebP image"
FIELD = "file"


@runtime_checkable
class UploadedFile(Protocol):
    """What the multipart request gives a resolver (Starlette's `UploadFile` fits)."""

    async def read(self, size: int = -1) -> bytes: ...


class AvatarRejected(ValueError):
    """The upload is not an avatar we accept; the message says why, for the client."""


async def upload_avatar(ctx: Context, upload: object) -> User:
    """Validate and re-encode `upload`, store it under a fresh key, point the viewer at it, then
    delete the file it replaces. A rejected upload changes nothing, in the database or storage."""
    data = await _read_upload(upload)
    try:
        async with _image_work():
            avatar = await asyncio.to_thread(reencode_avatar, data)
    except AvatarRejected as exc:
        raise BadUserInput.field(FIELD, str(exc)) from exc
    storage = ctx.services.storage
    key = f"avatars/{uuid.uuid4()}.webp"
    await storage.save(key, avatar, AVATAR_CONTENT_TYPE)
    try:
        previous = await _set_avatar_key(ctx.user, key)
    except BaseException:
        await _delete_quietly(ctx, key)  # the database said no: leave no orphan behind
        raise
    await _delete_quietly(ctx, previous)
    return ctx.user


_IMAGE_WORK: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def _image_work() -> asyncio.Semaphore:
    """The running loop's MAX_IMAGE_WORK slots (a semaphore belongs to one event loop)."""
    loop = asyncio.get_running_loop()
    slots = _IMAGE_WORK.get(loop)
    if slots is None:
        slots = _IMAGE_WORK[loop] = asyncio.Semaphore(MAX_IMAGE_WORK)
    return slots


async def remove_avatar(ctx: Context) -> User:
    """Forget the viewer's photo and delete its file; a no-op when there is none."""
    previous = await _set_avatar_key(ctx.user, None)
    await _delete_quietly(ctx, previous)
    return ctx.user


async def _read_upload(upload: object) -> bytes:
    if not isinstance(upload, UploadedFile):
        # A multipart part without a filename arrives as plain text, not as a file.
        raise BadUserInput.field(FIELD, "no file was attached: send the image as a file part "
                                        "of a multipart request")
    data = await upload.read(MAX_AVATAR_BYTES + 1)
    if not data:
        raise BadUserInput.field(FIELD, "is empty")
    if len(data) > MAX_AVATAR_BYTES:
        raise BadUserInput.field(FIELD, f"is larger than {MAX_AVATAR_BYTES // (1024 * 1024)} MB")
    return data


async def _set_avatar_key(user: User, key: str | None) -> str | None:
    """Store `key` on the user and return the key it replaced. The row is locked while we read
    the old key, so two concurrent uploads each delete exactly the file the other replaced."""
    async with in_transaction():
        current = await User.select_for_update().only("id", "avatar_key").get(id=user.id)
        previous = current.avatar_key
        if previous != key:
            await User.filter(id=user.id).update(avatar_key=key, updated_at=datetime.now(UTC))
    user.avatar_key = key
    return previous if previous != key else None


async def _delete_quietly(ctx: Context, key: str | None) -> None:
    """Delete a replaced file. The user's avatar has already changed, so a failure here is
    logged (an orphaned file costs a few kilobytes) rather than reported as a failed request."""
    if key is None:
        return
    try:
        await ctx.services.storage.delete(key)
    except Exception:
        log.warning("avatar.delete_failed", key=key, request_id=ctx.request_id, exc_info=True)


def reencode_avatar(data: bytes) -> bytes:
    """The 256x256 WebP made from `data`, or AvatarRejected. Runs in a worker thread.

    Only the three accepted decoders ever see the bytes (`formats=`): Pillow's many other
    format plugins are attack surface an avatar does not need."""
    try:
        with Image.open(io.BytesIO(data), formats=OPENED_FORMATS) as probe:
            _check_header(probe)
            probe.verify()  # structure and checksums, without decoding pixels
        with Image.open(io.BytesIO(data), formats=OPENED_FORMATS) as image:
            _check_header(image)  # verify() spends the image: this is a fresh one
            if image.format == "JPEG":
                image.draft("RGB", AVATAR_SIZE)  # let libjpeg decode at a fraction of the size
            image.load()
            return _encode(image)
    except AvatarRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (MAX_IMAGE_PIXELS) fires in open() above ours for huge images; the
        # warning is caught in case warnings are turned into errors. We never change the global
        # warning filters here: catch_warnings() is not thread-safe and this runs in a thread.
        raise AvatarRejected(_too_many_pixels()) from exc
    except UnidentifiedImageError as exc:
        raise AvatarRejected(NOT_ACCEPTED) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow's ways of saying "truncated" or "corrupt", depending on the format.
        raise AvatarRejected("is damaged or truncated: the image could not be read") from exc


def _check_header(image: Image.Image) -> None:
    """Refuse what the header alone gives away: the wrong format, or too many pixels."""
    if image.format not in OPENED_FORMATS:
        raise AvatarRejected(NOT_ACCEPTED)
    width, height = image.size
    limit = MAX_JPEG_PIXELS if image.format == "JPEG" else MAX_AVATAR_PIXELS
    if width < 1 or height < 1 or width * height > limit:
        raise AvatarRejected(_too_many_pixels(image.size, image.format))


def _too_many_pixels(size: tuple[int, int] | None = None, fmt: str | None = None) -> str:
    given = f" ({size[0]}x{size[1]})" if size else ""
    if fmt == "JPEG":
        return (f"has too many pixels{given}: at most {MAX_JPEG_PIXELS // 1_000_000} "
                "megapixels for a JPEG")
    return (f"has too many pixels{given}: at most {MAX_AVATAR_PIXELS // 1_000_000} megapixels "
            f"for a PNG or WebP ({MAX_JPEG_PIXELS // 1_000_000} for a JPEG)")


def _encode(image: Image.Image) -> bytes:
    image = ImageOps.exif_transpose(image)  # honour the camera's rotation before EXIF goes
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    image = ImageOps.fit(image, AVATAR_SIZE, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    # A new image from the pixels alone: no metadata of the upload can ride along.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(out, format="WEBP", quality=85, method=4)
    return out.getvalue()
