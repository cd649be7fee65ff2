"""The base of our DataLoaders: aiodataloader's, with a cache it can be asked about."""

from __future__ import annotations

from asyncio import Future
from typing import Generic, TypeVar

from aiodataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V], Generic[K, V]):
    """A DataLoader whose cache is a dict it owns (handed over as the constructor's public
    `cache_map`), so `loaders.peek` can tell a value already loaded without awaiting it."""

    def __init__(self) -> None:
        self.futures: dict[K, Future[V]] = {}
        super().__init__(cache_map=self.futures)
