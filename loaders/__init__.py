"""DataLoaders, one module per domain, gathered per request by `Loaders` (see `context.py`)."""

from __future__ import annotations

from functools import cached_property

from loaders.accounts import UserLoader


class Loaders:
    """The request's loaders, each built on first use."""

    @cached_property
    def user(self) -> UserLoader:
        return UserLoader()
