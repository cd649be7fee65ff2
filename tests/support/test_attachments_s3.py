"""Support attachments in an S3 bucket: the same storage layer the avatars use (`S3Storage`,
real boto3 against moto's S3 server on 127.0.0.1). The object holds only ciphertext, under
`support/`, and leaves through the download route decrypted; retention deletes it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.settings import Settings
from jobs.retention import RESOLVED_TICKETS, apply_retention
from models.support import SupportTicket, TicketStatus
from tests.conftest import Api
from tests.privacy.conftest import services_of
from tests.storage.test_s3 import REGION, aws_credentials, bucket, keys_in, s3_client, s3_endpoint
from tests.support.attachments import OPEN_WITH_FILES, download, png, send
from tests.support.conftest import Cast

__all__ = ["aws_credentials", "bucket", "s3_endpoint"]  # fixtures used by name


@pytest.fixture
def settings(settings: Settings, s3_endpoint: str, bucket: str) -> Settings:
    return dataclasses.replace(settings, storage_backend="s3", s3_endpoint_url=s3_endpoint,
                               s3_bucket=bucket, s3_region=REGION)


async def test_attachments_in_s3_are_ciphertext_and_go_with_retention(
        http: httpx.AsyncClient, api: Api, app: Any, cast: Cast, s3_endpoint: str,
        bucket: str) -> None:
    image = png((64, 64))
    body = await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "s", "body": "b"},
                      [("screen.png", image, "image/png")], token=cast.requester.token)
    assert "errors" not in body, body
    attachment = body["data"]["openSupportTicket"]["ticket"]["messages"]["nodes"][0][
        "attachments"][0]
    (key,) = keys_in(s3_endpoint, bucket)
    assert key.startswith("support/")
    stored = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored.startswith(b"RLKE1") and image not in stored
    response = await download(http, attachment["downloadUrl"], cast.requester.token)
    assert response.status_code == 200 and response.content == image

    await SupportTicket.all().update(status=TicketStatus.RESOLVED, resolved_at=datetime.now(UTC)
                                     - RESOLVED_TICKETS - timedelta(days=1))
    report = await apply_retention(services_of(app))
    assert report.deleted["support_tickets"] == 1
    assert keys_in(s3_endpoint, bucket) == set()
