"""Trusted documents: the app is started with a manifest of them (`TRUSTED_DOCUMENTS_FILE`);
`app_with` starts another with other settings (`PERSISTED_ONLY`...)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from core.settings import Settings
from server import create_app

PLANS = "query Plans { plans { code name } }"
SCOPES = "query Scopes { scopes { name } }"
ME = "query Me { me { id name } }"
ORGANIZATION = "query Organization($slug: String!) { organization(slug: $slug) { name } }"
CREATE_LEAD = ("mutation CreateLead($input: CreateLeadInput!) "
               "{ createLead(input: $input) { lead { name } } }")
LEAD_EVENTS = ("subscription LeadEvents($org: ID!) "
               "{ leadEvents(organizationId: $org) { type lead { name } } }")
DOCUMENTS = (PLANS, SCOPES, ME, ORGANIZATION, CREATE_LEAD, LEAD_EVENTS)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def relay_manifest(documents: tuple[str, ...] = DOCUMENTS) -> dict[str, str]:
    """What relay-compiler writes with `persistConfig.algorithm` SHA256."""
    return {sha(text): text for text in documents}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-queries.json"
    path.write_bytes(orjson.dumps(relay_manifest()))
    return path


@pytest.fixture
def settings(settings: Settings, manifest: Path) -> Settings:
    return dataclasses.replace(settings, trusted_documents_file=manifest)


@contextlib.asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another app on the same database, its settings changed."""
    app = create_app(dataclasses.replace(settings, **changes), manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://testserver") as client:
        yield client
