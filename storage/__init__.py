"""Where uploaded files (avatars) live: local disk for `make run`, an S3-compatible bucket in
production. One small interface, so resolvers never know which.

Keys are relative, slash-separated paths chosen by the server (e.g. `avatars/<uuid>.webp`), never
by a client; each stored file gets a fresh key, so a URL, once handed out, never changes content
and can be cached for good.

Layer: beside `realtime` and `mail`, above `core` only.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from core.settings import Settings


class Storage(Protocol):
    async def save(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing anything there."""

    async def delete(self, key: str) -> None:
        """Delete `key`; deleting a missing key is not an error."""

    async def load(self, key: str) -> bytes | None:
        """The bytes stored under `key`, or None when there are none."""

    def url(self, key: str) -> str:
        """The public URL that serves `key`."""


class LocalStorage:
    """Files under MEDIA_ROOT, served by the app at /media/{key}."""

    def __init__(self, root: Path, public_url: str) -> None:
        self.root = root
        self.public_url = public_url.rstrip("/")

    def path(self, key: str) -> Path:
        """The file behind `key`; ValueError when the key would leave the media root."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise ValueError("storage key escapes the media root")
        return path

    async def save(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Write beside the target, then rename: a reader never sees half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def load(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def url(self, key: str) -> str:
        return f"{self.public_url}/media/{key}"


class S3Storage:
    """An S3-compatible bucket through boto3 (run in a thread: boto3 is synchronous; its clients
    are thread-safe). Credentials come from boto3's usual chain (environment, instance role).

    `url()` hands out plain object URLs, so the bucket must let anyone GET `avatars/*` (a bucket
    policy allowing `s3:GetObject` on `arn:aws:s3:::<bucket>/avatars/*`, as the tests set up)
    and nothing else; objects are never made public one by one through ACLs, which buckets with
    the default "bucket owner enforced" ownership refuse."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        import boto3

        self.bucket = settings.s3_bucket
        self.client = client or boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )
        self.base_url = (settings.s3_endpoint_url or
                         f"https://{self.bucket}.s3.{settings.s3_region}.amazonaws.com")

    async def save(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key, Body=data,
                                ContentType=content_type, CacheControl="public, max-age=31536000")

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def load(self, key: str) -> bytes | None:
        try:
            response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket,
                                               Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        return await asyncio.to_thread(response["Body"].read)

    def url(self, key: str) -> str:
        if self.base_url.endswith("amazonaws.com"):
            return f"{self.base_url}/{key}"
        return f"{self.base_url.rstrip('/')}/{self.bucket}/{key}"


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.media_root, settings.public_url)
