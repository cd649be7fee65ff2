"""Batch loaders for OAuth: partner apps by id, for the grants an organization lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.loading import Loader
from database.rows import by_ids
from models.oauth import OAuthApp


class OAuthAppLoader(Loader[uuid.UUID, OAuthApp | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[OAuthApp | None]:
        apps = await by_ids(OAuthApp, keys)
        return [apps.get(key) for key in keys]
