"""Avatars in an S3 bucket: the app's S3Storage (real boto3) against moto's S3 server on
127.0.0.1, through the same GraphQL multipart requests as in production. The bucket is read back
with a separate boto3 client, and the avatar URL is fetched from the server over HTTP."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from core.settings import Settings
from models.accounts import User
from storage import S3Storage
from tests.conftest import Api, errors_of
from tests.storage.uploads import REMOVE_AVATAR, decode, image_bytes, jpeg_with_gps, upload

REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials through boto3's usual environment variables, as in production."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def public_avatars_policy(bucket: str) -> str:
    """What production needs too: anyone may GET avatars (their URLs are public), nothing else."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicAvatars", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/avatars/*"}]})


@pytest.fixture
def bucket(s3_endpoint: str, aws_credentials: None) -> str:
    name = f"relleks-test-{secrets.token_hex(4)}"
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=name)
    client.put_bucket_policy(Bucket=name, Policy=public_avatars_policy(name))
    return name


@pytest.fixture
def settings(settings: Settings, s3_endpoint: str, bucket: str) -> Settings:
    """The suite's settings, with storage in the moto bucket instead of on disk."""
    return dataclasses.replace(settings, storage_backend="s3", s3_endpoint_url=s3_endpoint,
                               s3_bucket=bucket, s3_region=REGION)


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def keys_in(endpoint: str, bucket: str) -> set[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def on_disk(root: Path) -> bool:
    return root.exists()


def key_of(url: str, endpoint: str, bucket: str) -> str:
    prefix = f"{endpoint}/{bucket}/"
    assert url.startswith(prefix + "avatars/") and url.endswith(".webp"), url
    return url.removeprefix(prefix)


async def test_app_uses_s3_storage(app: Any) -> None:
    assert isinstance(app.state.services.storage, S3Storage)


async def test_upload_replace_and_remove_in_the_bucket(
    api: Api, http: httpx.AsyncClient, s3_endpoint: str, bucket: str, media_root: Path
) -> None:
    auth = await api.sign_up()
    token = auth["accessToken"]

    first = await upload(http, jpeg_with_gps(), token=token, filename="me.jpg",
                         content_type="image/jpeg")
    assert "errors" not in first, first
    first_url = first["data"]["uploadAvatar"]["user"]["avatarUrl"]
    first_key = key_of(first_url, s3_endpoint, bucket)
    assert (await User.get(email="ada@example.com")).avatar_key == first_key
    assert keys_in(s3_endpoint, bucket) == {first_key}
    stored = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=first_key)
    assert stored["ContentType"] == "image/webp"
    image = decode(stored["Body"].read())
    assert (image.format, image.size) == ("WEBP", (256, 256))
    assert len(image.getexif()) == 0
    # The URL handed to clients serves the object (fetched from the S3 server itself).
    async with httpx.AsyncClient() as client:
        served = await client.get(first_url)
    assert served.status_code == 200
    assert decode(served.content).size == (256, 256)
    assert not on_disk(media_root), "nothing may be written to local disk with S3 storage"

    second = await upload(http, image_bytes("PNG"), token=token)
    second_key = key_of(second["data"]["uploadAvatar"]["user"]["avatarUrl"], s3_endpoint, bucket)
    assert second_key != first_key
    assert (await User.get(email="ada@example.com")).avatar_key == second_key
    assert keys_in(s3_endpoint, bucket) == {second_key}

    removed = await api.gql(REMOVE_AVATAR, token=token)
    assert removed["data"]["removeAvatar"]["user"]["avatarUrl"] is None
    assert (await User.get(email="ada@example.com")).avatar_key is None
    assert keys_in(s3_endpoint, bucket) == set()


async def test_bad_upload_leaves_the_bucket_alone(
    api: Api, http: httpx.AsyncClient, s3_endpoint: str, bucket: str
) -> None:
    auth = await api.sign_up()
    first = await upload(http, image_bytes("WEBP"), token=auth["accessToken"],
                         filename="me.webp", content_type="image/webp")
    key = key_of(first["data"]["uploadAvatar"]["user"]["avatarUrl"], s3_endpoint, bucket)

    body = await upload(http, image_bytes("GIF"), token=auth["accessToken"])
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["fields"]) == {"file"}
    assert (await User.get(email="ada@example.com")).avatar_key == key
    assert keys_in(s3_endpoint, bucket) == {key}


async def test_unreachable_bucket_fails_cleanly_and_changes_nothing(
    api: Api, http: httpx.AsyncClient, app: Any, s3_endpoint: str, bucket: str
) -> None:
    """A storage outage is INTERNAL (with a request id), and the user keeps the photo they had."""
    auth = await api.sign_up()
    first = await upload(http, image_bytes("PNG"), token=auth["accessToken"])
    key = key_of(first["data"]["uploadAvatar"]["user"]["avatarUrl"], s3_endpoint, bucket)
    client = s3_client(s3_endpoint)
    client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket_policy(Bucket=bucket)
    client.delete_bucket(Bucket=bucket)

    body = await upload(http, image_bytes("PNG"), token=auth["accessToken"])
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["requestId"]
    assert "bucket" not in error["message"].lower()
    assert (await User.get(email="ada@example.com")).avatar_key == key
