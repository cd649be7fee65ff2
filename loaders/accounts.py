"""Batch loaders for accounts: users by id in one query per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.loading import Loader
from database.rows import by_ids
from models.accounts import User


class UserLoader(Loader[uuid.UUID, User | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[User | None]:
        users = await by_ids(User, keys)
        return [users.get(key) for key in keys]
